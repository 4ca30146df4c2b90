import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from zcjax import metrics


def _pairs(seed, n, ties):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = x + rng.normal(size=n)
    if ties:
        x, y = np.round(x), np.round(y * 2)
    return x, y


@pytest.mark.parametrize("n", [2, 5, 37, 1100])
@pytest.mark.parametrize("ties", [False, True])
def test_correlations_match_scipy(n, ties):
    x, y = _pairs(n, n, ties)
    np.testing.assert_allclose(
        metrics.kendall_tau(x, y), scipy.stats.kendalltau(x, y)[0], atol=1e-5
    )
    np.testing.assert_allclose(metrics.spearman(x, y), scipy.stats.spearmanr(x, y)[0], atol=1e-5)
    np.testing.assert_allclose(metrics.pearson(x, y), scipy.stats.pearsonr(x, y)[0], atol=1e-5)


def test_kendall_blocks_do_not_change_result():
    x, y = _pairs(1, 300, True)
    ref = metrics.kendall_tau(x, y, block=512)
    np.testing.assert_allclose(metrics.kendall_tau(x, y, block=7), ref, atol=1e-6)


def test_hand_computed_kendall():
    # Pairs (1,2),(1,3),(2,3): concordant, concordant, discordant -> (2 - 1) / 3.
    np.testing.assert_allclose(metrics.kendall_tau([1, 2, 3], [1, 3, 2]), 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(metrics.kendall_tau([1, 2, 3], [3, 2, 1]), -1.0, rtol=1e-6)


def test_rankdata_averages_ties():
    np.testing.assert_array_equal(metrics.rankdata([10, 20, 20, 5]), [2, 3.5, 3.5, 1])


def test_non_finite_gives_nan():
    assert np.isnan(metrics.kendall_tau([1.0, np.nan, 3.0], [1, 2, 3]))
    assert np.isnan(metrics.spearman([1.0, np.inf, 3.0], [1, 2, 3]))


def test_correlations_drop_non_finite_entries():
    out = metrics.correlations(np.array([1.0, 2.0, np.nan, 4.0]), np.array([1.0, 2.0, 3.0, 3.0]))
    assert out["n"] == 3
    np.testing.assert_allclose(out["kendall_tau"], 1.0, rtol=1e-6)


def test_metrics_under_jit_and_vmap():
    x, y = _pairs(3, 20, True)
    for name in ("kendall_tau", "spearman", "pearson"):
        fn = getattr(metrics, name)
        batched = jax.jit(jax.vmap(fn, in_axes=(0, None)))(np.stack([x, -x]), y)
        reference = getattr(
            scipy.stats,
            {"kendall_tau": "kendalltau", "spearman": "spearmanr", "pearson": "pearsonr"}[name],
        )(x, y)[0]
        np.testing.assert_allclose(batched, [reference, -reference], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(jax.jit(fn)(x, y), reference, rtol=1e-5, atol=1e-6)


def test_top_k_overlap_hand_computed():
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0, -4.0])
    truth = np.array([9.0, 0.0, 8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    # Top 20 %: predicted {0, 1}, true {0, 2} -> half found.
    np.testing.assert_allclose(metrics.top_k_overlap(scores, truth, 0.2), 0.5)
    with pytest.raises(ValueError, match="fraction"):
        metrics.top_k_overlap(scores, truth, 0.0)


def test_correlations_keep_float64_resolution():
    # Values 1e-9 apart collapse in float32; the host entry point must still order them.
    base = 80.0 + np.arange(50) * 1e-9
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    out = metrics.correlations(base, y)
    np.testing.assert_allclose(out["kendall_tau"], scipy.stats.kendalltau(base, y)[0], atol=1e-6)
    np.testing.assert_allclose(out["spearman"], scipy.stats.spearmanr(base, y)[0], atol=1e-6)
    np.testing.assert_allclose(out["pearson"], scipy.stats.pearsonr(base, y)[0], atol=1e-5)


def test_bootstrap_ci_covers_the_estimate_and_narrows_with_n():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=400)
    scores = truth + rng.normal(size=400)
    key = jax.random.key(0)
    small = metrics.bootstrap_ci(key, scores[:40], truth[:40], 300)
    large = metrics.bootstrap_ci(key, scores, truth, 300)
    tau = scipy.stats.kendalltau(scores, truth)[0]
    rho = scipy.stats.spearmanr(scores, truth)[0]
    assert large["kendall_tau"][0] < tau < large["kendall_tau"][1]
    assert large["spearman"][0] < rho < large["spearman"][1]
    width = {
        n: ci["kendall_tau"][1] - ci["kendall_tau"][0] for n, ci in [(40, small), (400, large)]
    }
    assert width[400] < width[40] / 2  # ~1/sqrt(n)
    assert metrics.bootstrap_ci(key, scores, truth, 300) == large  # same key, same interval
    assert metrics.bootstrap_ci(jax.random.key(1), scores, truth, 300) != large
    # Non-finite pairs are dropped; too few pairs give NaN.
    with_nan = np.concatenate([scores, [np.nan]]), np.concatenate([truth, [1.0]])
    assert np.isfinite(metrics.bootstrap_ci(key, *with_nan, 50)["spearman"]).all()
    assert np.isnan(metrics.bootstrap_ci(key, [1.0, 2.0], [1.0, 2.0])["kendall_tau"]).all()


def test_pearson_of_huge_scores_does_not_overflow():
    """Synflow scores reach 1e150 and more; their squares would overflow float64."""
    truth = np.array([1.0, 2.0, 4.0, 3.0])
    scores = truth * 1e200
    c = metrics.correlations(scores, truth)
    assert c["pearson"] == pytest.approx(1.0, abs=1e-6)
    assert c["kendall_tau"] == pytest.approx(1.0)


def test_constant_scores_have_no_rank_correlation():
    """1000 equal scores (a float32 mean of them misses by an ulp): rho and r are NaN, as tau,
    not a spurious 0."""
    truth = np.linspace(60.0, 90.0, 1000)
    out = metrics.correlations(np.full(1000, 0.1), truth)
    assert np.isnan(out["kendall_tau"]) and np.isnan(out["spearman"]) and np.isnan(out["pearson"])
    assert np.isnan(float(metrics.spearman(jnp.full(1000, 500.5), jnp.asarray(truth))))
    assert abs(metrics.correlations(truth**2, truth)["spearman"] - 1.0) < 1e-6


def test_spearman_rows_match_scipy_row_by_row():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(5, 30))
    scores = truth + rng.normal(size=(5, 30))
    scores[1] = np.round(scores[1])  # ties
    scores[2] = 3.0  # a constant row has no rho
    got = metrics.spearman_rows(scores, truth)
    for r in (0, 1, 3, 4):
        np.testing.assert_allclose(
            got[r], scipy.stats.spearmanr(scores[r], truth[r])[0], atol=1e-12
        )
    assert np.isnan(got[2])
