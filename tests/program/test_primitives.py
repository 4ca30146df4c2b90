"""The 33 program primitives against an independent numpy reference of EZNAS's torch bodies.

Inputs are in PyTorch layout, one shape per kind (sizes are arbitrary; a kind fixes only the rank).
References compute in float64 from the float32 inputs; each primitive runs eagerly and under jit.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zcjax.program.kinds import KINDS
from zcjax.program.primitives import UNIT_PRIMITIVES as PRIMITIVES

# Wm is wide (3 x 5) so the row Gram matrix used by the eigen-ratio ops is full rank.
SHAPES = {"A": (2, 3, 4, 4), "W": (4, 3, 3, 3), "Am": (2, 3), "Wm": (3, 5), "S": ()}
RANK = {kind: len(shape) for kind, shape in SHAPES.items()}
LOOSE = {"det", "logdet", "sym_eig_ratio", "eig_ratio"}  # linear algebra in float32


def _random(rng, kind, zero_fraction=0.2):
    """Standard normal entries in the kind's shape, some set exactly to 0."""
    x = rng.normal(size=SHAPES[kind])
    return np.asarray(np.where(rng.random(x.shape) < zero_fraction, 0.0, x), np.float32)


def _inputs(rng, name, kinds):
    args = [_random(rng, k) for k in kinds]
    if len(args) == 2 and kinds[0] == kinds[1]:  # share some entries, so ties / equality occur
        args[1] = np.where(rng.random(args[0].shape) < 0.3, args[0], args[1]).astype(np.float32)
    if name == "kl_div":  # a probability-like target; negative targets are an edge case below
        args[1] = np.abs(args[1])
    return args


def call(name, *args):
    """Run a primitive eagerly and under jit; check they agree and return the eager value."""
    fn, args = PRIMITIVES[name].fn, [jnp.asarray(x) for x in args]
    eager = np.asarray(fn(*args))
    np.testing.assert_allclose(np.asarray(jax.jit(fn)(*args)), eager, rtol=1e-6, atol=1e-6)
    return eager


# ----------------------------------------------------------------------------- numpy reference


def _f64(*xs):
    return [np.asarray(x, np.float64) for x in xs]


def _ref_normalize(a):
    a = np.asarray(a, np.float64)
    z = (a - a.mean()) / (a.std(ddof=1) if a.size > 1 else np.nan)
    return np.where(np.isnan(z), 0.0, z)


def _ref_logdet(a):
    d = np.linalg.det(np.asarray(a, np.float64))
    return np.where(d > 0, np.log(np.abs(d)), np.where(d < 0, 0.0, -np.inf))


def _gram(a):
    m = np.asarray(a, np.float64).reshape(a.shape[0], -1)
    return m @ m.T


def _ref_sym_eig_ratio(a):
    if np.ndim(a) == 0:
        return 0.0
    e = np.linalg.eigvalsh(_gram(a) + _gram(a).T)  # ascending
    return e[-1] / e[0]


def _ref_eig_ratio(a):
    if np.ndim(a) == 0:
        return 0.0
    e = np.linalg.eigvals(_gram(a)).real  # general solver, unsorted
    return e.max() / e.min()


def _ref_kl_div(a, b):
    a, b = _f64(a, b)
    b_log_b = np.where(b == 0, 0.0, b * np.log(b))  # 0 log 0 = 0; log(b < 0) = NaN
    total = np.sum(np.broadcast_to(b_log_b - b * a, np.broadcast_shapes(a.shape, b.shape)))
    return total / a.shape[0] if a.ndim > 0 else total


def _ref_cosine_similarity(a, b, eps=1e-8):
    if np.ndim(a) == 0:
        return 0.0
    a, b = _f64(a, b)
    a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    na = np.maximum(np.sqrt((a * a).sum(1)), eps)
    nb = np.maximum(np.sqrt((b * b).sum(1)), eps)
    return np.sum((a * b).sum(1) / (na * nb))


