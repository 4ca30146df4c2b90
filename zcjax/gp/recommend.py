"""Which evolved programs to recommend (issue 14): each generation's best program, ranked by
its fitness on its search's fixed validation sample, which is drawn from the search split, so
the choice never sees a test architecture or a test score.

The validation sample (100 architectures per task) picked each generation's best among many,
so the top of that ranking is biased upwards (a winner's curse; the SE of one tau on 100 is
about .05). ``confirm`` re-scores the top candidates on a fresh, larger sample of the same
search split and ranks them by that instead."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

import jax
import numpy as np

from zcjax.gp import checkpoint
from zcjax.gp import config as configs
from zcjax.gp.generation import Scored
from zcjax.gp.heldout import confirmation_key, validation_key
from zcjax.gp.tasks import load_tasks, sample_task_archs
from zcjax.program import Program, parse


@dataclasses.dataclass(frozen=True)
class Recommendation:
    """A generation's best program and where it came from."""

    program: str
    validation_fitness: float
    search_fitness: float
    seed: int
    generation: int
    command: str  # the evolve.py command that ran (and resumes) its search


def search_command(config: configs.SearchConfig, workdir: str) -> str:
    """The ``evolve.py`` command of a saved search: ``--config=NAME --seed=S`` when the search
    is a named config at that seed (generations aside), else a pointer to its checkpoint."""
    saved = _comparable(config)
    for name in configs.CONFIGS:
        named = dataclasses.replace(configs.get_config(name).search, seed=config.seed)
        if _comparable(named) == saved:
            return (
                f"python experiments/evolve.py --config={name} --seed={config.seed} "
                f"--workdir={workdir}"
            )
    return f"python experiments/evolve.py (settings in {workdir}/{checkpoint.CHECKPOINT})"


def _comparable(config: configs.SearchConfig) -> dict:
    d = checkpoint.search_settings(config)
    del d["generations"]  # a search may be extended
    return d


def recommend(
    workdirs: Sequence[str | os.PathLike], per_generation: int = 1
) -> list[Recommendation]:
    """Every distinct generation-best of the searches in ``workdirs`` that has a validation
    fitness, best validation fitness first (ties: lower seed, earlier generation). A program
    best in several generations is listed once, at its first. A search's own
    ``seed_programs`` (hand-designed starting points, e.g. EZNAS-A + params) are not
    discoveries and are left out.

    ``per_generation`` > 1 also lists each generation's next fittest programs on its
    selection sample (the archive's largest sample that generation: the promotion sample),
    up to that many a generation. Their validation fitness is NaN unless they were a best
    (only bests are validated), so they follow the validated ones, by that fitness, until
    ``confirm`` scores them all on one sample."""
    if per_generation < 1:
        raise ValueError(f"per_generation must be >= 1, got {per_generation}")
    found: dict[str, Recommendation] = {}
    others: dict[str, Recommendation] = {}  # runners-up, listed where no best is the same

    def add(into: dict[str, Recommendation], rec: Recommendation) -> None:
        if rec.program not in into or _order(rec) < _order(into[rec.program]):
            into[rec.program] = rec

    for workdir in workdirs:
        path = os.path.join(workdir, checkpoint.CHECKPOINT)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{workdir} has no {checkpoint.CHECKPOINT}")
        config, state = checkpoint.read_checkpoint(path)
        command = search_command(config, str(workdir))
        seeded = {str(parse(text)) for text in config.seed_programs}
        for record in state.history:
            value = record.get("validation_fitness")
            if value is None or record["best_program"] in seeded:
                continue
            best = Recommendation(
                record["best_program"],
                float(value),
                float(record["best_fitness"]),
                config.seed,
                int(record["generation"]),
                command,
            )
            add(found, best)
        fittest = _fittest(state.archive, state.generation, per_generation, seeded)
        for g, text, fitness in fittest if per_generation > 1 else ():
            value = state.validation.get(text, float("nan"))
            add(others, Recommendation(text, value, fitness, config.seed, g, command))
    found.update((t, r) for t, r in others.items() if t not in found)
    return sorted(found.values(), key=_order)


