"""Model-size proxies: parameter count and FLOPs, the baselines every proxy must beat."""

from __future__ import annotations

from collections.abc import Hashable


def params(space, arch: Hashable, dataset: str) -> float:
    """Number of parameters of the network (``spaces.costs`` convention)."""
    return float(space.costs(arch, dataset).params)


def flops(space, arch: Hashable, dataset: str) -> float:
    """Multiply-accumulates of one forward pass at batch 1 (``spaces.costs`` convention)."""
    return float(space.costs(arch, dataset).flops)
