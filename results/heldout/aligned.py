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

from zcjax import metrics, scorefile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "gp"))
from frontier import NB201, NDS, SPLITS, TEST, aligned, nb201_paths  # noqa: E402

OUT = "results/heldout/aligned.md"
E, P, F = "eznas_a", "params", "flops"
T, M, G = "az_trainability~", "meco~", "az_progressivity~"
FIVE = (E, E, F, T, M, G)
TEN = (E, E, P, P, "swap", T)


def rows(paths: list[str], keep) -> tuple[dict, np.ndarray]:
    """(proxy -> [N] scores, [N] target) over the architectures every file scored in full
    whose official index ``keep`` accepts."""
    files = [scorefile.read(p) for p in paths]
    where = [{int(i): k for k, i in enumerate(f.index)} for f in files]
    scored = [
        {i for i, k in w.items() if all(f.present[p][k] for p in f.scores)}
        for f, w in zip(files, where)
    ]
    archs = np.array(sorted(i for i in set.intersection(*scored) if keep(i)))
    columns = {}
    for f, w in zip(files, where):
        columns.update({p: s[[w[i] for i in archs]] for p, s in f.scores.items()})
    return columns, files[0].target[[where[0][i] for i in archs]]


def cell(columns: dict, y: np.ndarray, members: tuple[str, ...]) -> tuple[float, str]:
    x = (
        columns[members[0]]
        if len(members) == 1
        else metrics.log_rank_sum([columns[m] for m in members])
    )
    c = metrics.correlations(np.nan_to_num(x, nan=-np.inf), y)
    return c["spearman"], f"{c['spearman']:.3f} / {c['kendall_tau']:.3f}"


def held_out(path: str) -> set[int]:
    return {int(line.split()[0]) for line in open(path) if not line.startswith("#")}


def main() -> None:
    sets = {}
    test = held_out(TEST)
    for ds in NB201:
        sets[f"NB201 {ds}, test split"] = (rows(nb201_paths("whole", ds), test.__contains__), True)
        sets[f"NB201 {ds}, all 15,625"] = (rows(nb201_paths("whole", ds), lambda i: True), True)
    for s in NDS:
        half = held_out(SPLITS.format(s))
        nds = [f"results/nds/{s}_in.csv"]
        sets[f"NDS {s}, test half"] = (rows(nds, half.__contains__), False)
        sets[f"NDS {s}, every record"] = (rows(nds, lambda i: True), False)
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
