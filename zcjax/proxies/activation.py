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
def _code_products(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(c c^T [B, B], r [B]) of the binary codes c = (x > 0) of x [B, ...], r their row sums;
    exact in float32 below 2^24 units per sample."""
    c = (x.reshape(x.shape[0], -1) > 0).astype(jnp.float32)
    return c @ c.T, jnp.sum(c, axis=1)


def code_counts(inputs: list[jax.Array]) -> np.ndarray:
    """NASWOT's K [B, B] (float64): over the ReLU inputs, #units where both codes are 1 plus
    #units where both are 0; an array listed k times counts k times.

    Codes both 1 plus codes both 0 is c c^T + (1 - c)(1 - c)^T = 2 c c^T - r_i - r_j + D with
    r the codes' row sums and D their length: one matrix product instead of two. The sum over
    ReLUs is taken in float64 on the host, exact where float32 would round (past 2^24: 224 px
    inputs, hundreds of ReLUs)."""
    counts: dict[int, list] = {}  # a node feeding k units is one array read k times
    for x in inputs:
        counts.setdefault(id(x), [x, 0])[1] += 1
    # Every product is dispatched before one transfer: no device sync per ReLU.
    products = jax.device_get([_code_products(x) for x, _ in counts.values()])
    k = np.zeros((inputs[0].shape[0],) * 2)
    for (x, count), (cc, r) in zip(counts.values(), products):
        cc, r = np.asarray(cc, np.float64), np.asarray(r, np.float64)
        k += count * (2.0 * cc - r[:, None] - r[None, :] + np.prod(x.shape[1:]))
    return k


def naswot(passes: Passes) -> float:
    k = code_counts(engine.relu_inputs(passes.params, passes.plan, passes.values))
    sign, logdet = np.linalg.slogdet(k)
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
