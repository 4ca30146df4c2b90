"""Fitness of programs: rank correlation with trained accuracy, worst (or mean) over tasks.

A *task* is a (search space, dataset) pair with its benchmark's accuracy column. A program's
fitness on a task is Kendall's tau-b between its network scores (mean over inits) on the
task's sampled architectures and their accuracies; over tasks it is the minimum (EZNAS) or
the mean.

``correlation="signed"`` (our default) rewards programs that rank better networks higher on
every task; ``"absolute"`` uses |tau| as EZNAS did. With |tau| and the minimum over tasks, a
program that ranks one task the right way round and another backwards scores as well as one
that is right on both, yet only the latter can rank a new space without knowing the sign in
advance; signed tau rules such programs out. (The language has no negation, so signed tau also
drops programs that are consistently backwards: ``absolute`` keeps them.)

A program whose score is NaN/inf on any architecture, or constant (tau undefined), is invalid
and gets ``INVALID``, below every tau, so it loses every tournament against a valid program.

On 20 architectures a tau has a sampling SD of ~.1-.16 (``kendall_tau_jackknife_se``); two
programs that order every sampled architecture alike are one program to the search
(``rankings``), however different their texts.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

INVALID = -2.0
CORRELATIONS = ("signed", "absolute")
AGGREGATES = ("min", "mean")


def kendall_tau_rows(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row of ``scores`` [P, M] with ``truth`` [M], exactly (float64,
    all pairs). NaN for a row with a non-finite entry or no untied pair."""
    scores = np.asarray(scores, np.float64)
    truth = np.asarray(truth, np.float64)
    i, j = np.triu_indices(len(truth), k=1)
    dt = np.sign(truth[i] - truth[j])
    with np.errstate(invalid="ignore"):
        ds = np.sign(scores[:, i] - scores[:, j])
        concordance = (ds * dt).sum(axis=1)
        denom = np.sqrt(np.abs(ds).sum(axis=1) * np.abs(dt).sum())
        tau = np.where(denom > 0, concordance / np.where(denom > 0, denom, 1.0), np.nan)
    tau[~np.isfinite(scores).all(axis=1)] = np.nan
    return tau


def fitness_from_taus(
    taus: np.ndarray, correlation: str = "signed", aggregate: str = "min"
) -> np.ndarray:
    """[P, T] per-task taus -> [P] fitness; ``INVALID`` where any task's tau is NaN."""
    if correlation not in CORRELATIONS:
        raise ValueError(f"correlation must be one of {CORRELATIONS}, got {correlation!r}.")
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}.")
    taus = np.asarray(taus, np.float64)
    values = np.abs(taus) if correlation == "absolute" else taus
    with np.errstate(invalid="ignore"):
        out = values.min(axis=1) if aggregate == "min" else values.mean(axis=1)
    return np.where(np.isfinite(out), out, INVALID)


def kendall_tau_jackknife_se(scores: np.ndarray, truth: np.ndarray) -> float:
    """Delete-one jackknife standard error of Kendall's tau-b of ``scores`` [M] with ``truth``
    [M]: ``sqrt((M - 1) / M * sum_i (tau_(i) - mean)^2)``, tau_(i) the tau without
    architecture i (each computed exactly from the pair sums, O(M^2) in all). NaN if a score
    is not finite, M < 3, or some tau_(i) is undefined."""
    scores = np.asarray(scores, np.float64)
    truth = np.asarray(truth, np.float64)
    m = len(truth)
    if m < 3 or not np.isfinite(scores).all():
        return float("nan")
    ds = np.sign(scores[:, None] - scores[None, :])  # [M, M], zero diagonal
    dt = np.sign(truth[:, None] - truth[None, :])
    concordance, untied_s, untied_t = ds * dt, np.abs(ds), np.abs(dt)
    # Sums over the pairs i < j are half the sums over the symmetric matrices; deleting
    # architecture i removes its row's pairs.
    denom = (untied_s.sum() / 2 - untied_s.sum(1)) * (untied_t.sum() / 2 - untied_t.sum(1))
    if not (denom > 0).all():
        return float("nan")
    taus = (concordance.sum() / 2 - concordance.sum(1)) / np.sqrt(denom)
    return float(np.sqrt((m - 1) / m * np.sum((taus - taus.mean()) ** 2)))


def rankings(scores: Sequence[np.ndarray]) -> list[Hashable]:
    """Per task [P, N_t] scores -> [P] hashable rankings: the concatenation over tasks of the
    ranks of each program's scores over that task's architectures; None where a score is not
    finite. Dense ranks (``np.unique``) tie exactly where scipy's ``rankdata(..., "average")``
    ties, so two programs get equal rankings iff they order every task's architectures alike
    (e.g. ``p`` and ``add(p, p)``)."""
    scores = [np.asarray(s, np.float64) for s in scores]
    out: list[Hashable] = []
    for p in range(len(scores[0]) if scores else 0):
        rows = [s[p] for s in scores]
        if not all(np.isfinite(r).all() for r in rows):
            out.append(None)
            continue
        out.append(tuple(int(i) for r in rows for i in np.unique(r, return_inverse=True)[1]))
    return out


def fitness_jackknife_se(
    scores: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    correlation: str = "signed",
    aggregate: str = "min",
) -> float:
    """Standard error of one program's fitness from its per-task scores [N_t] and truths
    [N_t]: with ``"min"`` the jackknife SE (``kendall_tau_jackknife_se``) of the tau of the
    task attaining the minimum, with ``"mean"`` sqrt(sum_t SE_t^2) / T (the tasks' samples
    are independent). NaN where the fitness is invalid."""
    taus = np.array([kendall_tau_rows(s[None], y)[0] for s, y in zip(scores, truths)])
    if not np.isfinite(taus).all():
        return float("nan")
    if aggregate == "mean":
        se = [kendall_tau_jackknife_se(s, y) for s, y in zip(scores, truths)]
        return float(np.sqrt(np.sum(np.square(se))) / len(se))
    t = int(np.argmin(np.abs(taus) if correlation == "absolute" else taus))
    return kendall_tau_jackknife_se(scores[t], truths[t])
