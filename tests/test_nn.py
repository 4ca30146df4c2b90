"""``zcjax.nn``'s fast forms against independent references: 1x1 convs as matrix products
against XLA's convolution, average pooling as strided slices against a loop over windows by
hand, and batch norm's closed-form vector-Jacobian product against autodiff."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zcjax import nn


@pytest.mark.parametrize("stride", [1, 2, (2, 1)])
def test_1x1_conv_is_the_convolution(stride):
    x = jax.random.normal(jax.random.key(0), (2, 7, 5, 4))
    kernel = jax.random.normal(jax.random.key(1), (1, 1, 4, 6))
    want = jax.lax.conv_general_dilated(
        x, kernel, nn.pair(stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    got = nn.conv2d(x, kernel, stride)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    gy = jax.random.normal(jax.random.key(2), want.shape)
    for a, b in zip(
        jax.vjp(lambda k, v: nn.conv2d(v, k, stride), kernel, x)[1](gy),
        jax.vjp(
            lambda k, v: jax.lax.conv_general_dilated(
                v, k, nn.pair(stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
            ),
            kernel,
            x,
        )[1](gy),
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _avg_pool_by_hand(x: np.ndarray, window: int, stride: int, padding: int) -> np.ndarray:
    """Mean over each window's in-bounds pixels, window by window."""
    b, h, w, c = x.shape
    out_h = (h + 2 * padding - window) // stride + 1
    out_w = (w + 2 * padding - window) // stride + 1
    out = np.zeros((b, out_h, out_w, c))
    for i in range(out_h):
        for j in range(out_w):
            r0, c0 = i * stride - padding, j * stride - padding
            rows = slice(max(r0, 0), min(r0 + window, h))
            cols = slice(max(c0, 0), min(c0 + window, w))
            out[:, i, j] = x[:, rows, cols].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("window, stride, padding", [(3, 1, 1), (3, 2, 1), (2, 2, 0), (3, 3, 1)])
def test_avg_pool_excludes_padding_from_the_count(window, stride, padding):
    x = np.random.default_rng(0).standard_normal((2, 7, 8, 3)).astype(np.float32)
    got = nn.avg_pool(jnp.asarray(x), window, stride, padding)
    np.testing.assert_allclose(
        got, _avg_pool_by_hand(x, window, stride, padding), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_batch_norm_vjp_is_autodiff(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        keys = jax.random.split(jax.random.key(3), 4)
        x = jax.random.normal(keys[0], (3, 5, 4, 6), dtype) * 3.0 + 1.0
        scale = jax.random.normal(keys[1], (6,), dtype)
        bias = jax.random.normal(keys[2], (6,), dtype)
        gy = jax.random.normal(keys[3], x.shape, dtype)
        want = jax.vjp(nn.batch_norm, x, scale, bias)[1](gy)
        got = nn.batch_norm_vjp(x, scale, gy)
        tol = 1e-5 if dtype == jnp.float32 else 1e-12
        for a, b in zip(got, want):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
