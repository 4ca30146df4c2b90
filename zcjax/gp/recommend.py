"""Which evolved programs to recommend (issue 14): each generation's best program, ranked by
its fitness on its search's fixed validation sample, which is drawn from the search split, so
the choice never sees a test architecture or a test score."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from zcjax.gp import checkpoint
from zcjax.gp import config as configs
from zcjax.gp.generation import Scored
from zcjax.gp.heldout import validation_key
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


def recommend(workdirs: Sequence[str | os.PathLike]) -> list[Recommendation]:
    """Every distinct generation-best of the searches in ``workdirs`` that has a validation
    fitness, best validation fitness first (ties: lower seed, earlier generation). A program
    best in several generations is listed once, at its first. A search's own
    ``seed_programs`` (hand-designed starting points, e.g. EZNAS-A + params) are not
    discoveries and are left out."""
    found: dict[str, Recommendation] = {}
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
            rec = Recommendation(
                record["best_program"],
                float(value),
                float(record["best_fitness"]),
                config.seed,
                int(record["generation"]),
                command,
            )
            if rec.program not in found or _order(rec) < _order(found[rec.program]):
                found[rec.program] = rec
    return sorted(found.values(), key=_order)


def _order(rec: Recommendation) -> tuple:
    return (-rec.validation_fitness, rec.seed, rec.generation)


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
    tasks = load_tasks(config)
    key = validation_key(config.seed)
    archs = sample_task_archs(key, tasks, config.validation_archs)
    with np.errstate(all="ignore"):
        scored = Scored.of(config, key, list(programs), tasks, archs)
    return scored.fitness, scored.taus, [str(td.task) for td in tasks]
