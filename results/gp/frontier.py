"""Can any rank ensemble of our measures meet all three clauses of issue 14's target? The
frontier on the *search* splits of seed 0 (no test architecture is read).

Every multiset of the measured members (EZNAS-A 0..3 copies, each other member 0..2, 2..``MAX_SIZE``
in all; ``+`` is the sum of log-ranks, ``metrics.log_rank_sum``) is scored on
- NB201's search split for CIFAR-10, CIFAR-100 and ImageNet16-120 (validation accuracy), and
- the search half of each NDS ImageNet cell space (the record's accuracy): seed 0's split of
  ``tasks.split_archs`` for each space (``nds_<space>_seed0_test.txt``, written by
  ``heldout.write_test_splits``; DARTS's is the search's own).

The target's clauses, read on those splits: rho >= .92 on CIFAR-10; above ``eznas_a+params`` on
all three NB201 datasets; above EZNAS-A's rho on at least 4 of the 5 NDS spaces. For each number
of NDS spaces won (0..5) the table gives the ensemble of highest CIFAR-10 rho among those above
the NB201 bar: the Pareto frontier of the first and third clauses.

Three member sets, as the committed whole-space files allow:
- ``whole``: NB201's whole search split (14,625): EZNAS-A, params, FLOPs at the search's
  settings (``results/heldout/seed0/headline_<ds>.csv.gz``), SWAP and MeCo at their papers'
  and AZ-NAS's components at its paper's (``results/sota/headline``);
- ``sample``: the search-split part (935) of issue 13's 1000-architecture sample, adding NASWOT
  (``jacob_cov``) and VKDNW at VKDNW's settings (``results/sota/vkdnw_agg_<ds>.csv``);
- ``aligned``: ``whole``'s files, with AZ-NAS's components and MeCo *size-aligned* (``name~``,
  ``aligned``: negated on a task where they rank its search split against params).
NDS: every measure of ``results/nds/<space>_in.csv`` (32 px CIFAR-10 images, batch 16). From the
repository root:

  python results/gp/frontier.py     # -> results/gp/frontier.md (a few minutes)
"""

import itertools
import os
import sys

import numpy as np
import scipy.stats

from zcjax import metrics

sys.path.insert(0, os.path.dirname(__file__))
from nb201_ensembles import TEST, ensemble, read_split  # noqa: E402

OUT = "results/gp/frontier.md"
NB201 = ("cifar10", "cifar100", "imagenet16")
NDS = ("darts", "amoeba", "enas", "nasnet", "pnas")
SPLITS = "results/heldout/seed0/nds_{}_in_seed0_test.txt"
E, P = "eznas_a", "params"
MAX_SIZE = 9
CHUNK = 1024
MEMBERS = {
    "whole": (
        E,
        P,
        "flops",
        "swap",
        "az_trainability",
        "az_expressivity",
        "meco",
        "az_progressivity",
    ),
    "sample": (E, P, "flops", "swap", "az_trainability", "az_expressivity", "jacob_cov", "vkdnw"),
    "aligned": (
        E,
        P,
        "flops",
        "swap",
        "az_trainability~",
        "az_expressivity~",
        "meco~",
        "az_progressivity~",
    ),
}
ALIGN_TO = P  # ``name~``: ``name`` oriented by the sign of its Spearman rho with params


def aligned(columns: dict, name: str) -> np.ndarray:
    """[N] ``name``'s scores, negated where they rank the scored set against ``ALIGN_TO``
    (Spearman rho < 0 over the same architectures, ``metrics.orient``, as an ensemble's
    ``net_aligned`` member and score.py's ``name~``): label-free, set-level, like a log-rank."""
    return metrics.orient(np.nan_to_num(columns[name], nan=-np.inf), columns[ALIGN_TO])


def nb201_paths(members: str, ds: str) -> list[str]:
    head = f"results/heldout/seed0/headline_{ds}.csv.gz"
    if members == "sample":
        return [head, f"results/sota/vkdnw_agg_{ds}.csv", f"results/sota/swap_{ds}.csv"]
    return [head] + [f"results/sota/headline/{p}_{ds}.csv.gz" for p in ("swap", "meco", "az_nas")]


