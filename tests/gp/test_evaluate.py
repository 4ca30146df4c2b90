"""Population-major evaluation equals per-program evaluation, and compiles per op, not program."""

from __future__ import annotations

import collections
import gc
import threading

import jax
import numpy as np
import pytest

from zcjax import compiles, stats
from zcjax.gp import evaluate as gp_evaluate
from zcjax.gp.evaluate import StackedStats, population_scores, score_programs
from zcjax.program import host_primitives, network_score, parse
from zcjax.recipe import arch_stats
from zcjax.settings import Settings
from zcjax.spaces import get_space

ARCHS = (
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|",
    "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
)
PROGRAMS = [
    "frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))",  # EZNAS-A: S over Am
    "add(relu_in@data, bn_out@data)",  # skips units whose in/out sizes differ
    "invert(zeros_like(relu_in@data))",  # inf: invalid
    "mean_abs(mul(weight, weight_grad@noise))",  # W kind
    "logdet(weight_grad@data)",  # Wm kind
    "cosine_similarity(conv_in_grad@noise, relu_in@perturbed)",
    "sigmoid(matmul(bn_out_grad@perturbed, conv_in@noise))",
    "normalize(mul(softmax(relu_in@noise), mean(bn_out_grad@data)))",
]
SETTINGS = Settings(num_inits=2, batch_size=2, inputs="noise")


@pytest.fixture(scope="module")
def setup():
    space = get_space("nb201")
    archs = [space.parse(a) for a in ARCHS]
    key = jax.random.key(3)
    all_stats = [arch_stats(key, space, a, "cifar10", stats.TERMINALS, SETTINGS) for a in archs]
    return space, archs, key, all_stats


@pytest.mark.slow
def test_population_major_equals_per_program_evaluation(setup):
    space, archs, key, all_stats = setup
    programs = [parse(t) for t in PROGRAMS]
    together = population_scores(programs, all_stats, SETTINGS.num_inits)
    assert together.shape == (len(programs), len(archs), 2)
    for p, program in enumerate(programs):
        for a, arch in enumerate(archs):
            # EZNAS's way: statistics rebuilt for this program alone, its own compiled function.
            own = arch_stats(key, space, arch, "cifar10", program.terminals, SETTINGS)
            want = network_score(program, own, SETTINGS.num_inits)
            np.testing.assert_allclose(
                together[p, a], want, rtol=2e-5, atol=1e-6, err_msg=str(program)
            )
            assert np.array_equal(np.isnan(together[p, a]), np.isnan(want))
    assert np.isnan(together[2]).all()  # invalid program
    assert np.isfinite(together[[0, 1, 3, 5, 6]]).all()


