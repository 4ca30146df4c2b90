"""The public API: ``import zcjax`` stays light, and the README's example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import zcjax

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_is_five_lines_and_runs(data_dir):
    code = readme_example()
    assert len(code.strip().splitlines()) == 5
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"ZCJAX_DATA": str(data_dir), "PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu"},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    tau = float(lines[0].split()[0])
    assert -1 <= tau <= 1 and "'arch': '|" in lines[0]
    assert lines[1].startswith("mean(abs(relu_in_grad@data)) {'mean(abs(relu_in_grad@data))': ")


def test_import_zcjax_loads_no_jax_until_used():
    code = "import sys, zcjax; print('jax' in sys.modules, 'flax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_score_equals_the_config_path(data_dir):
    """``zcjax.score`` is ``run_scoring`` with keywords: the same numbers for the same archs."""
    from zcjax import scoring
    from zcjax.settings import Settings

    settings = Settings(batch_size=4, data_dir=str(data_dir))
    config = scoring.ScoreConfig(
        proxies=("eznas_a", "params"), num_archs=3, seed=5, settings=settings
    )
    expected = scoring.run_scoring(config)
    got = zcjax.score(
        "nb201", "eznas_a,params", num_archs=3, seed=5, batch_size=4, data_dir=str(data_dir)
    )
    assert got.arch_strings == expected.arch_strings
    for name in ("eznas_a", "params"):
        np.testing.assert_array_equal(got.scores[name], expected.scores[name])
    # explicit archs (strings, any order) score as sampled ones: keys follow the arch and seed
    again = zcjax.score(
        "nb201",
        ["eznas_a"],
        archs=expected.arch_strings[::-1],
        seed=5,
        batch_size=4,
        data_dir=str(data_dir),
    )
    np.testing.assert_array_equal(again.scores["eznas_a"], expected.scores["eznas_a"][::-1])
    records = got.records()
    assert [r["arch"] for r in records] == got.arch_strings
    assert records[1]["params"] == got.scores["params"][1]
    assert records[1]["target"] == got.target[1]


def test_search_by_name_with_field_overrides(tmp_path, data_dir):
    state = zcjax.search(
        "smoke",
        workdir=tmp_path,
        generations=1,
        settings=zcjax.Settings(
            num_inits=1, batch_size=2, normalization="eznas", data_dir=str(data_dir)
        ),
    )
    assert state.generation == 1 and len(state.history) == 1
    assert (tmp_path / "checkpoint.json").exists()


def test_unknown_attribute_is_an_attribute_error():
    try:
        zcjax.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("zcjax.no_such_thing did not raise")
