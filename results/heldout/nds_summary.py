"""Issue 14 item 7, NDS part: one table over the NDS ImageNet spaces that run.sh's nds part
scored -- tau and rho with 95% bootstrap CIs of the seed's registered evolved programs next to
EZNAS-A, params, FLOPs and their rank ensemble -- and the target's count per program (above
EZNAS-A's rho on at least four of the five cell spaces). From the repository root:

  python results/heldout/nds_summary.py [SEED]   # -> results/heldout/seed<SEED>/nds_summary.md

DARTS_in is the space the search's nds_darts_in task drew from, so it is reported twice: all
records, and its test split (the records the search never saw). Ensemble scores are the ones
the CSV computed over all of a space's records. The programs scored apart (the NB201-only
search's, never shown NDS, and discover_swap's) are read from run.sh's nds_<tag> parts,
nds_<tag>_gen<G>_<space>.csv; a program that no file scored whole is derived from its members'
columns over all of the space's records (``registered.program_scores``), else its cell is empty.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np

from zcjax import metrics, scorefile
from zcjax.program import PROGRAMS

CELL_SPACES = ("darts_in", "amoeba_in", "enas_in", "nasnet_in", "pnas_in")
SPACES = CELL_SPACES + ("resnext-a_in", "resnext-b_in")
BASELINES = ("eznas_a", "params", "flops", "eznas_a+params")


def test_split(path: Path) -> set[int]:
    """The record indices listed in a recommend.py test-split file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {int(ln.split()[0]) for ln in lines if ln and not ln.startswith("#")}


def cell(key, scores, target) -> str:
    c = metrics.correlations(scores, target)
    ci = metrics.bootstrap_ci(key, scores, target)
    lo, hi = ci["spearman"]
    return f"{c['spearman']:.3f} [{lo:.3f}, {hi:.3f}] / {c['kendall_tau']:.3f}"


def space_scores(sf: scorefile.ScoreFile, more: list[Path]) -> dict[str, np.ndarray]:
    """Proxy -> [N] scores of a space's file, with the proxies of ``more`` files of the same
    space (every record, in the same order) added."""
    scores = dict(sf.scores)
    for path in more:
        other = scorefile.read(path)
        if not np.array_equal(other.index, sf.index):
            sys.exit(f"error: {path} does not hold the records of its space's file in order")
        scores.update(other.scores)
    return scores


def main(seed: int) -> None:
    from registered import program_scores  # registered imports this module's space names

    out = Path(f"results/heldout/seed{seed}")
    evolved = {
        n: s.text for n, s in PROGRAMS.items() if n.startswith("evolved") and s.origin.seed == seed
    }
    names = tuple(evolved) + BASELINES
    head = "| space | n | " + " | ".join(names) + " |"
    lines = [
        "# NDS ImageNet spaces: the evolved programs against EZNAS-A, params, FLOPs and their "
        "ensemble",
        "",
        f"Search seed {seed}'s settings (batch 16, EZNAS init and normalisation, one init), "
        "32 px CIFAR-10 images substituting ImageNet, every record of each space. Each cell: "
        "Spearman rho [95% bootstrap CI] / Kendall tau against the record's accuracy. "
        "The registered programs of this seed's searches:",
        "",
        *(f"- {n} = `{text}`" for n, text in evolved.items()),
        "",
        head,
        "|" + "---|" * (len(names) + 2),
    ]
    wins, scored = dict.fromkeys(evolved, 0), dict.fromkeys(evolved, 0)
    key = jax.random.key(seed)
    split = test_split(out / f"nds_darts_in_seed{seed}_test.txt")
    rows = [(s, None) for s in SPACES]
    rows.insert(1, ("darts_in", split))
    for j, (space, subset) in enumerate(rows):
        path = out / f"nds_{space}.csv"
        if not path.exists():
            continue
        sf = scorefile.read(path)
        scores_of = space_scores(sf, sorted(out.glob(f"nds_*_gen*_{space}.csv")))
        files = sorted(out.glob(f"nds_*_{space}.csv"))
        for text in evolved.values():  # a program no file scored whole: from its members
            if text not in scores_of:
                derived = program_scores(text, sf, files)
                if derived is not None:
                    scores_of[text] = derived
        keep = np.ones(len(sf.index), bool) if subset is None else np.isin(sf.index, list(subset))
        target = sf.target[keep]
        cells, rhos = [], {}
        for i, name in enumerate(names):
            if evolved.get(name, name) not in scores_of:
                cells.append("")
                continue
            scores = scores_of[evolved.get(name, name)][keep]
            rhos[name] = metrics.correlations(scores, target)["spearman"]
            cells.append(cell(jax.random.fold_in(key, 100 * j + i), scores, target))
        if space in CELL_SPACES and subset is None:
            for name in evolved:
                if name in rhos:
                    scored[name] += 1
                    wins[name] += rhos[name] > rhos["eznas_a"]
        label = space if subset is None else f"{space} (test split)"
        lines.append(f"| {label} | {int(keep.sum())} | " + " | ".join(cells) + " |")
    lines.append("")
    for name, count in wins.items():
        lines.append(
            f"- `{name}` is above EZNAS-A's rho on {count} of the {scored[name]} cell spaces "
            f"scored (all records; the target asks for at least 4 of {len(CELL_SPACES)})."
            if scored[name]
            else f"- `{name}` is not scored on the NDS spaces."
        )
    lines.append("")
    text = "\n".join(lines)
    (out / "nds_summary.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
