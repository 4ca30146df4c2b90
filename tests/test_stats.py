import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zcjax import engine, netplan, stats
from zcjax.spaces import nb201

TINY = netplan.Plan(
    ops=(
        netplan.Unit(("unit",), src=0, dst=1, features=3, kernel=1),
        netplan.Head(("head_bn",), ("linear",), src=1, dst=2, classes=2),
    ),
    output=2,
    input_shape=(4, 4, 2),
)


def _tiny_reference(params, x):
    """The tiny network written out by hand, with autodiff only for the final check."""
    kernel = params["unit"]["conv"]["kernel"][0, 0]  # [C_in, C_out]
    bn = params["unit"]["bn"]

    def bn_fn(z, p):
        mean = z.mean(axis=(0, 1, 2))
        var = ((z - mean) ** 2).mean(axis=(0, 1, 2))
        return (z - mean) / jnp.sqrt(var + 1e-5) * p["scale"] + p["bias"]

    def head(y):
        h = jax.nn.relu(bn_fn(y, params["head_bn"]))
        return (h.mean(axis=(1, 2)) @ params["linear"]["kernel"] + params["linear"]["bias"]).sum()

    def from_conv_in(h, k=kernel):
        return head(bn_fn(h @ k, bn))

    h = jax.nn.relu(x)
    y = bn_fn(h @ kernel, bn)
    return {
        "weight": params["unit"]["conv"]["kernel"],
        "weight_grad": jax.grad(lambda k: from_conv_in(h, k))(kernel)[None, None],
        "relu_in": x,
        "conv_in": h,
        "bn_out": y,
        "relu_in_grad": jax.grad(lambda v: from_conv_in(jax.nn.relu(v)))(x),
        "conv_in_grad": jax.grad(from_conv_in)(h),
        "bn_out_grad": jax.grad(head)(y),
    }


@pytest.mark.slow
def test_tiny_net_terminals_match_hand_written_network(key):
    x = jax.random.normal(jax.random.key(1), (3, 4, 4, 2))
    params = engine.init_params(jax.random.key(2), TINY)
    st = stats.collect_stats(key, TINY, x, stats.TERMINALS, params=params)
    assert st.names == ("unit",) and set(st.terminals) == set(stats.TERMINALS)
    inputs = stats.make_inputs(jax.random.split(key)[1], x)
    refs = {s: _tiny_reference(params, inputs[s]) for s in stats.INPUTS}
    layer = st.layers[0]
    for t in stats.TERMINALS:
        q, _, source = t.partition("@")
        want = refs["data"][q] if not source else refs[source][q]
        if source == "perturbed":
            want = refs["perturbed"][q] - refs["data"][q]
        np.testing.assert_allclose(layer[t], want, rtol=2e-4, atol=1e-6, err_msg=t)
    # Hand-checked: the unit reads the image, so its ReLU input is D, N and P - D = 0.1 N.
    noise = inputs["noise"]
    np.testing.assert_allclose(layer["relu_in@data"], x)
    np.testing.assert_allclose(layer["relu_in@noise"], noise)
    np.testing.assert_allclose(layer["relu_in@perturbed"], 0.1 * noise, atol=1e-6)
    np.testing.assert_array_equal(layer["weight"], params["unit"]["conv"]["kernel"])
    assert layer["weight_grad@data"].shape == (1, 1, 2, 3)
    assert layer["bn_out@data"].shape == (3, 4, 4, 3)


def test_passes_needed():
    assert stats.passes_needed(["relu_in_grad@data"]) == ("data",)
    assert stats.passes_needed(["weight"]) == ()
    assert stats.passes_needed(["bn_out@perturbed"]) == ("data", "perturbed")
    assert stats.passes_needed(["bn_out@noise", "weight_grad@data"]) == ("data", "noise")
    with pytest.raises(ValueError, match="Unknown terminals \\['relu@data'\\]"):
        stats.collect_stats(jax.random.key(0), TINY, jnp.zeros((2, 4, 4, 2)), ["relu@data"])


SMALL = dict(channels=4, cells_per_stage=1)
ARCHS = [
    (3, 3, 4, 1, 3, 2),  # every op
    (1, 0, 3, 0, 4, 0),  # node 3 reads only node 1
    (2, 0, 0, 0, 0, 0),  # node 2 and 3 zero: conv unit on edge 1<-0 is dead
]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_engine_equals_flax_module_in_float64(arch):
    """The shared-kernel engine and whole-module autodiff compute the same statistics."""
    with jax.enable_x64(True):
        plan = nb201.plan(arch, **SMALL)
        model = nb201.network(arch, **SMALL)
        x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3), jnp.float64)
        params = jax.tree.map(
            lambda a: jnp.asarray(a, jnp.float64), engine.init_params(jax.random.key(1), plan)
        )
        key = jax.random.key(2)
        a = stats.collect_stats(key, plan, x, stats.TERMINALS, params=params)
        b = stats.collect_stats(
            key, plan, x, stats.TERMINALS, params=params, method="module", model=model
        )
        assert a.names == b.names and len(a.names) == len(plan.units)
        for la, lb, name in zip(a.layers, b.layers, a.names):
            for t in stats.TERMINALS:
                scale = float(np.abs(lb[t]).max()) or 1.0
                np.testing.assert_allclose(la[t], lb[t], atol=1e-10 * scale, err_msg=f"{name} {t}")


