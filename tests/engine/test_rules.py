"""Every op rule of ``engine.OP_RULES``, checked on example plans: shapes against the forward
pass, parameters created against those selected, backward against ``jax.vjp`` of forward, and
costs against the Flax rendering's traced count."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from zcjax import engine, netplan
from zcjax.spaces import costs, plan_network

INPUT = (7, 7, 4)  # odd sizes exercise the stride rule's rounding up
BATCH = 3

# Op type -> builders of a small plan whose last op is of that type (``b`` a Builder, value 0
# the input). A new op type needs an entry here (``test_every_rule_has_examples``).
EXAMPLES = {
    netplan.Unit: (
        lambda b: b.unit(("u",), 0, 8, 3),
        lambda b: b.unit(("u",), 0, 8, 3, stride=2, groups=2, bn=False),
        lambda b: b.unit(
            ("u",), 0, 8, (7, 1), stride=(2, 1), pre=(netplan.PreConv("c1x7", (1, 7), (1, 2)),)
        ),
        lambda b: b.unit(
            ("u", "a"), 0, 6, 1, pre=(netplan.PreConv("dw", (3, 3), (2, 2), 2, groups=0),)
        ),
        lambda b: b.unit(("u",), 0, 8, 1, stride=2, factorized=True),
    ),
    netplan.Conv: (
        lambda b: b.conv(("c",), 0, 8, 3, stride=2, bn_path=("bn",)),
        lambda b: b.conv(("c",), 0, 8, 1),
    ),
    netplan.Pool: (
        lambda b: b.pool(0, 3, 2, 1),
        lambda b: b.pool(0, 3, 1, 1, kind="max"),
    ),
    netplan.Add: (
        lambda b: b.add((b.relu(0), 0)),
        lambda b: b.add((), like=0, stride=2),
    ),
    netplan.Concat: (lambda b: b.concat((b.relu(0), 0)),),
    netplan.Relu: (lambda b: b.relu(0),),
    netplan.Head: (
        lambda b: b.head(("bn",), ("fc",), 0, 5),
        lambda b: b.head(None, ("fc",), 0, 5, relu=False),
    ),
}
CASES = [
    pytest.param(t, i, id=f"{t.__name__}-{i}") for t in EXAMPLES for i in range(len(EXAMPLES[t]))
]


def _plan(op_type, i) -> netplan.Plan:
    b = netplan.Builder()
    out = EXAMPLES[op_type][i](b)
    plan = b.build(out, INPUT)
    assert type(plan.ops[-1]) is op_type
    return plan


def _setup(op_type, i):
    plan = _plan(op_type, i)
    params = engine.init_params(jax.random.key(i), plan, "pytorch")
    x = jax.random.normal(jax.random.key(10 + i), (BATCH, *INPUT))
    return plan, params, x


def test_every_rule_has_examples():
    assert set(EXAMPLES) == set(engine.OP_RULES)


@pytest.mark.parametrize("op_type, i", CASES)
def test_shapes_are_those_of_the_forward_pass(op_type, i):
    plan, params, x = _setup(op_type, i)
    values = engine.forward(params, plan, x)
    assert {v: a.shape for v, a in values.items()} == engine.value_shapes(plan, BATCH)


@pytest.mark.parametrize("op_type, i", CASES)
def test_params_created_are_those_selected(op_type, i):
    plan, params, _ = _setup(op_type, i)
    selected = engine.select_params(params, plan)
    assert jax.tree.structure(selected) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(selected), jax.tree.leaves(params)):
        assert a is b
    op = plan.ops[-1]
    rule = engine.rule_of(op)
    placed = {path: sub for path, sub in rule.place(op, rule.take(op, params))}
    assert placed == {path: engine.get_path(params, path) for path in placed}


@pytest.mark.parametrize("op_type, i", CASES)
def test_backward_is_the_vjp_of_forward(op_type, i):
    plan, params, x = _setup(op_type, i)
    values = engine.forward(params, plan, x)
    cot = jax.random.normal(jax.random.key(99), values[plan.output].shape)
    got = engine.backward(params, plan, values, cot, param_grads=True)
    _, vjp = jax.vjp(lambda p, v: engine.forward(p, plan, v)[plan.output], params, x)
    want_params, want_x = vjp(cot)
    np.testing.assert_allclose(got.input, want_x, rtol=1e-4, atol=1e-5)
    assert jax.tree.structure(got.params) == jax.tree.structure(want_params)
    for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(want_params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op_type, i", CASES)
def test_backward_from_residuals_equals_recomputing(op_type, i):
    """Units with BN keep their conv output (``forward_with_residuals``); the backward that
    reads it gives what the one recomputing the convs gives, every unit quantity included."""
    plan, params, x = _setup(op_type, i)
    values, residuals = engine.forward_with_residuals(params, plan, x)
    for v, a in engine.forward(params, plan, x).items():
        np.testing.assert_array_equal(values[v], a)
    op = plan.ops[-1]
    assert (op.dst in residuals) == (op_type is netplan.Unit and op.bn)
    cot = jax.random.normal(jax.random.key(99), values[plan.output].shape)
    kw = dict(want=engine.UNIT_FIELDS, param_grads=True, layers=True)
    got = engine.backward(params, plan, values, cot, residuals=residuals, **kw)
    want = engine.backward(params, plan, values, cot, **kw)
    for field in ("units", "input", "params", "layers"):
        a, b = getattr(got, field), getattr(want, field)
        assert jax.tree.structure(a) == jax.tree.structure(b), field
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6, err_msg=field)


@pytest.mark.parametrize("op_type, i", CASES)
def test_costs_are_the_flax_modules_count(op_type, i):
    """Params and FLOPs from the rules equal a traced count of the plan's Flax rendering,
    whose output also equals the engine's on the same parameters."""
    plan, params, x = _setup(op_type, i)
    model = plan_network.PlanNetwork(plan)
    counted = costs.count_costs(model, INPUT)
    assert engine.plan_costs(plan) == (counted.params, counted.flops)
    assert counted.params == sum(a.size for a in jax.tree.leaves(params))
    np.testing.assert_allclose(
        model.apply({"params": params}, x),
        engine.forward(params, plan, x)[plan.output],
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("op_type", list(EXAMPLES))
def test_ops_with_parameters_have_flax_layers(op_type):
    plan = _plan(op_type, 0)
    has_params = bool(jax.tree.leaves(engine.init_params(jax.random.key(0), plan)))
    assert (op_type in plan_network.LAYERS) == has_params
