"""Structural programs: scores that depend neither on the weights' random init nor on the inputs.

``numel(weight)`` or ``mean(ones_like(relu_in@data))`` is a function of an architecture's
shapes alone, like the ``params`` proxy: it may rank architectures well, but it is not a
zero-cost proxy that reads a network's response to data. The held-out report marks such
programs (issue 14): a program is *data-dependent* when its scores change between two inits or
between data and noise inputs, and *structural* when they change in neither.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence

import jax
import numpy as np

from zcjax.gp.evaluate import population_scores
from zcjax.inputs import arch_inputs
from zcjax.keys import arch_key
from zcjax.program.registry import SUM_LOGITS
from zcjax.program.tree import Program
from zcjax.recipe import init_stats
from zcjax.settings import Settings
from zcjax.spaces import SearchSpace

RTOL = 1e-6  # a score "changes" when it moves by more than this, relative to its size


def scores_change(a: np.ndarray, b: np.ndarray, rtol: float = RTOL) -> np.ndarray:
    """[P] bool: where rows of ``a`` and ``b`` ([P, N] scores) differ anywhere.

    Entries differ when ``|a - b| > rtol * max(|a|, |b|)``; NaN equals NaN and infinity the
    same infinity, while NaN against a number (a program valid under one run only) differs.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b))
    same = close | (a == b) | (np.isnan(a) & np.isnan(b))
    return ~same.all(axis=1)


def check_scores(
    key: jax.Array,
    programs: Sequence[Program],
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    loss: str = SUM_LOGITS,
) -> np.ndarray:
    """Scores of ``programs`` on ``archs`` under three runs that differ in one thing each.

    ``key`` splits into (batch, init, other init) keys, each folded with an architecture's id.
    Run 0 is that batch (``settings.inputs``, normally data) with the init key; run 1 the same
    batch with the other init key; run 2 noise inputs (``Settings(inputs="noise")``, drawn with
    the batch key) with the init key. One init each (``num_inits=1``) on the engine.

    Returns:
      [3, P, N] float64 scores; NaN marks a program invalid on an architecture.
    """
    key_batch, key_init, key_other = jax.random.split(key, 3)
    settings = dataclasses.replace(settings, num_inits=1, stats_method="engine")
    noise = dataclasses.replace(settings, inputs="noise")
    runs = [(settings, key_init), (settings, key_other), (noise, key_init)]
    terminals = tuple(sorted({t for p in programs for t in p.terminals}))
    out = np.full((len(runs), len(programs), len(archs)), np.nan)
    if not programs:
        return out
    for r, (run, key_inits) in enumerate(runs):
        st = []
        for arch in archs:
            i = space.arch_id(arch)
            plan, x, labels = arch_inputs(arch_key(key_batch, i), space, arch, dataset, run)
            st.append(init_stats(arch_key(key_inits, i), plan, x, labels, terminals, loss, run))
        with np.errstate(invalid="ignore"):
            out[r] = population_scores(programs, st, 1)[..., 0]
    return out


def data_dependence(
    key: jax.Array,
    programs: Sequence[Program],
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    loss: str = SUM_LOGITS,
) -> np.ndarray:
    """[P] bool: True where a program is data-dependent on ``archs`` (2-3 are enough).

    A program is data-dependent when its scores change (``scores_change``) between two inits
    or between data and noise inputs (``check_scores``'s runs 0-1 and 0-2). Being structural
    is a claim that needs evidence, so a program with no finite score in run 0 (invalid on
    every architecture checked) also counts as data-dependent.
    """
    s = check_scores(key, programs, space, archs, dataset, settings, loss)
    no_score = ~np.isfinite(s[0]).any(axis=1)
    return scores_change(s[0], s[1]) | scores_change(s[0], s[2]) | no_score


def is_structural(
    key: jax.Array,
    programs: Sequence[Program],
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    loss: str = SUM_LOGITS,
) -> np.ndarray:
    """[P] bool: True where a program is structural (``~data_dependence``)."""
    return ~data_dependence(key, programs, space, archs, dataset, settings, loss)
