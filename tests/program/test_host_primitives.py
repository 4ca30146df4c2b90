"""The NumPy primitives (the GP's CPU executor) equal the JAX kernels on every signature."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from zcjax.program import host_primitives
from zcjax.program.host_primitives import HOST_PRIMITIVES, distinct_rows, host_kernel
from zcjax.program.kinds import AM, WM, A, S, W
from zcjax.program.primitives import UNIT_PRIMITIVES

SPECTRAL = ("eig_ratio", "sym_eig_ratio")
R = 3  # units in a stack
# Per kind, one unit shape (PyTorch layout); A and W square in their last two dims, as in
# NB201 (H == W), so det/logdet/matmul apply.
SHAPES = {A: (2, 3, 4, 4), W: (4, 3, 3, 3), AM: (2, 3), WM: (4, 3), S: ()}


def _values(rng: np.random.Generator, kind: str, variant: int) -> np.ndarray:
    """[R, *shape] float32: variant 0 normal, 1 with zeros and negatives, 2 positive, 3 with
    a NaN in the first unit (invalid statistics must stay NaN, not raise)."""
    x = rng.standard_normal((R, *SHAPES[kind])).astype(np.float32)
    if variant == 1:
        x[..., ::2] = 0.0
    elif variant == 2:
        x = np.abs(x) + 0.1
    elif variant == 3:
        x.reshape(R, -1)[0, 0] = np.nan
    return x


def test_every_unit_primitive_has_a_host_version():
    assert set(HOST_PRIMITIVES) == set(UNIT_PRIMITIVES)


@pytest.mark.parametrize("name", sorted(UNIT_PRIMITIVES))
def test_host_primitive_equals_the_vmapped_jax_kernel(name):
    rng = np.random.default_rng(0)
    prim = UNIT_PRIMITIVES[name]
    jitted = jax.jit(jax.vmap(prim.fn))
    checked = 0
    for arg_kinds, _ in prim.signatures:
        for variant in range(4):
            args = [_values(rng, k, variant) for k in arg_kinds]
            try:
                want = np.asarray(jitted(*args))
            except (TypeError, ValueError):
                # Sizes that do not fit (e.g. W @ W of non-square kernels): the host version
                # must fail too, so the evaluator skips the unit either way.
                with pytest.raises(ValueError):
                    host_kernel(name)(*args)
                continue
            got = host_kernel(name)(*args)
            assert got.shape == want.shape, (arg_kinds, variant)
            assert got.dtype == np.float32, (arg_kinds, variant, got.dtype)
            if name in SPECTRAL:
                # Singular Gram matrices (variant 1's zeros): the smallest eigenvalue is
                # round-off, so the ratio is huge with either executor but not reproducible.
                singular = np.abs(want) > 1e5
                assert (np.abs(got[singular]) > 1e5).all(), (arg_kinds, variant)
                got, want = got[~singular], want[~singular]
            np.testing.assert_allclose(
                got, want, rtol=2e-5, atol=1e-6, err_msg=f"{name}{arg_kinds} variant {variant}"
            )
            checked += 1
    assert checked > 0


def test_scalar_broadcasting_is_per_unit():
    # A unit scalar [R] multiplies its own unit, not the unit's first axis.
    a = np.ones((2, 3, 4), np.float32)
    s = np.array([2.0, 5.0], np.float32)
    out = host_kernel("mul")(a, s)
    np.testing.assert_array_equal(out[0], 2.0)
    np.testing.assert_array_equal(out[1], 5.0)
    np.testing.assert_array_equal(host_kernel("add")(s, a)[1], 6.0)


def test_distinct_rows_groups_equal_bits_and_survives_key_collisions(monkeypatch):
    rng = np.random.default_rng(1)
    base = np.sign(rng.standard_normal((5, 4, 4))).astype(np.float32)
    base[4] = -0.0  # equal to zeros as values, not as bits
    rows = base[rng.integers(0, 5, 40)]
    rows[0] = 0.0
    first, inverse = distinct_rows(rows)
    assert len(first) == len({r.tobytes() for r in rows})
    np.testing.assert_array_equal(rows[first][inverse].view(np.uint32), rows.view(np.uint32))
    # Every key equal (a projection on zeros): the bit check must still split the groups.
    monkeypatch.setattr(host_primitives, "_key_weights", lambda size: np.zeros(size, np.float32))
    first, inverse = distinct_rows(rows)
    assert len(first) == len({r.tobytes() for r in rows})
    np.testing.assert_array_equal(rows[first][inverse].view(np.uint32), rows.view(np.uint32))


@pytest.mark.parametrize("name", ["det", "logdet"])
def test_determinants_of_repeated_singular_matrices_equal_jax_bit_for_bit(name):
    """The host executor computes each distinct matrix once; repeated and exactly singular
    sign matrices (round-off determinants) must still give JAX's bits."""
    rng = np.random.default_rng(2)
    pool = np.sign(rng.standard_normal((6, 8, 8))).astype(np.float32)
    pool[:3, 1] = pool[:3, 0]  # duplicate rows: singular, determinant is round-off
    a = pool[rng.integers(0, 6, (3, 16))]  # [R=3, 16 matrices, 8, 8]
    want = np.asarray(jax.jit(jax.vmap(UNIT_PRIMITIVES[name].fn))(a))
    got = host_kernel(name)(a)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("m", [1, 63, 64, 65, 1100, 16384 + 1024 + 3, 600_000])
def test_determinant_blocks_cover_every_matrix_with_few_sizes(m):
    sizes = host_primitives._block_sizes(m)
    assert set(sizes) <= set(host_primitives._BLOCKS)
    assert m <= sum(sizes) < m + 64
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("name", ["det", "logdet"])
def test_one_by_one_determinants_follow_jax_at_zero_sign_nan_and_inf(name):
    """1 x 1 matrices (1x1 convolutions' weights) skip JAX's LU: the same values at 0, -0,
    negatives, NaN and inf, and to rounding elsewhere."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 40, 1, 1)).astype(np.float32)
    a[0, :5, 0, 0] = [0.0, -0.0, np.nan, np.inf, -np.inf]
    a[1, ::3] *= 1e-30  # tiny: logdet far below 0, det near underflow
    want = np.asarray(jax.jit(jax.vmap(UNIT_PRIMITIVES[name].fn))(a))
    got = host_kernel(name)(a)
    assert got.dtype == np.float32 and got.shape == want.shape == (3, 40)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    special = np.isinf(want) | (want == 0)  # equal bits: the sign of inf and of zero too
    np.testing.assert_array_equal(got[special].view(np.uint32), want[special].view(np.uint32))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=0)


def test_determinants_from_two_threads_do_not_deadlock():
    """jaxlib 0.10's batched LU splits a batch of 64 or more matrices over XLA's CPU thread
    pool, and two threads each running one waited on each other forever (reproduced with
    plain ``jax.jit(jnp.linalg.det)``). ``host_kernel``'s determinants hold a lock around
    the JAX call, so program threads (``gp.evaluate.HOST_THREADS``) can share them. Run in a
    subprocess: a deadlock fails the test by its timeout instead of hanging the suite."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import threading
        import numpy as np
        from zcjax.program.host_primitives import host_kernel

        def work(seed):
            rng = np.random.default_rng(seed)
            for i in range(40):
                x = rng.standard_normal((4, 300, 32, 32)).astype(np.float32)
                host_kernel("det" if i % 2 else "logdet")(x)

        threads = [threading.Thread(target=work, args=(s,)) for s in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("done")
        """
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("two threads computing determinants deadlocked")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "done"
