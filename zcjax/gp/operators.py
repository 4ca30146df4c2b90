"""Typed tree-GP operators over ``Program``s, in DEAP's vocabulary (snake_case).

Every operator takes a ``jax.random`` key first and returns new programs; inputs are never
changed (``Program`` is an immutable tuple of node names). Host randomness comes from
``keys.host_rng(key)``, so the same key always gives the same child.

Typing: a node's *kind* (``program.kinds``) plays the role of a DEAP type. Only ``A`` and ``W``
have terminals, so ``Am``, ``Wm`` and ``S`` need at least one primitive above the leaves
(``MIN_HEIGHT``); generators raise a requested height to that minimum instead of failing as
DEAP's ``generate`` does when no terminal of a type exists.

Semantics follow DEAP's ``gp`` module: ``gen_grow`` stops at a node with probability
``TERMINAL_RATIO`` (terminals / (terminals + primitives)) once ``min_height`` is reached;
``cx_one_point`` and ``mut_node_replacement`` never pick the root; ``mut_uniform`` may;
``static_limit`` replaces a child that is too high by a random one of its parents.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from zcjax.keys import host_rng
from zcjax.program import network
from zcjax.program.kinds import ALL_KINDS, KINDS, E, N
from zcjax.program.netops import ALIGN, ENSEMBLES, MAX_TREES, MEASURED_TERMINALS
from zcjax.program.primitives import PRIMITIVES, UNIT_PRIMITIVES
from zcjax.program.terminals import TERMINALS
from zcjax.program.tree import TERMINAL_KINDS, Program, arity

# Terminals drawn by default, per kind; measured terminals only where a search opts in
# (``measured``), so searches without them draw exactly as before.
TERMINALS_OF = {
    k: tuple(t for t, tk in TERMINAL_KINDS.items() if tk == k and t not in MEASURED_TERMINALS)
    for k in ALL_KINDS
}
# Ops a new or replaced node may be: ``net_aligned`` only ever comes from the ``align`` moves.
DRAWN = {name: prim for name, prim in PRIMITIVES.items() if name != ALIGN}
# EZNAS's language's ratio (22 terminals, 33 primitives) everywhere: the network language's
# ops never change how EZNAS's programs are drawn.
TERMINAL_RATIO = len(TERMINALS) / (len(TERMINALS) + len(UNIT_PRIMITIVES))


def _min_heights() -> dict[str, int]:
    """Least height of a tree of each kind (0 for kinds with terminals), by fixed point."""
    height = {k: (0 if TERMINALS_OF[k] else None) for k in ALL_KINDS}
    changed = True
    while changed:
        changed = False
        for prim in PRIMITIVES.values():
            for args, result in prim.signatures:
                if any(height[a] is None for a in args):
                    continue
                h = 1 + max(height[a] for a in args)
                if height[result] is None or h < height[result]:
                    height[result], changed = h, True
    return height


MIN_HEIGHT = _min_heights()


def _terminals(kind: str, measured: Sequence[str] = ()) -> tuple[str, ...]:
    """Terminals of ``kind`` a new node may be: the defaults, plus ``measured`` for ``N``."""
    return TERMINALS_OF[kind] + (tuple(measured) if kind == N else ())


def _options(
    kind: str, budget: int, max_trees: int = MAX_TREES
) -> list[tuple[str, list[tuple[str, ...]]]]:
    """Primitives that make ``kind`` within ``budget`` levels, each with its usable signatures
    (ensembles of at most ``max_trees`` members)."""
    out = []
    for prim in DRAWN.values():
        if ENSEMBLES.get(prim.name, 0) > max_trees:
            continue
        sigs = [
            args
            for args, result in prim.signatures
            if result == kind and all(MIN_HEIGHT[a] <= budget - 1 for a in args)
        ]
        if sigs:
            out.append((prim.name, sigs))
    return out


def _generate(
    rng: np.random.Generator,
    kind: str,
    height: int,
    min_height: int,
    grow: bool,
    max_trees: int = MAX_TREES,
    measured: Sequence[str] = (),
):
    """Prefix nodes of a tree of ``kind``, DEAP's ``generate`` with kinds (see module doc)."""
    height = max(height, MIN_HEIGHT[kind])
    nodes: list[str] = []
    stack = [(0, kind)]
    while stack:
        depth, k = stack.pop()
        remaining = height - depth
        stop = remaining == 0 or (grow and depth >= min_height and rng.random() < TERMINAL_RATIO)
        if stop and TERMINALS_OF[k]:
            nodes.append(str(rng.choice(_terminals(k, measured))))
            continue
        options = _options(k, max(remaining, MIN_HEIGHT[k]), max_trees)
        name, sigs = options[rng.integers(len(options))]
        args = sigs[rng.integers(len(sigs))]
        nodes.append(name)
        stack.extend((depth + 1, a) for a in reversed(args))
    return Program.of(nodes)


