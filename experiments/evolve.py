"""Evolve zero-cost proxy programs by genetic programming (EZNAS's search, resumable).

  python experiments/evolve.py --tasks=nb201:cifar10,nb201:cifar100 --population=50 \
      --generations=10 --archs_per_task=20 --num_inits=1 --batch_size=16 --seed=0 \
      --workdir=runs/eznas_c10_c100

Prints one line per generation (the best's fitness on the ``--promote_archs`` sample that
selection used, +- its jackknife SE, and on the fixed ``--validation_archs`` sample) and, at the
end, the best programs (the ``--candidates`` best by
search fitness, re-ranked on ``--validate_archs`` fresh search-split architectures per task)
with their Kendall tau / Spearman rho (bootstrap 95% CIs) on each task's held-out test split,
next to EZNAS-A and classic proxies on the same architectures. With ``--workdir`` every generation is checkpointed
(``checkpoint.json``, ``history.jsonl``) and rerunning the same command resumes; the held-out
table goes to ``heldout.json``. ``--config=smoke`` shrinks everything to a CPU test of a minute
or two; every other flag is a field of ``SearchConfig``, ``Settings`` or ``HeldoutConfig``.

Several processes (hosts) share each generation's architectures with
``--coordinator_address=host:port --num_processes=P --process_id=i`` (auto-detected on SLURM
and TPU pods): every process runs the same search, the statistics and program scores of each
chunk of architectures are computed by one process and gathered, so fitness and every
checkpoint equal one process's; process 0 writes the work folder, which every process reads
to resume (a filesystem all hosts see).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import cli
from absl import app, flags

from zcjax import distributed
from zcjax.data import DataNotFoundError, describe_data_dir
from zcjax.gp import checkpoint, heldout, search
from zcjax.gp import config as configs
from zcjax.gp.tasks import parse_tasks
from zcjax.progress import format_progress, printer

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    "config",
    "default",
    list(configs.CONFIGS),
    "Named configuration (zcjax.gp.config.CONFIGS): default (EZNAS's schedule with fitness "
    "re-scored on 100 archs and de-dup by ranking), eznas (EZNAS's search as its code ran it), "
    "discover (the network language, ensembles, four tasks), discover_seeded (discover "
    "started from EZNAS-A, params and FLOPs, parents refilled), discover_az (discover_seeded "
    "with AZ-NAS's components as measured terminals), discover_swap (with SWAP), discover_bars "
    "(every measured terminal, fitness relative to issue 14's bars), discover_lexicase (lexicase "
    "parents, members mutation), discover_weights (weighted ensembles of up to 6 trees), "
    "discover_tuned (their weights hill-climbed at promotion), discover_aligned (members "
    "aligned to size, MeCo measured), ablate, or smoke (a CPU test of "
    "a minute or two). Flags given on the command line override its fields; the defaults shown below "
    "are default's.",
)
_BASE = configs.get_config("default")
_TASKS = cli.Text(lambda tasks: ",".join(str(t) for t in tasks), parse_tasks)
_TEXT_FLAGS = {"tasks": _TASKS, "seed_programs": cli.PROGRAMS, "relative_to": cli.PROGRAMS}
cli.define_flags(_BASE.search, skip=("settings",), text=_TEXT_FLAGS)
cli.define_flags(_BASE.search.settings)
cli.define_flags(_BASE.heldout)
flags.DEFINE_string(
    "arm",
    None,
    "Ablation arm (zcjax.gp.config.ABLATION_ARMS, e.g. no_promotion): switches one of issue "
    "14's levers in the named config (use --config=ablate for the ablation's budget).",
)
flags.DEFINE_string("workdir", None, "Folder for checkpoints, history and results (resumes).")
cli.define_cache_flag(
    f"$JAX_COMPILATION_CACHE_DIR, else WORKDIR/xla_cache, else {cli.USER_CACHE}",
    "Point several searches at one folder to share it.",
)
cli.define_distributed_flags()
cli.define_malloc_flag()
flags.adopt_module_key_flags(cli)


def config_from_flags() -> configs.EvolveConfig:
    """The named ``--config`` with the fields given as flags replaced; with a ``--workdir``
    that holds a search, that search's settings replace the named config's (rerunning a
    command resumes its search even after a default changed; a flag given still counts)."""
    base = configs.get_config(FLAGS.config)
    if FLAGS.arm:
        base = configs.ablation_arm(FLAGS.arm, base)
    saved = checkpoint.saved_config(FLAGS.workdir) if FLAGS.workdir else None
    if saved is not None:
        where = dataclasses.replace(saved.settings, data_dir=base.search.settings.data_dir)
        base = dataclasses.replace(base, search=dataclasses.replace(saved, settings=where))
    settings = cli.from_flags(base.search.settings)
    search_config = cli.from_flags(base.search, text=_TEXT_FLAGS, settings=settings)
    return configs.EvolveConfig(search_config, cli.from_flags(base.heldout))


def generation_printer(total: int):
    """Prints one line per generation, with generations done / total, rate and time left."""
    origin = {}

    def report(event, info):
        if event == "start":
            origin.update(time=time.monotonic(), generation=info["generation"])
            print(
                f"tasks {', '.join(info['tasks'])}; starting at generation {info['generation']}"
                f" of {total}"
            )
            return
        done = info["generation"] + 1
        elapsed = time.monotonic() - origin["time"]
        rate = (done - origin["generation"]) / elapsed if elapsed > 0 else None
        taus = ", ".join(
            f"{t} {'nan' if v is None else f'{v:.3f}'}" for t, v in info["best_taus"].items()
        )
        se, valid = info.get("best_fitness_se"), info.get("validation_fitness")
        print(
            f"gen {info['generation']:>3}  best {info['best_fitness']:+.3f}"
            f"{'' if se is None else f' +- {se:.3f}'}"
            f"{'' if valid is None else f' (validation {valid:+.3f})'}  median "
            f"{info['median_fitness']:+.3f}  invalid {info['invalid']:>3}  "
            f"{info['wall_time_s']:.1f}s  best: {info['best_program']}  ({taus})\n"
            f"  {format_progress('generations', min(done, total), total, rate)}",
            flush=True,
        )

    return report


def cache_dir() -> str | None:
    """Where the search keeps its kernels unless ``--compilation_cache_dir`` says:
    ``$JAX_COMPILATION_CACHE_DIR``, else ``WORKDIR/xla_cache``, else None (the per-user folder).

    A search compiles each (primitive, shape) pair it meets once, ~55 ms each on a CPU; a
    populated cache loads them instead (measured: a generation's evaluation 3.5x faster cold),
    so resumed and repeated searches skip most compilation.
    """
    path = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if not path and FLAGS.workdir:
        path = os.path.join(FLAGS.workdir, "xla_cache")
    return path or None


def main(argv):
    del argv
    start = time.time()
    try:
        malloc = cli.tune_malloc()  # before any thread allocates: one arena for all
        joined = cli.init_distributed()
        if joined:
            print(joined, flush=True)
        print(cli.use_compilation_cache(cache_dir()), flush=True)
        print(malloc, flush=True)
        run = config_from_flags()
        config, report = run.search, run.heldout
        print(f"data: {describe_data_dir(config.settings.data_dir)}")
        writer = distributed.is_writer()
        printer_ = generation_printer(config.generations) if writer else None
        state = search.run(config, FLAGS.workdir, printer_)
    except (ValueError, DataNotFoundError) as e:
        sys.exit(f"error: {e}")
    search_s = time.time() - start
    print(f"search: {state.generation} generations in {search_s:.1f}s this call")
    if report.top_k == 0:
        print("held-out: off (top_k=0; --top_k=3 scores the best three on the test split)")
        return
    progress = printer(lambda line: print(f"held-out: {line}", flush=True), every_s=30)
    best, rows = heldout.run_heldout(
        config, report, state, FLAGS.workdir, progress if writer else None
    )
    if not writer:
        return
    if not best:
        print("no programs were evaluated")
        return
    for c in best:
        valid = "" if c.validation_fitness is None else f", validation {c.validation_fitness:+.3f}"
        print(f"  fitness {c.search_fitness:+.3f} (mean of {c.evaluations}{valid}): {c.program}")
    print(heldout.format_table(rows))
    if FLAGS.workdir:
        print(f"wrote {os.path.join(FLAGS.workdir, checkpoint.HELDOUT)}")
    print(f"total {time.time() - start:.1f}s")


if __name__ == "__main__":
    app.run(main)
