"""Score architectures of a search space with proxies and compare them with ground truth.

``run_scoring`` is the library side of ``experiments/score.py``: choose architectures
(``zcjax.archs``), score each with each proxy (``zcjax.recipe``), write them to a scores CSV as
they come (``zcjax.scorefile``) and correlate them with a benchmark column when there is one.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Hashable, Sequence

import jax
import numpy as np

from zcjax import data, distributed, metrics, scorefile
from zcjax.archs import read_archs_file, sample_archs
from zcjax.data import find_data_dir, no_data_hint
from zcjax.proxies import CostProxy, EnsembleProxy, get_proxies, get_proxy, program_proxy
from zcjax.proxies.ensemble import ensemble_scores, with_members
from zcjax.recipe import Progress, score_archs
from zcjax.settings import Settings
from zcjax.spaces import get_space


@dataclasses.dataclass(frozen=True)
class ScoreConfig:
    """What to score.

    Attributes:
      space: search space name (``zcjax.spaces.SPACES``).
      dataset: dataset ("": the space's first, cifar10 for nb201, imagenet for nds_*_in).
      proxies: registered proxies to compute (``zcjax.proxies.PROXIES``); ``a+b+c`` is the
        rank ensemble of a, b and c (sum of log-ranks over the scored set).
      programs: extra proxies given as program text, e.g. ``mean(relu_in_grad@data)``.
      target: benchmark column to correlate with (None: the dataset's validation accuracy).
      num_archs: architectures to sample (at least the size of the space: all of them).
      archs_file: a file with one arch string or official index per line; overrides
        ``num_archs``.
      seed: seed of the architecture sample and of every proxy's randomness.
      settings: how networks are run (``Settings``).
    """

    space: str = "nb201"
    dataset: str = ""
    proxies: tuple[str, ...] = ("params", "flops")
    programs: tuple[str, ...] = ()
    target: str | None = None
    num_archs: int = 100
    archs_file: str | None = None
    seed: int = 0
    settings: Settings = Settings()


@dataclasses.dataclass(frozen=True)
class ScoreResult:
    """Scores of ``archs`` (mean [N] and std [N] over inits, per proxy) and the target [N]."""

    archs: list[Hashable]
    arch_strings: list[str]
    index: np.ndarray  # official index, -1 where unknown
    scores: dict[str, np.ndarray]
    score_std: dict[str, np.ndarray]
    target_name: str
    target: np.ndarray | None
    notes: list[str]
    dataset: str = ""

    def records(self) -> list[dict]:
        """One dict per architecture: index, arch (its string), target and each proxy's score."""
        out = []
        for i, arch in enumerate(self.arch_strings):
            row = {"index": int(self.index[i]), "arch": arch}
            row["target"] = None if self.target is None else float(self.target[i])
            out.append(row | {name: float(s[i]) for name, s in self.scores.items()})
        return out

    def correlations(self) -> dict[str, dict[str, float]]:
        """Per proxy: Kendall tau, Spearman rho and Pearson r against the target."""
        if self.target is None:
            return {}
        return {name: metrics.correlations(s, self.target) for name, s in self.scores.items()}


def run_scoring(
    config: ScoreConfig,
    progress: Progress | None = None,
    output: str | os.PathLike | None = None,
    archs: Sequence[Hashable | str] | None = None,
) -> ScoreResult:
    """Chooses archs, scores them and attaches the target column from the benchmark.

    ``archs`` (architectures of the space or their strings) replaces the config's choice
    (``archs_file``, else ``num_archs`` sampled with ``seed``).

    With ``output``, each architecture's rows go to that CSV as soon as it is scored, and a
    rerun with the same config resumes: it keeps the architectures already written, scores the
    rest and ends with the same file as an uninterrupted run. A file written with other
    settings is refused (``scorefile.ScoreFileError``).

    Several processes (``zcjax.distributed.initialize``) share the architectures; process 0
    alone reads and writes the CSV, and every process returns the whole result.
    """
    space = get_space(config.space)
    if not config.dataset:
        config = dataclasses.replace(config, dataset=space.datasets[0])
    if config.dataset not in space.datasets:
        raise ValueError(
            f"Space {space.name!r} has no dataset {config.dataset!r}; expected one of {space.datasets}."
        )
    requested = get_proxies(list(config.proxies)) + [program_proxy(t) for t in config.programs]
    if not requested:
        raise ValueError("No proxies or programs given.")
    if len({p.name for p in requested}) != len(requested):
        raise ValueError(f"A proxy is requested twice: {[p.name for p in requested]}.")
    proxies = with_members(requested, get_proxy)  # every ensemble's members are scored too
    base = [p for p in proxies if not isinstance(p, EnsembleProxy)]
    settings = config.settings
    root = find_data_dir(settings.data_dir)
    if root is None:  # the package lost its embedded data: scores only, from the enumeration
        benchmark = None
        notes = [
            f"No ground truth found, so scores only, no correlations. To get it, {no_data_hint()}"
        ]
        if settings.inputs == "data" and any(not isinstance(p, CostProxy) for p in base):
            settings = dataclasses.replace(settings, inputs="noise")
            notes.append("No images found: data-dependent proxies use standard-normal inputs.")
    else:
        benchmark = space.load_benchmark(settings.data_dir)
        notes = [f"data: {data.describe_data_dir(settings.data_dir)}"]
    if any(not isinstance(p, CostProxy) for p in base):
        size = settings.resolution or data.INPUT_SIZE[config.dataset]
        if settings.inputs == "data":
            images = data.load_images(config.dataset, settings.batch_size, settings.data_dir)
            source = f"{images.source} (a pool of {len(images.x)})"
        else:
            source = f"standard-normal noise, labels in 0..{data.NUM_CLASSES[config.dataset] - 1}"
        notes.append(f"inputs: {source}, {size}x{size}, batch {settings.batch_size}")
    target_name = config.target or space.default_target(config.dataset)
    if benchmark is not None:
        benchmark.require_column(target_name)
    key = jax.random.key(config.seed)
    key_archs, key_score = jax.random.split(key)
    if archs is not None:
        archs = [space.parse(a) if isinstance(a, str) else a for a in archs]
        if not archs:
            raise ValueError("archs is empty.")
    elif config.archs_file:
        archs = read_archs_file(config.archs_file, space, benchmark)
    else:
        archs = sample_archs(key_archs, space, config.num_archs, benchmark)
    arch_strings = [space.to_string(a) for a in archs]
    if benchmark is None:
        index = np.full(len(archs), -1)
        target = None
    else:
        rows = [benchmark.row(a) for a in archs]
        index = np.array([-1 if r is None else benchmark.index[r] for r in rows])
        target = benchmark.column(target_name, archs)
    for p in proxies:
        if isinstance(p, EnsembleProxy):
            notes.append(
                f"ensemble {p.name}: sum of log-ranks of {', '.join(p.members)} over these "
                f"{len(archs)} architectures; relative to this set, not comparable across sets"
            )
    names = [p.name for p in proxies]
    base_names = [p.name for p in base]
    scores = {n: np.empty(len(archs)) for n in names}
    score_std = {n: np.empty(len(archs)) for n in names}
    done, write = 0, None
    writer = distributed.is_writer()  # several processes: process 0 reads and writes the CSV
    if output is not None:
        doc = csv_settings(config, settings, target_name, names, root)
        previous = None
        if writer:
            done, previous = scorefile.completed(output, doc, arch_strings, base_names)
        done = int(distributed.broadcast(np.int64(done)))
        if done:  # the previous file's first rows: take its values
            kept = np.zeros((2, len(base_names), done))
            if previous is not None:
                kept[0] = [previous.scores[n][:done] for n in base_names]
                kept[1] = [previous.score_std[n][:done] for n in base_names]
            kept = distributed.broadcast(kept)
            for t, n in enumerate(base_names):
                scores[n][:done], score_std[n][:done] = kept[0, t], kept[1, t]

        def rows_of(i, names=base_names):  # ensembles need the whole set: written at the end
            means = {n: scores[n] for n in names}
            stds = {n: score_std[n] for n in names}
            return _rows_of_arch(i, index, arch_strings, means, stds, target)

        if writer:
            scorefile.start(output, doc, notes, "".join(rows_of(i) for i in range(done)))

        def write(j, means, stds):
            for n in base_names:
                scores[n][done + j], score_std[n][done + j] = means[n], stds[n]
            if writer:
                scorefile.append(output, rows_of(done + j))

    if progress is not None:
        progress("archs", done, len(archs))

        def shifted(what, k, total):
            progress(what, done + k, done + total)
    else:
        shifted = None
    if done < len(archs):
        new, new_std = score_archs(
            key_score, space, archs[done:], base, config.dataset, settings, shifted, write
        )
        for n in base_names:
            scores[n][done:], score_std[n][done:] = new[n], new_std[n]
    for name, values in ensemble_scores(proxies, scores).items():
        scores[name], score_std[name] = values, np.zeros(len(archs))
    if output is not None and writer and len(base) < len(proxies):
        scorefile.start(output, doc, notes, "".join(rows_of(i, names) for i in range(len(archs))))
    return ScoreResult(
        archs=list(archs),
        arch_strings=arch_strings,
        index=index,
        scores=scores,
        score_std=score_std,
        target_name=target_name,
        target=target,
        notes=notes,
        dataset=config.dataset,
    )


def csv_settings(
    config: ScoreConfig, settings: Settings, target: str, proxies: Sequence[str], root
) -> dict:
    """What a scores CSV records of its run; a resumed run must match it exactly."""
    doc = dataclasses.asdict(config)
    doc.pop("settings")
    doc["proxies"] = list(proxies)
    doc["programs"] = list(config.programs)
    doc["target"] = target
    doc["settings"] = settings.recorded()
    doc["data"] = "embedded" if data.is_embedded(root) else str(root and root.resolve())
    return doc


def _rows_of_arch(i, index, arch_strings, scores, score_std, target) -> str:
    """The scores-CSV rows of architecture ``i`` from [N] arrays (per proxy for scores)."""
    means = {n: v[i] for n, v in scores.items()}
    stds = {n: v[i] for n, v in score_std.items()}
    t = None if target is None else target[i]
    return scorefile.arch_rows(index[i], arch_strings[i], means, stds, t)


def write_csv(path: str | os.PathLike, result: ScoreResult, settings: dict | None = None) -> None:
    """The whole result as a scores CSV (``zcjax.scorefile``): one row per (arch, proxy)."""
    r = result
    rows = [
        _rows_of_arch(i, r.index, r.arch_strings, r.scores, r.score_std, r.target)
        for i in range(len(r.arch_strings))
    ]
    doc = settings if settings is not None else {"target": result.target_name}
    scorefile.start(path, doc, result.notes, "".join(rows))


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
