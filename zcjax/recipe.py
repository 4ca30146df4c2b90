"""The per-architecture recipe: one architecture's keys, input batch, statistics and proxy
scores. ``score_archs`` applies it to a list of architectures; the GP reads ``arch_stats``, so
an evolved program scores the same in a search as in ``score.py``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence

import jax
import numpy as np

from zcjax import distributed, engine, stats
from zcjax.inputs import arch_inputs, at_resolution, input_batch
from zcjax.keys import arch_keys, init_keys
from zcjax.program.compile import network_score
from zcjax.program.registry import CROSS_ENTROPY, SUM_LOGITS
from zcjax.proxies import CostProxy, EnsembleProxy, NetworkProxy, ProgramProxy, Proxy, get_proxy
from zcjax.proxies.ensemble import ensemble_scores, with_members
from zcjax.proxies.passes import Passes
from zcjax.settings import Settings
from zcjax.spaces import SearchSpace

Progress = Callable[[str, int, int], None]


def init_stats(
    key: jax.Array,
    plan,
    x: jax.Array,
    labels: jax.Array,
    terminals: Sequence[str],
    loss: str,
    settings: Settings,
    model=None,
    host: bool = False,
) -> stats.Stats:
    """Statistics of ``settings.num_inits`` inits of one network, every array with a leading
    [K] axis; init k uses ``split(key, K)[k]`` whether vmapped or looped. ``host``: NumPy
    arrays where that saves a copy (``stats.stack_inits``), for the GP's NumPy executor."""
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
    if settings.stats_method == "batched":
        return stats.collect_stats_batched(
            [key],
            [plan],
            [x],
            terminals,
            num_inits=k,
            weight_init=settings.weight_init,
            labels=None if loss != CROSS_ENTROPY else [labels],
            host=host,
        )[0]
    if settings.use_vmap():
        return collect(key, num_inits=k)
    return stats.stack_inits([collect(key_init) for key_init in jax.random.split(key, k)], host)


def _model(space: SearchSpace, arch: Hashable, dataset: str, settings: Settings):
    """The Flax network for ``stats_method="module"``; None for the engine."""
    return space.network(arch, dataset) if settings.stats_method == "module" else None


def arch_stats(
    key: jax.Array,
    space: SearchSpace,
    arch: Hashable,
    dataset: str,
    terminals: Sequence[str],
    settings: Settings,
    loss: str = SUM_LOGITS,
    host: bool = False,
) -> stats.Stats:
    """Statistics of one architecture's K inits, as ``score_archs`` computes them for program
    proxies with ``key`` (the GP reads these, so its scores equal ``score.py``'s); ``host``
    as ``init_stats``."""
    key_batch, key_inits = arch_keys(key, space.arch_id(arch))
    plan, x, labels = arch_inputs(key_batch, space, arch, dataset, settings)
    model = _model(space, arch, dataset, settings)
    return init_stats(key_inits, plan, x, labels, terminals, loss, settings, model, host)


def chunk_stats(
    key: jax.Array,
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    terminals: Sequence[str],
    settings: Settings,
    loss: str = SUM_LOGITS,
    host: bool = False,
) -> list[stats.Stats]:
    """``[arch_stats(key, space, a, ...) for a in archs]``; with ``stats_method="batched"``
    the architectures run together (``stats.collect_stats_batched``), the same numbers."""
    if settings.stats_method != "batched":
        return [arch_stats(key, space, a, dataset, terminals, settings, loss, host) for a in archs]
    keys, plans, xs, labels = [], [], [], []
    for arch in archs:
        key_batch, key_inits = arch_keys(key, space.arch_id(arch))
        plan, x, y = arch_inputs(key_batch, space, arch, dataset, settings)
        keys.append(key_inits)
        plans.append(plan)
        xs.append(x)
        labels.append(y)
    return stats.collect_stats_batched(
        keys,
        plans,
        xs,
        terminals,
        num_inits=settings.num_inits,
        weight_init=settings.weight_init,
        labels=labels if loss == CROSS_ENTROPY else None,
        host=host,
    )


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
        layers = any(p.reads_layers for p in proxies)
        lean = not any(p.reads_values for p in proxies)
        passes = Passes(plan, params, x, labels, extra_batch, bn_free_plan, layers, lean)
        for p in proxies:
            try:
                out[p.name][i] = p.fn(passes)
            except (FloatingPointError, np.linalg.LinAlgError):
                out[p.name][i] = np.nan
    return out


