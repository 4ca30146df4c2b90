"""Held-out evaluation: disjoint key streams, per-task settings, the structural check and an
atomic, NaN-free heldout.json."""

from __future__ import annotations

import dataclasses
import json
import math
import types

import jax
import numpy as np

from zcjax import report
from zcjax.gp import heldout
from zcjax.gp.config import SearchConfig
from zcjax.gp.keys import Keys
from zcjax.gp.state import SearchState
from zcjax.gp.tasks import TaskData, parse_tasks
from zcjax.keys import arch_key
from zcjax.program import parse
from zcjax.settings import Settings
from zcjax.spaces import get_space
from zcjax.spaces.nb201 import NUM_ARCHS


def _key_bytes(key) -> bytes:
    return np.asarray(jax.random.key_data(key)).tobytes()


def test_interval_keys_never_equal_an_architectures_key():
    """Every NB201 arch key of tasks 0-1 versus the bootstrap keys of 20 proxies per task."""
    key_archs, key_intervals = heldout.heldout_keys(0)
    arch_keys = jax.vmap(
        lambda t: jax.vmap(lambda a: arch_key(jax.random.fold_in(key_archs, t), a))(
            np.arange(NUM_ARCHS)
        )
    )(np.arange(2))
    interval_keys = jax.vmap(
        lambda t: jax.vmap(lambda j: jax.random.fold_in(jax.random.fold_in(key_intervals, t), j))(
            np.arange(20)
        )
    )(np.arange(2))
    arch_set = {row.tobytes() for row in np.asarray(jax.random.key_data(arch_keys)).reshape(-1, 2)}
    for row in np.asarray(jax.random.key_data(interval_keys)).reshape(-1, 2):
        assert row.tobytes() not in arch_set
    assert _key_bytes(key_archs) != _key_bytes(key_intervals)


