"""Pictures and markdown tables of a scores CSV and/or a search's work folder.

  python experiments/report.py --csv=scores.csv            # -> scores_report/
  python experiments/report.py --csv=base.csv,az_nas.csv,evolved.csv --out_dir=heldout/c10
  python experiments/report.py --csv=headline.csv.gz --compare   # CIs for one (gzipped) CSV
  python experiments/report.py --csv=vkdnw.csv --compare --target=cifar10_test  # other target
  python experiments/report.py --csv=base.csv,evolved.csv --ensembles=eznas_a+evolved  # ad hoc
  python experiments/report.py --workdir=runs/eznas_c10_c100  # -> runs/eznas_c10_c100/report/

A scores CSV (``score.py --output``) gives ``table.md`` (Kendall tau, Spearman rho, Pearson r
per proxy against the CSV's target) and one scatter plot per proxy; a CSV without a target gives
score histograms and score ranges. Several CSVs of the same space, dataset and target (e.g.
baselines at one setting, AZ-NAS at its own, an evolved program), or one with ``--compare``,
give ``comparison.md`` (tau
and rho with 95% bootstrap CIs of every proxy of every file, on the architectures all files
scored) and ``comparison.png``. A work folder (``evolve.py --workdir``) gives ``fitness.png``
(best fitness +- SE, its validation fitness, median fitness, invalid children per generation),
``history.md`` (a row per generation) and ``heldout.md``. Prints the
tables and the written files. Needs matplotlib: ``pip install -e '.[plot]'``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
from absl import app, flags

from zcjax import report
from zcjax.scorefile import ScoreFileError

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "csv", None, "Scores CSV(s) written by score.py --output; several (comma-separated) compare."
)
flags.DEFINE_bool(
    "compare",
    False,
    "Write comparison.md/.png (95% bootstrap CIs) for a single CSV too (several always do).",
)
flags.DEFINE_integer("ci_seed", 0, "Seed of the bootstrap CIs of a comparison of several CSVs.")
flags.DEFINE_string(
    "target",
    None,
    "Benchmark column to correlate with instead of each CSV's own target, e.g. cifar10_test "
    "(the cifar10 model's test accuracy, as VKDNW's code uses); needs the benchmark table.",
)
flags.DEFINE_list(
    "ensembles",
    [],
    "Rank ensembles to add to the comparison, each proxies joined by '+' (e.g. "
    "az_expressivity+az_progressivity+az_trainability+az_complexity), computed over the "
    "architectures compared (so relative to them); members may come from different CSVs. "
    "Implies --compare.",
)
flags.DEFINE_string("data_dir", None, "Data folder for --target (default: as score.py finds it).")
flags.DEFINE_string("workdir", None, "Work folder of evolve.py --workdir.")
flags.DEFINE_string(
    "out_dir",
    None,
    "Folder for the report (default: <csv stem>_report/ next to the CSV, "
    "<first csv stem>_comparison/ for several, "
    "<workdir>/report/ for a work folder).",
)


def main(argv):
    del argv
    if not FLAGS.csv and not FLAGS.workdir:
        sys.exit("error: give --csv=scores.csv and/or --workdir=runs/x")
    written = []
    try:
        if FLAGS.csv and (len(FLAGS.csv) > 1 or FLAGS.compare or FLAGS.ensembles):
            first = Path(FLAGS.csv[0])
            out = FLAGS.out_dir or first.with_name(first.stem + "_comparison")
            key = jax.random.key(FLAGS.ci_seed)
            written += report.comparison_report(
                key,
                FLAGS.csv,
                out,
                target=FLAGS.target,
                data_dir=FLAGS.data_dir,
                ensembles=FLAGS.ensembles,
            )
        elif FLAGS.csv:
            csv = Path(FLAGS.csv[0])
            out = FLAGS.out_dir or csv.with_name(csv.stem + "_report")
            written += report.csv_report(csv, out, target=FLAGS.target, data_dir=FLAGS.data_dir)
        if FLAGS.workdir:
            out = FLAGS.out_dir or Path(FLAGS.workdir) / "report"
            written += report.workdir_report(FLAGS.workdir, out)
    except (ScoreFileError, ImportError, OSError, ValueError) as e:
        sys.exit(f"error: {e}")
    for path in written:
        if path.suffix == ".md":
            print(path.read_text(encoding="utf-8"))
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
