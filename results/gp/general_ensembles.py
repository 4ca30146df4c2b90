"""Which measures rank NB201 and NDS-DARTS alike (issue 14): single proxies and rank ensembles
(sum of log-ranks, ``metrics.log_rank_sum``) on the *search* splits of seed 0, NB201's three
datasets (every architecture outside ``results/heldout/seed0/nb201_seed0_test.txt``) and
NDS-DARTS (every record outside ``nds_darts_in_seed0_test.txt``), from committed score files:
EZNAS-A, params and FLOPs at the search's settings (``results/heldout/seed0/headline_<ds>``),
SWAP and MeCo at their papers' (``results/sota/headline``), AZ-NAS's components at its paper's
where the whole space was scored (CIFAR-10, ImageNet16-120), and on NDS-DARTS every measure of
``results/nds/darts_in.csv`` (32 px CIFAR-10 images, batch 16, EZNAS's init). No test
architecture is read, so the table can guide the search's terminals without tuning on a test
split. A name given twice counts twice (the weighted ensembles of ``discover_weights``).
Spearman rho [95% bootstrap CI] / Kendall tau. From the repository root:

  python results/gp/general_ensembles.py     # -> results/gp/general_ensembles.md
"""

import os
import sys

from zcjax import scorefile

sys.path.insert(0, os.path.dirname(__file__))
from nb201_ensembles import TEST, cell, read_split  # noqa: E402

OUT = "results/gp/general_ensembles.md"
NB201_ARCHS = 15625
NDS_TEST = "results/heldout/seed0/nds_darts_in_seed0_test.txt"
E, P, F, S = "eznas_a", "params", "flops", "swap"
T, X = "az_trainability", "az_expressivity"
ENSEMBLES = (
    (E,),
    (P,),
    (S,),
    ("swap_reg",),
    ("meco",),
    (X,),
    ("az_progressivity",),
    (T,),
    (E, P),
    (E, S),
    (E, P, S),
    (E, F, S),
    (E, P, F, S),
    (E, P, T),
    (E, P, X, T),
    (E, P, S, T),
    (E, E, P, P, S, T),
    (E, E, E, P, F),
    (E, E, E, P, F, S),
)
TASKS = ("cifar10", "cifar100", "imagenet16", "nds_darts_in")


def columns_of(task: str):
    if task == "nds_darts_in":
        return read_split(["results/nds/darts_in.csv"], NDS_TEST)
    paths = [
        f"results/heldout/seed0/headline_{task}.csv.gz",
        f"results/sota/headline/swap_{task}.csv.gz",
        f"results/sota/headline/meco_{task}.csv.gz",
    ]
    az = f"results/sota/headline/az_nas_{task}.csv.gz"
    if os.path.exists(az) and len(scorefile.read(az).index) == NB201_ARCHS:
        paths.append(az)  # whole space only: a partial file would shrink every row's sample
    return read_split(paths, TEST)


def main() -> None:
    cols = {}
    header = "| ensemble |"
    for t in TASKS:
        columns, y = columns_of(t)
        cols[t] = (columns, y)
        header += f" {t} ({len(y)}) |"
    lines = [
        "# Measures that rank NB201 and NDS-DARTS alike: seed 0's search splits",
        "",
        "`python results/gp/general_ensembles.py` (see its docstring for the files and",
        "settings). `+` is the sum of log-ranks; Spearman rho [95% bootstrap CI] / Kendall tau",
        "against validation accuracy (NB201) or the record's accuracy (NDS); - where a measure",
        "was not scored on the whole space. No test architecture is read.",
        "",
        header,
        "|---|" + "---|" * len(TASKS),
    ]
    for k, members in enumerate(ENSEMBLES):
        row = [
            cell(k, columns, members, y) if all(m in columns for m in members) else "-"
            for columns, y in cols.values()
        ]
        lines.append(f"| {' + '.join(members)} | " + " | ".join(row) + " |")
    text = "\n".join(lines) + "\n"
    with open(OUT, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
