"""What each plan op means, in one place: ``OP_RULES[type(op)]`` is the op type's ``OpRule``.

A rule says how its op shapes values, creates, finds and files parameters, runs forward and
backward with the engine's kernels, and counts costs. The engine, the spaces' Flax rendering
of plans and the proxies look ops up here instead of switching on their types, so a new op
type is one entry (tests parametrised over ``OP_RULES`` check it).

Parameters in "kernel layout" are what an op's kernels take, e.g. a Conv's
``{"conv": kernel, "bn": {scale, bias}}``; ``place`` files them under the tree's paths.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from zcjax import netplan
from zcjax.engine.paths import get_path
from zcjax.nn import InitScheme, conv_fans, strided_size

Shape = tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class OpRule:
    """The rules of one plan op type (defaults: an op without parameters or costs).

    Attributes:
      inputs: op -> ids of the values it reads.
      shape: (op, input shapes) -> output shape, [B, H, W, C] or logits [B, classes].
      forward: (kernels, op, p, inputs) -> output; ``p`` in kernel layout, kernels a table of
        ``kernels.KERNELS``.
      backward: (kernels, op, p, inputs, gy, want, extras) -> (cotangent per input, None where
        none; unit quantities in ``want`` or None; extras: "params" grads in kernel layout
        and/or "layer" (layer output, its gradient), as asked by ``extras``).
      init: (op, input shapes, scheme, draw) -> fresh params in kernel layout, drawn in order
        by ``draw(dist, shape, fans)``.
      take: (op, params tree) -> its params in kernel layout ({} for none).
      place: (op, params in kernel layout) -> [(path, subtree)]: where they live in the tree.
      costs: (op, input shapes, output shape) -> (params, FLOPs) at batch 1, FLOPs being conv
        and linear multiply-accumulates (``spaces.costs`` convention).
      weight: params in kernel layout -> the layer weight whose output "layer" extras report,
        [kh, kw, C_in / groups, C_out] or [C_in, classes]; None for ops without one.
      relu_input: (kernels, op, p, inputs) -> the input of a ReLU the op applies as its own
        module, or None.
      residual: (kernels, op, p, inputs) -> (output, residual) or None: what the op's
        ``backward`` takes as ``residual=`` instead of recomputing its forward (units: the
        conv output before BN); None (the field or its result): nothing kept.
      unit: whether the op is a ReLU-Conv-BN unit: it reports unit quantities, and its
        backward runs (with zero cotangents) even when its output reaches no logit.
    """

    inputs: Callable
    shape: Callable
    forward: Callable
    backward: Callable
    init: Callable = lambda op, shapes, scheme, draw: {}
    take: Callable = lambda op, params: {}
    place: Callable = lambda op, p: []
    costs: Callable = lambda op, shapes, out: (0, 0)
    weight: Callable | None = None
    relu_input: Callable = lambda k, op, p, xs: None
    residual: Callable | None = None
    unit: bool = False


def rule_of(op) -> OpRule:
    """The rule of ``op``'s type; TypeError for an op type without one."""
    try:
        return OP_RULES[type(op)]
    except KeyError:
        raise TypeError(f"Unknown plan op {op!r}") from None


def bn_init(features: int) -> dict:
    return {"scale": np.ones((features,), np.float32), "bias": np.zeros((features,), np.float32)}


def _src(op) -> tuple[int, ...]:
    return (op.src,)


def _spatial(shapes, stride, features=None) -> Shape:
    """[B, H, W, C] of a strided op on its first input; ``features`` channels if given."""
    b, h, w, c = shapes[0]
    return (b, *strided_size(h, w, stride), c if features is None else features)


# ----------------------------------------------------------------------------- Unit


