"""SWAP: Peng et al., "SWAP-NAS: Sample-Wise Activation Patterns for Ultra-fast NAS" (ICLR
2024); reference code pym1024/SWAP, ``src/metrics/swap.py``.

- ``swap``: the reference hooks every ``nn.ReLU`` whose input is 4-D and concatenates their
  outputs per sample into A [B, N] (N = all ReLU output units of the network), takes
  sign(A) (1 where the unit is active, 0 where not) and counts the distinct rows of its
  transpose: the number of distinct sample-wise activation patterns (length-B binary codes)
  over the network's units. We read the ReLU inputs of ``engine.relu_inputs`` (every ReLU
  module; its output is positive exactly where its input is), pack each unit's B-sample code
  into uint32 words on the device and count the distinct codes on the host. A ReLU counted
  twice would only repeat codes, so sharing does not matter.
- ``swap_reg``: the reference's regularised SWAP (``cal_regular_factor``): swap times
  exp(-(theta - mu)^2 / sigma), theta the number of parameters in thousands (every parameter:
  conv and linear weights, linear bias, BN scale and bias). Neither the reference code (whose
  ``correlation.py`` runs unregularised SWAP on DARTS) nor the paper text we could read gives
  the mu and sigma of its NAS-Bench-201 tables; we use mu = 1500 (thousand parameters) and
  sigma = 1.5e6, i.e. mu = sigma = 1.5 with parameters in millions, the values a public NB201
  re-implementation (the Dextr authors' zero-cost-nas measure) uses. That bump is centred on
  NB201's largest networks (0.07M to 1.5M parameters on CIFAR-10), so it rises with size
  there. It is not meant for NDS: ImageNet NDS networks have a few million parameters, where
  it falls steeply with size; ``swap_regularised(mu, sigma)`` makes a variant for another space.

Deviations from the reference:
- Initialisation: the reference re-draws conv and linear weights from N(0, 1) (BN scale 1,
  bias 0) and averages 32 such draws; we read the shared ``Passes`` (its ``weight_init``, one
  draw per init; ``--num_inits`` averages several). Behind a BN the weight scale does not
  change any pattern; it does where a value is a sum with a BN-free branch (NB201's
  reduction shortcut conv).
- Inputs: the reference scores a batch of 16 CIFAR-10 training images with no augmentation
  (``--input_samples 16``); run ``--batch_size=16 --augment=false``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from zcjax import engine
from zcjax.proxies.passes import Passes

MU = 1500.0  # thousands of parameters
SIGMA = 1.5e6  # (thousands of parameters)^2


@jax.jit
def pattern_codes(x: jax.Array) -> jax.Array:
    """Each unit's binary activation pattern over the B samples of x [B, ...] (bit b of word
    b // 32 is ``x[b] > 0``): [N, ceil(B / 32)] uint32, N = units per sample."""
    b = x.shape[0]
    words = -(-b // 32)
    active = (x.reshape(b, -1) > 0).astype(jnp.uint32)
    active = jnp.pad(active, ((0, 32 * words - b), (0, 0))).reshape(words, 32, -1)
    shifts = jnp.arange(32, dtype=jnp.uint32)[None, :, None]
    return jnp.sum(active << shifts, axis=1, dtype=jnp.uint32).T  # distinct bits: sum = or


def _rows(codes: np.ndarray) -> np.ndarray:
    """[N, W] codes as N comparable scalars."""
    codes = np.ascontiguousarray(codes)
    if codes.shape[1] == 1:
        return codes[:, 0]
    return codes.view(np.dtype((np.void, codes.itemsize * codes.shape[1])))[:, 0]


def count_patterns(codes: list) -> int:
    """Number of distinct rows over the [N_i, W] code arrays of ``codes``."""
    if not codes:
        return 0
    per_layer = [np.unique(_rows(np.asarray(c))) for c in codes]
    return int(np.unique(np.concatenate(per_layer)).size)


def swap(passes: Passes) -> float:
    relus = engine.relu_inputs(passes.params, passes.plan, passes.values)
    return float(count_patterns([pattern_codes(x) for x in relus]))


def num_params(params) -> int:
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params))


def regular_factor(params: int, mu: float = MU, sigma: float = SIGMA) -> float:
    """exp(-(params / 1000 - mu)^2 / sigma), as the reference's ``cal_regular_factor``."""
    return math.exp(-((params / 1e3 - mu) ** 2) / sigma)


def swap_regularised(mu: float = MU, sigma: float = SIGMA):
    """The regularised SWAP proxy with the given mu and sigma (thousands of parameters)."""

    def swap_reg(passes: Passes) -> float:
        return swap(passes) * regular_factor(num_params(passes.params), mu, sigma)

    return swap_reg


swap_reg = swap_regularised()