@pytest.mark.slow
def test_engine_equals_module_under_cross_entropy():
    with jax.enable_x64(True):
        arch = ARCHS[0]
        plan, model = nb201.plan(arch, **SMALL), nb201.network(arch, **SMALL)
        x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3), jnp.float64)
        labels = jnp.array([0, 3, 9, 3])
        params = jax.tree.map(
            lambda a: jnp.asarray(a, jnp.float64), engine.init_params(jax.random.key(1), plan)
        )
        terms = ["weight_grad@data", "relu_in_grad@data"]
        a = stats.collect_stats(jax.random.key(2), plan, x, terms, params=params, labels=labels)
        b = stats.collect_stats(
            jax.random.key(2),
            plan,
            x,
            terms,
            params=params,
            labels=labels,
            method="module",
            model=model,
        )
        c = stats.collect_stats(jax.random.key(2), plan, x, terms, params=params)
        for la, lb in zip(a.layers, b.layers):
            np.testing.assert_allclose(la["weight_grad@data"], lb["weight_grad@data"], atol=1e-12)
        assert not np.allclose(a.layers[0]["weight_grad@data"], c.layers[0]["weight_grad@data"])


@pytest.mark.slow
def test_float32_engine_close_to_float64_truth_on_full_network():
    """Gradients of the sum of logits through batch norms cancel heavily, so float32 results
    carry ~1e-3 relative error in places (the whole-module jit's too); the engine stays close."""
    arch = (3, 3, 4, 1, 3, 2)
    plan = nb201.plan(arch)
    x = jax.random.normal(jax.random.key(0), (8, 32, 32, 3))
    terms = ["relu_in_grad@data", "bn_out@data", "weight_grad@data"]
    params = engine.init_params(jax.random.key(1), plan)
    a = stats.collect_stats(jax.random.key(1), plan, x, terms, params=params)
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), params)
        truth = stats.collect_stats(
            jax.random.key(1), plan, jnp.asarray(x, jnp.float64), terms, params=p64
        )
        truth = jax.tree.map(np.asarray, truth)
    for t in terms:
        err = np.array(
            [
                np.linalg.norm(np.asarray(la[t]) - lt[t]) / (np.linalg.norm(lt[t]) + 1e-30)
                for la, lt in zip(a.layers, truth.layers)
            ]
        )
        assert err.max() < 5e-2 and np.median(err) < 1e-3, (t, err.max(), np.median(err))


@pytest.mark.slow
def test_vmapped_inits_equal_a_loop():
    plan = nb201.plan(ARCHS[0], **SMALL)
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    terms = ["relu_in_grad@data", "weight", "bn_out@perturbed", "conv_in@noise"]
    key = jax.random.key(3)
    stacked = stats.collect_stats(key, plan, x, terms, num_inits=3)
    looped = stats.stack_inits(
        [stats.collect_stats(k, plan, x, terms) for k in jax.random.split(key, 3)]
    )
    for la, lb in zip(stacked.layers, looped.layers):
        for t in terms:
            assert la[t].shape[0] == 3
            np.testing.assert_allclose(la[t], lb[t], rtol=1e-4, atol=1e-5, err_msg=t)
    assert not np.allclose(stacked.layers[0]["weight"][0], stacked.layers[0]["weight"][1])


def test_stack_inits_on_host_equals_jnp_and_copies_nothing_for_one_init():
    plan = nb201.plan(ARCHS[0], **SMALL)
    x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
    terms = ["relu_in_grad@data", "weight", "bn_out@perturbed"]
    keys = jax.random.split(jax.random.key(5), 2)
    per_init = [stats.collect_stats(k, plan, x, terms) for k in keys]
    for k in (1, 2):
        on_device = stats.stack_inits(per_init[:k])
        on_host = stats.stack_inits(per_init[:k], host=True)
        for ld, lh, l1 in zip(on_device.layers, on_host.layers, per_init[0].layers):
            for t in terms:
                assert isinstance(lh[t], np.ndarray) and lh[t].shape == (k, *l1[t].shape)
                np.testing.assert_array_equal(lh[t], ld[t], err_msg=t)  # bit for bit
                # one init: a view of JAX's own buffer, not a copy
                assert (lh[t].ctypes.data == l1[t].unsafe_buffer_pointer()) == (k == 1), t


def test_nb201_units_are_cell_convs_and_reduction_convs():
    arch = (3, 3, 4, 1, 2, 0)  # 3 conv edges per cell
    plan = nb201.plan(arch)
    names = [u.path for u in plan.units]
    assert len(names) == 3 * 15 + 4
    assert ("cell_5", "conv_a") in names and ("cell_11", "conv_b") in names
    assert all("shortcut" not in p and "stem_conv" not in p for p in names)
    assert names[:3] == [("cell_0", "edge_1_0"), ("cell_0", "edge_2_0"), ("cell_0", "edge_3_1")]
