"""Pure network maths shared by the engine and the spaces' Flax modules: conv, batch norm,
pooling and weight initialisation schemes. No Flax modules and no spaces, so both layers above
import it.

Layouts are NHWC. Batch norm always normalises with the statistics of the batch it sees (as
PyTorch's BN in train mode, which is how zero-cost proxies run networks at initialisation) and
keeps no running averages, so its only variables are the affine ``scale`` and ``bias``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Dist:
    """A zero-mean weight distribution: ``kind`` "normal", "uniform" or "zeros", with variance
    ``scale / fan`` (``mode`` "fan_in"/"fan_out") or ``scale`` itself (``mode`` None)."""

    kind: str = "normal"
    scale: float = 1.0
    mode: str | None = "fan_in"

    def std(self, fan_in: int, fan_out: int) -> float:
        if self.kind == "zeros":
            return 0.0
        fan = {"fan_in": fan_in, "fan_out": fan_out, None: 1}[self.mode]
        return math.sqrt(self.scale / fan)

    def sample(self, rng: np.random.Generator, shape, fan_in: int, fan_out: int) -> np.ndarray:
        """Host sampling (no compilation): what the engine initialises with."""
        std = self.std(fan_in, fan_out)
        if self.kind == "uniform":
            bound = std * math.sqrt(3.0)
            return rng.uniform(-bound, bound, shape).astype(np.float32)
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def sample_jax(self, key: jax.Array, shape, fan_in: int, fan_out: int) -> jax.Array:
        """The same distribution drawn with ``jax.random`` (Flax module initialisers)."""
        std = self.std(fan_in, fan_out)
        if self.kind == "uniform":
            bound = std * math.sqrt(3.0)
            return jax.random.uniform(key, shape, minval=-bound, maxval=bound)
        return jax.random.normal(key, shape) * std


@dataclasses.dataclass(frozen=True)
class InitScheme:
    """How conv kernels, linear kernels and linear biases start (BN: scale 1, bias 0)."""

    conv: Dist
    linear: Dist
    linear_bias: Dist


INITS = {
    # EZNAS: conv kaiming normal (fan_out, ReLU gain), BN gamma=1 beta=0, linear N(0, 0.01), bias 0.
    "eznas": InitScheme(
        conv=Dist("normal", 2.0, "fan_out"),
        linear=Dist("normal", 0.01**2, None),
        linear_bias=Dist("zeros"),
    ),
    # AZ-NAS's and VKDNW's ``kaiming_norm_fanin``: kaiming normal (fan_in, ReLU gain) for conv
    # and linear kernels alike, biases 0.
    "kaiming_fan_in": InitScheme(
        conv=Dist("normal", 2.0, "fan_in"),
        linear=Dist("normal", 2.0, "fan_in"),
        linear_bias=Dist("zeros"),
    ),
    # PyTorch's defaults: kaiming uniform with a=sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    # for conv and linear kernels and the linear bias alike.
    "pytorch": InitScheme(
        conv=Dist("uniform", 1.0 / 3.0, "fan_in"),
        linear=Dist("uniform", 1.0 / 3.0, "fan_in"),
        linear_bias=Dist("uniform", 1.0 / 3.0, "fan_in"),
    ),
}


def init_scheme(name: str) -> InitScheme:
    if name not in INITS:
        raise ValueError(f"Unknown init scheme {name!r}; expected one of {sorted(INITS)}.")
    return INITS[name]


def conv_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a conv kernel [k, k, C_in / groups, C_out] or linear [in, out]."""
    receptive = math.prod(shape[:-2])
    return receptive * shape[-2], receptive * shape[-1]


