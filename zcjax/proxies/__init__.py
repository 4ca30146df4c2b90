"""Zero-cost proxies, by name, in ``PROXIES``: every proxy scores one architecture.

A proxy's ``score(key, space, arch, dataset)`` returns a float, higher meaning "predicted to
train better"; ``key`` drives any randomness (initialisation, input batch).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable

import jax

from zcjax.proxies import costs
from zcjax.spaces import SearchSpace

ScoreFn = Callable[[jax.Array, SearchSpace, Hashable, str], float]


@dataclasses.dataclass(frozen=True)
class Proxy:
    name: str
    score: ScoreFn
    description: str = ""


PROXIES = {
    "params": Proxy("params", costs.params, "number of parameters"),
    "flops": Proxy("flops", costs.flops, "multiply-accumulates of conv and linear layers"),
}


def get_proxies(names) -> list[Proxy]:
    """The proxies named in ``names`` (a list, or a comma-separated string), in that order."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROXIES]
    if unknown:
        raise ValueError(f"Unknown proxies {unknown}; known proxies: {', '.join(PROXIES)}.")
    if not names:
        raise ValueError("No proxies given.")
    return [PROXIES[n] for n in names]
