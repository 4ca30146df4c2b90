"""Flax building blocks shared by the search spaces: conv, batch norm, linear, ReLU-Conv-BN.

The maths (conv, BN, pooling, init schemes) lives in ``zcjax.nn``, shared with the engine.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from zcjax.nn import batch_norm, conv2d, conv_fans, init_scheme, pair


class BatchNorm(nn.Module):
    """Batch norm over N, H, W with batch statistics (biased variance, eps 1e-5, as PyTorch)."""

    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        features = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (features,))
        bias = self.param("bias", nn.initializers.zeros, (features,))
        return batch_norm(x, scale, bias, self.epsilon)


class Conv(nn.Module):
    """2-D convolution without bias; PyTorch padding ``(kernel - 1) // 2 * dilation`` per side.

    Its one parameter is ``kernel`` [kh, kw, C_in / groups, C_out]; ``kernel`` and ``stride``
    are ints or (h, w) pairs.
    """

    features: int
    kernel: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    dilation: int = 1
    groups: int = 1
    weight_init: str = "eznas"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        shape = (*pair(self.kernel), x.shape[-1] // self.groups, self.features)
        dist = init_scheme(self.weight_init).conv
        kernel = self.param("kernel", lambda k: dist.sample_jax(k, shape, *conv_fans(shape)))
        return conv2d(x, kernel, self.stride, self.dilation, self.groups)


class Linear(nn.Module):
    """Dense layer with bias; the init scheme decides both (PyTorch's bias init needs fan_in)."""

    features: int
    weight_init: str = "eznas"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        scheme = init_scheme(self.weight_init)
        shape = (x.shape[-1], self.features)
        fans = conv_fans(shape)
        kernel = self.param("kernel", lambda k: scheme.linear.sample_jax(k, shape, *fans))
        bias = self.param("bias", lambda k: scheme.linear_bias.sample_jax(k, shape[1:], *fans))
        return x @ kernel + bias


class ReLUConvBN(nn.Module):
    """ReLU -> Conv (no bias) -> BatchNorm: the unit whose statistics EZNAS programs read.

    The optional fields make it any ``netplan.Unit``: ``pre`` convs before ``conv`` (separable,
    dilated and factorised convs), ``groups``, ``factorized`` (FactorizedReduce) and ``bn``.
    """

    features: int
    kernel: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    dilation: int = 1
    weight_init: str = "eznas"
    groups: int = 1
    pre: tuple = ()  # of netplan.PreConv
    factorized: bool = False
    bn: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        # Taps for statistics: with the "perturbations" collection given, gradients w.r.t. it
        # are gradients w.r.t. these tensors; "intermediates" (if mutable) records their values.
        # Without those collections they are no-ops.
        x = self._tap("relu_in", x)
        h = self._tap("conv_in", nn.relu(x))
        init = self.weight_init
        if self.factorized:
            shifted = jnp.pad(h, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 1:, 1:]
            half = self.features // 2
            a = Conv(half, 1, self.stride, weight_init=init, name="conv_1")(h)
            b = Conv(half, 1, self.stride, weight_init=init, name="conv")(shifted)
            x = jnp.concatenate([a, b], axis=-1)
        else:
            for c in self.pre:
                c_in = h.shape[-1]
                groups = c_in if c.groups == 0 else c.groups
                conv = Conv(
                    c.features or c_in, c.kernel, c.stride, c.dilation, groups, init, name=c.name
                )
                h = conv(h)
            conv = Conv(
                self.features,
                self.kernel,
                self.stride,
                self.dilation,
                self.groups,
                init,
                name="conv",
            )
            x = conv(h)
        if self.bn:
            x = BatchNorm(name="bn")(x)
        return self._tap("bn_out", x)

    def _tap(self, name: str, x: jax.Array) -> jax.Array:
        x = self.perturb(name, x)
        self.sow("intermediates", name, x)
        return x
