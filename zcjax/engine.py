"""Run network plans op by op with jitted kernels shared across architectures.

Why: XLA compiles a whole NB201 network in 1.4-6 s on a CPU, longer than its forward and
backward pass (about 0.1 s at batch 16), so scoring never-seen architectures with one jit per
architecture is compile-bound. Here each op (ReLU-Conv-BN unit, conv, pool, sum, head) has a
jitted forward and backward kernel that depends only on the op's configuration and shapes, so
after the first few architectures nothing compiles: a space has a few dozen distinct kernels.
Python walks the plan; dispatching ~100 kernels costs a few milliseconds.

The backward pass is reverse-mode by hand over the plan: each kernel's backward is the
``jax.vjp`` of its forward, and cotangents add up over a value's consumers. The gradient is of
the sum of the logits (no labels, no loss), as EZNAS's statistics use. With ``vmapped=True``
every kernel is vmapped over a leading axis of K initialisations (for accelerators).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from zcjax import netplan
from zcjax.keys import host_rng
from zcjax.spaces.layers import batch_norm, conv2d, conv_fans, init_scheme, pool

Params = dict
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


# ----------------------------------------------------------------------------- pure op maths


def _conv(kernel, x, stride=1, dilation=1):
    return conv2d(x, kernel, stride, dilation)


def _maybe_bn(z, p):
    """BN if the op's params hold one (a static pytree structure, so each variant compiles once)."""
    return batch_norm(z, **p["bn"]) if "bn" in p else z


def _body(convs, h, body: netplan.Body):
    """A unit's convs (``convs``: {name: {kernel}}) applied to its ReLU output ``h``."""
    main = body.main
    if body.factorized:
        shifted = jnp.pad(h, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 1:, 1:]
        a = conv2d(h, convs["conv_1"]["kernel"], main.stride)
        b = conv2d(shifted, convs["conv"]["kernel"], main.stride)
        return jnp.concatenate([a, b], axis=-1)
    for c in body.pre:
        groups = h.shape[-1] if c.groups == 0 else c.groups
        h = conv2d(h, convs[c.name]["kernel"], c.stride, c.dilation, groups)
    return conv2d(h, convs["conv"]["kernel"], main.stride, main.dilation, main.groups)


def _convs(p):
    return {name: v for name, v in p.items() if name != "bn"}


def _unit(p, x, body):
    return _maybe_bn(_body(_convs(p), jax.nn.relu(x), body), p)


def _conv_op(p, x, stride):
    return _maybe_bn(_conv(p["conv"], x, stride), p)


def _head(p, x, relu=True):
    h = _maybe_bn(x, p)
    h = jax.nn.relu(h) if relu else h
    return jnp.mean(h, (1, 2)) @ p["linear"]["kernel"] + p["linear"]["bias"]


# ----------------------------------------------------------------------------- kernels


def _unit_bwd(p, x, gy, body, want, extras):
    """Backward of a unit: ``(gx, quantities in want, extras)`` with the forward recomputed.

    ``extras`` (static) may name "params" (gradients of the unit's parameters) and "layer"
    (its conv output before BN and the gradient w.r.t. it). Only what is returned gets
    computed: XLA drops the weight-gradient conv when nothing asks for it.
    """
    h = jax.nn.relu(x)
    z, conv_vjp = jax.vjp(functools.partial(_body, body=body), _convs(p), h)
    y = _maybe_bn(z, p)
    gz, gbn = _bn_vjp(z, p, gy)
    gconvs, gh = conv_vjp(gz)
    gkernel = gconvs["conv"]["kernel"]
    gx = gh * (x > 0)
    quantities = {
        "weight": p["conv"]["kernel"],
        "weight_grad": gkernel,
        "relu_in": x,
        "conv_in": h,
        "bn_out": y,
        "relu_in_grad": gx,
        "conv_in_grad": gh,
        "bn_out_grad": gy,
    }
    more = {}
    if "params" in extras:
        more["params"] = {**gconvs, **({"bn": gbn} if gbn else {})}
    if "layer" in extras:
        more["layer"] = (z, gz)
    return gx, {k: quantities[k] for k in want}, more


