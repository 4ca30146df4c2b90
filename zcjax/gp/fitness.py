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
"""

from __future__ import annotations

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
