"""Pictures and markdown tables of a scores CSV (``score.py``) or a search's work folder.

- ``csv_report``: per proxy a scatter of score against the target (Kendall tau, Spearman rho
  and n in the title) and ``table.md`` with tau, rho and Pearson r; a CSV without a target
  gets score histograms and a table of score ranges instead.
- ``workdir_report``: ``fitness.png`` (best and median fitness per generation, invalid children
  per generation) and ``heldout.md``, the held-out table of ``heldout.json``.

The numbers are plain functions of the files (``correlation_table``, ``markdown_table``,
``heldout_markdown``) so they can be checked without pictures. Plots use matplotlib's Agg
canvas without pyplot (no display, no global figure state); matplotlib is imported only when
a picture is drawn (``pip install -e '.[plot]'``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from zcjax import metrics, scorefile
from zcjax.gp import checkpoint, heldout
from zcjax.gp.fitness import INVALID
from zcjax.program import PROGRAMS
from zcjax.proxies import ensemble
from zcjax.spaces import get_space

PLOT_HINT = "plots need matplotlib: pip install -e '.[plot]'"
CORRELATION_COLUMNS = ("proxy", "kendall_tau", "spearman", "pearson", "n", "invalid")
SUMMARY_COLUMNS = ("proxy", "n", "invalid", "min", "median", "max")
DECADES = 1e3  # max/min ratio from which a score axis is logarithmic

# ----------------------------------------------------------------------------- numbers


def retarget(
    sf: scorefile.ScoreFile, target: str, data_dir: str | os.PathLike | None = None
) -> scorefile.ScoreFile:
    """``sf`` judged against another column of its space's benchmark, e.g. NB201's
    ``cifar10_test`` (the ``cifar10`` model's test accuracy, which VKDNW's code correlates
    with) instead of the ``cifar10_valid`` that score.py uses by default. Each architecture is
    looked up by its text; NaN where the benchmark lacks it.

    Raises ValueError naming an unknown column (and listing the known ones).
    """
    space = get_space(sf.settings.get("space", "nb201"))
    benchmark = space.load_benchmark(data_dir)
    benchmark.require_column(target)
    values = benchmark.column(target, [space.parse(a) for a in sf.arch_strings])
    return dataclasses.replace(sf, target=values, settings={**sf.settings, "target": target})


def read_scores(
    path: str | os.PathLike, target: str | None = None, data_dir: str | os.PathLike | None = None
) -> scorefile.ScoreFile:
    """A scores CSV, judged against ``target`` (a benchmark column) when given."""
    sf = scorefile.read(path)
    return sf if target is None else retarget(sf, target, data_dir)


def invalid_count(sf: scorefile.ScoreFile, proxy: str) -> int:
    """Architectures whose ``proxy`` row holds a non-finite score (missing rows not counted)."""
    return int(np.sum(sf.present[proxy] & ~np.isfinite(sf.scores[proxy])))


def correlation_table(sf: scorefile.ScoreFile) -> list[dict]:
    """One row per proxy: ``metrics.correlations`` of its scores with the target, plus
    ``invalid`` (non-finite scores, left out like archs without a target).

    Raises ValueError when the file has no target.
    """
    if sf.target is None:
        raise ValueError("the CSV has no target column values, so no correlations")
    return [
        {"proxy": p, **metrics.correlations(s, sf.target), "invalid": invalid_count(sf, p)}
        for p, s in sf.scores.items()
    ]


def summary_table(sf: scorefile.ScoreFile) -> list[dict]:
    """One row per proxy: count, invalid count, min / median / max of its finite scores."""
    rows = []
    for p, s in sf.scores.items():
        ok = s[np.isfinite(s)]
        stats = (ok.min(), np.median(ok), ok.max()) if len(ok) else (math.nan,) * 3
        row = {"proxy": p, "n": len(ok), "invalid": invalid_count(sf, p)}
        rows.append(row | {k: float(v) for k, v in zip(("min", "median", "max"), stats)})
    return rows


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):  # a confidence interval
        return f"[{value[0]:.3f}, {value[1]:.3f}]"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e6 or not math.isfinite(value) else f"{value:.4e}"
    return str(value).replace("|", r"\|")


def markdown_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """A markdown table of ``rows`` (dicts) in ``columns``; floats to 4 decimals (in
    e-notation from 1e6, as synflow reaches 1e150), None as an empty cell."""
    lines = ["| " + " | ".join(columns) + " |"]
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|")
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def csv_header(sf: scorefile.ScoreFile) -> str:
    """Markdown heading of a CSV's report: target, space, dataset, notes, other settings."""
    s = sf.settings
    title = f"Correlation with {sf.target_name}" if sf.target is not None else "Scores"
    where = [f"{k}: {s[k]}" for k in ("space", "dataset") if k in s]
    lines = [f"# {title}", "", ", ".join([*where, f"{len(sf.arch_strings)} archs"])]
    if sf.target is None:
        lines += ["", "The CSV has no target values: no correlations, score ranges only."]
    if sf.notes:
        lines += ["", *[f"- {n}" for n in sf.notes]]
    rest = {k: v for k, v in s.items() if k not in ("space", "dataset", "target")}
    if rest:
        lines += ["", f"settings: `{json.dumps(rest, sort_keys=True)}`"]
    return "\n".join(lines)


