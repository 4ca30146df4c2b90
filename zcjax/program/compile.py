"""Programs -> JAX functions of ``Stats``: layer scores and the network score.

Per unit, the program runs on that unit's terminals (transposed to PyTorch layout inside the
compiled function, where XLA fuses the transpose away); the layer score is the mean of the
output's entries; the network score is the mean of the layer scores (EZNAS). A layer whose
terminal sizes do not fit the program (``add`` of tensors of different channel counts, say) is
skipped, as EZNAS skipped layers where the program raised; this is decided from shapes before
running. A network score that is not finite -- or a network with no layer the program fits --
is NaN, which callers count as invalid; it never raises.

Compiled code is cached per program (by hash) and shape: identical programs share one
executable, and all architectures of a space share the few unit shapes it has.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from zcjax.program import network
from zcjax.program.kinds import E, W
from zcjax.program.primitives import PRIMITIVES
from zcjax.program.terminals import TERMINAL_KINDS
from zcjax.program.tree import Program, fold

if TYPE_CHECKING:  # statistics are only read here: parsing programs needs no engine
    from zcjax.stats import Stats

Terminals = dict[str, jax.Array]
Subtree = tuple[str, ...]  # a subtree's nodes in prefix order, rooted at a primitive


@functools.cache
def subtrees(nodes: Subtree) -> tuple[Subtree, ...]:
    """Every primitive-rooted subtree of the tree ``nodes`` (itself first), in prefix order."""
    program = Program(nodes)
    return tuple(
        nodes[i : program.subtree_end(i)] for i, name in enumerate(nodes) if name in PRIMITIVES
    )


class SubtreeMemo:
    """Outputs of the subtrees that several programs share, for one set of terminals.

    Built from the programs about to run on those terminals (each run once, with this memo
    passed to ``unit_output``): a subtree is kept from its first computation to its last use,
    and only while the kept outputs total at most ``max_bytes``. The outputs are the ones
    recomputing would give (the primitives are pure), so scores do not change.
    """

    def __init__(self, programs, max_bytes: int = 1 << 30):
        self._uses: dict[Subtree, int] = {}
        for program in programs:
            for key in subtrees(program.nodes):
                self._uses[key] = self._uses.get(key, 0) + 1
        self._kept: dict[Subtree, jax.Array] = {}
        self._bytes, self._max_bytes = 0, max_bytes
        self.hits = 0

    def take(self, key: Subtree) -> jax.Array | None:
        """The kept output of ``key`` (None if not kept); counts one use of ``key`` and, on a
        hit, of the subtrees inside it, which will not run."""
        value = self._kept.get(key)
        for k in subtrees(key) if value is not None else (key,):
            self._use(k)
        self.hits += value is not None
        return value

    def put(self, key: Subtree, value: jax.Array) -> None:
        """Keeps ``key``'s output if a later program will use it and the budget allows."""
        if self._uses.get(key, 0) > 0 and self._bytes + value.nbytes <= self._max_bytes:
            self._kept[key] = value
            self._bytes += value.nbytes

    def _use(self, key: Subtree) -> None:
        left = self._uses[key] = self._uses.get(key, 0) - 1
        if left <= 0 and key in self._kept:
            self._bytes -= self._kept.pop(key).nbytes


def to_torch_layout(name: str, x: jax.Array) -> jax.Array:
    """NHWC activation -> NCHW; HWIO weight -> OIHW (trailing 4 dims; leading dims kept)."""
    lead = tuple(range(x.ndim - 4))
    n = len(lead)
    if TERMINAL_KINDS[name] == W:  # x.transpose: a NumPy array stays one (the GP's host path)
        return x.transpose((*lead, n + 3, n + 2, n, n + 1))
    return x.transpose((*lead, n, n + 3, n + 1, n + 2))


def unit_output(
    program: Program,
    terminals: Terminals,
    op: Callable[[str], Callable[..., jax.Array]] | None = None,
    torch_layout: bool = False,
    memo: SubtreeMemo | None = None,
) -> jax.Array:
    """The program's raw output on one unit's terminals (any shape out).

    Args:
      terminals: native layout, or PyTorch layout if ``torch_layout``.
      op: maps a primitive's name to the function to call (default: its ``fn``); the GP's
        evaluator passes jitted, unit-vmapped kernels shared by all programs.
      memo: outputs of subtrees other programs computed on the same terminals
        (``SubtreeMemo``): a subtree found there is not recomputed.
    """
    nodes = program.nodes
    keys = {}  # node -> its subtree's nodes, the memo's key

    def leaf(i):
        name = nodes[i]
        if name in TERMINAL_KINDS:
            x = terminals[name]
            return (x if torch_layout else to_torch_layout(name, x)), i + 1
        if memo is None:
            return None
        keys[i] = key = nodes[i : program.subtree_end(i)]
        hit = memo.take(key)
        return None if hit is None else (hit, i + len(key))

    def apply(i, args):
        out = (PRIMITIVES[nodes[i]].fn if op is None else op(nodes[i]))(*args)
        if memo is not None:
            memo.put(keys[i], out)
        return out

    return fold(nodes, leaf, apply)[0]


def layer_score(program: Program, terminals: Terminals) -> jax.Array:
    """Mean of the program's output on one unit: a float32 scalar."""
    return jnp.mean(jnp.asarray(unit_output(program, terminals), jnp.float32))