def _gen(key, min_height, max_height, kind, kinds, grow, max_trees, measured) -> Program:
    rng = host_rng(key)
    kind = kind if kind is not None else str(rng.choice(list(kinds)))
    height = int(rng.integers(min_height, max_height + 1))
    return _generate(rng, kind, height, min_height, grow, max_trees, measured)


def gen_full(
    key: jax.Array,
    min_height: int,
    max_height: int,
    kind: str | None = None,
    kinds=KINDS,
    max_trees: int = MAX_TREES,
    measured: Sequence[str] = (),
) -> Program:
    """A tree whose leaves all sit at one height drawn from [min_height, max_height].

    ``kind`` fixes the root's kind; otherwise it is drawn from ``kinds`` (programs of every unit
    kind are scored by the mean of their output, as EZNAS's untyped root allowed; ``N`` and
    ``E`` are the network language's). Ensembles hold at most ``max_trees`` members; ``N``
    leaves may also be the ``measured`` terminals.
    """
    return _gen(key, min_height, max_height, kind, kinds, False, max_trees, measured)


def gen_grow(
    key: jax.Array,
    min_height: int,
    max_height: int,
    kind: str | None = None,
    kinds=KINDS,
    max_trees: int = MAX_TREES,
    measured: Sequence[str] = (),
) -> Program:
    """A tree of height at most one drawn from [min_height, max_height], leaves at any depth."""
    return _gen(key, min_height, max_height, kind, kinds, True, max_trees, measured)


def gen_half_and_half(
    key: jax.Array,
    min_height: int,
    max_height: int,
    kind: str | None = None,
    kinds=KINDS,
    max_trees: int = MAX_TREES,
    measured: Sequence[str] = (),
) -> Program:
    """``gen_full`` or ``gen_grow`` with equal probability (EZNAS: heights 2-6)."""
    key_choice, key_gen = jax.random.split(key)
    method = gen_full if host_rng(key_choice).random() < 0.5 else gen_grow
    return method(key_gen, min_height, max_height, kind, kinds, max_trees, measured)


def _splice(program: Program, start: int, new_nodes: Sequence[str]) -> Program:
    end = program.subtree_end(start)
    return Program.of(program.nodes[:start] + tuple(new_nodes) + program.nodes[end:])


def cx_one_point(key: jax.Array, a: Program, b: Program) -> tuple[Program, Program]:
    """Swaps a random subtree of ``a`` with a random subtree of the same kind in ``b``.

    Roots are never picked (DEAP); parents with fewer than two nodes or no common kind below
    the root are returned unchanged.
    """
    rng = host_rng(key)
    if len(a) < 2 or len(b) < 2:
        return a, b
    where_a: dict[str, list[int]] = {}
    where_b: dict[str, list[int]] = {}
    for i in range(1, len(a)):
        where_a.setdefault(a.kinds[i], []).append(i)
    for i in range(1, len(b)):
        where_b.setdefault(b.kinds[i], []).append(i)
    common = sorted(set(where_a) & set(where_b))
    if not common:
        return a, b
    kind = common[rng.integers(len(common))]
    i = where_a[kind][rng.integers(len(where_a[kind]))]
    j = where_b[kind][rng.integers(len(where_b[kind]))]
    sub_a = a.nodes[i : a.subtree_end(i)]
    sub_b = b.nodes[j : b.subtree_end(j)]
    return _splice(a, i, sub_b), _splice(b, j, sub_a)


