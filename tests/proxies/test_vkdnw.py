"""VKDNW: the Fisher matrix of a tiny network against an independent computation written after
the reference code (whole-network autodiff of the chosen weights per sample, PyTorch-style
Cholesky factor), and finite scores on NB201 and NDS networks."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zcjax import engine, netplan
from zcjax.archs import sample_archs
from zcjax.inputs import at_resolution
from zcjax.proxies import get_proxies, vkdnw
from zcjax.proxies.passes import Passes
from zcjax.recipe import score_archs
from zcjax.settings import Settings
from zcjax.spaces import SPACES, nb201

# Stem conv+BN -> ReLU-conv(stride 2)-BN unit, plus a pooled shortcut -> BN-ReLU-GAP-linear head.
TINY = netplan.Plan(
    (
        netplan.Conv(("stem",), 0, 1, features=3, kernel=3, bn_path=("stem_bn",)),
        netplan.Unit(("u",), 1, 2, features=3, kernel=3, stride=2),
        netplan.Pool(1, 3, window=3, stride=2, padding=1),
        netplan.Add((2, 3), 4),
        netplan.Head(("head_bn",), ("linear",), 4, 5, classes=4),
    ),
    5,
    (6, 6, 2),
)
# PyTorch registration order: stem conv, stem BN (weight, bias), unit conv, unit BN, head BN,
# classifier (weight, bias).
TORCH_ORDER = [
    ("stem", "kernel"),
    ("stem_bn", "scale"),
    ("stem_bn", "bias"),
    ("u", "conv", "kernel"),
    ("u", "bn", "scale"),
    ("u", "bn", "bias"),
    ("head_bn", "scale"),
    ("head_bn", "bias"),
    ("linear", "kernel"),
    ("linear", "bias"),
]


def _reference_network(params, x):
    """TINY in eval mode (BN with running mean 0, variance 1), written without the engine."""
    inv = 1.0 / np.sqrt(1.0 + 1e-5)

    def bn(z, p):
        return z * inv * p["scale"] + p["bias"]

    def conv(z, w, stride):
        return jax.lax.conv_general_dilated(
            z, w, (stride, stride), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    h = bn(conv(x, params["stem"]["kernel"], 1), params["stem_bn"])
    y = bn(conv(jax.nn.relu(h), params["u"]["conv"]["kernel"], 2), params["u"]["bn"])
    pads = ((0, 0), (1, 1), (1, 1), (0, 0))
    total = jax.lax.reduce_window(h, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 2, 2, 1), pads)
    count = jax.lax.reduce_window(
        jnp.ones_like(h), 0.0, jax.lax.add, (1, 3, 3, 1), (1, 2, 2, 1), pads
    )
    z = jax.nn.relu(bn(y + total / count, params["head_bn"]))
    return jnp.mean(z, axis=(1, 2)) @ params["linear"]["kernel"] + params["linear"]["bias"]


def _get(tree, path):
    for k in path:
        tree = tree[k]
    return tree


def _set(tree, path, value):
    if len(path) == 1:
        return {**tree, path[0]: value}
    return {**tree, path[0]: _set(tree[path[0]], path[1:], value)}


def _torch_cholesky(output):
    """The reference's ``cholesky_covariance``, line by line, in numpy float64."""
    alpha = float(np.float16(0.05))
    e = np.exp(output - output.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True) * (1 - alpha) + alpha / output.shape[1]
    q = np.ones_like(prob) - np.cumsum(prob, axis=1)
    q[:, -1] = 0
    q_shift = np.roll(q, 1, axis=1)
    q_shift[:, 0] = 1
    d = np.sqrt(prob * q / q_shift)
    with np.errstate(divide="ignore"):
        low = -np.matmul(prob[:, :, None], 1 / q[:, None, :])
    low = np.nan_to_num(low, neginf=0.0)
    n = low.shape[1]
    low = low * (1 - np.eye(n)) + np.eye(n)
    low = low * (1 - np.triu(np.ones((n, n)), k=1))
    low = np.matmul(low, d[:, None, :] * np.eye(n))
    cov = np.stack([np.diag(p) - np.outer(p, p) for p in prob])
    np.testing.assert_allclose(low @ np.swapaxes(low, 1, 2), cov, atol=1e-12)
    return low


