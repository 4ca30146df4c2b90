"""ZiCo (Li et al., "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients",
ICLR 2023; reference code SLDGroup/ZiCo ``ZeroShotProxy/compute_zico.py``).

With G[b, i] the cross-entropy gradient of conv/linear weight i on batch b (two batches):
score = sum over layers of log( sum_{i: std_b G != 0} mean_b |G| / std_b G ), std with ddof 0;
a layer whose sum is 0 contributes nothing.

Deviation: the reference never zeroes gradients between batches, so its second "batch
gradient" is the running sum g1 + g2; we use the per-batch gradients g1, g2 that the paper's
definition (and most re-implementations) mean.
"""

from __future__ import annotations

import numpy as np

from zcjax.proxies.passes import Passes, kernels

NUM_BATCHES = 2


def zico(passes: Passes) -> float:
    per_batch = [kernels(passes.cross_entropy_grads(b)) for b in range(NUM_BATCHES)]
    total = 0.0
    for layer in zip(*per_batch):
        g = np.stack([np.asarray(x, np.float64).ravel() for x in layer])
        std = g.std(axis=0)
        nonzero = std != 0
        ratio_sum = np.sum(np.abs(g).mean(axis=0)[nonzero] / std[nonzero])
        if ratio_sum > 0:
            total += np.log(ratio_sum)
    return float(total)