def cx_members(key: jax.Array, a: Program, b: Program, max_trees: int = MAX_TREES) -> Program:
    """An ensemble of 2..``max_trees`` members drawn from both parents' members (an ``N``
    parent is one member): crossover that combines whole trees. Returns ``a`` when the
    parents hold fewer than two distinct members."""
    pool = list(dict.fromkeys(network.members(a) + network.members(b)))
    if len(pool) < 2 or max_trees < 2:
        return a
    rng = host_rng(key)
    k = int(rng.integers(2, min(max_trees, len(pool)) + 1))
    chosen = sorted(rng.choice(len(pool), size=k, replace=False))
    return network.ensemble([pool[i] for i in chosen])


def mut_uniform(
    key: jax.Array,
    program: Program,
    min_height: int = 0,
    max_height: int = 5,
    measured: Sequence[str] = (),
) -> Program:
    """Replaces a random subtree (the root included) by a ``gen_half_and_half`` tree of its kind.

    EZNAS: new subtree heights 0-5. In an ensemble (kind E) the root is never picked: the
    mutation acts within one member.
    """
    key_pick, key_gen = jax.random.split(key)
    first = 1 if program.kind == E else 0
    i = int(host_rng(key_pick).integers(first, len(program)))
    kind = program.kinds[i]
    subtree = gen_half_and_half(key_gen, min_height, max_height, kind=kind, measured=measured)
    return _splice(program, i, subtree.nodes)


def mut_members(
    key: jax.Array,
    program: Program,
    max_trees: int = MAX_TREES,
    min_height: int = 0,
    max_height: int = 5,
    measured: Sequence[str] = (),
) -> Program:
    """Changes which trees a network-language program holds (ours): adds a new random member
    (``gen_half_and_half`` of kind N, heights ``min_height``-``max_height``, ``measured``
    terminals included), drops one, or replaces one by a new one, drawn uniformly among the
    moves that keep 1..``max_trees`` members. A one-member result is that tree (kind N).
    ``mut_uniform`` acts within a member; this is the mutation that grows an ensemble by a
    measure its parents lack, as ``cx_members`` can only recombine measures already held.
    Unit-kind programs (EZNAS's language) are returned unchanged."""
    if not network.is_network(program):
        return program
    trees = list(network.members(program))
    key_move, key_which, key_gen = jax.random.split(key, 3)
    moves = ["replace"]
    if len(trees) < max_trees:
        moves.append("add")
    if len(trees) > 1:
        moves.append("drop")
    move = moves[host_rng(key_move).integers(len(moves))]
    i = int(host_rng(key_which).integers(len(trees)))
    if move != "drop":
        new = gen_half_and_half(key_gen, min_height, max_height, kind=N, measured=measured)
    if move == "add":
        trees.insert(i, new)
    elif move == "drop":
        del trees[i]
    else:
        trees[i] = new
    return network.ensemble(trees)


def weight_moves(
    program: Program, max_trees: int = MAX_TREES, align: bool = False
) -> list[Program]:
    """Every ensemble one weight step from ``program`` (``mut_weights``'s moves, in its order):
    for each distinct member a copy added beside it (while fewer than ``max_trees`` trees),
    then for each member held two or more times one copy removed, then with ``align`` each
    distinct member's copies aligned or unaligned (``align_moves``). [] for anything but an
    ensemble (kind E)."""
    if program.kind != E:
        return []
    trees = list(network.members(program))
    moves = [(t, +1) for t in dict.fromkeys(trees) if len(trees) < max_trees]
    moves += [(t, -1) for t in dict.fromkeys(trees) if trees.count(t) > 1]
    out = []
    for tree, step in moves:
        last = len(trees) - 1 - trees[::-1].index(tree)
        changed = (
            trees[: last + 1] + [tree] + trees[last + 1 :]
            if step > 0
            else trees[:last] + trees[last + 1 :]
        )
        out.append(network.ensemble(changed))
    return out + (align_moves(program) if align else [])


def align_moves(program: Program) -> list[Program]:
    """Every ensemble one orientation step from ``program`` (ours): for each distinct member
    (in order) all its copies wrapped in ``net_aligned`` (oriented to rank with size over the
    scored set, ``network.combine``) or, if aligned, unwrapped. [] for anything but an
    ensemble (kind E)."""
    if program.kind != E:
        return []
    trees = list(network.members(program))
    out = []
    for tree in dict.fromkeys(trees):
        flip = network.unaligned(tree) if network.is_aligned(tree) else network.aligned(tree)
        out.append(network.ensemble([flip if t == tree else t for t in trees]))
    return out


