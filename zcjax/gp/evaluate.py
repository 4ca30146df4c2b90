"""Population-major evaluation: statistics computed once, every program of a population run on them.

EZNAS rebuilt the networks for each program (and cached 1.09 TB of statistics to cope). Here
the statistics of a few architectures are held at once, units of equal terminal shapes are
stacked across architectures, layers and inits, and each program is *interpreted* over each
stack with jitted primitive kernels vmapped over the stack axis (``compile.unit_output`` with
``op=kernel``). Compiled code is therefore per (primitive, shape), shared by every program the
search will ever make -- a new program costs no compilation once its ops have been seen --
while ``program.compile`` (one jit per program) stays the path for scoring many architectures
with one fixed program. Stacks are padded to a few sizes (``_bucket``) so their shapes repeat.

On the CPU backend the primitives run in NumPy instead (``host_primitives``, executor "host",
``default_executor``): statistics already live in host memory there, and compiling nothing
matters more than fusing. A jitted kernel per (primitive, shape) is fine on NB201, whose
shapes repeat, but spaces whose widths vary per architecture (the NDS records) bring new
shapes with nearly every architecture, and lowering their kernels took most of a search's time.

On two CPU cores the work overlaps: the statistics of the next chunk of architectures are
computed on a second thread while the programs run on this one (``_Ahead``), and the stacks
are shared by ``HOST_THREADS`` threads; NumPy and JAX release the GIL in their loops. A
program that is not finite on one chunk is not run on the rest (``score_programs``).

The numbers equal ``program.network_score`` of each (architecture, init): per unit the mean
of the program's output (float32), per network ``compile.network_mean`` of those.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import gc
import os
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from zcjax import cache, distributed
from zcjax.gp import fitness as fit
from zcjax.gp.tasks import TaskData
from zcjax.program import network
from zcjax.program.compile import (
    SubtreeMemo,
    fits,
    network_mean,
    to_torch_layout,
    unit_output,
)
from zcjax.program.host_primitives import host_kernel
from zcjax.program.kinds import E
from zcjax.program.network import NetworkFacts, is_network, network_values
from zcjax.program.primitives import PRIMITIVES
from zcjax.program.terminals import INPUTS, QUANTITIES
from zcjax.program.tree import Program
from zcjax.recipe import chunk_stats
from zcjax.settings import Settings
from zcjax.spaces import SearchSpace
from zcjax.stats import Stats

if TYPE_CHECKING:
    from zcjax.gp.config import SearchConfig

# What a malformed program can raise at run time; it marks the program invalid, nothing more.
_PROGRAM_ERRORS = (TypeError, ValueError, IndexError, ZeroDivisionError, FloatingPointError)


@functools.cache
def kernel(name: str):
    """The jitted primitive ``name``, vmapped over a leading stack axis."""
    return jax.jit(jax.vmap(PRIMITIVES[name].fn))


@jax.jit
def _unit_means(x: jax.Array) -> jax.Array:
    """[N, ...] -> [N]: the float32 mean of each stacked unit's output."""
    x = jnp.asarray(x, jnp.float32)
    return jnp.mean(x.reshape(x.shape[0], -1), axis=1)


def _host_unit_means(x) -> np.ndarray:
    """``_unit_means`` in NumPy (inf and NaN are values here, not warnings)."""
    x = np.asarray(x, np.float32)
    with np.errstate(all="ignore"):
        return np.mean(x.reshape(x.shape[0], -1), axis=1)


EXECUTORS = ("device", "host")


def default_executor() -> str:
    """Where programs run: "host" (NumPy) on the CPU backend, "device" (jitted kernels on the
    default backend's device) on GPU and TPU."""
    return "host" if jax.default_backend() == "cpu" else "device"


