"""``engine.forward(lean=True)``: values that only Adds read are released, and everything
read afterwards (backward passes, ReLU inputs, the classic proxies) is what the full forward
gives."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from zcjax import engine, netplan
from zcjax.inputs import at_resolution
from zcjax.proxies import activation, gradient
from zcjax.proxies.passes import Passes
from zcjax.spaces import nb201

# conv1x1, conv3x3, avg_pool, skip and none edges: edge outputs that only node sums read.
ARCH = (3, 2, 4, 1, 3, 0)
# Node 1 (a conv) feeds only none edges: its unit reaches no logit (zero gradients).
UNREACHED = (3, 2, 0, 3, 0, 4)


def _setup(arch=ARCH):
    plan = at_resolution(nb201.plan(arch, cells_per_stage=1), 8)
    params = engine.init_params(jax.random.key(0), plan, "pytorch")
    x = jax.random.normal(jax.random.key(1), (3, 8, 8, 3))
    return plan, params, x


def test_lean_forward_releases_only_values_that_adds_read():
    plan, params, x = _setup()
    full = engine.forward(params, plan, x)
    lean = engine.forward(params, plan, x, lean=True)
    released = {v for v, a in lean.items() if not isinstance(a, jax.Array)}
    assert released == set(engine.add_only_values(plan))
    for v in released:  # read only by Adds with sources, none of the kept values
        readers = [op for op in plan.ops if v in engine.rule_of(op).inputs(op)]
        assert readers and all(isinstance(op, netplan.Add) and op.srcs for op in readers)
        assert v not in (0, plan.output, *plan.blocks)
        assert lean[v].shape == full[v].shape and lean[v].dtype == full[v].dtype
    for v, a in lean.items():
        if v not in released:
            np.testing.assert_array_equal(a, full[v])
    held = sum(a.nbytes for a in lean.values() if isinstance(a, jax.Array))
    assert held < 0.75 * sum(a.nbytes for a in full.values())  # the point of it


@pytest.mark.parametrize("labels", [None, np.array([0, 3, 9])])
def test_backward_from_a_lean_forward_is_unchanged(labels):
    plan, params, x = _setup()
    full = engine.forward(params, plan, x)
    lean = engine.forward(params, plan, x, lean=True)
    cot = engine.logit_cotangent(full[plan.output], labels)
    kw = dict(want=("weight_grad", "relu_in_grad"), param_grads=True)
    want = engine.backward(params, plan, full, cot, **kw)
    got = engine.backward(params, plan, lean, cot, **kw)
    for field in ("units", "input", "params"):
        for a, b in zip(
            jax.tree.leaves(getattr(got, field)), jax.tree.leaves(getattr(want, field))
        ):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(engine.relu_inputs(params, plan, lean), engine.relu_inputs(params, plan, full)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("arch", [ARCH, UNREACHED])
def test_lean_passes_give_the_same_classic_scores(arch):
    plan, params, x = _setup(arch)
    labels = np.array([1, 2, 3])
    full, lean = (Passes(plan, params, x, labels, lean=flag) for flag in (False, True))
    for fn in (gradient.snip, gradient.grad_norm, activation.jacob_cov, activation.naswot):
        assert fn(lean) == fn(full), fn.__name__