def csv_markdown(sf: scorefile.ScoreFile) -> str:
    """The whole ``table.md`` of a scores CSV."""
    if sf.target is None:
        table = markdown_table(summary_table(sf), SUMMARY_COLUMNS)
    else:
        table = markdown_table(correlation_table(sf), CORRELATION_COLUMNS)
    return csv_header(sf) + "\n\n" + table + "\n"


def axis_scale(values: np.ndarray) -> tuple[str, float]:
    """(scale, linthresh) for an axis over ``values`` [N]: ``"log"`` when all finite values are
    non-negative and the positive ones span more than ``DECADES`` (zeros, e.g. synflow of a
    network with no path, are drawn at the left edge), ``"symlog"`` when the magnitudes span
    that but some values are negative (linthresh: the power of 10 nearest the 10th percentile
    of the nonzero magnitudes), else ``"linear"``."""
    v = values[np.isfinite(values)]
    mag = np.abs(v[v != 0])
    if not len(mag) or mag.max() / mag.min() <= DECADES:
        return "linear", 0.0
    if np.all(v >= 0):
        return "log", 0.0
    return "symlog", float(10.0 ** np.round(np.log10(np.percentile(mag, 10))))


def file_stem(name: str) -> str:
    """A proxy name as a file-name part (program texts have parentheses, commas, @)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:80] or "proxy"


# ----------------------------------------------------------------------------- pictures


def _figure(rows: int = 1, size: tuple[float, float] = (5.5, 4.2)):
    """A matplotlib Figure on the Agg canvas and its axes; ImportError with PLOT_HINT without
    matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(PLOT_HINT) from None
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, axes


def _set_scale(ax, scale: str, linthresh: float) -> str:
    if scale == "symlog":
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.xaxis.get_major_locator().set_params(numticks=8)  # every decade would overlap
    elif scale == "log":
        ax.set_xscale("log")
    return "score" if scale == "linear" else f"score ({scale})"


def plot_scatter(path: Path, proxy: str, scores, target, row: dict, target_name: str) -> None:
    """Scatter of ``scores`` [N] (x) against ``target`` [N] (y), non-finite pairs left out."""
    fig, (ax,) = _figure()
    keep = np.isfinite(scores) & np.isfinite(target)
    x, y = scores[keep], target[keep]
    scale, linthresh = axis_scale(x)
    xlabel = _set_scale(ax, scale, linthresh)
    zero = (x == 0) if scale == "log" else np.zeros(len(x), bool)
    alpha = min(1.0, max(0.15, 200 / max(len(x), 1)))
    ax.scatter(x[~zero], y[~zero], s=8, alpha=alpha, linewidths=0)
    if zero.any():  # a log axis has no 0: draw zeros at a tenth of the smallest positive score
        edge = x[~zero].min() / 10
        ax.scatter(np.full(zero.sum(), edge), y[zero], s=14, marker="x", color="C3", alpha=alpha)
        ax.text(0.01, 0.95, f"x: {zero.sum()} scores of 0", transform=ax.transAxes, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(target_name)
    ax.set_title(
        f"{proxy}\ntau {row['kendall_tau']:.3f}, rho {row['spearman']:.3f} (n={row['n']})",
        fontsize=10,
    )
    bad = row["invalid"]
    left = [f"{bad} invalid score{'s' * (bad > 1)}"] if bad else []
    no_target = int(np.sum(np.isfinite(scores) & ~np.isfinite(target)))
    left += [f"{no_target} arch{'s' * (no_target > 1)} without {target_name}"] if no_target else []
    if left:
        ax.text(0.01, 0.01, "left out: " + ", ".join(left), transform=ax.transAxes, fontsize=8)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=120)


