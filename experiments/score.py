"""Score NAS architectures with zero-cost proxies and correlate them with trained accuracy.

  python experiments/score.py --space=nb201 --dataset=cifar10 --proxies=params,flops \
      --num_archs=1000 --seed=0 --output=scores.csv

Writes one CSV row per (architecture, proxy) and prints Kendall tau, Spearman rho and Pearson r
per proxy against ``--target`` (default: the dataset's validation accuracy). Without benchmark
data it still scores architectures from the enumerated space and says how to get ground truth.
Compiled kernels are kept in JAX's persistent compilation cache, by default in
``$ZCJAX_CACHE``, else ``$XDG_CACHE_HOME/zcjax/xla`` or ``~/.cache/zcjax/xla`` (the first line
printed names it; ``--compilation_cache_dir=none`` turns it off).

Several processes (hosts) share the architectures with ``--coordinator_address=host:port
--num_processes=P --process_id=i`` (auto-detected on SLURM and TPU pods): process i scores
positions i, i + P, ...; process 0 writes the CSV and prints the table, identical to one
process's. Every other flag but ``--output``, ``--program`` and ``--progress_every`` is a
field of ``zcjax.ScoreConfig`` or ``zcjax.Settings``, with their defaults.
"""

from __future__ import annotations

import sys
import time

import cli
from absl import app, flags

from zcjax import distributed, scoring
from zcjax.progress import printer
from zcjax.settings import Settings

FLAGS = flags.FLAGS
cli.define_flags(scoring.ScoreConfig(), skip=("settings", "programs"))
cli.define_flags(Settings())
flags.DEFINE_multi_string(
    "program", [], "A proxy program as text (repeatable), e.g. 'mean(relu_in_grad@data)'."
)
flags.DEFINE_string(
    "output",
    None,
    "Scores CSV (index,arch,proxy,score,score_std,target), written as archs are scored; "
    "rerunning the same command resumes it.",
)
flags.DEFINE_float("progress_every", 10.0, "Seconds between progress lines.")
cli.define_cache_flag()
cli.define_distributed_flags()
cli.define_malloc_flag()
flags.adopt_module_key_flags(cli)


def main(argv):
    del argv
    start = time.time()
    try:  # bad flags, archs or data: one clear line, no traceback
        malloc = cli.tune_malloc()  # before any thread allocates: one arena for all
        joined = cli.init_distributed()
        if joined:
            print(joined, flush=True)
        print(cli.use_compilation_cache(), flush=True)
        print(malloc, flush=True)
        if FLAGS["num_archs"].present and FLAGS["archs_file"].present:
            raise ValueError(
                "--num_archs and --archs_file both given: the file lists the architectures to "
                "score (for fewer, give a file of its first lines)."
            )
        settings = cli.from_flags(Settings())
        config = cli.from_flags(
            scoring.ScoreConfig(), programs=tuple(FLAGS.program), settings=settings
        )
        progress = None
        if distributed.is_writer():
            progress = printer(lambda line: print(line, flush=True), every_s=FLAGS.progress_every)
        result = scoring.run_scoring(config, progress, output=FLAGS.output)
    except (ValueError, OSError) as e:
        sys.exit(f"error: {e}")
    if not distributed.is_writer():
        print(f"scored a share of {len(result.archs)} archs in {time.time() - start:.1f}s")
        return
    for note in result.notes:
        print(note)
    if FLAGS.output:
        print(f"wrote {len(result.archs) * len(result.scores)} rows to {FLAGS.output}")
    print(scoring.format_table(result) or scoring.format_scores(result))
    print(f"scored {len(result.archs)} archs on {result.dataset} in {time.time() - start:.1f}s")


if __name__ == "__main__":
    app.run(main)
