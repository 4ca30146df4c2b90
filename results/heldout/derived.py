"""Issue 14 item 7 with no network run: the held-out report of a registered ensemble whose
members are all baseline columns (EZNAS-A's tree, ``log_params``, ``log_flops``; e.g.
``evolved_9`` = 3 EZNAS-A + params + FLOPs), derived from run.sh's baseline files at the
search's settings. From the repository root:

  python results/heldout/derived.py evolved_9 [SEED]   # -> results/heldout/seed<SEED>/<name>.md

An ensemble's score is the weighted sum of its members' log-ranks over the scored architectures
(``metrics.log_rank_sum``, as score.py computes it), so it is recomputed here from the members'
columns over the same architectures: the test split (``baselines_<ds>.csv``, 1000 archs), all
15,625 NB201 architectures (``headline_<ds>.csv.gz``) and every record of each NDS ImageNet space
(``nds_<space>.csv``). ``log_params`` and ``params`` rank alike (log is increasing), and so do
``log_flops`` and ``flops``. AZ-NAS (issue 9) at its paper's settings sits beside it where the
files exist. Cells: Spearman rho [95% bootstrap CI] / Kendall tau against validation accuracy
(NB201) or the record's accuracy (NDS); the paired rho difference to the bar
(``eznas_a+params`` on NB201, EZNAS-A on NDS) is bootstrapped on the same resamples.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jax
import numpy as np

from zcjax import metrics, scorefile
from zcjax.program import PROGRAMS, network

sys.path.insert(0, os.path.dirname(__file__))
from members import EZNAS_A, cell, paired_difference  # noqa: E402
from nds_summary import CELL_SPACES, SPACES  # noqa: E402

COLUMN_OF = {EZNAS_A: "eznas_a", "log_params": "params", "log_flops": "flops"}
DATASETS = ("cifar10", "cifar100", "imagenet16")


def derive(program_text: str, sf: scorefile.ScoreFile) -> np.ndarray:
    """[N] the ensemble's scores over ``sf``'s architectures from its members' columns."""
    members = [str(m) for m in network.members(PROGRAMS_BY_TEXT[program_text])]
    unknown = sorted({m for m in members if m not in COLUMN_OF})
    if unknown:
        sys.exit(f"error: members {unknown} are not baseline columns; score the program instead")
    return metrics.log_rank_sum([sf.scores[COLUMN_OF[m]] for m in members])


PROGRAMS_BY_TEXT = {s.text: s.program for s in PROGRAMS.values()}


BASELINES = ("eznas_a", "params", "flops", "eznas_a+params", "az_nas")


def row(key, name: str, text: str, sf: scorefile.ScoreFile, bar: str, az=None) -> str:
    """Cells of the ensemble and each baseline ``sf`` (or ``az``, AZ-NAS's file) holds, then
    the paired rho difference of the ensemble and ``bar`` [95% CI]."""
    keep = np.isfinite(sf.target)
    target = sf.target[keep]
    columns = {name: derive(text, sf)[keep]}
    for c in BASELINES:
        columns[c] = sf.scores[c][keep] if c in sf.scores else None
    if az is not None:
        by_index = dict(zip(az.index, az.scores["az_nas"]))
        if all(i in by_index for i in sf.index[keep]):
            columns["az_nas"] = np.array([by_index[i] for i in sf.index[keep]])
    cells = [
        "" if s is None else cell(jax.random.fold_in(key, i), s, target)
        for i, s in enumerate(columns.values())
    ]
    diff, lo, hi = paired_difference(
        jax.random.fold_in(key, 99), columns[name], columns[bar], target
    )
    return f"{int(keep.sum())} | " + " | ".join(cells) + f" | {diff:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def main(name: str, seed: int) -> None:
    out = Path(f"results/heldout/seed{seed}")
    text = PROGRAMS[name].text
    key = jax.random.key(seed)
    head = f"| n | **{name}** | " + " | ".join(BASELINES)
    lines = [
        f"# `{name}` held out, derived from the baseline columns (no rescoring)",
        "",
        f"`python results/heldout/derived.py {name} {seed}` (its docstring: the files, and why",
        f"the ensemble equals score.py's). `{text}`",
        "",
    ]
    nb201 = (
        (f"NB201 test split of seed {seed}", "baselines_{}.csv", str(out / "az_nas_{}.csv")),
        ("NB201, all 15,625", "headline_{}.csv.gz", "results/sota/headline/az_nas_{}.csv.gz"),
    )
    for t, (title, pattern, az_pattern) in enumerate(nb201):
        lines += [
            f"## {title}",
            "",
            f"| dataset {head} | {name} - eznas_a+params (rho) |",
            "|---|---|---|" + "---|" * (len(BASELINES) + 1),
        ]
        for d, ds in enumerate(DATASETS):
            path, az_path = out / pattern.format(ds), Path(az_pattern.format(ds))
            if path.exists():
                az = scorefile.read(az_path) if az_path.exists() else None
                k = jax.random.fold_in(key, 10 * t + d)
                lines.append(
                    f"| {ds} | "
                    + row(k, name, text, scorefile.read(path), "eznas_a+params", az)
                    + " |"
                )
        lines.append("")
    lines += [
        "## NDS ImageNet spaces, every record (32 px CIFAR-10 images)",
        "",
        f"| space {head} | {name} - eznas_a (rho) |",
        "|---|---|---|" + "---|" * (len(BASELINES) + 1),
    ]
    wins = 0
    for j, space in enumerate(SPACES):
        path = out / f"nds_{space}.csv"
        if not path.exists():
            continue
        sf = scorefile.read(path)
        lines.append(
            f"| {space} | "
            + row(jax.random.fold_in(key, 500 + j), name, text, sf, "eznas_a")
            + " |"
        )
        rho = {
            c: metrics.correlations(s, sf.target)["spearman"]
            for c, s in (("p", derive(text, sf)), ("e", sf.scores["eznas_a"]))
        }
        wins += space in CELL_SPACES and rho["p"] > rho["e"]
    lines += [
        "",
        f"`{name}` is above EZNAS-A's rho on {wins} of the {len(CELL_SPACES)} NDS cell spaces "
        "(the target asks for at least 4).",
        "",
    ]
    report = "\n".join(lines)
    (out / f"{name}.md").write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