def _bucket(n: int) -> int:
    """Smallest of 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (2^k and 3 * 2^k) that holds ``n`` rows:
    few distinct shapes to compile, at most a third of a stack wasted on padding."""
    power = 1 << max(n - 1, 0).bit_length()
    return 3 * power // 4 if power >= 4 and 3 * power // 4 >= n else power


@dataclasses.dataclass
class UnitStack:
    """Units of one terminal-shape signature, stacked: row ``m * K + k`` is member m, init k.

    ``members`` are (network, unit) index pairs; ``shapes`` are one unit's (terminal, shape)
    pairs, what ``compile.fits`` decides on.
    """

    members: list[tuple[int, int]]
    shapes: tuple[tuple[str, tuple[int, ...]], ...]
    native: dict[str, jax.Array | list]  # a list: the members' arrays, stacked on first use
    rows: int
    _torch: dict[str, jax.Array] = dataclasses.field(default_factory=dict)

    def terminal(self, name: str) -> jax.Array:
        """[N_padded, ...] terminal ``name`` in PyTorch layout (stacked and converted once, on
        first use)."""
        if name not in self._torch:
            x = self.native.pop(name)
            if isinstance(x, list):
                x = _host_torch_layout(name, x)
            else:
                x = to_torch_layout(name, x)
            self._torch[name] = x
        return self._torch[name]

    def terminals(self, program: Program) -> dict[str, jax.Array]:
        return {t: self.terminal(t) for t in program.terminals}


def _host_torch_layout(name: str, parts: list) -> np.ndarray:
    """The members' arrays of terminal ``name`` as one C-ordered NumPy array along axis 0, in
    PyTorch layout: one copy, after which the NumPy primitives' outputs are C-ordered too and
    their reshapes copy nothing (a transposed view made every ``_rows`` a copy)."""
    views = [to_torch_layout(name, np.asarray(x)) for x in parts]
    if len(views) == 1:
        return np.ascontiguousarray(views[0])
    shape = (sum(v.shape[0] for v in views), *views[0].shape[1:])
    # (np.concatenate alone keeps the inputs' transposed memory order)
    return np.concatenate(views, axis=0, out=np.empty(shape, views[0].dtype))


# Elements of a terminal (float32) in one host stack, at most (or one member's if larger): the
# NumPy primitives' intermediates of smaller stacks stay in cache (50 random programs on 20
# NB201 archs: 37.6 -> 33.1 s of program time on this project's 2-core CPU box).
HOST_PIECE_ELEMENTS = 1 << 20


