"""Several processes: each scores its share, process 0 writes the CSV, and the files equal one
process's (a real 2-process run on localhost with Gloo CPU collectives), also when resumed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zcjax import distributed

REPO = Path(__file__).resolve().parent.parent
SCORE = [
    sys.executable,
    str(REPO / "experiments" / "score.py"),
    "--proxies=naswot,params,naswot+params",
    "--num_archs=5",
    "--seed=3",
    "--batch_size=2",
    "--resolution=8",
    "--inputs=noise",
    "--progress_every=0",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _run_processes(out: Path, count: int, extra=()) -> list[subprocess.CompletedProcess]:
    port = _free_port()
    env = {**os.environ, "XLA_FLAGS": ""}
    procs = [
        subprocess.Popen(
            [
                *SCORE,
                f"--output={out}",
                f"--coordinator_address=localhost:{port}",
                f"--num_processes={count}",
                f"--process_id={i}",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(count)
    ]
    done = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return done


def _body(path: Path) -> list[str]:
    """The CSV without its note about the data folder (the same for both runs anyway)."""
    return path.read_text().splitlines()


@pytest.mark.slow
def test_two_processes_write_the_csv_of_one(tmp_path):
    one = tmp_path / "one.csv"
    single = subprocess.run(
        [*SCORE, f"--output={one}"], capture_output=True, text=True, timeout=600
    )
    assert single.returncode == 0, single.stderr[-2000:]
    two = tmp_path / "two.csv"
    runs = _run_processes(two, 2)
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    assert "process 0 of 2" in runs[0].stdout and "kendall_tau" in runs[0].stdout
    assert "process 1 of 2" in runs[1].stdout and "kendall_tau" not in runs[1].stdout
    assert _body(two) == _body(one)
    rows = [ln for ln in _body(two) if not ln.startswith("#")]
    assert len(rows) == 1 + 5 * 3  # header + 5 archs x (naswot, params, ensemble)
    # A killed run resumes: keep the header and the first 2 archs, rerun with 2 processes.
    lines = _body(two)
    head = [ln for ln in lines if ln.startswith("#") or ln.startswith("index,")]
    body = [ln for ln in lines if ln not in head and ",naswot+params," not in ln]
    (tmp_path / "two.csv").write_text("\n".join(head + body[:4]) + "\n")
    runs = _run_processes(two, 2)
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-2000:]
    assert "resuming at 2/5 archs" in runs[0].stdout
    assert _body(two) == _body(one)


def test_incomplete_flags_are_one_clear_error():
    with pytest.raises(ValueError, match="needs all of coordinator_address"):
        distributed.initialize("localhost:1234", None, 0)
    with pytest.raises(ValueError, match="process_id 2 is not in 0..1"):
        distributed.initialize("localhost:1234", 2, 2)
    assert distributed.initialize() == (0, 1)  # no flags, no cluster: one process


def test_cluster_detection():
    slurm = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_PROCID": "0"}
    assert not distributed.cluster_detected({}, tpu_vm=False)
    assert not distributed.cluster_detected({**slurm, "SLURM_NTASKS": "1"}, tpu_vm=False)
    assert distributed.cluster_detected({**slurm, "SLURM_NTASKS": "4"}, tpu_vm=False)
    assert not distributed.cluster_detected({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, False)
    assert distributed.cluster_detected({"TPU_WORKER_HOSTNAMES": "a,b"}, tpu_vm=False)
    assert distributed.cluster_detected({}, tpu_vm=True)
    assert not distributed.cluster_detected({})  # this machine: no libtpu


def test_values_travel_bit_for_bit_as_32_bit_words():
    x = np.array([[18.37476872345097, np.nan], [-np.inf, 1e-300]])
    back = distributed._from_words(distributed._as_words(x), x)
    assert back.dtype == np.float64 and back.tobytes() == x.tobytes()
    n = np.int64(2**40 + 3)
    assert distributed._from_words(distributed._as_words(n), np.asarray(n)) == n


def test_in_turn_yields_every_item_once_in_order():
    calls = []

    def compute(i):
        calls.append(i)
        return np.array([i, i * i], np.float64)

    got = list(distributed.in_turn(4, compute, np.full(2, np.nan)))
    assert [i for i, _ in got] == [0, 1, 2, 3] == calls
    assert all(np.array_equal(row, [i, i * i]) for i, row in got)
    assert list(distributed.in_turn(0, compute, np.zeros(2))) == []


def _search_result(work: Path) -> tuple[dict, list[dict], list[dict]]:
    """(state without the history, history without wall times, held-out rows) of a work folder."""
    state = json.loads((work / "checkpoint.json").read_text())["state"]
    history = [{k: v for k, v in r.items() if not k.endswith("_s")} for r in state.pop("history")]
    rows = json.loads((work / "heldout.json").read_text())["rows"]
    return state, history, rows


EVOLVE = [sys.executable, str(REPO / "experiments" / "evolve.py"), "--config=smoke"]
EVOLVE_COMMON = ["--baselines=params", "--candidates=2", "--top_k=1"]


def _start_search(work: Path, data_dir, generations: int, count: int) -> list[subprocess.Popen]:
    """``count`` processes of one smoke search (a multi-process run on localhost if > 1)."""
    args = [*EVOLVE, *EVOLVE_COMMON, f"--generations={generations}", f"--workdir={work}"]
    args.append(f"--data_dir={Path(data_dir).resolve()}")
    if count == 1:
        return [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    port = _free_port()
    distributed_flags = [f"--coordinator_address=localhost:{port}", f"--num_processes={count}"]
    return [
        subprocess.Popen(
            [*args, *distributed_flags, f"--process_id={i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]


def _finish(procs: list[subprocess.Popen]) -> list[str]:
    """Each process's stdout, once all succeeded."""
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    return [out for out, _ in outs]


