"""What rank ensembles of measured proxies reach on NB201's search split (issue 14): EZNAS-A,
params and AZ-NAS's components, summed as log-ranks (``metrics.log_rank_sum``), on seed 0's
search split (every NB201 architecture outside ``results/heldout/seed0/nb201_seed0_test.txt``)
from the whole-space scores already committed: ``results/heldout/seed0/headline_<ds>.csv.gz``
(EZNAS-A and params at the search's settings) and ``results/sota/headline/az_nas_<ds>.csv.gz``
(AZ-NAS's components at its paper's settings; ``az_nas`` is the sum of their log-ranks over
the architectures read). No test architecture is read, so the table can
guide the choice of search tasks without tuning on the test split. Spearman rho and Kendall tau
against the validation accuracy, 95% bootstrap CIs (1000 resamples). From the repository root:

  python results/gp/nb201_ensembles.py cifar10 [imagenet16 ...]   # -> results/gp/nb201_ensembles.md
"""

import sys

import jax
import numpy as np

from zcjax import metrics, scorefile

TEST = "results/heldout/seed0/nb201_seed0_test.txt"
OUT = "results/gp/nb201_ensembles.md"
E, P = "eznas_a", "params"
AZ = ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity")
# The ensembles, fixed before any was scored: the bar, then AZ-NAS's components added to it.
ENSEMBLES = (
    (E,),
    (P,),
    ("az_nas",),
    (E, P),
    (E, P, "az_expressivity"),
    (E, P, "az_trainability"),
    (E, P, "az_expressivity", "az_trainability"),
    (E, P, "az_expressivity", "az_progressivity", "az_trainability"),
    (E, P, "az_nas"),
    (E, *AZ),
)


def split_indices(path: str) -> set[int]:
    """The official indices a split file lists (``heldout.write_test_splits``'s format)."""
    return {int(line.split()[0]) for line in open(path) if not line.startswith("#")}


def read_split(
    paths: list[str], test: str | None, inside: bool = False
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(proxy -> [N] scores, [N] target) over the architectures that every score file of
    ``paths`` holds in full, less those listed in the split file ``test`` (official indices);
    with ``inside``, only those; with ``test`` None, all of them."""
    listed = set() if test is None else split_indices(test)
    files = [scorefile.read(p) for p in paths]
    where = [{int(i): k for k, i in enumerate(f.index)} for f in files]  # official -> row
    scored = [
        {i for i, k in w.items() if all(f.present[p][k] for p in f.scores)}
        for f, w in zip(files, where)
    ]
    common = set.intersection(*scored)
    archs = np.array(sorted(common & listed if inside else common - listed))
    columns = {}
    for f, w in zip(files, where):
        rows = np.array([w[i] for i in archs])
        columns.update({p: s[rows] for p, s in f.scores.items()})
    return columns, files[0].target[np.array([where[0][i] for i in archs])]


def search_split(dataset: str) -> tuple[int, dict[str, np.ndarray], np.ndarray]:
    """(archs, proxy -> [N] scores, [N] accuracy) on seed 0's search split of ``dataset``."""
    columns, target = read_split(
        [
            f"results/heldout/seed0/headline_{dataset}.csv.gz",
            f"results/sota/headline/az_nas_{dataset}.csv.gz",
        ],
        TEST,
    )
    # AZ-NAS itself over these architectures: a partial file has no az_nas rows yet (score.py
    # ranks the components once the whole file is scored).
    columns["az_nas"] = metrics.log_rank_sum([columns[c] for c in AZ])
    return len(target), columns, target


def ensemble(columns: dict, members: tuple[str, ...]) -> np.ndarray:
    """[N] one proxy's scores, or the sum of log-ranks of ``members``; a non-finite score
    ranks last (-inf), as the held-out reports do."""
    x = (
        columns[members[0]]
        if len(members) == 1
        else metrics.log_rank_sum([columns[m] for m in members])
    )
    return np.nan_to_num(x, nan=-np.inf)


def cell(k: int, columns: dict, members: tuple[str, ...], y: np.ndarray) -> str:
    """The "rho [95% CI] / tau" cell of one proxy or of the sum of log-ranks of ``members``."""
    x = ensemble(columns, members)
    c = metrics.correlations(x, y)
    ci = metrics.bootstrap_ci(jax.random.key(k), x, y)["spearman"]
    return f"{c['spearman']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] / {c['kendall_tau']:.3f}"


def main(datasets: list[str]) -> None:
    lines = [
        "# Rank ensembles on NB201's search split (seed 0): what combining measures reaches",
        "",
        "`python results/gp/nb201_ensembles.py " + " ".join(datasets) + "`; every NB201",
        "architecture outside seed 0's test split that both whole-space files hold, validation",
        "accuracy; EZNAS-A and params at the search's settings (CIFAR-10 images, batch 16), AZ-NAS's",
        "components at its paper's (noise, batch 64, kaiming fan-in). `+` is the sum of log-ranks.",
        "Spearman rho [95% bootstrap CI] / Kendall tau.",
        "",
    ]
    results = {}
    for ds in datasets:
        n, columns, y = search_split(ds)
        results[ds] = (n, {})
        for k, members in enumerate(ENSEMBLES):
            results[ds][1][members] = cell(k, columns, members, y)
    lines.append(
        "| ensemble | " + " | ".join(f"{ds} ({results[ds][0]} archs)" for ds in datasets) + " |"
    )
    lines.append("|---|" + "---|" * len(datasets))
    for members in ENSEMBLES:
        lines.append(
            f"| {' + '.join(members)} | "
            + " | ".join(results[ds][1][members] for ds in datasets)
            + " |"
        )
    text = "\n".join(lines) + "\n"
    with open(OUT, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:] or ["cifar10"])
