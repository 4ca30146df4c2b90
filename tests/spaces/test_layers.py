import jax
import numpy as np
import scipy.signal

from zcjax import nn
from zcjax.spaces import layers


def test_avg_pool_excludes_padding():
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    out = np.asarray(nn.avg_pool(x, 3, 1, 1))[0, :, :, 0]
    # Corner (0,0) averages the 4 in-bounds pixels 0,1,3,4; centre averages all 9.
    np.testing.assert_allclose(out[0, 0], (0 + 1 + 3 + 4) / 4)
    np.testing.assert_allclose(out[1, 1], 4.0)


def test_batch_norm_uses_batch_statistics(key):
    x = 3.0 + 2.0 * jax.random.normal(key, (8, 4, 4, 5))
    bn = layers.BatchNorm()
    out = np.asarray(bn.apply(bn.init(key, x), x))
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), atol=1e-5)


def test_conv_matches_scipy_correlation(key):
    x = np.asarray(jax.random.normal(key, (1, 6, 6, 1)))
    conv = layers.Conv(1, 3)
    variables = conv.init(key, x)
    kernel = np.asarray(variables["params"]["kernel"])[:, :, 0, 0]
    out = np.asarray(conv.apply(variables, x))[0, :, :, 0]
    expected = scipy.signal.correlate2d(x[0, :, :, 0], kernel, mode="same")
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_strided_dilated_grouped_shapes(key):
    x = np.zeros((2, 9, 9, 8), np.float32)
    conv = layers.Conv(4, 3, stride=2, dilation=2, groups=2)
    variables = conv.init(key, x)
    assert variables["params"]["kernel"].shape == (3, 3, 4, 4)
    assert conv.apply(variables, x).shape == (2, 5, 5, 4)
