"""Parameter and FLOP counts of any Flax module, read off one abstract trace (no real compute).

Convention (that of NAS-Bench-201's official ``get_model_infos`` and the NDS records):
- params: every entry of the ``params`` collection (conv and linear weights, linear bias, BN
  scale and bias; BN running statistics are not parameters);
- FLOPs: multiply-accumulates of convolutions and linear layers at batch size 1,
  ``H_out * W_out * k_h * k_w * C_in * C_out / groups`` per conv (``layers.Conv`` has no
  bias) and ``C_in * C_out + C_out`` per linear layer; pooling, BN, ReLU and additions count 0.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from zcjax.nn import pair
from zcjax.spaces.layers import Conv, Linear


@dataclasses.dataclass(frozen=True)
class Costs:
    params: int
    flops: int


def _layer_flops(module: nn.Module, args, out) -> int:
    x = args[0]
    if isinstance(module, Conv):
        per_position = math.prod(pair(module.kernel)) * x.shape[-1] * out.shape[-1] // module.groups
        return per_position * math.prod(out.shape[1:-1])
    if isinstance(module, Linear):
        return x.shape[-1] * out.shape[-1] + out.shape[-1]
    return 0


def count_costs(module: nn.Module, input_shape: tuple[int, ...]) -> Costs:
    """Params and FLOPs of ``module`` on one input of ``input_shape`` ([H, W, C], batch excluded)."""
    flops = []

    def count(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name == "__call__":
            flops.append(_layer_flops(context.module, args, out))
        return out

    # Batch 2 keeps batch norm well defined; FLOPs are per image.
    x = jax.ShapeDtypeStruct((2, *input_shape), jnp.float32)
    with nn.intercept_methods(count):
        variables = jax.eval_shape(module.init, jax.random.key(0), x)
    params = sum(math.prod(p.shape) for p in jax.tree.leaves(variables.get("params", {})))
    return Costs(params=params, flops=sum(flops))
