"""experiments/benchmark.py runs and prints one JSON record per measurement (no timing asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_prints_json_records_for_the_new_proxies(data_dir):
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "benchmark.py"),
            "--parts=sota",
            "--sota=meco,swap",
            "--classic=synflow",
            "--num_archs=3",
            "--sota_archs=3",
            "--classic_batch_size=4",
            f"--data_dir={data_dir}",
        ],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    by = {(r.get("bench"), r.get("phase")) for r in records}
    for name in ("meco", "swap"):
        assert (name, "cold") in by and (name, "warm") in by
    sharing = [r for r in records if r.get("phase") == "sharing"]
    assert sharing and sharing[0]["bench"] == "synflow,meco,swap"
    assert sharing[0]["s_per_arch_together"] > 0
