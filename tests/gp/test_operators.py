"""Properties of the GP operators: well-typed children, height limits, keys, pure parents."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from zcjax.gp import operators as ops
from zcjax.keys import host_rng
from zcjax.program import Program, network, parse
from zcjax.program.kinds import KINDS
from zcjax.program.network import members as network_members
from zcjax.program.tree import TERMINAL_KINDS

EZNAS_A = parse("frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))")
EZNAS_A_NET = f"net_mean({EZNAS_A})"


def population(n=30, lo=2, hi=6, seed=0):
    keys = jax.random.split(jax.random.key(seed), n)
    return [ops.gen_half_and_half(k, lo, hi) for k in keys]


def well_typed(p: Program) -> bool:
    return Program.of(p.nodes) == p and parse(str(p)) == p


def test_min_heights():
    assert ops.MIN_HEIGHT == {"A": 0, "W": 0, "Am": 1, "Wm": 1, "S": 1, "N": 0, "E": 1}
    assert 0 < ops.TERMINAL_RATIO < 1


@pytest.mark.parametrize("gen", [ops.gen_full, ops.gen_grow, ops.gen_half_and_half])
def test_generators_respect_heights_and_kinds(gen):
    for i, key in enumerate(jax.random.split(jax.random.key(1), 60)):
        kind = KINDS[i % len(KINDS)]
        p = gen(key, 2, 6, kind=kind)
        assert well_typed(p) and p.kind == kind
        assert 2 <= p.height <= 6
        if gen is ops.gen_full:  # every leaf at the drawn height
            leaves = [d for d, n in zip(p.depths, p.nodes) if n in TERMINAL_KINDS]
            assert len(set(leaves)) == 1 and leaves[0] == p.height


def test_generator_raises_height_to_the_kinds_minimum():
    p = ops.gen_full(jax.random.key(0), 0, 0, kind="S")
    assert p.kind == "S" and p.height == 1
    p = ops.gen_grow(jax.random.key(0), 0, 0, kind="A")
    assert len(p) == 1 and p.nodes[0] in ops.TERMINALS_OF["A"]


def test_root_kinds_are_drawn_from_all_kinds():
    kinds = {p.kind for p in population(100)}
    assert kinds == set(KINDS)
    keys = jax.random.split(jax.random.key(5), 30)
    matrices = [ops.gen_half_and_half(k, 2, 4, kinds=("Am", "Wm")) for k in keys]
    assert {p.kind for p in matrices} == {"Am", "Wm"}  # both drawn, nothing else
    only_s = [ops.gen_grow(k, 2, 4, kinds=("S",)) for k in jax.random.split(jax.random.key(3), 10)]
    assert all(p.kind == "S" for p in only_s)


def test_same_key_same_program_and_different_keys_differ():
    a = population(10, seed=4)
    b = population(10, seed=4)
    assert a == b
    assert len(set(population(50, seed=5))) > 40


def test_cx_one_point_swaps_same_kind_subtrees_below_the_root():
    pop = population(40, seed=6)
    parents_before = list(pop)
    swapped = 0
    for i, key in enumerate(jax.random.split(jax.random.key(7), 39)):
        a, b = pop[i], pop[i + 1]
        c, d = ops.cx_one_point(key, a, b)
        assert well_typed(c) and well_typed(d)
        assert c.kind == a.kind and d.kind == b.kind  # roots are never swapped
        assert c.nodes[0] == a.nodes[0] and d.nodes[0] == b.nodes[0]
        assert len(c) + len(d) == len(a) + len(b)  # material is exchanged, not made
        assert sorted(c.nodes + d.nodes) == sorted(a.nodes + b.nodes)
        assert ops.cx_one_point(key, a, b) == (c, d)
        swapped += (c, d) != (a, b)
    assert pop == parents_before
    assert swapped > 20


def test_cx_one_point_leaves_single_nodes_alone():
    t = Program.of(["weight"])
    assert ops.cx_one_point(jax.random.key(0), t, EZNAS_A) == (t, EZNAS_A)


def test_mut_uniform_keeps_kind_and_bounds_the_new_subtree():
    for i, key in enumerate(jax.random.split(jax.random.key(8), 40)):
        parent = population(40, seed=9)[i]
        child = ops.mut_uniform(key, parent, 0, 5)
        assert well_typed(child) and child.kind == parent.kind
        assert child.height <= parent.height + 5
        assert child == ops.mut_uniform(key, parent, 0, 5)


def test_mut_node_replacement_changes_one_node_keeping_shape():
    changed = 0
    for i, key in enumerate(jax.random.split(jax.random.key(10), 40)):
        parent = population(40, seed=11)[i]
        child = ops.mut_node_replacement(key, parent)
        assert well_typed(child)
        assert len(child) == len(parent) and child.kinds == parent.kinds
        diff = [j for j in range(len(parent)) if child.nodes[j] != parent.nodes[j]]
        assert len(diff) <= 1 and 0 not in diff
        changed += len(diff)
    assert changed > 20


def test_mut_shrink_replaces_a_node_by_an_argument_of_its_kind():
    p = parse("sigmoid(sign(abs(relu_in@data)))")
    for key in jax.random.split(jax.random.key(12), 10):
        child = ops.mut_shrink(key, p)
        assert well_typed(child) and child.kind == p.kind
        assert len(child) == len(p) - 1 and child.nodes[0] == "sigmoid"
    shrunk = 0
    for i, key in enumerate(jax.random.split(jax.random.key(13), 40)):
        parent = population(40, seed=14)[i]
        child = ops.mut_shrink(key, parent)
        assert well_typed(child) and child.kind == parent.kind and len(child) <= len(parent)
        shrunk += len(child) < len(parent)
    assert shrunk > 10
    # EZNAS-A has no node whose argument has its own kind below the root except sign(A):
    assert ops.mut_shrink(jax.random.key(0), EZNAS_A) == parse(
        "frobenius_norm(sigmoid(logdet(relu_in_grad@data)))"
    )


def test_static_limit_replaces_too_high_children_by_a_parent():
    high = parse("sign(sign(sign(sign(relu_in@data))))")
    parents = [EZNAS_A, parse("sign(weight)")]
    out = ops.static_limit(jax.random.key(0), [high, parents[1]], parents, max_height=3)
    assert out[0] in parents and out[1] == parents[1]
    assert ops.static_limit(jax.random.key(0), [high], parents, max_height=4) == [high]


def test_var_or_respects_the_height_limit_and_keeps_parents():
    pop = population(20, 2, 6, seed=15)
    before = list(pop)
    for seed in range(5):
        kids = ops.var_or(
            jax.random.key(seed), pop, 50, 0.4, 0.4, tuple(ops.MUTATIONS), max_height=7
        )
        assert len(kids) == 50 and all(well_typed(k) and k.height <= 7 for k in kids)
        assert kids == ops.var_or(
            jax.random.key(seed), pop, 50, 0.4, 0.4, tuple(ops.MUTATIONS), max_height=7
        )
    assert pop == before
    copies = ops.var_or(jax.random.key(0), pop, 30, 0.0, 0.0)
    assert all(k in pop for k in copies)
    with pytest.raises(ValueError, match="Unknown mutations"):
        ops.var_or(jax.random.key(0), pop, 3, mutations=("bogus",))


def test_sel_tournament_picks_the_best_aspirant():
    fitness = np.array([0.1, 0.9, -2.0, 0.5, 0.3])
    idx = ops.sel_tournament(jax.random.key(0), fitness, 200, 4)
    assert idx.shape == (200,) and idx.dtype.kind == "i"
    assert np.array_equal(idx, ops.sel_tournament(jax.random.key(0), fitness, 200, 4))
    # Each winner beats every other aspirant of its tournament; the worst never wins a
    # tournament of more than one distinct aspirant; the best wins most.
    assert (idx != 2).mean() > 0.95
    assert (idx == 1).mean() > 0.5
    assert np.array_equal(ops.sel_tournament(jax.random.key(1), fitness, 5, 1).shape, (5,))
    # all tied: the first drawn aspirant wins (the draw is host_rng(key)'s, reproduced here)
    same = ops.sel_tournament(jax.random.key(2), np.zeros(3), 50, 4)
    aspirants = host_rng(jax.random.key(2)).integers(3, size=(50, 4))
    assert np.array_equal(same, aspirants[:, 0]) and len(set(same.tolist())) == 3
    # ties with a better one: it wins wherever drawn, else the first drawn of the tied
    tied = ops.sel_tournament(jax.random.key(2), np.array([0.0, 0.0, 1.0]), 50, 4)
    want = np.where((aspirants == 2).any(axis=1), 2, aspirants[:, 0])
    assert np.array_equal(tied, want)


def _mutate(name, key, program):
    return ops.MUTATIONS[name](key, program)


# Every operator, called the way ``var_or`` calls it: each returns a list of children and the
# parents whose kinds the children must keep.
OPERATORS = {
    "cx_one_point": lambda key, a, b: (list(ops.cx_one_point(key, a, b)), [a, b]),
    **{
        f"mut_{name}": (lambda key, a, b, name=name: ([_mutate(name, key, a)], [a]))
        for name in ops.MUTATIONS
    },
    "gen_full": lambda key, a, b: ([ops.gen_full(key, 1, 4, kind=a.kind)], [a]),
    "gen_grow": lambda key, a, b: ([ops.gen_grow(key, 1, 4, kind=a.kind)], [a]),
    "gen_half_and_half": lambda key, a, b: ([ops.gen_half_and_half(key, 1, 4, kind=a.kind)], [a]),
    "static_limit": lambda key, a, b: (ops.static_limit(key, [a, b], [b, a], 4), [a, b]),
}


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_every_operator_returns_well_typed_programs_of_the_parents_kinds(name):
    pop = population(24, seed=9)
    keys = jax.random.split(jax.random.key(9), len(pop))
    for key, a, b in zip(keys, pop, pop[1:] + pop[:1]):
        children, parents = OPERATORS[name](key, a, b)
        assert children and all(isinstance(c, Program) and well_typed(c) for c in children)
        kinds = [c.kind for c in children]
        if name == "cx_one_point":  # children swap one subtree of the same kind: roots kept
            assert kinds == [a.kind, b.kind]
        elif name == "static_limit":  # a child over the limit is replaced by a parent
            assert all(c.height <= 4 or c in parents for c in children)
        else:
            assert kinds == [parents[0].kind]


def test_operator_table_covers_every_mutation():
    assert {f"mut_{m}" for m in ops.MUTATIONS} <= set(OPERATORS)


# ----------------------------------------------------------------------------- network language


def _members(p: Program) -> int:
    return int(p.nodes[0].removeprefix("ensemble")) if p.kind == "E" else 1


@pytest.mark.parametrize("max_trees", [2, 3, 4, 6])
def test_ensembles_are_generated_well_typed_within_max_trees(max_trees):
    keys = jax.random.split(jax.random.key(9), 40)
    progs = [ops.gen_half_and_half(k, 2, 6, kinds=("E",), max_trees=max_trees) for k in keys]
    assert all(well_typed(p) and p.kind == "E" and p.height <= 6 for p in progs)
    sizes = {_members(p) for p in progs}
    assert max(sizes) <= max_trees and 2 in sizes
    if max_trees > 2:
        assert max(sizes) > 2  # larger ensembles are drawn too
    nets = [ops.gen_half_and_half(k, 2, 6, kinds=("N",)) for k in keys]
    assert all(well_typed(p) and p.kind == "N" for p in nets)
    assert any(n.startswith("net_") and n in ops.PRIMITIVES for p in nets for n in p.nodes)


def test_mutation_acts_within_one_member_of_an_ensemble():
    parent = parse(
        "ensemble3(net_mean(frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))), "
        "log_params, net_std(mean(weight)))"
    )
    for key in jax.random.split(jax.random.key(4), 30):
        child = ops.mut_uniform(key, parent)
        assert well_typed(child) and child.nodes[0] == "ensemble3"
        same = [a == b for a, b in zip(network_members(child), network_members(parent))]
        assert sum(same) >= 2  # at most one member changed


def test_cx_members_combines_whole_trees_of_both_parents():
    a = parse("ensemble2(log_params, net_mean(mean(weight)))")
    b = parse("ensemble2(log_flops, net_max(mean(relu_in@data)))")
    pool = set(network_members(a)) | set(network_members(b))
    children = [
        ops.cx_members(k, a, b, max_trees=3) for k in jax.random.split(jax.random.key(2), 30)
    ]
    for child in children:
        assert well_typed(child) and 2 <= _members(child) <= 3
        assert set(network_members(child)) <= pool
    mixed = [c for c in children if set(network_members(c)) - set(network_members(a))]
    assert mixed and any(_members(c) == 3 for c in children)
    # Single N programs combine into an ensemble; max_trees=1 leaves the first parent.
    single = ops.cx_members(jax.random.key(0), parse("log_params"), parse("log_flops"))
    assert single == parse("ensemble2(log_flops, log_params)") or single == parse(
        "ensemble2(log_params, log_flops)"
    )
    assert ops.cx_members(jax.random.key(0), a, b, max_trees=1) == a


def test_var_or_on_ensembles_keeps_types_and_the_member_limit():
    keys = jax.random.split(jax.random.key(11), 20)
    parents = [ops.gen_half_and_half(k, 2, 5, kinds=("E",), max_trees=3) for k in keys]
    kids = ops.var_or(jax.random.key(1), parents, 60, 0.5, 0.4, ("uniform",), 10, (0, 3), 3)
    assert all(well_typed(c) and c.kind == "E" and _members(c) <= 3 for c in kids)
    assert len(set(kids) - set(parents)) > 20


def test_mut_members_adds_drops_and_replaces_whole_trees():
    parent = parse(f"ensemble3({EZNAS_A_NET}, log_params, swap@data)")
    old = network_members(parent)
    measured = ("az_trainability@noise", "swap@data")
    moves = set()
    for key in jax.random.split(jax.random.key(3), 60):
        child = ops.mut_members(key, parent, 4, 0, 2, measured)
        assert well_typed(child) and child.kind in ("N", "E")
        new = network_members(child)
        kept = [m for m in old if m in new]
        assert 1 <= len(new) <= 4
        if len(new) == 4:  # add: every old member kept, in order, one new tree
            assert list(new[: len(new)]) != list(old) and kept == list(old)
            moves.add("add")
        elif len(new) == 2:  # drop: two of the old members, in their order
            assert list(new) == kept
            moves.add("drop")
        else:  # replace: two old members kept in place, one new tree
            assert len(kept) >= 2
            moves.add("replace")
    assert moves == {"add", "drop", "replace"}
    # A one-tree program can grow into an ensemble of two, never drop to nothing.
    grown = [
        ops.mut_members(k, parse("log_params"), 2, 0, 0, measured)
        for k in jax.random.split(jax.random.key(5), 40)
    ]
    assert all(_members(c) in (1, 2) and well_typed(c) for c in grown)
    added = [c for c in grown if _members(c) == 2]
    assert added and all(parse("log_params") in network_members(c) for c in added)
    # Height 0 draws a network terminal, the measured ones among them.
    new_trees = {str(m) for c in added for m in network_members(c)} - {"log_params"}
    assert new_trees & set(measured) and all(TERMINAL_KINDS[t] == "N" for t in new_trees)
    # Capped at max_trees, and EZNAS's unit-kind language left alone.
    assert all(
        _members(ops.mut_members(k, parent, 3)) <= 3
        for k in jax.random.split(jax.random.key(6), 30)
    )
    assert ops.mut_members(jax.random.key(0), EZNAS_A) == EZNAS_A


def test_mut_weights_adds_or_removes_one_copy_of_a_member():
    parent = parse(f"ensemble4({EZNAS_A_NET}, log_params, log_params, swap@data)")
    e, p, s = parse(EZNAS_A_NET), parse("log_params"), parse("swap@data")
    children = {ops.mut_weights(k, parent, 5) for k in jax.random.split(jax.random.key(7), 60)}
    # Every possible move, and nothing else: a copy of E, P or S beside its own, or P once.
    expected = {
        network.ensemble(t) for t in ([e, e, p, p, s], [e, p, p, p, s], [e, p, p, s, s], [e, p, s])
    }
    assert children == expected
    for child in children:
        assert well_typed(child) and set(network_members(child)) == {e, p, s}
    # weight_moves lists the same moves, copies first in member order, then removals.
    assert ops.weight_moves(parent, 5) == [
        network.ensemble(t) for t in ([e, e, p, p, s], [e, p, p, p, s], [e, p, p, s, s], [e, p, s])
    ]
    assert ops.weight_moves(parent, 4) == [network.ensemble([e, p, s])]
    assert ops.weight_moves(p, 6) == [] and ops.weight_moves(EZNAS_A) == []
    # At the cap only copies can go; an ensemble of distinct members at the cap is unchanged.
    capped = {ops.mut_weights(k, parent, 4) for k in jax.random.split(jax.random.key(8), 20)}
    assert capped == {network.ensemble([e, p, s])}
    distinct = parse(f"ensemble2({EZNAS_A_NET}, log_params)")
    assert ops.mut_weights(jax.random.key(0), distinct, 2) == distinct
    # One tree (kind N) and EZNAS's unit-kind programs have no weights to change.
    assert ops.mut_weights(jax.random.key(0), p, 6) == p
    assert ops.mut_weights(jax.random.key(0), EZNAS_A) == EZNAS_A
    # var_or draws it by name and keeps children within max_trees.
    kids = ops.var_or(jax.random.key(2), [parent], 30, 0.0, 1.0, ("weights",), 10, (0, 3), 5)
    assert set(kids) <= expected and len(set(kids)) > 1


def test_sel_lexicase_keeps_specialists_within_epsilon():
    # Rows 0 and 1 are each best on one task, row 2 has the best minimum over tasks; the
    # rest are poor. Each task's median absolute deviation is 0 here, so plain lexicase.
    values = np.array([[1.0, -0.5], [-0.5, 1.0], [0.2, 0.2]] + [[-1.0, -1.0]] * 5)
    idx = ops.sel_lexicase(jax.random.key(0), values, 200)
    assert idx.shape == (200,) and set(idx.tolist()) == {0, 1}
    assert np.array_equal(idx, ops.sel_lexicase(jax.random.key(0), values, 200))
    assert 2 in ops.sel_tournament(jax.random.key(0), values.min(1), 200)  # min-fitness view
    # Epsilon: task 0's values [1, .95, .9, .8, .7] have median .9 and MAD .1, so rows 0-2 are
    # all "best" on it and task 1 decides: row 1 wins whichever task comes first.
    values = np.array([[1.0, 0.0], [0.95, 1.0], [0.9, 0.0], [0.8, 0.0], [0.7, 0.0]])
    assert set(ops.sel_lexicase(jax.random.key(1), values, 50).tolist()) == {1}
    # Rows with a non-finite value are invalid and lose to any valid row; all invalid: any row.
    values = np.array([[np.nan, 1.0], [0.0, 0.0], [-np.inf, 2.0]])
    assert set(ops.sel_lexicase(jax.random.key(2), values, 50).tolist()) == {1}
    assert ops.sel_lexicase(jax.random.key(2), np.full((3, 2), np.nan), 5).shape == (5,)
    with pytest.raises(ValueError, match="non-empty"):
        ops.sel_lexicase(jax.random.key(0), np.zeros(3), 2)


# ----------------------------------------------------------------------------- aligned members


def test_align_moves_wrap_or_unwrap_every_copy_of_one_member():
    e, p, t = parse(EZNAS_A_NET), parse("log_params"), parse("az_trainability@noise")
    at = network.aligned(t)
    parent = network.ensemble([e, e, p, t])
    assert ops.align_moves(parent) == [
        network.ensemble(x)
        for x in ([network.aligned(e), network.aligned(e), p, t], [e, e, network.aligned(p), t])
        + ([e, e, p, at],)
    ]
    # Unwrapping is a move too, and a move twice is the identity.
    back = ops.align_moves(network.ensemble([e, at]))
    assert network.ensemble([e, t]) in back
    assert all(parent in ops.align_moves(m) for m in ops.align_moves(parent))
    # weight_moves lists the align moves after the copies only when asked.
    assert ops.weight_moves(parent, 6) == ops.weight_moves(parent, 6, align=False)
    assert ops.weight_moves(parent, 6, align=True) == ops.weight_moves(parent, 6) + ops.align_moves(
        parent
    )
    # Only ensembles have members to align.
    assert ops.align_moves(p) == [] and ops.mut_align(jax.random.key(0), EZNAS_A) == EZNAS_A
    children = {ops.mut_align(k, parent) for k in jax.random.split(jax.random.key(3), 30)}
    assert children == set(ops.align_moves(parent))


def test_random_trees_never_hold_net_aligned_and_variation_keeps_it_at_member_roots():
    # Drawn and replaced nodes never are net_aligned, so searches without align draw as before.
    keys = jax.random.split(jax.random.key(4), 60)
    drawn = [ops.gen_half_and_half(k, 2, 6, kinds=("N", "E"), max_trees=4) for k in keys]
    assert not any(network.ALIGN in p.nodes for p in drawn)
    e, p, t = parse(EZNAS_A_NET), parse("log_params"), parse("az_trainability@noise")
    parents = [
        network.ensemble([e, network.aligned(t)]),
        network.ensemble([network.aligned(p), network.aligned(e), t]),
        parse("net_add(log_params, net_neg(log_flops))"),
    ]
    kids = ops.var_or(
        jax.random.key(5), parents, 200, 0.5, 0.5, ("uniform", "members", "align"), 10, (0, 3), 4
    )
    assert any(network.ALIGN in k.nodes for k in kids)
    for kid in kids:
        assert well_typed(kid) and network.check_aligned(kid) == kid
