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
    key_batch, key_inits = arch_keys(key, space.arch_id(arch))
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

    In a multi-process run (``zcjax.distributed``) each process scores its share, one
    architecture per process per round, and every process gets all the scores.
    """
    proxies = with_members(proxies, get_proxy)
    programs = [p for p in proxies if isinstance(p, ProgramProxy)]
    networks = [p for p in proxies if isinstance(p, NetworkProxy)]
    names = [p.name for p in proxies if not isinstance(p, EnsembleProxy)]
    slot = {name: t for t, name in enumerate(names)}
    means = {n: np.empty(len(archs)) for n in names}
    stds = {n: np.zeros(len(archs)) for n in names}

    def scores_row(i: int) -> np.ndarray:
        """Arch ``i``'s means then stds, in ``names`` order."""
        arch, row = archs[i], np.full(2 * len(names), np.nan)
        key_batch, key_inits = arch_keys(key, space.arch_id(arch))
        for p in proxies:
            if isinstance(p, CostProxy):
                row[slot[p.name]] = p.fn(space, arch, dataset)
                row[len(names) + slot[p.name]] = 0.0
        per_init = _init_scores(
            key_batch, key_inits, space, arch, dataset, programs, networks, settings
        )
        for name, values in per_init.items():
            row[slot[name]] = np.mean(values)
            row[len(names) + slot[name]] = np.std(values, ddof=1) if len(values) > 1 else 0.0
        return row

    missing = np.full(2 * len(names), np.nan)
    for j, got in distributed.in_turn(len(archs), scores_row, missing):
        for t, name in enumerate(names):
            means[name][j], stds[name][j] = got[t], got[len(names) + t]
        if on_arch is not None:
            on_arch(j, {n: means[n][j] for n in names}, {n: stds[n][j] for n in names})
        if progress is not None:
            progress("archs", j + 1, len(archs))
    for name, values in ensemble_scores(proxies, means).items():
        means[name], stds[name] = values, np.zeros(len(archs))
    return {p.name: means[p.name] for p in proxies}, {p.name: stds[p.name] for p in proxies}
