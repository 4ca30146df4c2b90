"""JAX's persistent compilation cache: its per-user folder, turning it off, and the scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from zcjax import cache

REPO = Path(__file__).resolve().parents[1]
_SETTINGS = (
    "jax_enable_compilation_cache",
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_persistent_cache_min_entry_size_bytes",
)


@pytest.fixture
def jax_settings():
    """Restores JAX's cache settings after a test changes them (nothing compiles between)."""
    saved = {name: getattr(jax.config, name) for name in _SETTINGS}
    yield
    for name, value in saved.items():
        jax.config.update(name, value)


def test_default_folder_is_zcjax_cache_else_xdg_else_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZCJAX_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache.default_cache_dir() == str(tmp_path / "home" / ".cache" / "zcjax" / "xla")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: absolute only
    assert cache.default_cache_dir() == str(tmp_path / "home" / ".cache" / "zcjax" / "xla")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_cache_dir() == str(tmp_path / "xdg" / "zcjax" / "xla")
    monkeypatch.setenv("ZCJAX_CACHE", str(tmp_path / "mine"))
    assert cache.default_cache_dir() == str(tmp_path / "mine")
    monkeypatch.setenv("ZCJAX_CACHE", "")  # empty counts as unset
    assert cache.default_cache_dir() == str(tmp_path / "xdg" / "zcjax" / "xla")


def test_enable_creates_the_folder_and_keeps_every_kernel(monkeypatch, tmp_path, jax_settings):
    monkeypatch.setenv("ZCJAX_CACHE", str(tmp_path / "a" / "b"))
    path = cache.enable_compilation_cache()
    assert path == str(tmp_path / "a" / "b") and os.path.isdir(path)
    assert jax.config.jax_compilation_cache_dir == path
    assert jax.config.jax_enable_compilation_cache is True
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0
    assert jax.config.jax_persistent_cache_min_entry_size_bytes == 0
    monkeypatch.chdir(tmp_path)
    assert cache.enable_compilation_cache("rel") == str(tmp_path / "rel")  # made absolute


@pytest.mark.parametrize("off", ["none", "None", ""])
def test_none_turns_the_cache_off(monkeypatch, tmp_path, jax_settings, off):
    monkeypatch.setenv("ZCJAX_CACHE", str(tmp_path / "unused"))
    assert cache.enable_compilation_cache(off) is None
    assert jax.config.jax_enable_compilation_cache is False
    assert not (tmp_path / "unused").exists()


def test_zcjax_cache_none_turns_the_default_off(monkeypatch, jax_settings):
    monkeypatch.setenv("ZCJAX_CACHE", "none")
    assert cache.enable_compilation_cache() is None
    assert jax.config.jax_enable_compilation_cache is False


def test_a_file_in_the_way_is_one_clear_line(tmp_path, jax_settings):
    before = jax.config.jax_compilation_cache_dir
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for path in (blocker, blocker / "below"):
        with pytest.raises(ValueError, match="cannot be created") as err:
            cache.enable_compilation_cache(str(path))
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert jax.config.jax_compilation_cache_dir == before  # nothing half-applied


def _run(script, *args, env):
    environ = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    return subprocess.run(
        [sys.executable, str(REPO / "experiments" / script), *args],
        capture_output=True,
        text=True,
        env={**environ, **env},
        timeout=300,
    )


@pytest.mark.slow
def test_score_cli_fills_the_cache_folder_it_names(tmp_path):
    folder, default = tmp_path / "given" / "xla", tmp_path / "default"
    proc = _run(
        "score.py",
        "--proxies=params",
        "--num_archs=2",
        f"--compilation_cache_dir={folder}",
        env={"ZCJAX_CACHE": str(default)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[0] == f"compilation cache: {folder}"
    assert proc.stdout.splitlines()[1].startswith("allocator: ")  # zcjax.allocator's line
    assert [p for p in folder.iterdir() if p.is_file()]  # compiled kernels kept
    assert not default.exists()  # the flag wins over $ZCJAX_CACHE
    off = _run(
        "score.py",
        "--proxies=params",
        "--num_archs=2",
        "--tune_malloc=false",
        env={"ZCJAX_CACHE": "none"},
    )
    assert off.returncode == 0, off.stderr[-2000:]
    assert off.stdout.splitlines()[:2] == [
        "compilation cache: off",
        "allocator: left as is (--tune_malloc=false)",
    ]


@pytest.mark.slow
def test_score_cli_names_a_cache_folder_it_cannot_make(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = _run("score.py", "--proxies=params", "--num_archs=2", env={"ZCJAX_CACHE": str(blocker)})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: Compilation cache folder {blocker} cannot be created")


@pytest.mark.slow
def test_evolve_without_workdir_uses_the_per_user_folder(tmp_path):
    folder = tmp_path / "user"
    # A bad task stops the search before it compiles anything, after the cache line.
    proc = _run("evolve.py", "--config=smoke", "--tasks=nb201", env={"ZCJAX_CACHE": str(folder)})
    assert proc.returncode != 0 and "error: Task 'nb201'" in proc.stderr
    assert proc.stdout.splitlines()[0] == f"compilation cache: {folder}"
    assert folder.is_dir()


def test_mapped_fraction_counts_this_process_mappings():
    fraction = cache.mapped_fraction()
    if not os.path.exists(cache.MAX_MAP_COUNT):
        assert fraction is None
    else:
        assert 0.0 < fraction < 1.0  # a Python process holds some hundreds of 65,530


@pytest.mark.parametrize("held, cleared", [(0.4, False), (0.6, True)])
def test_compiled_kernels_are_dropped_past_half_the_mappings(monkeypatch, held, cleared):
    from zcjax import compiles
    from zcjax.gp import evaluate

    monkeypatch.setattr(cache, "mapped_fraction", lambda: held)
    x = jax.numpy.ones((2, 3))
    evaluate.kernel("relu")(x).block_until_ready()  # compiled and held
    assert cache.clear_compiled_if_mapped() is cleared
    with compiles.count_compiles() as c:
        evaluate.kernel("relu")(x).block_until_ready()
    assert (c.count > 0) is cleared  # a dropped kernel is compiled (or loaded) again