@pytest.mark.slow
def test_a_killed_two_process_search_resumes_as_one_process(tmp_path, data_dir):
    """``evolve.py --config=smoke`` for 2 generations on 2 processes, both killed once the
    first checkpoint exists, then resumed by the same command: the checkpoint, history and
    held-out table equal an uninterrupted one-process search's, wall times aside; only
    process 0 writes and prints."""
    killed = tmp_path / "killed"
    procs = _start_search(killed, data_dir, 2, 2)
    deadline = time.monotonic() + 900
    while not (killed / "checkpoint.json").exists() and time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), procs[0].communicate()[1][-2000:]
        time.sleep(0.2)
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.communicate()
    state = json.loads((killed / "checkpoint.json").read_text())["state"]
    assert len(state["history"]) < 2  # killed before the search ended
    outs = _finish(_start_search(killed, data_dir, 2, 2))
    assert "gen   1" in outs[0] and "held-out test split" in outs[0]
    assert "gen   1" not in outs[1] and "held-out test split" not in outs[1]
    _finish(_start_search(tmp_path / "one", data_dir, 2, 1))
    assert _search_result(killed) == _search_result(tmp_path / "one")


_DEVICES_SCRIPT = """
import json
import jax
from zcjax import distributed, stats
from zcjax.archs import sample_archs
from zcjax.gp.evaluate import StackedStats
from zcjax.program import PROGRAMS, parse
from zcjax.recipe import arch_stats
from zcjax.settings import Settings
from zcjax.spaces import SPACES

space = SPACES["nb201"]
settings = Settings(batch_size=2, resolution=8, inputs="noise", num_inits=2)
archs = sample_archs(jax.random.key(5), space, 3)
st = [arch_stats(jax.random.key(1), space, a, "cifar10", stats.TERMINALS, settings) for a in archs]
programs = [parse(t) for t in (PROGRAMS["eznas_a"].text, "mean(abs(relu_in_grad@data))",
            "net_sum(mean(numel(bn_out@data)))", "mean(sigmoid(logdet(sign(relu_in_grad@data))))")]
stacked = StackedStats.of(st, 2, executor="device")
split = stacked.scores(programs)
arrays = [x for s in stacked.stacks for x in [*s.native.values(), *s._torch.values()]]
spread = sorted({len(x.sharding.device_set) for x in arrays})
distributed.row_multiple, distributed.shard_rows = (lambda: 1), (lambda x: x)  # one device
whole = StackedStats.of(st, 2, executor="device").scores(programs)
print(json.dumps({"devices": jax.local_device_count(), "spread": spread,
                  "split": split.tolist(), "whole": whole.tolist()}))
"""


@pytest.mark.slow
def test_programs_on_four_devices_score_as_on_one():
    """The device executor splits stacked units over 4 (forced host) devices: every stack is
    spread over all 4, and the scores equal those of the same stacks on one device."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    proc = subprocess.run(
        [sys.executable, "-c", _DEVICES_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["devices"] == 4 and found["spread"] == [4]
    split, whole = np.array(found["split"]), np.array(found["whole"])
    assert np.isfinite(whole).sum() > whole.size // 2
    np.testing.assert_array_equal(np.isnan(split), np.isnan(whole))
    np.testing.assert_allclose(split, whole, rtol=1e-6, atol=0)
