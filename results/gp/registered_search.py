"""Every registered ``evolved*`` program on one common fitness: the *search* splits of seed 0
(no test architecture is read), so programs from searches of different fitnesses can be
compared before any test score is looked at.

Tasks: NB201's search split for CIFAR-10, CIFAR-100 and ImageNet16-120 (validation accuracy;
the architectures of the whole-space files ``results/heldout/seed0/headline*_<ds>.csv.gz`` outside
``nb201_seed0_test.txt``) and the search half of each NDS ImageNet cell space (the record's
accuracy; ``results/heldout/seed0/nds*_<space>.csv`` outside ``nds_<space>_seed0_test.txt``),
at the search's settings. A program's members are read as ``registered.py`` reads them (a
baseline column, or a file that scored the member) and combined by the sum of log-ranks over the
rows where every member was scored; the bar (``eznas_a+params`` on NB201, EZNAS-A on NDS) is
recomputed on the same rows. A cell is "-" where a member was never scored on that task.

The rule that names ``evolved`` among the programs scored on all eight tasks: most clauses of
issue 14's target met on these splits (rho >= .92 on CIFAR-10; above ``eznas_a+params`` on all
three NB201 datasets; above EZNAS-A on at least 4 of the 5 NDS spaces), ties broken by the
smallest margin over the bars across the eight tasks (the searches' min-over-tasks fitness on
every task the target names). From the repository root:

  python results/gp/registered_search.py     # -> results/gp/registered_search.md
"""

import os
import sys
from pathlib import Path

import numpy as np

from zcjax import metrics, scorefile
from zcjax.program import PROGRAMS, network, parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "heldout"))
from registered import COLUMN_OF  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from nb201_ensembles import split_indices  # noqa: E402

OUT = "results/gp/registered_search.md"
SEED0 = Path("results/heldout/seed0")
NB201 = ("cifar10", "cifar100", "imagenet16")
NDS = ("darts", "amoeba", "enas", "nasnet", "pnas")
E, P = "eznas_a", "params"


def task_files(task: str) -> tuple[scorefile.ScoreFile, list[scorefile.ScoreFile], set[int]]:
    """(the baseline file, every file that may hold a member, the test split's indices)."""
    if task in NB201:
        base = SEED0 / f"headline_{task}.csv.gz"
        others = sorted(SEED0.glob(f"headline_*_{task}.csv.gz"))
        test = SEED0 / "nb201_seed0_test.txt"
    else:
        base = SEED0 / f"nds_{task}_in.csv"
        others = sorted(SEED0.glob(f"nds_*_{task}_in.csv"))
        test = SEED0 / f"nds_{task}_in_seed0_test.txt"
    sf = scorefile.read(base)
    return sf, [sf] + [scorefile.read(p) for p in others], split_indices(test)


def column(name: str, files: list[scorefile.ScoreFile], index: np.ndarray) -> np.ndarray | None:
    """[N] the scores of ``name`` (a proxy column or a program's text) on the official
    ``index``, NaN where its file has no row; None if no file scored it."""
    for f in files:
        if name in f.scores:
            where = {int(i): k for k, i in enumerate(f.index) if f.present[name][k]}
            rows = [where.get(int(i)) for i in index]
            score = np.nan_to_num(f.scores[name], nan=-np.inf)  # NaN here means "no row"
            return np.array([np.nan if k is None else score[k] for k in rows])
    return None


def margin(text: str, sf, files, test: set[int], bar: tuple[str, ...]) -> tuple | None:
    """(program rho, its margin over the sum of log-ranks of ``bar``, rows) on the task's
    search split, or None."""
    trees = network.members(parse(text))
    members = [
        column(COLUMN_OF.get(str(m), str(m)), files, sf.index)
        for m in map(network.unaligned, trees)
    ]
    if any(m is None for m in members):
        return None
    search = np.array([int(i) not in test for i in sf.index])
    rows = search & np.isfinite(sf.target)
    for m in members:
        rows &= ~np.isnan(m)
    if rows.sum() < 10:
        return None
    y = sf.target[rows]
    size = sf.scores[P][rows]  # an aligned member is oriented over the rows ranked
    ours = metrics.log_rank_sum(
        [
            metrics.orient(m[rows], size) if network.is_aligned(t) else m[rows]
            for m, t in zip(members, trees)
        ]
    )
    bars = metrics.log_rank_sum([sf.scores[b][rows] for b in bar])
    r = [metrics.correlations(x, y)["spearman"] for x in (ours, bars)]
    return r[0], r[0] - r[1], int(rows.sum())


def main() -> None:
    tasks = {t: task_files(t) for t in NB201 + NDS}
    names = sorted(
        (n for n in PROGRAMS if n.startswith("evolved")),
        key=lambda n: int(n.split("_")[1]) if "_" in n else 1,
    )
    lines = [
        "# The registered programs on seed 0's search splits: one common fitness",
        "",
        "`python results/gp/registered_search.py` (its docstring: files and rules). Cells:",
        "Spearman rho / margin over the bar (`eznas_a+params` on NB201, EZNAS-A on NDS) on the",
        "same rows; rows per cell in the last table. `min`: the smallest margin over the eight",
        "tasks (- where a task is missing); `NDS won`: spaces above EZNAS-A; `clauses`: of",
        "issue 14's three, met here (- unless every task is scored). The rule: most clauses,",
        "then the highest `min`.",
        "",
        "| program | " + " | ".join(tasks) + " | min | NDS won | clauses |",
        "|---|" + "---|" * (len(tasks) + 3),
    ]
    sizes, ranked = [], []
    for name in names:
        cells, margins, ns, wins = [], [], [], 0
        for t, (sf, files, test) in tasks.items():
            got = margin(PROGRAMS[name].text, sf, files, test, (E, P) if t in NB201 else (E,))
            if got is None:
                cells.append("-")
                ns.append("-")
                continue
            r, m, n = got
            cells.append(f"{r:.3f} / {m:+.3f}")
            margins.append(m)
            ns.append(str(n))
            wins += t in NDS and m > 0
        low, met = "-", "-"
        if len(margins) == len(tasks):
            c10 = float(cells[0].split(" / ")[0])
            nb = min(margins[: len(NB201)]) > 0
            met = (c10 >= 0.92) + nb + (wins >= 4)
            ranked.append((met, min(margins), name))
            low = f"{min(margins):+.3f}"
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {low} | {wins} | {met} |")
        sizes.append(f"| `{name}` | " + " | ".join(ns) + " |")
    best = max(ranked)
    lines += [
        "",
        f"By the rule, among the programs scored on all eight tasks: `{best[2]}` ({best[0]} "
        f"clauses, min margin {best[1]:+.3f}).",
    ]
    lines += ["", "| rows | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks), *sizes]
    text = "\n".join(lines) + "\n"
    with open(OUT, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
