import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zcjax import compiles, netplan, stats
from zcjax.gp.operators import gen_half_and_half
from zcjax.program import layer_scores, network_score, parse
from zcjax.program.compile import compiled_layer_score, fits, layer_score
from zcjax.program.kinds import W
from zcjax.program.terminals import TERMINAL_KINDS
from zcjax.spaces import nb201

SMALL = dict(channels=4, cells_per_stage=1)


@pytest.fixture(scope="module")
def small_stats():
    plan = nb201.plan((3, 3, 4, 1, 3, 2), **SMALL)
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    return stats.collect_stats(jax.random.key(1), plan, x, stats.TERMINALS)


def test_layer_score_is_mean_of_output(small_stats):
    program = parse("relu(relu_in@data)")
    scores, fitting = layer_scores(program, small_stats)
    assert fitting.all()
    for score, layer in zip(scores, small_stats.layers):
        np.testing.assert_allclose(score, np.maximum(layer["relu_in@data"], 0).mean(), rtol=1e-5)
    np.testing.assert_allclose(network_score(program, small_stats), scores.mean(), rtol=1e-6)


def test_programs_see_pytorch_layout(small_stats):
    # det over the last two dims: [B, C, H, W] -> [B, C]; numel counts all entries.
    layer = small_stats.layers[0]
    b, h, w, c = layer["relu_in@data"].shape
    assert layer_scores(parse("numel(logdet(relu_in@data))"), small_stats)[0][0] == b * c
    k, _, cin, cout = layer["weight"].shape
    assert layer_scores(parse("numel(det(weight))"), small_stats)[0][0] == cin * cout


def test_units_whose_sizes_do_not_fit_are_skipped(small_stats):
    # relu_in is [B, C_in, H, W] and bn_out [B, C_out, H', W']: they differ on the two
    # stride-2 reduction units (conv_a), which are skipped; every other unit counts.
    program = parse("mean(add(relu_in@data, bn_out@data))")
    scores, fitting = layer_scores(program, small_stats)
    skipped = [name for name, ok in zip(small_stats.names, fitting) if not ok]
    assert skipped == ["cell_1/conv_a", "cell_3/conv_a"]
    assert np.isnan(scores[~fitting]).all()
    np.testing.assert_allclose(
        network_score(program, small_stats), scores[fitting].mean(), rtol=1e-6
    )


def test_no_fitting_unit_gives_nan():
    plan = netplan.Plan(
        (
            netplan.Unit(("u",), 0, 1, features=4, kernel=3, stride=2),
            netplan.Head(("bn",), ("lin",), 1, 2, classes=3),
        ),
        2,
        (8, 8, 3),
    )
    st = stats.collect_stats(
        jax.random.key(0), plan, np.ones((2, 8, 8, 3), np.float32), ["relu_in@data", "bn_out@data"]
    )
    assert np.isnan(network_score(parse("mean(add(relu_in@data, bn_out@data))"), st))


@pytest.mark.parametrize(
    "text",
    [
        "invert(zeros_like(relu_in@data))",  # inf everywhere
        "abslog(relu_in@data)",  # NaN where negative, as EZNAS's abslog
        "exp(exp(exp(exp(bn_out@data))))",  # overflow
        "eig_ratio(zeros_like(weight))",  # 0 / 0
    ],
)
def test_non_finite_programs_give_nan_not_errors(small_stats, text):
    assert np.isnan(network_score(parse(text), small_stats))


def test_singular_logdet_is_finite_program(small_stats):
    # logdet -> -inf on singular maps, sigmoid(-inf) = 0: EZNAS-A stays finite.
    program = parse("frobenius_norm(sigmoid(logdet(sign(zeros_like(relu_in_grad@data)))))")
    assert network_score(program, small_stats) == 0.0


def test_missing_terminal_is_a_clear_error():
    st = stats.Stats(({"relu_in@data": np.zeros((1, 4, 4, 2), np.float32)},), ("u",))
    with pytest.raises(KeyError, match="lack terminals \\['weight'\\]"):
        network_score(parse("mean(weight)"), st)


def test_one_compile_per_program_and_shape(small_stats):
    program = parse("mean(square(sigmoid(conv_in_grad@noise)))")
    compiled_layer_score.cache_clear()
    with compiles.count_compiles() as c:
        network_score(program, small_stats)
    shapes = {tuple(layer["conv_in_grad@noise"].shape) for layer in small_stats.layers}
    first = c.count
    assert 1 <= first <= 2 * len(shapes)  # one per distinct unit shape (+ stacking)
    with compiles.count_compiles() as c:
        network_score(parse(str(program)), small_stats)  # equal program: cached executable
    assert c.count == 0


