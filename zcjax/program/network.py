"""Network values of programs in the network language (``netops``): reducers over unit scores,
network terminals, arithmetic, and rank ensembles.

A program whose root has a unit kind is EZNAS's: its network score is the mean of its unit
scores (``compile.network_score``, unchanged). A program of kind ``N`` is evaluated here from
the unit scores of the unit programs under its reducers, which the caller computes (one
network at a time in ``compile``, stacked over networks in the GP's evaluator), and from
``NetworkFacts``. A program of kind ``E`` holds 2-4 ``N`` members; its value over a set of
networks is the sum of the members' log-ranks (``combine``), so it only exists for a set.
A member ``net_aligned(x)`` counts ``x`` oriented to rank with the networks' size over that
set (``combine``); only there may ``net_aligned`` stand (``check_aligned``, ``place_aligned``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from zcjax.metrics import log_rank_sum, orient
from zcjax.program import netops
from zcjax.program.kinds import NETWORK_KINDS, E
from zcjax.program.netops import ALIGN
from zcjax.program.tree import Program, fold

SIZE = Program.of(("log_params",))  # what an aligned member is oriented by

# (unit scores [L, K] float, fitting [L] bool) of each of M networks, for one unit program.
UnitScores = Callable[[Program], Sequence[tuple[np.ndarray, np.ndarray]]]


@dataclasses.dataclass(frozen=True)
class NetworkFacts:
    """What the network terminals read: per unit its stage (0 = the highest resolution), and
    the plan's parameter and FLOP counts at its input size."""

    stages: tuple[int, ...]
    params: int
    flops: int

    def terminal(self, name: str) -> float:
        if name == "log_params":
            return math.log(max(self.params, 1))
        if name == "log_flops":
            return math.log(max(self.flops, 1))
        if name == "num_units":
            return float(len(self.stages))
        raise KeyError(f"Unknown network terminal {name!r}.")


def is_network(program: Program) -> bool:
    """Whether the program is in the network language (root of kind N or E)."""
    return program.kind in NETWORK_KINDS


def members(program: Program) -> tuple[Program, ...]:
    """An ensemble's member trees (each of kind N); any other program is its own one member."""
    if program.kind != E:
        return (program,)
    out, i = [], 1
    while i < len(program):
        end = program.subtree_end(i)
        out.append(Program(program.nodes[i:end]))
        i = end
    return tuple(out)


def ensemble(trees: Sequence[Program]) -> Program:
    """The program whose ``members`` are ``trees`` (each of kind N): one tree is itself (an
    aligned one unwrapped: alone it has nothing to be oriented against), two or more their
    rank ensemble ``ensemble<K>``."""
    if len(trees) == 1:
        return unaligned(trees[0])
    return Program.of((f"ensemble{len(trees)}",) + tuple(n for t in trees for n in t.nodes))


def is_aligned(member: Program) -> bool:
    """Whether an ensemble member is ``net_aligned(x)``."""
    return member.nodes[0] == ALIGN


def aligned(tree: Program) -> Program:
    """``net_aligned(tree)`` (``tree`` of kind N); an aligned tree is returned as it is."""
    return tree if is_aligned(tree) else Program.of((ALIGN,) + tree.nodes)


def unaligned(tree: Program) -> Program:
    """The tree under ``net_aligned``; any other tree itself."""
    return Program(tree.nodes[1:]) if is_aligned(tree) else tree


def check_aligned(program: Program) -> Program:
    """``program``, or ValueError if ``net_aligned`` stands anywhere but as a member of a rank
    ensemble (elsewhere a network has no set to be oriented by)."""
    if place_aligned(program) != program:
        raise ValueError(
            f"{program}: {ALIGN}(x) orients x by the scored set, so it may only be a member "
            "of a rank ensemble (ensemble2(..., net_aligned(x)))."
        )
    return program


def place_aligned(program: Program) -> Program:
    """``program`` with every ``net_aligned`` that is not an ensemble member removed (its
    argument stays): what crossover and mutation make of a misplaced one."""
    if ALIGN not in program.nodes:
        return program
    keep = set()
    if program.kind == E:
        i = 1
        while i < len(program):
            keep.add(i)
            i = program.subtree_end(i)
    nodes = [n for i, n in enumerate(program.nodes) if n != ALIGN or i in keep]
    out = Program.of(nodes)
    if out.kind == E and ALIGN in out.nodes[1:]:  # an aligned member held an inner one
        return ensemble(
            [aligned(place_aligned(unaligned(m))) if is_aligned(m) else m for m in members(out)]
        )
    return out


