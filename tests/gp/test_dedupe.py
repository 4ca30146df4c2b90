"""Dedupe by ranking: programs that order every task's architectures alike count as one."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
import scipy.stats

from zcjax.gp import fitness as fit
from zcjax.gp.config import SearchConfig
from zcjax.gp.evaluate import score_programs
from zcjax.gp.fitness import INVALID
from zcjax.gp.generation import select
from zcjax.gp.tasks import load_tasks
from zcjax.program import parse
from zcjax.settings import Settings


def test_rankings_merge_monotone_transforms_and_keep_other_orders():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=7), rng.integers(0, 3, 9).astype(float)  # task 2 has ties
    scores = [
        np.stack([a, 2 * a + 1, np.exp(a), a[::-1], a, a]),
        np.stack([b, 3 * b, np.exp(b), b, -b, np.where(b == 0, np.nan, b)]),
    ]
    r = fit.rankings(scores)
    assert r[0] == r[1] == r[2]  # monotone transforms on every task
    assert r[3] != r[0]  # another order on task 1
    assert r[4] != r[0]  # the same order on task 1, another on task 2
    assert r[5] is None  # not finite: no ranking
    # Equal exactly where scipy's average ranks (concatenated over tasks) are equal.
    average = [
        tuple(np.concatenate([scipy.stats.rankdata(s[p]) for s in scores])) for p in range(5)
    ]
    for i in range(5):
        for j in range(5):
            assert (r[i] == r[j]) == (average[i] == average[j])


def test_select_dedupes_by_ranking():
    p, q, s = (parse(t) for t in ("mean(weight)", "mean_abs(weight)", "mean(bn_out@data)"))
    children = [p, q, s]
    fitness = np.array([0.5, 0.5, 0.1])
    rankings = [(0, 1, 2), (0, 1, 2), (2, 1, 0)]  # p and q order the sample alike
    config = dataclasses.replace(SearchConfig(), survivors=3, elites=3, dedupe="ranking")
    assert select(config, jax.random.key(0), children, fitness, rankings) == (p, s)
    by_program = dataclasses.replace(config, dedupe="program")
    assert select(by_program, jax.random.key(0), children, fitness) == (p, q, s)
    with pytest.raises(ValueError, match="needs the children's rankings"):
        select(config, jax.random.key(0), children, fitness)


@pytest.mark.slow
def test_a_program_and_its_double_rank_a_sample_identically(data_dir):
    config = SearchConfig(test_archs=50, settings=Settings(num_inits=1, batch_size=2))
    tasks = load_tasks(config)
    td = tasks[0]
    archs = list(td.search[:6])
    texts = ("mean_abs(weight)", "add(mean_abs(weight), mean_abs(weight))", "mean(weight)")
    programs = [parse(t) for t in texts]
    scores = score_programs(
        jax.random.key(0), programs, td.space, archs, td.task.dataset, config.settings
    )
    np.testing.assert_array_equal(scores[1], 2 * scores[0])  # add(p, p) is exactly 2p
    r = fit.rankings([scores])
    assert r[0] == r[1] and r[2] != r[0]


def test_fill_survivors_refills_the_deduplicated_parents_with_the_fittest_distinct():
    programs = [parse(t) for t in ("mean(weight)", "mean_abs(weight)", "mean(bn_out@data)")]
    programs += [parse(f"mean(relu_in@{i})") for i in ("data", "noise", "perturbed")]
    fitness = np.array([0.9, 0.8, 0.7, 0.6, INVALID, 0.5])
    rankings = [(0,), (0,), (1,), (2,), None, (3,)]  # the first two rank alike
    # Tournaments of 6 over 6 candidates: nearly every winner is the fittest, so de-dup leaves few.
    config = dataclasses.replace(
        SearchConfig(), survivors=4, elites=0, tournament=6, dedupe="ranking"
    )
    plain = select(config, jax.random.key(0), programs, fitness, rankings)
    assert len(plain) < 4
    filled = select(
        dataclasses.replace(config, fill_survivors=True),
        jax.random.key(0),
        programs,
        fitness,
        rankings,
    )
    assert filled[: len(plain)] == plain  # the tournament's parents come first
    # then the fittest candidates of new rankings; never the invalid one or a second (0,)
    assert set(filled) == {programs[0], programs[2], programs[3], programs[5]}
