"""Measured network terminals (AZ-NAS's components and SWAP as ``N`` leaves): collected with
the statistics on their own inputs and init, equal to the proxies computed independently,
opt-in in the search's generators and settings."""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
import pytest

from tests.proxies.helpers import compiles_for_new_archs
from zcjax import engine, stats
from zcjax.gp import operators as ops
from zcjax.gp.config import SearchConfig, get_config
from zcjax.gp.evaluate import StackedStats
from zcjax.keys import init_keys
from zcjax.program import netops, network_score, parse
from zcjax.proxies import az_nas, meco, swap
from zcjax.proxies.passes import Passes
from zcjax.settings import Settings
from zcjax.spaces import nb201

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
DEAD = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"  # logits independent of the input
MEASURED = netops.MEASURED_TERMINALS
FNS = {
    "az_expressivity@noise": az_nas.expressivity,
    "az_progressivity@noise": az_nas.progressivity,
    "az_trainability@noise": az_nas.trainability,
    "swap@data": swap.swap,
    "meco@data": meco.meco,
}


def _plan(text):
    return nb201.plan(nb201.parse_arch(text), "cifar10")


def _batch(key, n=4):
    return jax.random.uniform(key, (n, 32, 32, 3))


def _by_hand(key, plan, x, name):
    """The proxy as ``proxies.az_nas`` / ``proxies.swap`` computes it, on collect_stats's
    weights and the input the terminal names (noise, or the data batch x itself)."""
    key_params, key_noise = init_keys(key)
    params = engine.init_params(key_params, plan, "eznas")
    x = stats.make_inputs(key_noise, x)[name.partition("@")[2]]
    return FNS[name](Passes(plan, params, x, None))


def test_program_text_and_measured():
    p = parse(
        "ensemble3(az_expressivity@noise, net_add(az_trainability@noise, log_params), log_flops)"
    )
    assert p.kind == "E" and parse(str(p)) == p
    assert p.measured == ("az_expressivity@noise", "az_trainability@noise")
    assert p.terminals == ()
    assert parse("net_mean(relu_in@data)").measured == ()
    mixed = parse("ensemble2(az_trainability@noise, net_mean(frobenius_norm(relu_in@data)))")
    assert mixed.reads == ("relu_in@data", "az_trainability@noise")


@pytest.mark.parametrize("name", MEASURED)
def test_collected_values_equal_the_proxies(name):
    key, plan = jax.random.key(3), _plan(ARCH)
    x = _batch(jax.random.key(4))
    st = stats.collect_stats(key, plan, x, ("relu_in_grad@data", name))
    assert set(st.measured) == {name} and st.terminals == ("relu_in_grad@data",)
    expected = _by_hand(key, plan, x, name)
    assert np.isfinite(expected)
    np.testing.assert_allclose(st.measured[name], expected, rtol=1e-12)
    value = network_score(parse(f"net_add({name}, log_params)"), st)
    np.testing.assert_allclose(value, expected + math.log(st.facts.params), rtol=1e-12)


def test_inits_vmapped_looped_and_batched_agree():
    key, plan = jax.random.key(5), _plan(ARCH)
    x = _batch(jax.random.key(6), 16)  # 4 samples have 16 patterns, which every init shows
    names = ("weight",) + MEASURED
    vmapped = stats.collect_stats(key, plan, x, names, num_inits=2)
    looped = stats.stack_inits(
        [stats.collect_stats(k, plan, x, names) for k in jax.random.split(key, 2)]
    )
    batched = stats.collect_stats_batched([key], [plan], [x], names, num_inits=2)[0]
    for name in MEASURED:
        assert vmapped.measured[name].shape == (2,)
        assert vmapped.measured[name].dtype == np.float64
        assert vmapped.measured[name][0] != vmapped.measured[name][1]  # two inits differ
        np.testing.assert_allclose(looped.measured[name], vmapped.measured[name], rtol=1e-5)
        np.testing.assert_allclose(batched.measured[name], looped.measured[name], rtol=1e-5)
    scores = network_score(parse("az_expressivity@noise"), looped, num_inits=2)
    np.testing.assert_array_equal(scores, looped.measured["az_expressivity@noise"])


