"""Evolve zero-cost proxy programs by genetic programming (EZNAS's search, resumable).

  python experiments/evolve.py --tasks=nb201:cifar10,nb201:cifar100 --population=50 \
      --generations=10 --archs_per_task=20 --num_inits=1 --batch_size=16 --seed=0 \
      --workdir=runs/eznas_c10_c100

Prints one line per generation and, at the end, the best programs (the ``--candidates`` best by
search fitness, re-ranked on ``--validate_archs`` fresh search-split architectures per task)
with their Kendall tau / Spearman rho (bootstrap 95% CIs) on each task's held-out test split,
next to EZNAS-A and classic proxies on the same architectures. With ``--workdir`` every generation is checkpointed
(``checkpoint.json``, ``history.jsonl``) and rerunning the same command resumes; the held-out
table goes to ``heldout.json``. ``--smoke`` shrinks everything to a CPU test of a minute or two.
"""

from __future__ import annotations

import os
import sys
import time

import jax
from absl import app, flags, logging

from zcjax import scoring
from zcjax.data import DataNotFoundError, describe_data_dir
from zcjax.gp import heldout, search
from zcjax.gp.fitness import parse_tasks
from zcjax.gp.operators import MUTATIONS
from zcjax.program.kinds import KINDS
from zcjax.progress import format_progress, printer

FLAGS = flags.FLAGS
flags.DEFINE_string("tasks", "nb201:cifar10,nb201:cifar100", "space:dataset[:target],...")
flags.DEFINE_integer("population", 50, "Initial random programs (EZNAS 50).")
flags.DEFINE_integer("generations", 10, "Generations (EZNAS 10).")
flags.DEFINE_integer("offspring", 50, "Valid children per generation, lambda (EZNAS 50).")
flags.DEFINE_integer("survivors", 25, "Parents kept per generation, mu (EZNAS 25).")
flags.DEFINE_float("cx_prob", 0.4, "Crossover probability.")
flags.DEFINE_float("mut_prob", 0.4, "Mutation probability.")
flags.DEFINE_list("mutations", ["uniform"], f"Mutation operators: {', '.join(MUTATIONS)}.")
flags.DEFINE_integer("tournament", 4, "Tournament size.")
flags.DEFINE_integer("max_height", 10, "Height limit of crossover and mutation children.")
flags.DEFINE_list("root_kinds", list(KINDS), "Kinds an initial program may have.")
flags.DEFINE_integer("archs_per_task", 20, "Architectures sampled per task and generation (M).")
flags.DEFINE_enum("correlation", "signed", ["signed", "absolute"], "Tau or |tau| (EZNAS).")
flags.DEFINE_enum("aggregate", "min", ["min", "mean"], "Over tasks: min (EZNAS) or mean.")
flags.DEFINE_enum("dedupe", "fitness", ["fitness", "program"], "De-duplicate survivors by.")
flags.DEFINE_integer("elites", 0, "Best children kept before the tournament.")
flags.DEFINE_integer("immigrants", 0, "Fresh random parents added per generation.")
flags.DEFINE_integer("screen_archs", 2, "Archs per task a child must be valid on to count.")
flags.DEFINE_integer("max_rounds", 20, "Rounds of children making per generation.")
flags.DEFINE_integer("arch_chunk", 4, "Architectures whose statistics are in memory at once.")
flags.DEFINE_integer("test_archs", 1000, "Held-out test split size per space.")
flags.DEFINE_integer("test_inits", None, "Inits per arch on the test split (default num_inits).")
flags.DEFINE_integer("top_k", 3, "Best programs scored on the test split.")
flags.DEFINE_integer("candidates", 10, "Best programs by search fitness re-scored on validation.")
flags.DEFINE_integer(
    "validate_archs", 100, "Search-split archs per task that rank the candidates (0: off)."
)
flags.DEFINE_list(
    "baselines", ["eznas_a", "synflow", "naswot", "jacob_cov", "snip", "params"], "Baselines."
)
flags.DEFINE_integer("num_inits", 1, "Random initialisations per architecture (K).")
flags.DEFINE_integer("batch_size", 16, "Images per batch.")
flags.DEFINE_integer(
    "resolution",
    None,
    "Input size for every task (default: each dataset's; e.g. 64 makes NDS ImageNet tasks cheap).",
)
flags.DEFINE_enum("inputs", "data", ["data", "noise"], "Real images or standard-normal inputs.")
flags.DEFINE_enum("normalization", "eznas", ["official", "eznas"], "Input normalisation.")
flags.DEFINE_string("weight_init", "eznas", "Initialisation scheme: eznas or pytorch.")
flags.DEFINE_integer("seed", 0, "The seed every key derives from.")
flags.DEFINE_string("workdir", None, "Folder for checkpoints, history and results (resumes).")
flags.DEFINE_bool("smoke", False, "Tiny search for a CPU test (explicit flags still win).")
flags.DEFINE_string(
    "data_dir", None, "Benchmark data folder (default: $ZCJAX_DATA, ../shared/data)."
)
flags.DEFINE_string(
    "compilation_cache_dir",
    None,
    "Persistent XLA cache for the search's small kernels (default: $JAX_COMPILATION_CACHE_DIR, "
    "else WORKDIR/xla_cache; 'none': off). Point several searches at one folder to share it.",
)

