"""Score architectures of a search space with proxies and compare them with ground truth.

``run_scoring`` is the library side of ``experiments/score.py``: choose architectures, score
each with each proxy, and correlate with a benchmark column when the benchmark is available.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Callable, Hashable, Sequence

import jax
import numpy as np

from zcjax import metrics
from zcjax.data import DataNotFoundError, find_data_dir, no_data_hint
from zcjax.keys import arch_key, host_rng
from zcjax.proxies import get_proxies
from zcjax.spaces import Benchmark, SearchSpace, get_space

Progress = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True)
class ScoreConfig:
    """What to score. ``archs_file`` (one arch string or official index per line) overrides
    ``num_archs``; ``num_archs`` at least the size of the space means all architectures."""

    space: str = "nb201"
    dataset: str = "cifar10"
    proxies: tuple[str, ...] = ("params", "flops")
    target: str | None = None
    num_archs: int = 100
    archs_file: str | None = None
    seed: int = 0
    data_dir: str | None = None


@dataclasses.dataclass(frozen=True)
class ScoreResult:
    """Scores of ``archs`` (one array [N] per proxy) and, when found, the target [N]."""

    archs: list[Hashable]
    arch_strings: list[str]
    index: np.ndarray  # official index, -1 where unknown
    scores: dict[str, np.ndarray]
    target_name: str
    target: np.ndarray | None
    notes: list[str]

    def correlations(self) -> dict[str, dict[str, float]]:
        """Per proxy: Kendall tau, Spearman rho and Pearson r against the target."""
        if self.target is None:
            return {}
        return {name: metrics.correlations(s, self.target) for name, s in self.scores.items()}


def read_archs_file(path: str, space: SearchSpace, benchmark: Benchmark | None) -> list[Hashable]:
    """Architectures listed in ``path``: an arch string or official index per line; '#' comments."""
    archs = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                if text.isdigit():
                    if benchmark is None:
                        raise ValueError("official indices need the benchmark table (data folder)")
                    archs.append(benchmark.archs[benchmark.row_of_index(int(text))])
                else:
                    archs.append(space.parse(text))
            except (ValueError, KeyError) as e:
                raise ValueError(f"{path}:{lineno}: {e}") from None
    if not archs:
        raise ValueError(f"{path} lists no architectures.")
    return archs


def sample_archs(
    key: jax.Array, space: SearchSpace, num_archs: int, benchmark: Benchmark | None = None
) -> list[Hashable]:
    """``num_archs`` distinct architectures drawn with ``key``, or all if that many or more.

    Draws from the space's enumeration when it has one (so the same seed gives the same archs
    with or without the benchmark), else from the benchmark's rows; returned in draw order
    sorted by position.
    """
    pool = space.enumerate() if space.enumerate is not None else None
    if pool is None:
        if benchmark is None:
            raise DataNotFoundError(f"Space {space.name!r} needs its benchmark data to list archs.")
        pool = benchmark.archs
    if num_archs <= 0:
        raise ValueError(f"num_archs must be positive, got {num_archs}.")
    if num_archs >= len(pool):
        return list(pool)
    picks = np.sort(host_rng(key).choice(len(pool), size=num_archs, replace=False))
    return [pool[i] for i in picks]


def score_archs(
    key: jax.Array,
    space: SearchSpace,
    archs: Sequence[Hashable],
    proxies: Sequence[str],
    dataset: str,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """Scores every arch with every proxy: ``{proxy: [N] float64}``.

    Each arch gets its own key, ``fold_in(key, space.arch_id(arch))``, shared by all proxies,
    so a score never depends on which other archs or proxies were requested.
    """
    selected = get_proxies(list(proxies))
    out = {}
    for proxy in selected:
        values = np.empty(len(archs))
        for i, arch in enumerate(archs):
            values[i] = proxy.score(arch_key(key, space.arch_id(arch)), space, arch, dataset)
            if progress is not None:
                progress(proxy.name, i + 1, len(archs))
        out[proxy.name] = values
    return out


def run_scoring(config: ScoreConfig, progress: Progress | None = None) -> ScoreResult:
    """Chooses archs, scores them and attaches the target column when the benchmark is found."""
    space = get_space(config.space)
    if config.dataset not in space.datasets:
        raise ValueError(
            f"Space {space.name!r} has no dataset {config.dataset!r}; expected one of {space.datasets}."
        )
    get_proxies(list(config.proxies))  # fail on unknown names before any work
    notes = []
    if find_data_dir(config.data_dir) is None:
        # No data folder at all: still useful, on the space's own enumeration.
        benchmark = None
        notes.append(
            f"No ground truth found, so scores only, no correlations. To get it, {no_data_hint()}"
        )
    else:
        benchmark = space.load_benchmark(config.data_dir)
    target_name = config.target or space.default_target(config.dataset)
    if benchmark is not None and target_name not in benchmark.table:
        raise ValueError(
            f"Unknown target column {target_name!r}; columns are: {', '.join(benchmark.table.columns)}"
        )
    key = jax.random.key(config.seed)
    key_archs, key_score = jax.random.split(key)
    if config.archs_file:
        archs = read_archs_file(config.archs_file, space, benchmark)
    else:
        archs = sample_archs(key_archs, space, config.num_archs, benchmark)
    scores = score_archs(key_score, space, archs, config.proxies, config.dataset, progress)
    if benchmark is None:
        index = np.full(len(archs), -1)
        target = None
    else:
        rows = [benchmark.row(a) for a in archs]
        index = np.array([-1 if r is None else benchmark.index[r] for r in rows])
        target = benchmark.column(target_name, archs)
    return ScoreResult(
        archs=list(archs),
        arch_strings=[space.to_string(a) for a in archs],
        index=index,
        scores=scores,
        target_name=target_name,
        target=target,
        notes=notes,
    )


def write_csv(path: str | os.PathLike, result: ScoreResult) -> None:
    """One row per (architecture, proxy): ``index,arch,proxy,score`` (index empty if unknown)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "arch", "proxy", "score"])
        for name, values in result.scores.items():
            for idx, arch, value in zip(result.index, result.arch_strings, values):
                writer.writerow(["" if idx < 0 else int(idx), arch, name, repr(float(value))])


def format_table(result: ScoreResult) -> str:
    """A plain-text table of Kendall tau, Spearman rho and Pearson r per proxy."""
    rows = result.correlations()
    if not rows:
        return ""
    lines = [
        f"correlation with {result.target_name}",
        f"{'proxy':<16}{'kendall_tau':>12}{'spearman':>12}{'pearson':>12}{'n':>8}",
    ]
    for name, c in rows.items():
        lines.append(
            f"{name:<16}{c['kendall_tau']:>12.4f}{c['spearman']:>12.4f}{c['pearson']:>12.4f}{c['n']:>8d}"
        )
    return "\n".join(lines)


def format_scores(result: ScoreResult, limit: int = 20) -> str:
    """The first ``limit`` architectures with their scores, for runs without ground truth."""
    names = list(result.scores)
    lines = [f"{'arch':<90}" + "".join(f"{n:>14}" for n in names)]
    for i, arch in enumerate(result.arch_strings[:limit]):
        lines.append(f"{arch:<90}" + "".join(f"{result.scores[n][i]:>14.6g}" for n in names))
    if len(result.arch_strings) > limit:
        lines.append(f"... {len(result.arch_strings) - limit} more")
    return "\n".join(lines)
