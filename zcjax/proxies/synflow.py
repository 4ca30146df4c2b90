"""SynFlow (Tanaka et al., "Pruning neural networks without any data by iteratively conserving
synaptic flow", NeurIPS 2020), as zero-cost-nas computes it for NAS.

All parameters are made non-negative (``|theta|``, BN scales and biases included), the input
is one all-ones image, R = sum of the logits, and the score is sum |w * dR/dw| over conv and
linear weights. It runs in float64: scores reach 1e30-1e60 and would overflow float32. The
network is the architecture's BN-free variant (``space.plan(..., bn=False)``); for NB201 that
keeps the BNs of the two ResNet blocks, as zero-cost-nas's model does (its reduction blocks
ignore the flag), and those normalise over the single image's positions.
"""

from __future__ import annotations

import jax
import numpy as np

from zcjax import engine
from zcjax.proxies.passes import Passes, kernels


def synflow(passes: Passes) -> float:
    plan = passes.bn_free_plan
    params = engine.select_params(passes.params, plan)
    with jax.enable_x64(True):
        # |theta| and the input on the host: eager jnp ops would compile once per weight shape.
        params = jax.tree.map(lambda a: np.abs(np.asarray(a, np.float64)), params)
        ones = np.ones((1, *plan.input_shape), np.float64)
        values = engine.forward(params, plan, ones)
        cot = engine.logit_cotangent(values[plan.output])  # R = sum of the logits
        grads = engine.backward(params, plan, values, cot, param_grads=True).params
        pairs = zip(kernels(params), kernels(grads))
        return float(sum(np.sum(np.abs(np.asarray(w) * np.asarray(g))) for w, g in pairs))
