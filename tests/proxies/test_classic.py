"""Classic proxies: hand-computed values on tiny networks, and independent autodiff of the
whole Flax module on a small NB201 network."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.proxies.helpers import compiles_for_new_archs
from zcjax import engine, netplan
from zcjax.inputs import at_resolution
from zcjax.proxies import activation, gradient, synflow, zico
from zcjax.proxies.passes import Passes, kernels
from zcjax.settings import Settings
from zcjax.spaces import nb201

# A 1x1 conv (no BN) then ReLU -> GAP -> linear: small enough for closed forms.
TINY = netplan.Plan(
    (
        netplan.Conv(("conv",), 0, 1, features=3, kernel=1),
        netplan.Head(None, ("linear",), 1, 2, classes=2),
    ),
    2,
    (4, 4, 2),
)


def _tiny_passes(key, x, labels=None):
    params = engine.init_params(key, TINY, "pytorch")
    labels = jnp.zeros(x.shape[0], jnp.int32) if labels is None else labels
    return Passes(TINY, params, x, labels, bn_free_plan=lambda: TINY), params


@pytest.mark.slow
def test_synflow_closed_form(key):
    # |W1|, |W2| and a ones image: R = sum_ij (sum_c |W1_cj|) |W2_jk| + sum |b|, so
    # sum |W1 dR/dW1| + sum |W2 dR/dW2| = 2 * sum_{c,j,k} |W1_cj| |W2_jk|.
    passes, params = _tiny_passes(key, jnp.ones((2, 4, 4, 2)))
    w1 = np.abs(np.asarray(params["conv"]["kernel"][0, 0], np.float64))
    w2 = np.abs(np.asarray(params["linear"]["kernel"], np.float64))
    expected = 2 * np.sum(w1.sum(axis=0)[:, None] * w2)
    np.testing.assert_allclose(synflow.synflow(passes), expected, rtol=1e-12)


def test_synflow_keeps_order_beyond_float32_range(key):
    passes, params = _tiny_passes(key, jnp.ones((2, 4, 4, 2)))
    big = jax.tree.map(lambda a: a * 1e25, params)
    big_passes = Passes(TINY, big, passes.x, passes.labels, bn_free_plan=lambda: TINY)
    score, big_score = synflow.synflow(passes), synflow.synflow(big_passes)
    assert np.isfinite(big_score) and big_score > 1e45  # float32 would overflow at 3e38
    np.testing.assert_allclose(big_score / score, 1e50, rtol=1e-6)  # two layers; f32 weights


def test_naswot_on_known_codes(key):
    # Unit input = the image: its codes are the signs we choose. The head's ReLU reads the conv
    # output (no BN), computed here independently.
    signs = np.array([[1, 1, -1, -1], [1, -1, 1, -1], [1, 1, 1, -1]], np.float32)
    x = np.repeat(signs[:, None, :, None], 4, axis=1).reshape(3, 4, 4, 1).repeat(2, axis=3)
    plan = netplan.Plan(
        (
            netplan.Unit(("unit",), 0, 1, features=3, kernel=1, bn=False),
            netplan.Head(None, ("linear",), 1, 2, classes=2),
        ),
        2,
        (4, 4, 2),
    )
    params = engine.init_params(key, plan, "pytorch")
    passes = Passes(plan, params, jnp.asarray(x), jnp.zeros(3, jnp.int32))
    w = np.asarray(params["unit"]["conv"]["kernel"][0, 0])
    y = np.maximum(x, 0) @ w

    def counts(a):
        c = (a.reshape(3, -1) > 0).astype(np.float64)
        return c @ c.T + (1 - c) @ (1 - c).T

    k = counts(x) + counts(y)
    # Codes of the image alone: each sign covers 8 entries, so rows agree on 8 * #matches.
    np.testing.assert_array_equal(counts(x), 4 * (signs @ signs.T + 4))
    np.testing.assert_allclose(activation.naswot(passes), np.linalg.slogdet(k)[1], rtol=1e-9)


def test_jacobian_score_hand_computed():
    j = np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]])  # corrcoef = I
    k = 1e-5
    np.testing.assert_allclose(activation.jacobian_score(j), -2 * (np.log(1 + k) + 1 / (1 + k)))
    assert np.isnan(activation.jacobian_score(np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])))


class _GradStub:
    def __init__(self, grads):
        self._grads = grads

    def cross_entropy_grads(self, batch):
        return self._grads[batch]


def test_zico_hand_computed():
    g1 = {"a": {"kernel": np.array([1.0, 2.0, 3.0])}, "b": {"kernel": np.array([5.0, 5.0])}}
    g2 = {"a": {"kernel": np.array([3.0, 2.0, 1.0])}, "b": {"kernel": np.array([5.0, 5.0])}}
    # Layer a: std = [1, 0, 1], mean |g| = [2, 2, 2] -> 2/1 + 2/1 = 4. Layer b: std 0 -> skipped.
    assert zico.zico(_GradStub([g1, g2])) == pytest.approx(np.log(4.0))


SMALL = dict(channels=4, cells_per_stage=1)


@pytest.fixture(scope="module")
def small_network():
    arch = (3, 2, 4, 1, 3, 3)
    plan, model = nb201.plan(arch, **SMALL), nb201.network(arch, **SMALL)
    params = engine.init_params(jax.random.key(7), plan, "pytorch")
    x = jax.random.normal(jax.random.key(8), (6, 32, 32, 3))
    labels = jnp.array([0, 1, 2, 3, 4, 5])
    passes = Passes(plan, params, x, labels)

    def loss(p):
        logits = model.apply({"params": p}, x)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(6), labels])

    return passes, model, params, x, loss


def _module_kernels(tree):
    return [np.asarray(k, np.float64) for k in kernels(tree)]


@pytest.mark.slow
def test_gradient_proxies_equal_whole_module_autodiff(small_network):
    passes, model, params, x, loss = small_network
    g = jax.grad(loss)(params)
    w, gk = _module_kernels(params), _module_kernels(g)
    np.testing.assert_allclose(
        gradient.snip(passes), sum(np.abs(a * b).sum() for a, b in zip(w, gk)), rtol=1e-4
    )
    np.testing.assert_allclose(
        gradient.grad_norm(passes), sum(np.linalg.norm(b) for b in gk), rtol=1e-4
    )
    masked = jax.tree_util.tree_map_with_path(
        lambda p, v: v if p[-1].key == "kernel" else jnp.zeros_like(v), g
    )
    hg = jax.jvp(jax.grad(loss), (params,), (masked,))[1]
    expected = sum(np.sum(-a * b) for a, b in zip(w, _module_kernels(hg)))
    np.testing.assert_allclose(gradient.grasp(passes), expected, rtol=2e-3)


@pytest.mark.slow
def test_jacob_cov_input_gradient_equals_module(small_network):
    passes, model, params, x, _ = small_network
    j = jax.grad(lambda v: jnp.sum(model.apply({"params": params}, v)))(x)
    np.testing.assert_allclose(passes.input_grad, j, rtol=1e-3, atol=1e-6)
    assert np.isfinite(activation.jacob_cov(passes))


@pytest.mark.slow
def test_fisher_hand_written_on_tiny_net(key):
    x = jax.random.normal(jax.random.key(3), (5, 4, 4, 2))
    labels = jnp.array([0, 1, 1, 0, 1])
    passes, params = _tiny_passes(key, x, labels)
    w1, lin = params["conv"]["kernel"][0, 0], params["linear"]

    def loss_from(a1, tap2):
        logits = jnp.mean(jax.nn.relu(a1), axis=(1, 2)) @ lin["kernel"] + lin["bias"] + tap2
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(5), labels]), logits

    a1 = x @ w1
    (g1, g2), logits = jax.grad(loss_from, argnums=(0, 1), has_aux=True)(a1, jnp.zeros((5, 2)))
    f1 = 0.5 * np.mean(np.square(np.sum(a1 * g1, axis=(1, 2))), axis=0).sum() * 2  # fan-in 1*1*2
    f2 = 0.5 * np.mean(np.square(logits * g2), axis=0).sum() * 3  # linear fan-in 3
    np.testing.assert_allclose(gradient.fisher(passes), f1 + f2, rtol=1e-4)


@pytest.mark.slow
def test_unit_programs_equal_the_classic_proxies_per_unit(small_network):
    """snip/grad_norm as programs (per unit, mean over units) equal the same quantities from
    the classic proxies' shared cross-entropy pass: two independent gradient machineries."""
    from zcjax import stats
    from zcjax.program import PROGRAMS, network_score

    passes = small_network[0]
    grads = passes.cross_entropy.params
    per_unit = [
        (
            engine.get_path(passes.params, u.path)["conv"]["kernel"],
            engine.get_path(grads, u.path)["conv"]["kernel"],
        )
        for u in passes.plan.units
    ]
    st = stats.collect_stats(
        jax.random.key(0),
        passes.plan,
        passes.x,
        ["weight", "weight_grad@data"],
        params=passes.params,
        labels=passes.labels,
    )
    snip_units = np.mean([np.sum(np.abs(np.asarray(w) * np.asarray(g))) for w, g in per_unit])
    norm_units = np.mean([np.linalg.norm(np.asarray(g)) for _, g in per_unit])
    np.testing.assert_allclose(
        network_score(PROGRAMS["snip_units"].program, st), snip_units, rtol=1e-4
    )
    np.testing.assert_allclose(
        network_score(PROGRAMS["grad_norm_units"].program, st), norm_units, rtol=1e-4
    )


