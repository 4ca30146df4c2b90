"""Search tasks: (space, dataset) pairs, their ground truth, and the split of each space's
architectures into a *search split* (fitness, validation) and a disjoint *test split*."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

import jax
import numpy as np

from zcjax.gp.keys import Keys
from zcjax.keys import host_rng
from zcjax.spaces import Benchmark, SearchSpace, get_space

if TYPE_CHECKING:
    from zcjax.gp.config import SearchConfig


@dataclasses.dataclass(frozen=True)
class Task:
    """A (space, dataset) pair whose ground truth is the benchmark column ``target`` (None:
    the space's default for the dataset, e.g. validation accuracy)."""

    space: str
    dataset: str
    target: str | None = None

    def __str__(self) -> str:
        return f"{self.space}:{self.dataset}" + (f":{self.target}" if self.target else "")


def parse_tasks(text: str) -> tuple[Task, ...]:
    """``"nb201:cifar10,nb201:cifar100"`` (optionally ``space:dataset:target``) -> tasks."""
    tasks = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"Task {item!r} is not 'space:dataset' or 'space:dataset:target'.")
        tasks.append(Task(*parts))
    if not tasks:
        raise ValueError("No tasks given; expected e.g. 'nb201:cifar10,nb201:cifar100'.")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"Tasks repeat: {text!r}.")
    return tuple(tasks)


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


def sample_task_archs(key: jax.Array, tasks: Sequence[TaskData], m: int) -> list[list]:
    """``m`` distinct search-split architectures per task (task t draws with fold_in(key, t))."""
    out = []
    for t, td in enumerate(tasks):
        picks = host_rng(jax.random.fold_in(key, t)).choice(len(td.search), m, replace=False)
        out.append([td.search[i] for i in picks])
    return out
