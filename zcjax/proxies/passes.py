"""Forward/backward passes shared by the classic proxies of one (architecture, initialisation).

A ``Passes`` object computes each pass at most once, on first use, so proxies requested
together share them: one forward pass feeds NASWOT's ReLU codes and two backward passes, the
cross-entropy one (snip, grad_norm, fisher, ZiCo's first batch) and the sum-of-logits one
(jacob_cov's input gradient, which skips weight gradients).

Passes run ``zcjax.engine``'s jitted per-op kernels, so never-seen architectures compile
nothing new; GraSP's Hessian-vector product runs ``jax.jvp(jax.grad(...))`` eagerly over the
same kernels, whose derived (linearised, transposed) kernels JAX caches per op and shape too.
"""

from __future__ import annotations

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


class Passes:
    """Lazily computed passes for one network, one initialisation and its input batches.

    Args:
      plan: the network.
      params: its initial weights (``engine.init_params``).
      x: [B, H, W, 3] input batch; labels: [B] its labels.
      extra_batch: ``i -> (x, labels)``, further batches of the same architecture (ZiCo).
      bn_free_plan: ``() -> Plan`` of the same network without BN (synflow).
      layers: keep every conv/linear layer's output and its gradient from the cross-entropy
        backward (``cross_entropy.layers``, what fisher reads); without them a pass holds
        about 0.5 GB less at batch 64 on NB201.
      lean: ``values`` releases the values that only Adds read (``engine.forward(lean=)``;
        e.g. NB201's edge outputs, ~170 MB at batch 64): for proxies that read no forward
        value but the ReLU inputs, the logits and block outputs (``NetworkProxy.reads_values``).
    """

    def __init__(
        self,
        plan: netplan.Plan,
        params: engine.Params,
        x: jax.Array,
        labels: jax.Array,
        extra_batch: Callable[[int], tuple[jax.Array, jax.Array]] | None = None,
        bn_free_plan: Callable[[], netplan.Plan] | None = None,
        layers: bool = True,
        lean: bool = False,
    ):
        self.plan, self.params, self.x, self.labels = plan, params, x, labels
        self._layers, self._lean = layers, lean
        self._extra_batch = extra_batch
        self._bn_free_plan = bn_free_plan

    @functools.cached_property
    def values(self) -> dict[int, jax.Array]:
        """Every value of the forward pass on the main batch (shared by all passes below;
        placeholders for those a lean ``Passes`` released)."""
        return engine.forward(self.params, self.plan, self.x, lean=self._lean)

    @functools.cached_property
    def cross_entropy(self) -> engine.Backward:
        """Backward of the mean cross-entropy: ``.params`` gradients of every parameter and
        ``.layers`` {op dst: (conv/linear output before BN, its gradient)} (None unless this
        ``Passes`` keeps layers)."""
        return _cross_entropy_backward(
            self.params, self.plan, self.values, self.labels, self._layers
        )

    @functools.cached_property
    def input_grad(self) -> jax.Array:
        """d(sum of logits)/dx [B, H, W, 3] for the whole batch (BN couples the samples)."""
        cot = engine.logit_cotangent(self.values[self.plan.output])
        return engine.backward(self.params, self.plan, self.values, cot).input

    def cross_entropy_grads(self, batch: int) -> engine.Params:
        """CE gradients of all parameters on extra batch ``batch`` (0 is the main batch)."""
        if batch == 0:
            return self.cross_entropy.params
        x, labels = self._extra_batch(batch)
        values = engine.forward(self.params, self.plan, x, lean=True)  # only backward reads them
        return _cross_entropy_backward(self.params, self.plan, values, labels).params

    @functools.cached_property
    def hessian_grad(self) -> engine.Params:
        """H g: the Hessian of the mean CE times its gradient g restricted to conv/linear weights
        (forward-over-reverse autodiff through the engine's kernels, run eagerly)."""
        g = mask_to_kernels(self.cross_entropy.params)
        grad_fn = jax.grad(_loss_of(self.plan, self.x, self.labels))
        return jax.jvp(grad_fn, (self.params,), (g,))[1]

    @property
    def bn_free_plan(self) -> netplan.Plan:
        return self._bn_free_plan()

    @functools.cached_property
    def block_entropies(self):
        """AZ-NAS's eigenvalue entropy of each block output (float64 [L + 1]), shared by its
        expressivity and progressivity (``proxies.az_nas``)."""
        from zcjax.proxies import az_nas  # imports nothing of this module: no cycle

        return az_nas.block_entropies(self)

    @functools.cached_property
    def vkdnw_spectrum(self):
        """(singular values of VKDNW's Fisher matrix, number of parameter tensors), shared by
        ``vkdnw``, ``vkdnw_entropy`` and ``vkdnw_ratio`` (``proxies.vkdnw``; BN in eval mode, its own
        passes)."""
        from zcjax.proxies import vkdnw

        return vkdnw.fisher_spectrum(self)


def _cross_entropy_backward(params, plan, values, labels, layers=False) -> engine.Backward:
    cot = engine.logit_cotangent(values[plan.output], labels)
    return engine.backward(params, plan, values, cot, param_grads=True, layers=layers)


def _loss_of(plan, x, labels):
    def loss(params):
        return engine.cross_entropy(engine.forward(params, plan, x)[plan.output], labels)

    return loss