def _reference_fisher(params, x, order):
    """F = mean_n (L_n J_n)^T (L_n J_n), J_n the per-sample Jacobian of the logits w.r.t. the
    first element of each tensor in ``order`` (vmap of jacrev over single samples)."""

    def logits_of(theta, sample):
        p = params
        for i, path in enumerate(order):
            leaf = _get(p, path)
            p = _set(p, path, leaf.reshape(-1).at[0].set(theta[i]).reshape(leaf.shape))
        return _reference_network(p, sample[None])[0]

    theta = jnp.array([_get(params, path).reshape(-1)[0] for path in order])
    jac = np.asarray(jax.vmap(jax.jacrev(logits_of), (None, 0))(theta, x), np.float64)
    out = np.asarray(_reference_network(params, x), np.float64)
    a = _torch_cholesky(out) @ jac
    return np.mean(np.swapaxes(a, 1, 2) @ a, axis=0)


def _reference_entropy(fisher):
    lambdas = np.linalg.svd(fisher, compute_uv=False)
    quantiles = np.quantile(lambdas, np.arange(0.1, 1.0, 0.1))
    temp = quantiles / (np.linalg.norm(quantiles, ord=1) + 1e-10)
    return -(temp * np.log(temp + 1e-10)).sum()


@pytest.fixture(scope="module")
def tiny():
    params = engine.init_params(jax.random.key(5), TINY, "kaiming_fan_in")
    # Non-trivial BN parameters, so their Jacobians and the affine maps are checked too.
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(6), len(leaves))
    params = jax.tree.unflatten(
        tree, [v + 0.3 * jax.random.normal(k, v.shape) for v, k in zip(leaves, keys)]
    )
    x = jax.random.normal(jax.random.key(7), (5, 6, 6, 2))
    return params, x


def test_cholesky_factor_equals_the_reference_one():
    logits = np.random.default_rng(0).normal(size=(3, 6)) * 3
    np.testing.assert_allclose(vkdnw.cholesky_factor(logits), _torch_cholesky(logits), atol=1e-12)


def test_parameter_tensors_in_torch_order():
    chosen, total = vkdnw.selected_tensors(TINY, engine.value_shapes(TINY, 5))
    bn = [("bn", "scale"), ("bn", "bias")]
    expected = [
        (0, ("conv",)),
        *[(0, b) for b in bn],
        (1, ("conv", "kernel")),
        *[(1, b) for b in bn],
    ]
    expected += [*[(4, b) for b in bn], (4, ("linear", "kernel")), (4, ("linear", "bias"))]
    found = [(i, leaf) for i, (leaves, _) in chosen.items() for leaf in leaves]
    assert total == len(TORCH_ORDER) and found == expected
    assert [c for _, cs in chosen.values() for c in cs] == list(range(len(expected)))


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_fisher_equals_reference_computation(tiny, monkeypatch, mode):
    params, x = tiny
    if mode == "forward":
        monkeypatch.setattr(vkdnw, "REVERSE_MAX_CLASSES", 0)
    passes = Passes(TINY, params, x, jnp.zeros(5, jnp.int32))
    f, total = vkdnw.fisher(passes)
    expected = _reference_fisher(params, x, TORCH_ORDER)
    assert total == 10
    np.testing.assert_allclose(f, expected, rtol=2e-4, atol=1e-6 * np.abs(expected).max())
    entropy = _reference_entropy(expected)
    assert 0.1 < entropy < math.log(9)
    np.testing.assert_allclose(vkdnw.vkdnw_entropy(passes), entropy, rtol=1e-4)
    np.testing.assert_allclose(vkdnw.vkdnw(passes), 10 + entropy, rtol=1e-6)


