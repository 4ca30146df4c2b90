"""Structural programs: scores that depend neither on the weights' random init nor on the inputs.

``numel(weight)`` or ``mean(ones_like(relu_in@data))`` is a function of an architecture's
shapes alone, like the ``params`` proxy: it may rank architectures well, but it is not a
zero-cost proxy that reads a network's response to data. The held-out report marks such
programs (issue 14): a program is *data-dependent* when its scores change between two inits or
between data and noise inputs, and *structural* when they change in neither.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence

import jax
import numpy as np

from zcjax.engine import init_params
from zcjax.gp.evaluate import StackedStats
from zcjax.inputs import arch_inputs
from zcjax.keys import arch_key, init_keys
from zcjax.program import network
from zcjax.program.kinds import E
from zcjax.program.registry import CROSS_ENTROPY, SUM_LOGITS
from zcjax.program.tree import Program
from zcjax.recipe import init_stats
from zcjax.settings import Settings
from zcjax.spaces import SearchSpace
from zcjax.stats import TERMINALS, collect_stats, stack_inits

RTOL = 1e-6  # a score "changes" when it moves by more than this, relative to its size

# What a program's scores must change with, as pairs of ``check_runs``'s runs: run 0 against
# run 1 (another init) or run 2 (other inputs, run 0's weights).
CHANGES = {"init_or_inputs": ((0, 1), (0, 2)), "inputs": ((0, 2),)}


def _pairs(on: str) -> tuple[tuple[int, int], ...]:
    """``CHANGES[on]``; ValueError naming the known checks for another ``on``."""
    if on not in CHANGES:
        raise ValueError(f"Unknown dependence {on!r}; known: {', '.join(CHANGES)}.")
    return CHANGES[on]


def scores_change(a: np.ndarray, b: np.ndarray, rtol: float = RTOL) -> np.ndarray:
    """[P] bool: where rows of ``a`` and ``b`` ([P, N] scores) differ anywhere.

    Entries differ when ``|a - b| > rtol * max(|a|, |b|)``; NaN equals NaN and infinity the
    same infinity, while NaN against a number (a program valid under one run only) differs.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b))
    same = close | (a == b) | (np.isnan(a) & np.isnan(b))
    return ~same.all(axis=1)


def check_runs(
    key: jax.Array,
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    terminals: Sequence[str] = TERMINALS,
    loss: str = SUM_LOGITS,
) -> list[StackedStats]:
    """Statistics of ``archs`` under three runs that differ in one thing each.

    ``key`` splits into (batch, init, other init) keys, each folded with an architecture's id.
    Run 0 is that batch (``settings.inputs``, normally data) with the init key; run 1 the same
    batch with the other init key; run 2 the same weights as run 0 on other inputs: noise
    (``Settings(inputs="noise")``, drawn with the batch key) as the data input, and the
    statistics' own noise input (``@noise``, ``@perturbed`` and the measured terminals) drawn
    with the other init key instead of run 0's. One init each (``num_inits=1``) on the engine.
    """
    key_batch, key_init, key_other = jax.random.split(key, 3)
    settings = dataclasses.replace(settings, num_inits=1, stats_method="engine")
    noise = dataclasses.replace(settings, inputs="noise")
    out = [[], [], []]
    for arch in archs:
        i = space.arch_id(arch)
        plan, x, labels = arch_inputs(arch_key(key_batch, i), space, arch, dataset, settings)
        for run, key_inits in [(0, key_init), (1, key_other)]:
            st = init_stats(arch_key(key_inits, i), plan, x, labels, terminals, loss, settings)
            out[run].append(st)
        plan, x, labels = arch_inputs(arch_key(key_batch, i), space, arch, dataset, noise)
        (key_params, _), (_, key_noise) = (
            init_keys(jax.random.split(arch_key(k, i), 1)[0]) for k in (key_init, key_other)
        )
        st = collect_stats(
            key_noise,
            plan,
            x,
            terminals,
            params=init_params(key_params, plan, settings.weight_init),  # run 0's (recipe)
            weight_init=settings.weight_init,
            labels=labels if loss == CROSS_ENTROPY else None,
        )
        out[2].append(stack_inits([st]))
    return [StackedStats.of(st, 1) for st in out]