@pytest.mark.slow
def test_vmapped_program_equals_per_init():
    plan = nb201.plan((3, 3, 4, 1, 3, 2), **SMALL)
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    program = parse("frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))")
    key = jax.random.key(4)
    stacked = stats.collect_stats(key, plan, x, program.terminals, num_inits=3)
    per_init = [
        network_score(program, stats.collect_stats(k, plan, x, program.terminals))
        for k in jax.random.split(key, 3)
    ]
    np.testing.assert_allclose(network_score(program, stacked, num_inits=3), per_init, rtol=1e-4)


def _fits_by_tracing(program, shapes):
    """The reference: ``jax.eval_shape`` of the whole layer score."""
    specs = {name: jax.ShapeDtypeStruct(shape, jnp.float32) for name, shape in shapes}
    try:
        jax.eval_shape(functools.partial(layer_score, program), specs)
    except (TypeError, ValueError, IndexError):
        return False
    return True


@pytest.mark.parametrize(
    "act_in, act_out, weight",
    [
        ((2, 4, 4, 8), (2, 4, 4, 8), (3, 3, 8, 8)),  # square channels, 3x3
        ((2, 4, 4, 4), (2, 4, 4, 8), (1, 1, 4, 8)),  # a 1x1 conv that widens
        ((3, 2, 2, 5), (3, 1, 1, 2), (3, 3, 5, 2)),  # strided, narrowing
        ((2, 4, 2, 4), (2, 4, 2, 4), (2, 2, 4, 4)),  # non-square maps, kernel = H
    ],
)
def test_fits_equals_eval_shape_of_the_whole_program(act_in, act_out, weight):
    """Shape propagation node by node agrees with tracing the whole program, on random
    programs of EZNAS's language; units whose input and output sizes differ make both
    outcomes occur."""
    keys = jax.random.split(jax.random.key(7), 120)
    programs = [gen_half_and_half(k, 1, 5) for k in keys]

    def shape(t):
        if TERMINAL_KINDS[t] == W:
            return weight
        return act_in if t.split("@")[0] in ("conv_in", "conv_in_grad") else act_out

    outcomes = []
    for program in programs:
        shapes = tuple((t, shape(t)) for t in sorted(program.terminals))
        expected = _fits_by_tracing(program, shapes)
        assert fits(program, shapes) == expected, str(program)
        outcomes.append(expected)
    assert any(outcomes)
    assert act_in == act_out or not all(outcomes)


def test_subtree_memo_computes_shared_subtrees_once_and_keeps_nothing_after():
    from zcjax.program.compile import SubtreeMemo, unit_output
    from zcjax.program.host_primitives import host_kernel

    texts = [
        "frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))",
        "mean(sigmoid(logdet(sign(relu_in_grad@data))))",  # shares sigmoid(logdet(sign(..)))
        "abs(logdet(sign(relu_in_grad@data)))",  # shares logdet(sign(..)), kept inside a hit
        "mean(relu(bn_out@data))",  # shares nothing
    ]
    programs = [parse(t) for t in texts]
    rng = np.random.default_rng(0)
    terminals = {
        "relu_in_grad@data": rng.normal(size=(2, 3, 4, 4)).astype(np.float32),
        "bn_out@data": rng.normal(size=(2, 3, 4, 4)).astype(np.float32),
    }
    calls = []

    def op(name):
        calls.append(name)
        return host_kernel(name)

    alone = [unit_output(p, terminals, op=op, torch_layout=True) for p in programs]
    calls_alone = len(calls)
    calls.clear()
    memo = SubtreeMemo(programs)
    shared = [unit_output(p, terminals, op=op, torch_layout=True, memo=memo) for p in programs]
    for a, b in zip(alone, shared):
        np.testing.assert_array_equal(a, b)
    # Program 1 reuses sigmoid(...) (3 ops), program 2 logdet(sign(..)) (2 ops).
    assert (calls_alone, len(calls), memo.hits) == (13, 8, 2)
    assert memo._kept == {} and memo._bytes == 0  # everything freed at its last use
    # With no room to keep anything, every op runs and the outputs are the same.
    calls.clear()
    memo = SubtreeMemo(programs, max_bytes=0)
    again = [unit_output(p, terminals, op=op, torch_layout=True, memo=memo) for p in programs]
    assert len(calls) == calls_alone and memo.hits == 0
    for a, b in zip(alone, again):
        np.testing.assert_array_equal(a, b)