def unit_convs(op: netplan.Unit, in_shape: Shape) -> tuple:
    """A unit's convs on an input [B, H, W, C], in init order: (name, kernel shape
    [kh, kw, C_in / groups, C_out], output (H, W)). FactorizedReduce's two convs both read
    the ReLU output; other convs read the previous one's output."""
    _, h, w, c_in = in_shape
    body = op.body
    if body.factorized:
        half = (1, 1, c_in, op.features // 2)
        size = strided_size(h, w, body.main.stride)
        return (("conv_1", half, size), ("conv", half, size))
    convs = []
    for c in body.pre:
        c_out = c.features or c_in
        per_group = 1 if c.groups == 0 else c_in // c.groups
        h, w = strided_size(h, w, c.stride)
        convs.append((c.name, (*c.kernel, per_group, c_out), (h, w)))
        c_in = c_out
    h, w = strided_size(h, w, body.main.stride)
    convs.append(("conv", (*body.main.kernel, c_in // body.main.groups, op.features), (h, w)))
    return tuple(convs)


def _unit_shape(op, shapes):
    return (shapes[0][0], *unit_convs(op, shapes[0])[-1][2], op.features)


def _unit_init(op, shapes, scheme: InitScheme, draw):
    p = {
        name: {"kernel": draw(scheme.conv, shape, conv_fans(shape))}
        for name, shape, _ in unit_convs(op, shapes[0])
    }
    if op.bn:
        p["bn"] = bn_init(op.features)
    return p


def _unit_backward(k, op, p, xs, gy, want, extras, residual=None):
    gx, q, more = k["unit_bwd"](p, xs[0], gy, residual, body=op.body, want=want, extras=extras)
    return (gx,), q, more


def _unit_residual(k, op, p, xs):
    # Without BN the output is the conv output: nothing to keep besides it.
    return k["unit_res"](p, xs[0], body=op.body) if op.bn else None


def _unit_costs(op, shapes, out):
    convs = unit_convs(op, shapes[0])
    params = sum(math.prod(shape) for _, shape, _ in convs) + (2 * op.features if op.bn else 0)
    flops = sum(math.prod(shape) * h * w for _, shape, (h, w) in convs)
    return params, flops


UNIT = OpRule(
    inputs=_src,
    shape=_unit_shape,
    forward=lambda k, op, p, xs: k["unit"](p, xs[0], body=op.body),
    backward=_unit_backward,
    init=_unit_init,
    # A BN-free unit ignores a "bn" entry (a BN-free variant run on the full network's params).
    take=lambda op, params: {
        n: v for n, v in get_path(params, op.path).items() if n != "bn" or op.bn
    },
    place=lambda op, p: [(op.path, p)],
    costs=_unit_costs,
    weight=lambda p: p["conv"]["kernel"],
    relu_input=lambda k, op, p, xs: None if op.shared_relu else xs[0],
    residual=_unit_residual,
    unit=True,
)


# ----------------------------------------------------------------------------- Conv


def _conv_init(op, shapes, scheme: InitScheme, draw):
    shape = (op.kernel, op.kernel, shapes[0][-1], op.features)
    p = {"conv": draw(scheme.conv, shape, conv_fans(shape))}
    if op.bn_path is not None:
        p["bn"] = bn_init(op.features)
    return p


def _conv_take(op, params):
    p = {"conv": get_path(params, op.path)["kernel"]}
    if op.bn_path is not None:
        p["bn"] = get_path(params, op.bn_path)
    return p


def _conv_backward(k, op, p, xs, gy, want, extras):
    gx, more = k["conv_bwd"](p, xs[0], gy, stride=op.stride, extras=extras)
    return (gx,), None, more


def _conv_costs(op, shapes, out):
    size = op.kernel**2 * shapes[0][-1] * op.features
    bn = 2 * op.features if op.bn_path is not None else 0
    return size + bn, size * math.prod(out[1:3])


CONV = OpRule(
    inputs=_src,
    shape=lambda op, shapes: _spatial(shapes, op.stride, op.features),
    forward=lambda k, op, p, xs: k["conv"](p, xs[0], stride=op.stride),
    backward=_conv_backward,
    init=_conv_init,
    take=_conv_take,
    place=lambda op, p: (
        [(op.path, {"kernel": p["conv"]})] + ([(op.bn_path, p["bn"])] if "bn" in p else [])
    ),
    costs=_conv_costs,
    weight=lambda p: p["conv"],
)


# ----------------------------------------------------------------------------- Pool


def _pool_args(op: netplan.Pool) -> dict:
    return {"window": op.window, "stride": op.stride, "padding": op.padding, "kind": op.kind}


POOL = OpRule(
    inputs=_src,
    shape=lambda op, shapes: _spatial(shapes, op.stride),
    forward=lambda k, op, p, xs: k["pool"](xs[0], **_pool_args(op)),
    backward=lambda k, op, p, xs, gy, want, extras: (
        (k["pool_bwd"](xs[0], gy, **_pool_args(op)),),
        None,
        {},
    ),
)


# ----------------------------------------------------------------------------- Add


def _add_forward(k, op, p, xs):
    if op.srcs:
        return k["add"](*xs)
    if op.stride == 1:
        return k["zeros_like"](xs[0])
    return k["zeros_strided"](xs[0], stride=op.stride)


ADD = OpRule(
    # With no sources the op reads ``like`` for its shape only (no gradient flows to it).
    inputs=lambda op: op.srcs or (op.like,),
    shape=lambda op, shapes: shapes[0] if op.srcs else _spatial(shapes, op.stride),
    forward=_add_forward,
    backward=lambda k, op, p, xs, gy, want, extras: (
        (gy,) * len(op.srcs) if op.srcs else (None,),
        None,
        {},
    ),
)


# ----------------------------------------------------------------------------- Concat

CONCAT = OpRule(
    inputs=lambda op: op.srcs,
    shape=lambda op, shapes: (*shapes[0][:-1], sum(s[-1] for s in shapes)),
    forward=lambda k, op, p, xs: k["concat"](*xs),
    backward=lambda k, op, p, xs, gy, want, extras: (
        k["concat_bwd"](gy, sizes=tuple(x.shape[-1] for x in xs)),
        None,
        {},
    ),
)


# ----------------------------------------------------------------------------- Relu

RELU = OpRule(
    inputs=_src,
    shape=lambda op, shapes: shapes[0],
    forward=lambda k, op, p, xs: k["relu"](xs[0]),
    backward=lambda k, op, p, xs, gy, want, extras: ((k["relu_bwd"](xs[0], gy),), None, {}),
)


# ----------------------------------------------------------------------------- Head


def _head_init(op, shapes, scheme: InitScheme, draw):
    c_in = shapes[0][-1]
    shape = (c_in, op.classes)
    fans = conv_fans(shape)
    p = {
        "linear": {
            "kernel": draw(scheme.linear, shape, fans),
            "bias": draw(scheme.linear_bias, shape[1:], fans),
        }
    }
    if op.bn_path is not None:
        p["bn"] = bn_init(c_in)
    return p


def _head_take(op, params):
    p = {"linear": get_path(params, op.linear_path)}
    if op.bn_path is not None:
        p["bn"] = get_path(params, op.bn_path)
    return p


def _head_backward(k, op, p, xs, gy, want, extras):
    gx, more = k["head_bwd"](p, xs[0], gy, relu=op.relu, extras=extras)
    return (gx,), None, more


def _head_costs(op, shapes, out):
    c_in = shapes[0][-1]
    linear = c_in * op.classes + op.classes
    return linear + (2 * c_in if op.bn_path is not None else 0), linear


HEAD = OpRule(
    inputs=_src,
    shape=lambda op, shapes: (shapes[0][0], op.classes),
    forward=lambda k, op, p, xs: k["head"](p, xs[0], relu=op.relu),
    backward=_head_backward,
    init=_head_init,
    take=_head_take,
    place=lambda op, p: (
        ([(op.bn_path, p["bn"])] if "bn" in p else []) + [(op.linear_path, p["linear"])]
    ),
    costs=_head_costs,
    weight=lambda p: p["linear"]["kernel"],
    relu_input=lambda k, op, p, xs: k["head_pre"](p, xs[0]) if op.relu else None,
)


OP_RULES: dict[type, OpRule] = {
    netplan.Unit: UNIT,
    netplan.Conv: CONV,
    netplan.Pool: POOL,
    netplan.Add: ADD,
    netplan.Concat: CONCAT,
    netplan.Relu: RELU,
    netplan.Head: HEAD,
}