def _runs_for(key, programs, space, archs, dataset, settings, loss) -> list[StackedStats]:
    """``check_runs`` with the terminals ``programs`` read."""
    terminals = tuple(sorted({t for p in programs for t in p.reads}))
    return check_runs(key, space, archs, dataset, settings, terminals, loss)


def check_scores(
    key: jax.Array,
    programs: Sequence[Program],
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    loss: str = SUM_LOGITS,
) -> np.ndarray:
    """[3, P, N] float64 scores of ``programs`` on ``archs`` under ``check_runs``'s three
    runs; NaN marks a program invalid on an architecture."""
    out = np.full((3, len(programs), len(archs)), np.nan)
    if not programs:
        return out
    for r, run in enumerate(_runs_for(key, programs, space, archs, dataset, settings, loss)):
        with np.errstate(invalid="ignore"):
            out[r] = run.scores(programs)[..., 0]
    return out


def dependent_in(
    runs: Sequence[StackedStats], programs: Sequence[Program], on: str = "init_or_inputs"
) -> np.ndarray:
    """[P] bool: True where a program is data-dependent on ``check_runs``'s statistics.

    A program is data-dependent when its scores change (``scores_change``) between two inits
    or between data and noise inputs (runs 0-1 and 0-2; ``on="inputs"``: between data and
    noise only, runs 0-2), or when the values of one of its
    ensemble members or the unit scores of one of the unit programs it reads change (so a rank
    ensemble, whose ranks over 2-3 architectures rarely move, counts by its members, measured
    terminals included). Being structural is a claim that needs evidence, so a
    program with no finite score in run 0 (invalid on every architecture checked) also counts
    as data-dependent.
    """
    pairs = _pairs(on)
    if not programs:
        return np.zeros(0, bool)

    def changed(scores):  # [R, P, N] -> [P]: moved in one of the pairs
        return np.any([scores_change(scores[a], scores[b]) for a, b in pairs], axis=0)

    with np.errstate(invalid="ignore"):
        s = np.stack([run.scores(programs)[..., 0] for run in runs])
    out = changed(s) | ~np.isfinite(s[0]).any(axis=1)
    ensembles = [p for p in programs if p.kind == E]
    if ensembles:
        parts = list(dict.fromkeys(m for p in ensembles for m in network.members(p)))
        with np.errstate(invalid="ignore"):
            m = np.stack([run.scores(parts)[..., 0] for run in runs])
        moved = dict(zip(parts, changed(m)))
        for i, p in enumerate(programs):
            out[i] |= p.kind == E and any(moved[x] for x in network.members(p))
    units = [[u for m in network.members(p) for u in network.unit_programs(m)] for p in programs]
    per_run = [run.unit_scores(list(dict.fromkeys(u for us in units for u in us))) for run in runs]

    def flat(run, unit):  # [1, L] this unit program's unit scores on every network
        got = per_run[run][unit]
        return np.full((1, 1), np.nan) if got is None else np.concatenate([s for s, _ in got]).T

    for p, us in enumerate(units):
        for u in us:
            base = flat(0, u)
            if any(
                base.shape != flat(r, u).shape or scores_change(base, flat(r, u))[0]
                for _, r in pairs
            ):
                out[p] = True
    return out


def dependences(
    key: jax.Array,
    programs: Sequence[Program],
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    loss: str = SUM_LOGITS,
) -> dict[str, np.ndarray]:
    """{``on``: [P] bool} for every entry of ``CHANGES``: ``dependent_in`` on one set of
    ``check_runs`` of ``archs`` (2-3 are enough)."""
    if not programs:
        return {on: np.zeros(0, bool) for on in CHANGES}
    runs = _runs_for(key, programs, space, archs, dataset, settings, loss)
    return {on: dependent_in(runs, programs, on) for on in CHANGES}


def data_dependence(
    key: jax.Array,
    programs: Sequence[Program],
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    loss: str = SUM_LOGITS,
    on: str = "init_or_inputs",
) -> np.ndarray:
    """[P] bool: True where a program is data-dependent on ``archs`` (``dependences[on]``)."""
    _pairs(on)  # an unknown ``on`` fails before the runs
    return dependences(key, programs, space, archs, dataset, settings, loss)[on]


def is_structural(
    key: jax.Array,
    programs: Sequence[Program],
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    loss: str = SUM_LOGITS,
) -> np.ndarray:
    """[P] bool: True where a program is structural (``~data_dependence``)."""
    return ~data_dependence(key, programs, space, archs, dataset, settings, loss)
