"""Any ``netplan.Plan`` as a Flax module, with the parameter tree ``engine.init_params`` makes.

Spaces whose networks are built as plans (NDS) get their Flax modules from here: the module
walks the plan with Flax layers, nesting submodules by each op's parameter path, so
``model.apply({"params": engine.init_params(key, plan)}, x)`` runs the same network as
``engine.forward``. Units tap their statistics like ``layers.ReLUConvBN`` (the whole-network
reference of ``stats.collect_stats(method="module")``), and ``costs.count_costs`` counts it.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from zcjax import engine, netplan
from zcjax.spaces.layers import BatchNorm, Conv, Linear, ReLUConvBN


class _Scope(nn.Module):
    """A parameter-free level of the tree: calls ``make(leaf name)`` at the end of ``path``."""

    @nn.compact
    def __call__(self, path: netplan.Path, make: Callable, *args):
        if len(path) == 1:
            return make(path[0])(*args)
        return _Scope(name=path[0])(path[1:], make, *args)


def _unit(op: netplan.Unit, at, init: str, x):
    def make(name):
        return ReLUConvBN(
            op.features,
            op.kernel,
            op.stride,
            op.dilation,
            init,
            op.groups,
            op.pre,
            op.factorized,
            op.bn,
            name=name,
        )

    return at(op.path, make, x)


def _conv(op: netplan.Conv, at, init: str, x):
    y = at(op.path, lambda n: Conv(op.features, op.kernel, op.stride, weight_init=init, name=n), x)
    return y if op.bn_path is None else at(op.bn_path, lambda n: BatchNorm(name=n), y)


def _head(op: netplan.Head, at, init: str, x):
    if op.bn_path is not None:
        x = at(op.bn_path, lambda n: BatchNorm(name=n), x)
    x = jnp.mean(nn.relu(x) if op.relu else x, axis=(1, 2))
    return at(op.linear_path, lambda n: Linear(op.classes, init, name=n), x)


# The Flax layers of the plan ops with parameters: op type -> (op, at, weight_init, *inputs)
# -> output, ``at(path, make, *args)`` placing ``make(name)`` at ``path``. Ops without
# parameters run their ``engine.OP_RULES`` forward.
LAYERS = {netplan.Unit: _unit, netplan.Conv: _conv, netplan.Head: _head}


class PlanNetwork(nn.Module):
    """The network of ``plan``: [B, H, W, 3] -> logits [B, classes]."""

    plan: netplan.Plan
    weight_init: str = "eznas"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        scopes: dict[str, _Scope] = {}

        def at(path, make, *args):
            if len(path) == 1:
                return make(path[0])(*args)
            if path[0] not in scopes:
                scopes[path[0]] = _Scope(name=path[0])
            return scopes[path[0]](path[1:], make, *args)

        values = {0: x}
        for op in self.plan.ops:
            rule = engine.rule_of(op)
            inputs = [values[v] for v in rule.inputs(op)]
            if type(op) in LAYERS:
                y = LAYERS[type(op)](op, at, self.weight_init, *inputs)
            else:  # no parameters: the engine's maths, unjitted
                y = rule.forward(engine.EAGER, op, {}, inputs)
            values[op.dst] = y
        return values[self.plan.output]
