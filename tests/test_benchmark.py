"""experiments/benchmark.py runs and prints one JSON record per measurement (no timing asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _records(data_dir, *args: str) -> list[dict]:
    """The JSON records benchmark.py prints with ``args`` (it must succeed)."""
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "benchmark.py"),
            *args,
            f"--data_dir={data_dir}",
        ],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_benchmark_prints_json_records_for_the_new_proxies(data_dir):
    records = _records(
        data_dir,
        "--parts=sota",
        "--sota=meco,swap",
        "--classic=synflow",
        "--num_archs=3",
        "--sota_archs=3",
        "--classic_batch_size=4",
    )
    by = {(r.get("bench"), r.get("phase")) for r in records}
    for name in ("meco", "swap"):
        assert (name, "cold") in by and (name, "warm") in by
    sharing = [r for r in records if r.get("phase") == "sharing"]
    assert sharing and sharing[0]["bench"] == "synflow,meco,swap"
    assert sharing[0]["s_per_arch_together"] > 0


@pytest.mark.slow
def test_benchmark_times_two_generations_of_a_search(data_dir):
    records = _records(
        data_dir,
        "--parts=gp",
        "--gp_config=smoke",
        "--gp_programs=4",
        "--gp_archs=2",
        "--gp_baseline_programs=1",
        "--num_archs=2",
        "--batch_size=2",
    )
    population = [r for r in records if r.get("bench") == "gp_population_major"]
    # The population runs at discover's settings (the search the throughput target is about).
    assert [(r["batch_size"], r["arch_chunk"]) for r in population] == [(16, 2)] * 2
    generations = [r for r in records if r.get("bench") == "gp_generation"]
    assert [r["phase"] for r in generations] == ["cold", "warm"]
    for r in generations:
        assert r["program_arch_evaluations"] > 0 and r["program_archs_per_s"] > 0
        assert {"screen_stats_s", "children_s", "evaluation_s", "promotion_s"} <= set(r)


@pytest.mark.slow
def test_benchmark_scale_runs_process_groups_and_arch_batches(data_dir):
    """``--parts=scale``: one record per (processes, B, cold/warm), from groups of 1 and 2
    processes; the warm pass compiles nothing."""
    records = _records(
        data_dir,
        "--parts=scale",
        "--scale_processes=1,2",
        "--scale_batches=1,2",
        "--scale_archs=2",
        "--num_archs=2",
        "--batch_size=2",
        "--resolution=8",
    )
    scale = {(r["processes"], r["arch_batch"], r["phase"]): r for r in records}
    assert set(scale) == {(p, b, ph) for p in (1, 2) for b in (1, 2) for ph in ("cold", "warm")}
    for (p, _, phase), r in scale.items():
        assert r["archs"] == 2 and r["devices"] == p and r["archs_per_s"] > 0
        if phase == "warm":
            assert r["compiles"] == 0


def test_machine_record_measures_four_fixed_kernels():
    """The calibration line that lets rates from different days be compared: the four named
    speeds, each positive and finite."""
    import math

    from experiments import bench_lib as bench

    record = bench.machine_record()
    assert record["bench"] == "machine"
    speeds = {k: v for k, v in record.items() if k != "bench"}
    assert set(speeds) == {
        "numpy_log_ns_per_element",
        "copy_gb_per_s",
        "matmul_gflop_per_s",
        "xla_conv_ms",
    }
    assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in speeds.values())
