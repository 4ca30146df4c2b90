"""Score architectures of a search space with proxies and compare them with ground truth.

``run_scoring`` is the library side of ``experiments/score.py``: choose architectures, score
each with each proxy, and correlate with a benchmark column when the benchmark is available.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import os
from collections.abc import Callable, Hashable, Sequence

import jax
import numpy as np

from zcjax import data, engine, metrics, stats
from zcjax.data import DataNotFoundError, find_data_dir, no_data_hint
from zcjax.keys import arch_key, host_rng
from zcjax.program import network_score
from zcjax.program.registry import CROSS_ENTROPY
from zcjax.proxies import CostProxy, NetworkProxy, ProgramProxy, Proxy, get_proxies, program_proxy
from zcjax.proxies.passes import Passes
from zcjax.spaces import Benchmark, SearchSpace, get_space

Progress = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True)
class Settings:
    """How networks are run for data-dependent proxies.

    Attributes:
      num_inits: K random initialisations per architecture; scores are their mean and std.
      batch_size: images per batch (one batch per architecture, shared by its K inits).
      inputs: ``"data"`` (real images) or ``"noise"`` (standard normal of the same shape).
      augment: random crop (padding 4) and flip of the images, as EZNAS draws its batches.
      normalization: ``"official"`` (the benchmark's training pipeline) or ``"eznas"``.
      weight_init: an init scheme of ``spaces.layers.INITS``.
      vmap_inits: run the K inits as one vmapped batch (True) or a loop (False); None picks
        vmap on accelerators and the loop on CPU, where it is faster. Both give the same numbers.
      resolution: input height and width (None: the dataset's, 224 for ImageNet). Networks
        end in global average pooling, so any size runs; costs stay at the official size.
      stats_method: ``"engine"`` (kernels shared by all architectures: no per-architecture
        compilation) or ``"module"`` (one jit of the whole Flax network per architecture:
        ~20% faster per pass once compiled, but 1.5-6 s to compile each new architecture on a
        CPU, so it only pays for an architecture scored dozens of times). The module path
        loops over inits.
    """

    num_inits: int = 1
    batch_size: int = 64
    inputs: str = "data"
    augment: bool = True
    normalization: str = "official"
    weight_init: str = "eznas"
    vmap_inits: bool | None = None
    stats_method: str = "engine"
    data_dir: str | None = None
    resolution: int | None = None

    def use_vmap(self) -> bool:
        if self.stats_method == "module":
            return False
        if self.vmap_inits is None:
            return jax.default_backend() != "cpu"
        return self.vmap_inits


@dataclasses.dataclass(frozen=True)
class ScoreConfig:
    """What to score. ``archs_file`` (one arch string or official index per line) overrides
    ``num_archs``; ``num_archs`` at least the size of the space means all architectures.
    ``programs`` are extra proxies given as program text."""

    space: str = "nb201"
    dataset: str = "cifar10"  # "" = the space's first dataset
    proxies: tuple[str, ...] = ("params", "flops")
    programs: tuple[str, ...] = ()
    target: str | None = None
    num_archs: int = 100
    archs_file: str | None = None
    seed: int = 0
    data_dir: str | None = None
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


def input_batch(key: jax.Array, dataset: str, settings: Settings) -> tuple[jax.Array, jax.Array]:
    """The batch an architecture is scored on: (x [B, H, W, 3], labels [B])."""
    if settings.inputs == "noise":
        key_x, key_y = jax.random.split(key)
        x = data.noise_batch(key_x, dataset, settings.batch_size, settings.resolution)
        classes = max(10, len(data.load_images(dataset, 1, settings.data_dir).y))
        return x, jax.random.randint(key_y, (settings.batch_size,), 0, classes)
    if settings.inputs != "data":
        raise ValueError(f"inputs must be 'data' or 'noise', got {settings.inputs!r}.")
    normalization = data.NORMALIZATION_EZNAS if settings.normalization == "eznas" else None
    x, y, _ = data.sample_batch(
        key,
        dataset,
        settings.batch_size,
        augment=settings.augment,
        normalization=normalization,
        data_dir=settings.data_dir,
        size=settings.resolution,
    )
    return x, y


def init_stats(
    key: jax.Array,
    plan,
    x: jax.Array,
    labels: jax.Array,
    terminals: Sequence[str],
    loss: str,
    settings: Settings,
    model=None,
) -> stats.Stats:
    """Statistics of ``settings.num_inits`` inits of one network, every array with a leading
    [K] axis; init k uses ``split(key, K)[k]`` whether vmapped or looped."""
    collect = functools.partial(
        stats.collect_stats,
        plan=plan,
        x=x,
        terminals=terminals,
        weight_init=settings.weight_init,
        labels=labels if loss == CROSS_ENTROPY else None,
        method=settings.stats_method,
        model=model,
    )
    k = settings.num_inits
    if settings.use_vmap():
        return collect(key, num_inits=k)
    return stats.stack_inits([collect(key_init) for key_init in jax.random.split(key, k)])


def _program_scores(
    key: jax.Array,
    plan,
    model,
    x: jax.Array,
    labels: jax.Array,
    proxies: Sequence[ProgramProxy],
    settings: Settings,
) -> dict[str, np.ndarray]:
    """[K] scores of each program proxy; one statistics collection per (loss, init)."""
    out: dict[str, np.ndarray] = {}
    for loss in sorted({p.loss for p in proxies}):
        group = [p for p in proxies if p.loss == loss]
        terminals = tuple(sorted({t for p in group for t in p.program.terminals}))
        st = init_stats(key, plan, x, labels, terminals, loss, settings, model)
        for p in group:
            out[p.name] = network_score(p.program, st, settings.num_inits)
    return out


def _extra_batch(key: jax.Array, dataset: str, settings: Settings, i: int):
    return input_batch(jax.random.fold_in(key, i), dataset, settings)


def _network_scores(key, plan, x, labels, extra_batch, bn_free_plan, proxies, settings):
    """[K] scores of each classic proxy; one ``Passes`` per init, shared by all of them.

    Inits are looped on every backend (the proxies finish on the host: corrcoef, slogdet).
    """
    out = {p.name: np.empty(settings.num_inits) for p in proxies}
    for i, key_init in enumerate(jax.random.split(key, settings.num_inits)):
        key_params = jax.random.split(key_init)[0]  # as collect_stats: same weights per init
        params = engine.init_params(key_params, plan, settings.weight_init)
        passes = Passes(plan, params, x, labels, extra_batch, bn_free_plan)
        for p in proxies:
            try:
                out[p.name][i] = p.fn(passes)
            except (FloatingPointError, np.linalg.LinAlgError):
                out[p.name][i] = np.nan
    return out


def _init_scores(key_batch, key_inits, space, arch, dataset, programs, networks, settings):
    """[K] scores of every program and classic proxy of one architecture ({} if none)."""
    if not (programs or networks):
        return {}
    x, labels = input_batch(key_batch, dataset, settings)
    plan = at_resolution(space.plan(arch, dataset), settings.resolution)
    out = {}
    if programs:
        model = space.network(arch, dataset) if settings.stats_method == "module" else None
        out |= _program_scores(key_inits, plan, model, x, labels, programs, settings)
    if networks:
        batches = functools.partial(_extra_batch, key_batch, dataset, settings)

        def bn_free():
            return at_resolution(space.plan(arch, dataset, bn=False), settings.resolution)

        out |= _network_scores(key_inits, plan, x, labels, batches, bn_free, networks, settings)
    return out


def at_resolution(plan, resolution: int | None):
    """``plan`` with its input size set to ``resolution`` (synflow's input follows it)."""
    if resolution is None:
        return plan
    return dataclasses.replace(plan, input_shape=(resolution, resolution, plan.input_shape[2]))


def arch_keys(key: jax.Array, space: SearchSpace, arch: Hashable) -> tuple[jax.Array, jax.Array]:
    """(key_batch, key_inits) of one architecture: its input batch and its K initialisations.

    Derived from ``fold_in(key, space.arch_id(arch))`` alone, so a score never depends on which
    other archs or proxies were requested; the GP uses the same keys, so its scores equal
    ``score_archs``'s.
    """
    key_batch, key_inits = jax.random.split(arch_key(key, space.arch_id(arch)))
    return key_batch, key_inits


def score_archs(
    key: jax.Array,
    space: SearchSpace,
    archs: Sequence[Hashable],
    proxies: Sequence[Proxy],
    dataset: str,
    settings: Settings = Settings(),
    progress: Progress | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Scores every arch with every proxy: ``(mean, std)``, each ``{proxy: [N] float64}``.

    Each arch gets its own key, ``fold_in(key, space.arch_id(arch))``, split into its input batch
    and its K initialisations, so a score never depends on which other archs or proxies were
    requested, nor on vmap versus loop.
    """
    programs = [p for p in proxies if isinstance(p, ProgramProxy)]
    networks = [p for p in proxies if isinstance(p, NetworkProxy)]
    means = {p.name: np.empty(len(archs)) for p in proxies}
    stds = {p.name: np.zeros(len(archs)) for p in proxies}
    for i, arch in enumerate(archs):
        key_batch, key_inits = arch_keys(key, space, arch)
        for p in proxies:
            if isinstance(p, CostProxy):
                means[p.name][i] = p.fn(space, arch, dataset)
        per_init = _init_scores(
            key_batch, key_inits, space, arch, dataset, programs, networks, settings
        )
        for name, values in per_init.items():
            means[name][i] = np.mean(values)
            stds[name][i] = np.std(values, ddof=1) if len(values) > 1 else 0.0
        if progress is not None:
            progress("archs", i + 1, len(archs))
    return means, stds


def run_scoring(config: ScoreConfig, progress: Progress | None = None) -> ScoreResult:
    """Chooses archs, scores them and attaches the target column when the benchmark is found."""
    space = get_space(config.space)
    if not config.dataset:
        config = dataclasses.replace(config, dataset=space.datasets[0])
    if config.dataset not in space.datasets:
        raise ValueError(
            f"Space {space.name!r} has no dataset {config.dataset!r}; expected one of {space.datasets}."
        )
    proxies = get_proxies(list(config.proxies)) + [program_proxy(t) for t in config.programs]
    if not proxies:
        raise ValueError("No proxies or programs given.")
    settings = dataclasses.replace(config.settings, data_dir=config.data_dir)
    notes = []
    if find_data_dir(config.data_dir) is None:
        # No data folder at all: still useful, on the space's own enumeration.
        benchmark = None
        notes.append(
            f"No ground truth found, so scores only, no correlations. To get it, {no_data_hint()}"
        )
        if settings.inputs == "data" and any(isinstance(p, ProgramProxy) for p in proxies):
            settings = dataclasses.replace(settings, inputs="noise")
            notes.append("No images found: data-dependent proxies use standard-normal inputs.")
    else:
        benchmark = space.load_benchmark(config.data_dir)
    if any(not isinstance(p, CostProxy) for p in proxies):
        size = settings.resolution or data.INPUT_SIZE[config.dataset]
        if settings.inputs == "data":
            source = data.load_images(config.dataset, settings.batch_size, config.data_dir).source
        else:
            source = "standard-normal noise"
        notes.append(f"inputs: {source}, {size}x{size}, batch {settings.batch_size}")
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
    scores, score_std = score_archs(
        key_score, space, archs, proxies, config.dataset, settings, progress
    )
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
        score_std=score_std,
        target_name=target_name,
        target=target,
        notes=notes,
        dataset=config.dataset,
    )


def write_csv(path: str | os.PathLike, result: ScoreResult) -> None:
    """One row per (architecture, proxy): ``index,arch,proxy,score,score_std``.

    ``index`` is empty where unknown; ``score`` and ``score_std`` are the mean and standard
    deviation over initialisations (NaN marks an invalid score).
    """
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "arch", "proxy", "score", "score_std"])
        for name, values in result.scores.items():
            rows = zip(result.index, result.arch_strings, values, result.score_std[name])
            for idx, arch, value, std in rows:
                index = "" if idx < 0 else int(idx)
                writer.writerow([index, arch, name, repr(float(value)), repr(float(std))])


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
