"""Held-out check of the size-aligned rank ensembles that ``results/gp/frontier.py`` found on
the search splits (its ``aligned`` member set): do they keep all three clauses of issue 14's
target on architectures the choice never read?

``name~`` is ``name`` oriented by the sign of its Spearman rho with params over the scored
architectures (``frontier.aligned``): label-free and set-level, as the log-ranks of a rank
ensemble are. The ensembles are fixed by ``frontier.md`` (search splits only): the best
CIFAR-10 rho among those above EZNAS-A on all five NDS search halves (``FIVE``), and
``evolved_10``'s members with trainability aligned (``TEN``). Measures as in ``frontier.py``:
NB201 EZNAS-A, params and FLOPs at the search's settings, SWAP, MeCo and AZ-NAS's components at
their papers' (the whole-space files, read on seed 0's test split and on all 15,625); NDS every
measure of ``results/nds/<space>_in.csv`` on seed 0's test half and on every record; each
ensemble re-ranked over the set it scores. From the repository root:

  python results/heldout/aligned.py     # -> results/heldout/aligned.md (about a minute)
"""

import os
import sys

import numpy as np

from zcjax import metrics

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "gp"))
from frontier import NB201, NDS, SPLITS, TEST, aligned, nb201_paths  # noqa: E402
from nb201_ensembles import ensemble, read_split  # noqa: E402

OUT = "results/heldout/aligned.md"
E, P, F = "eznas_a", "params", "flops"
T, M, G = "az_trainability~", "meco~", "az_progressivity~"
FIVE = (E, E, F, T, M, G)
TEN = (E, E, P, P, "swap", T)


def cell(columns: dict, y: np.ndarray, members: tuple[str, ...]) -> tuple[float, str]:
    c = metrics.correlations(ensemble(columns, members), y)
    return c["spearman"], f"{c['spearman']:.3f} / {c['kendall_tau']:.3f}"


def main() -> None:
    sets = {}
    for ds in NB201:
        paths = nb201_paths("whole", ds)
        sets[f"NB201 {ds}, test split"] = (read_split(paths, TEST, inside=True), True)
        sets[f"NB201 {ds}, all 15,625"] = (read_split(paths, None), True)
    for s in NDS:
        paths = [f"results/nds/{s}_in.csv"]
        sets[f"NDS {s}, test half"] = (read_split(paths, SPLITS.format(s), inside=True), False)
        sets[f"NDS {s}, every record"] = (read_split(paths, None), False)
    lines = [
        "# Size-aligned rank ensembles held out",
        "",
        "`python results/heldout/aligned.py` (its docstring: files, settings). Spearman rho /",
        "Kendall tau; `win`: the ensemble's rho above the bar's (`eznas_a+params` on NB201,",
        "EZNAS-A on NDS) on the same architectures.",
        "",
        f"- `FIVE` = {' + '.join(FIVE)}",
        f"- `TEN` = {' + '.join(TEN)} (`evolved_10` with trainability aligned)",
        "",
        "| set | n | bar | FIVE | win | TEN | win |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, ((columns, y), nb201) in sets.items():
        for n in (T, M, G):
            columns[n] = aligned(columns, n[:-1])
        bar_rho, bar = cell(columns, y, (E, P) if nb201 else (E,))
        out = [name, str(len(y)), bar]
        for members in (FIVE, TEN):
            r, text = cell(columns, y, members)
            out += [text, "yes" if r > bar_rho else "no"]
        lines.append("| " + " | ".join(out) + " |")
    text = "\n".join(lines) + "\n"
    with open(OUT, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