def plot_histogram(path: Path, proxy: str, scores, row: dict) -> None:
    """Histogram of the finite ``scores`` [N] (for CSVs without a target)."""
    fig, (ax,) = _figure()
    x = scores[np.isfinite(scores)]
    scale, t = axis_scale(x)
    xlabel = _set_scale(ax, scale, t)
    if not len(x):
        bins = 1
    elif scale == "log":  # zeros have no place on a log axis: counted in a caption
        zeros = int(np.sum(x == 0))
        x = x[x > 0]
        bins = np.geomspace(x.min(), x.max(), 41)
        if zeros:
            ax.text(
                0.01, 0.95, f"{zeros} scores of 0 not shown", transform=ax.transAxes, fontsize=8
            )
    elif scale == "symlog":  # arcsinh is symlog's smooth twin: even bins on that axis
        bins = t * np.sinh(np.linspace(np.arcsinh(x.min() / t), np.arcsinh(x.max() / t), 41))
    else:
        bins = 40
    ax.hist(x, bins=bins)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("architectures")
    invalid = f", {row['invalid']} invalid left out" if row["invalid"] else ""
    ax.set_title(f"{proxy}\nn={row['n']}{invalid}", fontsize=10)
    fig.savefig(path, dpi=120)


def csv_report(
    csv_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    target: str | None = None,
    data_dir: str | os.PathLike | None = None,
) -> list[Path]:
    """Writes ``table.md`` and one PNG per proxy (``scatter_<proxy>.png``, or
    ``hist_<proxy>.png`` without a target) of a scores CSV to ``out_dir``; ``target`` judges
    the scores against another benchmark column (``retarget``).

    Returns:
      the written files, table first. Raises ``scorefile.ScoreFileError`` for an unreadable
      CSV, ImportError without matplotlib.
    """
    sf = read_scores(csv_path, target, data_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = out / "table.md"
    table.write_text(csv_markdown(sf), encoding="utf-8")
    written, used = [table], set()
    with_target = sf.target is not None
    rows = correlation_table(sf) if with_target else summary_table(sf)
    for row in rows:
        proxy = row["proxy"]
        stem = file_stem(proxy)
        while stem in used:  # two names that only differ in punctuation
            stem += "_"
        used.add(stem)
        path = out / f"{'scatter' if with_target else 'hist'}_{stem}.png"
        if with_target:
            plot_scatter(path, proxy, sf.scores[proxy], sf.target, row, sf.target_name)
        else:
            plot_histogram(path, proxy, sf.scores[proxy], row)
        written.append(path)
    return written


# ----------------------------------------------------------------------------- comparison

COMPARISON_COLUMNS = ("proxy", "kendall_tau", "tau_ci", "spearman", "rho_ci", "n", "run")


def run_label(sf: scorefile.ScoreFile) -> str:
    """The settings of a scores CSV that change scores, as a short label, e.g.
    "data, batch 16, eznas init"."""
    s = sf.settings.get("settings", {})
    parts = [str(s.get("inputs", "?")), f"batch {s.get('batch_size', '?')}"]
    parts.append(f"{s.get('weight_init', '?')} init")
    if s.get("normalization", "official") != "official":
        parts.append(f"{s['normalization']} normalization")
    if s.get("resolution"):
        parts.append(f"{s['resolution']} px")
    if s.get("num_inits", 1) != 1:
        parts.append(f"{s['num_inits']} inits")
    return ", ".join(parts)


def common_archs(files: Sequence[scorefile.ScoreFile]) -> list[str]:
    """Architectures (strings, the first file's order) that every file scores with every one of
    its proxies and that have a target. Raises ValueError when the files disagree on space,
    dataset or target."""
    first = files[0]
    for sf in files[1:]:
        for k in ("space", "dataset", "target"):
            if sf.settings.get(k) != first.settings.get(k):
                raise ValueError(
                    f"cannot compare scores of {k} {first.settings.get(k)!r} and "
                    f"{sf.settings.get(k)!r}"
                )
    done = []
    for sf in files:
        full = np.logical_and.reduce([sf.present[p] for p in sf.scores])
        done.append({a for a, ok in zip(sf.arch_strings, full) if ok})
    keep = set.intersection(*done)
    return [a for a, t in zip(first.arch_strings, first.target) if a in keep and np.isfinite(t)]


def comparison_table(
    key: jax.Array,
    files: Sequence[scorefile.ScoreFile],
    num_resamples: int = 1000,
    ensembles: Sequence[str] = (),
) -> tuple[list[dict], int]:
    """(rows, number of architectures): every proxy of every file on the architectures all
    files scored (``common_archs``), with Kendall tau, Spearman rho and their percentile
    bootstrap 95% CIs (``metrics.bootstrap_ci``; row j resamples with ``fold_in(key, j)``), the
    run's settings (``run_label``), best rho first. Ensembles are kept as their file computed
    them (over that file's architectures). A proxy that an earlier file already gave with the
    same run label and the same scores on these architectures (an ensemble's members written
    next to it, e.g. FLOPs in both AZ-NAS's and VKDNW_agg's CSVs) is listed once.

    ``ensembles`` ("a+b+c", ``proxies.ensemble.parse``) adds rank ensembles computed here, over
    these architectures, of proxies the files hold (each member from the first file with it),
    e.g. AZ-NAS from a partial CSV of its components or a proxy of one CSV with one of another.
    """
    if files[0].target is None:
        raise ValueError("the CSVs have no target column values, so no correlations")
    archs = common_archs(files)
    if len(archs) < 3:
        raise ValueError(f"the CSVs have {len(archs)} scored architectures in common (need 3)")
    columns, seen = [], {}  # (proxy, run, scores on archs, target on archs)
    for sf in files:
        where = {a: i for i, a in enumerate(sf.arch_strings)}
        idx = np.array([where[a] for a in archs])
        target, run = sf.target[idx], run_label(sf)
        for proxy, all_scores in sf.scores.items():
            scores = all_scores[idx]
            same = seen.setdefault((proxy, run), [])
            if any(np.array_equal(scores, s, equal_nan=True) for s in same):
                continue
            same.append(scores)
            columns.append((proxy, run, scores, target))
    for name in ensembles:
        spec = ensemble.parse(name)
        if spec is None:
            raise ValueError(f"Ensemble {name!r} must join two or more proxies with '+'.")
        held = {}
        for m in spec.needed:
            found = [c for c in columns if c[0] == m]
            if not found:
                raise ValueError(f"Ensemble {name!r}: no CSV holds proxy {m!r}.")
            held[m] = found[0][2]
        run = f"sum of log-ranks over these {len(archs)} archs"
        columns.append((name, run, ensemble.values(spec, held), columns[0][3]))
    rows = []
    for proxy, run, scores, target in columns:
        c = metrics.correlations(scores, target)
        ci = metrics.bootstrap_ci(jax.random.fold_in(key, len(rows)), scores, target, num_resamples)
        rows.append(
            {
                "proxy": proxy,
                "kendall_tau": c["kendall_tau"],
                "tau_ci": ci["kendall_tau"],
                "spearman": c["spearman"],
                "rho_ci": ci["spearman"],
                "n": c["n"],
                "run": run,
            }
        )
    rows.sort(key=lambda r: -np.nan_to_num(r["spearman"], nan=-np.inf))
    return rows, len(archs)


def comparison_markdown(
    rows: Sequence[dict], num_archs: int, files: Sequence[scorefile.ScoreFile], names
) -> str:
    """``comparison.md``: the table of ``comparison_table`` under a heading naming the
    target, the architectures and each file's run."""
    s = files[0].settings
    lines = [
        f"# Correlation with {files[0].target_name}",
        "",
        f"space: {s.get('space')}, dataset: {s.get('dataset')}, {num_archs} architectures "
        "scored in every file; tau_ci, rho_ci: 95% percentile bootstrap CIs over architectures",
        "",
    ]
    for name, sf in zip(names, files):
        lines.append(f"- `{name}` ({run_label(sf)}): {len(sf.arch_strings)} archs")
    return "\n".join(lines) + "\n\n" + markdown_table(rows, COMPARISON_COLUMNS) + "\n"


def plot_comparison(path: Path, rows: Sequence[dict], title: str) -> None:
    """Spearman rho of each row with its 95% CI as error bars, best at the top."""
    finite = [r for r in rows if np.isfinite(r["spearman"])]
    fig, (ax,) = _figure(size=(6.5, 1.2 + 0.32 * max(len(finite), 1)))
    y = np.arange(len(finite))[::-1]
    rho = np.array([r["spearman"] for r in finite])
    ci = np.array([r["rho_ci"] for r in finite], np.float64).reshape(-1, 2)
    err = np.abs(np.stack([rho - ci[:, 0], ci[:, 1] - rho]))
    ax.barh(y, rho, xerr=np.nan_to_num(err), color="C0", alpha=0.8, capsize=2)
    ax.set_yticks(y, [f"{_short(r['proxy'])} ({r['run']})" for r in finite], fontsize=7)
    ax.axvline(0.0, color="k", lw=0.6)
    ax.set_xlabel("Spearman rho (95% CI)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def _short(name: str, width: int = 48) -> str:
    """A proxy name cut to ``width`` characters for an axis label (programs can be long)."""
    return name if len(name) <= width else name[: width - 3] + "..."


def comparison_report(
    key: jax.Array,
    csv_paths: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    num_resamples: int = 1000,
    target: str | None = None,
    data_dir: str | os.PathLike | None = None,
    ensembles: Sequence[str] = (),
) -> list[Path]:
    """Writes ``comparison.md`` and ``comparison.png``: every proxy of several scores CSVs
    (e.g. baselines at one setting, AZ-NAS at its own, an evolved program) on the
    architectures they all scored, with bootstrap CIs drawn from ``key``; ``target`` judges
    them against another benchmark column (``retarget``); ``ensembles`` adds rank ensembles
    over those architectures (``comparison_table``).

    Returns:
      the two files. Raises ``scorefile.ScoreFileError`` for an unreadable CSV, ValueError for
      CSVs that cannot be compared, ImportError without matplotlib.
    """
    files = [read_scores(p, target, data_dir) for p in csv_paths]
    rows, n = comparison_table(key, files, num_resamples, ensembles)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [Path(p).name for p in csv_paths]
    table = out / "comparison.md"
    table.write_text(comparison_markdown(rows, n, files, names), encoding="utf-8")
    s = files[0].settings
    plot_comparison(
        out / "comparison.png", rows, f"{s.get('space')} {s.get('dataset')}, {n} architectures"
    )
    return [table, out / "comparison.png"]


# ----------------------------------------------------------------------------- search folder


def load_search(workdir: str | os.PathLike) -> tuple[dict | None, list[dict]]:
    """(config JSON or None, per-generation records) of a search: the checkpoint's (the source
    of truth), else ``history.jsonl``'s records. Raises FileNotFoundError when the folder has
    neither."""
    workdir = Path(workdir)
    ckpt, lines = workdir / checkpoint.CHECKPOINT, workdir / checkpoint.HISTORY
    if ckpt.exists():
        doc = checkpoint.load_json(ckpt)
        try:
            return doc["config"], list(doc["state"]["history"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"{ckpt}: not a search checkpoint (no {e})") from None
    if lines.exists():
        text = lines.read_text(encoding="utf-8")
        try:
            return None, [json.loads(ln) for ln in text.splitlines() if ln]
        except json.JSONDecodeError as e:
            raise ValueError(f"{lines}: damaged ({e})") from None
    raise FileNotFoundError(f"{workdir} has no {checkpoint.CHECKPOINT} or {checkpoint.HISTORY}")


def fitness_label(config: dict | None) -> str:
    """The fitness axis label of a search with ``config`` (its JSON), e.g. "fitness (min tau
    over tasks)"; tau is Kendall's."""
    if config is None:
        return "fitness"
    tau = "|tau|" if config.get("correlation") == "absolute" else "tau"
    if len(config.get("tasks", ())) < 2:
        return f"fitness ({tau})"
    return f"fitness ({config.get('aggregate')} {tau} over tasks)"


def fitness_curves(history: Sequence[dict]) -> dict[str, np.ndarray]:
    """[G] arrays of the history fields the fitness plot shows: ``generation``,
    ``best_fitness``, ``median_fitness``, ``rejected_by_screen``, ``invalid_in_evaluation``,
    ``invalid`` (their sum), ``best_so_far`` (running max of ``best_fitness``), and
    ``best_fitness_se`` and ``validation_fitness`` (NaN where a record lacks them: searches
    without promotion or validation)."""
    fields = ("generation", "best_fitness", "median_fitness", "invalid")
    fields += ("rejected_by_screen", "invalid_in_evaluation")
    out = {f: np.array([r[f] for r in history], np.float64) for f in fields}
    out["best_so_far"] = np.maximum.accumulate(out["best_fitness"])
    for f in ("best_fitness_se", "validation_fitness"):
        values = [r.get(f) for r in history]
        out[f] = np.array([np.nan if v is None else v for v in values], np.float64)
    return out


def plot_fitness(path: Path, history: Sequence[dict], ylabel: str = "fitness") -> None:
    """Fitness per generation (top: the best with its jackknife SE, its fitness on the fixed
    validation sample, the median child) and invalid children per generation (bottom)."""
    c = fitness_curves(history)
    fig, (top, bottom) = _figure(2, (6.0, 5.5))
    g = c["generation"]
    se = c["best_fitness_se"]
    top.errorbar(
        g,
        c["best_fitness"],
        yerr=None if np.all(np.isnan(se)) else se,
        fmt="o-",
        capsize=3,
        label="best of generation (+- SE)",
    )
    top.plot(g, c["best_so_far"], "--", color="gray", label="best so far")
    if not np.all(np.isnan(c["validation_fitness"])):
        top.plot(g, c["validation_fitness"], "D-", label="best on the validation sample")
    top.plot(g, c["median_fitness"], "s-", label="median of children")
    if np.any(c["median_fitness"] <= INVALID):
        top.axhline(INVALID, color="red", lw=0.8, ls=":", label=f"invalid ({INVALID:g})")
    top.set_ylabel(ylabel)
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    bottom.bar(g, c["rejected_by_screen"], label="rejected by screen")
    bottom.bar(
        g, c["invalid_in_evaluation"], bottom=c["rejected_by_screen"], label="invalid in evaluation"
    )
    bottom.set_ylabel("invalid children")
    bottom.set_xlabel("generation")
    bottom.legend(fontsize=8)
    bottom.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(f"search: {len(history)} generations", fontsize=10)
    fig.savefig(path, dpi=120)


def heldout_rows(doc: dict) -> list[heldout.Row]:
    """``heldout.json``'s rows as ``heldout.Row`` (its JSON None back to NaN)."""

    def num(x):
        return math.nan if x is None else x

    rows = []
    for d in doc["rows"]:
        cis = {k: tuple(num(v) for v in d[k]) for k in ("tau_ci", "rho_ci")}
        rows.append(
            heldout.Row(
                **{**d, **cis, "kendall_tau": num(d["kendall_tau"]), "spearman": num(d["spearman"])}
            )
        )
    return rows


def heldout_markdown(doc: dict) -> str:
    """``heldout.json`` as markdown: per task a table of tau and rho with 95% bootstrap CIs,
    n, search and validation fitness, whether an evolved program is structural and reads its
    inputs; the best classic proxy marked ``*``; programs listed."""
    rows = heldout_rows(doc)
    settings = doc.get("settings", {})
    shown = {k: settings[k] for k in ("inputs", "batch_size", "resolution") if k in settings}
    lines = ["# Held-out test split", ""]
    lines.append(f"test inits: {doc.get('test_inits')}, settings: `{json.dumps(shown)}`")
    columns = ("proxy", "tau", "tau 95% CI", "rho", "rho 95% CI", "n", "fitness", "valid.")
    columns += ("struct.", "inputs")
    for task in dict.fromkeys(r.task for r in rows):
        best = heldout.best_classic(rows, task)
        table = [
            {
                "proxy": r.name + (" *" if r is best else ""),
                "tau": r.kendall_tau,
                "tau 95% CI": f"[{r.tau_ci[0]:.4f}, {r.tau_ci[1]:.4f}]",
                "rho": r.spearman,
                "rho 95% CI": f"[{r.rho_ci[0]:.4f}, {r.rho_ci[1]:.4f}]",
                "n": r.n,
                "fitness": r.search_fitness,
                "valid.": r.validation_fitness,
                "struct.": heldout.yes_no(r.structural),
                "inputs": heldout.yes_no(r.reads_inputs),
            }
            for r in rows
            if r.task == task
        ]
        lines += ["", f"## {task}", "", markdown_table(table, columns)]
    lines += [
        "",
        "\\* best classic proxy on the task; fitness: mean search fitness; valid.: fitness on "
        "the validation sample (search split) that chose the reported programs; struct.: "
        "whether the program's score stays the same under another init and under noise inputs "
        "(a function of the architecture alone); inputs: whether it changes between data and "
        "noise inputs at the same init (it reads the network's response to its input).",
        "",
    ]
    first = rows[0].task if rows else None
    for r in rows:
        if r.program and r.task == first:
            label = "EZNAS-A" if r.name in PROGRAMS else r.name
            lines.append(f"- {label}: `{r.program}`")
    return "\n".join(lines) + "\n"


def history_markdown(history: Sequence[dict]) -> str:
    """One table row per generation: the best's fitness +- SE, validation fitness and per-task
    tau, distinct rankings, parents kept, wall time and where it went, and the best program."""
    tasks = list(dict.fromkeys(t for r in history for t in r.get("best_taus", {})))
    stages = ("screen_stats_s", "children_s", "evaluation_s", "promotion_s", "validation_s")
    rows = []
    for r in history:
        se = r.get("best_fitness_se")
        rows.append(
            {
                "gen": r["generation"],
                "best": f"{r['best_fitness']:+.3f}" + ("" if se is None else f" +- {se:.3f}"),
                "validation": r.get("validation_fitness"),
                **{t: r.get("best_taus", {}).get(t) for t in tasks},
                "rankings": r.get("distinct_rankings", ""),
                "parents": r.get("population", ""),
                "wall s": f"{r['wall_time_s']:.0f}",
                "screen/children/eval/promote/validate s": "/".join(
                    f"{r[k]:.0f}" if k in r else "-" for k in stages
                ),
                "best program": f"`{r['best_program']}`",
            }
        )
    columns = ["gen", "best", "validation", *tasks, "rankings", "parents", "wall s"]
    columns += ["screen/children/eval/promote/validate s", "best program"]
    return markdown_table(rows, columns)


def workdir_report(workdir: str | os.PathLike, out_dir: str | os.PathLike) -> list[Path]:
    """Writes ``fitness.png``, ``history.md`` (``history_markdown``) and, if the search got
    that far, ``heldout.md`` of a search's work folder to ``out_dir``.

    Returns:
      the written files. Raises FileNotFoundError without a history, ValueError before the
      first generation, ImportError without matplotlib.
    """
    workdir, out = Path(workdir), Path(out_dir)
    config, history = load_search(workdir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if history:
        plot_fitness(out / "fitness.png", history, fitness_label(config))
        (out / "history.md").write_text(history_markdown(history) + "\n", encoding="utf-8")
        written += [out / "fitness.png", out / "history.md"]
    if (workdir / checkpoint.HELDOUT).exists():
        try:
            text = heldout_markdown(checkpoint.load_json(workdir / checkpoint.HELDOUT))
        except (KeyError, TypeError) as e:  # a field renamed or added since: say which
            raise ValueError(f"{workdir / checkpoint.HELDOUT}: unexpected rows ({e})") from None
        (out / "heldout.md").write_text(text, encoding="utf-8")
        written.append(out / "heldout.md")
    if not written:
        raise ValueError(f"{workdir}: the search has not finished a generation yet")
    return written
