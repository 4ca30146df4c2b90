"""Rank and linear correlations between proxy scores and ground truth, in JAX.

All functions are jittable and follow scipy.stats' definitions (checked against scipy in the
tests): ``kendall_tau`` is Kendall's tau-b (ties corrected), ``spearman`` is Pearson's r of
average-tie ranks. A non-finite input gives NaN. They compute in float32 (JAX's default); ``correlations``
is the host entry point that first makes float64 data exact in float32.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from zcjax.keys import host_rng

_BLOCK = 512


def _as_float(x: jax.Array) -> jax.Array:
    return jnp.asarray(x, jnp.float32).ravel()


@functools.partial(jax.jit, static_argnames="block")
def kendall_tau(x: jax.Array, y: jax.Array, block: int = _BLOCK) -> jax.Array:
    """Kendall's tau-b of ``x`` [N] and ``y`` [N].

    Counts pairs in blocks of rows, so memory is O(block * N); the counts are int32, exact for
    N up to 46,000.
    """
    x, y = _as_float(x), _as_float(y)
    n = x.shape[0]
    bad = ~(jnp.all(jnp.isfinite(x)) & jnp.all(jnp.isfinite(y)))
    nblocks = -(-n // block)
    pad = nblocks * block - n
    xp = jnp.pad(x, (0, pad)).reshape(nblocks, block)
    yp = jnp.pad(y, (0, pad)).reshape(nblocks, block)
    valid = (jnp.arange(nblocks * block) < n).reshape(nblocks, block)

    def counts(args):
        xb, yb, vb = args
        sx = jnp.sign(xb[:, None] - x[None, :]).astype(jnp.int32)
        sy = jnp.sign(yb[:, None] - y[None, :]).astype(jnp.int32)
        v = vb[:, None].astype(jnp.int32)
        # Self-pairs have sx == sy == 0: they add to neither sum of products nor non-ties.
        return (
            jnp.sum(sx * sy * v),
            jnp.sum((sx != 0).astype(jnp.int32) * v),
            jnp.sum((sy != 0).astype(jnp.int32) * v),
        )

    s, untied_x, untied_y = jax.tree.map(jnp.sum, jax.lax.map(counts, (xp, yp, valid)))
    denom = jnp.sqrt(untied_x.astype(jnp.float32)) * jnp.sqrt(untied_y.astype(jnp.float32))
    tau = s.astype(jnp.float32) / denom
    return jnp.where(bad | (n < 2), jnp.nan, tau)


def rankdata(x: jax.Array) -> jax.Array:
    """1-based ranks of ``x`` [N], ties given their average rank (scipy's ``method='average'``)."""
    x = _as_float(x)
    xs = jnp.sort(x)
    lo = jnp.searchsorted(xs, x, side="left")
    hi = jnp.searchsorted(xs, x, side="right")
    return (lo + hi + 1).astype(jnp.float32) / 2.0


@jax.jit
def pearson(x: jax.Array, y: jax.Array) -> jax.Array:
    """Pearson's r of ``x`` [N] and ``y`` [N]; NaN if either is constant or non-finite."""
    x, y = _as_float(x), _as_float(y)
    xc, yc = x - jnp.mean(x), y - jnp.mean(y)
    r = jnp.sum(xc * yc) / jnp.sqrt(jnp.sum(xc * xc) * jnp.sum(yc * yc))
    # A float32 mean of equal values can miss them by an ulp, which would give r near 0.
    constant = (jnp.max(x) == jnp.min(x)) | (jnp.max(y) == jnp.min(y))
    return jnp.where(constant, jnp.nan, r)


@jax.jit
def spearman(x: jax.Array, y: jax.Array) -> jax.Array:
    """Spearman's rho of ``x`` [N] and ``y`` [N]."""
    x, y = _as_float(x), _as_float(y)
    bad = ~(jnp.all(jnp.isfinite(x)) & jnp.all(jnp.isfinite(y)))
    return jnp.where(bad, jnp.nan, pearson(rankdata(x), rankdata(y)))


def top_k_overlap(scores: jax.Array, truth: jax.Array, fraction: float = 0.1) -> jax.Array:
    """Fraction of the truly best ``fraction`` of models that the scores also put in their top.

    Args:
      scores: [N] proxy scores (higher = predicted better).
      truth: [N] ground-truth accuracies.
      fraction: the top share considered, in (0, 1].
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    scores, truth = _as_float(scores), _as_float(truth)
    k = max(1, int(round(fraction * scores.shape[0])))
    top_pred = jnp.zeros(scores.shape[0], bool).at[jnp.argsort(-scores)[:k]].set(True)
    top_true = jnp.zeros(scores.shape[0], bool).at[jnp.argsort(-truth)[:k]].set(True)
    return jnp.sum(top_pred & top_true) / k


METRICS = {"kendall_tau": kendall_tau, "spearman": spearman, "pearson": pearson}


def _exact_for_float32(x: np.ndarray, rank_based: bool) -> np.ndarray:
    """Host-side float64 preprocessing so float32 JAX metrics lose nothing.

    Rank metrics only see the order, so values become dense ranks (float32 would merge nearby
    accuracies into false ties); Pearson sees values standardised in float64.
    """
    if rank_based:
        return np.unique(x, return_inverse=True)[1].astype(np.float32)
    x = x / (np.max(np.abs(x)) or 1.0)  # synflow reaches 1e150+: its squares would overflow
    return ((x - x.mean()) / (x.std() or 1.0)).astype(np.float32)


def correlations(scores, truth) -> dict[str, float]:
    """Every metric in ``METRICS`` over the entries where both inputs are finite (host arrays).

    Returns:
      ``{"kendall_tau": .., "spearman": .., "pearson": .., "n": ..}``.
    """
    scores = np.asarray(scores, np.float64).ravel()
    truth = np.asarray(truth, np.float64).ravel()
    keep = np.isfinite(scores) & np.isfinite(truth)
    s, t = scores[keep], truth[keep]
    if len(s) < 2:
        return {**dict.fromkeys(METRICS, float("nan")), "n": len(s)}
    out = {}
    for name, fn in METRICS.items():
        rank_based = name != "pearson"
        out[name] = float(fn(_exact_for_float32(s, rank_based), _exact_for_float32(t, rank_based)))
    out["n"] = int(keep.sum())
    return out


def spearman_rows(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """[R] Spearman rho of each row of ``scores`` [R, N] with the matching row of ``truth``
    [R, N] (host arrays; ties get their average rank; NaN for a constant row). Vectorised over
    rows, as bootstrap resamples need."""
    rs = scipy.stats.rankdata(scores, axis=-1)
    rt = scipy.stats.rankdata(truth, axis=-1)
    rs -= rs.mean(axis=-1, keepdims=True)
    rt -= rt.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rs * rt).sum(-1) / np.sqrt((rs * rs).sum(-1) * (rt * rt).sum(-1))


def bootstrap_ci(
    key: jax.Array, scores, truth, num_resamples: int = 1000, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap confidence intervals of Kendall's tau and Spearman's rho.

    Resamples (score, truth) pairs -- the finite ones -- with replacement ``num_resamples``
    times (host Generator seeded from ``key``) and returns the central ``level`` interval of
    each statistic: ``{"kendall_tau": (lo, hi), "spearman": (lo, hi)}``; NaN if fewer than 3
    pairs.
    """
    scores = np.asarray(scores, np.float64).ravel()
    truth = np.asarray(truth, np.float64).ravel()
    keep = np.isfinite(scores) & np.isfinite(truth)
    s, t = scores[keep], truth[keep]
    nan = (float("nan"), float("nan"))
    if len(s) < 3:
        return {"kendall_tau": nan, "spearman": nan}
    idx = host_rng(key).integers(len(s), size=(num_resamples, len(s)))
    taus = np.array([scipy.stats.kendalltau(s[i], t[i])[0] for i in idx])
    rhos = spearman_rows(s[idx], t[idx])
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)

    def interval(values):
        values = values[np.isfinite(values)]
        if not len(values):
            return nan
        lo, hi = np.percentile(values, q)
        return float(lo), float(hi)

    return {"kendall_tau": interval(taus), "spearman": interval(rhos)}