def _fittest(archive: dict[str, list[list]], generations: int, k: int, leave_out: set[str]):
    """``(generation, program text, fitness)`` of each generation's ``k`` fittest programs
    not in ``leave_out`` on that generation's largest sample (the promotion sample)."""
    for g in range(generations):
        evals = [(e[1], e[2], t) for t, es in archive.items() for e in es if e[0] == g]
        if not evals:
            continue
        largest = max(n for _, n, _ in evals)
        fittest = sorted(
            ((f, t) for f, n, t in evals if n == largest and t not in leave_out), reverse=True
        )
        for f, t in fittest[:k]:
            yield g, t, float(f)


def _order(rec: Recommendation) -> tuple:
    unvalidated = bool(np.isnan(rec.validation_fitness))
    value = rec.search_fitness if unvalidated else rec.validation_fitness
    return (unvalidated, -value, rec.seed, rec.generation)


def reference_fitness(
    config: configs.SearchConfig, programs: Sequence[Program]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Known programs (published proxies as network trees, ``log_params``, their ensembles)
    scored as the search scored each generation's best: on its validation sample, with its
    fitness. Says how far a search's best is from what hand design reaches.

    Returns:
      (fitness [P], taus [P, T], task names [T]).
    """
    if not config.validation_archs:
        raise ValueError("The search has no validation sample (validation_archs=0).")
    return sample_fitness(config, validation_key(config.seed), programs, config.validation_archs)


def sample_fitness(
    config: configs.SearchConfig, key: jax.Array, programs: Sequence[Program], archs: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``programs`` scored with the search's fitness on ``archs`` search-split architectures
    per task drawn with ``key`` (a task's whole split where it has fewer).

    Returns:
      (fitness [P], taus [P, T], task names [T]).
    """
    tasks = load_tasks(config)
    sample = sample_task_archs(key, tasks, archs)
    with np.errstate(all="ignore"):
        scored = Scored.of(config, key, list(programs), tasks, sample)
    return scored.fitness, scored.taus, [str(td.task) for td in tasks]


@dataclasses.dataclass(frozen=True)
class Confirmed:
    """A recommendation with its fitness on the confirmation sample of its search's seed."""

    rec: Recommendation
    fitness: float
    taus: tuple[float, ...]
    tasks: tuple[str, ...]


def confirm(
    workdirs: Sequence[str | os.PathLike],
    recs: Sequence[Recommendation],
    archs: int,
    on_seed: Callable[[int, int], None] | None = None,
) -> list[Confirmed]:
    """``recs`` re-scored on a fresh confirmation sample of ``archs`` search-split
    architectures per task (``heldout.confirmation_key``, drawn once per seed, so the programs
    of one seed share it and other seeds draw their own of the same size, as validation
    samples do), best confirmed fitness first (ties: validation order). ``on_seed(seed, n)`` is
    called before each seed's ``n`` programs are scored.
    """
    if archs < 3:
        raise ValueError("The confirmation sample needs at least 3 architectures per task.")
    configs_by_seed = {}
    for workdir in workdirs:
        config = checkpoint.saved_config(workdir)
        configs_by_seed.setdefault(config.seed, config)
    out = []
    for seed in sorted({r.seed for r in recs}):
        mine = [r for r in recs if r.seed == seed]
        if on_seed is not None:
            on_seed(seed, len(mine))
        fitness, taus, tasks = sample_fitness(
            configs_by_seed[seed], confirmation_key(seed), [parse(r.program) for r in mine], archs
        )
        for r, f, t in zip(mine, fitness, taus):
            out.append(Confirmed(r, float(f), tuple(float(v) for v in t), tuple(tasks)))
    order = {r.program: i for i, r in enumerate(recs)}
    return sorted(out, key=lambda c: (-c.fitness, order[c.rec.program]))
