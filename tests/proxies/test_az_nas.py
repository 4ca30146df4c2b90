"""AZ-NAS components: a tiny network's scores against an independent computation written after
the reference code (plain-JAX blocks, numpy covariance, torch's PixelUnshuffle index formula),
block marks of the spaces, and finite scores on NB201 and NDS networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.proxies.helpers import compiles_for_new_archs
from zcjax import engine, netplan
from zcjax.archs import sample_archs
from zcjax.proxies import az_nas, get_proxies
from zcjax.proxies.passes import Passes
from zcjax.recipe import score_archs
from zcjax.settings import Settings
from zcjax.spaces import SPACES, nb201

# Blocks: stem conv+BN (v1); a residual block v3 = v1 + unit_a(v1); a stride-2 unit (v4).
TINY = netplan.Plan(
    (
        netplan.Conv(("stem",), 0, 1, features=3, kernel=3, bn_path=("stem_bn",)),
        netplan.Unit(("a",), 1, 2, features=3, kernel=3),
        netplan.Add((1, 2), 3),
        netplan.Unit(("b",), 3, 4, features=5, kernel=1, stride=2),
        netplan.Head(None, ("linear",), 4, 5, classes=2),
    ),
    5,
    (8, 8, 2),
    blocks=(1, 3, 4),
)


def _bn(z, p):
    mean = jnp.mean(z, axis=(0, 1, 2))
    var = jnp.mean(jnp.square(z - mean), axis=(0, 1, 2))
    return (z - mean) / jnp.sqrt(var + 1e-5) * p["scale"] + p["bias"]


def _conv(z, w, stride=1):
    pad = (w.shape[0] - 1) // 2
    return jax.lax.conv_general_dilated(
        z, w, (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def _reference_blocks(params):
    """The three block functions of TINY, written without the engine (BN in train mode)."""

    def stem(x):
        return _bn(_conv(x, params["stem"]["kernel"]), params["stem_bn"])

    def block_a(v):
        u = params["a"]
        return v + _bn(_conv(jax.nn.relu(v), u["conv"]["kernel"]), u["bn"])

    def block_b(v):
        u = params["b"]
        return _bn(_conv(jax.nn.relu(v), u["conv"]["kernel"], 2), u["bn"])

    return stem, block_a, block_b


def _reference_entropy(feat):
    """The reference's expressivity of one feature, NCHW semantics on an NHWC array."""
    f = np.asarray(feat, np.float64).reshape(-1, feat.shape[-1])
    sigma = np.cov(f, rowvar=False, bias=True)
    s = np.linalg.eigvalsh(sigma)
    p = s / s.sum()
    return float(np.sum(-p * np.log(p + 1e-8)))


