"""Costs: params and FLOPs of a plan (``plan_costs``) and of a ``Model`` as the NDS records
count them (``costs``), whose FLOPs add per-op extras to the conv and linear multiply-adds.
"""

from __future__ import annotations

import math

from zcjax import engine, netplan
from zcjax.nn import strided_size
from zcjax.spaces.costs import Costs
from zcjax.spaces.nds.nets import check_net
from zcjax.spaces.nds.plans import plan
from zcjax.spaces.nds.schema import Model


def plan_costs(p: netplan.Plan) -> Costs:
    """Params and FLOPs of a plan at its input shape, batch 1 (``spaces.costs`` convention)."""
    return Costs(*engine.plan_costs(p))


def costs(model: Model, dataset: str = "imagenet") -> Costs:
    """Params and FLOPs of ``model`` as the NDS records count them.

    Params are ``plan_costs``'s. The records' FLOPs add to the conv and linear multiply-adds
    (found by fitting, and reproducing every record held exactly): for cell networks one per
    ReLU input element, ``k * k`` per pooled output element and one per globally pooled input
    element, with a dilated conv's depthwise part counted at the output size its counter got
    by ignoring dilation, ``(H + 2 * pad - k) // stride + 1``; for AnyNet networks five per BN
    output element.
    """
    p = plan(model, dataset)
    base = plan_costs(p)
    return Costs(base.params, base.flops + _record_flops_extra(p, check_net(model.config)))


def _record_flops_extra(p: netplan.Plan, family: str) -> int:
    shapes = engine.value_shapes(p)
    extras = _CELL_EXTRA if family == "cell" else _ANYNET_EXTRA
    return sum(extras[type(op)](op, shapes) for op in p.ops if type(op) in extras)


def _size(shape) -> int:
    """Elements of one sample of a value of ``shape`` [B, ...]."""
    return math.prod(shape[1:])


def _cell_unit_extra(op: netplan.Unit, shapes) -> int:
    """Its ReLU's input elements, and the dilated depthwise conv's miscounted output."""
    extra = _size(shapes[op.src])
    dilated = [c for c in op.pre if c.dilation > 1]
    if dilated:
        c = dilated[0]
        (k, _), (s, _) = c.kernel, c.stride
        h, w, c_in = shapes[op.src][1:]
        pad = c.dilation * (k - 1) // 2
        counted = ((h + 2 * pad - k) // s + 1) * ((w + 2 * pad - k) // s + 1)
        extra += (counted - math.prod(strided_size(h, w, s))) * k * k * c_in
    return extra


# What the records' FLOP counter adds per op type, beyond the conv and linear MACs (``costs``).
_CELL_EXTRA = {
    netplan.Unit: _cell_unit_extra,
    netplan.Pool: lambda op, shapes: _size(shapes[op.dst]) * op.window**2,
    netplan.Head: lambda op, shapes: _size(shapes[op.src]),
}
_ANYNET_EXTRA = {  # five per BN output element
    netplan.Unit: lambda op, shapes: 5 * _size(shapes[op.dst]) if op.bn else 0,
    netplan.Conv: lambda op, shapes: 5 * _size(shapes[op.dst]) if op.bn_path else 0,
}
