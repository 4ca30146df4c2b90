"""Gradient-based pruning-at-init proxies: grad_norm, snip, grasp, fisher.

Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021); reference code:
SamsungLabs/zero-cost-nas, ``foresight/pruners/measures``. As there: the loss is the mean
cross-entropy of one labelled batch, BN uses batch statistics, only conv and linear weights
are scored (no biases, no BN), and a score is the plain sum over all of them.

Deviation: zero-cost-nas's own NB201 model gives cell convs a bias and cell BNs no affine
parameters; we score the official NB201 network (no conv bias, affine BN). That changes fisher,
whose activations are the conv outputs, slightly; the other three read weights and gradients.
"""

from __future__ import annotations

import math

import numpy as np

from zcjax import engine
from zcjax.proxies.passes import Passes, kernels

# Scores are sums over the layers of one network, whose number and shapes vary by architecture,
# so they are computed on the host (numpy, float64): a jitted sum would compile per architecture.


def _host(tree) -> list[np.ndarray]:
    return [np.asarray(k, np.float64) for k in kernels(tree)]


def grad_norm(passes: Passes) -> float:
    """Sum over layers of the Frobenius norm of the weight gradient (not squared, not global)."""
    return float(sum(np.linalg.norm(g) for g in _host(passes.cross_entropy.params)))


def snip(passes: Passes) -> float:
    """SNIP (Lee et al., ICLR 2019): sum of |w * dL/dw|, the connection sensitivity."""
    pairs = zip(_host(passes.params), _host(passes.cross_entropy.params))
    return float(sum(np.sum(np.abs(w * g)) for w, g in pairs))


def grasp(passes: Passes) -> float:
    """GraSP (Wang et al., ICLR 2020) as zero-cost-nas signs it: sum of -w * (H g).

    H is the Hessian of the loss w.r.t. the conv/linear weights and g their gradient (a
    Hessian-vector product by forward-over-reverse autodiff, exact, no finite differences).
    """
    pairs = zip(_host(passes.params), _host(passes.hessian_grad))
    return float(sum(np.sum(-w * hg) for w, hg in pairs))


def fisher(passes: Passes) -> float:
    """Fisher (Theis et al. 2018; Turner et al. 2020) per output channel of each conv/linear layer.

    With A a layer's output (before BN) and G = dL/dA: per channel k,
    0.5 * mean_n (sum_{h,w} A G)^2, counted once per weight feeding channel k (zero-cost-nas
    broadcasts the channel value over ``weight.shape[1:]`` before summing).
    """
    ops = {op.dst: op for op in passes.plan.ops}
    total = 0.0
    for dst, (a, g) in passes.cross_entropy.layers.items():
        prod = np.asarray(a, np.float64) * np.asarray(g, np.float64)
        per_sample = prod.sum(axis=tuple(range(1, prod.ndim - 1)))  # [B, C]
        per_channel = 0.5 * np.mean(np.square(per_sample), axis=0)
        total += float(np.sum(per_channel)) * _fan_in(ops[dst], passes.params)
    return total


def _fan_in(op, params) -> int:
    """Weights feeding one output channel: k * k * C_in for a conv, C_in for the linear layer."""
    rule = engine.rule_of(op)
    return math.prod(rule.weight(rule.take(op, params)).shape[:-1])
