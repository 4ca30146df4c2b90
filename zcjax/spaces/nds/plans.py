"""Networks: an NDS ``Model`` as a ``netplan.Plan`` (``plan``), built as a DARTS-style cell
network or a pycls AnyNet with its stem, and as a Flax module (``network``).
"""

from __future__ import annotations

import dataclasses
import functools
import json

from zcjax import netplan
from zcjax.spaces.nds.nets import check_net
from zcjax.spaces.nds.schema import CELL_OPS, INPUT_SIZE, NUM_CLASSES, Model, NdsError
from zcjax.spaces.plan_network import PlanNetwork


def plan(model: Model, dataset: str = "imagenet", bn: bool = True) -> netplan.Plan:
    """The network of ``model`` as a plan (``bn=False``: every BN removed, for synflow)."""
    if dataset not in NUM_CLASSES:
        raise ValueError(f"Unknown NDS dataset {dataset!r}; expected one of {sorted(NUM_CLASSES)}.")
    return _plan(model.net, dataset, bn)


@functools.lru_cache(maxsize=64)
def _plan(net_json: str, dataset: str, bn: bool) -> netplan.Plan:
    net = json.loads(net_json)
    b = netplan.Builder()
    if check_net(net) == "cell":
        out = _cell_network(b, net, dataset, bn)
    else:
        out = _anynet(b, net, dataset, bn)
    size = INPUT_SIZE[dataset]
    return b.build(out, (size, size, 3))


def _bn(path, bn):
    return path if bn else None


