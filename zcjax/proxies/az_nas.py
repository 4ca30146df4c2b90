"""AZ-NAS's components: expressivity, progressivity, trainability (and complexity = FLOPs).

Lee & Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search" (CVPR 2024);
official code github.com/cvlab-yonsei/AZ-NAS, ``NB201/ZeroShotProxy/compute_az_nas_score.py``
run by ``NB201/tss_general.ipynb`` on ``NB201/custom/tss_model.py``'s ``extract_cell_features``.

Features F_0..F_L are the block outputs the plan marks (``netplan.Plan.blocks``): on NB201 the
stem's conv+BN output, then each of the 17 cells' outputs (15 searched cells and the two
ResNet reduction blocks), exactly the official ``extract_cell_features``. Each F_l
[B, H, W, C] is read as N = B*H*W samples of C channels.

- ``expressivity``: per block, Sigma = centred covariance of the N samples (divided by N),
  lambda its eigenvalues, p = lambda / sum(lambda), s_l = -sum p log(p + 1e-8); the score is
  sum_l s_l (``block_entropies`` gives the s_l).
- ``progressivity``: min_l (s_l - s_{l-1}).
- ``trainability``: for l = L..1, g_out a Rademacher (+-1) tensor shaped like F_l and g_in the
  vector-Jacobian product of F_l w.r.t. F_{l-1} (through the block, BN with batch statistics);
  -inf if g_in equals g_out (an identity block); else, where the block halves the resolution,
  g_in is pixel-unshuffled by r = H_in // H_out to [B, H_out, W_out, C_in r^2], M = g_in^T g_out
  / N over the N = B H_out W_out positions, sigma its largest singular value and
  s_l = -sigma - 1 / (sigma + 1e-6) + 2; the score is the mean of the s_l.
- complexity is FLOPs: ``az_complexity`` in ``PROXIES`` is the ``flops`` cost proxy (the
  reference takes FLOPs from the NB201 API).

A NaN score becomes -inf, as the reference does. The reference's settings are random inputs
(``torch.randn``), batch 64 (``configs/nas-benchmark/algos/weight-sharing.config``),
``kaiming_norm_fanin`` init (conv and linear kernels kaiming-normal fan-in, biases 0, BN 1/0)
and BN in train mode: ``--inputs=noise --batch_size=64 --weight_init=kaiming_fan_in``. The
ensemble ``az_nas`` (sum of log-ranks over the scored set) is not computed here.

Cost: the covariances are host numpy; trainability is one backward pass taken block by block
(``engine.run.backward_between``; on NB201 at batch 64 about 0.6 s, like a cross-entropy
backward pass).

Deviations:
- Eigenvalues and singular values are computed in float64 on the host (the reference: float32
  on the GPU); eigenvalues are clipped at 0, so the rounding-negative eigenvalues of a
  rank-deficient Sigma (N < C, e.g. tiny inputs) count as p = 0 instead of giving log of a
  negative number, NaN and -inf; when N < C the spectrum is taken from the N x N Gram matrix
  (the same non-zero eigenvalues).
- The Rademacher signs come from a fixed-seed numpy generator (the same signs for every
  architecture and initialisation: common random numbers) instead of torch's global RNG.
- Where H_in is not a multiple of H_out (never on NB201 or NDS at resolution 32) g_in is padded
  with zeros to r * H_out, r = ceil(H_in / H_out); the reference would fail.
- NDS spaces have no reference: the features are the stem output(s) and each cell's output
  (cell spaces) or each block's output (AnyNet: our plans hold a block's output before its
  final ReLU, which the next block's units apply, so these features are pycls's block outputs
  before that ReLU).
- A plan that marks no blocks falls back to the values that are alone live at some point of the
  plan (for NB201 that adds intra-cell chain nodes, which is why the spaces mark blocks).
"""

from __future__ import annotations

import numpy as np

from zcjax import netplan
from zcjax.engine import rule_of
from zcjax.engine.run import backward_between

RADEMACHER_SEED = 0


