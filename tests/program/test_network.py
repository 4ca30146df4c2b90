"""The network language: reducers, network terminals, arithmetic and rank ensembles."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.stats

from zcjax.gp.evaluate import StackedStats, score_programs
from zcjax.program import ProgramError, netops, network, network_score, parse
from zcjax.program.network import NetworkFacts, combine, members, network_values, unit_programs
from zcjax.proxies import costs
from zcjax.recipe import arch_stats
from zcjax.settings import Settings
from zcjax.spaces import get_space

UNIT = "frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))"  # EZNAS-A
ARCHS = (
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|",
    "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|none~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|avg_pool_3x3~0|skip_connect~1|none~2|",
)
SETTINGS = Settings(num_inits=2, batch_size=2)


# ----------------------------------------------------------------------------- text and types


@pytest.mark.parametrize(
    "text,kind",
    [
        (f"net_sum({UNIT})", "N"),
        ("net_add(log_params, net_neg(log_flops))", "N"),
        ("net_stage_diff(mean(relu_in@data))", "N"),
        (f"ensemble2(net_mean({UNIT}), log_params)", "E"),
        ("ensemble3(log_params, net_std(weight), net_abslog(num_units))", "E"),
    ],
)
def test_network_programs_parse_type_and_round_trip(text, kind):
    p = parse(text)
    assert p.kind == kind and parse(str(p)) == p and str(p) == text


@pytest.mark.parametrize(
    "text",
    [
        "net_sum(log_params)",  # a reducer takes unit values, not network values
        f"ensemble2({UNIT}, log_params)",  # members are network values
        "add(log_params, relu_in@data)",  # unit ops do not take network values
        "net_mean(ensemble2(log_params, log_flops))",  # nothing takes an ensemble
    ],
)
def test_ill_typed_network_programs_are_refused(text):
    with pytest.raises(ProgramError, match="Type error"):
        parse(text)


def test_members_and_unit_programs():
    p = parse(f"ensemble3(net_sum({UNIT}), log_flops, net_sub(net_max({UNIT}), net_min(weight)))")
    assert [str(m) for m in members(p)] == [
        f"net_sum({UNIT})",
        "log_flops",
        f"net_sub(net_max({UNIT}), net_min(weight))",
    ]
    assert [str(u) for u in unit_programs(p)] == [UNIT, "weight"]
    assert members(parse(UNIT)) == (parse(UNIT),) and unit_programs(parse(UNIT)) == (parse(UNIT),)


# ----------------------------------------------------------------------------- semantics by hand

SCORES = np.array([[1.0, 10.0], [2.0, 20.0], [np.nan, np.nan], [6.0, 60.0]])  # [L=4, K=2]
FITTING = np.array([True, True, False, True])
STAGES = np.array([0, 0, 1, 2])


@pytest.mark.parametrize(
    "name,expected",
    [
        ("net_mean", [3.0, 30.0]),
        ("net_sum", [9.0, 90.0]),
        ("net_max", [6.0, 60.0]),
        ("net_min", [1.0, 10.0]),
        ("net_std", [np.std([1, 2, 6]), np.std([10, 20, 60])]),
        ("net_first_stage", [1.5, 15.0]),
        ("net_last_stage", [6.0, 60.0]),
        ("net_stage_diff", [4.5, 45.0]),
    ],
)
def test_reducers_by_hand(name, expected):
    fn = netops.REDUCERS[name][0]
    np.testing.assert_allclose(fn(SCORES, FITTING, STAGES), expected, rtol=1e-15)


def test_reducers_of_a_network_where_nothing_fits_are_nan():
    for fn, _ in netops.REDUCERS.values():
        assert np.isnan(fn(SCORES, np.zeros(4, bool), STAGES)).all()


def test_network_values_by_hand():
    facts = [NetworkFacts((0, 0, 1), 100, 1000), NetworkFacts((0, 1), 10, 50)]
    unit = parse("mean(weight)")
    per_net = {
        unit: [
            (np.array([[1.0], [3.0], [5.0]]), np.ones(3, bool)),
            (np.array([[2.0], [4.0]]), np.array([True, False])),
        ]
    }
    program = parse("net_sub(net_sum(mean(weight)), net_mul(log_params, num_units))")
    got = network_values(program, per_net.__getitem__, facts, 1)
    expected = [9.0 - np.log(100) * 3, 2.0 - np.log(10) * 2]
    np.testing.assert_allclose(got[:, 0], expected, rtol=1e-15)
    # A non-finite value is NaN (invalid), never inf.
    zero = [NetworkFacts((0,), 1, 1)]  # log(1) = 0
    assert np.isnan(network_values(parse("net_abslog(log_params)"), None, zero, 1)).all()


def test_combine_is_the_sum_of_log_ranks_and_strict_about_failures():
    a, b = np.array([3.0, 1.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0, 4.0])
    want = np.log(scipy.stats.rankdata(a) / 4) + np.log(scipy.stats.rankdata(b) / 4)
    np.testing.assert_allclose(combine([a, b]), want, rtol=1e-15)
    assert np.isnan(combine([a, np.array([1.0, np.nan, 3.0, 4.0])])).all()


# ----------------------------------------------------------------------------- on real networks


@pytest.fixture(scope="module")
def nb201_stats():
    space = get_space("nb201")
    archs = [space.parse(a) for a in ARCHS]
    key = jax.random.key(3)
    terminals = ("relu_in_grad@data", "weight")
    return (
        space,
        archs,
        key,
        [arch_stats(key, space, a, "cifar10", terminals, SETTINGS) for a in archs],
    )


def test_network_facts_are_the_official_counts_and_stages(nb201_stats):
    space, archs, _, all_stats = nb201_stats
    for arch, st in zip(archs, all_stats):
        assert st.facts.params == costs.params(space, arch, "cifar10")
        assert st.facts.flops == costs.flops(space, arch, "cifar10")
        assert len(st.facts.stages) == len(st.layers)
        assert sorted(set(st.facts.stages)) == [0, 1, 2]  # NB201's three resolutions
        assert list(st.facts.stages) == sorted(st.facts.stages)  # units in forward order


def test_net_mean_is_eznas_and_the_other_forms_follow(nb201_stats):
    _, _, _, all_stats = nb201_stats
    for st in all_stats:
        eznas = network_score(parse(UNIT), st, 2)
        np.testing.assert_allclose(
            network_score(parse(f"net_mean({UNIT})"), st, 2), eznas, rtol=1e-6
        )
        n = len(st.layers)
        np.testing.assert_allclose(
            network_score(parse(f"net_sum({UNIT})"), st, 2), eznas * n, rtol=1e-5
        )
        logp = network_score(parse("net_add(log_params, num_units)"), st, 2)
        np.testing.assert_allclose(logp, np.log(st.facts.params) + n, rtol=1e-12)
    with pytest.raises(ValueError, match="rank ensemble"):
        network_score(parse(f"ensemble2(net_mean({UNIT}), log_params)"), all_stats[0], 2)


def test_the_searchs_evaluator_agrees_and_ranks_ensembles_over_all_archs(nb201_stats):
    space, archs, key, all_stats = nb201_stats
    texts = [
        UNIT,
        f"net_stage_diff({UNIT})",
        "net_add(net_max(frobenius_norm(weight)), log_flops)",
        f"ensemble3(net_mean({UNIT}), log_params, net_std(frobenius_norm(weight)))",
    ]
    programs = [parse(t) for t in texts]
    stacked = StackedStats.of(all_stats, 2).scores(programs)  # [P, N, K]
    for p, program in enumerate(programs[:3]):
        for a, st in enumerate(all_stats):
            np.testing.assert_allclose(stacked[p, a], network_score(program, st, 2), rtol=2e-5)
    member_values = StackedStats.of(all_stats, 2).scores(members(programs[3])).mean(-1)
    want = combine(list(member_values))
    np.testing.assert_allclose(stacked[3, :, 0], want, rtol=1e-12)
    # score_programs ranks an ensemble over all archs, whatever the chunking.
    whole = score_programs(key, programs, space, archs, "cifar10", SETTINGS, arch_chunk=len(archs))
    chunked = score_programs(key, programs, space, archs, "cifar10", SETTINGS, arch_chunk=2)
    np.testing.assert_allclose(chunked, whole, rtol=1e-6)
    np.testing.assert_allclose(whole[3], want, rtol=1e-6)
    # A member held twice counts twice (an integer weight): 2 log-rank(E) + log-rank(P).
    weighted = parse(f"ensemble3(net_mean({UNIT}), net_mean({UNIT}), log_params)")
    got = score_programs(key, [weighted], space, archs, "cifar10", SETTINGS)[0]
    e, p = StackedStats.of(all_stats, 2).scores(members(weighted)[1:]).mean(-1)
    n = len(archs)
    by_hand = 2 * np.log(scipy.stats.rankdata(e) / n) + np.log(scipy.stats.rankdata(p) / n)
    np.testing.assert_allclose(got, by_hand, rtol=1e-6)


# ----------------------------------------------------------------------------- aligned members


def test_aligned_members_parse_round_trip_and_stand_only_in_ensembles():
    text = "ensemble3(log_params, net_aligned(az_trainability@noise), log_flops)"
    program = parse(text)
    assert str(program) == text and program.kind == "E"
    assert network.check_aligned(program) == program
    assert [network.is_aligned(m) for m in members(program)] == [False, True, False]
    t = parse("az_trainability@noise")
    assert network.parts(program) == (network.SIZE, t, parse("log_flops"))  # P is a member
    other = parse("ensemble2(log_flops, net_aligned(az_trainability@noise))")
    assert network.parts(other) == (parse("log_flops"), t, network.SIZE)
    assert network.parts(parse("ensemble2(log_flops, num_units)")) == members(
        parse("ensemble2(log_flops, num_units)")
    )
    for bad in (
        "net_aligned(log_params)",
        "ensemble2(net_add(net_aligned(log_flops), log_params), log_params)",
    ):
        with pytest.raises(ValueError, match="member of a rank ensemble"):
            network.check_aligned(parse(bad))
    # What variation makes of a misplaced one: the argument stays, the wrapper goes.
    assert str(network.place_aligned(parse("net_aligned(log_params)"))) == "log_params"
    nested = parse("ensemble2(net_aligned(net_neg(net_aligned(log_flops))), log_params)")
    assert (
        str(network.place_aligned(nested))
        == "ensemble2(net_aligned(net_neg(log_flops)), log_params)"
    )
    # One aligned tree alone is that tree: there is nothing to orient it against.
    assert network.ensemble([network.aligned(parse("log_flops"))]) == parse("log_flops")


def test_combine_orients_aligned_members_by_their_rank_correlation_with_size():
    size = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    against = np.array([5.0, 3.0, 4.0, 2.0, 1.0])  # Spearman with size -0.9
    along = np.array([1.0, 3.0, 2.0, 5.0, 4.0])  # +0.8
    n = len(size)

    def lr(c):
        return np.log(scipy.stats.rankdata(c) / n)

    np.testing.assert_allclose(
        combine([along, against], [False, True], size), lr(along) + lr(-against), rtol=1e-15
    )
    # A member that already ranks with size, or one whose correlation is undefined, is kept.
    np.testing.assert_allclose(
        combine([along, against], [True, False], size), lr(along) + lr(against), rtol=1e-15
    )
    flat = np.ones(n)
    np.testing.assert_allclose(
        combine([along, flat], [False, True], size), lr(along) + lr(flat), rtol=1e-15
    )
    # Unflagged, as before.
    np.testing.assert_allclose(combine([along, against]), lr(along) + lr(against), rtol=1e-15)


def test_aligned_ensembles_score_alike_in_the_search_and_as_a_proxy(nb201_stats):
    from zcjax.proxies import get_proxy, proxy_of_program
    from zcjax.proxies.ensemble import values

    space, archs, key, all_stats = nb201_stats
    e = f"net_mean({UNIT})"
    program = parse(f"ensemble3({e}, log_flops, net_aligned(net_neg(log_params)))")
    got = score_programs(key, [program], space, archs, "cifar10", SETTINGS, arch_chunk=2)[0]
    plain = score_programs(
        key, [parse(f"ensemble3({e}, log_flops, log_params)")], space, archs, "cifar10", SETTINGS
    )[0]
    np.testing.assert_allclose(got, plain, rtol=1e-12)  # -log_params is turned back to size
    unaligned = score_programs(
        key,
        [parse(f"ensemble3({e}, log_flops, net_neg(log_params))")],
        space,
        archs,
        "cifar10",
        SETTINGS,
    )[0]
    assert not np.allclose(got, unaligned)
    # StackedStats orients over the networks it holds, as score_programs over all of them.
    stacked = StackedStats.of(all_stats, 2).scores([program])[0, :, 0]
    np.testing.assert_allclose(stacked, got, rtol=1e-6)
    # As a proxy: members named x~, params scored beside them, the same ranking.
    proxy = proxy_of_program("p", program)
    assert proxy.members[-1] == "net_neg(log_params)~" and "params" in proxy.needed
    means = {
        n: score_programs(key, [parse(n)], space, archs, "cifar10", SETTINGS)[0]
        for n in proxy.needed
        if n != "params"
    }
    means["params"] = np.array([costs.params(space, a, "cifar10") for a in archs], np.float64)
    np.testing.assert_allclose(values(proxy, means), got, rtol=1e-6)
    assert get_proxy("eznas_a+az_trainability~").needed == ("eznas_a", "az_trainability", "params")
    with pytest.raises(ValueError, match="member of a rank ensemble"):
        proxy_of_program("q", parse("net_aligned(log_params)"))
