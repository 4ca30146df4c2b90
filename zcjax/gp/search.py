"""The EZNAS generation loop: evolve proxy programs, checkpointed after every generation.

One generation (EZNAS's schedule, every number a ``SearchConfig`` setting):
1. Each task samples ``archs_per_task`` architectures from the space's *search split* with the
   generation's key; the generation's statistics use that key too.
2. ``var_or`` makes ``offspring`` (lambda = 50) children of the population by crossover
   (p 0.4), mutation (p 0.4) or copy. A child counts only if its scores on the first
   ``screen_archs`` architectures of every task are finite and not all equal (``screen_ok``),
   as EZNAS's quick validity check required; rejected children are counted and replaced, for
   at most ``max_rounds`` rounds.
3. Every distinct child is scored population-major (``evaluate.StackedStats``): the
   statistics of each sampled (architecture, init) are computed once, all children read them.
   Fitness = Kendall tau with accuracy, worst (or mean) over tasks (``fitness``).
4. ``survivors`` (mu = 25) are chosen by tournament (size 4) from the children -- after the
   ``elites`` best, if any -- then de-duplicated (by fitness as EZNAS did, or by program);
   ``immigrants`` fresh random programs may join the next generation's parents.

Every evaluated program's fitness per generation is kept in ``SearchState.archive``; the best
programs (mean fitness over the generations they were scored in) go to ``heldout``, which
scores them on the disjoint *test split*.

Randomness: all keys derive from ``seed`` -- generation g uses ``fold_in(key_generations, g)``
-- so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import dataclasses
import os
import time
import zlib
from collections.abc import Callable, Hashable, Sequence

import jax
import numpy as np

from zcjax import scoring, stats
from zcjax.gp import checkpoint
from zcjax.gp import fitness as fit
from zcjax.gp import operators as ops
from zcjax.gp.checkpoint import CheckpointError
from zcjax.gp.evaluate import StackedStats
from zcjax.gp.fitness import INVALID, Task
from zcjax.keys import host_rng
from zcjax.program import Program, parse
from zcjax.program.kinds import KINDS
from zcjax.scoring import arch_stats  # the statistics score.py computes, so scores agree
from zcjax.spaces import Benchmark, SearchSpace, get_space

Progress = Callable[[str, dict], None]


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Settings of a search; defaults are EZNAS's (``evol_config.yaml``) unless noted.

    Attributes:
      tasks: (space, dataset) pairs; fitness is aggregated over them.
      population: size of the random initial population (EZNAS 50).
      generations: generations to run (EZNAS 10).
      offspring: valid children made per generation, lambda (EZNAS 50).
      survivors: children kept as the next parents, mu (EZNAS 25).
      cx_prob, mut_prob: crossover and mutation probabilities (EZNAS 0.4, 0.4).
      mutations: mutation operators drawn uniformly (EZNAS: ``("uniform",)``).
      tournament: tournament size (EZNAS 4).
      init_heights: heights of initial programs (EZNAS 2-6).
      mut_heights: heights of ``mut_uniform``'s new subtrees (EZNAS 0-5).
      max_height: ``static_limit`` on crossover and mutation (EZNAS 10).
      root_kinds: kinds an initial program may have (all: the mean of any output is a score).
      archs_per_task: architectures sampled per task and generation, M (EZNAS 20).
      correlation: ``"signed"`` (default, see ``fitness``) or ``"absolute"`` (EZNAS).
      aggregate: ``"min"`` over tasks (EZNAS) or ``"mean"``.
      dedupe: after selection, drop programs of equal ``"fitness"`` (EZNAS) or equal
        ``"program"``.
      elites: best distinct children kept before the tournament (EZNAS: 0).
      immigrants: fresh random programs added to the parents each generation (EZNAS: 0; the
        paper's variant).
      screen_archs: architectures per task a child must be valid on to count (ours; EZNAS's
        check used 2 networks of one task).
      max_rounds: rounds of children making before a generation goes on with fewer.
      arch_chunk: architectures whose statistics are held in memory at once.
      test_archs: size of each space's held-out test split (disjoint from the search split).
      seed: the one seed every key derives from.
      settings: how networks are run (inputs, batch size, K inits, init scheme).
    """

    tasks: tuple[Task, ...] = (Task("nb201", "cifar10"), Task("nb201", "cifar100"))
    population: int = 50
    generations: int = 10
    offspring: int = 50
    survivors: int = 25
    cx_prob: float = 0.4
    mut_prob: float = 0.4
    mutations: tuple[str, ...] = ("uniform",)
    tournament: int = 4
    init_heights: tuple[int, int] = (2, 6)
    mut_heights: tuple[int, int] = (0, 5)
    max_height: int = 10
    root_kinds: tuple[str, ...] = KINDS
    archs_per_task: int = 20
    correlation: str = "signed"
    aggregate: str = "min"
    dedupe: str = "fitness"
    elites: int = 0
    immigrants: int = 0
    screen_archs: int = 2
    max_rounds: int = 20
    arch_chunk: int = 4
    test_archs: int = 1000
    seed: int = 0
    settings: scoring.Settings = scoring.Settings(num_inits=1, batch_size=16, normalization="eznas")

    def validate(self) -> None:
        """Raises ValueError naming the first bad setting."""
        if not self.tasks:
            raise ValueError("No tasks.")
        checks = [
            (self.population >= 2, "population must be at least 2"),
            (self.generations >= 0, "generations must be >= 0"),
            (self.offspring >= 1, "offspring must be >= 1"),
            (1 <= self.survivors <= self.offspring, "survivors must be in [1, offspring]"),
            (0 <= self.elites <= self.survivors, "elites must be in [0, survivors]"),
            (self.immigrants >= 0, "immigrants must be >= 0"),
            (self.cx_prob >= 0 and self.mut_prob >= 0, "probabilities must be >= 0"),
            (self.cx_prob + self.mut_prob <= 1, "cx_prob + mut_prob must be <= 1"),
            (self.tournament >= 1, "tournament must be >= 1"),
            (0 <= self.init_heights[0] <= self.init_heights[1], "bad init_heights"),
            (0 <= self.mut_heights[0] <= self.mut_heights[1], "bad mut_heights"),
            (self.max_height >= self.init_heights[1], "max_height below init_heights"),
            (self.archs_per_task >= 3, "archs_per_task must be >= 3 for a rank correlation"),
            (1 <= self.screen_archs <= self.archs_per_task, "screen_archs in [1, archs]"),
            (self.arch_chunk >= 1 and self.max_rounds >= 1, "arch_chunk/max_rounds >= 1"),
            (self.test_archs >= 3, "test_archs must be >= 3"),
            (self.settings.num_inits >= 1, "num_inits must be >= 1"),
            (self.correlation in fit.CORRELATIONS, f"correlation not in {fit.CORRELATIONS}"),
            (self.aggregate in fit.AGGREGATES, f"aggregate not in {fit.AGGREGATES}"),
            (self.dedupe in ("fitness", "program"), "dedupe must be 'fitness' or 'program'"),
            (set(self.root_kinds) <= set(KINDS) and self.root_kinds, f"root_kinds in {KINDS}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"Bad search setting: {message}.")
        unknown = [m for m in self.mutations if m not in ops.MUTATIONS]
        if unknown or not self.mutations:
            raise ValueError(f"Unknown mutations {unknown}; known: {', '.join(ops.MUTATIONS)}.")
        for task in self.tasks:
            space = get_space(task.space)
            if task.dataset not in space.datasets:
                raise ValueError(
                    f"Task {task}: space {space.name!r} has no dataset {task.dataset!r}; "
                    f"expected one of {space.datasets}."
                )

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["tasks"] = [str(t) for t in self.tasks]
        return d

    @classmethod
    def from_json(cls, d: dict) -> SearchConfig:
        d = dict(d)
        d["tasks"] = fit.parse_tasks(",".join(d["tasks"]))
        d["settings"] = scoring.Settings(**d["settings"])
        for name in ("init_heights", "mut_heights", "mutations", "root_kinds"):
            d[name] = tuple(d[name])
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class SearchState:
    """Where a search stands after ``generation`` completed generations.

    ``archive`` maps a program's text to its ``[generation, fitness]`` evaluations (the
    fitness cache); ``history`` holds one record per generation.
    """

    generation: int
    population: tuple[Program, ...]
    archive: dict[str, list[list]]
    history: tuple[dict, ...]

    def to_json(self) -> dict:
        return {
            "generation": self.generation,
            "population": [str(p) for p in self.population],
            "archive": self.archive,
            "history": list(self.history),
        }

    @classmethod
    def from_json(cls, d: dict) -> SearchState:
        if not isinstance(d["history"], list) or not all(isinstance(r, dict) for r in d["history"]):
            raise TypeError("history is not a list of generation records")
        return cls(
            generation=int(d["generation"]),
            population=tuple(parse(t) for t in d["population"]),
            archive={k: [list(e) for e in v] for k, v in d["archive"].items()},
            history=tuple(d["history"]),
        )


@dataclasses.dataclass(frozen=True)
class Keys:
    """The run's keys, all from ``seed``."""

    population: jax.Array
    split: jax.Array
    generations: jax.Array
    test: jax.Array

    @classmethod
    def of(cls, seed: int) -> Keys:
        return cls(*jax.random.split(jax.random.key(seed), 4))


def initial_state(config: SearchConfig) -> SearchState:
    """Generation 0: ``population`` random programs (``gen_half_and_half``), not yet scored."""
    keys = jax.random.split(Keys.of(config.seed).population, config.population)
    lo, hi = config.init_heights
    population = tuple(ops.gen_half_and_half(k, lo, hi, kinds=config.root_kinds) for k in keys)
    return SearchState(0, population, {}, ())


# ----------------------------------------------------------------------------- tasks


@dataclasses.dataclass(frozen=True)
class TaskData:
    """A task's space, ground truth and its search / test split of the space's architectures."""

    task: Task
    space: SearchSpace
    benchmark: Benchmark
    target_name: str
    search: tuple[Hashable, ...]
    test: tuple[Hashable, ...]

    def target(self, archs: Sequence[Hashable]) -> np.ndarray:
        return self.benchmark.column(self.target_name, archs)


def split_archs(key: jax.Array, pool: Sequence[Hashable], test_archs: int):
    """(search, test): a seeded permutation of ``pool``; its first ``test_archs`` are the test
    split, the rest the search split (disjoint by construction)."""
    if test_archs >= len(pool):
        raise ValueError(f"test_archs={test_archs} leaves no search split of {len(pool)} archs.")
    order = host_rng(key).permutation(len(pool))
    test = tuple(pool[i] for i in np.sort(order[:test_archs]))
    search = tuple(pool[i] for i in np.sort(order[test_archs:]))
    return search, test


def load_tasks(config: SearchConfig) -> list[TaskData]:
    """Ground truth and splits of every task (one split per space, shared by its datasets)."""
    out = []
    split_key = Keys.of(config.seed).split
    for task in config.tasks:
        space = get_space(task.space)
        benchmark = space.load_benchmark(config.settings.data_dir)
        target = task.target or space.default_target(task.dataset)
        if target not in benchmark.table:
            raise ValueError(f"Task {task}: unknown target column {target!r}.")
        pool = benchmark.archs if space.enumerate is None else space.enumerate()
        search, test = split_archs(
            jax.random.fold_in(split_key, _space_id(task.space)), pool, config.test_archs
        )
        out.append(TaskData(task, space, benchmark, target, search, test))
    return out


def _space_id(name: str) -> int:
    """Folded into the split key per space. NB201 keeps the id its splits were made with (its
    first 4 bytes); others hash the whole name, as all ``nds_*`` names share 4 bytes."""
    if name == "nb201":
        return int.from_bytes(name.encode()[:4], "little")
    return zlib.crc32(name.encode())


# ----------------------------------------------------------------------------- statistics


def score_programs(
    key: jax.Array,
    programs: Sequence[Program],
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: scoring.Settings,
    arch_chunk: int = 4,
) -> np.ndarray:
    """Population-major scores: [P, N] (mean over K inits) of each program on each arch.

    The statistics of ``arch_chunk`` architectures at a time are computed once (only the
    terminals the programs read) and every program is evaluated on them.
    """
    out = np.full((len(programs), len(archs)), np.nan)
    terminals = tuple(t for t in stats.TERMINALS if any(t in p.terminals for p in programs))
    if not programs:
        return out
    k = settings.num_inits
    for start in range(0, len(archs), arch_chunk):
        chunk = archs[start : start + arch_chunk]
        st = [arch_stats(key, space, a, dataset, terminals, settings) for a in chunk]
        stacked = StackedStats.of(st, k)
        del st  # only the stacked copy stays in memory while the programs run
        with np.errstate(invalid="ignore"):
            out[:, start : start + len(chunk)] = stacked.scores(programs).mean(-1)
        del stacked
    return out


def task_fitness(
    config: SearchConfig,
    key: jax.Array,
    programs: Sequence[Program],
    tasks: Sequence[TaskData],
    archs: Sequence[Sequence[Hashable]],
) -> tuple[np.ndarray, np.ndarray]:
    """Per-task taus [P, T] of ``programs`` on each task's ``archs`` and their fitness [P]."""
    taus = np.full((len(programs), len(tasks)), np.nan)
    for t, (td, task_archs) in enumerate(zip(tasks, archs)):
        scores = score_programs(
            key,
            programs,
            td.space,
            task_archs,
            td.task.dataset,
            config.settings,
            config.arch_chunk,
        )
        taus[:, t] = fit.kendall_tau_rows(scores, td.target(task_archs))
    return taus, fit.fitness_from_taus(taus, config.correlation, config.aggregate)


# ----------------------------------------------------------------------------- one generation


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


def sample_task_archs(key: jax.Array, tasks: Sequence[TaskData], m: int) -> list[list]:
    """``m`` distinct search-split architectures per task (task t draws with fold_in(key, t))."""
    out = []
    for t, td in enumerate(tasks):
        picks = host_rng(jax.random.fold_in(key, t)).choice(len(td.search), m, replace=False)
        out.append([td.search[i] for i in picks])
    return out


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


def best_programs(state: SearchState, k: int) -> list[tuple[Program, float, int]]:
    """The ``k`` archived programs of best mean fitness: (program, mean fitness, evaluations);
    ties keep the earlier-archived program."""
    ranked = sorted(
        (
            (np.mean([f for _, f in ev]), i, name, len(ev))
            for i, (name, ev) in enumerate(state.archive.items())
        ),
        key=lambda r: (-r[0], r[1]),
    )
    return [(parse(name), float(m), n) for m, _, name, n in ranked[:k]]


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A program picked at the end of a search, with its fitness during the search (mean over
    the generations it was scored in) and on the validation sample (None if not validated)."""

    program: Program
    search_fitness: float
    evaluations: int
    validation_fitness: float | None = None


def validation_key(seed: int) -> jax.Array:
    """Key of the validation sample: distinct from every search and test key of the run."""
    return jax.random.fold_in(Keys.of(seed).split, 0)


def final_programs(
    config: SearchConfig,
    tasks: Sequence[TaskData],
    state: SearchState,
    top_k: int,
    candidates: int = 10,
    validate_archs: int = 100,
) -> list[Candidate]:
    """The ``top_k`` programs to report.

    A program's search fitness comes from 20 architectures per task, often from one
    generation, so the archive's best are partly lucky. The ``candidates`` best by search
    fitness are therefore re-scored on ``validate_archs`` fresh architectures per task from the
    *search* split (the test split stays unseen) and ranked by that fitness; ties keep the
    search order. ``validate_archs=0`` keeps the search ranking.
    """
    best = [Candidate(p, f, n) for p, f, n in best_programs(state, max(candidates, top_k))]
    if validate_archs <= 0 or not best:
        return best[:top_k]
    key = validation_key(config.seed)
    archs = sample_task_archs(key, tasks, validate_archs)
    programs = [c.program for c in best]
    _, values = task_fitness(config, key, programs, tasks, archs)
    order = np.argsort(-values, kind="stable")[:top_k]
    return [dataclasses.replace(best[i], validation_fitness=float(values[i])) for i in order]


# ----------------------------------------------------------------------------- work folder

CHECKPOINT = "checkpoint.json"
HISTORY = "history.jsonl"
_FORMAT = 1


def save(workdir: str | os.PathLike, config: SearchConfig, state: SearchState) -> None:
    """Writes ``history.jsonl`` then ``checkpoint.json``, each atomically; the checkpoint is
    the source of truth (a history rewritten ahead of it is rewritten again on resume)."""
    checkpoint.save_jsonl(os.path.join(workdir, HISTORY), state.history)
    doc = {
        "format": _FORMAT,
        "config": config.to_json(),
        "key": np.asarray(jax.random.key_data(jax.random.key(config.seed))).tolist(),
        "state": state.to_json(),
    }
    checkpoint.save_json(os.path.join(workdir, CHECKPOINT), doc)


def resume(workdir: str | os.PathLike, config: SearchConfig) -> SearchState | None:
    """The state saved in ``workdir``, or None if there is none.

    Raises ValueError if the folder holds a search with other settings (only ``generations``
    may change, to extend a finished run).
    """
    path = os.path.join(workdir, CHECKPOINT)
    if not os.path.exists(path):
        return None
    try:
        saved, state = read_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(
            f"{e}; delete it to start the search afresh, or use another workdir."
        ) from None
    saved = saved.to_json()
    now = config.to_json()
    for d in (saved, now):  # where the data lives is not a search setting
        d["settings"] = {k: v for k, v in d["settings"].items() if k != "data_dir"}
    differ = sorted(k for k in now if k != "generations" and saved.get(k) != now[k])
    if differ:
        details = "; ".join(f"{k}: saved {saved.get(k)!r}, now {now[k]!r}" for k in differ)
        raise ValueError(
            f"{workdir} holds a search with other settings ({details}). Use another workdir "
            "or the same settings to resume."
        )
    checkpoint.save_jsonl(os.path.join(workdir, HISTORY), state.history)
    return state


def read_checkpoint(path: str | os.PathLike) -> tuple[SearchConfig, SearchState]:
    """The config and state saved at ``path``; CheckpointError (a ValueError) naming the file
    if it is damaged or not a checkpoint of this format."""
    doc = checkpoint.load_json(path)
    if not isinstance(doc, dict):
        raise CheckpointError(f"{path} is damaged: a JSON {type(doc).__name__}, not an object")
    if doc.get("format") != _FORMAT:
        raise CheckpointError(
            f"{path} has checkpoint format {doc.get('format')!r}; this code reads {_FORMAT}"
        )
    parts = []
    for name, cls in (("config", SearchConfig), ("state", SearchState)):
        try:
            if not isinstance(doc.get(name), dict):
                raise TypeError("missing or not an object")
            parts.append(cls.from_json(doc[name]))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            lines = str(e).splitlines() or [type(e).__name__]  # a ProgramError's first line
            why = f"no {e} entry" if isinstance(e, KeyError) else lines[0]
            raise CheckpointError(f"{path} is damaged: bad {name!r} ({why})") from None
    return tuple(parts)


# ----------------------------------------------------------------------------- driver


def run(
    config: SearchConfig,
    workdir: str | None = None,
    progress: Progress | None = None,
    stop_after: int | None = None,
) -> SearchState:
    """Runs (or resumes) a search to ``config.generations``.

    With ``workdir``, a checkpoint (``checkpoint.json``: config, state) and ``history.jsonl``
    are written atomically after every generation, and an existing checkpoint is resumed --
    the result is the same as an uninterrupted run. ``stop_after`` ends the call after that
    many generations of this call (for tests and time-boxed jobs).
    """
    config.validate()
    tasks = load_tasks(config)
    state = resume(workdir, config) if workdir else None
    if state is None:
        state = initial_state(config)
    if progress is not None:
        progress("start", {"generation": state.generation, "tasks": [str(t.task) for t in tasks]})
    done = 0
    while state.generation < config.generations:
        if stop_after is not None and done >= stop_after:
            break
        state = run_generation(config, tasks, state)
        done += 1
        if workdir:
            save(workdir, config, state)
        if progress is not None:
            progress("generation", state.history[-1])
    return state