def _ref_softmax(a):
    a = np.asarray(a, np.float64)
    if a.ndim == 0:
        return np.ones(())
    axis = 0 if a.ndim in (1, 3) else 1  # torch's implicit dim
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _ref_matmul(a, b):
    a, b = _f64(a, b)
    return np.matmul(a.reshape(1) if a.ndim == 0 else a, b.reshape(1) if b.ndim == 0 else b)


def _ind(cond):
    return np.asarray(cond, np.float64)


def _u(f):
    """A unary reference applied to the float64 copy of its argument."""
    return lambda a: f(np.asarray(a, np.float64))


REFERENCE = {
    "add": lambda a, b: np.add(*_f64(a, b)),
    "mul": lambda a, b: np.multiply(*_f64(a, b)),
    "matmul": _ref_matmul,
    "lt": lambda a, b: _ind(np.less(a, b)),
    "gt": lambda a, b: _ind(np.greater(a, b)),
    "eq": lambda a, b: _ind(np.equal(a, b)),
    "log": _u(lambda a: np.log(np.where(a <= 0, 1.0, a))),
    "abslog": _u(lambda a: np.abs(np.log(np.where(a == 0, 1.0, a)))),
    "abs": _u(np.abs),
    "square": _u(lambda a: a * a),
    "exp": _u(np.exp),
    "normalize": _ref_normalize,
    "relu": _u(lambda a: np.maximum(a, 0.0)),
    "sign": _u(np.sign),
    "heaviside": _u(lambda a: np.heaviside(a, 0.0)),
    "invert": _u(lambda a: 1.0 / a),
    "frobenius_norm": _u(lambda a: math.sqrt(float(np.sum(a * a)))),
    "det": _u(np.linalg.det),
    "logdet": _ref_logdet,
    "sym_eig_ratio": _ref_sym_eig_ratio,
    "eig_ratio": _ref_eig_ratio,
    "mean": _u(lambda a: np.sum(a) / a.size),
    "mean_abs": _u(lambda a: np.sum(np.abs(a)) / a.size),
    "hamming": lambda a, b: float(np.count_nonzero((np.ravel(a) > 0) != (np.ravel(b) > 0))),
    "kl_div": _ref_kl_div,
    "cosine_similarity": _ref_cosine_similarity,
    "softmax": _ref_softmax,
    "sigmoid": _u(lambda a: 1.0 / (1.0 + np.exp(-a))),
    "ones_like": lambda a: np.ones(np.shape(a)),
    "zeros_like": lambda a: np.zeros(np.shape(a)),
    "gt0": lambda a: _ind(np.asarray(a) > 0),
    "lt0": lambda a: _ind(np.asarray(a) < 0),
    "numel": lambda a: float(np.size(a)),
}


# ----------------------------------------------------------------------------- table-wide tests


def test_every_primitive_has_a_reference():
    assert len(PRIMITIVES) == 33
    assert set(REFERENCE) == set(PRIMITIVES)


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_matches_numpy_reference_on_every_signature(name):
    rng = np.random.default_rng(0)
    tol = dict(rtol=1e-4, atol=1e-5) if name in LOOSE else dict(rtol=1e-5, atol=1e-6)
    for arg_kinds, result_kind in PRIMITIVES[name].signatures:
        args = _inputs(rng, name, arg_kinds)
        got = call(name, *args)
        with np.errstate(all="ignore"):
            want = np.asarray(REFERENCE[name](*args))
        assert got.shape == want.shape, (arg_kinds, got.shape, want.shape)
        assert got.ndim == RANK[result_kind]
        np.testing.assert_allclose(got, want, **tol, err_msg=f"{name}{arg_kinds}")


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_signatures_are_consistent(name):
    prim = PRIMITIVES[name]
    assert prim.name == name and prim.signatures and prim.doc
    seen = set()
    for arg_kinds, result_kind in prim.signatures:
        assert len(arg_kinds) == prim.arity
        assert set(arg_kinds) | {result_kind} <= set(KINDS)
        assert arg_kinds not in seen  # result_kind() would be ambiguous
        seen.add(arg_kinds)
        assert prim.result_kind(arg_kinds) == result_kind
        specs = [jax.ShapeDtypeStruct(SHAPES[k], jnp.float32) for k in arg_kinds]
        out = jax.eval_shape(prim.fn, *specs)
        assert len(out.shape) == RANK[result_kind], (arg_kinds, out.shape)
        assert jnp.issubdtype(out.dtype, jnp.floating)