def _unit_acts(p, x, body, want):
    """Unit quantities that need no backward pass."""
    h = jax.nn.relu(x)
    y = _maybe_bn(_body(_convs(p), h, body), p)
    quantities = {"weight": p["conv"]["kernel"], "relu_in": x, "conv_in": h, "bn_out": y}
    return {k: quantities[k] for k in want}


def _bn_vjp(z, p, gy):
    """(gz, BN param grads) for ``_maybe_bn(z, p)``; the grads are {} without a BN."""
    bn_params = p.get("bn", {})
    _, vjp = jax.vjp(lambda v, q: _maybe_bn(v, {"bn": q} if q else {}), z, bn_params)
    return vjp(gy)


def _conv_bwd(p, x, gy, stride, extras=()):
    """Backward of a Conv op: ``(gx, extras)``, extras as in ``_unit_bwd``."""
    z, conv_vjp = jax.vjp(lambda k, v: _conv(k, v, stride), p["conv"], x)
    gz, gbn = _bn_vjp(z, p, gy)
    gkernel, gx = conv_vjp(gz)
    more = {}
    if "params" in extras:
        more["params"] = {"conv": gkernel, **({"bn": gbn} if gbn else {})}
    if "layer" in extras:
        more["layer"] = (z, gz)
    return gx, more


def _head_bwd(p, x, gy, relu=True, extras=()):
    """Backward of the head: ``(gx, extras)``; its layer output is the logits."""
    logits, vjp = jax.vjp(functools.partial(_head, relu=relu), p, x)
    gp, gx = vjp(gy)
    more = {}
    if "params" in extras:
        more["params"] = gp
    if "layer" in extras:
        more["layer"] = (logits, gy)
    return gx, more


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy of logits [B, classes] with integer labels [B] (the proxies' loss)."""
    log_probs = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=1))


def _xent_cotangent(logits, labels):
    """Gradient of the mean cross-entropy w.r.t. the logits."""
    return jax.grad(cross_entropy)(logits, labels)


def _add(*xs):
    return functools.reduce(jnp.add, xs)


def _concat(*xs):
    return jnp.concatenate(xs, axis=-1)


def _concat_bwd(gy, sizes):
    return tuple(jnp.split(gy, np.cumsum(sizes)[:-1].tolist(), axis=-1))


def _zeros_strided(x, stride):
    return jnp.zeros_like(x[:, ::stride, ::stride])


def _make_kernels(vmapped: bool) -> dict[str, Callable]:
    def jit(fn, static=()):
        if vmapped:
            inner = fn

            def fn(*args, **kw):
                return jax.vmap(functools.partial(inner, **kw))(*args)

        return jax.jit(fn, static_argnames=static)

    return {
        "unit": jit(_unit, ("body",)),
        "unit_bwd": jit(_unit_bwd, ("body", "want", "extras")),
        "unit_acts": jit(_unit_acts, ("body", "want")),
        "conv": jit(_conv_op, ("stride",)),
        "conv_bwd": jit(_conv_bwd, ("stride", "extras")),
        "pool": jit(pool, ("window", "stride", "padding", "kind")),
        "pool_bwd": jit(
            lambda x, gy, **kw: jax.vjp(lambda v: pool(v, **kw), x)[1](gy)[0],
            ("window", "stride", "padding", "kind"),
        ),
        "add": jit(_add),
        "concat": jit(_concat),
        "concat_bwd": jit(_concat_bwd, ("sizes",)),
        "relu": jit(jax.nn.relu),
        "relu_bwd": jit(lambda x, gy: gy * (x > 0)),
        "head": jit(_head, ("relu",)),
        "head_bwd": jit(_head_bwd, ("relu", "extras")),
        "zeros_like": jit(jnp.zeros_like),
        "zeros_strided": jit(_zeros_strided, ("stride",)),
        "xent_cotangent": jit(_xent_cotangent),
    }


KERNELS = {False: _make_kernels(False), True: _make_kernels(True)}