def _cell_network(b: netplan.Builder, net: dict, dataset: str, bn: bool) -> int:
    c, depth, genotype = net["width"], net["depth"], net["genotype"]
    if dataset == "imagenet" and c % 2:  # pycls's FactorizedReduce of the first cell asserts it
        raise NdsError(f"an ImageNet cell network needs an even width, got {c}.")
    if dataset == "imagenet":
        s0 = b.conv(("stem0", "conv_0"), 0, c // 2, 3, stride=2, bn_path=_bn(("stem0", "bn_0"), bn))
        s0 = b.block(b.unit(("stem0", "unit_1"), s0, c, 3, stride=2, bn=bn))
        s1 = b.block(b.unit(("stem1",), s0, c, 3, stride=2, bn=bn))
        reduction_prev = True
    else:
        s0 = s1 = b.block(b.conv(("stem", "conv"), 0, 3 * c, 3, bn_path=_bn(("stem", "bn"), bn)))
        reduction_prev = False
    c_curr = c
    for i in range(depth):
        reduction = i in (depth // 3, 2 * depth // 3)
        c_curr = c_curr * 2 if reduction else c_curr
        kind = "reduce" if reduction else "normal"
        cell = _cell(
            b,
            f"cell_{i}",
            genotype[kind],
            genotype[f"{kind}_concat"],
            s0,
            s1,
            c_curr,
            reduction,
            reduction_prev,
            bn,
        )
        s0, s1 = s1, b.block(cell)
        reduction_prev = reduction
    return b.head(None, ("classifier",), s1, NUM_CLASSES[dataset], relu=False)


def _cell(b, name, edges, concat, s0, s1, c, reduction, reduction_prev, bn) -> int:
    if reduction_prev:
        s0 = b.unit((name, "preprocess0"), s0, c, 1, stride=2, factorized=True, bn=bn)
    else:
        s0 = b.unit((name, "preprocess0"), s0, c, 1, bn=bn)
    s1 = b.unit((name, "preprocess1"), s1, c, 1, bn=bn)
    states = [s0, s1]
    for node in range(len(edges) // 2):
        inputs, zero_like = [], None
        for j in (2 * node, 2 * node + 1):
            op, src = edges[j]
            stride = 2 if reduction and src < 2 else 1
            y = _cell_op(b, (name, f"op_{j}"), op, states[src], c, stride, bn)
            if y is None:
                zero_like = zero_like or (states[src], stride)
            else:
                inputs.append(y)
        if inputs:
            states.append(b.add(tuple(inputs)))
        else:
            states.append(b.add((), like=zero_like[0], stride=zero_like[1]))
    return b.concat(tuple(states[i] for i in concat))


def _cell_op(b, path, op, x, c, stride, bn) -> int | None:
    """One genotype op on value ``x``; None for ``none`` (it adds nothing)."""
    kind, k = CELL_OPS[op]
    if kind == "none":
        return None
    if kind == "skip":
        return x if stride == 1 else b.unit(path, x, c, 1, stride=2, factorized=True, bn=bn)
    if kind in ("avg_pool", "max_pool"):
        return b.pool(x, k, stride, (k - 1) // 2, kind=kind.removesuffix("_pool"))
    if kind == "conv":
        return b.unit(path, x, c, k, stride=stride, bn=bn)
    if kind == "factorized_conv":
        pre = (netplan.PreConv(f"conv_1x{k}", (1, k), (1, stride)),)
        return b.unit(path, x, c, (k, 1), stride=(stride, 1), pre=pre, bn=bn)
    dilation = 2 if kind.startswith("dil") else 1
    depthwise = netplan.PreConv("depthwise", (k, k), (stride, stride), dilation, groups=0)
    if kind == "dil_conv":
        return b.unit(path, x, c, 1, pre=(depthwise,), bn=bn)
    y = b.unit((*path, "a"), x, c, 1, pre=(depthwise,), bn=bn)
    depthwise = dataclasses.replace(depthwise, stride=(1, 1))
    return b.unit((*path, "b"), y, c, 1, pre=(depthwise,), bn=bn)


def _anynet(b: netplan.Builder, net: dict, dataset: str, bn: bool) -> int:
    ds, ws, ss = net["ds"], net["ws"], net["ss"]
    v = b.block(_stem(b, ws[0], ss[0], bn))
    if (ss[0] == 1) != (dataset == "cifar10"):
        raise NdsError(
            f"stem stride {ss[0]} does not fit dataset {dataset!r} (1: cifar10, 4/8: imagenet)."
        )
    w_in = ws[0]
    block = net["block_type"]
    for stage in range(1, len(ds)):
        w = ws[stage]
        for i in range(ds[stage]):
            name = f"s{stage}_b{i + 1}"
            stride = ss[stage] if i == 0 else 1
            if block == "double_plain_block":
                a = b.unit((name, "a"), v, w, 3, stride=stride, bn=bn)
                v = b.unit((name, "b"), a, w, 3, bn=bn)
            else:
                if block == "res_basic_block":
                    a = b.unit((name, "a"), v, w, 3, stride=stride, bn=bn)
                    out = b.unit((name, "b"), a, w, 3, bn=bn)
                else:
                    w_b = int(round(w * net["bot_muls"][stage]))
                    groups = net["num_gs"][stage]
                    a = b.unit((name, "a"), v, w_b, 1, bn=bn)
                    a = b.unit((name, "b"), a, w_b, 3, stride=stride, groups=groups, bn=bn)
                    out = b.unit((name, "c"), a, w, 1, bn=bn)
                if w_in != w or stride != 1:
                    shortcut = b.unit(
                        (name, "proj"), v, w, 1, stride=stride, bn=bn, shared_relu=True
                    )
                else:
                    shortcut = b.relu(v)
                v = b.add((out, shortcut))
            b.block(v)
            w_in = w
    return b.head(None, ("head", "fc"), v, NUM_CLASSES[dataset])


def _stem(b: netplan.Builder, w: int, stride: int, bn: bool) -> int:
    """The stem's output (a pre-activation). 1: CIFAR conv3x3; 4: ResNet's conv7x7 s2 + max
    pool s2; 8: ResNeXt's three conv3x3 + BN, 3 -> 32 -> 64 -> w, each stride 2 (56,480
    params for w = 64, and the records' FLOPs pin the strides)."""
    if stride == 1:
        return b.conv(("stem", "conv"), 0, w, 3, bn_path=_bn(("stem", "bn"), bn))
    if stride == 4:
        v = b.conv(("stem", "conv"), 0, w, 7, stride=2, bn_path=_bn(("stem", "bn"), bn))
        return b.pool(v, 3, 2, 1, kind="max")
    v = b.conv(("stem", "conv_0"), 0, 32, 3, stride=2, bn_path=_bn(("stem", "bn_0"), bn))
    v = b.unit(("stem", "unit_1"), v, 64, 3, stride=2, bn=bn)
    v = b.unit(("stem", "unit_2"), v, w, 3, stride=2, bn=bn)
    return v


def network(model: Model, dataset: str = "imagenet", **kwargs) -> PlanNetwork:
    """The Flax module of ``model`` (``plan_network.PlanNetwork`` of its plan)."""
    return PlanNetwork(plan(model, dataset), **kwargs)
