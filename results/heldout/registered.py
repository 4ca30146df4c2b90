"""Issue 14 item 7 for one registered program of a search seed: its held-out report next to
the baselines of run.sh's files at the search's settings, on the test split
(``baselines_<ds>.csv``, 1000 archs), all 15,625 NB201 architectures (``headline_<ds>.csv.gz``)
and every record of each NDS ImageNet space (``nds_<space>.csv``). From the repository root:

  python results/heldout/registered.py evolved [SEED]   # -> seed<SEED>/<name>.md

The program's scores come from a file of run.sh's that scored it on the same architectures
(``evolved*_<ds>.csv``, ``headline*_<ds>.csv.gz``, ``nds_*_<space>.csv``). Where none did,
they are derived from its members' columns (a baseline: EZNAS-A's tree, ``log_params``,
``log_flops``; or a member scored alone, e.g. ``headline_tuned_members_<ds>.csv``): an
ensemble's score is the weighted sum of its members' log-ranks over the scored architectures
(``metrics.log_rank_sum``, as score.py computes it), and ``log_params`` and ``params`` rank
alike (log is increasing), as do ``log_flops`` and ``flops``. So ``evolved`` = 3 EZNAS-A +
params + FLOPs needs no network run. A table row is left out where neither is possible.
AZ-NAS (issue 9) at its paper's settings sits beside it where its files exist. A last table
takes each NDS cell space's test half (``nds_<space>_seed<SEED>_test.txt``, from
``heldout.write_test_splits``), the ensemble re-ranked from its members over those records.
Cells: Spearman rho [95% bootstrap CI] / Kendall tau against validation accuracy (NB201) or the
record's accuracy (NDS); the paired rho difference to the bar (``eznas_a+params`` on NB201,
EZNAS-A on NDS) is bootstrapped on the same resamples.

Plots (issue 7's report): the program's scores and the baselines beside them are written as a
scores CSV (``<name>_report/<table>_<ds or space>/<name>.csv.gz``, the baseline file's settings, a
note saying they are derived) and ``zcjax.report.comparison_report`` compares it with the other
proxies scored on the same architectures: NASWOT, synflow and ZiCo (``baselines_<ds>.csv``,
``headline_classic_<ds>.csv.gz``, ``nds_classic_<space>.csv``, where they cover every
architecture of the table) and AZ-NAS at its paper's settings, giving ``comparison.md`` and
``comparison.png`` in the same folder.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import sys
from pathlib import Path

import jax
import numpy as np

from zcjax import metrics, report, scorefile
from zcjax.program import PROGRAMS, network, parse

sys.path.insert(0, os.path.dirname(__file__))
from members import EZNAS_A, cell, paired_difference  # noqa: E402
from nds_summary import CELL_SPACES, SPACES  # noqa: E402

COLUMN_OF = {EZNAS_A: "eznas_a", "log_params": "params", "log_flops": "flops"}
DATASETS = ("cifar10", "cifar100", "imagenet16")


def program_scores(
    text: str, sf: scorefile.ScoreFile, files: list[Path], whole: bool = True
) -> np.ndarray | None:
    """[N] the program's scores over ``sf``'s architectures: from the first of ``files`` that
    scored it on exactly those (unless ``whole`` is False: an ensemble's column depends on
    the set it was ranked over); else the sum of its members' log-ranks, each member's column
    from ``sf`` (a baseline) or one of ``files`` that scored it on all of them, an aligned
    member's oriented by ``params`` over ``sf``'s architectures; else None."""
    others = [scorefile.read(path) for path in files]

    def column(name: str, exact: bool) -> np.ndarray | None:
        for other in others:
            if name not in other.scores:
                continue
            where = {int(i): k for k, i in enumerate(other.index) if other.present[name][k]}
            if (
                (set(where) == set(map(int, sf.index)))
                if exact
                else all(int(i) in where for i in sf.index)
            ):
                return other.scores[name][[where[int(i)] for i in sf.index]]
        return None

    found = column(text, exact=True) if whole else None
    if found is not None:
        return found
    members = []
    for m in map(network.unaligned, network.members(parse(text))):
        baseline = COLUMN_OF.get(str(m), str(m))
        members.append(
            sf.scores[baseline] if baseline in sf.scores else column(str(m), exact=False)
        )
    if any(m is None for m in members):
        return None
    aligned = [network.is_aligned(m) for m in network.members(parse(text))]
    members = [metrics.orient(c, sf.scores["params"]) if a else c for c, a in zip(members, aligned)]
    return metrics.log_rank_sum(members)


BASELINES = ("eznas_a", "params", "flops", "eznas_a+params", "az_nas")


def subset(sf: scorefile.ScoreFile, keep: np.ndarray) -> scorefile.ScoreFile:
    """``sf`` on the architectures where ``keep`` [N] is True, ``eznas_a+params`` re-ranked
    over them (a rank ensemble depends on the set it ranks)."""
    scores = {p: v[keep] for p, v in sf.scores.items()}
    scores["eznas_a+params"] = metrics.log_rank_sum([scores["eznas_a"], scores["params"]])
    return dataclasses.replace(
        sf,
        index=sf.index[keep],
        arch_strings=[a for a, k in zip(sf.arch_strings, keep) if k],
        scores=scores,
        score_std={p: v[keep] for p, v in sf.score_std.items()},
        target=sf.target[keep],
        present={p: v[keep] for p, v in sf.present.items()},
    )


def write_report(key, name: str, text: str, scores, sf, folder: Path, others) -> None:
    """``folder/<name>.csv.gz`` (the program's ``scores`` [N] as column ``name`` and the
    ``BASELINES`` that ``sf`` holds, ``sf``'s settings) and ``comparison_report`` of it with
    each of ``others`` (paths of scores CSVs) that scored every architecture of ``sf``."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = {name: scores, **{c: sf.scores[c] for c in BASELINES if c in sf.scores}}
    rows = "".join(
        scorefile.arch_rows(
            int(sf.index[i]),
            arch,
            {c: v[i] for c, v in columns.items()},
            {c: np.nan for c in columns},
            None if sf.target is None else sf.target[i],
        )
        for i, arch in enumerate(sf.arch_strings)
    )
    notes = [
        f"{name} = {text}: derived by results/heldout/registered.py from its members' columns "
        "(sum of log-ranks over these architectures), not scored as a whole",
        *sf.notes,
    ]
    derived = folder / f"{name}.csv"
    scorefile.start(derived, {**sf.settings, "proxies": list(columns)}, notes, rows)
    wanted = set(sf.arch_strings)
    full = []
    for path in others:
        if Path(path).exists():
            other = scorefile.read(path)
            done = np.logical_and.reduce([other.present[p] for p in other.scores])
            if wanted <= {a for a, ok in zip(other.arch_strings, done) if ok}:
                full.append(path)
    with open(derived, "rb") as f, gzip.GzipFile(f"{derived}.gz", "wb", mtime=0) as z:
        z.write(f.read())  # a whole-space CSV compresses ~13x; report.py reads either
    derived.unlink()
    report.comparison_report(key, [Path(f"{derived}.gz"), *full], folder)


def row(key, name: str, scores, sf: scorefile.ScoreFile, bar: str, az=None) -> str:
    """Cells of the program's ``scores`` [N] and each baseline ``sf`` (or ``az``, AZ-NAS's
    file) holds, then the paired rho difference of the program and ``bar`` [95% CI]."""
    keep = np.isfinite(sf.target)
    target = sf.target[keep]
    columns = {name: scores[keep]}
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


def nds_rows(name, text, out: Path, key, base: int, spaces, split: str | None = None):
    """(table rows, spaces won, cell spaces scored) of ``text`` on each NDS space of ``spaces``
    that ``out`` holds: every record, or with ``split`` the records of ``nds_<space><split>``
    (the ensemble re-ranked from its members over them); row j's bootstrap key folds in
    ``base + j``. Wins count the cell spaces where its rho is above EZNAS-A's."""
    rows, wins, scored = [], 0, 0
    for j, space in enumerate(spaces):
        path = out / f"nds_{space}.csv"
        listed = None if split is None else out / f"nds_{space}{split}"
        if not path.exists() or (listed is not None and not listed.exists()):
            continue
        sf = scorefile.read(path)
        if listed is not None:
            test = {int(ln.split()[0]) for ln in open(listed) if not ln.startswith("#")}
            sf = subset(sf, np.array([int(i) in test for i in sf.index]))
        files = sorted(out.glob(f"nds_*_{space}.csv"))
        scores = program_scores(text, sf, files, whole=listed is None)
        if scores is None:
            continue
        rows.append(
            f"| {space} | "
            + row(jax.random.fold_in(key, base + j), name, scores, sf, "eznas_a")
            + " |"
        )
        if listed is None:
            folder = out / f"{name}_report" / f"nds_{space}"
            others = [out / f"nds_classic_{space}.csv"]
            write_report(jax.random.fold_in(key, 900 + j), name, text, scores, sf, folder, others)
        if space in CELL_SPACES:
            rho = [
                metrics.correlations(s, sf.target)["spearman"]
                for s in (scores, sf.scores["eznas_a"])
            ]
            wins += rho[0] > rho[1]
            scored += 1
    return rows, wins, scored


def main(name: str, seed: int) -> None:
    out = Path(f"results/heldout/seed{seed}")
    text = PROGRAMS[name].text
    key = jax.random.key(seed)
    head = f"| n | **{name}** | " + " | ".join(BASELINES)
    lines = [
        f"# `{name}` held out",
        "",
        f"`python results/heldout/registered.py {name} {seed}` (its docstring: the files; a row",
        "is missing where the program was not scored on those architectures).",
        f"`{text}`",
        "",
    ]
    nb201 = (
        (f"NB201 test split of seed {seed}", "baselines_{}.csv", "evolved*_{}.csv", "az_nas"),
        ("NB201, all 15,625", "headline_{}.csv.gz", "headline*_{}.csv.gz", "headline"),
    )
    for t, (title, pattern, scored, az_of) in enumerate(nb201):
        lines += [
            f"## {title}",
            "",
            f"| dataset {head} | {name} - eznas_a+params (rho) |",
            "|---|---|---|" + "---|" * (len(BASELINES) + 1),
        ]
        for d, ds in enumerate(DATASETS):
            path = out / pattern.format(ds)
            if not path.exists():
                continue
            sf = scorefile.read(path)
            scores = program_scores(text, sf, sorted(out.glob(scored.format(ds))))
            if scores is None:
                continue
            az_path = (
                out / f"az_nas_{ds}.csv"
                if az_of == "az_nas"
                else Path(f"results/sota/headline/az_nas_{ds}.csv.gz")
            )
            az = scorefile.read(az_path) if az_path.exists() else None
            k = jax.random.fold_in(key, 10 * t + d)
            lines.append(f"| {ds} | " + row(k, name, scores, sf, "eznas_a+params", az) + " |")
            classic = out / ("baselines_{}.csv" if t == 0 else "headline_classic_{}.csv.gz")
            write_report(
                jax.random.fold_in(k, 1),
                name,
                text,
                scores,
                sf,
                out / f"{name}_report" / f"{('test', 'all')[t]}_{ds}",
                [classic.with_name(classic.name.format(ds)), az_path],
            )
        lines.append("")
    lines += [
        "## NDS ImageNet spaces, every record (32 px CIFAR-10 images)",
        "",
        f"| space {head} | {name} - eznas_a (rho) |",
        "|---|---|---|" + "---|" * (len(BASELINES) + 1),
    ]
    table, wins, scored_spaces = nds_rows(name, text, out, key, 500, SPACES)
    lines += table
    lines += [
        "",
        f"`{name}` is above EZNAS-A's rho on {wins} of the {scored_spaces} NDS cell spaces "
        f"scored (the target asks for at least 4 of {len(CELL_SPACES)}).",
        "",
        f"## NDS cell spaces, seed {seed}'s test halves",
        "",
        "The records outside each space's search half (``<space>_seed<S>_test.txt``; DARTS's is",
        "the search's own test split, the others' search halves were read by",
        "``results/gp/registered_search.py``); the ensemble re-ranked over them.",
        "",
        f"| space {head} | {name} - eznas_a (rho) |",
        "|---|---|---|" + "---|" * (len(BASELINES) + 1),
    ]
    table, wins, scored_spaces = nds_rows(
        name, text, out, key, 600, CELL_SPACES, f"_seed{seed}_test.txt"
    )
    lines += table
    lines += [
        "",
        f"On the test halves `{name}` is above EZNAS-A's rho on {wins} of the {scored_spaces} "
        "NDS cell spaces scored.",
        "",
    ]
    report = "\n".join(lines)
    (out / f"{name}.md").write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
