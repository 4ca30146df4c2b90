"""The key streams of a search run, all derived from its one seed."""

from __future__ import annotations

import dataclasses

import jax


@dataclasses.dataclass(frozen=True)
class Keys:
    """The run's keys, all from ``seed``."""

    population: jax.Array
    split: jax.Array
    generations: jax.Array
    test: jax.Array

    @classmethod
    def of(cls, seed: int) -> Keys:
        return cls(*jax.random.split(jax.random.key(seed), 4))