SMOKE = {
    "population": 6,
    "generations": 2,
    "offspring": 6,
    "survivors": 3,
    "archs_per_task": 5,
    "batch_size": 2,
    "test_archs": 24,
    "top_k": 2,
    "candidates": 3,
    "validate_archs": 5,
    "baselines": ["eznas_a", "synflow", "params"],
}


def flag(name):
    if FLAGS.smoke and name in SMOKE and not FLAGS[name].present:
        return SMOKE[name]
    return FLAGS[name].value


def config_from_flags() -> search.SearchConfig:
    return search.SearchConfig(
        tasks=parse_tasks(FLAGS.tasks),
        population=flag("population"),
        generations=flag("generations"),
        offspring=flag("offspring"),
        survivors=flag("survivors"),
        cx_prob=FLAGS.cx_prob,
        mut_prob=FLAGS.mut_prob,
        mutations=tuple(FLAGS.mutations),
        tournament=FLAGS.tournament,
        max_height=FLAGS.max_height,
        root_kinds=tuple(FLAGS.root_kinds),
        archs_per_task=flag("archs_per_task"),
        correlation=FLAGS.correlation,
        aggregate=FLAGS.aggregate,
        dedupe=FLAGS.dedupe,
        elites=FLAGS.elites,
        immigrants=FLAGS.immigrants,
        screen_archs=FLAGS.screen_archs,
        max_rounds=FLAGS.max_rounds,
        arch_chunk=FLAGS.arch_chunk,
        test_archs=flag("test_archs"),
        seed=FLAGS.seed,
        settings=scoring.Settings(
            num_inits=FLAGS.num_inits,
            batch_size=flag("batch_size"),
            inputs=FLAGS.inputs,
            normalization=FLAGS.normalization,
            weight_init=FLAGS.weight_init,
            data_dir=FLAGS.data_dir,
            resolution=FLAGS.resolution,
        ),
    )


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
        print(
            f"gen {info['generation']:>3}  best {info['best_fitness']:+.3f}  median "
            f"{info['median_fitness']:+.3f}  invalid {info['invalid']:>3}  "
            f"{info['wall_time_s']:.1f}s  best: {info['best_program']}  ({taus})\n"
            f"  {format_progress('generations', min(done, total), total, rate)}",
            flush=True,
        )

    return report


def use_compilation_cache() -> str | None:
    """Turns on JAX's persistent compilation cache for every kernel, however small.

    A search compiles each (primitive, shape) pair it meets once, ~55 ms each on a CPU; a
    populated cache loads them instead (measured: a generation's evaluation 3.5x faster cold),
    so resumed and repeated searches skip most compilation.
    """
    path = FLAGS.compilation_cache_dir
    if path is None:
        path = os.environ.get("JAX_COMPILATION_CACHE_DIR")
        if not path and FLAGS.workdir:
            path = os.path.join(FLAGS.workdir, "xla_cache")
    if not path or path == "none":
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def main(argv):
    del argv
    start = time.time()
    cache = use_compilation_cache()
    if cache:
        logging.info("persistent compilation cache: %s", cache)
    try:
        config = config_from_flags()
        print(f"data: {describe_data_dir(config.settings.data_dir)}")
        state = search.run(config, FLAGS.workdir, generation_printer(config.generations))
    except (ValueError, DataNotFoundError) as e:
        sys.exit(f"error: {e}")
    search_s = time.time() - start
    print(f"search: {state.generation} generations in {search_s:.1f}s this call")
    tasks = search.load_tasks(config)
    best = search.final_programs(
        config, tasks, state, flag("top_k"), flag("candidates"), flag("validate_archs")
    )
    if not best:
        print("no programs were evaluated")
        return
    for c in best:
        valid = "" if c.validation_fitness is None else f", validation {c.validation_fitness:+.3f}"
        print(f"  fitness {c.search_fitness:+.3f} (mean of {c.evaluations}{valid}): {c.program}")
    progress = printer(lambda line: print(f"held-out: {line}", flush=True), every_s=30)
    rows = heldout.score_test_split(
        config,
        tasks,
        best,
        baselines=flag("baselines"),
        num_inits=FLAGS.test_inits,
        progress=progress,
    )
    print(heldout.format_table(rows))
    if FLAGS.workdir:
        path = os.path.join(FLAGS.workdir, "heldout.json")
        heldout.save(path, rows, config.settings, FLAGS.test_inits or config.settings.num_inits)
        print(f"wrote {path}")
    print(f"total {time.time() - start:.1f}s")


if __name__ == "__main__":
    app.run(main)
