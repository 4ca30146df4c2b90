"""SWAP and regularised SWAP: bit-packed pattern counts against numpy's unique rows of the
sign matrix, a hand-built plan against a numpy forward pass, the regulariser against official
parameter counts, finite scores on NB201 and NDS, no compilation per architecture, and a rank
correlation on NB201."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as scipy_stats

from tests.proxies.helpers import noise_passes
from zcjax import compiles, engine, netplan
from zcjax.proxies import PROXIES, swap
from zcjax.proxies.passes import Passes
from zcjax.spaces import get_space, nb201


def _reference_swap(relu_outputs, batch):
    """The reference: sign of every ReLU output, [B, N] -> distinct rows of its transpose."""
    a = np.concatenate([np.sign(r).reshape(batch, -1) for r in relu_outputs], axis=1)
    return np.unique(a.T, axis=0).shape[0]


@pytest.mark.parametrize("batch", [3, 32, 33, 70])
def test_packed_pattern_count_equals_unique_sign_rows(batch):
    # Coarse values so that patterns repeat; 33 and 70 samples take two and three code words.
    rng = np.random.default_rng(batch)
    xs = [rng.integers(-1, 2, (batch, 4, 4, 3)).astype(np.float32) for _ in range(3)]
    xs.append(np.where(rng.random((batch, 50)) < 0.9, 1.0, -1.0).astype(np.float32))
    codes = [swap.pattern_codes(jnp.asarray(x)) for x in xs]
    assert codes[0].shape == (48, math.ceil(batch / 32)) and codes[0].dtype == jnp.uint32
    expected = _reference_swap([np.maximum(x, 0) for x in xs], batch)
    assert swap.count_patterns(codes) == expected
    assert swap.count_patterns(codes[:1]) == _reference_swap([np.maximum(xs[0], 0)], batch)


def test_swap_on_a_hand_built_plan_equals_numpy():
    # The unit's ReLU reads the image, whose signs we choose; the head's ReLU reads the unit's
    # conv output (no BN), computed here in numpy.
    signs = np.array([[1, 1, -1, -1], [1, -1, 1, -1], [1, 1, 1, -1]], np.float32)
    x = np.repeat(signs[:, None, :, None], 4, axis=1).repeat(2, axis=3)  # [3, 4, 4, 2]
    plan = netplan.Plan(
        (
            netplan.Unit(("unit",), 0, 1, features=3, kernel=1, bn=False),
            netplan.Head(None, ("linear",), 1, 2, classes=2),
        ),
        2,
        (4, 4, 2),
    )
    params = engine.init_params(jax.random.key(0), plan, "pytorch")
    passes = Passes(plan, params, jnp.asarray(x), jnp.zeros(3, jnp.int32))
    y = np.maximum(x, 0) @ np.asarray(params["unit"]["conv"]["kernel"][0, 0])
    # The image alone: columns of signs give patterns 111, 101, 011, 000.
    assert _reference_swap([np.maximum(x, 0)], 3) == 4
    assert swap.swap(passes) == _reference_swap([np.maximum(x, 0), np.maximum(y, 0)], 3)
    assert PROXIES["swap"].fn is swap.swap


def test_regular_factor_and_swap_reg_use_the_official_parameter_count():
    assert swap.regular_factor(1_500_000) == 1.0
    assert swap.regular_factor(0) == pytest.approx(math.exp(-(1500**2) / 1.5e6))
    assert swap.regular_factor(500_000, mu=400, sigma=1e4) == pytest.approx(math.exp(-1.0))
    arch = (3, 2, 4, 1, 3, 0)
    plan = nb201.plan(arch, channels=4, cells_per_stage=1)
    params = engine.init_params(jax.random.key(0), plan, "pytorch")
    passes = Passes(plan, params, jax.random.normal(jax.random.key(1), (4, 32, 32, 3)), None)
    official = nb201.costs(arch, channels=4, cells_per_stage=1).params
    assert swap.num_params(params) == official
    np.testing.assert_allclose(
        PROXIES["swap_reg"].fn(passes), swap.swap(passes) * swap.regular_factor(official)
    )
    custom = swap.swap_regularised(mu=official / 1e3, sigma=1.0)(passes)
    assert custom == swap.swap(passes)


def _noise_passes(space, arch, dataset, key, batch=16, resolution=None):
    return noise_passes(space, arch, dataset, key, batch, resolution)


def test_swap_finite_on_nb201():
    space = get_space("nb201")
    archs = [(0, 0, 0, 0, 0, 0), (3, 3, 3, 3, 3, 3), (1, 4, 2, 0, 3, 1)]
    passes = [_noise_passes(space, a, "cifar10", jax.random.key(i), 8) for i, a in enumerate(archs)]
    scores = [swap.swap(p) for p in passes]
    # All-none cells output zeros, so every ReLU after the first cell reads zeros: one pattern.
    assert scores[0] == 1 and 1 < scores[1] <= 2**8 and 1 < scores[2] <= 2**8
    regularised = [swap.swap_reg(p) for p in passes]
    assert np.all(np.isfinite(regularised)) and 0 < regularised[0] < scores[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nds_darts_in", "nds_resnext-a_in"])
def test_swap_finite_on_nds(name, data_dir):
    space = get_space(name)
    for i, arch in enumerate(space.load_benchmark(data_dir).archs[:2]):
        passes = _noise_passes(space, arch, "imagenet", jax.random.key(i), batch=8, resolution=32)
        assert 1 <= swap.swap(passes) <= 2**8
        assert np.isfinite(swap.swap_reg(passes))


@pytest.mark.slow
def test_swap_does_not_compile_per_architecture():
    rng = np.random.default_rng(3)
    archs = [(3, 2, 4, 1, 0, 3), (2, 3, 1, 4, 3, 2), (4, 1, 3, 2, 2, 4), (1, 4, 2, 3, 4, 1)]
    archs.append((0, 0, 0, 0, 0, 0))  # nodes whose inputs are all none: the engine's zeros
    archs += [tuple(int(c) for c in rng.integers(0, 5, 6)) for _ in range(6)]

    def score(arch, i):
        plan = nb201.plan(arch, channels=4, cells_per_stage=1)
        params = engine.init_params(jax.random.key(i), plan, "pytorch")
        x = jax.random.normal(jax.random.key(100 + i), (5, 32, 32, 3))
        passes = Passes(plan, params, x, jnp.zeros(5, jnp.int32))
        return swap.swap(passes), swap.swap_reg(passes)

    for i, arch in enumerate(archs[:5]):  # convs, pools and skips on every edge; none
        score(arch, i)
    with compiles.count_compiles() as new:
        scores = [score(arch, i) for i, arch in enumerate(archs[5:])]
    assert new.count == 0, f"{new.count} compilations for {len(scores)} new archs"
    assert np.all(np.isfinite(scores))


@pytest.mark.slow
def test_swap_ranks_nb201_archs_like_their_accuracy(nb201_table):
    space = get_space("nb201")
    rows = np.random.default_rng(0).choice(len(nb201_table["arch"]), 30, replace=False)
    acc = np.asarray(nb201_table["cifar10_valid"])[rows]
    passes = [
        _noise_passes(space, space.parse(nb201_table["arch"][r]), "cifar10", jax.random.key(int(r)))
        for r in rows
    ]
    rho = scipy_stats.spearmanr([swap.swap(p) for p in passes], acc)[0]
    rho_reg = scipy_stats.spearmanr([swap.swap_reg(p) for p in passes], acc)[0]
    assert rho > 0.6 and rho_reg > 0.6, (rho, rho_reg)
