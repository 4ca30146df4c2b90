"""Host-side facts of a plan, read off its ops' rules: value shapes, costs, parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zcjax import netplan
from zcjax.engine.paths import Params, set_path
from zcjax.engine.rules import rule_of
from zcjax.keys import host_rng
from zcjax.nn import init_scheme


def value_shapes(plan: netplan.Plan, batch: int = 1) -> dict[int, tuple[int, ...]]:
    """Shape of every value of the plan for a batch of ``batch``: [B, H, W, C], logits [B, classes]."""
    shapes = {0: (batch, *plan.input_shape)}
    for op in plan.ops:
        rule = rule_of(op)
        shapes[op.dst] = rule.shape(op, [shapes[v] for v in rule.inputs(op)])
    return shapes


def plan_costs(plan: netplan.Plan) -> tuple[int, int]:
    """(params, FLOPs) of a plan at its input shape, batch 1 (``spaces.costs`` convention)."""
    shapes = value_shapes(plan)
    params = flops = 0
    for op in plan.ops:
        rule = rule_of(op)
        p, f = rule.costs(op, [shapes[v] for v in rule.inputs(op)], shapes[op.dst])
        params, flops = params + p, flops + f
    return int(params), int(flops)


def init_params(key: jax.Array, plan: netplan.Plan, weight_init: str = "eznas") -> Params:
    """Fresh parameters for ``plan``, as a tree shaped like the space's Flax module's params.

    Drawn on the host from ``keys.host_rng(key)`` in op order, so initialising a never-seen
    architecture compiles nothing. BN starts at scale 1, bias 0.
    """
    rng = host_rng(key)
    scheme = init_scheme(weight_init)
    shapes = value_shapes(plan)
    params: Params = {}

    def draw(dist, shape, fans):
        return dist.sample(rng, shape, *fans)

    for op in plan.ops:
        rule = rule_of(op)
        p = rule.init(op, [shapes[v] for v in rule.inputs(op)], scheme, draw)
        for path, subtree in rule.place(op, p):
            set_path(params, path, subtree)
    return jax.tree.map(jnp.asarray, params)


def init_params_stacked(keys: jax.Array, plan: netplan.Plan, weight_init: str = "eznas") -> Params:
    """``init_params`` for each of ``keys`` [K], stacked along a leading [K] axis."""
    inits = [init_params(k, plan, weight_init) for k in keys]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *inits)


def select_params(params: Params, plan: netplan.Plan) -> Params:
    """The entries of ``params`` (of a network with the same ops, maybe more BNs) that ``plan``
    uses, e.g. a BN-free variant's weights taken from the full network's initialisation."""
    out: Params = {}
    for op in plan.ops:
        rule = rule_of(op)
        for path, subtree in rule.place(op, rule.take(op, params)):
            set_path(out, path, subtree)
    return out