@pytest.mark.slow
def test_classic_proxies_do_not_compile_per_architecture():
    # grasp is left out: its Hessian-vector product is eager jax.jvp(jax.grad(...)), whose
    # derived kernels JAX caches by weak reference and may recompile after garbage collection.
    warm, new, scores = compiles_for_new_archs(
        "synflow,snip,grad_norm,jacob_cov,naswot,fisher,zico",
        Settings(batch_size=2, inputs="noise"),
    )
    assert warm > 50  # the counter sees the kernels compile
    assert new <= 5, f"{new} compilations for 10 new archs"
    assert np.isfinite(scores["snip"]).all() and np.isfinite(scores["synflow"]).all()


def test_passes_keep_layer_outputs_only_when_asked(key):
    x = jax.random.normal(key, (2, 4, 4, 2))
    passes, params = _tiny_passes(key, x)
    lean = Passes(TINY, params, x, passes.labels, layers=False)
    assert lean.cross_entropy.layers is None and len(passes.cross_entropy.layers) == 2
    for a, b in zip(kernels(lean.cross_entropy.params), kernels(passes.cross_entropy.params)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_scoring_keeps_layers_for_fisher_and_snip_is_unchanged():
    import zcjax

    kw = dict(num_archs=2, seed=3, batch_size=4, inputs="noise")
    alone = zcjax.score("nb201", ["snip"], **kw).scores["snip"]
    both = zcjax.score("nb201", ["snip", "fisher"], **kw).scores
    np.testing.assert_array_equal(alone, both["snip"])
    assert np.isfinite(both["fisher"]).all() and (both["fisher"] > 0).all()


def test_naswot_counts_are_exact_past_float32s_integers(key):
    """K's entries past 2^24 (an input of 200,001 units per sample read by 101 ReLUs: 20.2M)
    equal integer arithmetic; float32 sums would round the odd ones."""
    x = jax.random.normal(key, (3, 200_001))
    c = (np.asarray(x) > 0).astype(np.int64)
    exact = 101 * (c @ c.T + (1 - c) @ (1 - c).T)
    assert exact.max() > 2**24 and (exact % 2 == 1).any()
    np.testing.assert_array_equal(activation.code_counts([x] * 101), exact)


def test_naswot_counts_a_node_once_per_unit_reading_it(key):
    """On an NB201 cell (a node feeds up to three units) the score is the published sum over
    every ReLU of its codes' counts, computed here with two products per ReLU in float64."""
    plan = at_resolution(nb201.plan((3, 2, 3, 1, 2, 3), cells_per_stage=1), 8)
    params = engine.init_params(key, plan, "pytorch")
    x = jax.random.normal(jax.random.fold_in(key, 1), (6, 8, 8, 3))
    passes = Passes(plan, params, x, jnp.zeros(6, jnp.int32))
    relus = engine.relu_inputs(params, plan, passes.values)
    assert len({id(a) for a in relus}) < len(relus)  # shared inputs are exercised
    k = np.zeros((6, 6))
    for a in relus:
        c = (np.asarray(a).reshape(6, -1) > 0).astype(np.float64)
        k += c @ c.T + (1 - c) @ (1 - c).T
    assert activation.naswot(passes) == pytest.approx(np.linalg.slogdet(k)[1], rel=1e-12)
