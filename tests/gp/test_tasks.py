"""Tasks: text form with a resolution, per-task settings, and splits that fit small spaces."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from zcjax.archs import read_archs_file
from zcjax.gp import heldout
from zcjax.gp.config import SearchConfig
from zcjax.gp.keys import Keys
from zcjax.gp.tasks import (
    GENERAL_TASKS,
    MAX_TEST_FRACTION,
    Task,
    TaskData,
    load_tasks,
    parse_tasks,
    sample_task_archs,
    split_sizes,
)
from zcjax.keys import host_rng
from zcjax.settings import Settings
from zcjax.spaces import get_space


def test_text_round_trips_with_target_and_resolution():
    text = "nb201:cifar10,nb201:cifar100:cifar100_test@16,nds_darts_in:imagenet@32"
    tasks = parse_tasks(text)
    assert tasks == (
        Task("nb201", "cifar10"),
        Task("nb201", "cifar100", "cifar100_test", 16),
        Task("nds_darts_in", "imagenet", resolution=32),
    )
    assert ",".join(str(t) for t in tasks) == text
    assert parse_tasks(",".join(str(t) for t in tasks)) == tasks
    # The same dataset at two resolutions is two tasks.
    assert len(parse_tasks("nb201:cifar10,nb201:cifar10@16")) == 2


@pytest.mark.parametrize(
    "text, match",
    [
        ("nb201:cifar10@", "resolution '' is not an integer"),
        ("nb201:cifar10@x32", "resolution 'x32' is not an integer"),
        ("nb201:cifar10@-8", "resolution '-8' is not an integer"),
        ("nb201:cifar10@32@32", "resolution '32@32' is not an integer"),
        ("nb201:cifar10@4", "resolution must be an integer in 8..1024, got 4"),
        ("nb201@32", "is not 'space:dataset"),
    ],
)
def test_bad_resolution_text_is_one_clear_line(text, match):
    with pytest.raises(ValueError, match=match) as e:
        parse_tasks(text)
    assert "\n" not in str(e.value)
    assert text in str(e.value)


def test_general_tasks_name_datasets_their_spaces_have():
    tasks = parse_tasks(GENERAL_TASKS)
    assert len(tasks) == 4 and tasks[-1].resolution == 32
    for task in tasks:
        assert task.dataset in get_space(task.space).datasets


def test_task_settings_take_the_task_resolution():
    base = Settings(batch_size=2, resolution=64)
    plain = TaskData(Task("nb201", "cifar10"), None, None, "acc", (), ())
    sized = TaskData(Task("nds_darts_in", "imagenet", resolution=32), None, None, "acc", (), ())
    assert plain.settings(base) is base
    assert sized.settings(base) == dataclasses.replace(base, resolution=32)
    assert sized.settings(Settings()).resolution == 32


def test_split_sizes_adapt_to_small_spaces():
    assert split_sizes("nb201", 15625, 1000, 20) == (14625, 1000)
    assert split_sizes("nds_darts_in", 121, 1000, 20) == (61, 60)
    assert split_sizes("x", 121, 30, 20) == (91, 30)  # test_archs below the cap is kept
    assert MAX_TEST_FRACTION == 0.5
    with pytest.raises(ValueError, match="'nds_darts_in' has 121 .* at least 62") as e:
        split_sizes("nds_darts_in", 121, 1000, 62)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="'tiny' has 5 architectures"):
        split_sizes("tiny", 5, 1000, 1)  # 2 test archs: too few for a rank correlation


def test_nb201_keeps_its_split_and_a_small_space_gets_half(data_dir):
    config = SearchConfig(tasks=parse_tasks(GENERAL_TASKS), test_archs=1000)
    tasks = load_tasks(config)
    pool = get_space("nb201").enumerate()
    # The formula before small spaces were allowed: the first 1000 of one seeded permutation.
    key = jax.random.fold_in(Keys.of(config.seed).split, int.from_bytes(b"nb20", "little"))
    order = host_rng(key).permutation(len(pool))
    old_test = tuple(pool[i] for i in np.sort(order[:1000]))
    old_search = tuple(pool[i] for i in np.sort(order[1000:]))
    for td in tasks[:3]:
        assert td.test == old_test and td.search == old_search
    nds = tasks[3]
    assert (len(nds.search), len(nds.test)) == (61, 60)
    assert not set(nds.search) & set(nds.test)
    assert len(set(nds.search) | set(nds.test)) == 121
    with pytest.raises(ValueError, match="'nds_darts_in' has 121"):
        load_tasks(dataclasses.replace(config, archs_per_task=62))
    with pytest.raises(ValueError, match="'nds_darts_in' has 121"):
        load_tasks(config, min_search=100)


def test_samples_are_capped_at_the_search_split():
    small = TaskData(Task("nb201", "cifar10"), None, None, "acc", tuple(range(5)), ())
    large = TaskData(Task("nb201", "cifar100"), None, None, "acc", tuple(range(50)), ())
    got = sample_task_archs(jax.random.key(0), [small, large], 8)
    assert sorted(got[0]) == list(range(5)) and len(set(got[1])) == 8
    # A task the cap does not touch draws as before.
    picks = host_rng(jax.random.fold_in(jax.random.key(0), 1)).choice(50, 8, replace=False)
    assert got[1] == [large.search[i] for i in picks]


def test_written_test_splits_read_back_as_the_split(data_dir, tmp_path):
    """``heldout.write_test_splits``: one file per space that ``score.py --archs_file`` reads
    back as exactly that space's test split, never an architecture of the search split."""
    config = SearchConfig(tasks=parse_tasks(GENERAL_TASKS), test_archs=1000, seed=3)
    tasks = load_tasks(config)
    paths = heldout.write_test_splits(config, tmp_path / "splits")
    assert [p.name for p in paths] == ["nb201_seed3_test.txt", "nds_darts_in_seed3_test.txt"]
    for path, td in zip(paths, (tasks[0], tasks[3])):
        archs = read_archs_file(str(path), td.space, td.benchmark)
        assert tuple(archs) == td.test
        assert not set(archs) & set(td.search)
    assert len(tasks[0].test) == 1000 and len(tasks[3].test) == 60
    other = heldout.write_test_splits(dataclasses.replace(config, seed=4), tmp_path / "splits")
    assert other[0].read_text() != paths[0].read_text()  # each seed has its own split


def test_unknown_target_column_is_one_line_naming_the_task():
    config = SearchConfig(tasks=parse_tasks("nb201:cifar10:cifar10_tset"))
    with pytest.raises(ValueError, match="unknown target column 'cifar10_tset'; columns are") as e:
        load_tasks(config)
    assert str(e.value).startswith("Task nb201:cifar10:cifar10_tset: ")
    assert "\n" not in str(e.value) and "cifar10_valid" in str(e.value)