def test_only_the_first_tensors_count(tiny, monkeypatch):
    params, x = tiny
    monkeypatch.setattr(vkdnw, "NUM_TENSORS", 4)
    passes = Passes(TINY, params, x, jnp.zeros(5, jnp.int32))
    f, total = vkdnw.fisher(passes)
    assert total == 10 and f.shape == (4, 4)
    expected = _reference_fisher(params, x, TORCH_ORDER[:4])
    np.testing.assert_allclose(f, expected, rtol=2e-4, atol=1e-6 * np.abs(expected).max())


def test_spectrum_entropy_hand_computed():
    # Eigenvalues 1..10: deciles 1.9, 2.8, ..., 9.1 (linear interpolation).
    q = 1.0 + 0.9 * np.arange(1, 10)
    t = q / q.sum()
    np.testing.assert_allclose(
        vkdnw.spectrum_entropy(np.arange(1.0, 11.0)), -np.sum(t * np.log(t + 1e-10))
    )
    assert vkdnw.spectrum_entropy(np.zeros(5)) == 0.0
    # Equal eigenvalues: the maximum, log 9.
    np.testing.assert_allclose(vkdnw.spectrum_entropy(np.full(7, 3.0)), math.log(9), rtol=1e-9)


def test_decile_ratio_hand_computed():
    # Eigenvalues 1..10: q_4 = 1 + 0.9 * 4 = 4.6, q_9 = 9.1.
    np.testing.assert_allclose(vkdnw.decile_ratio(np.arange(1.0, 11.0)), 4.6 / 9.1)
    assert vkdnw.decile_ratio(np.zeros(5)) == 0.0
    assert vkdnw.decile_ratio(np.full(7, 3.0)) == 1.0
    # The two tie-breaks can disagree: 30% tiny eigenvalues under a flat top give q_4 = q_9
    # (ratio 1) but three near-zero deciles (entropy log 6 + ...); an even spread from 0.5 to 1
    # has ratio 0.74 and deciles near equal (entropy near log 9).
    gap, even = np.r_[np.full(30, 1e-6), np.ones(70)], np.linspace(0.5, 1.0, 100)
    np.testing.assert_allclose(vkdnw.decile_ratio(even), 0.7 / 0.95, rtol=1e-6)
    assert vkdnw.decile_ratio(gap) > vkdnw.decile_ratio(even)
    assert vkdnw.spectrum_entropy(gap) < vkdnw.spectrum_entropy(even)


SETTINGS = Settings(batch_size=4, inputs="noise", resolution=32, weight_init="kaiming_fan_in")


def test_finite_on_nb201_archs():
    space = SPACES["nb201"]
    archs = sample_archs(jax.random.key(4), space, 3)
    means, _ = score_archs(
        jax.random.key(0),
        space,
        archs,
        get_proxies("vkdnw,vkdnw_entropy,vkdnw_ratio"),
        "cifar10",
        SETTINGS,
    )
    assert all(np.isfinite(means[n]).all() for n in ("vkdnw", "vkdnw_entropy", "vkdnw_ratio"))
    aleph = means["vkdnw"] - means["vkdnw_entropy"]
    np.testing.assert_array_equal(aleph, np.round(aleph))  # a count of tensors
    np.testing.assert_array_equal(np.floor(means["vkdnw_ratio"]), aleph)  # same size first


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nds_darts_in", "nds_resnet_lr-wd_in", "nds_resnet_reruns"])
def test_finite_on_nds_archs(name, data_dir):
    space = SPACES[name]
    archs = sample_archs(jax.random.key(4), space, 2, space.load_benchmark())
    means, _ = score_archs(
        jax.random.key(0), space, archs, get_proxies("vkdnw"), space.datasets[0], SETTINGS
    )
    assert np.isfinite(means["vkdnw"]).all()


def _small_nb201_passes(dataset: str) -> Passes:
    """An NB201 network of every edge kind at 8x8 inputs, batch 3, kaiming fan-in init."""
    space = SPACES["nb201"]
    arch = space.parse(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
    )
    plan = at_resolution(space.plan(arch, dataset), 8)
    params = engine.init_params(jax.random.key(1), plan, "kaiming_fan_in")
    x = jax.random.normal(jax.random.key(2), (3, 8, 8, 3))
    return Passes(plan, params, x, jnp.zeros(3, jnp.int32))


