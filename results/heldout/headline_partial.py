"""Partial CIFAR-10 headline of seed 0 (issue 14): `evolved` against `evolved_4`, EZNAS-A,
params and their rank ensemble on the archs that headline_evolved_cifar10.csv holds so far,
every ensemble recomputed over those archs. From the repository root, after `gunzip -k` of
both .csv.gz files: python results/heldout/headline_partial.py
"""

import collections
import csv

import numpy as np
import scipy.stats

from zcjax.metrics import log_rank_sum

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


def main() -> None:
    evolved, target = read(f"{OUT}/headline_evolved_cifar10.csv")
    headline, _ = read(f"{OUT}/headline_cifar10.csv")
    archs = sorted(set.intersection(*[set(v) for v in evolved.values()]))
    y = np.array([target[i] for i in archs])

    def column(scores, proxy):
        return np.array([scores[proxy][i] for i in archs])

    members_4 = [p for p in headline if p.startswith("net_mean")] + ["log_params"]
    columns = {
        "evolved": log_rank_sum([column(evolved, p) for p in evolved]),
        "evolved_4": log_rank_sum([column(headline, p) for p in members_4]),
        "eznas_a+params": log_rank_sum([column(headline, "eznas_a"), column(headline, "params")]),
        "eznas_a": column(headline, "eznas_a"),
        "params": column(headline, "params"),
    }
    print(f"{len(archs)} archs")
    for name, x in columns.items():
        x = np.nan_to_num(x, nan=-np.inf)
        rho, tau = scipy.stats.spearmanr(x, y)[0], scipy.stats.kendalltau(x, y)[0]
        print(f"{name}: rho {rho:.3f} tau {tau:.3f}")
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(200):  # paired bootstrap over architectures
        s = rng.integers(0, len(archs), len(archs))
        diffs.append(
            scipy.stats.spearmanr(columns["evolved"][s], y[s])[0]
            - scipy.stats.spearmanr(columns["evolved_4"][s], y[s])[0]
        )
    low, high = np.percentile(diffs, [2.5, 97.5])
    print(f"evolved - evolved_4 rho {np.mean(diffs):+.3f} [{low:+.3f}, {high:+.3f}]")


if __name__ == "__main__":
    main()