def parts(program: Program) -> tuple[Program, ...]:
    """The programs whose values ``program``'s value needs on a set of networks: its members
    (an aligned one's tree under ``net_aligned``, of the same value per network), and ``SIZE``
    when a member is aligned (``combine_members`` reads them)."""
    ms = members(program)
    if not any(is_aligned(m) for m in ms):
        return ms
    return tuple(dict.fromkeys([unaligned(m) for m in ms] + [SIZE]))


def combine_members(program: Program, column: Callable[[Program], np.ndarray]) -> np.ndarray:
    """[M] an ensemble's value over M networks from ``column(p)`` [M], the values of each of
    its ``parts`` on them (``combine`` with its aligned members oriented by ``SIZE``)."""
    ms = members(program)
    flags = [is_aligned(m) for m in ms]
    size = column(SIZE) if any(flags) else None
    return combine([column(unaligned(m)) for m in ms], flags, size)


def unit_programs(program: Program) -> tuple[Program, ...]:
    """The distinct unit programs whose unit scores ``program`` needs: those under its
    reducers (network language), or the program itself (EZNAS's)."""
    if not is_network(program):
        return (program,)
    out = []
    for i, name in enumerate(program.nodes):
        if name in netops.REDUCERS:
            sub = Program(program.nodes[i + 1 : program.subtree_end(i + 1)])
            if sub not in out:
                out.append(sub)
    return tuple(out)


def network_values(
    program: Program,
    unit_scores: UnitScores,
    facts: Sequence[NetworkFacts],
    num_inits: int,
    measured: Sequence[dict[str, np.ndarray]] | None = None,
) -> np.ndarray:
    """[M, K] float64 values of an ``N`` program on M networks (K inits); NaN where not finite.

    Args:
      unit_scores: maps a unit program to each network's (scores [L, K], fitting [L]).
      facts: each network's ``NetworkFacts``.
      measured: each network's measured terminals {name: [] or [K]} (``Stats.measured``).
    """
    if program.kind != netops.N:
        raise ValueError(f"{program} has kind {program.kind}, not N (a network value).")
    nodes, m = program.nodes, len(facts)

    def leaf(i):
        name = nodes[i]
        if name in netops.NETWORK_TERMINALS:
            column = np.array([f.terminal(name) for f in facts], np.float64)[:, None]
            return np.broadcast_to(column, (m, num_inits)), i + 1
        if name in netops.MEASURED_TERMINALS:
            return _measured_column(name, measured, m, num_inits), i + 1
        if name not in netops.REDUCERS:
            return None
        end = program.subtree_end(i + 1)
        reduce = netops.REDUCERS[name][0]
        per_net = unit_scores(Program(nodes[i + 1 : end]))
        with np.errstate(invalid="ignore", over="ignore"):
            value = [reduce(s, f, fa.stages) for (s, f), fa in zip(per_net, facts)]
        return np.asarray(value, np.float64).reshape(m, num_inits), end

    def apply(i, args):
        if nodes[i] == ALIGN:
            return args[0]  # per network, x: the orientation needs the set (``combine``)
        with np.errstate(all="ignore"):
            return netops.ARITHMETIC[nodes[i]][0](*args)

    value = fold(nodes, leaf, apply)[0]
    return np.where(np.isfinite(value), value, np.nan)


def _measured_column(name, measured, m, num_inits) -> np.ndarray:
    """[M, K] values of measured terminal ``name``; ValueError if they were not collected."""
    if measured is None or len(measured) != m or any(name not in x for x in measured):
        raise ValueError(
            f"Measured terminal {name!r} was not collected with these statistics; pass it in "
            "collect_stats's terminals (Program.reads lists what a program reads)."
        )
    rows = [
        np.broadcast_to(np.asarray(x[name], np.float64).reshape(-1), (num_inits,)) for x in measured
    ]
    return np.stack(rows)


def combine(
    columns: Sequence[np.ndarray],
    aligned: Sequence[bool] | None = None,
    size: np.ndarray | None = None,
) -> np.ndarray:
    """[M] an ensemble's value from its members' values [M] each: the sum of log-ranks over
    these M networks; all NaN (invalid) if any member is not finite on any network (the
    search's rule: a member that fails disqualifies the candidate). Members flagged in
    ``aligned`` are first oriented by ``size`` [M] (``metrics.orient``)."""
    columns = [np.asarray(c, np.float64) for c in columns]
    if not all(np.isfinite(c).all() for c in columns):
        return np.full(len(columns[0]), np.nan)
    if aligned is not None and any(aligned):
        columns = [orient(c, size) if a else c for c, a in zip(columns, aligned)]
    return log_rank_sum(columns)
