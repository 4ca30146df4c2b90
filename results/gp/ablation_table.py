"""Issue 14's ablation table from the runs of ``ablation.sh``: per arm (one lever switched from
the ``ablate`` config) and seed, the best validation fitness over the generations run (the
rule that picks ``evolved``; compared with ``all_levers`` after the generations both ran), the
last generation's best fitness on the selection sample, the
distinct rankings among children and the wall time; then the arm's mean over seeds and its
difference to ``all_levers`` on the same seeds. From the repository root:

  python results/gp/ablation_table.py [ROOT]    # ROOT: results/gp/ablation -> ROOT/../ablation.md
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from zcjax.gp.config import ABLATION_ARMS
from zcjax.report import load_search, markdown_table


def run_row(workdir: Path) -> dict | None:
    """The numbers of one run, or None when it has no finished generation."""
    _, history = load_search(workdir)
    if not history:
        return None
    valid = np.array([h.get("validation_fitness", np.nan) for h in history], np.float64)
    best = np.fmax.accumulate(np.where(np.isnan(valid), -np.inf, valid))
    return {
        "generations": len(history),
        "best_so_far": best,  # [generations] best validation fitness up to each generation
        "validation": float(best[-1]),
        "best": history[-1]["best_fitness"],
        "rankings": float(np.mean([h.get("distinct_rankings", np.nan) for h in history])),
        "wall_s": sum(h.get("wall_time_s", 0.0) for h in history),
    }


def main(root: Path) -> str:
    runs = {}
    for arm in ABLATION_ARMS:
        for path in sorted(root.glob(f"{arm}_seed*")):
            row = run_row(path)
            if row is not None:
                runs[arm, int(path.name.rsplit("_seed", 1)[1])] = row
    rows = []
    for (arm, seed), r in runs.items():
        rows.append(
            {
                "arm": arm,
                "seed": seed,
                "generations": r["generations"],
                "validation": f"{r['validation']:+.3f}",
                "best": f"{r['best']:+.3f}",
                "rankings": f"{r['rankings']:.1f}",
                "wall_s": f"{r['wall_s']:.0f}",
            }
        )
    summary = []
    for arm in ABLATION_ARMS:
        seeds = sorted(s for a, s in runs if a == arm)
        if not seeds:
            continue
        val = np.mean([runs[arm, s]["validation"] for s in seeds])
        diffs = []  # after the generations both runs reached: the same budget
        for s in seeds:
            if ("all_levers", s) in runs:
                mine, ref = runs[arm, s]["best_so_far"], runs["all_levers", s]["best_so_far"]
                g = min(len(mine), len(ref))
                diffs.append(mine[g - 1] - ref[g - 1])
        diff = f"{np.mean(diffs):+.3f}" if diffs else "nan"
        if ABLATION_ARMS[arm].get("aggregate", "min") != "min":
            diff = "n/c"  # its validation fitness aggregates the tasks otherwise
        gens = sorted({runs[arm, s]["generations"] for s in seeds})
        summary.append(
            {
                "arm": arm,
                "seeds": ",".join(map(str, seeds)),
                "generations": ",".join(map(str, gens)),
                "validation": f"{val:+.3f}",
                "vs all_levers": diff,
            }
        )
    text = (
        "# Issue 14's ablation (`results/gp/ablation.sh`)\n\n"
        "Best validation fitness (min over the tasks of Kendall tau on the fixed validation "
        "sample) over the generations run, mean over seeds, and its difference to "
        "`all_levers` on the same seeds after the generations both ran (the same budget). "
        "n/c: the arm aggregates the tasks otherwise (`mean_over_tasks`: its validation "
        "fitness is the mean over the tasks), so its number is not comparable:\n\n"
        + markdown_table(summary, ("arm", "seeds", "generations", "validation", "vs all_levers"))
        + "\n\nPer run:\n\n"
        + markdown_table(
            rows, ("arm", "seed", "generations", "validation", "best", "rankings", "wall_s")
        )
        + "\n"
    )
    (root.parent / "ablation.md").write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    print(main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/gp/ablation")))
