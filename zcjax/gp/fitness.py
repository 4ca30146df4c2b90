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

Relative to a bar (``reference_taus``): a task's value is the program's tau minus a reference
program's tau on the same architectures (e.g. issue 14's bars, EZNAS-A + params on NB201 and
EZNAS-A on NDS), so the minimum over tasks asks for the smallest margin over each task's bar
rather than the lowest tau, and a program may give up tau where its bar is low.

A program whose score is NaN/inf on any architecture, or constant (tau undefined), is invalid
and gets ``INVALID``, below every tau and every margin over a bar (those lie in [-2, 2]), so it
loses every tournament against a valid program.

On 20 architectures a tau has a sampling SD of ~.1-.16 (``kendall_tau_jackknife_se``); two
programs that order every sampled architecture alike are one program to the search
(``rankings``), however different their texts.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

INVALID = -3.0  # -2.0 before margins over a bar (relative_to) existed
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
    taus: np.ndarray,
    correlation: str = "signed",
    aggregate: str = "min",
    reference_taus: np.ndarray | None = None,
) -> np.ndarray:
    """[P, T] per-task taus -> [P] fitness; ``INVALID`` where any task's tau is NaN (or a
    reference's). ``reference_taus`` [T]: each task's value is the tau minus the reference's
    (both as ``correlation`` reads them)."""
    if correlation not in CORRELATIONS:
        raise ValueError(f"correlation must be one of {CORRELATIONS}, got {correlation!r}.")
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}.")
    values = task_values(taus, correlation, reference_taus)
    with np.errstate(invalid="ignore"):
        out = values.min(axis=1) if aggregate == "min" else values.mean(axis=1)
    return np.where(np.isfinite(out), out, INVALID)


def task_values(
    taus: np.ndarray, correlation: str = "signed", reference_taus: np.ndarray | None = None
) -> np.ndarray:
    """[P, T] (or [T]) taus as ``correlation`` reads them (|tau| if ``"absolute"``), minus
    the reference's [T] read alike where given: what the aggregate over tasks takes."""
    taus = np.asarray(taus, np.float64)
    values = np.abs(taus) if correlation == "absolute" else taus
    if reference_taus is None:
        return values
    ref = np.asarray(reference_taus, np.float64)
    return values - (np.abs(ref) if correlation == "absolute" else ref)


def kendall_tau_jackknife_se(
    scores: np.ndarray, truth: np.ndarray, reference: np.ndarray | None = None
) -> float:
    """Delete-one jackknife standard error of Kendall's tau-b of ``scores`` [M] with ``truth``
    [M]: ``sqrt((M - 1) / M * sum_i (tau_(i) - mean)^2)``, tau_(i) the tau without
    architecture i (each computed exactly from the pair sums, O(M^2) in all). With
    ``reference`` [M], of the paired difference tau(scores) - tau(reference). NaN if a score
    is not finite, M < 3, or some tau_(i) is undefined."""
    scores = np.asarray(scores, np.float64)
    truth = np.asarray(truth, np.float64)
    m = len(truth)
    if m < 3 or not np.isfinite(scores).all():
        return float("nan")
    taus = _jackknife_taus(scores, truth)
    if reference is not None:
        taus = taus - _jackknife_taus(reference, truth)
    return float(np.sqrt((m - 1) / m * np.sum((taus - taus.mean()) ** 2)))


def _jackknife_taus(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """[M] tau-b of ``scores`` [M] with ``truth`` [M] without each architecture in turn;
    NaN everywhere if a score is not finite or some tau_(i) is undefined."""
    scores = np.asarray(scores, np.float64)
    truth = np.asarray(truth, np.float64)
    if not np.isfinite(scores).all():
        return np.full(len(truth), np.nan)
    ds = np.sign(scores[:, None] - scores[None, :])  # [M, M], zero diagonal
    dt = np.sign(truth[:, None] - truth[None, :])
    concordance, untied_s, untied_t = ds * dt, np.abs(ds), np.abs(dt)
    # Sums over the pairs i < j are half the sums over the symmetric matrices; deleting
    # architecture i removes its row's pairs.
    denom = (untied_s.sum() / 2 - untied_s.sum(1)) * (untied_t.sum() / 2 - untied_t.sum(1))
    if not (denom > 0).all():
        return np.full(len(truth), np.nan)
    return (concordance.sum() / 2 - concordance.sum(1)) / np.sqrt(denom)


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
    references: Sequence[np.ndarray] | None = None,
) -> float:
    """Standard error of one program's fitness from its per-task scores [N_t] and truths
    [N_t]: with ``"min"`` the jackknife SE (``kendall_tau_jackknife_se``) of the tau of the
    task attaining the minimum, with ``"mean"`` sqrt(sum_t SE_t^2) / T (the tasks' samples
    are independent). With ``references`` (per task the reference program's scores [N_t], as
    ``fitness_from_taus``'s ``reference_taus``) the SE of the paired difference on each task.
    NaN where the fitness is invalid."""
    refs = list(references) if references is not None else [None] * len(scores)
    taus = np.array([kendall_tau_rows(s[None], y)[0] for s, y in zip(scores, truths)])
    if not np.isfinite(taus).all():
        return float("nan")
    if aggregate == "mean":
        se = [kendall_tau_jackknife_se(s, y, r) for s, y, r in zip(scores, truths, refs)]
        return float(np.sqrt(np.sum(np.square(se))) / len(se))
    ref_taus = None
    if references is not None:
        ref_taus = np.array([kendall_tau_rows(r[None], y)[0] for r, y in zip(refs, truths)])
    t = int(np.argmin(task_values(taus, correlation, ref_taus)))
    return kendall_tau_jackknife_se(scores[t], truths[t], refs[t])