def pair(v) -> tuple[int, int]:
    """``k`` -> ``(k, k)``; pairs pass through (kernel sizes and strides may be per axis)."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def strided_size(h: int, w: int, stride) -> tuple[int, int]:
    """Output (H, W) of a conv or pool with "same" padding and ``stride`` (int or (h, w)):
    ``ceil(H / s_h), ceil(W / s_w)``; the one stride rule of value shapes and costs."""
    sh, sw = pair(stride)
    return -(-h // sh), -(-w // sw)


def conv2d(x: jax.Array, kernel: jax.Array, stride=1, dilation: int = 1, groups: int = 1):
    """x [B, H, W, C_in] * kernel [kh, kw, C_in / groups, C_out], PyTorch's symmetric padding
    ``(k - 1) // 2 * dilation`` per axis; ``stride`` an int or an (h, w) pair.

    A 1x1 kernel without groups is a matrix product over channels (the same sums): XLA's CPU
    backend computes its weight gradient ~10x faster as a dot than as a convolution. Barriers
    keep XLA from fusing the product with its neighbours, so it rounds alike in the engine's
    one-op kernels and in ``engine.batched``'s group calls (as a convolution does).
    """
    if kernel.shape[:2] == (1, 1) and groups == 1:
        sh, sw = pair(stride)
        barrier = jax.lax.optimization_barrier
        return barrier(barrier(x[:, ::sh, ::sw]) @ kernel[0, 0])
    pads = tuple(((k - 1) // 2 * dilation,) * 2 for k in kernel.shape[:2])
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        window_strides=pair(stride),
        padding=pads,
        rhs_dilation=(dilation, dilation),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups,
    )


def batch_norm(x: jax.Array, scale: jax.Array, bias: jax.Array, epsilon: float = 1e-5):
    """Normalise x [..., C] over all axes but the last with the batch's biased statistics."""
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axes)
    var = jnp.mean(jnp.square(x - mean), axes)
    return (x - mean) * jax.lax.rsqrt(var + epsilon) * scale + bias


def batch_norm_vjp(x: jax.Array, scale: jax.Array, gy: jax.Array, epsilon: float = 1e-5):
    """``batch_norm``'s vector-Jacobian product in closed form: (gx, g_scale, g_bias) for the
    cotangent gy of its output (x [..., C]). With x_hat the normalised x over N positions,
    gx = scale / sigma * (gy - mean(gy) - x_hat * mean(gy * x_hat)). Two fused reductions
    and one elementwise pass: ~3x faster on a CPU than autodiff of ``batch_norm``, same values.
    """
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axes)
    centred = x - mean
    rstd = jax.lax.rsqrt(jnp.mean(jnp.square(centred), axes) + epsilon)
    x_hat = centred * rstd
    g_bias = jnp.sum(gy, axes)
    g_scale = jnp.sum(gy * x_hat, axes)
    n = x.size // x.shape[-1]
    gx = (scale * rstd) * (gy - (g_bias + x_hat * g_scale) / n)
    return gx, g_scale, g_bias


def avg_pool(x: jax.Array, window: int, stride: int, padding: int) -> jax.Array:
    """Average pool of x [B, H, W, C] that excludes padding from the count (PyTorch's
    ``count_include_pad=False``).

    The window sum is a sum of ``window**2`` strided slices of the zero-padded input (the
    count a constant): XLA fuses it, and its gradient, into one loop, where a
    ``reduce_window`` runs ~2x slower forward and backward on a CPU.
    """
    h, w = x.shape[1:3]
    span_h = (h + 2 * padding - window) // stride * stride + 1  # rows one window offset spans
    span_w = (w + 2 * padding - window) // stride * stride + 1
    pads = ((0, 0), (padding, padding), (padding, padding), (0, 0))

    def window_sum(a):
        offsets = [(i, j) for i in range(window) for j in range(window)]
        return sum(a[:, i : i + span_h : stride, j : j + span_w : stride] for i, j in offsets)

    total = window_sum(jnp.pad(x, pads))
    count = window_sum(np.pad(np.ones((1, h, w, 1)), pads))
    return total / count.astype(x.dtype)


def max_pool(x: jax.Array, window: int, stride: int, padding: int) -> jax.Array:
    """Max pool of x [B, H, W, C]; padding never wins (PyTorch's ``MaxPool2d``)."""
    pads = ((0, 0), (padding, padding), (padding, padding), (0, 0))
    dims, strides = (1, window, window, 1), (1, stride, stride, 1)
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, strides, pads)


def pool(x: jax.Array, window: int, stride: int, padding: int, kind: str = "avg") -> jax.Array:
    """``avg_pool`` or ``max_pool`` by ``kind``."""
    if kind == "avg":
        return avg_pool(x, window, stride, padding)
    if kind == "max":
        return max_pool(x, window, stride, padding)
    raise ValueError(f"Unknown pool kind {kind!r}; expected 'avg' or 'max'.")
