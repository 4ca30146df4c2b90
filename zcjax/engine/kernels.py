"""The engine's jitted per-op kernels: each depends only on its op's configuration and shapes.

``KERNELS[vmapped]`` maps kernel names to jitted functions; with ``vmapped=True`` each is
vmapped over a leading axis of K initialisations. Backward kernels are the ``jax.vjp`` of their
forward and recompute it, so a backward pass needs no stored residuals.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from zcjax import netplan
from zcjax.nn import batch_norm, batch_norm_vjp, conv2d, pool

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


def _unit_res(p, x, body):
    """``_unit``'s output and its conv output before BN, the residual ``_unit_bwd`` reads."""
    z = _body(_convs(p), jax.nn.relu(x), body)
    return _maybe_bn(z, p), z


def _conv_op(p, x, stride):
    return _maybe_bn(_conv(p["conv"], x, stride), p)


def head_pre_activation(p, x):
    """What the head's ReLU reads: its BN output (or its input without BN)."""
    return _maybe_bn(x, p)


def _head(p, x, relu=True):
    h = _maybe_bn(x, p)
    h = jax.nn.relu(h) if relu else h
    return jnp.mean(h, (1, 2)) @ p["linear"]["kernel"] + p["linear"]["bias"]


# ----------------------------------------------------------------------------- kernels


def _unit_bwd(p, x, gy, z, body, want, extras):
    """Backward of a unit: ``(gx, quantities in want, extras)``.

    ``z`` is the unit's conv output before BN from the forward pass (``_unit_res``), or None:
    then the convs are recomputed. Given, the recomputed output is dead code that XLA drops
    (a unit's forward + backward ~20% faster on a CPU, one activation per unit kept longer).
    ``extras`` (static) may name "params" (gradients of the unit's parameters) and "layer"
    (its conv output before BN and the gradient w.r.t. it). Only what is returned gets
    computed: XLA drops the weight-gradient conv when nothing asks for it.
    """
    h = jax.nn.relu(x)
    z_again, conv_vjp = jax.vjp(functools.partial(_body, body=body), _convs(p), h)
    z = z_again if z is None else z
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
    if "bn" not in p:
        return gy, {}
    gz, g_scale, g_bias = batch_norm_vjp(z, p["bn"]["scale"], gy)
    return gz, {"scale": g_scale, "bias": g_bias}


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


def _make_kernels(vmapped: bool | None) -> dict[str, Callable]:
    """The kernel table: jitted (vmapped over K if ``vmapped``), or the plain functions if None."""

    def jit(fn, static=()):
        if vmapped is None:
            return fn
        if vmapped:
            inner = fn

            def fn(*args, **kw):
                return jax.vmap(functools.partial(inner, **kw))(*args)

        return jax.jit(fn, static_argnames=static)

    return {
        "unit": jit(_unit, ("body",)),
        "unit_res": jit(_unit_res, ("body",)),
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
        "head_pre": jit(head_pre_activation),
        "zeros_like": jit(jnp.zeros_like),
        "zeros_strided": jit(_zeros_strided, ("stride",)),
        "xent_cotangent": jit(_xent_cotangent),
    }


KERNELS = {False: _make_kernels(False), True: _make_kernels(True)}
# The same maths unjitted, for tracing inside other transformations (Flax modules).
EAGER = _make_kernels(None)
