"""Check our networks' parameter and FLOP counts against the benchmark table, for every arch.

  python experiments/check_costs.py --space=nb201              # fast sum, all 15,625 x 3 datasets
  python experiments/check_costs.py --space=nb201 --trace      # trace every whole network (~1 h)

Exits non-zero and lists the first mismatches if any architecture differs.
"""

from __future__ import annotations

import sys

from absl import app, flags

from zcjax.spaces import check

FLAGS = flags.FLAGS
flags.DEFINE_string("space", "nb201", "Search space.")
flags.DEFINE_list("datasets", ["cifar10", "cifar100", "imagenet16"], "Datasets to check.")
flags.DEFINE_bool("trace", False, "Count by tracing each whole Flax network (slow, independent).")
flags.DEFINE_string("data_dir", None, "Benchmark data folder.")


def main(argv):
    del argv
    ok = True
    for dataset in FLAGS.datasets:
        report = check.check_costs(FLAGS.space, dataset, trace=FLAGS.trace, data_dir=FLAGS.data_dir)
        print(report.summary())
        ok &= report.ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    app.run(main)