# ----------------------------------------------------------------------------- edge cases


def f32(x):
    return np.asarray(x, np.float32)


def test_log_replaces_non_positive_entries_by_one():
    got = call("log", f32([[-1.0, 0.0], [math.e, 1.0]]))
    np.testing.assert_allclose(got, [[0.0, 0.0], [1.0, 0.0]], atol=1e-6)


def test_abslog_nan_for_negative_zero_for_zero():
    got = call("abslog", f32([-1.0, 0.0, math.exp(-2.0), 1.0]))
    assert np.isnan(got[0])
    np.testing.assert_allclose(got[1:], [0.0, 2.0, 0.0], atol=1e-6)


def test_normalize_constant_gives_zeros_and_uses_unbiased_std():
    np.testing.assert_array_equal(call("normalize", np.full((2, 3), 5.0, np.float32)), 0.0)
    np.testing.assert_array_equal(call("normalize", f32(7.0)), 0.0)  # 1 entry: std is NaN
    # [0, 2]: mean 1, unbiased std sqrt(2) (the biased std 1 would give +-1).
    np.testing.assert_allclose(call("normalize", f32([[0.0, 2.0]])), [[-(0.5**0.5), 0.5**0.5]])


def test_invert_of_zero_is_inf():
    np.testing.assert_array_equal(call("invert", f32([0.0, 2.0, -4.0])), [np.inf, 0.5, -0.25])


