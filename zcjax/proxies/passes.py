"""Forward/backward passes shared by the classic proxies of one (architecture, initialisation).

A ``Passes`` object computes each pass at most once, on first use, so proxies requested
together share them: snip, grad_norm and fisher read one cross-entropy backward pass, and the
same forward's linearisation also gives jacob_cov its input gradient and NASWOT its ReLU codes.

Passes run ``zcjax.engine``'s jitted per-op kernels eagerly under ``jax.vjp``/``jax.jvp``;
JAX caches the derived (linearised, transposed) kernels per op and shape, so, as for the
statistics, never-seen architectures compile nothing new.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from zcjax import engine, netplan


def kernels(tree) -> list[jax.Array]:
    """The conv and linear weights of a parameter tree (leaves named ``kernel``), in tree order."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [leaf for path, leaf in leaves if getattr(path[-1], "key", None) == "kernel"]


def mask_to_kernels(tree):
    """``tree`` with every leaf that is not a conv/linear weight set to zero."""
    return jax.tree_util.tree_map_with_path(
        lambda path, x: x if getattr(path[-1], "key", None) == "kernel" else jnp.zeros_like(x),
        tree,
    )


@jax.jit
def _xent(logits, labels):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))


@dataclasses.dataclass(frozen=True)
class CrossEntropyPass:
    """One cross-entropy forward/backward: gradients of the mean CE on labelled data.

    Attributes:
      loss: the mean cross-entropy.
      grads: gradient w.r.t. every parameter (tree like ``params``).
      layer_outputs: {op dst: output of that conv/linear layer before its BN} [B, H, W, C].
      layer_grads: {op dst: gradient w.r.t. that output}.
      values: every value of the forward pass (``engine.forward``).
    """

    loss: jax.Array
    grads: engine.Params
    layer_outputs: dict[int, jax.Array]
    layer_grads: dict[int, jax.Array]
    values: dict[int, jax.Array]


class Passes:
    """Lazily computed passes for one network, one initialisation and its input batches.

    Args:
      plan: the network.
      params: its initial weights (``engine.init_params``).
      x: [B, H, W, 3] input batch; labels: [B] its labels.
      extra_batch: ``i -> (x, labels)``, further batches of the same architecture (ZiCo).
      bn_free_plan: ``() -> Plan`` of the same network without BN (synflow).
    """

    def __init__(
        self,
        plan: netplan.Plan,
        params: engine.Params,
        x: jax.Array,
        labels: jax.Array,
        extra_batch: Callable[[int], tuple[jax.Array, jax.Array]] | None = None,
        bn_free_plan: Callable[[], netplan.Plan] | None = None,
    ):
        self.plan, self.params, self.x, self.labels = plan, params, x, labels
        self._extra_batch = extra_batch
        self._bn_free_plan = bn_free_plan

    # --- the shared linearisation of the forward pass on the main batch

    @functools.cached_property
    def _linearized(self):
        taps = {d: jnp.zeros(s) for d, s in engine.tap_shapes(self.plan, self.x.shape[0]).items()}

        def run(params, taps, x):
            values, outputs = engine.forward_tapped(params, self.plan, x, taps)
            return values[self.plan.output], (values, outputs)

        logits, vjp, (values, outputs) = jax.vjp(run, self.params, taps, self.x, has_aux=True)
        return logits, vjp, values, outputs

    @functools.cached_property
    def cross_entropy(self) -> CrossEntropyPass:
        logits, vjp, values, outputs = self._linearized
        loss, cot = jax.value_and_grad(_xent)(logits, self.labels)
        grads, tap_grads, _ = vjp(cot)
        return CrossEntropyPass(loss, grads, outputs, tap_grads, values)

    @functools.cached_property
    def input_grad(self) -> jax.Array:
        """d(sum of logits)/dx [B, H, W, 3] for the whole batch (BN couples the samples)."""
        logits, vjp, _, _ = self._linearized
        return vjp(jnp.ones_like(logits))[2]

    @property
    def values(self) -> dict[int, jax.Array]:
        """Every value of the forward pass on the main batch."""
        return self._linearized[2]

    # --- passes that cannot share the linearisation

    def cross_entropy_grads(self, batch: int) -> engine.Params:
        """CE gradients on extra batch ``batch`` (0 is the main batch)."""
        if batch == 0:
            return self.cross_entropy.grads
        x, labels = self._extra_batch(batch)
        return jax.grad(_loss_of(self.plan, x, labels))(self.params)

    @functools.cached_property
    def hessian_grad(self) -> engine.Params:
        """H g: the Hessian of the mean CE times its gradient g restricted to conv/linear weights."""
        g = mask_to_kernels(self.cross_entropy.grads)
        grad_fn = jax.grad(_loss_of(self.plan, self.x, self.labels))
        return jax.jvp(grad_fn, (self.params,), (g,))[1]

    @property
    def bn_free_plan(self) -> netplan.Plan:
        return self._bn_free_plan()


def _loss_of(plan, x, labels):
    def loss(params):
        return _xent(engine.forward(params, plan, x)[plan.output], labels)

    return loss
