"""``engine.batched``: unit quantities of a chunk of architectures, ops grouped across them,
against the one-at-a-time engine; compiled code shared by never-seen architectures; plans of
different families refused."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zcjax import compiles, engine, netplan
from zcjax.engine import batched
from zcjax.inputs import at_resolution
from zcjax.spaces import nb201

RESOLUTION = 8
BATCH = 2
BUCKETS = (1, 2, 4)  # group call sizes in the compile test (fewer to compile than the default)
# Codes: 0 none, 1 skip, 2 conv1x1, 3 conv3x3, 4 avg_pool. Archs with none edges (a node with
# all-none inputs is a zero Add), skip and pool edges, and convs of both sizes.
ARCHS = [
    (3, 0, 4, 1, 2, 3),
    (0, 0, 0, 0, 0, 0),
    (1, 1, 1, 1, 1, 1),
    (4, 2, 0, 3, 1, 0),
    (2, 3, 3, 0, 4, 0),
]


def _plans(archs, cells_per_stage=5, resolution=RESOLUTION):
    return [
        at_resolution(nb201.plan(a, cells_per_stage=cells_per_stage), resolution) for a in archs
    ]


def _params(plans, seed=0):
    return [engine.init_params(jax.random.key(seed + i), p) for i, p in enumerate(plans)]


def _batch(seed=0):
    x = jax.random.normal(jax.random.key(100 + seed), (BATCH, RESOLUTION, RESOLUTION, 3))
    return x, jnp.array([1, 7])


def test_nb201_plans_share_blocks_not_op_positions():
    """Why ops are aligned by (block, depth in block) and not by index: NB201 plans differ in
    their ops (none edges, skips and one-input nodes emit none) but share block shapes."""
    plans = _plans(ARCHS)
    assert len({len(p.ops) for p in plans}) > 1
    assert len({batched.family(p) for p in plans}) == 1
    assert len({len(p.blocks) for p in plans}) == 1
    for plan in plans:  # an op reads values made at earlier positions only
        ps = batched.positions(plan)
        made = {op.dst: pos for op, pos in zip(plan.ops, ps)}
        for op, pos in zip(plan.ops, ps):
            assert all(made.get(v, (-1, 0)) < pos for v in engine.rule_of(op).inputs(op))
    # The skeleton (stem, ResNet blocks, head) sits at the same positions in every plan.
    skeletons = [
        sorted(
            (pos, type(op).__name__)
            for op, pos in zip(p.ops, batched.positions(p))
            if _skeleton(op)
        )
        for p in plans
    ]
    assert len(skeletons[0]) == 1 + 2 * 4 + 1
    assert all(s == skeletons[0] for s in skeletons)


def _skeleton(op) -> bool:
    if isinstance(op, netplan.Unit):
        return not op.path[-1].startswith("edge")
    if isinstance(op, netplan.Pool):
        return op.window == 2
    return isinstance(op, (netplan.Conv, netplan.Head))


def _check_equal(got, plans, params, x, want, labels, rtol, atol):
    for i, (p, plan) in enumerate(zip(params, plans)):
        ref = engine.unit_quantities(p, plan, x, want, labels=labels)
        assert list(got[i]) == list(ref)
        for path in ref:
            assert set(got[i][path]) == set(want)
            for f in want:
                r = np.asarray(ref[path][f])
                scale = float(np.max(np.abs(r))) or 1.0
                np.testing.assert_allclose(
                    np.asarray(got[i][path][f]),
                    r,
                    rtol=rtol,
                    atol=atol * scale,
                    err_msg=f"arch {ARCHS[i]} unit {path} {f}",
                )


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode, cells_per_stage, tol",
    [
        # 1x1 convs are matrix products (``nn.conv2d``), which XLA fuses with their neighbours
        # differently inside a group call than in a one-op kernel: rounding of ~1e-6 that
        # the deep BN-with-2-images gradients amplify to ~1e-4 relative (weight gradients).
        ("loop", None, 1e-5),
        # Stacked along an architecture axis XLA runs the convs as grouped convs, whose
        # rounding differs, and deep gradients through BN with batch statistics of 2 images
        # amplify it, so vmap is checked on a shallower network (one cell per stage). The
        # rounding depends on the CPU: weight gradients differed by 4e-4 relative on an Intel
        # Xeon (AVX-512) where an AMD EPYC stayed under 1e-4; a wrong gradient differs by O(1).
        ("vmap", 1, 1e-3),
    ],
)
def test_batched_equals_one_at_a_time(mode, cells_per_stage, tol):
    """Every unit quantity, gradients of the sum of logits and of the cross-entropy."""
    kwargs = {} if cells_per_stage is None else {"cells_per_stage": cells_per_stage}
    plans = _plans(ARCHS, **kwargs)
    params = _params(plans)
    x, labels = _batch()
    for lab in (None, labels):
        got = batched.unit_quantities_batched(
            params, plans, x, engine.UNIT_FIELDS, labels=lab, mode=mode
        )
        _check_equal(got, plans, params, x, engine.UNIT_FIELDS, lab, rtol=tol, atol=tol)
    if mode == "loop":
        want = ("weight", "relu_in", "conv_in", "bn_out")  # no backward pass
        got = batched.unit_quantities_batched(params, plans, x, want, mode=mode)
        _check_equal(got, plans, params, x, want, None, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_new_architectures_compile_nothing_once_warm():
    """After a warm-up chunk that compiles its groups at every bucket size, a chunk of
    never-seen architectures (groups of other sizes) reuses every group kernel."""
    want = ("relu_in_grad",)
    x, _ = _batch()
    plans = _plans(ARCHS)
    jax.block_until_ready(
        batched.unit_quantities_batched(
            _params(plans), plans, x, want, mode="loop", buckets=BUCKETS, warm_buckets=True
        )
    )
    rng = np.random.default_rng(0)
    new = [nb201.arch_from_id(int(i)) for i in rng.choice(nb201.NUM_ARCHS, 40, replace=False)]
    new = [a for a in new if a not in ARCHS]
    for start in (0, 5):
        plans = _plans(new[start : start + 5])
        params = _params(plans, seed=50 + start)
        with compiles.count_compiles() as c:
            jax.block_until_ready(
                batched.unit_quantities_batched(
                    params, plans, x, want, mode="loop", buckets=BUCKETS
                )
            )
        assert c.count == 0, new[start : start + 5]


def test_plans_of_different_families_are_refused():
    x, _ = _batch()
    plans = _plans(ARCHS[:2]) + _plans(ARCHS[2:3], cells_per_stage=1)
    with pytest.raises(ValueError, match="one family.*plan 2 has block output shapes"):
        batched.unit_quantities_batched(_params(plans), plans, x, ("relu_in_grad",))
    plans = _plans(ARCHS[:1]) + _plans(ARCHS[1:2], resolution=16)
    with pytest.raises(ValueError, match="one family.*plan 1 has input shape"):
        batched.unit_quantities_batched(_params(plans), plans, x, ("relu_in_grad",))
    with pytest.raises(ValueError, match="2 parameter trees for 1 plans"):
        batched.unit_quantities_batched(_params(plans), plans[:1], x, ("relu_in_grad",))
    with pytest.raises(ValueError, match="Unknown mode"):
        batched.unit_quantities_batched(_params(plans[:1]), plans[:1], x, ("weight",), mode="x")


def test_buckets():
    assert batched.bucket_size(3, (1, 2, 4, 8)) == 4
    assert batched.bucket_size(9, (1, 2, 4, 8)) == 8
    # vmap: padded calls of the largest bucket; loop: unpadded calls of buckets that fit.
    assert batched._pieces(11, "vmap", (1, 2, 4, 8)) == [(8, 8), (3, 4)]
    assert batched._pieces(11, "loop", (1, 2, 4, 8)) == [(8, 8), (2, 2), (1, 1)]
