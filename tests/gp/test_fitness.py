"""Fitness: exact tau-b per row, aggregation over tasks, invalid programs, jackknife standard
errors; task parsing."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from zcjax.gp.fitness import (
    INVALID,
    fitness_from_taus,
    fitness_jackknife_se,
    kendall_tau_jackknife_se,
    kendall_tau_rows,
)
from zcjax.gp.tasks import Task, parse_tasks


def test_kendall_rows_equal_scipy_with_ties():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 8, 20).astype(float)  # ties in the truth
    scores = rng.integers(0, 5, (30, 20)).astype(float)  # and in the scores
    scores[:10] = rng.normal(size=(10, 20))
    got = kendall_tau_rows(scores, truth)
    want = [scipy.stats.kendalltau(s, truth)[0] for s in scores]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_kendall_rows_by_hand_and_invalid_rows():
    truth = np.array([1.0, 2.0, 3.0])
    scores = np.array(
        [
            [1.0, 2.0, 3.0],  # all concordant
            [3.0, 2.0, 1.0],  # all discordant
            [1.0, 3.0, 2.0],  # 2 concordant, 1 discordant: 1/3
            [5.0, 5.0, 5.0],  # constant: undefined
            [1.0, np.nan, 2.0],  # non-finite
            [1.0, np.inf, 2.0],
        ]
    )
    got = kendall_tau_rows(scores, truth)
    np.testing.assert_allclose(got[:3], [1.0, -1.0, 1 / 3])
    assert np.isnan(got[3:]).all()


def test_fitness_min_mean_signed_absolute():
    taus = np.array([[0.5, -0.7], [0.2, 0.3], [np.nan, 0.9]])
    np.testing.assert_allclose(fitness_from_taus(taus), [-0.7, 0.2, INVALID])
    np.testing.assert_allclose(fitness_from_taus(taus, "absolute"), [0.5, 0.2, INVALID])
    np.testing.assert_allclose(fitness_from_taus(taus, "signed", "mean"), [-0.1, 0.25, INVALID])
    np.testing.assert_allclose(fitness_from_taus(taus, "absolute", "mean"), [0.6, 0.25, INVALID])
    assert INVALID < -2.0  # below every tau and margin: loses every tournament to a valid one
    with pytest.raises(ValueError, match="correlation"):
        fitness_from_taus(taus, "abs")
    with pytest.raises(ValueError, match="aggregate"):
        fitness_from_taus(taus, "signed", "max")


def test_parse_tasks():
    assert parse_tasks("nb201:cifar10, nb201:cifar100") == (
        Task("nb201", "cifar10"),
        Task("nb201", "cifar100"),
    )
    assert parse_tasks("nb201:cifar10:cifar10_test")[0].target == "cifar10_test"
    assert str(parse_tasks("nb201:imagenet16")[0]) == "nb201:imagenet16"
    for bad, message in [
        ("nb201", "not 'space:dataset'"),
        ("nb201:", "not 'space:dataset'"),
        ("", "No tasks"),
        ("nb201:cifar10,nb201:cifar10", "repeat"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_tasks(bad)


def brute_force_jackknife_se(scores, truth):
    m = len(truth)
    taus = [scipy.stats.kendalltau(np.delete(scores, i), np.delete(truth, i))[0] for i in range(m)]
    return np.sqrt((m - 1) / m * np.sum((np.array(taus) - np.mean(taus)) ** 2))


def test_jackknife_se_equals_brute_force_with_ties():
    rng = np.random.default_rng(1)
    for m in (3, 7, 20):
        truth = rng.integers(0, 6, m).astype(float)  # tied accuracies
        scores = truth + rng.integers(0, 4, m)  # tied, correlated scores
        assert len(np.unique(truth)) >= 3 and len(np.unique(scores)) >= 3  # no constant deletion
        want = brute_force_jackknife_se(scores, truth)
        assert kendall_tau_jackknife_se(scores, truth) == pytest.approx(want, rel=1e-12)
    scores = rng.normal(size=30)
    truth = rng.normal(size=30)
    want = brute_force_jackknife_se(scores, truth)
    assert kendall_tau_jackknife_se(scores, truth) == pytest.approx(want, rel=1e-12)


def test_jackknife_se_has_the_known_scale_and_invalid_cases():
    rng = np.random.default_rng(2)
    for n in (20, 100):
        se = [kendall_tau_jackknife_se(rng.normal(size=n), rng.normal(size=n)) for _ in range(20)]
        null_sd = np.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)))  # SD of tau under independence
        assert 0.7 * null_sd < np.mean(se) < 1.4 * null_sd, (n, np.mean(se), null_sd)
    assert np.isnan(kendall_tau_jackknife_se([1.0, np.nan, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]))
    assert np.isnan(kendall_tau_jackknife_se([1.0, 2.0], [1.0, 2.0]))  # M < 3
    assert np.isnan(kendall_tau_jackknife_se([1.0, 1.0, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0]))
    assert kendall_tau_jackknife_se([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]) == 0.0


def test_fitness_se_is_the_se_of_the_worst_task_or_of_the_mean():
    rng = np.random.default_rng(3)
    truths = [rng.normal(size=15), rng.normal(size=15)]
    scores = [truths[0] + rng.normal(size=15), truths[1] + 3 * rng.normal(size=15)]
    taus = [scipy.stats.kendalltau(s, y)[0] for s, y in zip(scores, truths)]
    se = [kendall_tau_jackknife_se(s, y) for s, y in zip(scores, truths)]
    worst = int(np.argmin(taus))
    assert fitness_jackknife_se(scores, truths) == se[worst]
    absolute = int(np.argmin(np.abs(taus)))
    assert fitness_jackknife_se(scores, truths, "absolute") == se[absolute]
    mean = fitness_jackknife_se(scores, truths, "signed", "mean")
    assert mean == pytest.approx(np.sqrt(se[0] ** 2 + se[1] ** 2) / 2)
    scores[1][0] = np.nan
    assert np.isnan(fitness_jackknife_se(scores, truths))


def test_fitness_relative_to_references_is_the_smallest_margin():
    taus = np.array([[0.5, 0.3], [0.45, 0.55]])
    # The plain minimum prefers the second program (.45 against .3) ...
    assert np.argmax(fitness_from_taus(taus)) == 1
    # ... the margin over each task's bar the first: bars .45 and .1 give margins .05 / .2
    # against 0 / .45.
    got = fitness_from_taus(taus, reference_taus=np.array([0.45, 0.1]))
    np.testing.assert_allclose(got, [0.05, 0.0])
    mean = fitness_from_taus(taus, "signed", "mean", np.array([0.45, 0.1]))
    np.testing.assert_allclose(mean, [0.125, 0.225])
    absolute = fitness_from_taus(-taus, "absolute", reference_taus=np.array([-0.45, 0.1]))
    np.testing.assert_allclose(absolute, [0.05, 0.0])
    # A reference without a tau makes every program invalid on that task.
    assert (fitness_from_taus(taus, reference_taus=np.array([np.nan, 0.1])) == INVALID).all()


def test_jackknife_se_of_a_margin_is_the_paired_jackknife():
    rng = np.random.default_rng(4)
    truth = rng.normal(size=12)
    scores, ref = truth + rng.normal(size=12), truth + 2 * rng.normal(size=12)
    diffs = []
    for i in range(12):
        keep = np.arange(12) != i
        tau = scipy.stats.kendalltau(scores[keep], truth[keep])[0]
        diffs.append(tau - scipy.stats.kendalltau(ref[keep], truth[keep])[0])
    diffs = np.array(diffs)
    want = np.sqrt(11 / 12 * np.sum((diffs - diffs.mean()) ** 2))
    assert kendall_tau_jackknife_se(scores, truth, ref) == pytest.approx(want, rel=1e-12)
    assert kendall_tau_jackknife_se(scores, truth, scores) == 0.0  # a program against itself
    # The fitness SE picks the task of the smallest margin, not of the smallest tau.
    truths = [truth, rng.normal(size=12)]
    both = [scores, truths[1] + 0.3 * rng.normal(size=12)]
    refs = [-truth, truths[1]]  # bars of tau -1 and 1: the second task's margin is the smaller
    assert fitness_jackknife_se(both, truths, references=refs) == kendall_tau_jackknife_se(
        both[1], truths[1], refs[1]
    )
