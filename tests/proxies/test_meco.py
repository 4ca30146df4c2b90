"""MeCo: a numpy forward pass of a tiny hand-built plan scored with the reference's formula
(every conv, BN, ReLU and pool output, conv outputs computed before BN), finite scores on NB201
and NDS networks, no compilation per architecture, and a rank correlation on NB201."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as scipy_stats

from tests.proxies.helpers import noise_passes
from zcjax import compiles, engine, netplan
from zcjax.proxies import PROXIES, meco
from zcjax.proxies.passes import Passes
from zcjax.spaces import get_space, nb201

# Stem conv + BN -> ReLU-Conv-BN unit -> 3x3 avg pool (count_include_pad=False) -> their sum
# -> head BN -> ReLU -> GAP -> linear. 1x1 convs keep the numpy forward a matmul; 3 channels
# throughout, as a 1x1 conv to more channels than its input has has a singular correlation.
TINY = netplan.Plan(
    (
        netplan.Conv(("stem",), 0, 1, features=3, kernel=1, bn_path=("stem_bn",)),
        netplan.Unit(("unit",), 1, 2, features=3, kernel=1),
        netplan.Pool(2, 3, window=3, stride=1, padding=1),
        netplan.Add((2, 3), 4),
        netplan.Head(("head_bn",), ("linear",), 4, 5, classes=3),
    ),
    5,
    (6, 6, 3),
)


def _bn(x):
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    return (x - mean) / np.sqrt(var + 1e-5)


def _avg_pool_3x3(x):
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ones = np.pad(np.ones(x.shape[1:3]), 1)
    out, count = np.zeros_like(x), np.zeros(x.shape[1:3])
    for i in range(3):
        for j in range(3):
            out += padded[:, i : i + x.shape[1], j : j + x.shape[2]]
            count += ones[i : i + x.shape[1], j : j + x.shape[2]]
    return out / count[None, :, :, None]


def _reference_min_eig(fmap):
    """The reference's hook on one module output, sample 0 (torch.corrcoef, NaN -> 0, eig).

    A channel of identical values is NaN in corrcoef in exact arithmetic (float rounding of
    its mean may hide that), as it is in ours.
    """
    f = fmap[0].reshape(-1, fmap.shape[-1]).T
    with np.errstate(all="ignore"):
        corr = np.corrcoef(f)
    constant = np.ptp(f, axis=1) == 0
    corr[constant, :] = corr[:, constant] = np.nan
    corr[~np.isfinite(corr)] = 0.0
    return np.min(np.real(np.linalg.eigvals(corr)))


def _reference_meco(params, x):
    w_stem = np.asarray(params["stem"]["kernel"][0, 0], np.float64)
    w_unit = np.asarray(params["unit"]["conv"]["kernel"][0, 0], np.float64)
    stem_conv = x @ w_stem
    stem_bn = _bn(stem_conv)
    unit_relu = np.maximum(stem_bn, 0)
    unit_conv = unit_relu @ w_unit
    unit_bn = _bn(unit_conv)
    pool = _avg_pool_3x3(unit_bn)
    head_bn = _bn(unit_bn + pool)
    head_relu = np.maximum(head_bn, 0)
    layers = [stem_conv, stem_bn, unit_relu, unit_conv, unit_bn, pool, head_bn, head_relu]
    return sum(_reference_min_eig(f) for f in layers)


def _tiny_passes(params, x):
    return Passes(TINY, params, jnp.asarray(x, jnp.float32), jnp.zeros(x.shape[0], jnp.int32))


@pytest.mark.parametrize("batch", [1, 3])
def test_meco_equals_the_reference_formula_on_a_numpy_forward(batch):
    params = engine.init_params(jax.random.key(1), TINY, "pytorch")
    x = np.asarray(jax.random.normal(jax.random.key(2), (batch, 6, 6, 3)), np.float64)
    expected = _reference_meco(params, x)
    assert expected > 1.0  # 8 layers, each with a nonsingular correlation matrix
    np.testing.assert_allclose(meco.meco(_tiny_passes(params, x)), expected, rtol=1e-4)


def test_meco_dead_channel_zeroes_its_layers_as_the_reference():
    # A unit output channel with zero weights is constant: its NaN correlations become 0, so the
    # unit's conv and BN, the pool, the head's BN and ReLU all have 0 as smallest eigenvalue.
    params = engine.init_params(jax.random.key(1), TINY, "pytorch")
    params["unit"]["conv"]["kernel"] = params["unit"]["conv"]["kernel"].at[..., 0].set(0.0)
    x = np.asarray(jax.random.normal(jax.random.key(2), (1, 6, 6, 3)), np.float64)
    expected = _reference_meco(params, x)
    alive = _reference_meco(engine.init_params(jax.random.key(1), TINY, "pytorch"), x)
    assert 0.0 < expected < alive - 0.2  # the stem and the unit's ReLU remain
    np.testing.assert_allclose(meco.meco(_tiny_passes(params, x)), expected, rtol=1e-4, atol=1e-5)


def test_min_eig_of_constant_channels_and_few_positions():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(
        meco.min_eig_of(jnp.asarray(x)), _reference_min_eig(x.astype(np.float64)), atol=1e-6
    )
    relu = np.maximum(x, 0)
    np.testing.assert_allclose(
        meco.min_eig_of(jnp.asarray(x), relu=True), _reference_min_eig(relu), atol=1e-6
    )
    x[0, ..., 1] = 0.7  # a constant channel: its row and column of P are zeroed
    assert meco.min_eig_of(jnp.asarray(x)) == pytest.approx(0.0, abs=1e-6)
    few = rng.standard_normal((1, 2, 2, 6)).astype(np.float32)  # 4 positions, 6 channels
    assert meco.min_eig_of(jnp.asarray(few)) == 0.0
    assert _reference_min_eig(few.astype(np.float64)) == pytest.approx(0.0, abs=1e-9)


def test_meco_is_registered():
    assert PROXIES["meco"].fn is meco.meco


def _noise_passes(space, arch, dataset, key, batch=1, resolution=None):
    return noise_passes(space, arch, dataset, key, batch, resolution)


def test_meco_finite_on_nb201():
    space = get_space("nb201")
    archs = [(0, 0, 0, 0, 0, 0), (3, 3, 3, 3, 3, 3), (1, 4, 2, 0, 3, 1)]
    scores = [
        meco.meco(_noise_passes(space, a, "cifar10", jax.random.key(i)))
        for i, a in enumerate(archs)
    ]
    assert np.all(np.isfinite(scores))
    # All-none cells output zeros: only the stem's conv and BN have non-constant channels.
    assert 0.0 < scores[0] < scores[2] < scores[1]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nds_darts_in", "nds_resnext-a_in"])
def test_meco_finite_on_nds(name, data_dir):
    space = get_space(name)
    archs = space.load_benchmark(data_dir).archs[:2]
    for i, arch in enumerate(archs):
        passes = _noise_passes(space, arch, "imagenet", jax.random.key(i), resolution=32)
        assert np.isfinite(meco.meco(passes))


@pytest.mark.slow
def test_meco_does_not_compile_per_architecture():
    space = get_space("nb201")
    archs = [space.parse(s) for s in _ARCHS]

    def score(arch, i):
        plan = nb201.plan(arch, channels=4, cells_per_stage=1)
        params = engine.init_params(jax.random.key(i), plan, "pytorch")
        x = jax.random.normal(jax.random.key(100 + i), (2, 32, 32, 3))
        return meco.meco(Passes(plan, params, x, jnp.zeros(2, jnp.int32)))

    for i, arch in enumerate(archs[:8]):
        score(arch, i)
    with compiles.count_compiles() as new:
        scores = [score(arch, i) for i, arch in enumerate(archs[8:])]
    assert new.count == 0, f"{new.count} compilations for {len(scores)} new archs"
    assert np.all(np.isfinite(scores))


_ARCHS = [  # every op on every edge over the first 8 (warm-up), then 6 others
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|",
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|",
    "|skip_connect~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
    "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|skip_connect~1|nor_conv_1x1~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|",
    "|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_3x3~1|none~2|",
    "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|nor_conv_1x1~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|",
]


@pytest.mark.slow
def test_meco_ranks_nb201_archs_like_their_accuracy(nb201_table):
    # 40 seeded archs, one CIFAR-10-sized noise image each (the paper: one random input).
    space = get_space("nb201")
    rows = np.random.default_rng(0).choice(len(nb201_table["arch"]), 40, replace=False)
    scores = [
        meco.meco(
            _noise_passes(space, space.parse(nb201_table["arch"][r]), "cifar10", jax.random.key(r))
        )
        for r in rows
    ]
    rho = scipy_stats.spearmanr(scores, np.asarray(nb201_table["cifar10_valid"])[rows])[0]
    assert rho > 0.7, rho
