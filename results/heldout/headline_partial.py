"""NB201 headline of seed 0 (issue 14), CIFAR-10 unless a dataset is given: an evolved program
(`evolved_9`, which was `evolved` until 2026-12-07, unless named) against `evolved_4`, EZNAS-A, params and their rank ensemble on the
archs that the program's headline file holds (all 15,625 once it is complete), every ensemble
recomputed over those archs; Spearman rho with 95% bootstrap CIs (200 paired resamples of the
archs) and the paired differences of the program. `evolved_9` is read from
headline_evolved_<dataset>.csv, a program of the NB201-only search from run.sh's headline_nb201
part, headline_nb201_gen<G>_<dataset>.csv. From the repository root, after `gunzip -k` of the
.csv.gz files: python results/heldout/headline_partial.py [cifar10|cifar100|imagenet16] [NAME]
"""

import collections
import csv
import sys

import numpy as np
import scipy.stats

from zcjax.metrics import log_rank_sum
from zcjax.program import PROGRAMS

OUT = "results/heldout/seed0"


def read(path: str) -> tuple[dict[str, dict[int, float]], dict[int, float]]:
    """(proxy -> index -> score, index -> target) of a scores CSV."""
    scores, target = collections.defaultdict(dict), {}
    with open(path) as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            i = int(row["index"])
            scores[row["proxy"]][i] = float(row["score"])
            target[i] = float(row["target"])
    return scores, target


def headline_file(name: str, dataset: str) -> str:
    """The headline CSV that run.sh writes for the registered program ``name``."""
    origin = PROGRAMS[name].origin
    if origin is not None and origin.config == "discover_az_nb201":
        return f"{OUT}/headline_nb201_gen{origin.generation}_{dataset}.csv"
    if name != "evolved_9":  # registered.py reports today's evolved, derived from columns
        sys.exit(f"error: run.sh scores no headline file for {name}")
    return f"{OUT}/headline_evolved_{dataset}.csv"


def main(dataset: str = "cifar10", name: str = "evolved_9") -> None:
    evolved, target = read(headline_file(name, dataset))
    evolved.pop(PROGRAMS[name].text, None)  # the members, recombined over the archs held
    headline, _ = read(f"{OUT}/headline_{dataset}.csv")
    archs = sorted(set.intersection(*[set(v) for v in evolved.values()]))
    y = np.array([target[i] for i in archs])

    def column(scores, proxy):
        return np.array([scores[proxy][i] for i in archs])

    members_4 = [p for p in headline if p.startswith("net_mean")] + ["log_params"]
    columns = {
        name: log_rank_sum([column(evolved, p) for p in evolved]),
        "evolved_4": log_rank_sum([column(headline, p) for p in members_4]),
        "eznas_a+params": log_rank_sum([column(headline, "eznas_a"), column(headline, "params")]),
        "eznas_a": column(headline, "eznas_a"),
        "params": column(headline, "params"),
    }
    print(f"{len(archs)} archs")
    columns = {k: np.nan_to_num(x, nan=-np.inf) for k, x in columns.items()}
    rng = np.random.default_rng(0)
    samples = [rng.integers(0, len(archs), len(archs)) for _ in range(200)]  # paired bootstrap

    def rho(x, s=slice(None)):
        return scipy.stats.spearmanr(x[s], y[s])[0]

    boot = {k: np.array([rho(x, s) for s in samples]) for k, x in columns.items()}
    for k, x in columns.items():
        low, high = np.percentile(boot[k], [2.5, 97.5])
        tau = scipy.stats.kendalltau(x, y)[0]
        print(f"{k}: rho {rho(x):.3f} [{low:.3f}, {high:.3f}] tau {tau:.3f}")
    for other in ("evolved_4", "eznas_a+params"):
        diffs = boot[name] - boot[other]
        low, high = np.percentile(diffs, [2.5, 97.5])
        print(f"{name} - {other} rho {np.mean(diffs):+.3f} [{low:+.3f}, {high:+.3f}]")


if __name__ == "__main__":
    main(*sys.argv[1:3])
