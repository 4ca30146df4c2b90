"""Search tasks: (space, dataset) pairs, their ground truth, and the split of each space's
architectures into a *search split* (fitness, validation) and a disjoint *test split*.

A task's text form is ``space:dataset[:target][@resolution]``; a task with a resolution runs
its networks at that input size (``TaskData.settings``) whatever the search's settings say.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

import jax
import numpy as np

from zcjax.gp.keys import Keys
from zcjax.keys import host_rng
from zcjax.settings import Settings
from zcjax.spaces import Benchmark, SearchSpace, get_space

if TYPE_CHECKING:
    from zcjax.gp.config import SearchConfig


# A search for proxies that generalise: three NB201 datasets and an ImageNet-stem NDS space, all
# at 32x32 or below so a CPU can run it; fitness is the minimum over tasks (``aggregate="min"``,
# the default), so a program must rank every one of them. What each task's networks are fed
# (``zcjax.data.load_images``, ``sample_batch``; the data folder has no ImageNet images):
#   nb201:cifar10             CIFAR-10 training images, 32x32.
#   nb201:cifar100            CIFAR-100 images (only 20 are held: batches above 20 use CIFAR-10
#                             images instead), 32x32.
#   nb201:imagenet16          CIFAR-10 images box-averaged to 16x16, ImageNet16-120's statistics.
#   nds_darts_in:imagenet@32  CIFAR-10 images at their own 32x32 (not the official 224),
#                             ImageNet's statistics; 121 records, so its test split is 60 archs
#                             (``split_sizes``).
NB201_TASKS = "nb201:cifar10,nb201:cifar100,nb201:imagenet16"  # the three datasets alone
GENERAL_TASKS = NB201_TASKS + ",nds_darts_in:imagenet@32"

# At most this fraction of a space goes to its test split, so small spaces keep a search split.
MAX_TEST_FRACTION = 0.5
MIN_TEST_ARCHS = 3  # a rank correlation on the test split needs at least 3 architectures


@dataclasses.dataclass(frozen=True)
class Task:
    """A (space, dataset) pair whose ground truth is the benchmark column ``target`` (None:
    the space's default for the dataset, e.g. validation accuracy); ``resolution`` (None: the
    search's) is the input size its networks run at."""

    space: str
    dataset: str
    target: str | None = None
    resolution: int | None = None

    def __post_init__(self):
        if self.resolution is not None:
            try:
                Settings(resolution=self.resolution)  # one rule for a valid resolution
            except ValueError as e:
                raise ValueError(f"Task {self}: {e}") from None

    def __str__(self) -> str:
        text = f"{self.space}:{self.dataset}" + (f":{self.target}" if self.target else "")
        return text + (f"@{self.resolution}" if self.resolution is not None else "")


def parse_task(item: str) -> Task:
    """``"space:dataset[:target][@resolution]"`` -> a task; ValueError (one line) if malformed."""
    head, at, resolution = item.partition("@")
    parts = head.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(
            f"Task {item!r} is not 'space:dataset' or 'space:dataset:target', each with an "
            "optional '@resolution'."
        )
    if not at:
        return Task(*parts)
    if not (resolution.isascii() and resolution.isdigit()):
        raise ValueError(f"Task {item!r}: resolution {resolution!r} is not an integer.")
    return Task(*parts[:2], parts[2] if len(parts) == 3 else None, int(resolution))


def parse_tasks(text: str) -> tuple[Task, ...]:
    """``"nb201:cifar10,nds_darts_in:imagenet@32"`` (each ``space:dataset[:target]
    [@resolution]``) -> tasks."""
    tasks = [parse_task(item) for item in (t.strip() for t in text.split(",")) if item]
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

    def settings(self, base: Settings) -> Settings:
        """``base`` (the search's settings) at this task's resolution, if it sets one."""
        if self.task.resolution is None:
            return base
        return dataclasses.replace(base, resolution=self.task.resolution)


def split_sizes(
    space: str,
    size: int,
    test_archs: int,
    min_search: int,
    test_fraction: float = MAX_TEST_FRACTION,
) -> tuple[int, int]:
    """(search, test) sizes of a space of ``size`` architectures: the test split takes
    ``min(test_archs, floor(test_fraction * size))``, the search split the rest, which must
    hold ``min_search`` (what a generation samples); ValueError naming the space otherwise."""
    test = min(test_archs, math.floor(test_fraction * size))
    if test < MIN_TEST_ARCHS or size - test < min_search:
        raise ValueError(
            f"Space {space!r} has {size} architectures: too few for a test split of "
            f"{MIN_TEST_ARCHS}..{test_archs} (at most {test_fraction:g} of the space) and a "
            f"search split of at least {min_search}."
        )
    return size - test, test


def split_archs(key: jax.Array, pool: Sequence[Hashable], test_archs: int):
    """(search, test): a seeded permutation of ``pool``; its first ``test_archs`` are the test
    split, the rest the search split (disjoint by construction). ``load_tasks`` sizes
    ``test_archs`` with ``split_sizes``."""
    if test_archs >= len(pool):
        raise ValueError(f"test_archs={test_archs} leaves no search split of {len(pool)} archs.")
    order = host_rng(key).permutation(len(pool))
    test = tuple(pool[i] for i in np.sort(order[:test_archs]))
    search = tuple(pool[i] for i in np.sort(order[test_archs:]))
    return search, test


def load_tasks(config: SearchConfig, min_search: int | None = None) -> list[TaskData]:
    """Ground truth and splits of every task (one split per space, shared by its datasets).

    Each space's test split has ``split_sizes``'s size (``config.test_archs`` unless that is
    over half the space: 60 of ``nds_darts_in``'s 121 records); its search split must hold
    ``min_search`` architectures (None: ``config.archs_per_task``, what a generation samples).
    """
    min_search = config.archs_per_task if min_search is None else min_search
    out = []
    split_key = Keys.of(config.seed).split
    for task in config.tasks:
        space = get_space(task.space)
        benchmark = space.load_benchmark(config.settings.data_dir)
        target = task.target or space.default_target(task.dataset)
        benchmark.require_column(target, context=f"Task {task}: ")
        pool = benchmark.archs if space.enumerate is None else space.enumerate()
        _, test_archs = split_sizes(task.space, len(pool), config.test_archs, min_search)
        search, test = split_archs(
            jax.random.fold_in(split_key, _space_id(task.space)), pool, test_archs
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
    """``m`` distinct search-split architectures per task (task t draws with fold_in(key, t)),
    or the whole split of a task with fewer (``load_tasks`` keeps a generation's ``m``)."""
    out = []
    for t, td in enumerate(tasks):
        n = min(m, len(td.search))
        picks = host_rng(jax.random.fold_in(key, t)).choice(len(td.search), n, replace=False)
        out.append([td.search[i] for i in picks])
    return out
