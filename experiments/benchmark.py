"""Speed of statistics collection and proxy scoring on whatever device JAX sees.

  python experiments/benchmark.py --batch_size=16 --num_inits=1 --num_archs=200

Prints JSON lines: the environment; statistics collection (EZNAS-A's terminal and all 22)
cold and warm; EZNAS-A end to end cold and warm with their ratio (the compile overhead on
never-seen architectures); the whole-module jit per architecture for comparison; K inits
vmapped versus looped; the classic proxies (synflow, snip, grad_norm, jacob_cov, NASWOT) cold and
warm, together versus one at a time; the 2023-2025 proxies (MeCo, SWAP, AZ-NAS's parts, VKDNW)
cold and warm, and all proxies together versus one at a time; a GP generation's evaluation, population-major versus
EZNAS's program-by-program way, and two whole generations of a named search (``--gp_config``)
split into statistics, children, evaluation, promotion and validation with (program,
architecture) evaluations per second; peak memory. "cold" starts from empty compilation caches:
JAX's persistent compilation cache (score.py's and evolve.py's default, or one named by
``$JAX_COMPILATION_CACHE_DIR``) is turned off here, so cold times are real compiles.
Issue 14's throughput, a generation of its search:

  python experiments/benchmark.py --parts=gp --gp_config=discover
``--parts=models`` measures the compile overhead per never-seen model, e.g. on NDS:

  python experiments/benchmark.py --space=nds_darts_in --parts=models --resolution=64

``--parts=scale`` (issue 15): EZNAS-A scoring in archs/s for 1, 2 and 4 processes (each
its own device: a multi-process run on localhost, ``jax.distributed`` with CPU collectives; on
an accelerator host give each process its GPU) and B in {1, 8, 32} architectures per group of
kernel calls (``stats_method="batched"``). On a CPU the processes share its cores, so this
shows correctness and the batching gain, not device scaling:

  python experiments/benchmark.py --parts=scale --batch_size=16 --scale_archs=64
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys

import bench_lib as bench
import cli
import jax
from absl import app, flags

from zcjax.archs import sample_archs
from zcjax.cache import enable_compilation_cache
from zcjax.gp.config import get_config
from zcjax.settings import Settings
from zcjax.spaces import get_space
from zcjax.stats import TERMINALS

FLAGS = flags.FLAGS
cli.define_flags(Settings())
flags.DEFINE_string("space", "nb201", "Search space.")
flags.DEFINE_string("dataset", None, "Dataset (default: the space's first).")
flags.DEFINE_integer("model_archs", 20, "Never-seen models in the compile-per-model measurement.")
flags.DEFINE_integer("num_archs", 200, "Never-seen architectures per measurement.")
flags.DEFINE_integer("module_archs", 5, "Architectures for the jit-per-architecture baseline.")
flags.DEFINE_list("proxies", ["eznas_a"], "Proxies for the end-to-end measurement.")
flags.DEFINE_list(
    "parts",
    ["stats", "proxies", "module", "inits", "classic", "sota", "gp", "models"],
    "Which measurements to run (models: compile overhead per never-seen model).",
)
flags.DEFINE_list(
    "classic", ["synflow", "snip", "grad_norm", "jacob_cov", "naswot"], "Classic proxies to time."
)
flags.DEFINE_integer("classic_batch_size", 64, "Batch size for the classic proxies.")
flags.DEFINE_integer("classic_archs", 50, "Never-seen architectures for the classic proxies.")
flags.DEFINE_list(
    "sota",
    ["meco", "swap", "az_expressivity", "az_progressivity", "az_trainability", "vkdnw"],
    "2023-2025 proxies to time (batch --classic_batch_size, noise, kaiming_fan_in init).",
)
flags.DEFINE_integer("sota_archs", 20, "Never-seen architectures for the 2023-2025 proxies.")
flags.DEFINE_integer(
    "gp_programs", 50, "Random programs in the GP evaluation measurement (discover's settings)."
)
flags.DEFINE_integer("gp_archs", 20, "Architectures in the GP evaluation measurement.")
flags.DEFINE_integer("gp_baseline_programs", 3, "Programs evaluated EZNAS's way (per program).")
flags.DEFINE_string(
    "gp_config",
    "smoke",
    "Named search config (zcjax.gp.config.CONFIGS) whose two generations --parts=gp times; "
    "'discover' is issue 14's search (4 tasks, promotion): tens of minutes on 2 CPU cores.",
)
flags.DEFINE_list("scale_processes", ["1", "2", "4"], "Process counts of --parts=scale.")
flags.DEFINE_list("scale_batches", ["1", "8", "32"], "Architectures per chunk, --parts=scale.")
flags.DEFINE_integer("scale_archs", 64, "Never-seen architectures per --parts=scale run.")
flags.DEFINE_integer("seed", 0, "Seed.")
cli.define_distributed_flags()
cli.define_malloc_flag()
flags.adopt_module_key_flags(cli)


def emit(records):
    for r in records if isinstance(records, list) else [records]:
        print(json.dumps(r), flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def spawn_scale() -> None:
    """Runs ``--parts=scale`` in a fresh group of P processes for each P of
    --scale_processes (each process one CPU device) and relays process 0's records."""
    keep = [a for a in sys.argv[1:] if not a.startswith(("--parts", "--scale_processes"))]
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "")}
    for count in map(int, FLAGS.scale_processes):
        port = _free_port()
        procs = [
            subprocess.Popen(
                [sys.executable, sys.argv[0], *keep, "--parts=scale", f"--scale_processes={count}"]
                + [f"--coordinator_address=localhost:{port}", f"--num_processes={count}"]
                + [f"--process_id={i}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for i in range(count)
        ]
        outs = [p.communicate() for p in procs]
        for p, (_, err) in zip(procs, outs):
            if p.returncode:
                lines = [x for x in err.splitlines() if not x.startswith(("I", "W"))]
                raise RuntimeError("a --parts=scale process failed: " + "\n".join(lines[-20:]))
        for line in outs[0][0].splitlines():
            if line.startswith('{"bench": "scale"'):
                print(line, flush=True)


def main(argv):
    malloc = cli.tune_malloc()
    if "scale" in FLAGS.parts and FLAGS.coordinator_address is None:
        spawn_scale()  # the other parts run here, scale in its own process groups
        FLAGS.parts = [p for p in FLAGS.parts if p != "scale"]
        if not FLAGS.parts:
            return
    cli.init_distributed()
    enable_compilation_cache("none")  # cold means compiled, never loaded from disk
    space = get_space(FLAGS.space)
    FLAGS.dataset = FLAGS.dataset or space.datasets[0]
    settings = cli.from_flags(Settings())
    key_archs, key = jax.random.split(jax.random.key(FLAGS.seed))
    benchmark = None if space.enumerate else space.load_benchmark(settings.data_dir)
    archs = sample_archs(key_archs, space, FLAGS.num_archs, benchmark)
    emit({**bench.environment_record(settings, len(archs)), "allocator": malloc})
    emit(bench.machine_record())
    if "scale" in FLAGS.parts:
        few = archs[: FLAGS.scale_archs]
        batches = [int(b) for b in FLAGS.scale_batches]
        records = bench.bench_scale(key, space, few, FLAGS.dataset, settings, batches)
        if jax.process_index() == 0:
            emit(records)
    if "proxies" in FLAGS.parts:
        emit(bench.bench_proxies(key, space, archs, FLAGS.dataset, settings, FLAGS.proxies))
    if "models" in FLAGS.parts:
        few = archs[: FLAGS.model_archs]
        emit(bench.bench_models(key, space, few, FLAGS.dataset, settings, ("relu_in_grad@data",)))
    if "stats" in FLAGS.parts:
        for terminals in (("relu_in_grad@data",), TERMINALS):
            emit(bench.bench_stats(key, space, archs, FLAGS.dataset, settings, terminals))
    if "module" in FLAGS.parts:
        few = archs[: FLAGS.module_archs]
        emit(
            bench.bench_stats(
                key, space, few, FLAGS.dataset, settings, ("relu_in_grad@data",), "module"
            )
        )
    if "inits" in FLAGS.parts and settings.num_inits > 1:
        few = archs[: min(20, len(archs))]
        for vmap in (False, True):
            s = dataclasses.replace(settings, vmap_inits=vmap)
            emit(bench.bench_stats(key, space, few, FLAGS.dataset, s, ("relu_in_grad@data",))[1:])
    if "classic" in FLAGS.parts:
        classic = dataclasses.replace(
            settings, batch_size=FLAGS.classic_batch_size, weight_init="pytorch"
        )
        few = archs[: FLAGS.classic_archs]
        emit(bench.bench_proxies(key, space, few, FLAGS.dataset, classic, FLAGS.classic))
        emit(bench.bench_sharing(key, space, few[:10], FLAGS.dataset, classic, FLAGS.classic))
    if "sota" in FLAGS.parts:  # AZ-NAS's and VKDNW's settings for all, so passes can be shared
        sota = dataclasses.replace(
            settings,
            batch_size=FLAGS.classic_batch_size,
            inputs="noise",
            weight_init="kaiming_fan_in",
        )
        few = archs[: FLAGS.sota_archs]
        for name in FLAGS.sota:
            emit(bench.bench_proxies(key, space, few, FLAGS.dataset, sota, [name]))
        together = FLAGS.classic + FLAGS.sota
        emit(bench.bench_sharing(key, space, few[:5], FLAGS.dataset, sota, together))
    if "gp" in FLAGS.parts:
        few = archs[: FLAGS.gp_archs]
        # At the settings of the search issue 14's throughput target is about (discover: batch
        # 16, 2 archs' statistics at once); at batch 64 and 4 archs a chunk, the statistics of
        # random programs' terminals peaked at 17.7 GB here.
        discover = get_config("discover").search
        gp_settings = dataclasses.replace(discover.settings, data_dir=settings.data_dir)
        emit(
            bench.bench_gp(
                key,
                space,
                few,
                FLAGS.dataset,
                gp_settings,
                FLAGS.gp_programs,
                FLAGS.gp_baseline_programs,
                discover.arch_chunk,
            )
        )
        search_config = get_config(FLAGS.gp_config).search
        data_dir = dataclasses.replace(search_config.settings, data_dir=settings.data_dir)
        emit(bench.bench_generation(dataclasses.replace(search_config, settings=data_dir)))
    emit(bench.memory_record())


if __name__ == "__main__":
    app.run(main)
