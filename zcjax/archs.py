"""Which architectures to score: a seeded sample of a space, or those listed in a file."""

from __future__ import annotations

from collections.abc import Hashable

import jax
import numpy as np

from zcjax.data import DataNotFoundError
from zcjax.keys import host_rng
from zcjax.spaces import Benchmark, SearchSpace


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
