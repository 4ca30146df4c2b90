"""Randomness helpers: every random choice in zcjax starts from an explicit ``jax.random`` key."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def host_rng(key: jax.Array) -> np.random.Generator:
    """The one way host code gets randomness: a numpy Generator seeded from a JAX key."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key, np.uint32).ravel().tolist())


def arch_key(key: jax.Array, arch_id: int) -> jax.Array:
    """Per-architecture key, so results never depend on batching or order."""
    return jax.random.fold_in(key, arch_id)


def init_keys(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(params key, noise key) of one initialisation: its weights and its noise input.

    The one split every path uses, so the same init key gives the same weights everywhere.
    """
    key_params, key_noise = jax.random.split(key)
    return key_params, key_noise


def arch_keys(key: jax.Array, arch_id: int) -> tuple[jax.Array, jax.Array]:
    """(key_batch, key_inits) of one architecture: its input batch and its K initialisations.

    Derived from ``fold_in(key, arch_id)`` alone, so a score never depends on which other
    archs or proxies were requested; score.py and the GP use the same keys, so their scores
    agree.
    """
    key_batch, key_inits = jax.random.split(arch_key(key, arch_id))
    return key_batch, key_inits
