"""Proxies read off activations and input gradients: NASWOT and jacob_cov.

- ``naswot``: Mellor et al., "Neural Architecture Search without Training" (ICML 2021), the
  published (v2) score: with c_l(n) the binary code (ReLU input > 0) of sample n at ReLU l,
  K[n, m] = sum_l (#units where both codes are 1 + #units where both are 0), score =
  log|det K|. Every ReLU counts: one per ReLU-Conv-BN unit (a node feeding k convs counts k
  times, as in the reference; ResNet units sharing a block's ReLU count it once) and the head's
  ReLU where it has one.
- ``jacob_cov``: the v1 NASWOT score as zero-cost-nas computes it: J = d(sum of logits)/dx for
  the batch (BN in batch-statistics mode, so rows are not strictly per-sample), Sigma =
  corrcoef of J's rows, score = -sum_i (log(lambda_i + 1e-5) + 1 / (lambda_i + 1e-5)).
  NaN when Sigma is undefined (a constant row), as the reference's exception handler gives.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from zcjax import engine
from zcjax.proxies.passes import Passes


@jax.jit
def _code_kernel(x: jax.Array) -> jax.Array:
    """Hamming-similarity counts of the binary codes of x [B, ...]: [B, B] (exact in float32).

    Codes both 1 plus codes both 0 is c c^T + (1 - c)(1 - c)^T = 2 c c^T - r_i - r_j + D with
    r the codes' row sums and D their length: one matrix product instead of two."""
    c = (x.reshape(x.shape[0], -1) > 0).astype(jnp.float32)
    r = jnp.sum(c, axis=1)
    return 2.0 * (c @ c.T) - r[:, None] - r[None, :] + c.shape[1]


def naswot(passes: Passes) -> float:
    k = None
    inputs = engine.relu_inputs(passes.params, passes.plan, passes.values)
    counts: dict[int, list] = {}  # a node feeding k units is one array read k times
    for x in inputs:
        counts.setdefault(id(x), [x, 0])[1] += 1
    for x, count in counts.values():
        contribution = _code_kernel(x) * count
        k = contribution if k is None else k + contribution
    sign, logdet = np.linalg.slogdet(np.asarray(k, np.float64))
    return float(logdet) if sign != 0 else float("-inf")


def jacob_cov(passes: Passes) -> float:
    j = np.asarray(passes.input_grad, np.float64).reshape(passes.x.shape[0], -1)
    return jacobian_score(j)


def jacobian_score(j: np.ndarray, k: float = 1e-5) -> float:
    """-sum(log(lambda + k) + 1 / (lambda + k)) over the eigenvalues of corrcoef(j) ([B, D])."""
    with np.errstate(all="ignore"):
        corr = np.corrcoef(j)
        if not np.all(np.isfinite(corr)):
            return float("nan")
        eig = np.linalg.eigvalsh(corr)
        score = -np.sum(np.log(eig + k) + 1.0 / (eig + k))
    return float(score) if np.isfinite(score) else float("nan")
