"""The network language's ops: how unit scores become a network value, and what to do with it.

EZNAS scores a network by the mean over its units of a per-unit program. These ops make that
step, and what follows it, part of the genome (opt-in: ``SearchConfig.root_kinds`` with ``N``
or ``E``; EZNAS's programs never contain them and keep their scores):

- *reducers* (unit kind -> ``N``): the network value from its units' scores, each unit's score
  the mean of the unit program's output as in EZNAS: ``net_mean`` (EZNAS), ``net_sum``,
  ``net_max``, ``net_min``, ``net_std``, ``net_first_stage`` / ``net_last_stage`` (mean over the
  units at the network's highest / lowest resolution), ``net_stage_diff`` (last minus first);
- *network terminals* (``N``): ``log_params``, ``log_flops`` (the plan's counts at its input
  size) and ``num_units`` (ReLU-Conv-BN units), label-free facts of the architecture;
- *measured terminals* (``N``, opt-in: ``SearchConfig.measured_terminals``): AZ-NAS's
  components ``az_expressivity@noise``, ``az_progressivity@noise`` and
  ``az_trainability@noise`` (``proxies.az_nas``), measured on the statistics' own noise input
  N and init, and SWAP's count of distinct activation patterns ``swap@data``
  (``proxies.swap``) and MeCo's smallest feature-correlation eigenvalue ``meco@data``
  (``proxies.meco``) on their data batch D: label-free responses of the network; non-finite
  values (AZ-NAS's -inf for degenerate networks) become ``MEASURED_FLOOR``, below every finite
  value they take, so such networks rank lowest;
- *arithmetic* (``N`` -> ``N``): ``net_add``, ``net_sub``, ``net_mul``, ``net_neg``,
  ``net_abslog``;
- *alignment* (``N`` -> ``N``, opt-in: ``SearchConfig.align``): ``net_aligned(x)``, only as a
  member of a rank ensemble, is ``x`` oriented by the scored set: negated when its Spearman rho
  with the parameter count over the networks ranked together is below 0
  (``network.combine``). Per network its value is ``x``; the orientation, like a log-rank,
  exists only for a set. Never drawn by random trees; the ``align`` mutation and
  ``weight_moves`` put it on or take it off a member;
- *rank ensembles* (``N`` x k -> ``E``, k = 2..6): ``ensemble2`` .. ``ensemble6``, the sum of
  the members' log-ranks over the scored set (AZ-NAS / VKDNW aggregation,
  ``metrics.log_rank_sum``). Only at the root: nothing takes an ``E``. A member held c times
  counts c times: copies are integer weights (``ensemble4(a, a, b, c)`` weighs a twice).

Reducers see ``scores`` [L, K] float (L units, K inits; NaN where the unit program does not
fit), ``fitting`` [L] bool and ``stages`` [L] int (0 = the highest resolution). Arithmetic sees
[M, K] arrays of M networks. Everything here is host numpy in float64: a network value is a
handful of numbers, and new programs then cost no compilation.
"""

from __future__ import annotations

import numpy as np

from zcjax.program.kinds import KINDS, E, N

NETWORK_TERMINALS = ("log_params", "log_flops", "num_units")
AZ_TERMINALS = ("az_expressivity@noise", "az_progressivity@noise", "az_trainability@noise")
MEASURED_TERMINALS = AZ_TERMINALS + ("swap@data", "meco@data")
MEASURED_FLOOR = -1e12  # trainability reaches about -1 / 1e-6 = -1e6 when a block's sigma is 0
MAX_TREES = 6  # ensemble2 .. ensemble6


def _fitting(scores, fitting):
    return np.asarray(scores, np.float64)[np.asarray(fitting, bool)]


def _over_units(fn):
    def reduce(scores, fitting, stages):
        del stages
        x = _fitting(scores, fitting)
        return fn(x, axis=0) if len(x) else np.full(np.shape(scores)[1:], np.nan)

    return reduce


def _stage_mean(which: str):
    def reduce(scores, fitting, stages):
        stages = np.asarray(stages)
        fitting = np.asarray(fitting, bool)
        if not fitting.any():
            return np.full(np.shape(scores)[1:], np.nan)
        stage = stages.min() if which == "first" else stages.max()
        x = _fitting(scores, fitting & (stages == stage))
        return x.mean(axis=0) if len(x) else np.full(np.shape(scores)[1:], np.nan)

    return reduce


def _stage_diff(scores, fitting, stages):
    return _stage_mean("last")(scores, fitting, stages) - _stage_mean("first")(
        scores, fitting, stages
    )


def _abslog(a):
    with np.errstate(divide="ignore"):
        return np.log(np.abs(a))


def _identity(a):
    return a


REDUCERS = {
    "net_mean": (_over_units(np.mean), "mean of the unit scores (EZNAS's network score)"),
    "net_sum": (_over_units(np.sum), "sum of the unit scores"),
    "net_max": (_over_units(np.max), "largest unit score"),
    "net_min": (_over_units(np.min), "smallest unit score"),
    "net_std": (_over_units(np.std), "standard deviation of the unit scores"),
    "net_first_stage": (_stage_mean("first"), "mean over the units of the first stage"),
    "net_last_stage": (_stage_mean("last"), "mean over the units of the last stage"),
    "net_stage_diff": (_stage_diff, "last-stage mean minus first-stage mean"),
}
ARITHMETIC = {
    "net_add": (np.add, 2, "a + b"),
    "net_sub": (np.subtract, 2, "a - b"),
    "net_mul": (np.multiply, 2, "a * b"),
    "net_neg": (np.negative, 1, "-a"),
    "net_abslog": (_abslog, 1, "log |a| (-inf at 0: invalid)"),
}
ENSEMBLES = {f"ensemble{k}": k for k in range(2, MAX_TREES + 1)}
ALIGN = "net_aligned"  # a member oriented by its rank correlation with size over the set


def specs() -> list[tuple[str, object, tuple, str]]:
    """(name, fn, signatures, doc) of every network op, for ``primitives.PRIMITIVES``."""
    out = []
    for name, (fn, doc) in REDUCERS.items():
        out.append((name, fn, tuple(((k,), N) for k in KINDS), doc))
    for name, (fn, arity, doc) in ARITHMETIC.items():
        out.append((name, fn, (((N,) * arity, N),), doc))
    out.append((ALIGN, _identity, (((N,), N),), "a member oriented to rank with size (set)"))
    for name, k in ENSEMBLES.items():
        out.append((name, None, (((N,) * k, E),), f"sum of log-ranks of {k} network values"))
    return out
