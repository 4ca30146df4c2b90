"""Rank correlation of each proxy under each scoring setting of ``run.sh`` and its paired
bootstrap difference to the search's setting (b16_k1) on the same architectures.

    python results/gp/scoring_settings/compare.py     # -> results/gp/scoring_settings/compare.md
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from zcjax import metrics, scorefile
from zcjax.program import PROGRAMS, network, parse

HERE = Path(__file__).parent
BASE = "b16_k1"
# Each rank ensemble is recomputed from its members' columns over the architectures compared.
ENSEMBLES = {
    "eznas_a+params": ("eznas_a", "params"),
    **{
        n: tuple(map(str, network.members(parse(PROGRAMS[n].text))))
        for n in ("evolved_9", "evolved_4")  # evolved_9: `evolved` when this was measured
    },
}
SHOWN = ("eznas_a", "params", *ENSEMBLES)


def main() -> None:
    files = {p.name.split(".")[0]: scorefile.read(p) for p in sorted(HERE.glob("*.csv.gz"))}
    if BASE not in files:
        sys.exit(f"compare.py: no {BASE}.csv.gz in {HERE}")
    full = {
        k: {
            a for a, ok in zip(sf.arch_strings, np.logical_and.reduce([*sf.present.values()])) if ok
        }
        for k, sf in files.items()
    }
    archs = sorted(set.intersection(*full.values()))
    idx = np.random.default_rng(0).integers(len(archs), size=(1000, len(archs)))
    lines = [
        f"Spearman rho with {files[BASE].target_name} on the {len(archs)} search-split "
        f"architectures every setting scored; in brackets the paired bootstrap 95% CI of the "
        f"difference to {BASE} (1000 resamples of architectures).",
        "",
        "| proxy | " + " | ".join(files) + " |",
        "|---|" + "---|" * len(files),
    ]
    for proxy in SHOWN:
        cells, base = [], None
        for name, sf in files.items():
            where = {a: i for i, a in enumerate(sf.arch_strings)}
            i = np.array([where[a] for a in archs])
            if proxy in ENSEMBLES:
                s = metrics.log_rank_sum([sf.scores[m][i] for m in ENSEMBLES[proxy]])
            else:
                s = sf.scores[proxy][i]
            t = sf.target[i]
            value = metrics.spearman_rows(s[None], t[None])[0]
            boot = metrics.spearman_rows(s[idx], t[idx])
            if name == BASE:
                base = boot
                cells.append(f"{value:.3f}")
            else:
                lo, hi = np.percentile(boot - base, [2.5, 97.5])
                cells.append(f"{value:.3f} [{lo:+.3f}, {hi:+.3f}]")
        lines.append(f"| {proxy} | " + " | ".join(cells) + " |")
    out = "\n".join(lines) + "\n"
    (HERE / "compare.md").write_text(out)
    print(out)


if __name__ == "__main__":
    main()
