"""Model-size proxies: parameter count and FLOPs, the baselines every proxy must beat."""

from __future__ import annotations

from collections.abc import Hashable

import jax


def params(key: jax.Array, space, arch: Hashable, dataset: str) -> float:
    """Number of parameters of the network (``spaces.costs`` convention)."""
    del key
    return float(space.costs(arch, dataset).params)


def flops(key: jax.Array, space, arch: Hashable, dataset: str) -> float:
    """Multiply-accumulates of one forward pass at batch 1 (``spaces.costs`` convention)."""
    del key
    return float(space.costs(arch, dataset).flops)