def log_rank_sum(columns: Sequence[np.ndarray]) -> np.ndarray:
    """[N] sum over members of log(rank / N) of each column [N] (rank 1 = lowest, ties get their
    average rank, NaN ranks with -inf at the bottom)."""
    out = np.zeros(len(columns[0]))
    for c in columns:
        c = np.nan_to_num(np.asarray(c, np.float64), nan=-np.inf, posinf=np.inf, neginf=-np.inf)
        out += np.log(scipy.stats.rankdata(c) / len(c))
    return out


def orient(column: np.ndarray, size: np.ndarray) -> np.ndarray:
    """[N] ``column`` negated when its Spearman rho with ``size`` [N] over the entries where
    both are finite is below 0; unchanged otherwise (rho >= 0 or undefined). Label-free, and
    like a log-rank relative to the set: a measure that ranks these architectures against
    their size is turned to rank with it (an "aligned" ensemble member)."""
    column = np.asarray(column, np.float64)
    size = np.asarray(size, np.float64)
    ok = np.isfinite(column) & np.isfinite(size)
    if ok.sum() < 2 or np.ptp(column[ok]) == 0 or np.ptp(size[ok]) == 0:
        return column
    rho = scipy.stats.spearmanr(column[ok], size[ok])[0]
    return -column if rho < 0 else column
