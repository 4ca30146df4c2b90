"""EZNAS's unit primitives in NumPy, over a leading stack axis: the GP's CPU executor.

``primitives.PRIMITIVES[name].fn`` is written for one unit; the GP's evaluator runs it over a
stack of R units of equal shapes with ``jax.jit(jax.vmap(fn))``, one compiled kernel per
(primitive, input shapes). On spaces whose widths vary per architecture (the NDS records) nearly
every new architecture brings new shapes, and lowering those kernels dominated a search on a
2-core CPU: 40 random programs on 6 NDS-DARTS records lowered 3,565 kernels, 0.1-0.2 s each.
NumPy compiles nothing, so on the CPU backend (where JAX arrays already live on the host) the
evaluator runs these instead (``gp.evaluate.default_executor``). The one exception is the
determinant (``det``, ``logdet``), which must round as JAX does (see ``_matrix_primitive``): it
runs the JAX primitive itself on matrices flattened to [M, n, n], a few kernels per size n.

Each function here takes arrays of shape [R, *unit_shape] (a unit scalar is [R]) and returns
what ``jax.vmap(PRIMITIVES[name].fn)`` returns, float32, to float32 rounding: the same maths,
only the order of floating-point operations (sums, LAPACK vs XLA's eigen-solver) may differ.
``tests/program/test_host_primitives.py`` checks every primitive against its JAX kernel on every
signature.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import jax
import numpy as np
import scipy.special

from zcjax.program.primitives import PRIMITIVES

F32 = np.float32


def _align(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit broadcasting under a shared leading axis: the lower-rank operand gets unit
    axes inserted after the stack axis (NumPy would align them with the stack axis)."""
    ra, rb = a.ndim, b.ndim
    if ra < rb:
        a = a.reshape(a.shape[:1] + (1,) * (rb - ra) + a.shape[1:])
    elif rb < ra:
        b = b.reshape(b.shape[:1] + (1,) * (ra - rb) + b.shape[1:])
    return a, b


def _rows(a: np.ndarray) -> np.ndarray:
    """[R, ...] -> [R, M]: each unit's entries as one row."""
    return a.reshape(a.shape[0], -1)


def _binary(fn):
    def op(a, b):
        return fn(*_align(a, b))

    return op


def _indicator(fn):
    return lambda *args: fn(*args).astype(F32)


def _matmul(a, b):
    if a.ndim != b.ndim:  # the language's signatures pair equal kinds only
        raise ValueError(f"matmul of unit ranks {a.ndim - 1} and {b.ndim - 1}")
    if a.ndim == 1:  # unit scalars: a[None] @ b[None] is a * b
        return a * b
    return np.matmul(a, b)


# The selects below are arithmetic, not np.where: a select on a mask of random signs costs
# ~5 ns an element here (branch misses), the arithmetic ~1. Same values, NaN and inf included.
_TINY = np.finfo(np.float32).smallest_subnormal


def _log(a):
    """log(a) where a > 0, else 0 (EZNAS's guard): log(max(a, tiny)) * 1[a > 0] + 0, where
    the + 0 turns log(tiny) * 0 = -0.0 into 0.0, and NaN stays NaN."""
    return np.log(np.maximum(a, F32(_TINY))) * (a > 0) + F32(0)


def _abslog(a):
    """|log(a)|, with a = 0 read as 1 (NaN for a < 0, as log's): a + 1[a == 0] is a exactly
    elsewhere."""
    return np.abs(np.log(a + (a == 0)))


def _normalize(a):
    x = _rows(a)
    n = x.shape[1]
    mean = np.mean(x, axis=1, keepdims=True)
    if n > 1:
        std = np.sqrt(np.sum(np.square(x - mean), axis=1, keepdims=True) / F32(n - 1))
    else:
        std = np.full_like(mean, np.nan)
    z = (x - mean) / std
    return np.where(np.isnan(z), F32(0), z).reshape(a.shape)


@functools.cache
def _per_matrix(name: str):
    """The JAX primitive ``name`` (a function of matrices over the last two dims), jitted."""
    return jax.jit(PRIMITIVES[name].fn)


@functools.cache
def _key_weights(size: int) -> np.ndarray:
    """[size] float32 in [0.5, 1.5): fixed, unequal weights (golden-ratio steps) of the
    projection that keys ``distinct_rows``; nothing random."""
    return (np.arange(size) * 0.6180339887498949 % 1.0 + 0.5).astype(F32)


def distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows equal bit for bit, found in one pass: (first [U], inverse [M]) with
    ``rows[first][inverse]`` equal to ``rows`` bit for bit.

    Rows are keyed by a fixed projection, grouped by key, and each row is checked against its
    group's first row (bits, so -0.0 and NaN payloads count); rows whose key collides with an
    unequal row's are grouped by their bytes. ``np.unique`` on the bytes of every row gives the
    same groups but sorts 4 KB keys, slower than the determinants it saves.
    """
    m = rows.shape[0]
    flat = rows.reshape(m, -1)
    with np.errstate(all="ignore"):
        key = flat @ _key_weights(flat.shape[1])
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True, equal_nan=True)
    inverse = inverse.reshape(-1)
    bits = flat.view(np.uint32 if flat.dtype.itemsize == 4 else np.uint8)
    step = max(1, (1 << 18) // max(bits.shape[1], 1))  # rows compared a block at a time
    same = np.concatenate(
        [
            (bits[i : i + step] == bits[first[inverse[i : i + step]]]).all(axis=1)
            for i in range(0, m, step)
        ]
    )
    if not same.all():  # key collisions (or -0.0 against 0.0): group those rows by bytes
        extra = np.flatnonzero(~same)
        raw = np.ascontiguousarray(bits[extra])
        raw = raw.view(np.dtype((np.void, raw.shape[1] * raw.itemsize))).reshape(-1)
        _, first_extra, inverse_extra = np.unique(raw, return_index=True, return_inverse=True)
        inverse[extra] = len(first) + inverse_extra.reshape(-1)
        first = np.concatenate([first, extra[first_extra]])
    return first, inverse


# Determinant kernels take M matrices for M in these sizes only: a large count runs as blocks
# of the largest sizes that fit, the rest padded with identities to the smallest. At most four
# kernels per (primitive, n), whatever the architectures and programs: nothing compiles for a
# new program once its matrix sizes were seen, and padding wastes under 64 matrices a call.
_BLOCKS = (262144, 16384, 1024, 64)
# Smallest n whose n x n determinants are de-duplicated first: below it hashing costs more
# than the LU (NDS-DARTS's 160M 1x1 and 2x2 matrices a population: 14 s to de-duplicate).
_MIN_DISTINCT_SIZE = 8


def _block_sizes(m: int) -> list[int]:
    """``_BLOCKS`` sizes, largest first, whose sum is ``m`` rounded up to a multiple of 64."""
    sizes = []
    for b in _BLOCKS:
        sizes += [b] * (m // b)
        m -= b * (m // b)
    return sizes + [_BLOCKS[-1]] * (m > 0)


# One thread at a time runs the determinant kernels: programs run on several threads
# (``gp.evaluate``), and jaxlib 0.10's batched LU splits a batch of 64 or more matrices over
# XLA's CPU thread pool; two threads each running one deadlocked (reproduced with plain
# ``jax.jit(jnp.linalg.det)``; tested). LU calls of 32 matrices inside a ``lax.map`` gave
# the same bits and ran 8x8 and 16x16 lock-free, but two threads still deadlocked on 32x32
# matrices; and the split LU already keeps both cores busy (16x16: 1.8 us a matrix either way).
_JAX_CALLS = threading.Lock()


def _matrix_primitive(name: str):
    """``det``/``logdet`` by the JAX primitive itself on the *distinct* matrices flattened to
    [M, n, n], in blocks of a few sizes (``_BLOCKS``): a few kernels per matrix size, not one
    per shape.

    Not NumPy: statistics such as ``sign(relu_in_grad)`` and ``ones_like`` make many exactly
    singular matrices whose computed determinant is round-off. NumPy's LU rounds differently
    from the LAPACK call JAX makes and flipped the sign of 54 of 2,000 such 8x8 matrices
    (EZNAS-A's score moved by 0.15%); SciPy's LU agrees with JAX but took 47% of a search's
    time at 5 us per 8x8 matrix. JAX's is as fast as NumPy's.

    Distinct only (``distinct_rows``, for n >= ``_MIN_DISTINCT_SIZE``): a GP population's
    determinants are mostly of repeated matrices (sign, indicator and ``ones_like`` maps; 734
    distinct in 2.0M on 8 NB201 archs of a ``discover_seeded`` population), and equal bits in
    give equal bits out.
    """

    def run(a):
        n = a.shape[-1]
        if n == 1:
            return _one_by_one(name, a[..., 0, 0])
        flat = np.ascontiguousarray(a).reshape(-1, *a.shape[-2:])
        first = inverse = None
        if n >= _MIN_DISTINCT_SIZE:
            first, inverse = distinct_rows(flat)
            flat = flat[first]
        m = flat.shape[0]
        sizes = _block_sizes(m)
        kernel, starts = _per_matrix(name), np.cumsum([0, *sizes])
        pieces = [flat[i:j] for i, j in zip(starts[:-1], starts[1:])]
        if sum(sizes) > m:  # only the last block is padded (a copy of under 64 matrices)
            eye = np.broadcast_to(np.eye(n, dtype=a.dtype), (sum(sizes) - m, n, n))
            pieces[-1] = np.concatenate([pieces[-1], eye])
        with _JAX_CALLS:
            out = np.concatenate(jax.device_get([kernel(x) for x in pieces]))
        out = out[:m] if inverse is None else out[:m][inverse]
        return out.reshape(a.shape[:-2])

    return run


def _one_by_one(name: str, x: np.ndarray) -> np.ndarray:
    """``det``/``logdet`` of 1 x 1 matrices with entries ``x``, as JAX computes them (its
    ``slogdet`` by LU, which is exact here: no round-off can make a matrix singular, so
    NumPy gives JAX's values to rounding): det = sign(x) exp(log|x|), x itself at +-0;
    logdet = log x, 0 where x < 0, -inf at 0 and NaN (JAX's values at these, checked by
    ``tests/program/test_host_primitives.py``). 1x1 convolutions' weights bring millions of
    these a population."""
    sign = np.sign(x)
    logabs = np.log(np.abs(x))
    if name == "det":
        return np.where(x == 0, x, sign * np.exp(logabs)).astype(F32)
    return np.where(sign > 0, logabs, np.where(sign < 0, F32(0), F32(-np.inf))).astype(F32)


def _gram_rows(a):
    m = a.reshape(a.shape[0], a.shape[1], -1)
    return m @ np.swapaxes(m, 1, 2)


def _eigvalsh(g):
    """Ascending eigenvalues of each [R, n, n] matrix; NaN rows where LAPACK does not
    converge (NaN or inf entries), where JAX returns NaN rather than raising."""
    try:
        return np.linalg.eigvalsh(g)
    except np.linalg.LinAlgError:
        ok = np.isfinite(g).all(axis=(1, 2))
        e = np.full(g.shape[:2], np.nan, g.dtype)
        if ok.any():
            e[ok] = np.linalg.eigvalsh(g[ok])
        return e


def _eig_ratio_of(g):
    e = _eigvalsh(g)
    return (e[:, -1] / e[:, 0]).astype(F32)


def _sym_eig_ratio(a):
    if a.ndim == 1:
        return np.zeros_like(a)
    g = _gram_rows(a)
    return _eig_ratio_of(g + np.swapaxes(g, 1, 2))


def _eig_ratio(a):
    if a.ndim == 1:
        return np.zeros_like(a)
    return _eig_ratio_of(_gram_rows(a))


def _frobenius_norm(a):
    return np.sqrt(np.sum(np.square(_rows(a)), axis=1))


def _mean(a):
    return np.mean(_rows(a), axis=1)


def _hamming(a, b):
    return np.sum((_rows(a) > 0) != (_rows(b) > 0), axis=1).astype(F32)


def _kl_div(a, b):
    a, b = _align(a, b)
    pointwise = scipy.special.xlogy(b, b).astype(F32) - b * a
    shape = np.broadcast_shapes(a.shape, b.shape)
    total = np.sum(_rows(np.broadcast_to(pointwise, shape)), axis=1)
    return total / F32(a.shape[1]) if a.ndim > 1 else total


def _cosine_similarity(a, b):
    if a.ndim == 1:
        return np.zeros_like(a)
    r, bs = a.shape[0], a.shape[1]
    a, b = a.reshape(r, bs, -1), b.reshape(r, bs, -1)
    eps = F32(1e-8)
    na = np.maximum(np.linalg.norm(a, axis=2), eps)
    nb = np.maximum(np.linalg.norm(b, axis=2), eps)
    return np.sum(np.sum(a * b, axis=2) / (na * nb), axis=1)


def _softmax(a):
    if a.ndim == 1:
        return np.ones_like(a)
    axis = 1 if a.ndim - 1 in (1, 3) else 2  # torch's implicit dim, past the stack axis
    shifted = a - np.max(a, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def _numel(a):
    return np.full(a.shape[0], int(np.prod(a.shape[1:])), F32)


HOST_PRIMITIVES: dict[str, Callable[..., np.ndarray]] = {
    "add": _binary(np.add),
    "mul": _binary(np.multiply),
    "matmul": _matmul,
    "lt": _indicator(_binary(np.less)),
    "gt": _indicator(_binary(np.greater)),
    "eq": _indicator(_binary(np.equal)),
    "log": _log,
    "abslog": _abslog,
    "abs": np.abs,
    "square": np.square,
    "exp": np.exp,
    "normalize": _normalize,
    "relu": lambda a: np.maximum(a, F32(0)),
    "sign": np.sign,
    "heaviside": _indicator(lambda a: a > 0),
    "invert": lambda a: F32(1) / a,
    "frobenius_norm": _frobenius_norm,
    "det": _matrix_primitive("det"),
    "logdet": _matrix_primitive("logdet"),
    "sym_eig_ratio": _sym_eig_ratio,
    "eig_ratio": _eig_ratio,
    "mean": _mean,
    "mean_abs": lambda a: _mean(np.abs(a)),
    "hamming": _hamming,
    "kl_div": _kl_div,
    "cosine_similarity": _cosine_similarity,
    "softmax": _softmax,
    "sigmoid": lambda a: F32(1) / (F32(1) + np.exp(-a)),  # scipy's expit: 2x slower
    "ones_like": np.ones_like,
    "zeros_like": np.zeros_like,
    "gt0": _indicator(lambda a: a > 0),
    "lt0": _indicator(lambda a: a < 0),
    "numel": _numel,
}


def host_kernel(name: str) -> Callable[..., np.ndarray]:
    """The NumPy primitive ``name`` over a leading stack axis, errors silenced: a program's
    NaN and inf are values the evaluator judges, not warnings."""
    fn = HOST_PRIMITIVES[name]

    def run(*args):
        with np.errstate(all="ignore"):
            return fn(*(np.asarray(a) for a in args))

    return run
