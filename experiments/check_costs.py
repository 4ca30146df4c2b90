"""Check our networks' parameter and FLOP counts against the benchmark table, for every arch.

  python experiments/check_costs.py --space=nb201              # fast sum, all 15,625 x 3 datasets
  python experiments/check_costs.py --space=nb201 --trace      # trace every whole network (~1 h)
  python experiments/check_costs.py --space=nds                # every NDS file in the data (8 s)

Exits non-zero and lists the first mismatches if any architecture differs.
"""

from __future__ import annotations

import sys

from absl import app, flags

from zcjax.data import no_data_hint
from zcjax.progress import printer
from zcjax.spaces import check, get_space, nds

FLAGS = flags.FLAGS
flags.DEFINE_string("space", "nb201", "Search space, or 'nds' for every NDS file present.")
flags.DEFINE_list("datasets", None, "Datasets to check (default: all of the space's).")
flags.DEFINE_bool("trace", False, "Count by tracing each whole Flax network (slow, independent).")
flags.DEFINE_string("data_dir", None, "Benchmark data folder.")


def main(argv):
    del argv
    ok = True
    names = [FLAGS.space]
    if FLAGS.space == "nds":
        names = nds.available_spaces(FLAGS.data_dir)
        if not names:
            sys.exit(f"error: no NDS files found: {no_data_hint()}")
    for name in names:
        for dataset in FLAGS.datasets or get_space(name).datasets:
            # Tracing takes about an hour for NB201: say how far it is (the fast sum needs no lines).
            progress = None
            if FLAGS.trace:
                progress = printer(lambda line, p=f"{name}/{dataset}": print(f"{p}: {line}"), 30)
            try:
                report = check.check_costs(name, dataset, FLAGS.trace, FLAGS.data_dir, progress)
            except (ValueError, OSError) as e:
                sys.exit(f"error: {e}")
            print(report.summary())
            ok &= report.ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    app.run(main)
