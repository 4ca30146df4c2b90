"""Score NAS architectures with zero-cost proxies and correlate them with trained accuracy.

  python experiments/score.py --space=nb201 --dataset=cifar10 --proxies=params,flops \
      --num_archs=1000 --seed=0 --output=scores.csv

Writes one CSV row per (architecture, proxy) and prints Kendall tau, Spearman rho and Pearson r
per proxy against ``--target`` (default: the dataset's validation accuracy). Without benchmark
data it still scores architectures from the enumerated space and says how to get ground truth.
"""

from __future__ import annotations

import sys
import time

from absl import app, flags

from zcjax import scoring
from zcjax.progress import printer

FLAGS = flags.FLAGS
flags.DEFINE_string("space", "nb201", "Search space.")
flags.DEFINE_enum(
    "dataset",
    None,
    ["cifar10", "cifar100", "imagenet16", "imagenet"],
    "Dataset (default: the space's first, cifar10 for nb201, imagenet for nds_*_in).",
)
flags.DEFINE_integer(
    "resolution",
    None,
    "Input height/width (default: the dataset's; 224 for imagenet, fed CIFAR-10 images "
    "resized bilinearly, or noise with --inputs=noise).",
)
flags.DEFINE_string(
    "target", None, "Benchmark column to correlate with (default: <dataset>_valid)."
)
flags.DEFINE_list("proxies", ["params", "flops"], "Proxies to compute (see zcjax.proxies).")
flags.DEFINE_integer("num_archs", 100, "Architectures to sample (>= space size: all).")
flags.DEFINE_string("archs_file", None, "File with one arch string or official index per line.")
flags.DEFINE_integer("seed", 0, "Seed for architecture sampling and proxy randomness.")
flags.DEFINE_string(
    "output",
    None,
    "Scores CSV (index,arch,proxy,score,score_std,target), written as archs are scored; "
    "rerunning the same command resumes it.",
)
flags.DEFINE_float("progress_every", 10.0, "Seconds between progress lines.")
flags.DEFINE_multi_string(
    "program", [], "A proxy program as text (repeatable), e.g. 'mean(relu_in_grad@data)'."
)
flags.DEFINE_integer("num_inits", 1, "Random initialisations per architecture (mean and std).")
flags.DEFINE_integer("batch_size", 64, "Images per batch for data-dependent proxies.")
flags.DEFINE_enum("inputs", "data", ["data", "noise"], "Real images or standard-normal inputs.")
flags.DEFINE_bool("augment", True, "Random crop and flip of the input images (as EZNAS).")
flags.DEFINE_enum("normalization", "official", ["official", "eznas"], "Input normalisation.")
flags.DEFINE_string("weight_init", "eznas", "Initialisation scheme: eznas or pytorch.")
flags.DEFINE_enum(
    "stats_method",
    "engine",
    ["engine", "module"],
    "Statistics by shared per-op kernels or by one jit of the whole network per architecture.",
)
flags.DEFINE_enum(
    "vmap_inits", "auto", ["auto", "true", "false"], "Vmap the inits (auto: on accelerators)."
)
flags.DEFINE_string(
    "data_dir", None, "Benchmark data folder (default: $ZCJAX_DATA, ../shared/data)."
)


def main(argv):
    del argv
    start = time.time()
    try:  # bad flags, archs or data: one clear line, no traceback
        config = scoring.ScoreConfig(
            space=FLAGS.space,
            dataset=FLAGS.dataset or "",
            proxies=tuple(FLAGS.proxies),
            target=FLAGS.target,
            num_archs=FLAGS.num_archs,
            archs_file=FLAGS.archs_file,
            seed=FLAGS.seed,
            programs=tuple(FLAGS.program),
            settings=scoring.Settings(
                num_inits=FLAGS.num_inits,
                batch_size=FLAGS.batch_size,
                inputs=FLAGS.inputs,
                augment=FLAGS.augment,
                normalization=FLAGS.normalization,
                weight_init=FLAGS.weight_init,
                vmap_inits={"auto": None, "true": True, "false": False}[FLAGS.vmap_inits],
                stats_method=FLAGS.stats_method,
                resolution=FLAGS.resolution,
                data_dir=FLAGS.data_dir,
            ),
        )
        progress = printer(lambda line: print(line, flush=True), every_s=FLAGS.progress_every)
        result = scoring.run_scoring(config, progress, output=FLAGS.output)
    except (ValueError, OSError) as e:
        sys.exit(f"error: {e}")
    for note in result.notes:
        print(note)
    if FLAGS.output:
        print(f"wrote {len(result.archs) * len(result.scores)} rows to {FLAGS.output}")
    table = scoring.format_table(result)
    print(table or scoring.format_scores(result))
    print(f"scored {len(result.archs)} archs on {result.dataset} in {time.time() - start:.1f}s")


if __name__ == "__main__":
    app.run(main)