@pytest.mark.slow
def test_reverse_and_forward_mode_agree_on_an_nb201_network(monkeypatch):
    passes = _small_nb201_passes("cifar10")
    f_reverse, _ = vkdnw.fisher(passes)
    monkeypatch.setattr(vkdnw, "REVERSE_MAX_CLASSES", 0)
    f_forward, _ = vkdnw.fisher(passes)
    np.testing.assert_allclose(f_forward, f_reverse, rtol=1e-3, atol=1e-5 * np.abs(f_reverse).max())


def test_seeds_of_some_leaves_match_eager_jvps():
    """A head's BN scale and bias alone (the 128-tensor cut, or a tangent chunk, can split an
    op's tensors): the jitted seeds equal eager JVPs. Jitted JVPs of all parameters with
    explicit zero tangents on the other leaves gave 1e20-1e35 here (XLA:CPU, jax 0.10.2)."""
    k = jax.random.split(jax.random.key(0), 3)
    xs = (jax.random.normal(k[0], (64, 8, 8, 64)),)
    p = {
        "bn": {"scale": jnp.ones(64), "bias": jnp.zeros(64)},
        "linear": {"kernel": 0.1 * jax.random.normal(k[1], (64, 100)), "bias": jnp.zeros(100)},
    }
    static = ("head", True)
    for leaves in ((("bn", "scale"),), (("bn", "scale"), ("bn", "bias"))):
        jitted = jax.jit(vkdnw._seeds, static_argnums=(0, 1))(static, leaves, p, xs)
        for leaf, got in zip(leaves, jitted):
            onehot = jnp.zeros(64).at[0].set(1.0)
            tangent = jax.tree.map(jnp.zeros_like, p)
            tangent = {**tangent, "bn": {**tangent["bn"], leaf[1]: onehot}}
            with jax.disable_jit():
                want = jax.jvp(lambda q: vkdnw._apply(static, q, xs), (p,), (tangent,))[1]
            assert 0.01 < float(jnp.abs(want).max()) < 10.0
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
        slots = jnp.asarray(range(len(leaves)), jnp.int32) + 3
        stacked = vkdnw._seeds_stacked(p, xs, slots, static=static, leaves=leaves, width=8)
        np.testing.assert_allclose(stacked[3 : 3 + len(leaves)], jnp.stack(jitted), rtol=1e-6)
        assert (
            float(jnp.abs(stacked[:3]).max())
            == float(jnp.abs(stacked[3 + len(leaves) :]).max())
            == 0.0
        )


def test_tangent_chunks_do_not_change_the_fisher(monkeypatch):
    """Forward mode with chunks of 16, 4 (splitting ops' tensors across chunks) and 1 gives the
    same F on an NB201 network with more classes than reverse mode takes."""
    passes = _small_nb201_passes("cifar100")
    found = {}
    for chunk in (16, 4, 1):
        monkeypatch.setattr(vkdnw, "TANGENT_CHUNK", chunk)
        found[chunk], _ = vkdnw.fisher(passes)
    scale = np.abs(found[1]).max()
    assert scale > 0
    for chunk in (16, 4):
        np.testing.assert_allclose(found[chunk], found[1], rtol=1e-4, atol=1e-6 * scale)


@pytest.mark.parametrize("index", [0, 5000, 9999, 15624, 7777])
def test_aleph_counts_the_reference_networks_tensors(index):
    """The reference's TinyNetwork (AZ-NAS's ``custom/tss_model.py`` over xautodl's cells):
    stem conv + BN (3 tensors), two ResNet reduction blocks (conv + BN twice, a 1x1 shortcut
    conv: 7 each), the last BN and the classifier (2 + 2), and in each of the 15 cells 3 per
    conv edge (conv, BN scale, BN bias); skip, pooling and none have none."""
    arch = nb201.arch_from_id(index)
    plan = nb201.plan(arch)
    _, total = vkdnw.selected_tensors(plan, engine.value_shapes(plan, 2))
    assert total == 21 + 45 * nb201.arch_to_string(arch).count("conv")