def _chunk_scores(key, space, archs, dataset, programs, networks, settings):
    """[K] scores of every program and classic proxy, one dict per arch of ``archs``."""
    out = [{} for _ in archs]
    for loss in sorted({p.loss for p in programs}):  # one statistics collection per loss
        group = [p for p in programs if p.loss == loss]
        terminals = tuple(sorted({t for p in group for t in p.program.reads}))
        for scores, st in zip(
            out, chunk_stats(key, space, archs, dataset, terminals, settings, loss)
        ):
            for p in group:
                scores[p.name] = network_score(p.program, st, settings.num_inits)
    for scores, arch in zip(out, archs if networks else ()):
        key_batch, key_inits = arch_keys(key, space.arch_id(arch))
        plan, x, labels = arch_inputs(key_batch, space, arch, dataset, settings)
        batches = functools.partial(_extra_batch, key_batch, dataset, settings)

        def bn_free(arch=arch):
            return at_resolution(space.plan(arch, dataset, bn=False), settings.resolution)

        scores |= _network_scores(key_inits, plan, x, labels, batches, bn_free, networks, settings)
    return out


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
    soon as they exist (``run_scoring`` writes them to the CSV); rank ensembles, which need the
    whole set, are added at the end (their members are scored too), with std 0.

    With ``stats_method="batched"`` chunks of ``settings.arch_batch`` archs run together.
    In a multi-process run (``zcjax.distributed``) each process scores its share, one
    architecture (or chunk) per process per round, and every process gets all the scores.
    """
    proxies = with_members(proxies, get_proxy)
    programs = [p for p in proxies if isinstance(p, ProgramProxy)]
    networks = [p for p in proxies if isinstance(p, NetworkProxy)]
    names = [p.name for p in proxies if not isinstance(p, EnsembleProxy)]
    slot = {name: t for t, name in enumerate(names)}
    means = {n: np.empty(len(archs)) for n in names}
    stds = {n: np.zeros(len(archs)) for n in names}

    chunk = settings.arch_batch if settings.stats_method == "batched" else 1
    starts = range(0, len(archs), chunk)

    def chunk_rows(c: int) -> np.ndarray:
        """[chunk, 2 * len(names)]: means then stds of chunk ``c``'s archs (NaN-padded)."""
        part = archs[starts[c] : starts[c] + chunk]
        rows = np.full((chunk, 2 * len(names)), np.nan)
        for row, arch in zip(rows, part):
            for p in proxies:
                if isinstance(p, CostProxy):
                    row[slot[p.name]] = p.fn(space, arch, dataset)
                    row[len(names) + slot[p.name]] = 0.0
        per_arch = _chunk_scores(key, space, part, dataset, programs, networks, settings)
        for row, per_init in zip(rows, per_arch):
            for name, values in per_init.items():
                row[slot[name]] = np.mean(values)
                row[len(names) + slot[name]] = np.std(values, ddof=1) if len(values) > 1 else 0
        return rows

    missing = np.full((chunk, 2 * len(names)), np.nan)
    for c, rows in distributed.in_turn(len(starts), chunk_rows, missing):
        for j, got in enumerate(rows[: len(archs) - starts[c]], starts[c]):
            for t, name in enumerate(names):
                means[name][j], stds[name][j] = got[t], got[len(names) + t]
            if on_arch is not None:
                on_arch(j, {n: means[n][j] for n in names}, {n: stds[n][j] for n in names})
            if progress is not None:
                progress("archs", j + 1, len(archs))
    for name, values in ensemble_scores(proxies, means).items():
        means[name], stds[name] = values, np.zeros(len(archs))
    return {p.name: means[p.name] for p in proxies}, {p.name: stds[p.name] for p in proxies}
