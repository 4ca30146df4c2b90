"""Forward and backward passes over a plan, op by op, with the ops' rules and jitted kernels.

The backward pass is reverse-mode by hand over the plan: each kernel's backward is the
``jax.vjp`` of its forward, and cotangents add up over a value's consumers. The gradient is of
the sum of the logits (no labels, no loss), as EZNAS's statistics use, or of the mean
cross-entropy. With ``vmapped=True`` every kernel is vmapped over a leading axis of K
initialisations (for accelerators).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from zcjax import netplan
from zcjax.engine.kernels import KERNELS
from zcjax.engine.paths import Params, set_path
from zcjax.engine.rules import rule_of

# Per-unit quantities the engine can report (see ``zcjax.stats`` for the terminals built on them).
UNIT_FIELDS = (
    "weight",
    "weight_grad",
    "relu_in",
    "conv_in",
    "bn_out",
    "relu_in_grad",
    "conv_in_grad",
    "bn_out_grad",
)
GRAD_FIELDS = tuple(f for f in UNIT_FIELDS if f.endswith("_grad"))


def forward(
    params: Params, plan: netplan.Plan, x: jax.Array, vmapped: bool = False, lean: bool = False
) -> dict:
    """All values of the plan: ``{value id: array}``; ``values[plan.output]`` are the logits.

    With ``lean``, a value that only Adds read (e.g. an NB201 edge's output; not the input,
    a block output or the logits) is replaced by its ``jax.ShapeDtypeStruct`` once its last
    reader has run: ``backward``, ``backward_between`` and ``relu_inputs`` need only the
    values they get, and the forward pass holds about half the activations (NB201).
    """
    return _forward(params, plan, x, vmapped, keep=False, lean=lean)[0]


def add_only_values(plan: netplan.Plan) -> dict[int, int]:
    """{value id: index of its last reader in ``plan.ops``} of the values that only Adds with
    sources read, besides the input, the block outputs and the logits (``forward(lean=)``)."""
    readers: dict[int, list[int]] = {}
    for i, op in enumerate(plan.ops):
        for v in rule_of(op).inputs(op):
            readers.setdefault(v, []).append(i)
    kept = {0, plan.output, *plan.blocks}
    return {
        v: ops[-1]
        for v, ops in readers.items()
        if v not in kept
        and all(isinstance(plan.ops[i], netplan.Add) and plan.ops[i].srcs for i in ops)
    }


def forward_with_residuals(
    params: Params, plan: netplan.Plan, x: jax.Array, vmapped: bool = False
) -> tuple[dict, dict]:
    """``forward``'s values and the residuals ``{op dst: array}`` that ``backward(...,
    residuals=)`` reads instead of recomputing (a unit's conv output before BN: its forward +
    backward ~20% faster on a CPU, one more activation per unit held)."""
    return _forward(params, plan, x, vmapped, keep=True)


def _forward(params, plan, x, vmapped, keep, lean=False):
    k = KERNELS[vmapped]
    values, residuals = {0: x}, {}
    release: dict[int, list[int]] = {}
    for v, last in (add_only_values(plan) if lean else {}).items():
        release.setdefault(last, []).append(v)
    for i, op in enumerate(plan.ops):
        rule = rule_of(op)
        inputs = [values[v] for v in rule.inputs(op)]
        p = rule.take(op, params)
        pair = rule.residual(k, op, p, inputs) if keep and rule.residual else None
        if pair is None:
            values[op.dst] = rule.forward(k, op, p, inputs)
        else:
            values[op.dst], residuals[op.dst] = pair
        for v in release.get(i, ()):
            values[v] = jax.ShapeDtypeStruct(values[v].shape, values[v].dtype)
    return values, residuals


def relu_inputs(params: Params, plan: netplan.Plan, values: dict) -> list[jax.Array]:
    """The input of every ReLU module of the network, in plan order (a ReLU shared by several
    ops counts once), given the forward ``values``."""
    k = KERNELS[False]
    found = []
    for op in plan.ops:
        rule = rule_of(op)
        inputs = [values[v] for v in rule.inputs(op)]
        x = rule.relu_input(k, op, rule.take(op, params), inputs)
        if x is not None:
            found.append(x)
    return found


def unit_quantities(
    params: Params,
    plan: netplan.Plan,
    x: jax.Array,
    want: tuple[str, ...],
    vmapped: bool = False,
    labels: jax.Array | None = None,
) -> dict[netplan.Path, dict[str, jax.Array]]:
    """Per unit (by path, in plan order) the quantities in ``want`` (names from UNIT_FIELDS).

    Gradients are of the sum of the logits, or of the mean cross-entropy with ``labels`` [B]
    ([K, B] when vmapped) if given. Runs the backward pass only when a gradient is wanted.
    Units that do not reach the logits get zero gradients, as autodiff gives them.
    """
    unknown = set(want) - set(UNIT_FIELDS)
    if unknown:
        raise ValueError(f"Unknown unit quantities {sorted(unknown)}; known: {UNIT_FIELDS}.")
    want = tuple(f for f in UNIT_FIELDS if f in want)
    k = KERNELS[vmapped]
    if not any(f in GRAD_FIELDS for f in want):
        values = forward(params, plan, x, vmapped)
        return {
            op.path: k["unit_acts"](
                rule_of(op).take(op, params), values[op.src], body=op.body, want=want
            )
            for op in plan.units
        }
    values, residuals = forward_with_residuals(params, plan, x, vmapped)
    cot = logit_cotangent(values[plan.output], labels, vmapped)
    return backward(
        params, plan, values, cot, want=want, vmapped=vmapped, residuals=residuals
    ).units


def logit_cotangent(logits: jax.Array, labels: jax.Array | None = None, vmapped: bool = False):
    """Where backward passes start: d(sum of logits) = ones, or d(mean CE)/d(logits)."""
    if labels is None:
        return jnp.ones_like(logits)
    return KERNELS[vmapped]["xent_cotangent"](logits, labels)


@dataclasses.dataclass(frozen=True)
class Backward:
    """What ``backward`` computed.

    Attributes:
      units: {unit path: {quantity: array}} for the quantities asked for.
      input: gradient w.r.t. the input batch (value 0; zeros if the logits do not depend on it).
      params: gradients of all parameters (a tree like ``params``) if asked for, else None.
      layers: {op dst: (layer output before BN, gradient w.r.t. it)} for every conv/linear
        layer if asked for, else None.
    """

    units: dict
    input: jax.Array
    params: Params | None
    layers: dict | None


def backward(
    params: Params,
    plan: netplan.Plan,
    values: dict,
    cotangent: jax.Array,
    *,
    want: tuple[str, ...] = (),
    param_grads: bool = False,
    layers: bool = False,
    vmapped: bool = False,
    residuals: dict | None = None,
) -> Backward:
    """Reverse pass over ``plan`` from ``cotangent`` at the logits, given the forward ``values``
    (and the ``residuals`` of ``forward_with_residuals``, if kept: then units do not recompute
    their convs).

    Cotangents add up over a value's consumers; ops whose output gets none are skipped (units
    still report zero gradients, and their parameters get zero gradients).
    """
    residuals = residuals or {}
    k = KERNELS[vmapped]
    extras = tuple(e for e, on in (("params", param_grads), ("layer", layers)) if on)
    cot = {plan.output: cotangent}
    units, grads, layer_out = {}, {}, {}

    def accumulate(v, g):
        cot[v] = g if v not in cot else k["add"](cot[v], g)

    for op in reversed(plan.ops):
        rule = rule_of(op)
        gy = cot.pop(op.dst, None)
        if gy is None:
            if not rule.unit:
                continue
            y = values[op.dst]  # a ShapeDtypeStruct if a lean forward released it
            gy = k["zeros_like"](y) if isinstance(y, jax.Array) else jnp.zeros(y.shape, y.dtype)
        srcs = rule.inputs(op)
        p = rule.take(op, params)
        xs = [values[v] for v in srcs]
        if op.dst in residuals:
            gxs, q, more = rule.backward(k, op, p, xs, gy, want, extras, residuals[op.dst])
        else:
            gxs, q, more = rule.backward(k, op, p, xs, gy, want, extras)
        if rule.unit:
            units[op.path] = q
        if "params" in more:
            for path, g in rule.place(op, more["params"]):
                set_path(grads, path, g)
        if "layer" in more:
            layer_out[op.dst] = more["layer"]
        for v, g in zip(srcs, gxs):
            if g is not None:
                accumulate(v, g)
    return Backward(
        units={u.path: units[u.path] for u in plan.units},
        input=cot[0] if 0 in cot else jnp.zeros_like(values[0]),
        params=_complete(params, grads) if param_grads else None,
        layers=layer_out if layers else None,
    )


def backward_between(
    params: Params, plan: netplan.Plan, values: dict, src: int, dst: int, cotangent: jax.Array
) -> jax.Array | None:
    """The vector-Jacobian product of value ``dst`` w.r.t. value ``src``: the gradient of
    <cotangent, dst> through every path from ``src`` to ``dst`` (``torch.autograd.grad(dst, src,
    cotangent)``), values that do not depend on ``src`` held fixed; None if ``dst`` does not
    depend on ``src``. Runs only the ops after ``src``'s producer, up to ``dst``'s.
    """
    if src == dst:
        return cotangent
    k = KERNELS[False]
    position = {op.dst: i for i, op in enumerate(plan.ops)}
    first = position[src] + 1 if src else 0
    cot = {dst: cotangent}
    for op in reversed(plan.ops[first : position[dst] + 1]):
        gy = cot.pop(op.dst, None)
        if gy is None:
            continue
        rule = rule_of(op)
        srcs = rule.inputs(op)
        xs = [values[v] for v in srcs]
        gxs, _, _ = rule.backward(k, op, rule.take(op, params), xs, gy, (), ())
        for v, g in zip(srcs, gxs):
            if g is not None:
                cot[v] = g if v not in cot else k["add"](cot[v], g)
    return cot.get(src)


def _complete(params: Params, grads: Params) -> Params:
    """``grads`` with zeros wherever an op got no gradient (it does not reach the logits)."""
    if isinstance(params, dict):
        return {
            n: _complete(p, grads.get(n, {}) if isinstance(grads, dict) else {})
            for n, p in params.items()
        }
    return grads if not isinstance(grads, dict) else jnp.zeros_like(params)
