"""One generation of the EZNAS loop (see ``zcjax.gp.search``): screen, make children, score
them population-major, promote the best to a larger sample, select the next parents. Pure: a
state in, a new state out."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Hashable, Sequence

import jax
import numpy as np

from zcjax import stats
from zcjax.gp import fitness as fit
from zcjax.gp import operators as ops
from zcjax.gp import structural
from zcjax.gp.config import SearchConfig
from zcjax.gp.evaluate import StackedStats, default_executor, fitness_of_scores, task_fitness
from zcjax.gp.fitness import INVALID
from zcjax.gp.heldout import validation_key
from zcjax.gp.keys import Keys
from zcjax.gp.state import SearchState
from zcjax.gp.tasks import TaskData, sample_task_archs
from zcjax.program import Program, network
from zcjax.program.kinds import E
from zcjax.recipe import arch_stats  # the statistics score.py computes, so scores agree


@dataclasses.dataclass(frozen=True)
class GenerationKeys:
    archs: jax.Array
    stats: jax.Array
    variation: jax.Array
    selection: jax.Array
    immigrants: jax.Array
    promotion: jax.Array

    @classmethod
    def of(cls, config: SearchConfig, generation: int) -> GenerationKeys:
        key = jax.random.fold_in(Keys.of(config.seed).generations, generation)
        # The first five are split as before promotion existed, so old seeds keep their archs.
        return cls(*jax.random.split(key, 5), jax.random.fold_in(key, 5))


@dataclasses.dataclass(frozen=True)
class Scored:
    """Distinct programs scored on one sample of architectures per task (``task_fitness``)."""

    programs: tuple[Program, ...]
    archs: list[list]  # per task, its sample
    taus: np.ndarray  # [P, T]
    fitness: np.ndarray  # [P]
    scores: list[np.ndarray]  # per task [P, N_t]
    references: list[np.ndarray] | None = None  # per task [N_t]: config.relative_to's scores

    @classmethod
    def of(
        cls,
        config: SearchConfig,
        key: jax.Array,
        programs: Sequence[Program],
        tasks: Sequence[TaskData],
        archs: list[list],
    ) -> Scored:
        """All ``programs`` on the same ``archs`` (statistics computed once per task)."""
        taus, fitness, scores, references = task_fitness(config, key, programs, tasks, archs)
        return cls(tuple(programs), archs, taus, fitness, scores, references)

    def rows(self, programs: Sequence[Program]) -> np.ndarray:
        """[len(programs)] rows of ``programs`` (each among ``self.programs``)."""
        row = {p: i for i, p in enumerate(self.programs)}
        return np.array([row[p] for p in programs], int)

    def subset(self, programs: Sequence[Program], fitness: np.ndarray | None = None) -> Scored:
        """The rows of ``programs`` (each among ``self.programs``), with ``fitness`` [P]
        instead of theirs if given."""
        rows = self.rows(programs)
        fitness = self.fitness[rows] if fitness is None else fitness
        scores = [s[rows] for s in self.scores]
        return Scored(
            tuple(programs), self.archs, self.taus[rows], fitness, scores, self.references
        )

    def with_ensembles(
        self, config: SearchConfig, tasks: Sequence[TaskData], programs: Sequence[Program]
    ) -> Scored:
        """``self`` with the ensembles ``programs`` added, whose members ``self`` holds: each
        task's scores the sum of log-ranks of the members' (``network.combine``, as
        ``evaluate.score_programs``), so no network runs. Programs already held are skipped.
        ``self`` holds ``network.parts`` of each (``SIZE`` too where a member is aligned)."""
        held = set(self.programs)
        new = [p for p in dict.fromkeys(programs) if p not in held]
        if not new:
            return self
        scores = []
        row = {p: i for i, p in enumerate(self.programs)}  # once, not per member and task
        for s in self.scores:
            added = [network.combine_members(p, lambda m, s=s: s[row[m]]) for p in new]
            scores.append(np.concatenate([s, np.stack(added)]))
        truths = [td.target(a) for td, a in zip(tasks, self.archs)]
        taus, fitness = fitness_of_scores(config, truths, scores, self.references)
        programs = self.programs + tuple(new)
        return Scored(programs, self.archs, taus, fitness, scores, self.references)


SIZE = network.SIZE  # the size ``max_size_tau`` compares members with


def size_like(config: SearchConfig, scored: Scored, programs: Sequence[Program]) -> np.ndarray:
    """[P] bool: True where every member tree of a program (``network.members``) ranks the
    first task's sample of ``scored`` like ``SIZE``: |Kendall tau| above
    ``config.max_size_tau``, or undefined (a constant or invalid member). ``scored`` holds
    the members and ``SIZE``."""
    first = scored.scores[0]
    size = first[scored.rows([SIZE])[0]]
    out = np.zeros(len(programs), bool)
    for i, p in enumerate(programs):
        taus = fit.kendall_tau_rows(first[scored.rows(network.members(p))], size)
        out[i] = not np.any(np.abs(taus) <= config.max_size_tau)  # NaN compares False
    return out


def score_bounded(
    config: SearchConfig,
    key: jax.Array,
    programs: Sequence[Program],
    tasks: Sequence[TaskData],
    archs: list[list],
) -> tuple[Scored, int]:
    """``Scored.of`` the distinct ``programs``; with ``max_size_tau`` below 1, those that rank
    like size (``size_like``; their members and ``SIZE`` scored on the same statistics) get
    fitness ``INVALID``. Returns (scored, how many ranked like size)."""
    programs = list(dict.fromkeys(programs))
    if config.max_size_tau >= 1:
        return Scored.of(config, key, programs, tasks, archs), 0
    extra = [m for p in programs for m in network.members(p)] + [SIZE]
    every = Scored.of(config, key, list(dict.fromkeys(programs + extra)), tasks, archs)
    like = size_like(config, every, programs)
    fitness = np.where(like, INVALID, every.fitness[every.rows(programs)])
    return every.subset(programs, fitness), int(like.sum())


def screen_ok(scores: np.ndarray) -> np.ndarray:
    """[P, N, K] screening scores -> [P] whether each program passes: finite everywhere and,
    with N >= 2 networks, not the same on all of them (a rank correlation needs a difference;
    EZNAS's check computed tau on two networks and rejected NaN)."""
    ok = np.isfinite(scores).all(axis=(1, 2))
    if scores.shape[1] >= 2:
        means = scores.mean(axis=2)
        ok &= means.max(axis=1) > means.min(axis=1)  # False where NaN
    return ok


def screen_stats(
    config: SearchConfig, key: jax.Array, tasks: Sequence[TaskData], archs: list[list]
) -> list[StackedStats]:
    """Per task, the statistics of its first ``screen_archs`` sampled architectures."""
    screen = []
    terminals = stats.TERMINALS + config.measured_terminals
    host = default_executor() == "host"  # NumPy statistics for the NumPy executor: no copy
    for td, task_archs in zip(tasks, archs):
        settings = td.settings(config.settings)
        st = [
            arch_stats(key, td.space, a, td.task.dataset, terminals, settings, host=host)
            for a in task_archs[: config.screen_archs]
        ]
        screen.append(StackedStats.of(st, settings.num_inits))
        del st
    return screen


def dependence_runs(
    config: SearchConfig, key: jax.Array, tasks: Sequence[TaskData], archs: list[list]
) -> list[StackedStats] | None:
    """``structural.check_runs`` on the first task's screening architectures, if the search
    rejects structural children (``require_data_dependence``), else None."""
    if not config.require_data_dependence:
        return None
    td = tasks[0]
    return structural.check_runs(
        jax.random.fold_in(key, 1),
        td.space,
        archs[0][: config.screen_archs],
        td.task.dataset,
        td.settings(config.settings),
    )


def make_offspring(
    config: SearchConfig,
    keys: GenerationKeys,
    parents: Sequence[Program],
    screen: Sequence[StackedStats],
    dependence: Sequence[StackedStats] | None = None,
) -> tuple[list[Program], int, int, int]:
    """``config.offspring`` children valid on the screening statistics: ``immigrants`` fresh
    random programs (``gen_half_and_half``, the EZNAS paper's immigrants), the rest made by
    ``var_or`` from ``parents``. With ``dependence`` (``dependence_runs``), children must
    also be data-dependent there (``structural.dependent_in`` with ``config.dependence_on``).

    Returns:
      (children, immigrants, rejected, rounds): children lists the varied ones, then the
      ``immigrants`` fresh ones; rejected counts candidates that failed ``screen_ok`` on some
      task's screening architectures or were structural (each distinct program is screened
      once).
    """
    wanted = {"varied": config.offspring - config.immigrants, "fresh": config.immigrants}
    made: dict[str, list[Program]] = {"varied": [], "fresh": []}
    verdict: dict[Program, bool] = {}
    rejected, rounds = 0, 0
    while any(len(made[s]) < wanted[s] for s in made) and rounds < config.max_rounds:
        candidates: dict[str, list[Program]] = {}
        if len(made["varied"]) < wanted["varied"]:
            candidates["varied"] = ops.var_or(
                jax.random.fold_in(keys.variation, rounds),
                parents,
                wanted["varied"] - len(made["varied"]),
                config.cx_prob,
                config.mut_prob,
                config.mutations,
                config.max_height,
                config.mut_heights,
                config.trees,
                config.measured_terminals,
            )
        if len(made["fresh"]) < wanted["fresh"]:
            round_keys = jax.random.split(
                jax.random.fold_in(keys.immigrants, rounds), wanted["fresh"] - len(made["fresh"])
            )
            candidates["fresh"] = [config.random_program(k) for k in round_keys]
        rounds += 1
        new = list(dict.fromkeys(c for cs in candidates.values() for c in cs if c not in verdict))
        if new:
            ok = np.ones(len(new), bool)
            for st in screen:
                ok &= screen_ok(st.scores(new))
            if dependence is not None:
                kept = [c for c, o in zip(new, ok) if o]
                ok[ok] = structural.dependent_in(dependence, kept, config.dependence_on)
            verdict.update(zip(new, ok.tolist()))
        for source, cs in candidates.items():
            for c in cs:
                if verdict[c]:
                    made[source].append(c)
                else:
                    rejected += 1
    return made["varied"] + made["fresh"], len(made["fresh"]), rejected, rounds


def promotion_pool(
    config: SearchConfig, scored: Scored, parents: Sequence[Program]
) -> list[Program]:
    """The programs re-scored on the larger sample: the ``ceil(promote_fraction * V)`` best of
    the V distinct valid children in ``scored`` (at least one child), then ``parents`` (the
    previous survivors; in generation 0 the random initial population) not among them."""
    valid = int(np.sum(scored.fitness > INVALID))
    n = max(1, math.ceil(config.promote_fraction * valid))
    order = np.argsort(-scored.fitness, kind="stable")[:n]
    return list(dict.fromkeys([scored.programs[i] for i in order] + list(parents)))


def climb_weights(
    config: SearchConfig, tasks: Sequence[TaskData], scored: Scored, program: Program
) -> tuple[Scored, Program]:
    """Hill-climbs ``program``'s member weights on ``scored``'s sample (ours, a memetic step):
    while some ``operators.weight_moves`` neighbour (one copy of a member added or removed,
    up to ``config.trees`` trees) has a higher fitness there, moves to the best of them.
    ``scored`` holds the members; the neighbours are added to it (``Scored.with_ensembles``).
    Returns (scored with every neighbour tried, the best weighting found)."""
    best = program
    while True:
        moves = ops.weight_moves(best, config.trees, config.align)
        if not moves:
            return scored, best
        scored = scored.with_ensembles(config, tasks, moves)
        fitness = scored.fitness[scored.rows(moves)]
        i = int(np.argmax(fitness))  # the first of equals: the move order is deterministic
        if fitness[i] <= scored.fitness[scored.rows([best])[0]]:
            return scored, best
        best = moves[i]


def promote(
    config: SearchConfig,
    key: jax.Array,
    pool: Sequence[Program],
    tasks: Sequence[TaskData],
    archs: list[list],
) -> tuple[Scored, list[Program], list[float]]:
    """``pool`` re-scored on the larger sample ``archs`` (``score_bounded``). With
    ``config.tune_weights`` the members of its ensembles are scored too (in the same call, so
    no extra network runs: ``score_programs`` evaluates members once) and the
    ``tune_weights`` fittest valid ensembles are hill-climbed over their weights
    (``climb_weights``); better weightings join the candidates.

    Returns:
      (scored, candidates, gains): ``scored`` holds exactly ``candidates`` (the pool, then the
      tuned ensembles new to it); ``gains`` the fitness each tuned ensemble gained over its
      origin.
    """
    pool = list(dict.fromkeys(pool))
    if not config.tune_weights:
        return score_bounded(config, key, pool, tasks, archs)[0], pool, []
    members = [m for p in pool for m in network.parts(p) if p.kind == E]
    members += [network.SIZE] if config.align else []  # what aligning a member reads
    every, _ = score_bounded(config, key, pool + members, tasks, archs)
    fitness = every.fitness[every.rows(pool)]
    order = [i for i in np.argsort(-fitness, kind="stable") if fitness[i] > INVALID]
    ensembles = [pool[i] for i in order if pool[i].kind == E][: config.tune_weights]
    candidates, gains = list(pool), []
    for origin in ensembles:
        every, tuned = climb_weights(config, tasks, every, origin)
        if tuned != origin and tuned not in candidates:
            candidates.append(tuned)
            after, before = every.fitness[every.rows([tuned, origin])]
            gains.append(float(after - before))
    return every.subset(candidates), candidates, gains


def select(
    config: SearchConfig,
    key: jax.Array,
    children: Sequence[Program],
    fitness: np.ndarray,
    rankings: Sequence[Hashable] | None = None,
    values: np.ndarray | None = None,
) -> tuple[Program, ...]:
    """Elites, then tournament (or lexicase) winners, de-duplicated by ``config.dedupe``
    (then, with ``fill_survivors``, the fittest valid candidates not represented, up to
    ``survivors``): the next generation's parents. ``rankings`` (``fitness.rankings``, one per
    child) are needed for ``dedupe="ranking"``, ``values`` ([children, T] per-task values,
    ``fitness.task_values``) for ``selection="lexicase"``."""
    if config.dedupe == "ranking" and rankings is None:
        raise ValueError("dedupe='ranking' needs the children's rankings.")
    if config.selection == "lexicase" and values is None:
        raise ValueError("selection='lexicase' needs the children's per-task values.")
    order = np.argsort(-fitness, kind="stable")
    elites: list[int] = []
    for i in order:
        if len(elites) == config.elites:
            break
        if children[i] not in [children[j] for j in elites] and fitness[i] > INVALID:
            elites.append(int(i))
    k = config.survivors - len(elites)
    if config.selection == "lexicase":
        valid = np.asarray(fitness) > INVALID  # an invalid program's values count as -inf
        winners = ops.sel_lexicase(key, np.where(valid[:, None], values, -np.inf), k)
    else:
        winners = ops.sel_tournament(key, fitness, k, config.tournament)
    chosen = elites + [int(i) for i in winners]
    tags = {
        "fitness": lambda i: float(fitness[i]),
        "program": lambda i: children[i],
        "ranking": lambda i: ("ranking", rankings[i]),  # None (invalid) is one ranking too
    }[config.dedupe]
    seen, out = set(), []
    refill = [int(i) for i in order if fitness[i] > INVALID] if config.fill_survivors else []
    for i in chosen + refill:
        if len(out) == config.survivors:
            break
        tag = tags(i)
        if tag not in seen:
            seen.add(tag)
            out.append(children[i])
    return tuple(out)


def select_scored(
    config: SearchConfig, key: jax.Array, scored: Scored, candidates: Sequence[Program]
) -> tuple[tuple[Program, ...], int]:
    """``select`` over ``candidates`` (programs of ``scored``, repeats allowed) on their
    fitness in ``scored``. Returns (next parents, row in ``scored`` of the best candidate)."""
    rows = scored.rows(candidates)
    fitness = scored.fitness[rows]
    rankings = None
    if config.dedupe == "ranking":
        every = fit.rankings(scored.scores)
        rankings = [every[i] for i in rows]
    values = None
    if config.selection == "lexicase":
        values = fit.task_values(scored.taus[rows], config.correlation)
    population = select(config, key, candidates, fitness, rankings, values)
    return population, int(rows[np.argmax(fitness)])


def _validation_fitness(
    config: SearchConfig, tasks: Sequence[TaskData], program: Program, cache: dict[str, float]
) -> dict[str, float]:
    """``cache`` with ``program``'s fitness on the validation sample added if missing: the
    ``validation_archs`` per task and key that ``heldout.final_programs`` validates with."""
    if not config.validation_archs or str(program) in cache:
        return cache
    key = validation_key(config.seed)
    archs = sample_task_archs(key, tasks, config.validation_archs)
    value = Scored.of(config, key, [program], tasks, archs).fitness[0]
    return {**cache, str(program): float(value)}


def _archived(archive: dict[str, list[list]], g: int, stages: Sequence[Scored]) -> dict:
    """``archive`` with one ``[g, fitness, archs per task]`` per program scored in generation
    ``g``: from the last of ``stages`` (the larger sample) that scored it."""
    evaluated = {}
    for scored in stages:
        n = min((len(a) for a in scored.archs), default=0)
        evaluated.update((p, (f, n)) for p, f in zip(scored.programs, scored.fitness.tolist()))
    out = {name: list(evals) for name, evals in archive.items()}
    for program, (value, n) in evaluated.items():
        out.setdefault(str(program), []).append([g, float(value), n])
    return out


def _best_record(
    config: SearchConfig, tasks: Sequence[TaskData], scored: Scored, best: int
) -> dict:
    """History fields of the generation's best, row ``best`` of the selection's ``scored``."""
    se = fit.fitness_jackknife_se(
        [s[best] for s in scored.scores],
        [td.target(a) for td, a in zip(tasks, scored.archs)],
        config.correlation,
        config.aggregate,
        scored.references,
    )
    return {
        "best_fitness": float(scored.fitness[best]),
        "best_fitness_se": _json_float(se),
        "best_program": str(scored.programs[best]),
        "best_taus": {
            str(td.task): _json_float(scored.taus[best, t]) for t, td in enumerate(tasks)
        },
    }


def run_generation(
    config: SearchConfig, tasks: Sequence[TaskData], state: SearchState
) -> SearchState:
    """One generation from ``state`` (pure: returns a new state; see the module doc)."""
    g = state.generation
    keys = GenerationKeys.of(config, g)
    t0 = time.perf_counter()
    archs = sample_task_archs(keys.archs, tasks, config.archs_per_task)
    screen = screen_stats(config, keys.stats, tasks, archs)
    dependence = dependence_runs(config, keys.stats, tasks, archs)
    t_screen = time.perf_counter()
    children, immigrants, rejected, rounds = make_offspring(
        config, keys, state.population, screen, dependence
    )
    dependent_parents = None
    if dependence is not None:
        dependent_parents = structural.dependent_in(
            dependence, list(state.population), config.dependence_on
        )
    del screen, dependence
    t_children = time.perf_counter()
    small, size_like_children = score_bounded(config, keys.stats, children, tasks, archs)
    t_evaluation = time.perf_counter()
    chosen, candidates, gains = small, children, []
    if config.promote_archs:
        parents = state.population
        if dependent_parents is not None:  # structural parents (seeds, generation 0) go no further
            parents = [p for p, d in zip(parents, dependent_parents) if d]
        pool = promotion_pool(config, small, parents)
        big_archs = sample_task_archs(keys.promotion, tasks, config.promote_archs)
        chosen, candidates, gains = promote(config, keys.stats, pool, tasks, big_archs)
    population, best = select_scored(config, keys.selection, chosen, candidates)
    t_promotion = time.perf_counter()
    validation = _validation_fitness(config, tasks, chosen.programs[best], state.validation)
    t_end = time.perf_counter()

    invalid_full = int(np.sum(small.fitness <= INVALID))
    record = {
        "generation": g,
        **_best_record(config, tasks, chosen, best),
        "validation_fitness": validation.get(str(chosen.programs[best])),
        "median_fitness": float(np.median(small.fitness[small.rows(children)])),
        "invalid": rejected + invalid_full,
        "rejected_by_screen": rejected,
        "invalid_in_evaluation": invalid_full,
        "size_like": size_like_children,
        "children": len(children),
        "distinct_children": len(small.programs),
        "distinct_rankings": len({r for r in fit.rankings(small.scores) if r is not None}),
        "immigrants": immigrants,
        "promoted": len(chosen.programs) if chosen is not small else 0,
        "promote_archs": config.promote_archs,
        "tuning_gains": gains,  # per ensemble whose weights ``tune_weights`` improved
        "rounds": rounds,
        "population": len(population),
        "wall_time_s": round(t_end - t0, 3),
        "screen_stats_s": round(t_screen - t0, 3),
        "children_s": round(t_children - t_screen, 3),
        "evaluation_s": round(t_evaluation - t_children, 3),
        "promotion_s": round(t_promotion - t_evaluation, 3),
        "validation_s": round(t_end - t_promotion, 3),
    }
    archive = _archived(state.archive, g, [small, chosen])
    return SearchState(g + 1, population, archive, (*state.history, record), validation)


def _json_float(x) -> float | None:
    return float(x) if np.isfinite(x) else None