def mut_align(key: jax.Array, program: Program) -> Program:
    """Aligns or unaligns one distinct member of a rank ensemble, uniformly among them
    (``align_moves``); anything but an ensemble is returned unchanged."""
    moves = align_moves(program)
    if not moves:
        return program
    return moves[host_rng(key).integers(len(moves))]


def mut_weights(key: jax.Array, program: Program, max_trees: int = MAX_TREES) -> Program:
    """Changes one member's weight in a rank ensemble (ours). The sum of log-ranks counts a
    member held c times c times, so copies are integer weights: picks one distinct member and
    adds a copy beside it (while the ensemble holds fewer than ``max_trees`` trees) or removes
    one of its copies (when it has two or more), uniformly among the possible moves
    (``weight_moves``). The distinct members stay; anything but an ensemble (kind E) is
    returned unchanged, as is an ensemble with no possible move."""
    moves = weight_moves(program, max_trees)
    if not moves:
        return program
    return moves[host_rng(key).integers(len(moves))]


def mut_node_replacement(key: jax.Array, program: Program, measured: Sequence[str] = ()) -> Program:
    """Replaces one non-root node by another of the same arity taking the same argument kinds
    and giving the same kind (a terminal by another terminal of its kind, ``measured`` ones
    included for ``N``)."""
    if len(program) < 2:
        return program
    rng = host_rng(key)
    i = int(rng.integers(1, len(program)))
    name, kind = program.nodes[i], program.kinds[i]
    if arity(name) == 0:
        choices = _terminals(kind, measured)
    else:
        child_kinds, j = [], i + 1
        for _ in range(arity(name)):
            child_kinds.append(program.kinds[j])
            j = program.subtree_end(j)
        choices = tuple(
            p.name
            for p in DRAWN.values()
            if p.arity == len(child_kinds) and p.result_kind(tuple(child_kinds)) == kind
        )
    nodes = list(program.nodes)
    nodes[i] = str(choices[rng.integers(len(choices))])
    return Program.of(nodes)


def mut_shrink(key: jax.Array, program: Program) -> Program:
    """Replaces a non-root primitive by one of its arguments of the same kind (DEAP's shrink)."""
    if len(program) < 3 or program.height <= 1:
        return program
    rng = host_rng(key)
    candidates = []  # (node index, start of an argument of the node's own kind)
    for i in range(1, len(program)):
        j = i + 1
        for _ in range(arity(program.nodes[i])):
            if program.kinds[j] == program.kinds[i]:
                candidates.append((i, j))
            j = program.subtree_end(j)
    if not candidates:
        return program
    i, j = candidates[rng.integers(len(candidates))]
    return _splice(program, i, program.nodes[j : program.subtree_end(j)])


def static_limit(
    key: jax.Array, children: Sequence[Program], parents: Sequence[Program], max_height: int = 10
) -> list[Program]:
    """Children higher than ``max_height`` replaced by a random parent (EZNAS: height 10)."""
    rng = host_rng(key)
    out = []
    for child in children:
        if child.height > max_height:
            child = parents[rng.integers(len(parents))]
        out.append(child)
    return out


def sel_tournament(key: jax.Array, fitness: Sequence[float], k: int, size: int = 4) -> np.ndarray:
    """Indices of ``k`` tournament winners; each tournament draws ``size`` aspirants with
    replacement and keeps the fittest (the first drawn among equals). EZNAS: size 4.

    Returns:
      [k] int indices into ``fitness``.
    """
    fitness = np.asarray(fitness, np.float64)
    if fitness.ndim != 1 or not len(fitness):
        raise ValueError("sel_tournament needs a non-empty 1-D fitness array.")
    aspirants = host_rng(key).integers(len(fitness), size=(k, size))
    return aspirants[np.arange(k), np.argmax(fitness[aspirants], axis=1)]