def get_path(tree: Params, path: netplan.Path):
    """The subtree of ``tree`` at ``path`` (a tuple of keys)."""
    for name in path:
        tree = tree[name]
    return tree


def _set(tree: Params, path: netplan.Path, value) -> None:
    for name in path[:-1]:
        tree = tree.setdefault(name, {})
    tree[path[-1]] = value


def _conv_params(params, op: netplan.Conv):
    p = {"conv": get_path(params, op.path)["kernel"]}
    if op.bn_path is not None:
        p["bn"] = get_path(params, op.bn_path)
    return p


def head_pre_activation(p, x):
    """What the head's ReLU reads: its BN output (or its input without BN)."""
    return _maybe_bn(x, p)


def head_params(params, op: netplan.Head):
    """The head's parameters in kernel layout: {"linear": ..., "bn": ... (if any)}."""
    return _head_params(params, op)


def select_params(params: Params, plan: netplan.Plan) -> Params:
    """The entries of ``params`` (of a network with the same ops, maybe more BNs) that ``plan``
    uses, e.g. a BN-free variant's weights taken from the full network's initialisation."""
    out: Params = {}
    for op in plan.ops:
        if isinstance(op, netplan.Unit):
            unit = get_path(params, op.path)
            _set(out, op.path, {n: v for n, v in unit.items() if n != "bn" or op.bn})
        elif isinstance(op, netplan.Conv):
            _set(out, op.path, get_path(params, op.path))
            if op.bn_path is not None:
                _set(out, op.bn_path, get_path(params, op.bn_path))
        elif isinstance(op, netplan.Head):
            _set(out, op.linear_path, get_path(params, op.linear_path))
            if op.bn_path is not None:
                _set(out, op.bn_path, get_path(params, op.bn_path))
    return out


def _head_params(params, op: netplan.Head):
    p = {"linear": get_path(params, op.linear_path)}
    if op.bn_path is not None:
        p["bn"] = get_path(params, op.bn_path)
    return p


# ----------------------------------------------------------------------------- init


def _bn_init(features: int):
    return {"scale": np.ones((features,), np.float32), "bias": np.zeros((features,), np.float32)}


