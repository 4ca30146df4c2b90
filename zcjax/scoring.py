"""Score architectures of a search space with proxies and compare them with ground truth.

``run_scoring`` is the library side of ``experiments/score.py``: choose architectures, score
each with each proxy, and correlate with a benchmark column when the benchmark is available.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Hashable, Sequence

import jax
import numpy as np

from zcjax import data, engine, metrics, scorefile, stats
from zcjax.data import DataNotFoundError, find_data_dir, no_data_hint
from zcjax.keys import arch_key, host_rng, init_keys
from zcjax.program.compile import network_score
from zcjax.program.registry import CROSS_ENTROPY, SUM_LOGITS
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
      weight_init: an init scheme of ``zcjax.nn.INITS``.
      vmap_inits: run the K inits as one vmapped batch (True) or a loop (False); None picks
        vmap on accelerators and the loop on CPU, where it is faster. Both give the same numbers.
      resolution: input height and width (None: the dataset's, 224 for ImageNet). Networks
        end in global average pooling, so any size runs; costs stay at the official size.
      stats_method: ``"engine"`` (kernels shared by all architectures: no per-architecture
        compilation) or ``"module"`` (one jit of the whole Flax network per architecture:
        ~20% faster per pass once compiled, but 1.5-6 s to compile each new architecture on a
        CPU, so it only pays for an architecture scored dozens of times). The module path
        loops over inits.
      data_dir: the data folder (None: ``$ZCJAX_DATA``, else ``../shared/data``); where the
        data lives is not a setting of the numbers, so scores CSVs and checkpoints omit it.
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

    def __post_init__(self):
        for name in ("num_inits", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if self.resolution is not None and (
            isinstance(self.resolution, bool)
            or not isinstance(self.resolution, int)
            or not 8 <= self.resolution <= 1024
        ):
            raise ValueError(f"resolution must be an integer in 8..1024, got {self.resolution!r}.")
        choices = {
            "inputs": ("data", "noise"),
            "normalization": ("official", "eznas"),
            "stats_method": ("engine", "module"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}.")

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
        classes = data.NUM_CLASSES[dataset]
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


def _model(space: SearchSpace, arch: Hashable, dataset: str, settings: Settings):
    """The Flax network for ``stats_method="module"``; None for the engine."""
    return space.network(arch, dataset) if settings.stats_method == "module" else None


def arch_inputs(key_batch: jax.Array, space: SearchSpace, arch: Hashable, dataset: str, settings):
    """What one architecture is run on: (plan, x [B, H, W, 3], labels [B])."""
    x, labels = input_batch(key_batch, dataset, settings)
    plan = at_resolution(space.plan(arch, dataset), settings.resolution)
    return plan, x, labels


def arch_stats(
    key: jax.Array,
    space: SearchSpace,
    arch: Hashable,
    dataset: str,
    terminals: Sequence[str],
    settings: Settings,
    loss: str = SUM_LOGITS,
) -> stats.Stats:
    """Statistics of one architecture's K inits, as ``score_archs`` computes them for program
    proxies with ``key`` (the GP reads these, so its scores equal ``score.py``'s)."""
    key_batch, key_inits = arch_keys(key, space, arch)
    plan, x, labels = arch_inputs(key_batch, space, arch, dataset, settings)
    model = _model(space, arch, dataset, settings)
    return init_stats(key_inits, plan, x, labels, terminals, loss, settings, model)


def _program_proxy_scores(
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
        key_params, _ = init_keys(key_init)  # as collect_stats: same weights per init
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
    plan, x, labels = arch_inputs(key_batch, space, arch, dataset, settings)
    out = {}
    if programs:
        model = _model(space, arch, dataset, settings)
        out |= _program_proxy_scores(key_inits, plan, model, x, labels, programs, settings)
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
    on_arch: Callable[[int, dict[str, float], dict[str, float]], None] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Scores every arch with every proxy: ``(mean, std)``, each ``{proxy: [N] float64}``.

    Each arch gets its own key, ``fold_in(key, space.arch_id(arch))``, split into its input batch
    and its K initialisations, so a score never depends on which other archs or proxies were
    requested, nor on vmap versus loop. ``on_arch(i, means, stds)`` gets each arch's scores as
    soon as they exist (``run_scoring`` writes them to the CSV).
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
        if on_arch is not None:
            on_arch(i, {n: means[n][i] for n in means}, {n: stds[n][i] for n in stds})
        if progress is not None:
            progress("archs", i + 1, len(archs))
    return means, stds


def run_scoring(
    config: ScoreConfig, progress: Progress | None = None, output: str | os.PathLike | None = None
) -> ScoreResult:
    """Chooses archs, scores them and attaches the target column from the benchmark.

    With ``output``, each architecture's rows go to that CSV as soon as it is scored, and a
    rerun with the same config resumes: it keeps the architectures already written, scores the
    rest and ends with the same file as an uninterrupted run. A file written with other
    settings is refused (``scorefile.ScoreFileError``).
    """
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
    if len({p.name for p in proxies}) != len(proxies):
        raise ValueError(f"A proxy is requested twice: {[p.name for p in proxies]}.")
    settings = config.settings
    root = find_data_dir(settings.data_dir)
    if root is None:  # the package lost its embedded data: scores only, from the enumeration
        benchmark = None
        notes = [
            f"No ground truth found, so scores only, no correlations. To get it, {no_data_hint()}"
        ]
        if settings.inputs == "data" and any(not isinstance(p, CostProxy) for p in proxies):
            settings = dataclasses.replace(settings, inputs="noise")
            notes.append("No images found: data-dependent proxies use standard-normal inputs.")
    else:
        benchmark = space.load_benchmark(settings.data_dir)
        notes = [f"data: {data.describe_data_dir(settings.data_dir)}"]
    if any(not isinstance(p, CostProxy) for p in proxies):
        size = settings.resolution or data.INPUT_SIZE[config.dataset]
        if settings.inputs == "data":
            images = data.load_images(config.dataset, settings.batch_size, settings.data_dir)
            source = f"{images.source} (a pool of {len(images.x)})"
        else:
            source = f"standard-normal noise, labels in 0..{data.NUM_CLASSES[config.dataset] - 1}"
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
    arch_strings = [space.to_string(a) for a in archs]
    if benchmark is None:
        index = np.full(len(archs), -1)
        target = None
    else:
        rows = [benchmark.row(a) for a in archs]
        index = np.array([-1 if r is None else benchmark.index[r] for r in rows])
        target = benchmark.column(target_name, archs)
    names = [p.name for p in proxies]
    scores = {n: np.empty(len(archs)) for n in names}
    score_std = {n: np.empty(len(archs)) for n in names}
    done, write = 0, None
    if output is not None:
        doc = csv_settings(config, settings, target_name, names, root)
        done, previous = scorefile.completed(output, doc, arch_strings, names)
        for n in names if done else ():  # the previous file's first rows: take its values
            scores[n][:done] = previous.scores[n][:done]
            score_std[n][:done] = previous.score_std[n][:done]

        def rows_of(i):
            return _rows_of_arch(i, index, arch_strings, scores, score_std, target)

        scorefile.start(output, doc, notes, "".join(rows_of(i) for i in range(done)))

        def write(j, means, stds):
            for n in names:
                scores[n][done + j], score_std[n][done + j] = means[n], stds[n]
            scorefile.append(output, rows_of(done + j))

    if progress is not None:
        progress("archs", done, len(archs))

        def shifted(what, k, total):
            progress(what, done + k, done + total)
    else:
        shifted = None
    if done < len(archs):
        new, new_std = score_archs(
            key_score, space, archs[done:], proxies, config.dataset, settings, shifted, write
        )
        for n in names:
            scores[n][done:], score_std[n][done:] = new[n], new_std[n]
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
    doc["settings"] = {k: v for k, v in dataclasses.asdict(settings).items() if k != "data_dir"}
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
