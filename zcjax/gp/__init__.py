"""Genetic programming over proxy programs: EZNAS's search, population-major and resumable.

- ``operators``: typed tree-GP operators (DEAP's vocabulary), key first, pure.
- ``config``: ``SearchConfig``, ``HeldoutConfig`` and named configurations (``get_config``).
- ``tasks``: (space, dataset) tasks, their ground truth and search / test splits.
- ``evaluate``: every program of a population on statistics computed once.
- ``fitness``: Kendall tau with accuracy, worst (or mean) over tasks; its jackknife SE;
  rankings (for de-duplication by ranking).
- ``state``, ``keys``: where a search stands; its key streams.
- ``generation``: one generation: screen, make children (and immigrants), score, promote the
  best to a larger sample, select, validate the best.
- ``checkpoint``: the work folder, saved atomically and resumed.
- ``search``: the loop, ``run``.
- ``structural``: whether a program's scores depend on the init and the data at all.
- ``heldout``: the final programs (validated on the search split) on each task's test split,
  next to baselines.
"""

from zcjax.gp.config import HeldoutConfig, SearchConfig, get_config
from zcjax.gp.fitness import INVALID
from zcjax.gp.heldout import best_programs
from zcjax.gp.search import run
from zcjax.gp.state import SearchState
from zcjax.gp.tasks import Task, parse_tasks

__all__ = [
    "INVALID",
    "HeldoutConfig",
    "SearchConfig",
    "SearchState",
    "Task",
    "best_programs",
    "get_config",
    "parse_tasks",
    "run",
]
