"""Unit quantities of several architectures of one family at once, ops grouped across them.

``engine.unit_quantities`` runs one architecture: about 90 kernel dispatches per NB201
network (forward; as many backward). Here a chunk of B architectures runs together: at each op
position the architectures' ops are grouped by kernel (op configuration and input shapes) and
each group is ONE jitted call over its members: for B = 32 random NB201 architectures, about
10 forward group calls per architecture instead of 90. That is for accelerators, where the
engine is dispatch-bound; on a 2-core CPU the engine is compute-bound at batch 16, 32x32 (a
batch-1 8x8 run costs 0.014 s/arch of ~0.2), and batching gains nothing there.

Op positions. NB201 plans do NOT share op positions (``tests/engine/test_batched.py`` checks
it): ``none`` edges emit no op, ``skip_connect`` edges reuse a value, a node with one input has
no Add, so plans have 12 to 132 ops. What all architectures of a family share are the block
boundaries (``Plan.blocks``: stem, cells, ResNet blocks) and their shapes. So an op's position
is (segment, level): the segment is the block it computes (the ops after the previous block's
output, up to this block's), the level its depth within the segment (1 + the deepest input
made in the same segment). Positions run in order; an op only reads values of earlier
positions, so each position's groups can run at once. Plans whose block boundaries, block
shapes, input or logits differ are refused (``check_family``).

Values stay per architecture (``values[i][value id]``). A group call takes its members'
inputs and parameters as a tuple of a bucket size (``BUCKETS``: 1, 2, 4, ...; padded by
repeating the first member, or split, see below) and returns each member's outputs, so a
never-seen architecture compiles nothing once its kernels are warm at every bucket size
(``warm_buckets``). How members run inside the call:

- ``mode="vmap"``: inputs stacked along a leading architecture axis and the op's kernel
  vmapped over it (for accelerators; XLA turns a conv over stacked kernels into a grouped
  conv, which XLA:CPU runs about 5x slower than separate convs).
- ``mode="loop"``: the members' kernels side by side in the call (the default on CPU). Padded
  members would cost full kernels (and XLA:CPU runs convs under a ``lax.cond`` or a loop 5-7x
  slower), so a group of n members runs as calls of the largest buckets that fit
  (7 = 4 + 2 + 1) instead of one padded call.

The backward pass is ``run.backward``'s: cotangents of the sum of the logits, or of the mean
cross-entropy with ``labels``; a value's cotangent is the sum of its consumers' contributions,
added inside the group call of its producer (in arrival order, as ``run.backward`` adds them;
missing slots are masked to zero). Units that reach no logit get zero gradients. ``none``
edges have no op; a node whose inputs are all ``none`` is a zero Add (no sources), grouped
like any other op, which passes no gradient on.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from zcjax import distributed, netplan
from zcjax.engine.kernels import EAGER
from zcjax.engine.plans import value_shapes
from zcjax.engine.rules import rule_of
from zcjax.engine.run import GRAD_FIELDS, UNIT_FIELDS

BUCKETS = {"vmap": (1, 2, 4, 8, 16, 32), "loop": (1, 2, 4, 8)}
# Cotangent slots of a backward group call: a value's contributions (its consumers' gradients)
# are added inside its producer's call, padded to one of these counts. Few sizes keep the
# number of kernels low; NB201 values have at most 12 consumers, 4 in 99% of architectures.
SLOTS = (4, 16, 64)
MODES = ("vmap", "loop")


def default_mode() -> str:
    """``"loop"`` on one CPU device (grouped convs are slow there), else ``"vmap"`` (on
    accelerators, and wherever several local devices share the stacked members)."""
    if jax.default_backend() == "cpu" and jax.local_device_count() == 1:
        return "loop"
    return "vmap"


def bucket_size(n: int, buckets: tuple[int, ...]) -> int:
    """The smallest bucket holding ``n`` members (groups larger than the last are split)."""
    for b in buckets:
        if b >= n:
            return b
    return buckets[-1]


# ----------------------------------------------------------------------------- plans


@functools.lru_cache(maxsize=65536)
def _config(op):
    """``op`` without where it sits (value ids, parameter paths): what its kernel depends on."""
    changes = {}
    for field in dataclasses.fields(op):
        v = getattr(op, field.name)
        if field.name in ("src", "dst", "like"):
            changes[field.name] = 0
        elif field.name == "srcs":
            changes[field.name] = tuple(range(len(v)))
        elif field.name.endswith("path") and v is not None:
            changes[field.name] = ()
    return dataclasses.replace(op, **changes)


@functools.lru_cache(maxsize=65536)
def family(plan: netplan.Plan) -> tuple:
    """What plans of one family share: input shape, block output shapes, logits shape."""
    shapes = value_shapes(plan)
    return plan.input_shape, tuple(shapes[b] for b in plan.blocks), shapes[plan.output]


def check_family(plans) -> None:
    """ValueError unless all ``plans`` are of one family (see the module docstring)."""
    first = family(plans[0])
    names = ("input shape", "block output shapes", "logits shape")
    for i, plan in enumerate(plans[1:], start=1):
        other = family(plan)
        for name, a, b in zip(names, first, other):
            if a != b:
                raise ValueError(
                    "unit_quantities_batched needs plans of one family (same input shape, "
                    f"same blocks with the same output shapes, same logits): plan {i} has "
                    f"{name} {b}, plan 0 has {a}."
                )


@functools.lru_cache(maxsize=65536)
def positions(plan: netplan.Plan) -> tuple[tuple[int, int], ...]:
    """(segment, level) of each op of ``plan`` (see the module docstring)."""
    producer = {op.dst: j for j, op in enumerate(plan.ops)}
    ends = [producer.get(v, -1) for v in plan.blocks]
    if ends != sorted(ends):
        raise ValueError("unit_quantities_batched needs plans whose blocks come in op order.")
    segment, level = [], []
    for j, op in enumerate(plan.ops):
        s = bisect.bisect_left(ends, j)
        depth = 0
        for v in rule_of(op).inputs(op):
            k = producer.get(v)
            if k is not None and segment[k] == s:
                depth = max(depth, level[k])
        segment.append(s)
        level.append(depth + 1)
    return tuple(zip(segment, level))


# ----------------------------------------------------------------------------- group calls


def _member_fn(task):
    """The function one member of a group call runs: (args, mask) -> outputs."""
    kind = task[0]
    if kind == "forward":
        cfg = task[1]
        rule = rule_of(cfg)
        return lambda args, mask: rule.forward(EAGER, cfg, args[0], list(args[1]))
    if kind == "acts":
        cfg, want = task[1:]
        return lambda args, mask: EAGER["unit_acts"](*args, body=cfg.body, want=want)
    if kind == "cotangent":
        if task[1]:
            return lambda args, mask: EAGER["xent_cotangent"](*args)
        return lambda args, mask: jnp.ones_like(args[0])
    if kind == "backward":
        cfg, want = task[1:]
        rule = rule_of(cfg)

        def backward(args, mask):
            p, xs, gys = args
            gy = jnp.where(mask[0], gys[0], 0)
            for j in range(1, len(gys)):
                gy = gy + jnp.where(mask[j], gys[j], 0)
            gxs, q, _ = rule.backward(EAGER, cfg, p, list(xs), gy, want, ())
            return tuple(gxs), q

        return backward
    raise ValueError(f"Unknown group task {kind!r}.")


@functools.partial(jax.jit, static_argnames=("task", "mode"))
def _group_call(members, masks, task, mode):
    """Outputs of each of ``members`` (a tuple of argument trees, maybe padded with copies);
    ``masks`` [members, slots] (or None) marks the cotangent slots in use."""
    f = _member_fn(task)
    size = len(members)
    if mode == "vmap":
        stacked = jax.tree.map(lambda *a: jnp.stack(a), *members)
        rows = distributed.rows_sharding(size)
        if rows is None:
            out = jax.vmap(f)(stacked, masks)
        else:  # each local device runs its share of the members
            specs = (rows.spec, None if masks is None else rows.spec)
            run = jax.shard_map(jax.vmap(f), mesh=rows.mesh, in_specs=specs, out_specs=rows.spec)
            out = run(stacked, masks)
        return tuple(jax.tree.map(lambda a, i=i: a[i], out) for i in range(size))
    rows = [None] * size if masks is None else [masks[i] for i in range(size)]
    return tuple(f(members[i], rows[i]) for i in range(size))


def _pieces(n: int, mode: str, buckets: tuple[int, ...]) -> list[tuple[int, int]]:
    """(members, call size) of the group calls for ``n`` members: with ``"vmap"`` calls of the
    largest bucket, the last one padded; with ``"loop"`` (where padded members would cost full
    kernels) the largest buckets that fit, so no call is padded (needs bucket 1)."""
    out = []
    while n:
        if mode == "vmap" or buckets[0] > n:
            size = bucket_size(n, buckets)
        else:
            size = max(b for b in buckets if b <= n)
        out.append((min(n, size), size))
        n -= out[-1][0]
    return out


def _run_group(task, members, mode, buckets, masks=None, warm=False) -> list:
    """Each member's outputs, the members run in bucket-sized group calls (``_pieces``);
    with ``warm`` also once at every bucket size (to compile them), members repeated."""
    if warm:
        for size in buckets:
            rows = [k % len(members) for k in range(size)]
            m = None if masks is None else masks[rows]
            _group_call(tuple(members[k] for k in rows), m, task=task, mode=mode)
    out = []
    start = 0
    for n, size in _pieces(len(members), mode, buckets):
        chunk = tuple(members[start : start + n])
        padded = chunk + (chunk[0],) * (size - n)
        m = None
        if masks is not None:
            m = masks[start : start + n]
            m = np.concatenate([m, np.repeat(m[:1], size - n, axis=0)])
        out.extend(_group_call(padded, m, task=task, mode=mode)[:n])
        start += n
    return out


# ----------------------------------------------------------------------------- passes


def unit_quantities_batched(
    params_list,
    plans,
    x,
    want: tuple[str, ...],
    labels=None,
    *,
    mode: str | None = None,
    buckets: tuple[int, ...] | None = None,
    warm_buckets: bool = False,
) -> list[dict[netplan.Path, dict[str, jax.Array]]]:
    """``[engine.unit_quantities(params_list[i], plans[i], x, want, labels=labels)]`` for a
    chunk of architectures of one family, computed with ops grouped across architectures.

    Args:
      params_list: each architecture's parameters (``engine.init_params``; not stacked).
      plans: their plans, of one family (``check_family``; ValueError otherwise).
      x: the input batch [B, H, W, C] all architectures run on, or one per architecture.
      want: names from ``UNIT_FIELDS``.
      labels: [B] class labels (or one such array per architecture): gradients of the mean
        cross-entropy instead of the sum of the logits.
      mode: ``"vmap"`` or ``"loop"`` (how a group call runs its members; see the module
        docstring); None for ``default_mode()``.
      buckets: group call sizes (``BUCKETS[mode]`` if None); larger groups are split.
      warm_buckets: also run every group at every bucket size, compiling them all, so that
        later chunks whose groups have other sizes compile nothing (for a warm-up chunk).
    """
    unknown = set(want) - set(UNIT_FIELDS)
    if unknown:
        raise ValueError(f"Unknown unit quantities {sorted(unknown)}; known: {UNIT_FIELDS}.")
    want = tuple(f for f in UNIT_FIELDS if f in want)
    plans = tuple(plans)
    params_list = list(params_list)
    if len(params_list) != len(plans):
        raise ValueError(f"Got {len(params_list)} parameter trees for {len(plans)} plans.")
    if not plans:
        return []
    mode = default_mode() if mode is None else mode
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; expected one of {MODES}.")
    check_family(plans)
    buckets = tuple(sorted(BUCKETS[mode] if buckets is None else buckets))
    # No group is larger than the chunk: larger buckets would only be warmed for nothing.
    buckets = tuple(b for b in buckets if b <= bucket_size(len(plans), buckets))

    by_position = collections.defaultdict(list)
    for i, plan in enumerate(plans):
        for op, position in zip(plan.ops, positions(plan)):
            by_position[position].append((i, op))
    order = sorted(by_position)

    def groups_at(position, select):
        """Members at ``position`` grouped by kernel: {key: [(i, op, rule, inputs)]}."""
        groups = collections.defaultdict(list)
        for i, op in by_position[position]:
            rule = rule_of(op)
            if not select(i, op, rule):
                continue
            xs = tuple(values[i][v] for v in rule.inputs(op))
            groups[(_config(op), tuple(a.shape for a in xs))].append((i, op, rule, xs))
        return groups

    xs = list(x) if isinstance(x, (list, tuple)) else [x] * len(plans)
    if labels is not None and not isinstance(labels, (list, tuple)):
        labels = [labels] * len(plans)
    if len(xs) != len(plans) or (labels is not None and len(labels) != len(plans)):
        raise ValueError(f"Got inputs or labels for other than the {len(plans)} plans.")
    values = [{0: xi} for xi in xs]
    for position in order:
        for (cfg, _), members in groups_at(position, lambda i, op, rule: True).items():
            args = [(rule.take(op, params_list[i]), xs) for i, op, rule, xs in members]
            for (i, op, _, _), y in zip(
                members, _run_group(("forward", cfg), args, mode, buckets, warm=warm_buckets)
            ):
                values[i][op.dst] = y

    units = [{} for _ in plans]
    if not any(f in GRAD_FIELDS for f in want):
        for position in order:
            groups = groups_at(position, lambda i, op, rule: rule.unit)
            for (cfg, _), members in groups.items():
                args = [(rule.take(op, params_list[i]), xs[0]) for i, op, rule, xs in members]
                outs = _run_group(("acts", cfg, want), args, mode, buckets, warm=warm_buckets)
                for (i, op, _, _), q in zip(members, outs):
                    units[i][op.path] = q
        return [{u.path: units[i][u.path] for u in plan.units} for i, plan in enumerate(plans)]

    logits = [(values[i][plan.output],) for i, plan in enumerate(plans)]
    if labels is not None:
        logits = [(y, yl) for (y,), yl in zip(logits, labels)]
    cots = _run_group(("cotangent", labels is not None), logits, mode, buckets, warm=warm_buckets)
    pending = [{plan.output: [g]} for plan, g in zip(plans, cots)]

    for position in reversed(order):
        gys = {}

        def select(i, op, rule, gys=gys):
            gys[i, op.dst] = pending[i].pop(op.dst, [])
            return bool(gys[i, op.dst]) or rule.unit

        for (cfg, _), members in groups_at(position, select).items():
            slots = bucket_size(max(len(gys[i, op.dst]) for i, op, _, _ in members), SLOTS)
            args, masks = [], np.zeros((len(members), slots), bool)
            for row, (i, op, rule, xs) in enumerate(members):
                g = gys[i, op.dst]
                masks[row, : len(g)] = True
                g = tuple(g) + (values[i][op.dst],) * (slots - len(g))
                args.append((rule.take(op, params_list[i]), xs, g))
            outs = _run_group(("backward", cfg, want), args, mode, buckets, masks, warm_buckets)
            for (i, op, rule, _), (gxs, q) in zip(members, outs):
                if rule.unit:
                    units[i][op.path] = q
                for v, g in zip(rule.inputs(op), gxs):
                    if g is not None:
                        pending[i].setdefault(v, []).append(g)
    return [{u.path: units[i][u.path] for u in plan.units} for i, plan in enumerate(plans)]