@pytest.mark.slow
def test_scores_do_not_depend_on_the_rest_of_the_population(setup):
    _, _, _, all_stats = setup
    programs = [parse(t) for t in PROGRAMS]
    stacked = StackedStats.of(all_stats, SETTINGS.num_inits)
    together = stacked.scores(programs + programs[:2])
    np.testing.assert_array_equal(together[-2:], together[:2])  # duplicates: same numbers
    alone = StackedStats.of(all_stats, SETTINGS.num_inits).scores([programs[5]])
    np.testing.assert_array_equal(alone[0], together[5])
    # Score of a network does not depend on which other networks are stacked with it.
    # (To float32 rounding: the last program's mean is a round-off residue of about 1e-9, the
    # mean of a normalized map, whose summation order may follow the stack's size.)
    one = StackedStats.of(all_stats[1:2], SETTINGS.num_inits).scores(programs)
    np.testing.assert_allclose(one[:, 0], together[:8, 1], rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_host_and_device_executors_agree(setup):
    _, _, _, all_stats = setup
    programs = [parse(t) for t in PROGRAMS]
    device = StackedStats.of(all_stats, SETTINGS.num_inits, "device").scores(programs)
    host_stats = StackedStats.of(all_stats, SETTINGS.num_inits, "host")
    host = host_stats.scores(programs)
    np.testing.assert_allclose(host, device, rtol=2e-5, atol=1e-6)
    assert np.array_equal(np.isnan(host), np.isnan(device))
    assert np.isfinite(host[[0, 1, 3, 5, 6]]).all()
    # Only determinants compile: a few block sizes per (primitive, matrix size), so once the
    # sizes were seen a new program compiles nothing.
    fresh = [parse("mean(logdet(mul(sign(relu_in@data), bn_out_grad@noise)))")]
    fresher = [parse("mean(logdet(add(relu_in@data, bn_out_grad@noise)))")]
    with compiles.count_compiles() as c:
        host_stats.scores(fresh + programs)
    sizes = {x.shape[-1] for st in all_stats for layer in st.layers for x in layer.values()}
    assert c.count <= 2 * len(sizes) * len(host_primitives._BLOCKS)
    with compiles.count_compiles() as c:
        host_stats.scores(fresher)
    assert c.count == 0, f"the NumPy executor compiled {c.count} kernels"


def test_unknown_executor_is_one_clear_error():
    with pytest.raises(ValueError, match="Unknown executor 'gpu'"):
        StackedStats.of([], 1, "gpu")


@pytest.mark.slow
def test_a_new_program_of_seen_ops_compiles_nothing(setup):
    _, _, _, all_stats = setup
    stacked = StackedStats.of(all_stats, SETTINGS.num_inits, "device")
    warm = [parse("sigmoid(mul(relu_in@data, bn_out@noise))"), parse("mean(sign(relu_in@data))")]
    stacked.scores(warm)
    fresh = parse("mean(sigmoid(mul(sign(relu_in@data), bn_out@noise)))")  # never seen
    with compiles.count_compiles() as c:
        scores = stacked.scores([fresh])
    assert np.isfinite(scores).all()
    assert c.count == 0, f"{c.count} compilations for a new program of seen ops"


@pytest.mark.slow
def test_missing_terminals_are_an_error_not_invalid(setup):
    space, archs, key, _ = setup
    few = [arch_stats(key, space, archs[0], "cifar10", ("weight",), SETTINGS)]
    with pytest.raises(KeyError, match="lack terminals"):
        population_scores([parse("mean(relu_in@data)")], few, SETTINGS.num_inits)


@pytest.mark.slow
def test_bench_gp_reports_both_ways(setup):
    from experiments import bench_lib as bench

    space, archs, key, _ = setup
    records = bench.bench_gp(key, space, archs[:1], "cifar10", SETTINGS, 4, 1)
    assert [(r["bench"], r["phase"]) for r in records] == [
        ("gp_population_major", "cold"),
        ("gp_population_major", "warm"),
        ("gp_per_program", "new programs"),
    ]
    assert all(r["program_archs_per_s"] > 0 and r["archs"] == 1 for r in records)
    assert records[0]["compiles"] > 0 and records[2]["programs"] == 1


def test_stack_padding_wastes_at_most_a_third_with_few_sizes():
    from zcjax.gp.evaluate import _bucket

    sizes = {n: _bucket(n) for n in range(1, 1025)}
    assert all(n <= b and (b - n) / b <= 1 / 3 for n, b in sizes.items())
    assert len(set(sizes.values())) <= 2 * 10 + 1  # 2^k and 3 * 2^k up to 1024


def test_scoring_leaves_no_reference_cycles():
    """Statistics must be freed by reference counting as soon as a chunk is done: the
    evaluator no longer runs the cyclic collector per chunk (it cost 10% of a search), so a
    cycle (a recursive closure holding terminals, a memo, unit scores) would hold them."""
    space = get_space("nb201")
    archs = [space.parse(a) for a in ARCHS]
    programs = [parse(t) for t in PROGRAMS] + [
        parse("net_std(frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data)))))"),
        parse("ensemble2(net_mean(mean(relu_in@data)), log_params)"),
    ]
    key = jax.random.key(0)
    score_programs(key, programs, space, archs, "cifar10", SETTINGS, arch_chunk=2)  # warm
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        scores = score_programs(key, programs, space, archs, "cifar10", SETTINGS, arch_chunk=2)
        gc.collect()  # with score_programs' own collection, finds every cycle it left
        garbage = [getattr(o, "__qualname__", type(o).__name__) for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert np.isfinite(scores[0]).all() and np.isnan(scores[2]).all()  # valid and invalid ran
    assert garbage == [], collections.Counter(garbage).most_common(5)


@pytest.mark.slow
def test_host_threads_do_not_change_scores(setup, monkeypatch):
    _, _, _, all_stats = setup
    programs = [parse(t) for t in PROGRAMS]
    got = {}
    for threads in (1, 2, 3):
        monkeypatch.setattr(gp_evaluate, "HOST_THREADS", threads)
        host = StackedStats.of(all_stats, SETTINGS.num_inits, "host")
        assert len(host.stacks) > threads  # several stacks for the threads to share
        got[threads] = host.scores(programs)
    for threads in (2, 3):
        np.testing.assert_array_equal(got[threads], got[1])  # bit for bit, NaN where NaN
    assert np.isnan(got[1][2]).all() and np.isfinite(got[1][[0, 1, 3, 5, 6]]).all()


def test_a_program_invalid_on_one_chunk_is_nan_on_all_and_not_run_again(monkeypatch):
    """Invalid anywhere is invalid to the search: the program's row is NaN everywhere (not
    only on the chunk where it failed) and it does not run on the chunks after it."""
    space = get_space("nb201")
    archs = [space.parse(a) for a in ARCHS]
    programs = [parse(t) for t in PROGRAMS[:4]]
    late = programs[1]  # valid, made non-finite on the second chunk below
    calls = []
    real_scores = StackedStats.scores

    def scores(self, progs):
        calls.append(list(progs))
        out = real_scores(self, progs)
        if len(calls) == 2 and late in progs:
            out[list(progs).index(late), 0] = np.inf
        return out

    key = jax.random.key(0)
    plain = score_programs(key, programs, space, archs, "cifar10", SETTINGS, arch_chunk=1)
    assert np.isnan(plain[2]).all() and np.isfinite(plain[[0, 1, 3]]).all()
    monkeypatch.setattr(StackedStats, "scores", scores)
    got = score_programs(key, programs, space, archs, "cifar10", SETTINGS, arch_chunk=1)
    assert [len(c) for c in calls] == [4, 3, 2]  # invalid after chunk 0, then after chunk 1
    assert programs[2] not in calls[1] and late not in calls[2]
    assert np.isnan(got[1]).all() and np.isnan(got[2]).all()
    np.testing.assert_array_equal(got[[0, 3]], plain[[0, 3]])
    # An ensemble with an invalid member is invalid too (network.combine).
    ensemble = parse("ensemble2(net_mean(invert(zeros_like(relu_in@data))), log_params)")
    calls.clear()
    monkeypatch.setattr(StackedStats, "scores", real_scores)
    alone = score_programs(key, [ensemble], space, archs, "cifar10", SETTINGS, arch_chunk=1)
    assert np.isnan(alone).all()


def test_ahead_loads_one_item_ahead_in_order_and_reraises():
    started = []

    def load(i):
        started.append(i)
        if i == 5:
            raise ValueError("bad item")
        return i * 10

    with gp_evaluate._Ahead(load, [1, 3, 5]) as ahead:
        assert ahead.take(1) == 10
        assert ahead.take(3) == 30  # 5 starts once 3 is taken
        with pytest.raises(ValueError, match="bad item"):
            ahead.take(5)
    assert started == [1, 3, 5]
    with gp_evaluate._Ahead(load, [7, 8]) as ahead:  # left early: the pending load is dropped
        assert ahead.take(7) == 70
    assert not any(t.name.startswith("zcjax-stats") for t in threading.enumerate())


def test_collected_terminals_round_each_input_up_to_three_nested_sets():
    from zcjax.gp.evaluate import collected_terminals

    got = collected_terminals([parse("mean(relu_in@noise)"), parse("mean(weight)")])
    assert got == ("bn_out@noise", "conv_in@noise", "relu_in@noise", "weight")
    got = collected_terminals([parse("mean(conv_in_grad@data)"), parse("mean(bn_out@noise)")])
    data = {t for t in got if t.endswith("@data")}
    assert data == {f"{q}@data" for q in ("relu_in", "conv_in", "bn_out")} | {
        f"{q}_grad@data" for q in ("relu_in", "conv_in", "bn_out")
    }
    assert "weight_grad@data" not in got and "weight" not in got
    assert "weight_grad@perturbed" in collected_terminals([parse("mean(weight_grad@perturbed)")])


@pytest.mark.slow
def test_a_population_reading_a_new_mix_of_terminals_compiles_no_statistics_kernel():
    """Populations differ in which quantities each input's pass must yield; the engine
    compiles per set asked for, so the evaluator asks for one of a few fixed sets."""
    space = get_space("nb201")
    archs = [space.parse(a) for a in ARCHS]
    key = jax.random.key(0)
    first = [parse("mean(add(relu_in@noise, conv_in_grad@noise))"), parse("mean(bn_out@data)")]
    second = [parse("mean(bn_out_grad@noise)"), parse("mean(mul(conv_in@data, relu_in@data))")]
    score_programs(key, first, space, archs, "cifar10", SETTINGS, arch_chunk=2)
    with compiles.count_compiles() as c:
        got = score_programs(key, second, space, archs, "cifar10", SETTINGS, arch_chunk=2)
    assert c.count == 0, f"{c.count} kernels compiled for a new mix of terminals"
    assert np.isfinite(got).all()