def value_shapes(plan: netplan.Plan, batch: int = 1) -> dict[int, tuple[int, ...]]:
    """Shape of every value of the plan for a batch of ``batch``: [B, H, W, C], logits [B, classes]."""
    h, w, c = plan.input_shape
    shapes = {0: (batch, h, w, c)}
    for op in plan.ops:
        if isinstance(op, (netplan.Unit, netplan.Conv, netplan.Pool)):
            b, h, w, c = shapes[op.src]
            strides = [op.stride] if not isinstance(op, netplan.Unit) else _strides(op.body)
            for s in strides:
                sh, sw = netplan.pair(s)
                h, w = -(-h // sh), -(-w // sw)
            c = c if isinstance(op, netplan.Pool) else op.features
            shapes[op.dst] = (b, h, w, c)
        elif isinstance(op, netplan.Add):
            if op.srcs:
                shapes[op.dst] = shapes[op.srcs[0]]
            else:
                b, h, w, c = shapes[op.like]
                shapes[op.dst] = (b, -(-h // op.stride), -(-w // op.stride), c)
        elif isinstance(op, netplan.Concat):
            first = shapes[op.srcs[0]]
            shapes[op.dst] = (*first[:-1], sum(shapes[s][-1] for s in op.srcs))
        elif isinstance(op, netplan.Relu):
            shapes[op.dst] = shapes[op.src]
        elif isinstance(op, netplan.Head):
            shapes[op.dst] = (batch, op.classes)
    return shapes


def _strides(body: netplan.Body) -> list[tuple[int, int]]:
    if body.factorized:
        return [body.main.stride]
    return [c.stride for c in body.pre] + [body.main.stride]


def unit_kernel_shapes(op: netplan.Unit, c_in: int) -> dict[str, tuple[int, ...]]:
    """{conv name: kernel shape [kh, kw, C_in / groups, C_out]} of a unit, in init order."""
    body = op.body
    if body.factorized:
        half = (1, 1, c_in, op.features // 2)
        return {"conv_1": half, "conv": half}
    shapes = {}
    for c in body.pre:
        c_out = c.features or c_in
        per_group = 1 if c.groups == 0 else c_in // c.groups
        shapes[c.name] = (*c.kernel, per_group, c_out)
        c_in = c_out
    shapes["conv"] = (*body.main.kernel, c_in // body.main.groups, op.features)
    return shapes


def init_params(key: jax.Array, plan: netplan.Plan, weight_init: str = "eznas") -> Params:
    """Fresh parameters for ``plan``, as a tree shaped like the space's Flax module's params.

    Drawn on the host from ``keys.host_rng(key)`` in op order, so initialising a never-seen
    architecture compiles nothing. BN starts at scale 1, bias 0.
    """
    rng = host_rng(key)
    scheme = init_scheme(weight_init)
    channels = {v: shape[-1] for v, shape in value_shapes(plan).items()}
    params: Params = {}

    def draw(dist, shape, fans):
        return dist.sample(rng, shape, *fans)

    for op in plan.ops:
        if isinstance(op, netplan.Unit):
            unit = {
                name: {"kernel": draw(scheme.conv, shape, conv_fans(shape))}
                for name, shape in unit_kernel_shapes(op, channels[op.src]).items()
            }
            if op.bn:
                unit["bn"] = _bn_init(op.features)
            _set(params, op.path, unit)
        elif isinstance(op, netplan.Conv):
            shape = (op.kernel, op.kernel, channels[op.src], op.features)
            kernel = draw(scheme.conv, shape, conv_fans(shape))
            _set(params, op.path, {"kernel": kernel})
            if op.bn_path is not None:
                _set(params, op.bn_path, _bn_init(op.features))
        elif isinstance(op, netplan.Head):
            shape = (channels[op.src], op.classes)
            fans = conv_fans(shape)
            linear = {
                "kernel": draw(scheme.linear, shape, fans),
                "bias": draw(scheme.linear_bias, shape[1:], fans),
            }
            if op.bn_path is not None:
                _set(params, op.bn_path, _bn_init(channels[op.src]))
            _set(params, op.linear_path, linear)
    return jax.tree.map(jnp.asarray, params)


def init_params_stacked(keys: jax.Array, plan: netplan.Plan, weight_init: str = "eznas") -> Params:
    """``init_params`` for each of ``keys`` [K], stacked along a leading [K] axis."""
    inits = [init_params(k, plan, weight_init) for k in keys]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *inits)


# ----------------------------------------------------------------------------- run


def forward(params: Params, plan: netplan.Plan, x: jax.Array, vmapped: bool = False) -> dict:
    """All values of the plan: ``{value id: array}``; ``values[plan.output]`` are the logits."""
    return _forward(params, plan, x, KERNELS[vmapped])


def _pool_args(op: netplan.Pool) -> dict:
    return {"window": op.window, "stride": op.stride, "padding": op.padding, "kind": op.kind}


def _zeros(k, like, stride):
    return k["zeros_like"](like) if stride == 1 else k["zeros_strided"](like, stride=stride)


def _forward(params, plan, x, k):
    values = {0: x}
    for op in plan.ops:
        if isinstance(op, netplan.Unit):
            y = k["unit"](get_path(params, op.path), values[op.src], body=op.body)
        elif isinstance(op, netplan.Conv):
            y = k["conv"](_conv_params(params, op), values[op.src], stride=op.stride)
        elif isinstance(op, netplan.Pool):
            y = k["pool"](values[op.src], **_pool_args(op))
        elif isinstance(op, netplan.Add):
            srcs = [values[s] for s in op.srcs]
            y = k["add"](*srcs) if srcs else _zeros(k, values[op.like], op.stride)
        elif isinstance(op, netplan.Concat):
            y = k["concat"](*[values[s] for s in op.srcs])
        elif isinstance(op, netplan.Relu):
            y = k["relu"](values[op.src])
        elif isinstance(op, netplan.Head):
            y = k["head"](_head_params(params, op), values[op.src], relu=op.relu)
        else:
            raise TypeError(f"Unknown plan op {op!r}")
        values[op.dst] = y
    return values


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
    values = forward(params, plan, x, vmapped)
    if not any(f in GRAD_FIELDS for f in want):
        return {
            op.path: k["unit_acts"](
                get_path(params, op.path),
                values[op.src],
                body=op.body,
                want=want,
            )
            for op in plan.units
        }
    cot = logit_cotangent(values[plan.output], labels, vmapped)
    return backward(params, plan, values, cot, want=want, vmapped=vmapped).units


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
) -> Backward:
    """Reverse pass over ``plan`` from ``cotangent`` at the logits, given the forward ``values``.

    Cotangents add up over a value's consumers; ops whose output gets none are skipped (units
    still report zero gradients, and their parameters get zero gradients).
    """
    k = KERNELS[vmapped]
    extras = tuple(e for e, on in (("params", param_grads), ("layer", layers)) if on)
    cot = {plan.output: cotangent}
    units, grads, layer_out = {}, {}, {}

    def accumulate(v, g):
        cot[v] = g if v not in cot else k["add"](cot[v], g)

    def record(op, more):
        if "params" in more:
            _store_param_grads(grads, op, more["params"])
        if "layer" in more:
            layer_out[op.dst] = more["layer"]

    for op in reversed(plan.ops):
        gy = cot.pop(op.dst, None)
        if isinstance(op, netplan.Unit):
            if gy is None:
                gy = k["zeros_like"](values[op.dst])
            gx, q, more = k["unit_bwd"](
                get_path(params, op.path),
                values[op.src],
                gy,
                body=op.body,
                want=want,
                extras=extras,
            )
            units[op.path] = q
            record(op, more)
            accumulate(op.src, gx)
        elif gy is None:
            continue
        elif isinstance(op, netplan.Conv):
            p = _conv_params(params, op)
            gx, more = k["conv_bwd"](p, values[op.src], gy, stride=op.stride, extras=extras)
            record(op, more)
            accumulate(op.src, gx)
        elif isinstance(op, netplan.Pool):
            accumulate(op.src, k["pool_bwd"](values[op.src], gy, **_pool_args(op)))
        elif isinstance(op, netplan.Add):
            for s in op.srcs:
                accumulate(s, gy)
        elif isinstance(op, netplan.Concat):
            sizes = tuple(values[s].shape[-1] for s in op.srcs)
            for s, g in zip(op.srcs, k["concat_bwd"](gy, sizes=sizes)):
                accumulate(s, g)
        elif isinstance(op, netplan.Relu):
            accumulate(op.src, k["relu_bwd"](values[op.src], gy))
        elif isinstance(op, netplan.Head):
            p = _head_params(params, op)
            gx, more = k["head_bwd"](p, values[op.src], gy, relu=op.relu, extras=extras)
            record(op, more)
            accumulate(op.src, gx)
    return Backward(
        units={u.path: units[u.path] for u in plan.units},
        input=cot[0] if 0 in cot else jnp.zeros_like(values[0]),
        params=_complete(params, grads) if param_grads else None,
        layers=layer_out if layers else None,
    )


def _store_param_grads(grads: Params, op, g) -> None:
    """Files an op's parameter gradients (kernel layout) under the params tree's paths."""
    if isinstance(op, netplan.Unit):
        _set(grads, op.path, g)
    elif isinstance(op, netplan.Conv):
        _set(grads, op.path, {"kernel": g["conv"]})
        if "bn" in g:
            _set(grads, op.bn_path, g["bn"])
    elif isinstance(op, netplan.Head):
        _set(grads, op.linear_path, g["linear"])
        if "bn" in g:
            _set(grads, op.bn_path, g["bn"])


def _complete(params: Params, grads: Params) -> Params:
    """``grads`` with zeros wherever an op got no gradient (it does not reach the logits)."""
    if isinstance(params, dict):
        return {
            n: _complete(p, grads.get(n, {}) if isinstance(grads, dict) else {})
            for n, p in params.items()
        }
    return grads if not isinstance(grads, dict) else jnp.zeros_like(params)
