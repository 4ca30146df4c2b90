"""What a network is run on: its input batch (images or noise, with labels) and its plan at
the requested resolution."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable

import jax

from zcjax import data
from zcjax.settings import Settings
from zcjax.spaces import SearchSpace


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


def at_resolution(plan, resolution: int | None):
    """``plan`` with its input size set to ``resolution`` (synflow's input follows it)."""
    if resolution is None:
        return plan
    return dataclasses.replace(plan, input_shape=(resolution, resolution, plan.input_shape[2]))


def arch_inputs(key_batch: jax.Array, space: SearchSpace, arch: Hashable, dataset: str, settings):
    """What one architecture is run on: (plan, x [B, H, W, 3], labels [B])."""
    x, labels = input_batch(key_batch, dataset, settings)
    plan = at_resolution(space.plan(arch, dataset), settings.resolution)
    return plan, x, labels
