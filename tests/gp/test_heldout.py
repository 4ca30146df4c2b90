"""Held-out evaluation: disjoint key streams and an atomic, NaN-free heldout.json."""

from __future__ import annotations

import json
import math

import jax
import numpy as np

from zcjax.gp import heldout
from zcjax.keys import arch_key
from zcjax.settings import Settings
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
