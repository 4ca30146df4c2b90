"""Genetic programming over proxy programs: EZNAS's search, population-major and resumable.

- ``operators``: typed tree-GP operators (DEAP's vocabulary), key first, pure.
- ``evaluate``: every program of a population on statistics computed once.
- ``fitness``: Kendall tau with accuracy, worst (or mean) over tasks.
- ``search``: the generation loop, checkpointed in a work folder.
- ``heldout``: the best programs on each task's test split, next to baselines.
"""

from zcjax.gp.fitness import INVALID, Task, parse_tasks
from zcjax.gp.search import SearchConfig, SearchState, best_programs, run

__all__ = [
    "INVALID",
    "SearchConfig",
    "SearchState",
    "Task",
    "best_programs",
    "parse_tasks",
    "run",
]