def rho(columns: dict, y: np.ndarray, members: tuple[str, ...]) -> float:
    """Spearman rho of one measure, or of the sum of log-ranks of ``members``, with ``y``."""
    return float(metrics.correlations(ensemble(columns, members), y)["spearman"])


def counts(names: tuple[str, ...]) -> np.ndarray:
    """[K, len(names)] copies of each member: EZNAS-A (first) 0..3, the others 0..2, 2..MAX_SIZE
    members in all."""
    ranges = [range(4)] + [range(3)] * (len(names) - 1)
    rows = [c for c in itertools.product(*ranges) if 2 <= sum(c) <= MAX_SIZE]
    return np.array(rows, np.float64)


def ensemble_rhos(columns: dict, y: np.ndarray, names: tuple[str, ...], c: np.ndarray):
    """[K] Spearman rho with ``y`` [N] of the ensemble of each row of ``c`` [K, M]: the
    ``c``-weighted sum of the members' log-ranks, ``metrics.log_rank_sum`` vectorised."""
    logs = np.stack([metrics.log_rank_sum([columns[n]]) for n in names])  # [M, N]
    ry = scipy.stats.rankdata(y)
    ry -= ry.mean()
    out = []
    for k in range(0, len(c), CHUNK):
        r = scipy.stats.rankdata(c[k : k + CHUNK] @ logs, axis=-1)
        r -= r.mean(axis=-1, keepdims=True)
        out.append((r @ ry) / np.sqrt((r * r).sum(-1) * (ry @ ry)))
    return np.concatenate(out)


def frontier(which: str) -> list[str]:
    names = MEMBERS[which]
    tasks = {ds: read_split(nb201_paths(which, ds), TEST) for ds in NB201}
    tasks |= {s: read_split([f"results/nds/{s}_in.csv"], SPLITS.format(s)) for s in NDS}
    for columns, _ in tasks.values():
        for n in names:
            if n.endswith("~"):
                columns[n] = aligned(columns, n[:-1])
    nb_bar = {ds: rho(*tasks[ds], (E, P)) for ds in NB201}
    nds_bar = {s: rho(*tasks[s], (E,)) for s in NDS}
    c = counts(names)
    r = {t: ensemble_rhos(*tasks[t], names, c) for t in tasks}  # task -> [K]
    above = np.min([r[ds] - nb_bar[ds] for ds in NB201], axis=0) > 0
    wins = np.sum([r[s] > nds_bar[s] for s in NDS], axis=0)
    sizes = " / ".join(str(len(tasks[t][1])) for t in tasks)
    lines = [
        f"### `{which}`: {', '.join(names)}",
        "",
        f"Architectures per task ({', '.join(tasks)}): {sizes}. {len(c):,} ensembles, "
        f"{int(above.sum()):,} above `eznas_a+params` on all three NB201 datasets.",
        "",
        "| NDS won | " + " | ".join(tasks) + " | ensemble |",
        "|---|" + "---|" * (len(tasks) + 1),
        "| bars | "
        + " | ".join(f"{nb_bar[ds]:.3f}" for ds in NB201)
        + " | "
        + " | ".join(f"{nds_bar[s]:.3f}" for s in NDS)
        + " | `eznas_a+params` (NB201), `eznas_a` (NDS) |",
    ]
    for w in range(len(NDS), -1, -1):
        pick = np.flatnonzero(above & (wins == w))
        if not len(pick):
            continue
        k = pick[np.argmax(r["cifar10"][pick])]
        cells = " | ".join(f"{r[t][k]:.3f}" for t in tasks)
        m = " + ".join(n for n, n_copies in zip(names, c[k]) for _ in range(int(n_copies)))
        lines.append(f"| {w} of 5 | {cells} | {m} |")
    return lines


def main() -> None:
    lines = [
        "# The target's clauses on the search splits: the frontier of rank ensembles",
        "",
        "`python results/gp/frontier.py` (see its docstring for files and settings). Spearman",
        "rho on seed 0's search splits; no test architecture is read. Each row: among the",
        "ensembles above `eznas_a+params` on all three NB201 datasets that beat EZNAS-A on",
        "exactly that many of the five NDS cell spaces, the one of highest CIFAR-10 rho.",
        "",
    ]
    for which in MEMBERS:
        lines += frontier(which) + [""]
    text = "\n".join(lines)
    with open(OUT, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