def sel_lexicase(key: jax.Array, values: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` epsilon-lexicase winners (La Cava et al., GECCO 2016; ours, EZNAS had
    tournaments): each selection takes the tasks in a fresh random order and keeps, task by
    task, the candidates within epsilon of the best remaining one on that task, until one is
    left or the tasks run out (then a random one of those left). Epsilon per task is the
    median absolute deviation of its values over the valid candidates. A program best on one
    task (a specialist) can win, so measures that lift some tasks survive to be combined,
    while the minimum over tasks would drop them. A row with a non-finite value is invalid
    (as its fitness) and counts as -inf everywhere: it wins only if every row is invalid.

    Args:
      values: [P, T] per-task values (e.g. ``fitness.task_values``), larger is better.

    Returns:
      [k] int indices into ``values``' rows.
    """
    values = np.asarray(values, np.float64)
    if values.ndim != 2 or not values.shape[0] or not values.shape[1]:
        raise ValueError("sel_lexicase needs a non-empty [P, T] array of per-task values.")
    valid = np.isfinite(values).all(axis=1)
    values = np.where(valid[:, None], values, -np.inf)
    eps = np.zeros(values.shape[1])
    if valid.any():
        ok = values[valid]
        eps = np.median(np.abs(ok - np.median(ok, axis=0)), axis=0)
    rng = host_rng(key)
    out = np.empty(k, int)
    for s in range(k):
        left = np.arange(len(values))
        for t in rng.permutation(values.shape[1]):
            column = values[left, t]
            best = column.max()
            left = left[column >= best - eps[t]] if np.isfinite(best) else left
            if len(left) == 1:
                break
        out[s] = left[rng.integers(len(left))]
    return out


MUTATIONS = {
    "uniform": mut_uniform,
    "node_replacement": mut_node_replacement,
    "shrink": mut_shrink,
    "members": mut_members,
    "weights": mut_weights,
    "align": mut_align,
}


def var_or(
    key: jax.Array,
    population: Sequence[Program],
    num_offspring: int,
    cx_prob: float = 0.4,
    mut_prob: float = 0.4,
    mutations: Sequence[str] = ("uniform",),
    max_height: int = 10,
    mut_heights: tuple[int, int] = (0, 5),
    max_trees: int = 1,
    measured: Sequence[str] = (),
) -> list[Program]:
    """DEAP's ``varOr``: each child comes from crossover (``cx_prob``; the first child of two
    distinct random parents), mutation (``mut_prob``; one of ``mutations`` drawn uniformly) or
    a copy, with ``static_limit`` applied to crossover and mutation.

    With ``max_trees`` >= 2 and two network-language parents (kind N or E), crossover is
    ``cx_members`` (combining member trees) or ``cx_one_point`` (exchanging subtrees, whole
    members included) with equal probability. Mutations may draw the ``measured`` network
    terminals.
    """
    if cx_prob + mut_prob > 1.0:
        raise ValueError("cx_prob + mut_prob must be at most 1.")
    unknown = [m for m in mutations if m not in MUTATIONS]
    if unknown or not mutations:
        raise ValueError(f"Unknown mutations {unknown}; known: {', '.join(MUTATIONS)}.")
    population = list(population)
    offspring = []
    for key_child in jax.random.split(key, num_offspring):
        key_op, key_var, key_limit = jax.random.split(key_child, 3)
        rng = host_rng(key_op)
        r = rng.random()
        if r < cx_prob and len(population) >= 2:
            a, b = rng.choice(len(population), size=2, replace=False)
            parents = [population[a], population[b]]
            if max_trees >= 2 and all(network.is_network(p) for p in parents):
                if rng.random() < 0.5:
                    child = cx_members(key_var, *parents, max_trees=max_trees)
                else:
                    child = cx_one_point(key_var, *parents)[0]
            else:
                child = cx_one_point(key_var, *parents)[0]
        elif r < cx_prob + mut_prob:
            parents = [population[rng.integers(len(population))]]
            name = mutations[rng.integers(len(mutations))]
            if name == "uniform":
                child = mut_uniform(key_var, parents[0], *mut_heights, measured=measured)
            elif name == "node_replacement":
                child = mut_node_replacement(key_var, parents[0], measured)
            elif name == "members":
                child = mut_members(key_var, parents[0], max_trees, *mut_heights, measured)
            elif name == "weights":
                child = mut_weights(key_var, parents[0], max_trees)
            else:
                child = MUTATIONS[name](key_var, parents[0])
        else:
            offspring.append(population[rng.integers(len(population))])
            continue
        child = network.place_aligned(child)  # crossover may move a member inside a tree
        offspring.append(static_limit(key_limit, [child], parents, max_height)[0])
    return offspring
