"""Any ``netplan.Plan`` as a Flax module, with the parameter tree ``engine.init_params`` makes.

Spaces whose networks are built as plans (NDS) get their Flax modules from here: the module
walks the plan with Flax layers, nesting submodules by each op's parameter path, so
``model.apply({"params": engine.init_params(key, plan)}, x)`` runs the same network as
``engine.forward``. Units tap their statistics like ``layers.ReLUConvBN`` (the whole-network
reference of ``stats.collect_stats(method="module")``), and ``costs.count_costs`` counts it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from zcjax import netplan
from zcjax.spaces.layers import BatchNorm, Conv, Linear, ReLUConvBN, pool


class _Scope(nn.Module):
    """A parameter-free level of the tree: calls ``make(leaf name)`` at the end of ``path``."""

    @nn.compact
    def __call__(self, path: netplan.Path, make: Callable, *args):
        if len(path) == 1:
            return make(path[0])(*args)
        return _Scope(name=path[0])(path[1:], make, *args)


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

        init = self.weight_init
        values = {0: x}
        for op in self.plan.ops:
            if isinstance(op, netplan.Unit):
                y = at(
                    op.path,
                    lambda n, op=op: ReLUConvBN(
                        op.features,
                        op.kernel,
                        op.stride,
                        op.dilation,
                        init,
                        op.groups,
                        op.pre,
                        op.factorized,
                        op.bn,
                        name=n,
                    ),
                    values[op.src],
                )
            elif isinstance(op, netplan.Conv):
                y = at(
                    op.path,
                    lambda n, op=op: Conv(
                        op.features, op.kernel, op.stride, weight_init=init, name=n
                    ),
                    values[op.src],
                )
                if op.bn_path is not None:
                    y = at(op.bn_path, lambda n: BatchNorm(name=n), y)
            elif isinstance(op, netplan.Pool):
                y = pool(values[op.src], op.window, op.stride, op.padding, op.kind)
            elif isinstance(op, netplan.Add):
                if op.srcs:
                    y = functools.reduce(jnp.add, [values[s] for s in op.srcs])
                else:
                    y = jnp.zeros_like(values[op.like][:, :: op.stride, :: op.stride])
            elif isinstance(op, netplan.Concat):
                y = jnp.concatenate([values[s] for s in op.srcs], axis=-1)
            elif isinstance(op, netplan.Relu):
                y = nn.relu(values[op.src])
            elif isinstance(op, netplan.Head):
                y = values[op.src]
                if op.bn_path is not None:
                    y = at(op.bn_path, lambda n: BatchNorm(name=n), y)
                y = jnp.mean(nn.relu(y) if op.relu else y, axis=(1, 2))
                y = at(op.linear_path, lambda n, op=op: Linear(op.classes, init, name=n), y)
            else:
                raise TypeError(f"Unknown plan op {op!r}")
            values[op.dst] = y
        return values[self.plan.output]