def test_save_writes_nan_as_null_and_leaves_no_temporary(tmp_path):
    nan = math.nan
    rows = [
        heldout.Row(
            "nb201:cifar10",
            "evolved_1",
            "mean(weight)",
            0.5,
            0.6,
            (0.4, 0.6),
            (nan, 0.7),
            24,
            0.3,
            nan,
        ),
        heldout.Row("nb201:cifar10", "params", "", nan, nan, (nan, nan), (nan, nan), 24),
    ]
    path = tmp_path / "heldout.json"
    heldout.save(path, rows, Settings(batch_size=4), test_inits=2)
    doc = json.loads(path.read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["heldout.json"]
    assert doc["test_inits"] == 2 and doc["settings"]["batch_size"] == 4
    assert doc["rows"][0]["rho_ci"] == [None, 0.7] and doc["rows"][0]["validation_fitness"] is None
    assert doc["rows"][1]["kendall_tau"] is None and doc["rows"][1]["program"] == ""


def _candidates(*texts):
    return [heldout.Candidate(parse(t), 0.1 * i, 1, 0.2) for i, t in enumerate(texts)]


def test_mark_structural_checks_two_search_archs_of_the_first_task(monkeypatch):
    """The check's wiring (the check itself: test_structural): the first task's settings,
    2 of its search architectures and keys fixed by the seed."""
    calls = []

    def dependences(key, programs, space, archs, dataset, settings):
        calls.append((_key_bytes(key), archs, dataset, settings))
        reads_data = np.array([p.terminals != ("weight",) for p in programs])
        return {"init_or_inputs": reads_data, "inputs": np.zeros(len(programs), bool)}

    monkeypatch.setattr(heldout, "dependences", dependences)
    config = SearchConfig(
        tasks=parse_tasks("nds_darts_in:imagenet@32,nb201:cifar10"), settings=Settings()
    )
    tasks = [
        TaskData(t, get_space(t.space), None, "acc", tuple(range(100 * i, 100 * i + 10)), ())
        for i, t in enumerate(config.tasks)
    ]
    best = _candidates("numel(weight)", "mean(relu_in@data)")
    marked = heldout.mark_structural(config, tasks, best)
    assert [c.structural for c in marked] == [True, False]
    assert [c.reads_inputs for c in marked] == [False, False]
    assert [dataclasses.replace(c, structural=None, reads_inputs=None) for c in marked] == best
    key, archs, dataset, settings = calls[0]
    assert len(archs) == heldout.STRUCTURAL_ARCHS == len(set(archs))
    assert set(archs) <= set(tasks[0].search) and dataset == "imagenet"
    assert settings == Settings(resolution=32)
    heldout.mark_structural(config, tasks, best)
    assert calls[1][:2] == calls[0][:2]  # same seed, same check
    heldout.mark_structural(dataclasses.replace(config, seed=1), tasks, best)
    assert calls[2][0] != key
    assert key not in {_key_bytes(heldout.validation_key(0)), _key_bytes(Keys.of(0).split)}
    assert heldout.mark_structural(config, tasks, []) == [] and len(calls) == 3


def test_test_split_rows_use_task_settings_and_carry_structural(monkeypatch):
    seen = []

    def score_archs(key, space, archs, proxies, dataset, settings, progress=None):
        seen.append(settings)
        x = np.arange(len(archs), dtype=np.float64)
        return {p.name: x * (i + 1) for i, p in enumerate(proxies)}, None

    monkeypatch.setattr(heldout, "score_archs", score_archs)
    config = SearchConfig(tasks=parse_tasks("nb201:cifar10,nb201:cifar100@16"))
    bench = types.SimpleNamespace(column=lambda name, archs: np.arange(len(archs), dtype=float))
    space = get_space("nb201")
    tasks = [TaskData(t, space, bench, "acc", (), tuple(range(7))) for t in config.tasks]
    best = [
        dataclasses.replace(c, structural=s, reads_inputs=not s)
        for c, s in zip(_candidates("numel(weight)", "mean(relu_in@data)"), [True, False])
    ]
    rows = heldout.score_test_split(
        config, tasks, best, ("eznas_a", "params"), num_inits=2, num_resamples=10
    )
    assert seen == [
        dataclasses.replace(config.settings, num_inits=2),
        dataclasses.replace(config.settings, num_inits=2, resolution=16),
    ]
    assert [r.structural for r in rows] == [True, False, None, None] * 2
    assert [r.reads_inputs for r in rows] == [False, True, None, None] * 2
    assert {r.n for r in rows} == {7}
    table = heldout.format_table(rows)
    assert "struct." in table and "inputs" in table
    lines = [ln.split() for ln in table.splitlines()]
    evolved = [ln[-2:] for ln in lines if ln and ln[0] in ("evolved_1", "evolved_2")]
    assert evolved == [["yes", "no"], ["no", "yes"]] * 2


def test_structural_survives_heldout_json_and_the_report_reader(tmp_path):
    nan = math.nan
    row = heldout.Row("t", "evolved_1", "numel(weight)", 0.5, 0.6, (0.4, 0.6), (nan, 0.7), 24)
    rows = [
        dataclasses.replace(row, structural=False, reads_inputs=False),
        dataclasses.replace(row, name="params"),
    ]
    path = tmp_path / "heldout.json"
    heldout.save(path, rows, Settings(), test_inits=1)
    doc = json.loads(path.read_text())
    assert [r["structural"] for r in doc["rows"]] == [False, None]
    back = report.heldout_rows(doc)
    assert [(r.structural, r.reads_inputs) for r in back] == [(False, False), (None, None)]
    table = report.heldout_markdown(doc)
    assert "| struct. | inputs |" in table and "| no | no |" in table
    # A heldout.json written before the fields existed still reads (None: not checked).
    for r in doc["rows"]:
        del r["structural"], r["reads_inputs"]
    assert [r.structural for r in report.heldout_rows(doc)] == [None, None]


def test_best_programs_rank_measured_fitness_above_lucky_small_samples():
    archive = {
        "mean(weight)": [[0, 0.9, 20]],  # lucky on 20 archs, never promoted
        "mean(relu_in@data)": [[0, 0.5, 20], [1, 0.55, 100], [2, 0.45, 100]],
        "frobenius_norm(weight)": [[1, 0.6, 100]],
        "sign(weight)": [[0, 0.7]],  # an old archive entry without a sample size
    }
    state = SearchState(3, (), archive, ())
    best = heldout.best_programs(state, 4)
    assert [str(p) for p, _, _ in best] == [
        "frobenius_norm(weight)",
        "mean(relu_in@data)",
        "mean(weight)",
        "sign(weight)",
    ]
    assert best[1][1] == 0.5 and best[1][2] == 3  # mean over its 100-arch evaluations
    old = SearchState(1, (), {"abs(weight)": [[0, 0.1]], "sign(weight)": [[0, 0.3], [1, 0.2]]}, ())
    assert [(str(p), round(m, 6)) for p, m, _ in heldout.best_programs(old, 2)] == [
        ("sign(weight)", 0.25),
        ("abs(weight)", 0.1),
    ]
