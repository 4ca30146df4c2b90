"""One generation of the EZNAS loop (see ``zcjax.gp.search``): screen, make children, score
them population-major, select the next parents. Pure: a state in, a new state out."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import jax
import numpy as np

from zcjax import stats
from zcjax.gp import operators as ops
from zcjax.gp.config import SearchConfig
from zcjax.gp.evaluate import StackedStats, task_fitness
from zcjax.gp.fitness import INVALID
from zcjax.gp.keys import Keys
from zcjax.gp.state import SearchState
from zcjax.gp.tasks import TaskData, sample_task_archs
from zcjax.program import Program
from zcjax.recipe import arch_stats  # the statistics score.py computes, so scores agree


@dataclasses.dataclass(frozen=True)
class GenerationKeys:
    archs: jax.Array
    stats: jax.Array
    variation: jax.Array
    selection: jax.Array
    immigrants: jax.Array

    @classmethod
    def of(cls, config: SearchConfig, generation: int) -> GenerationKeys:
        key = jax.random.fold_in(Keys.of(config.seed).generations, generation)
        return cls(*jax.random.split(key, 5))


def screen_ok(scores: np.ndarray) -> np.ndarray:
    """[P, N, K] screening scores -> [P] whether each program passes: finite everywhere and,
    with N >= 2 networks, not the same on all of them (a rank correlation needs a difference;
    EZNAS's check computed tau on two networks and rejected NaN)."""
    ok = np.isfinite(scores).all(axis=(1, 2))
    if scores.shape[1] >= 2:
        means = scores.mean(axis=2)
        ok &= means.max(axis=1) > means.min(axis=1)  # False where NaN
    return ok


def make_offspring(
    config: SearchConfig,
    keys: GenerationKeys,
    parents: Sequence[Program],
    screen: Sequence[StackedStats],
) -> tuple[list[Program], int, int]:
    """``config.offspring`` children valid on the screening statistics.

    Returns:
      (children, rejected, rounds): rejected counts children that failed ``screen_ok`` on
      some task's screening architectures (each distinct program is screened once).
    """
    children: list[Program] = []
    verdict: dict[Program, bool] = {}
    rejected, rounds = 0, 0
    while len(children) < config.offspring and rounds < config.max_rounds:
        candidates = ops.var_or(
            jax.random.fold_in(keys.variation, rounds),
            parents,
            config.offspring - len(children),
            config.cx_prob,
            config.mut_prob,
            config.mutations,
            config.max_height,
            config.mut_heights,
        )
        rounds += 1
        new = list(dict.fromkeys(c for c in candidates if c not in verdict))
        if new:
            ok = np.ones(len(new), bool)
            for st in screen:
                ok &= screen_ok(st.scores(new))
            verdict.update(zip(new, ok.tolist()))
        for c in candidates:
            if verdict[c]:
                children.append(c)
            else:
                rejected += 1
    return children, rejected, rounds


def select(
    config: SearchConfig, key: jax.Array, children: Sequence[Program], fitness: np.ndarray
) -> tuple[Program, ...]:
    """Elites, then tournament winners, de-duplicated: the next generation's parents."""
    order = np.argsort(-fitness, kind="stable")
    elites: list[int] = []
    for i in order:
        if len(elites) == config.elites:
            break
        if children[i] not in [children[j] for j in elites] and fitness[i] > INVALID:
            elites.append(int(i))
    winners = ops.sel_tournament(key, fitness, config.survivors - len(elites), config.tournament)
    chosen = elites + [int(i) for i in winners]
    seen, out = set(), []
    for i in chosen:
        tag = float(fitness[i]) if config.dedupe == "fitness" else children[i]
        if tag not in seen:
            seen.add(tag)
            out.append(children[i])
    return tuple(out)


def run_generation(
    config: SearchConfig, tasks: Sequence[TaskData], state: SearchState
) -> SearchState:
    """One generation from ``state`` (pure: returns a new state; see the module doc)."""
    g = state.generation
    keys = GenerationKeys.of(config, g)
    t0 = time.perf_counter()
    parents = list(state.population)
    lo, hi = config.init_heights
    for key_i in jax.random.split(keys.immigrants, config.immigrants):
        parents.append(ops.gen_half_and_half(key_i, lo, hi, kinds=config.root_kinds))
    archs = sample_task_archs(keys.archs, tasks, config.archs_per_task)
    k = config.settings.num_inits
    screen = []
    for td, task_archs in zip(tasks, archs):
        st = [
            arch_stats(keys.stats, td.space, a, td.task.dataset, stats.TERMINALS, config.settings)
            for a in task_archs[: config.screen_archs]
        ]
        screen.append(StackedStats.of(st, k))
        del st
    t_screen = time.perf_counter()
    children, rejected, rounds = make_offspring(config, keys, parents, screen)
    del screen
    t_children = time.perf_counter()
    unique = list(dict.fromkeys(children))
    taus, values = task_fitness(config, keys.stats, unique, tasks, archs)
    fitness_of = dict(zip(unique, values))
    fitness = np.array([fitness_of[c] for c in children])
    population = select(config, keys.selection, children, fitness)
    t_end = time.perf_counter()

    archive = {name: list(evals) for name, evals in state.archive.items()}
    for program, value in fitness_of.items():
        archive.setdefault(str(program), []).append([g, float(value)])
    best = int(np.argmax(fitness))
    best_u = unique.index(children[best])
    invalid_full = int(sum(v <= INVALID for v in fitness_of.values()))
    record = {
        "generation": g,
        "best_fitness": float(fitness[best]),
        "median_fitness": float(np.median(fitness)),
        "best_program": str(children[best]),
        "best_taus": {str(td.task): _json_float(taus[best_u, t]) for t, td in enumerate(tasks)},
        "invalid": rejected + invalid_full,
        "rejected_by_screen": rejected,
        "invalid_in_evaluation": invalid_full,
        "children": len(children),
        "distinct_children": len(unique),
        "rounds": rounds,
        "population": len(population),
        "wall_time_s": round(t_end - t0, 3),
        "screen_stats_s": round(t_screen - t0, 3),
        "children_s": round(t_children - t_screen, 3),
        "evaluation_s": round(t_end - t_children, 3),
    }
    return SearchState(g + 1, population, archive, (*state.history, record))


def _json_float(x) -> float | None:
    return float(x) if np.isfinite(x) else None