def test_sign_heaviside_gt0_lt0_at_zero():
    x = f32([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(call("sign", x), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(call("heaviside", x), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(call("gt0", x), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(call("lt0", x), [1.0, 0.0, 0.0])


def test_det_is_batched_over_last_two_dims():
    scale = np.arange(2)[:, None] + np.arange(3) + 1  # matrix [i, j] is (i + j + 1) * I_2
    a = f32(scale[..., None, None] * np.eye(2))
    got = call("det", a)
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, [[1.0, 4.0, 9.0], [4.0, 9.0, 16.0]], rtol=1e-6)


def test_logdet_positive_negative_and_singular():
    a = f32([[[2.0, 0.0], [0.0, 3.0]], [[0.0, 2.0], [1.0, 0.0]], np.ones((2, 2)), np.zeros((2, 2))])
    got = call("logdet", a.reshape(1, 4, 2, 2))
    assert got.shape == (1, 4)
    np.testing.assert_allclose(got[0, :2], [math.log(6.0), 0.0], rtol=1e-6)  # det -2 -> 0
    np.testing.assert_array_equal(got[0, 2:], [-np.inf, -np.inf])


@pytest.mark.parametrize("name", ["sym_eig_ratio", "eig_ratio"])
def test_eig_ratios_hand_computed(name):
    # Rows of a.reshape(2, -1) are [1, 1] and [0, 1]: Gram [[2, 1], [1, 1]], eigenvalues
    # (3 +- sqrt 5) / 2; G + G^T doubles them, so both ops give the same ratio.
    a = f32([[1.0, 1.0], [0.0, 1.0]]).reshape(2, 2, 1, 1)
    want = (3 + math.sqrt(5)) / (3 - math.sqrt(5))
    np.testing.assert_allclose(call(name, a), want, rtol=1e-5)
    np.testing.assert_allclose(call(name, f32([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])), 4.0, rtol=1e-5)
    assert call(name, f32(3.0)).shape == () and call(name, f32(3.0)) == 0.0


def test_hamming_counts_sign_disagreements():
    a, b = f32([1.0, -1.0, 0.0, 2.0]), f32([1.0, 1.0, 0.0, 0.0])
    assert call("hamming", a, b) == 2.0  # positions 1 and 3; 0 counts as not positive
    assert call("hamming", a.reshape(2, 2), b.reshape(2, 2)) == 2.0


def test_kl_div_batchmean_with_zero_and_negative_targets():
    a = f32([[0.1, 0.2], [0.3, 0.4]])
    b = f32([[0.5, 0.5], [0.0, 1.0]])
    want = (2 * 0.5 * math.log(0.5) - (0.05 + 0.1 + 0.0 + 0.4)) / 2  # 0 log 0 = 0, 1 log 1 = 0
    np.testing.assert_allclose(call("kl_div", a, b), want, rtol=1e-5)
    np.testing.assert_allclose(call("kl_div", f32(2.0), f32(1.0)), -2.0)  # 0-d: not divided
    assert np.isnan(call("kl_div", a, f32([[0.5, -0.5], [0.0, 1.0]])))


def test_cosine_similarity_sums_row_cosines():
    a, b = f32([[1.0, 0.0], [0.0, 1.0]]), f32([[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(call("cosine_similarity", a, b), 1.0)  # 1 + 0
    np.testing.assert_allclose(call("cosine_similarity", f32([[1, 1]]), f32([[1, 0]])), 0.5**0.5)
    # Batch 2 of 4-D inputs: rows are a[i].ravel(), b[i].ravel() (b = -a on row 1).
    x = np.random.default_rng(1).normal(size=(2, 3, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(
        call("cosine_similarity", x, x * f32([1, -1])[:, None, None, None]), 0.0, atol=1e-6
    )
    np.testing.assert_allclose(call("cosine_similarity", x, 2 * x), 2.0, rtol=1e-6)
    assert call("cosine_similarity", f32(1.0), f32(2.0)) == 0.0
    assert call("cosine_similarity", np.zeros((2, 3), np.float32), a[:, :1].repeat(3, 1)) == 0.0


def test_softmax_over_channels():
    four_d = np.zeros((1, 2, 1, 1), np.float32)
    four_d[0, 1] = math.log(3.0)
    np.testing.assert_allclose(call("softmax", four_d)[0, :, 0, 0], [0.25, 0.75], rtol=1e-6)
    two_d = f32([[0.0, math.log(3.0)], [0.0, 0.0]])
    np.testing.assert_allclose(call("softmax", two_d), [[0.25, 0.75], [0.5, 0.5]], rtol=1e-6)
    x = np.random.default_rng(2).normal(size=(2, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(call("softmax", x).sum(axis=1), 1.0, rtol=1e-6)


def test_numel_is_a_float_scalar():
    got = PRIMITIVES["numel"].fn(jnp.zeros((2, 3, 4, 4)))
    assert got.shape == () and jnp.issubdtype(got.dtype, jnp.floating) and float(got) == 96.0
    assert call("numel", f32(5.0)) == 1.0


def test_matmul_batched_and_scalar():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
    b = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
    got = call("matmul", a, b)
    assert got.shape == (2, 3, 4, 4)
    want = np.einsum("bcij,bcjk->bcik", a.astype(np.float64), b)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    scalar = call("matmul", f32(2.0), f32(3.0))
    assert scalar.shape == () and scalar == 6.0


def test_comparisons_and_broadcast_hand_computed():
    a, b = f32([1.0, 2.0, 3.0]), f32([2.0, 2.0, 2.0])
    np.testing.assert_array_equal(call("lt", a, b), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(call("gt", a, b), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(call("eq", a, b), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(call("add", a, f32(1.0)), [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(call("mul", f32(2.0), a), [2.0, 4.0, 6.0])


def test_mean_and_frobenius_over_all_entries():
    a = f32([[3.0, -4.0], [0.0, 0.0]])
    assert call("frobenius_norm", a) == 5.0
    assert call("mean", a) == -0.25 and call("mean_abs", a) == 1.75