def block_values(plan: netplan.Plan) -> tuple[int, ...]:
    """The block outputs F_0..F_L of ``plan`` (see the module docstring for plans without)."""
    if plan.blocks:
        return plan.blocks
    last_use = {}
    for i, op in enumerate(plan.ops):
        for v in rule_of(op).inputs(op):
            last_use[v] = i
    live, found = {0}, []
    for i, op in enumerate(plan.ops):
        live = {v for v in live if last_use.get(v, -1) > i}
        if last_use.get(op.dst, -1) > i:
            live.add(op.dst)
        if len(live) == 1 and op.dst in live and (not found or found[-1] != op.dst):
            found.append(op.dst)
    return tuple(found)


def block_entropies(passes) -> np.ndarray:
    """s_l, the eigenvalue entropy of each block output's channel covariance (float64)."""
    return np.array([feature_entropy(passes.values[v]) for v in block_values(passes.plan)])


def feature_entropy(feature) -> float:
    """-sum p log(p + 1e-8) of the normalised eigenvalues of the channel covariance of
    ``feature`` [B, H, W, C] over its B*H*W positions; NaN for a constant feature."""
    x = np.asarray(feature, np.float64)
    x = x.reshape(-1, x.shape[-1])
    x = x - x.mean(axis=0, keepdims=True)
    n, c = x.shape
    gram = (x.T @ x if c <= n else x @ x.T) / n
    eig = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = eig / eig.sum()
        return float(-np.sum(p * np.log(p + 1e-8)))


def _finite_or_ninf(x: float) -> float:
    return float("-inf") if np.isnan(x) else float(x)


def expressivity(passes) -> float:
    return _finite_or_ninf(np.sum(passes.block_entropies))


def progressivity(passes) -> float:
    s = passes.block_entropies
    if len(s) < 2:
        return float("nan")
    return _finite_or_ninf(np.min(s[1:] - s[:-1]))


def trainability(passes) -> float:
    plan, values, params = passes.plan, passes.values, passes.params
    blocks = block_values(plan)
    rng = np.random.default_rng(RADEMACHER_SEED)
    scores = []
    for out, inp in zip(blocks[:0:-1], blocks[-2::-1]):
        f_out, f_in = values[out], values[inp]
        g_out = (2.0 * rng.integers(0, 2, f_out.shape) - 1.0).astype(np.float32)
        g_in = backward_between(params, plan, values, inp, out, g_out)
        g_in = np.zeros(f_in.shape, np.float32) if g_in is None else np.asarray(g_in)
        if g_in.shape == g_out.shape and np.array_equal(g_in, g_out):
            scores.append(float("-inf"))
            continue
        scores.append(block_trainability(g_in, g_out))
    if not scores:
        return float("nan")
    return _finite_or_ninf(np.mean(scores))


def block_trainability(g_in: np.ndarray, g_out: np.ndarray) -> float:
    """-sigma - 1 / (sigma + 1e-6) + 2, sigma the largest singular value of g_in^T g_out / N
    (g_in pixel-unshuffled to g_out's resolution first); [B, H, W, C] arrays."""
    b, ho, wo, co = g_out.shape
    if g_in.shape[1:3] != (ho, wo):
        g_in = pixel_unshuffle(g_in, ho, wo)
    mat = g_in.reshape(-1, g_in.shape[-1]).astype(np.float64).T @ g_out.reshape(-1, co)
    sigma = np.linalg.norm(mat / (b * ho * wo), 2)
    return float(-sigma - 1.0 / (sigma + 1e-6) + 2.0)


def pixel_unshuffle(g: np.ndarray, ho: int, wo: int) -> np.ndarray:
    """[B, H, W, C] -> [B, ho, wo, C r r] with torch's ``PixelUnshuffle`` channel order
    (c r r + i r + j), r = ceil(H / ho); zero-padded where H is not r * ho."""
    b, h, w, c = g.shape
    r = -(-h // ho)
    if (h, w) != (r * ho, r * wo):
        padded = np.zeros((b, r * ho, r * wo, c), g.dtype)
        padded[:, : min(h, r * ho), : min(w, r * wo)] = g[:, : r * ho, : r * wo]
        g = padded
    g = g.reshape(b, ho, r, wo, r, c).transpose(0, 1, 3, 5, 2, 4)
    return g.reshape(b, ho, wo, c * r * r)
