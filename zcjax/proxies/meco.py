"""MeCo: Jiang et al., "MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum
Eigenvalue of Correlation" (NeurIPS 2023); reference code HamsterMimi/MeCo,
``correlation/NAS_Bench_201.py`` (``get_score``, ``measure='meco'``), which gives the paper's
NAS-Bench-201 (NATS-Bench-TSS) correlations, e.g. Spearman 0.89 on CIFAR-10.

The reference hooks the forward pass of every module; for a module output O [B, C, H, W] it
takes the first sample, F = O[0] reshaped to [C, H * W], the channels' Pearson correlation
matrix P = corrcoef(F) [C, C] (over the H * W positions), sets its NaN/inf entries to 0 (a
constant channel has NaN correlations, its whole row and column become 0), and takes the
smallest real eigenvalue of P. The score is the sum over modules (NaN/inf terms dropped).
Outputs with one position per sample (global pooling, the linear layer) have a NaN-only P, so
they contribute 0. This is the plain ``meco`` variant, the one of the paper's NAS-Bench-201
table; ``meco_opt`` (8 random channels, eigenvalue times C / 8) is not implemented.

Which feature maps: every layer module of the network, once each:
- each ReLU module's output, from ``engine.relu_inputs`` (a ReLU shared by several ops once);
- each conv's output and each BN's output. At initialisation BN is a per-channel affine map
  with nonzero scale, which changes P at most by the signs of rows and columns (D P D with D
  diagonal of +-1), so a unit's or Conv op's conv output has the same eigenvalues as its BN
  output, the plan's value: that value counts twice with BN, once without;
- each pooling op's output, and the head's BN output (before its ReLU).

Deviations from the reference:
- Containers are not counted. The reference also hooks wrappers (ReLUConvBN, nn.Sequential,
  cells, stages, ResNet blocks), repeating a layer's output or adding a cell's sum: NB201's
  zero-cost-nas network counts a conv edge's BN output 4 times, skip edges' inputs and cell
  outputs. Weighting our terms as that module tree does gave the same Spearman rho on 300
  NB201 archs as the per-layer rule (0.860 vs 0.860, batch 1, CIFAR-10 images, PyTorch init),
  and the per-layer rule is defined on any plan.
- NDS: the outputs of a unit's pre-convs (depthwise and 1xk convs of separable, dilated and
  factorised convs) are not plan values and are skipped; a FactorizedReduce's two half convs
  count as the BN output of their concatenation.
- BN normalises with batch statistics, as the reference's networks in train mode do. The
  paper's setting is one image (``batch_size=1``); with B > 1 the BN statistics span the batch
  and, as the reference's hook would, we read sample 0.
- Inputs and initialisation come from the shared ``Passes``. The reference's NB201 script
  feeds one CIFAR training image (random crop and flip) to a PyTorch-default-initialised
  network; its zero-cost-nas measure (used for its searches) feeds one N(0, 1) noise image
  (``torch.randn(1, 3, 64, 64)``), which is why the paper calls MeCo data-independent. Run
  ``--batch_size=1 --weight_init=pytorch`` (``--inputs=noise`` for the noise variant).
- P is computed on the device in float32, as the reference does (with the covariance product
  at full float32 precision); its eigenvalues on the host, in float64, with ``eigvalsh`` of the
  symmetric P (the reference calls the general ``eig``): no eigensolver is compiled per shape.
  A channel is constant (NaN in P) when its values are identical, as in exact arithmetic;
  float32 centring can leave rounding noise there, which the reference then correlates.
  With H * W <= C positions P is singular and its smallest eigenvalue is taken as 0 exactly,
  where the reference gets 0 up to float32 rounding (NB201's last stage: 64 channels, 8x8).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from zcjax import engine, netplan
from zcjax.proxies.passes import Passes

# Layers whose outputs equal (up to P's eigenvalues) an op's output: op type -> how many.
_OUTPUT_LAYERS = {
    netplan.Unit: lambda op: 2 if op.bn else 1,  # conv (+ BN)
    netplan.Conv: lambda op: 2 if op.bn_path is not None else 1,  # conv (+ BN)
    netplan.Pool: lambda op: 1,
}


@functools.partial(jax.jit, static_argnames="relu")
def channel_corr(x: jax.Array, relu: bool = False) -> jax.Array:
    """Pearson correlation of the channels of sample 0 of x [B, H, W, C] (of ReLU(x) with
    ``relu``) over its H * W positions, clipped to [-1, 1] as ``torch.corrcoef``: [C, C]
    float32, NaN in the rows and columns of constant channels (all values identical)."""
    x = jnp.maximum(x, 0) if relu else x
    f = x[0].reshape(-1, x.shape[-1]).T.astype(jnp.float32)  # [C, H * W]
    constant = jnp.max(f, axis=1) == jnp.min(f, axis=1)
    f = f - jnp.mean(f, axis=1, keepdims=True)
    cov = jnp.dot(f, f.T, precision=jax.lax.Precision.HIGHEST)
    std = jnp.where(constant, jnp.nan, jnp.sqrt(jnp.diag(cov)))
    return jnp.clip(cov / (std[:, None] * std[None, :]), -1.0, 1.0)


def min_eig(corr: np.ndarray) -> float:
    """Smallest eigenvalue of a correlation matrix whose NaN/inf entries are set to 0, as the
    reference does (a constant channel's row and column, diagonal included, become 0)."""
    corr = np.where(np.isfinite(corr), corr, 0.0).astype(np.float64)
    return float(scipy.linalg.eigh(corr, eigvals_only=True, subset_by_index=(0, 0))[0])


def _singular(x: jax.Array) -> bool:
    """Whether x [B, H, W, C] has H * W <= C positions: then its correlation matrix has rank
    below C and its smallest eigenvalue is 0 (PSD), where the reference gets 0 up to rounding."""
    _, h, w, c = x.shape
    return h * w <= c


def min_eig_of(x: jax.Array, relu: bool = False) -> float:
    """MeCo's term for a value x [B, H, W, C]: the smallest eigenvalue of ``channel_corr``."""
    return 0.0 if _singular(x) else min_eig(np.asarray(channel_corr(x, relu=relu)))


def feature_maps(passes: Passes) -> list[tuple[jax.Array, bool, int]]:
    """MeCo's terms: (value [B, H, W, C], whether its ReLU is meant, multiplicity)."""
    plan, params, values = passes.plan, passes.params, passes.values
    terms = []
    for op in plan.ops:
        count = _OUTPUT_LAYERS.get(type(op), lambda op: 0)(op)
        if count:
            terms.append((values[op.dst], False, count))
        if isinstance(op, netplan.Head) and op.bn_path is not None:
            p = engine.rule_of(op).take(op, params)
            terms.append((engine.KERNELS[False]["head_pre"](p, values[op.src]), False, 1))
    terms += [(x, True, 1) for x in engine.relu_inputs(params, plan, values)]
    return terms


def meco(passes: Passes) -> float:
    terms = [t for t in feature_maps(passes) if not _singular(t[0])]
    corrs = jax.device_get([channel_corr(x, relu=relu) for x, relu, _ in terms])  # one transfer
    weighted = np.array([n * min_eig(c) for (_, _, n), c in zip(terms, corrs)], np.float64)
    return float(np.sum(weighted[np.isfinite(weighted)]))