def test_degenerate_networks_get_the_floor_not_nan():
    plan = _plan(DEAD)
    st = stats.collect_stats(jax.random.key(0), plan, _batch(jax.random.key(1)), MEASURED)
    assert az_nas.expressivity(_passes_of(plan)) == -np.inf  # AZ-NAS's value
    assert st.measured["az_expressivity@noise"] == netops.MEASURED_FLOOR
    value = network_score(parse("net_neg(az_expressivity@noise)"), st)
    assert value == -netops.MEASURED_FLOOR


def _passes_of(plan):
    params = engine.init_params(jax.random.key(0), plan, "eznas")
    return Passes(plan, params, _batch(jax.random.key(2)), None)


def test_the_searchs_evaluator_agrees_with_network_score():
    plans = [_plan(a) for a in (ARCH, DEAD)]
    per_net = [
        stats.collect_stats(jax.random.key(i), p, _batch(jax.random.key(9)), MEASURED, num_inits=2)
        for i, p in enumerate(plans)
    ]
    programs = [
        parse("net_sub(az_trainability@noise, az_progressivity@noise)"),
        parse("az_expressivity@noise"),
    ]
    got = StackedStats.of(per_net, 2).scores(programs)
    for p, program in enumerate(programs):
        for n, st in enumerate(per_net):
            np.testing.assert_array_equal(got[p, n], network_score(program, st, num_inits=2))


def test_a_program_whose_measured_terminal_was_not_collected_fails_clearly():
    st = stats.collect_stats(jax.random.key(0), _plan(ARCH), _batch(jax.random.key(1)), ("weight",))
    with pytest.raises(ValueError, match="az_trainability@noise.*not collected"):
        network_score(parse("az_trainability@noise"), st)
    with pytest.raises(ValueError, match="Unknown terminals"):
        stats.collect_stats(jax.random.key(0), _plan(ARCH), _batch(jax.random.key(1)), ("az_nope",))


def test_generators_draw_measured_terminals_only_when_asked():
    keys = jax.random.split(jax.random.key(0), 300)
    plain = [ops.gen_half_and_half(k, 0, 2, kind="N") for k in keys]
    asked = [ops.gen_half_and_half(k, 0, 2, kind="N", measured=MEASURED) for k in keys]
    assert not any(p.measured for p in plain)
    drawn = {t for p in asked for t in p.measured}
    assert drawn == set(MEASURED)
    seed = parse("net_add(log_params, log_flops)")
    mutated = [ops.mut_node_replacement(k, seed, MEASURED) for k in keys[:100]]
    assert any(p.measured for p in mutated)
    assert not any(ops.mut_node_replacement(k, seed).measured for k in keys[:100])


def test_search_settings_validate_measured_terminals():
    base = get_config("discover").search
    with pytest.raises(ValueError, match="unknown measured_terminals"):
        dataclasses.replace(base, measured_terminals=("az_nope",)).validate()
    with pytest.raises(ValueError, match="need root kind N or E"):
        SearchConfig(measured_terminals=MEASURED).validate()
    with pytest.raises(
        ValueError, match="reads .*az_expressivity@noise.*not in measured_terminals"
    ):
        dataclasses.replace(base, seed_programs=("az_expressivity@noise",)).validate()
    old = base.to_json()
    del old["measured_terminals"]  # a checkpoint written before the field existed
    assert SearchConfig.from_json(old).measured_terminals == ()
    config = get_config("discover_az").search
    config.validate()
    assert SearchConfig.from_json(config.to_json()) == config


def test_measured_terminals_compile_nothing_per_architecture():
    settings = Settings(batch_size=4, num_inits=1)
    _, new, scores = compiles_for_new_archs(
        ["net_add(az_expressivity@noise, az_trainability@noise)"], settings, 4, 3
    )
    assert new == 0
    assert np.isfinite(next(iter(scores.values()))).all()