def _host_piece(signature: tuple, num_inits: int) -> int:
    """Members per host stack of this signature: ``HOST_PIECE_ELEMENTS`` over one member's
    largest terminal."""
    largest = max((int(np.prod(shape)) for _, shape in signature), default=1) * num_inits
    return max(1, HOST_PIECE_ELEMENTS // max(largest, 1))


def stack_units(stats: Sequence[Stats], num_inits: int, host: bool = False) -> list[UnitStack]:
    """Groups the units of several networks' statistics (each with a leading [K] axis) by the
    shapes of their terminals and stacks each group along one leading axis: padded to a few
    sizes (multiples of the local device count) for jitted kernels and split over the local
    devices (``distributed.shard_rows``), or as NumPy arrays unpadded if ``host`` (each
    terminal stacked when a program first reads it; a group split into pieces of about
    ``HOST_PIECE_ELEMENTS`` per terminal)."""
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for n, st in enumerate(stats):
        for u, layer in enumerate(st.layers):
            for t, x in layer.items():
                if x.shape[0] != num_inits:
                    raise ValueError(
                        f"Terminal {t} has leading size {x.shape[0]}, not K={num_inits}."
                    )
            signature = tuple(sorted((t, tuple(x.shape[1:])) for t, x in layer.items()))
            groups.setdefault(signature, []).append((n, u))
    pieces = []  # (signature, members)
    for signature, members in groups.items():
        step = _host_piece(signature, num_inits) if host else len(members)
        pieces += [(signature, members[i : i + step]) for i in range(0, len(members), step)]
    out = []
    for signature, members in pieces:
        rows = len(members) * num_inits
        multiple = distributed.row_multiple()  # rows split evenly over the local devices
        pad = 0 if host else -(-_bucket(rows) // multiple) * multiple - rows
        native = {}
        for t, _ in signature:
            parts = [stats[n].layers[u][t] for n, u in members]
            if host:  # copied only if a program reads it: a copy cost as much as the stats
                native[t] = parts
                continue
            if pad:
                parts.append(jnp.broadcast_to(parts[0][:1], (pad, *parts[0].shape[1:])))
            native[t] = distributed.shard_rows(jnp.concatenate(parts, axis=0))
        out.append(UnitStack(members, signature, native, rows))
    return out


@dataclasses.dataclass
class StackedStats:
    """Statistics of N networks (K inits each) stacked for population-major evaluation."""

    stacks: list[UnitStack]
    num_units: list[int]
    num_inits: int
    facts: list[NetworkFacts | None] = dataclasses.field(default_factory=list)
    executor: str = "device"  # one of EXECUTORS
    measured: list[dict] = dataclasses.field(default_factory=list)  # Stats.measured per network

    @classmethod
    def of(
        cls, stats: Sequence[Stats], num_inits: int, executor: str | None = None
    ) -> StackedStats:
        """From per-network statistics, each array with a leading [K] axis; programs will run
        on ``executor`` (None: ``default_executor()``)."""
        executor = default_executor() if executor is None else executor
        if executor not in EXECUTORS:
            raise ValueError(f"Unknown executor {executor!r}; known: {', '.join(EXECUTORS)}.")
        return cls(
            stack_units(stats, num_inits, host=executor == "host"),
            [len(s.layers) for s in stats],
            num_inits,
            [s.facts for s in stats],
            executor,
            [s.measured for s in stats],
        )

    def unit_scores(
        self, programs: Sequence[Program]
    ) -> dict[Program, list[tuple[np.ndarray, np.ndarray]] | None]:
        """Per unit program (EZNAS's kinds), per network (unit scores [L, K] float32, NaN
        where skipped; fitting [L]); None where the program fails."""
        return _stacked_unit_scores(
            programs, self.stacks, self.num_units, self.num_inits, self.executor
        )

    def scores(self, programs: Sequence[Program]) -> np.ndarray:
        """[P, N, K] float64 network scores of each program; NaN marks invalid. An ensemble
        (kind E) is ranked over these N networks (its members' means over inits)."""
        out = np.full((len(programs), len(self.num_units), self.num_inits), np.nan)
        needed = (u for p in programs for m in network.members(p) for u in network.unit_programs(m))
        units = self.unit_scores(list(dict.fromkeys(needed)))
        values: dict[Program, np.ndarray] = {}  # unit-rooted or N program -> [N, K]
        shape = (len(self.num_units), self.num_inits)

        def unit_scores(program):
            if units[program] is None:
                raise _Invalid
            return units[program]

        def value(program):
            if program not in values:
                try:
                    if is_network(program):
                        v = network_values(
                            program, unit_scores, self.facts, self.num_inits, self.measured
                        )
                    else:
                        v = [network_mean(u, f, axis=0) for u, f in unit_scores(program)]
                        v = np.array(v, np.float64).reshape(shape)
                except _Invalid:
                    v = np.full(shape, np.nan)
                values[program] = v
            return values[program]

        for p, program in enumerate(programs):
            if program.kind == E:
                column = network.combine_members(program, lambda m: value(m).mean(axis=1))
                out[p] = column[:, None]
            else:
                out[p] = value(program)
        return out


class _Invalid(Exception):
    """A unit program failed on these networks: every program reading it is invalid."""


def population_scores(
    programs: Sequence[Program], stats: Sequence[Stats], num_inits: int
) -> np.ndarray:
    """Network scores of every program on every (network, init).

    Args:
      programs: P programs (evaluate distinct ones; ``search`` de-duplicates by hash).
      stats: statistics of N networks, each array with a leading [K] axis (``num_inits``);
        they must hold every terminal the programs read.

    Returns:
      [P, N, K] float64 network scores; NaN marks invalid.
    """
    return StackedStats.of(stats, num_inits).scores(programs)


# Threads that run stacks at once on the host executor (None: one per CPU core, at most 2).
# NumPy releases the GIL in its loops, so on 2 cores two threads ran 50 random programs on 20
# NB201 archs 1.1-1.2x faster than one (results/gp/README.md); results do not depend on it.
HOST_THREADS: int | None = None


def _program_threads(executor: str) -> int:
    """Threads running stacks at once: ``HOST_THREADS`` on the host executor, one on the
    device executor (its kernels queue on one device)."""
    if executor != "host":
        return 1
    return HOST_THREADS or min(2, os.cpu_count() or 1)


def _stacked_unit_scores(
    programs: Sequence[Program],
    stacks: list[UnitStack],
    num_units: list[int],
    num_inits: int,
    executor: str = "device",
) -> dict[Program, list[tuple[np.ndarray, np.ndarray]] | None]:
    """Per unit program, per network (unit scores [L, K] float32, NaN where skipped; fitting
    [L]); None for a program that fails (invalid).

    Stack by stack, every program that fits the stack runs on it with one ``SubtreeMemo``:
    a subtree several programs share (children share most of their parents' trees) is
    computed once per stack. On the host executor ``HOST_THREADS`` threads take the stacks;
    the results are merged in stack order, so they do not depend on the thread count.
    """
    op, means_of = (host_kernel, _host_unit_means) if executor == "host" else (kernel, _unit_means)
    for stack in stacks:
        names = {t for t, _ in stack.shapes}
        for program in programs:
            missing = [t for t in program.terminals if t not in names]
            if missing:
                raise KeyError(f"Statistics lack terminals {missing} that {program} reads.")

    failed: set[Program] = set()  # raised on some stack: None whatever the others give

    def on_stack(stack: UnitStack) -> dict[Program, jax.Array | None]:
        """Every fitting program's unit means on ``stack`` (None: it failed there)."""
        got = {}
        fitting = [p for p in programs if p not in failed and fits(p, stack.shapes)]
        memo = SubtreeMemo(fitting)
        for program in fitting:
            try:
                value = unit_output(
                    program, stack.terminals(program), op=op, torch_layout=True, memo=memo
                )
                got[program] = means_of(value)
            except _PROGRAM_ERRORS:
                got[program] = None
                failed.add(program)
        return got

    workers = _program_threads(executor)
    if workers > 1:
        with concurrent.futures.ThreadPoolExecutor(workers, "zcjax-programs") as pool:
            per_stack = list(pool.map(on_stack, stacks))
    else:
        per_stack = list(map(on_stack, stacks))
    pending = {
        p: None if p in failed else [(s, got[p]) for s, got in zip(stacks, per_stack) if p in got]
        for p in programs
    }
    out = {}
    for program, got in pending.items():
        try:
            means = None if got is None else jax.device_get([m for _, m in got])
        except _PROGRAM_ERRORS:
            means = None
        if means is None:
            out[program] = None
            continue
        units = [np.full((n, num_inits), np.nan, np.float32) for n in num_units]
        fitting = [np.zeros(n, bool) for n in num_units]
        for (stack, _), m in zip(got, means):
            m = np.asarray(m)[: stack.rows].reshape(len(stack.members), num_inits)
            for (n, u), row in zip(stack.members, m):
                units[n][u] = row
                fitting[n][u] = True
        out[program] = list(zip(units, fitting))
    return out


class _Ahead:
    """``load(i)`` of each item of ``order`` one item ahead, on a second thread: the
    statistics of the next chunk of architectures (JAX, which releases the GIL) are computed
    while the programs run on this one (NumPy, which releases it too), so the two cores both
    work. ``take(i)`` must be called in ``order``; it returns ``load(i)`` (or raises what it
    raised) and starts the next item's."""

    def __init__(self, load: Callable[[int], object], order: Sequence[int]):
        self._load, self._order = load, list(order)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="zcjax-stats")
        self._pending: dict[int, concurrent.futures.Future] = {}
        self._next = 0
        self._start()

    def _start(self) -> None:
        if self._next < len(self._order):
            i = self._order[self._next]
            self._pending[i] = self._pool.submit(self._load, i)
            self._next += 1

    def take(self, i: int):
        future = self._pending.pop(i)
        self._start()
        return future.result()

    def __enter__(self) -> _Ahead:
        return self

    def __exit__(self, *exc) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pool.shutdown(wait=True)
        self._pending.clear()


# Per input, the unit quantities its pass yields on the way: with a backward pass, and
# without one (the weight gradient is the only one that costs a convolution of its own).
_WITH_BACKWARD = tuple(q for q in QUANTITIES if q != "weight_grad")
_FORWARD = tuple(q for q in _WITH_BACKWARD if not q.endswith("_grad"))


def collected_terminals(programs: Sequence[Program]) -> tuple[str, ...]:
    """The terminals to collect for ``programs``: what they read, each input's quantities
    rounded up to one of three nested sets (``_FORWARD``, ``_WITH_BACKWARD``, that and
    ``weight_grad``). The engine compiles a unit's kernels per set of quantities asked for,
    so a population reading a new mix would compile every unit shape's backward again (8
    kernels, 1.8 s, for ``benchmark.py --parts=gp``'s second population on NB201); the extra
    quantities cost no compute, only memory while their chunk is scored."""
    reads = {t for p in programs for t in p.reads}
    out = set(reads)
    for source in INPUTS:
        quantities = {t.partition("@")[0] for t in reads if t.endswith("@" + source)}
        if quantities:
            backward = any(q.endswith("_grad") for q in quantities)
            out |= {f"{q}@{source}" for q in (_WITH_BACKWARD if backward else _FORWARD)}
    return tuple(sorted(out))


def score_programs(
    key: jax.Array,
    programs: Sequence[Program],
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    arch_chunk: int = 4,
) -> np.ndarray:
    """Population-major scores: [P, N] (mean over K inits) of each program on each arch.

    The statistics of ``arch_chunk`` architectures at a time are computed once (only the
    terminals the programs read) and every program is evaluated on them. An ensemble (kind
    E) is ranked over all of ``archs`` once its members are scored. Several processes
    (``zcjax.distributed``) take the chunks in turn and gather every chunk's scores, bit for
    bit, so every process gets the one-process result.

    A program whose score is not finite on some architecture is invalid to the search
    (``fitness.INVALID``), and so is every ensemble it is a member of: it is not run on later
    chunks, and its row is NaN on every architecture (on 50 random programs, a fifth).
    """
    out = np.full((len(programs), len(archs)), np.nan)
    terminals = collected_terminals(programs)
    if not programs:
        return out
    base = list(dict.fromkeys(m for p in programs for m in network.parts(p)))
    values = np.full((len(base), len(archs)), np.nan)
    k = settings.num_inits
    starts = range(0, len(archs), arch_chunk)
    host = default_executor() == "host"  # NumPy statistics for the NumPy executor: no copy

    def chunk_stacked(c: int) -> StackedStats:
        """Chunk ``c``'s statistics, computed (not only dispatched) and stacked."""
        chunk = archs[starts[c] : starts[c] + arch_chunk]
        st = chunk_stats(key, space, chunk, dataset, terminals, settings, host=host)
        return StackedStats.of(jax.block_until_ready(st), k)  # only the stacked copy stays

    def chunk_scores(c: int) -> np.ndarray:
        """[len(base), arch_chunk]: every valid base program on chunk ``c`` (NaN-padded)."""
        block = np.full((len(base), arch_chunk), np.nan)
        stacked = ahead.take(c)
        live = [b for b, ok in zip(base, valid) if ok]
        if live:
            with np.errstate(invalid="ignore"):
                got = stacked.scores(live).mean(-1)
            block[valid, : min(arch_chunk, len(archs) - starts[c])] = got
        del stacked  # nothing here sits in a reference cycle (test_evaluate checks it), so
        # the statistics go now; the cyclic collector runs by object counts, not bytes, and
        # when recursive closures held them a search grew by ~0.3 GB per 8 NB201 archs.
        cache.clear_compiled_if_mapped()  # or a long search hits Linux's mapping limit
        return block

    missing = np.full((len(base), arch_chunk), np.nan)
    valid = np.ones(len(base), bool)  # finite on every chunk so far: the same on every process
    with _Ahead(chunk_stacked, distributed.my_turns(len(starts))) as ahead:
        for c, got in distributed.in_turn(len(starts), chunk_scores, missing):
            n = min(arch_chunk, len(archs) - starts[c])
            values[:, starts[c] : starts[c] + n] = got[:, :n]
            valid &= np.isfinite(got[:, :n]).all(axis=1)
    values[~valid] = np.nan
    gc.collect()  # once a call, not a chunk (0.2-0.6 s a time: a search holds ~0.5M objects)
    row = {m: i for i, m in enumerate(base)}
    for p, program in enumerate(programs):
        if program.kind == E:
            out[p] = network.combine_members(program, lambda m: values[row[m]])
        else:
            out[p] = values[row[program]]
    return out


def task_fitness(
    config: SearchConfig,
    key: jax.Array,
    programs: Sequence[Program],
    tasks: Sequence[TaskData],
    archs: Sequence[Sequence[Hashable]],
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray] | None]:
    """Scores of ``programs`` on each task's ``archs`` (all programs in one ``score_programs``
    call per task, so statistics are computed once; each task at its settings,
    ``TaskData.settings``), their taus and fitness. With ``config.relative_to`` each task's
    reference program is scored in the same call and the fitness is relative to its tau.

    Returns:
      (taus [P, T], fitness [P], scores, references): ``scores[t]`` is [P, N_t], task t's
      network scores; ``references[t]`` [N_t] the reference's (None without references).
    """
    refs = config.reference_programs()
    scores, references, truths = [], [], []
    for t, (td, task_archs) in enumerate(zip(tasks, archs)):
        every = list(programs) + ([refs[t]] if refs else [])
        got = score_programs(
            key,
            every,
            td.space,
            task_archs,
            td.task.dataset,
            td.settings(config.settings),
            config.arch_chunk,
        )
        truths.append(td.target(task_archs))
        scores.append(got[: len(programs)])
        if refs:
            references.append(got[len(programs)])
    taus, fitness = fitness_of_scores(config, truths, scores, references if refs else None)
    return taus, fitness, scores, (references if refs else None)


def fitness_of_scores(
    config: SearchConfig,
    truths: Sequence[np.ndarray],
    scores: Sequence[np.ndarray],
    references: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per task t the accuracies ``truths[t]`` [N_t], the programs' scores ``scores[t]``
    [P, N_t] and (with ``config.relative_to``) the reference's ``references[t]`` [N_t] ->
    (taus [P, T], fitness [P]), as ``task_fitness`` scores them."""
    taus = np.stack([fit.kendall_tau_rows(s, y) for s, y in zip(scores, truths)], axis=1)
    ref_taus = None
    if references is not None:
        ref_taus = np.array(
            [fit.kendall_tau_rows(r[None], y)[0] for r, y in zip(references, truths)]
        )
    fitness = fit.fitness_from_taus(taus, config.correlation, config.aggregate, ref_taus)
    return taus, fitness