@functools.lru_cache(maxsize=4096)
def compiled_layer_score(
    program: Program, vmapped: bool = False
) -> Callable[[Terminals], jax.Array]:
    """Jitted ``layer_score`` of ``program``; ``vmapped`` maps it over a leading init axis."""
    fn = functools.partial(layer_score, program)
    return jax.jit(jax.vmap(fn) if vmapped else fn)


Spec = tuple[tuple[int, ...], np.dtype]  # an abstract value: shape and dtype


@functools.lru_cache(maxsize=65536)
def _primitive_spec(name: str, args: tuple[Spec, ...]) -> Spec | None:
    """(shape, dtype) of primitive ``name``'s output on these abstract inputs, or None where
    JAX rejects them (``jax.eval_shape``, no compute)."""
    specs = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in args]
    try:
        out = jax.eval_shape(PRIMITIVES[name].fn, *specs)
    except (TypeError, ValueError, IndexError):
        return None
    return tuple(out.shape), np.dtype(out.dtype)


@functools.lru_cache(maxsize=65536)
def fits(program: Program, shapes: tuple[tuple[str, tuple[int, ...]], ...]) -> bool:
    """Whether the program runs on terminals of these (name, shape) pairs (no compute).

    Shapes are propagated node by node with ``_primitive_spec``, cached per (primitive, input
    shapes): the same answer as ``jax.eval_shape`` of the whole ``layer_score``, but a new
    program or architecture re-traces only primitives on shapes never seen, not the program.
    """
    shape_of = dict(shapes)
    nodes = program.nodes

    def leaf(i):
        name = nodes[i]
        if name not in TERMINAL_KINDS:
            return None
        view = np.broadcast_to(np.float32(0), shape_of[name])  # zero strides: no memory
        return (to_torch_layout(name, view).shape, np.dtype(np.float32)), i + 1

    def apply(i, args):
        return None if None in args else _primitive_spec(nodes[i], tuple(args))

    return fold(nodes, leaf, apply)[0] is not None


def _layer_inputs(program: Program, layer: Terminals, lead: int) -> tuple[Terminals, tuple]:
    missing = [t for t in program.terminals if t not in layer]
    if missing:
        raise KeyError(f"Stats lack terminals {missing} that program {program} reads.")
    inputs = {t: layer[t] for t in program.terminals}
    shapes = tuple((t, tuple(x.shape[lead:])) for t, x in inputs.items())
    return inputs, shapes


def layer_scores(
    program: Program, stats: Stats, num_inits: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Score of every unit and whether the program fits it.

    Returns:
      ``(scores, fitting)``: scores [L] float32 (or [K, L] for stats with a leading init axis
      of size ``num_inits``), NaN where skipped; fitting [L] bool.
    """
    lead = 0 if num_inits is None else 1
    fn = compiled_layer_score(program, num_inits is not None)
    pending, fitting = [], []
    for layer in stats.layers:
        inputs, shapes = _layer_inputs(program, layer, lead)
        fitting.append(fits(program, shapes))
        if fitting[-1]:
            pending.append(fn(inputs))  # dispatched asynchronously; gathered once below
    shape = () if num_inits is None else (num_inits,)
    scores = np.full((*shape, len(fitting)), np.nan, np.float32)
    if pending:
        scores[..., np.array(fitting)] = np.asarray(jnp.stack(pending, axis=-1))
    return scores, np.array(fitting, bool)


def network_score(program: Program, stats: Stats, num_inits: int | None = None) -> np.ndarray:
    """Mean of the layer scores over the units the program fits: a float64 scalar, or [K].

    NaN (invalid) if any fitting layer's score is not finite or no layer fits. A program of
    the network language (kind N) gets its value from ``network.network_values`` instead; an
    ensemble (kind E) has a value only over a set of networks (score its ``members``).
    """
    if not network.is_network(program):
        scores, fitting = layer_scores(program, stats, num_inits)
        return network_mean(scores, fitting)
    if program.kind == E:
        raise ValueError(
            f"{program} is a rank ensemble: it has a value only over a set of networks; score "
            "its members (zcjax.program.network.members) and combine them."
        )
    if stats.facts is None:
        raise ValueError("These statistics carry no NetworkFacts; collect them with collect_stats.")

    def unit_scores(unit_program):
        s, f = layer_scores(unit_program, stats, num_inits)
        return [(s[:, None] if num_inits is None else s.T, f)]

    value = network.network_values(
        program, unit_scores, [stats.facts], num_inits or 1, [stats.measured]
    )[0]
    return value[0] if num_inits is None else value


def network_mean(layer_scores: np.ndarray, fitting: np.ndarray, axis: int = -1) -> np.ndarray:
    """The network score from layer scores: their float64 mean over the fitting layers.

    Args:
      layer_scores: float32 scores with the L layers along ``axis``, e.g. [K, L] or [L, K].
      fitting: [L] bool, the layers the program fits.
    Returns:
      float64 of ``layer_scores``'s shape without ``axis``; NaN where the mean is not finite
      or no layer fits.
    """
    if not fitting.any():
        return np.full(np.delete(layer_scores.shape, axis), np.nan)
    mean = np.compress(fitting, layer_scores, axis=axis).astype(np.float64).mean(axis=axis)
    return np.where(np.isfinite(mean), mean, np.nan)
