"""The op table: EZNAS's 33 program primitives, with their semantics, in ``PRIMITIVES``
(followed by the opt-in network language's ops, ``netops``; ``UNIT_PRIMITIVES`` are EZNAS's).

Akhauri et al., "EZNAS: Evolving Zero-Cost Proxies for Neural Architecture Scoring"
(NeurIPS 2022); reference code: IntelLabs/Hardware-Aware-Automated-Machine-Learning,
``EZNAS/gp_func_defs.py`` (OP0..OP34). Inputs are in PyTorch layout (see ``kinds``), so
"last two dims" and "dim 1" mean what they meant there. Deviations from the reference:

- ``log`` and ``abslog`` mutated their input in place (``A[A <= 0] = 1``); here they are pure,
  so a program that reads the same terminal twice sees the original values both times.
- ``sym_eig_ratio`` used ``torch.symeig`` and ``eig_ratio`` ``torch.eig``, both removed from
  PyTorch. Both eigen-decompose a symmetric Gram matrix, so both use ``eigvalsh`` (ascending
  eigenvalues): ``eig_ratio`` was ``re(last) / re(first)`` in LAPACK's unspecified order, here it
  is largest / smallest, which makes it equal to ``sym_eig_ratio`` (whose matrix is doubled).
- ``heaviside`` and ``hamming`` passed a CPU tensor as ``values`` and fail on GPU inputs there;
  here they always work (``heaviside(x) = 1[x > 0]``).
- ``cosine_similarity`` flattened its second input with ``B.flatten(bs, -1)`` (a bug that only
  worked at batch 1); here both inputs are reshaped to [bs, -1] as intended.
- ``numel`` returned a 1-element tensor; here a scalar.
- An exception in the reference made the layer's value -100 (skipped when averaging); here
  inputs whose sizes do not fit are detected before running and the layer is skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from zcjax.program import netops
from zcjax.program.kinds import KINDS, MATRIX_OF, S

Signature = tuple[tuple[str, ...], str]  # (argument kinds, result kind)


@dataclasses.dataclass(frozen=True)
class Primitive:
    """A program op: ``fn`` takes ``arity`` arrays; ``signatures`` list the kinds it accepts."""

    name: str
    fn: Callable[..., jax.Array]
    signatures: tuple[Signature, ...]
    doc: str

    @property
    def arity(self) -> int:
        return len(self.signatures[0][0])

    def result_kind(self, arg_kinds: tuple[str, ...]) -> str | None:
        for args, result in self.signatures:
            if args == arg_kinds:
                return result
        return None


def _same_kind_unary():
    return tuple(((k,), k) for k in KINDS)


def _to_scalar_unary():
    return tuple(((k,), S) for k in KINDS)


def _elementwise_binary():
    """(K, K) -> K, and a scalar with anything (broadcasting)."""
    sigs = [((k, k), k) for k in KINDS]
    sigs += [((k, S), k) for k in KINDS if k != S] + [((S, k), k) for k in KINDS if k != S]
    return tuple(sigs)


def _to_scalar_binary():
    return tuple(((k, k), S) for k in KINDS)


# ----------------------------------------------------------------------------- semantics


def _matmul(a, b):
    a = a[None] if a.ndim == 0 else a
    b = b[None] if b.ndim == 0 else b
    return jnp.matmul(a, b)


def _log(a):
    return jnp.log(jnp.where(a <= 0, 1.0, a))


def _abslog(a):
    # As the reference: only zeros are replaced, so negative entries give NaN.
    return jnp.abs(jnp.log(jnp.where(a == 0, 1.0, a)))


def _normalize(a):
    n = a.size
    mean = jnp.mean(a)
    std = jnp.sqrt(jnp.sum(jnp.square(a - mean)) / (n - 1)) if n > 1 else jnp.nan
    z = (a - mean) / std
    return jnp.where(jnp.isnan(z), 0.0, z)


def _logdet(a):
    sign, logabs = jnp.linalg.slogdet(a)
    # torch.logdet: log(det) if det > 0, NaN if det < 0 (mapped to 0 by EZNAS), -inf if det == 0.
    return jnp.where(sign > 0, logabs, jnp.where(sign < 0, 0.0, -jnp.inf))


def _gram_rows(a):
    m = a.reshape(a.shape[0], -1)
    return m @ m.T


def _sym_eig_ratio(a):
    if a.ndim == 0:
        return jnp.zeros(())
    g = _gram_rows(a)
    e = jnp.linalg.eigvalsh(g + g.T)
    return e[-1] / e[0]


def _eig_ratio(a):
    if a.ndim == 0:
        return jnp.zeros(())
    e = jnp.linalg.eigvalsh(_gram_rows(a))
    return e[-1] / e[0]


def _hamming(a, b):
    return jnp.sum((a.ravel() > 0) != (b.ravel() > 0)).astype(jnp.float32)


def _kl_div(a, b):
    # torch KLDivLoss(reduction="batchmean")(input=a, target=b).
    pointwise = jax.scipy.special.xlogy(b, b) - b * a
    total = jnp.sum(jnp.broadcast_to(pointwise, jnp.broadcast_shapes(a.shape, b.shape)))
    return total / a.shape[0] if a.ndim > 0 else total


def _cosine_similarity(a, b):
    if a.ndim == 0:
        return jnp.zeros(())
    bs = a.shape[0]
    a, b = a.reshape(bs, -1), b.reshape(bs, -1)
    eps = 1e-8
    na = jnp.maximum(jnp.linalg.norm(a, axis=1), eps)
    nb = jnp.maximum(jnp.linalg.norm(b, axis=1), eps)
    return jnp.sum(jnp.sum(a * b, axis=1) / (na * nb))


def _softmax(a):
    # torch's implicit dim: 0 for 0-, 1- and 3-D inputs, else 1 (channels of [B, C, H, W]).
    if a.ndim == 0:
        return jnp.ones_like(a)
    return jax.nn.softmax(a, axis=0 if a.ndim in (1, 3) else 1)


def _prim(name, fn, signatures, doc):
    return Primitive(name, fn, signatures, doc)


_MATRIX = tuple(((k,), m) for k, m in MATRIX_OF.items())

UNIT_PRIMITIVES: dict[str, Primitive] = {
    p.name: p
    for p in [
        _prim("add", jnp.add, _elementwise_binary(), "a + b (OP0)"),
        _prim("mul", jnp.multiply, _elementwise_binary(), "a * b (OP1)"),
        _prim(
            "matmul",
            _matmul,
            tuple(((k, k), k) for k in ("A", "W", "S")),
            "a @ b over the last two dims, batched over the rest (OP2)",
        ),
        _prim(
            "lt", lambda a, b: (a < b).astype(jnp.float32), _elementwise_binary(), "1[a < b] (OP3)"
        ),
        _prim(
            "gt", lambda a, b: (a > b).astype(jnp.float32), _elementwise_binary(), "1[a > b] (OP4)"
        ),
        _prim(
            "eq",
            lambda a, b: (a == b).astype(jnp.float32),
            _elementwise_binary(),
            "1[a == b] (OP5)",
        ),
        _prim("log", _log, _same_kind_unary(), "log(a), entries <= 0 replaced by 1 first (OP7)"),
        _prim(
            "abslog",
            _abslog,
            _same_kind_unary(),
            "|log(a)|, zeros replaced by 1; NaN where a < 0 (OP8)",
        ),
        _prim("abs", jnp.abs, _same_kind_unary(), "|a| (OP9)"),
        _prim("square", jnp.square, _same_kind_unary(), "a ** 2 (OP10)"),
        _prim("exp", jnp.exp, _same_kind_unary(), "exp(a) (OP11)"),
        _prim(
            "normalize",
            _normalize,
            _same_kind_unary(),
            "(a - mean) / std over all entries (unbiased std), NaN -> 0 (OP12)",
        ),
        _prim("relu", jax.nn.relu, _same_kind_unary(), "max(a, 0) (OP13)"),
        _prim("sign", jnp.sign, _same_kind_unary(), "sign(a), sign(0) = 0 (OP14)"),
        _prim(
            "heaviside",
            lambda a: (a > 0).astype(jnp.float32),
            _same_kind_unary(),
            "1[a > 0] (OP15)",
        ),
        _prim("invert", lambda a: 1.0 / a, _same_kind_unary(), "1 / a, no epsilon (OP16)"),
        _prim(
            "frobenius_norm",
            lambda a: jnp.sqrt(jnp.sum(jnp.square(a))),
            _to_scalar_unary(),
            "sqrt(sum a^2) over all entries (OP18)",
        ),
        _prim(
            "det",
            jnp.linalg.det,
            _MATRIX,
            "determinant of each matrix over the last two dims (OP19)",
        ),
        _prim(
            "logdet", _logdet, _MATRIX, "log det per matrix; det < 0 -> 0, det == 0 -> -inf (OP20)"
        ),
        _prim(
            "sym_eig_ratio",
            _sym_eig_ratio,
            _to_scalar_unary(),
            "lambda_max / lambda_min of G + G^T, G = M M^T, M = a.reshape(a.shape[0], -1) (OP21)",
        ),
        _prim(
            "eig_ratio",
            _eig_ratio,
            _to_scalar_unary(),
            "lambda_max / lambda_min of M M^T, M as in sym_eig_ratio (OP22)",
        ),
        _prim("mean", jnp.mean, _to_scalar_unary(), "mean of all entries (OP23)"),
        _prim("mean_abs", lambda a: jnp.mean(jnp.abs(a)), _to_scalar_unary(), "mean of |a| (OP24)"),
        _prim(
            "hamming",
            _hamming,
            _to_scalar_binary(),
            "number of positions where 1[a > 0] != 1[b > 0] (OP25)",
        ),
        _prim(
            "kl_div",
            _kl_div,
            _to_scalar_binary(),
            "sum(b log b - b a) / a.shape[0], torch KLDivLoss batchmean (OP26)",
        ),
        _prim(
            "cosine_similarity",
            _cosine_similarity,
            _to_scalar_binary(),
            "sum over rows of cos(a_i, b_i), rows = reshape(shape[0], -1) (OP27)",
        ),
        _prim(
            "softmax",
            _softmax,
            _same_kind_unary(),
            "softmax over dim 1 (dim 0 for 1-D/3-D), torch's implicit dim (OP28)",
        ),
        _prim("sigmoid", jax.nn.sigmoid, _same_kind_unary(), "1 / (1 + exp(-a)) (OP29)"),
        _prim("ones_like", jnp.ones_like, _same_kind_unary(), "ones shaped like a (OP30)"),
        _prim("zeros_like", jnp.zeros_like, _same_kind_unary(), "zeros shaped like a (OP31)"),
        _prim("gt0", lambda a: (a > 0).astype(jnp.float32), _same_kind_unary(), "1[a > 0] (OP32)"),
        _prim("lt0", lambda a: (a < 0).astype(jnp.float32), _same_kind_unary(), "1[a < 0] (OP33)"),
        _prim(
            "numel",
            lambda a: jnp.asarray(a.size, jnp.float32),
            _to_scalar_unary(),
            "number of entries (OP34)",
        ),
    ]
}
# The network language after EZNAS's ops, so random programs of unit kinds draw as before.
PRIMITIVES: dict[str, Primitive] = {
    **UNIT_PRIMITIVES,
    **{name: _prim(name, fn, sigs, doc) for name, fn, sigs, doc in netops.specs()},
}