def _torch_pixel_unshuffle(g_nhwc, r):
    """torch.nn.PixelUnshuffle(r) by its definition, out[n, c r r + i r + j, h, w] =
    in[n, c, h r + i, w r + j], on NHWC arrays."""
    x = np.transpose(g_nhwc, (0, 3, 1, 2))
    n, c, h, w = x.shape
    out = np.zeros((n, c * r * r, h // r, w // r), x.dtype)
    for ci in range(c):
        for i in range(r):
            for j in range(r):
                out[:, ci * r * r + i * r + j] = x[:, ci, i::r, j::r]
    return np.transpose(out, (0, 2, 3, 1))


def _reference_block_trainability(g_in, g_out):
    if g_in.shape[1] != g_out.shape[1]:
        g_in = _torch_pixel_unshuffle(g_in, g_in.shape[1] // g_out.shape[1])
    b, h, w, co = g_out.shape
    mat = (
        g_in.reshape(-1, g_in.shape[-1]).astype(np.float64).T @ g_out.reshape(-1, co) / (b * h * w)
    )
    s = np.linalg.svd(mat, compute_uv=False).max()
    return -s - 1 / (s + 1e-6) + 2


@pytest.fixture(scope="module")
def tiny():
    params = engine.init_params(jax.random.key(2), TINY, "kaiming_fan_in")
    x = jax.random.normal(jax.random.key(3), (4, 8, 8, 2))
    return Passes(TINY, params, x, jnp.zeros(4, jnp.int32)), params, x


def test_expressivity_and_progressivity_equal_reference(tiny):
    passes, params, x = tiny
    stem, block_a, block_b = _reference_blocks(params)
    f0 = stem(x)
    f1 = block_a(f0)
    f2 = block_b(f1)
    s = np.array([_reference_entropy(f) for f in (f0, f1, f2)])
    np.testing.assert_allclose(passes.block_entropies, s, rtol=1e-5)
    np.testing.assert_allclose(az_nas.expressivity(passes), s.sum(), rtol=1e-5)
    np.testing.assert_allclose(az_nas.progressivity(passes), np.min(np.diff(s)), rtol=1e-4)


def test_trainability_equals_reference(tiny):
    passes, params, x = tiny
    stem, block_a, block_b = _reference_blocks(params)
    f0 = stem(x)
    f1, vjp_a = jax.vjp(block_a, f0)
    f2, vjp_b = jax.vjp(block_b, f1)
    rng = np.random.default_rng(az_nas.RADEMACHER_SEED)  # the signs, in the order drawn
    scores = []
    for f_out, vjp in ((f2, vjp_b), (f1, vjp_a)):
        g_out = (2.0 * rng.integers(0, 2, f_out.shape) - 1.0).astype(np.float32)
        g_in = np.asarray(vjp(jnp.asarray(g_out))[0])
        scores.append(_reference_block_trainability(g_in, g_out))
    np.testing.assert_allclose(az_nas.trainability(passes), np.mean(scores), rtol=1e-4)


def test_identity_and_zero_blocks_score_minus_infinity(tiny):
    _, params, x = tiny
    ops = TINY.ops[:4] + (netplan.Add((), 6, like=4), netplan.Head(None, ("linear",), 6, 7, 2))
    for blocks, proxy in (((1, 3, 3, 4), "trainability"), ((1, 3, 4, 6), "expressivity")):
        plan = netplan.Plan(ops, 7, TINY.input_shape, blocks)
        passes = Passes(plan, params, x, jnp.zeros(4, jnp.int32))
        assert getattr(az_nas, proxy)(passes) == -np.inf
    # A zero block: no gradient reaches its input, sigma = 0.
    plan = netplan.Plan(ops, 7, TINY.input_shape, (1, 3, 4, 6))
    passes = Passes(plan, params, x, jnp.zeros(4, jnp.int32))
    assert az_nas.trainability(passes) < -1e5
    assert az_nas.progressivity(passes) == -np.inf


def test_pixel_unshuffle_matches_torch_definition():
    g = np.random.default_rng(1).normal(size=(2, 6, 6, 3))
    np.testing.assert_array_equal(az_nas.pixel_unshuffle(g, 3, 3), _torch_pixel_unshuffle(g, 2))


def test_nb201_blocks_are_the_stem_and_17_cells():
    arch = nb201.parse_arch(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    plan = nb201.plan(arch)
    assert len(plan.blocks) == 1 + 17
    # Here every cell output is the only live value between cells, as the structural
    # fallback finds when a plan marks no blocks.
    unmarked = netplan.Plan(plan.ops, plan.output, plan.input_shape)
    assert az_nas.block_values(unmarked) == plan.blocks
    shapes = engine.value_shapes(plan)
    widths = [shapes[v][-1] for v in plan.blocks]
    assert widths == [16] * 6 + [32] * 6 + [64] * 6


SETTINGS = Settings(batch_size=8, inputs="noise", resolution=32, weight_init="kaiming_fan_in")
AZ = "az_expressivity,az_progressivity,az_trainability,az_complexity"


def test_finite_on_nb201_archs():
    space = SPACES["nb201"]
    archs = [
        space.parse(a)
        for a in (
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
            "|avg_pool_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
            "|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
        )
    ]
    settings = Settings(batch_size=4, inputs="noise", resolution=16, weight_init="kaiming_fan_in")
    means, _ = score_archs(jax.random.key(0), space, archs, get_proxies(AZ), "cifar10", settings)
    for name, values in means.items():
        assert np.isfinite(values).all(), f"{name}: {values}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nds_darts_in", "nds_resnet_lr-wd_in", "nds_resnet_reruns"])
def test_finite_on_nds_archs(name, data_dir):
    space = SPACES[name]
    archs = sample_archs(jax.random.key(4), space, 2, space.load_benchmark())
    plan = space.plan(archs[0], space.datasets[0])
    assert len(plan.blocks) > 3
    means, _ = score_archs(
        jax.random.key(0), space, archs, get_proxies(AZ), space.datasets[0], SETTINGS
    )
    for proxy, values in means.items():
        assert np.isfinite(values).all(), f"{proxy}: {values}"


@pytest.mark.slow
def test_az_nas_and_vkdnw_do_not_compile_per_architecture():
    settings = Settings(batch_size=2, inputs="noise", resolution=16)
    warm, new, scores = compiles_for_new_archs(AZ + ",vkdnw,vkdnw_entropy", settings)
    assert warm > 30  # the counter sees the kernels compile
    assert new <= 5, f"{new} compilations for 10 new archs"
    assert np.isfinite(scores["vkdnw"]).all()
