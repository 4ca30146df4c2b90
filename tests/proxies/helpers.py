"""Shared helpers of the proxy tests: noise passes of a space's network, and compile counts."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zcjax import engine
from zcjax.archs import sample_archs
from zcjax.inputs import at_resolution
from zcjax.proxies import get_proxies
from zcjax.proxies.passes import Passes
from zcjax.recipe import score_archs
from zcjax.settings import Settings
from zcjax.spaces import SPACES


def noise_passes(space, arch, dataset, key, batch, resolution=None, init="pytorch") -> Passes:
    """``Passes`` of ``arch`` with ``init`` weights on a standard-normal batch [batch, H, W, 3]."""
    plan = at_resolution(space.plan(arch, dataset), resolution)
    params = engine.init_params(key, plan, init)
    size = plan.input_shape[0]
    x = jax.random.normal(jax.random.fold_in(key, 1), (batch, size, size, 3))
    return Passes(plan, params, x, jnp.zeros(batch, jnp.int32))


def compiles_for_new_archs(
    proxies: str, settings: Settings, warm_archs: int = 12, new_archs: int = 10
):
    """(compilations while scoring ``warm_archs`` NB201 archs from cold caches, compilations for
    ``new_archs`` never-seen archs after them, the latter's scores)."""
    from experiments import bench_lib as bench
    from zcjax import compiles

    space = SPACES["nb201"]
    archs = sample_archs(jax.random.key(21), space, warm_archs + new_archs)
    selected = get_proxies(proxies)
    key = jax.random.key(0)
    bench.clear_compilation_caches()  # start cold whatever ran before
    with compiles.count_compiles() as warm:
        score_archs(key, space, archs[:warm_archs], selected, "cifar10", settings)
    with compiles.count_compiles() as new:
        scores, _ = score_archs(key, space, archs[warm_archs:], selected, "cifar10", settings)
    return warm.count, new.count, scores
