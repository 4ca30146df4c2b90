"""Rank ensembles: hand-computed log-rank sums, name parsing, and ensembles in scoring runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zcjax import scorefile, scoring
from zcjax.proxies import EnsembleProxy, get_proxies, get_proxy
from zcjax.proxies.ensemble import log_rank_sum, parse, values, with_members
from zcjax.settings import Settings


def test_log_rank_sum_by_hand():
    a = np.array([10.0, 30.0, 20.0])  # ranks 1, 3, 2
    b = np.array([5.0, 1.0, 9.0])  # ranks 2, 1, 3
    expected = [
        math.log(1 / 3) + math.log(2 / 3),
        math.log(3 / 3) + math.log(1 / 3),
        math.log(2 / 3) + math.log(3 / 3),
    ]
    np.testing.assert_allclose(log_rank_sum([a, b]), expected, rtol=1e-15)


def test_ties_share_their_average_rank_and_nan_ranks_with_minus_inf_at_the_bottom():
    a = np.array([1.0, 1.0, np.nan, -np.inf])  # ranks 3.5, 3.5, 1.5, 1.5
    b = np.array([0.0, 1.0, 2.0, 3.0])  # ranks 1, 2, 3, 4
    expected = np.log([3.5 * 1, 3.5 * 2, 1.5 * 3, 1.5 * 4]) - 2 * np.log(4)
    np.testing.assert_allclose(log_rank_sum([a, b]), expected, rtol=1e-14)


def test_names_parse_to_ensembles_of_registered_proxies():
    e = get_proxy("params+flops")
    assert isinstance(e, EnsembleProxy) and e.members == ("params", "flops")
    for bad in ("params+", "params+params", "+flops"):
        with pytest.raises(ValueError, match="two or more distinct"):
            parse(bad)
    with pytest.raises(ValueError, match="Unknown proxy 'nope'"):
        get_proxies("params+nope")


def test_members_are_scored_once_before_their_ensemble():
    proxies = with_members(get_proxies(["params+flops", "flops", "synflow"]), get_proxy)
    assert [p.name for p in proxies] == ["params", "flops", "params+flops", "synflow"]


def test_an_ensemble_in_a_run_is_the_log_rank_sum_of_its_members(tmp_path, data_dir):
    config = scoring.ScoreConfig(
        proxies=("params+flops", "synflow"),
        num_archs=12,
        seed=4,
        settings=Settings(batch_size=2, data_dir=str(data_dir)),
    )
    out = tmp_path / "scores.csv"
    result = scoring.run_scoring(config, output=out)
    assert list(result.scores) == ["params", "flops", "params+flops", "synflow"]
    expected = log_rank_sum([result.scores["params"], result.scores["flops"]])
    np.testing.assert_array_equal(result.scores["params+flops"], expected)
    back = scorefile.read(out)
    np.testing.assert_array_equal(back.scores["params+flops"], expected)
    assert any("relative to this set" in n for n in back.notes)
    first = out.read_bytes()
    again = scoring.run_scoring(config, output=out)  # a finished file resumes to itself
    assert out.read_bytes() == first
    np.testing.assert_array_equal(again.scores["params+flops"], expected)


def test_an_ensemble_program_scores_as_the_ensemble_of_its_member_programs(data_dir):
    text = (
        "ensemble2(net_mean(frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))), log_params)"
    )
    config = scoring.ScoreConfig(
        proxies=("eznas_a", "params"),
        programs=(text,),
        num_archs=10,
        seed=2,
        settings=Settings(batch_size=2, data_dir=str(data_dir)),
    )
    result = scoring.run_scoring(config)
    members = [n for n in result.scores if n.startswith("net_mean") or n == "log_params"]
    assert len(members) == 2 and text in result.scores
    # Members equal their EZNAS-language and cost counterparts: same ranking, same ensemble.
    np.testing.assert_allclose(result.scores[members[0]], result.scores["eznas_a"], rtol=1e-6)
    np.testing.assert_allclose(result.scores["log_params"], np.log(result.scores["params"]))
    expected = log_rank_sum([result.scores["eznas_a"], result.scores["params"]])
    np.testing.assert_allclose(result.scores[text], expected, rtol=1e-12)


def test_aligned_members_are_oriented_by_params_over_the_scored_set(tmp_path, data_dir):
    # By hand: a member ranking against params is negated, one ranking with it is kept.
    params = np.array([1.0, 2.0, 3.0, 4.0])
    against, along = np.array([4.0, 3.0, 1.0, 2.0]), np.array([1.0, 3.0, 2.0, 4.0])
    spec = parse("flops~+synflow~")
    assert spec.needed == ("flops", "synflow", "params")
    means = {"flops": against, "synflow": along, "params": params}
    np.testing.assert_allclose(values(spec, means), log_rank_sum([-against, along]), rtol=1e-15)
    with pytest.raises(ValueError, match="two or more distinct"):
        parse("flops+flops~")
    # In a run: params is scored for the aligned member; a program member net_neg(log_params)
    # aligned is log_params again, so the ensemble equals the unaligned one with log_params.
    text = "ensemble2(log_flops, net_aligned(net_neg(log_params)))"
    config = scoring.ScoreConfig(
        proxies=("flops+synflow~", "flops+synflow"),
        programs=(text, "ensemble2(log_flops, log_params)"),
        num_archs=8,
        seed=3,
        settings=Settings(batch_size=2, data_dir=str(data_dir)),
    )
    result = scoring.run_scoring(config, output=tmp_path / "s.csv")
    s = result.scores
    assert "params" in s and "net_neg(log_params)" in s
    np.testing.assert_allclose(s[text], s["ensemble2(log_flops, log_params)"], rtol=1e-12)
    synflow = s["synflow"] if spearman(s["synflow"], s["params"]) >= 0 else -s["synflow"]
    np.testing.assert_allclose(s["flops+synflow~"], log_rank_sum([s["flops"], synflow]))


def spearman(a, b):
    import scipy.stats

    return scipy.stats.spearmanr(a, b)[0]
