"""The scores CSV: written as archs are scored, read back, and resumed after a kill."""

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zcjax import scorefile, scoring
from zcjax.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def _config(data_dir, **kw):
    settings = Settings(batch_size=4, inputs="noise", data_dir=str(data_dir))
    return scoring.ScoreConfig(proxies=("params", "naswot"), num_archs=6, settings=settings, **kw)


def _recorder(calls):
    return lambda what, done, total: calls.append((done, total))


def test_rows_read_back_exactly(tmp_path, data_dir):
    path = tmp_path / "s.csv"
    result = scoring.run_scoring(_config(data_dir), output=path)
    back = scorefile.read(path)
    assert back.arch_strings == result.arch_strings
    np.testing.assert_array_equal(back.index, result.index)
    np.testing.assert_array_equal(back.target, result.target)
    for name in ("params", "naswot"):
        np.testing.assert_array_equal(back.scores[name], result.scores[name])
    assert back.settings["proxies"] == ["params", "naswot"]
    assert back.target_name == "cifar10_valid"
    assert any(n.startswith("inputs: standard-normal noise") for n in back.notes)
    assert any(n.startswith("data: ") for n in back.notes)

    packed = tmp_path / "s.csv.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    again = scorefile.read(packed)
    assert again.arch_strings == back.arch_strings and again.settings == back.settings
    for name in ("params", "naswot"):
        np.testing.assert_array_equal(again.scores[name], back.scores[name])
    with pytest.raises(scorefile.ScoreFileError, match="cannot read scores CSV"):
        scorefile.read(tmp_path / "missing.csv.gz")


@pytest.mark.slow
def test_killed_at_any_point_then_rerun_gives_the_same_file(tmp_path, data_dir):
    """Truncating the file anywhere after its header (as a kill mid-write leaves it) and
    rerunning ends with the uninterrupted run's bytes; the rerun scores only what is missing."""
    full = tmp_path / "full.csv"
    scoring.run_scoring(_config(data_dir), output=full)
    want = full.read_bytes()
    head = len(scorefile.header(scorefile.read(full).settings, scorefile.read(full).notes))
    rng = np.random.default_rng(0)
    cuts = sorted({head, head + 1, len(want) - 1, *rng.integers(head, len(want), 6).tolist()})
    for cut in cuts:
        part = tmp_path / f"cut{cut}.csv"
        part.write_bytes(want[:cut])
        calls = []
        scoring.run_scoring(_config(data_dir), _recorder(calls), output=part)
        assert part.read_bytes() == want, f"cut at byte {cut}"
        whole_archs = (want[:cut].count(b"\n") - want[:head].count(b"\n")) // 2  # 2 proxies
        assert calls[0] == (whole_archs, 6) and calls[-1] == (6, 6)
    # a finished file is only read: nothing is rescored
    calls = []
    scoring.run_scoring(_config(data_dir), _recorder(calls), output=full)
    assert calls == [(6, 6)] and full.read_bytes() == want


def test_other_settings_are_refused(tmp_path, data_dir):
    path = tmp_path / "s.csv"
    scoring.run_scoring(_config(data_dir), output=path)
    with pytest.raises(
        scorefile.ScoreFileError,
        match=r"s\.csv was written with other settings \(seed: 0 there, 1 now\)",
    ):
        scoring.run_scoring(_config(data_dir, seed=1), output=path)
    other = Settings(batch_size=8, inputs="noise")
    with pytest.raises(scorefile.ScoreFileError, match="settings.*delete it"):
        scoring.run_scoring(
            scoring.ScoreConfig(proxies=("params", "naswot"), num_archs=6, settings=other),
            output=path,
        )
    (tmp_path / "x.csv").write_text("index,arch\n1,a\n")
    with pytest.raises(scorefile.ScoreFileError, match="x.csv is not a zcjax scores CSV"):
        scoring.run_scoring(_config(data_dir), output=tmp_path / "x.csv")


def _score_cmd(out, data_dir):
    return [
        sys.executable,
        str(REPO / "experiments" / "score.py"),
        "--proxies=params,synflow",
        "--num_archs=40",
        "--batch_size=4",
        f"--data_dir={data_dir}",
        f"--output={out}",
    ]


@pytest.mark.slow
def test_score_cli_killed_and_rerun_resumes(tmp_path, data_dir):
    """A real SIGKILL of score.py part-way, then the same command: the uninterrupted CSV."""
    ref, out = tmp_path / "ref.csv", tmp_path / "out.csv"
    assert subprocess.run(_score_cmd(ref, data_dir), capture_output=True).returncode == 0
    proc = subprocess.Popen(
        _score_cmd(out, data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") > 30:  # header + some archs
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rows = out.read_text().count("\n")
    assert 0 < rows < ref.read_text().count("\n"), "the kill came too late to test anything"
    rerun = subprocess.run(_score_cmd(out, data_dir), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming at" in rerun.stdout
    assert out.read_bytes() == ref.read_bytes()
