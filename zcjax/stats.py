"""Network statistics at initialisation: EZNAS's 22 terminals for every ReLU->Conv->BN unit.

For each unit: its conv weight, and under three inputs (D: a real image batch; N: standard
normal noise of the same shape; P = D + 0.1 N) the weight gradient, the ReLU input, the conv
input (= ReLU output) and the BN output, and the gradient w.r.t. each. Gradients are of the sum
of the logits; batch norm uses batch statistics. P-statistics are stored as differences P - D,
so ``relu_in@perturbed`` means ``relu_in(P) - relu_in(D)``.

Statistics are computed once per (architecture, initialisation, batch) and any number of
programs read them. Only the passes the requested terminals need are run (EZNAS-A needs one).

Two ways to compute them, which must agree (the tests check it):
- ``"engine"``: the op-by-op engine of ``zcjax.engine``; compiled code is shared by all
  architectures, so never-seen architectures cost no compilation (the default).
- ``"module"``: the plain Flax module, differentiated as a whole under one ``jax.jit`` per
  architecture (the reference; also what a per-architecture cache would use).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax
import jax
import jax.numpy as jnp
import numpy as np

from zcjax import engine, netplan
from zcjax.engine import batched
from zcjax.keys import init_keys
from zcjax.program.netops import MEASURED_FLOOR
from zcjax.program.network import NetworkFacts
from zcjax.program.terminals import EZNAS_ARGS, INPUTS, MEASURED_TERMINALS, TERMINALS


@flax.struct.dataclass
class Stats:
    """Terminals of every unit of one network.

    ``layers[i][terminal]`` is an array of the unit's shape: weight-like terminals
    [k, k, C_in, C_out], activation-like ones [B, H, W, C]. With K initialisations stacked
    (``collect_stats(..., vmap_inits=True)``) every array has a leading [K] axis. ``facts``
    (units' stages, params, FLOPs) is what the network language's terminals read;
    ``measured`` the measured network terminals asked for, {name: float64 [] or [K]}.
    """

    layers: tuple[dict[str, jax.Array], ...]
    names: tuple[str, ...] = flax.struct.field(pytree_node=False)
    facts: NetworkFacts | None = flax.struct.field(pytree_node=False, default=None)
    measured: dict[str, np.ndarray] = flax.struct.field(default_factory=dict)

    @property
    def terminals(self) -> tuple[str, ...]:
        return tuple(self.layers[0]) if self.layers else ()


def check_terminals(terminals: Sequence[str]) -> tuple[str, ...]:
    """The unit terminals among ``terminals`` (in ``TERMINALS`` order); ValueError naming any
    that is neither a unit terminal nor a measured one."""
    unknown = [t for t in terminals if t not in TERMINALS and t not in MEASURED_TERMINALS]
    if unknown:
        known = ", ".join(TERMINALS + MEASURED_TERMINALS)
        raise ValueError(f"Unknown terminals {unknown}; known terminals: {known}.")
    return tuple(t for t in TERMINALS if t in terminals)


def _measured_of(terminals: Sequence[str]) -> tuple[str, ...]:
    return tuple(t for t in MEASURED_TERMINALS if t in terminals)


def measure(plan: netplan.Plan, params: engine.Params, inputs: dict, names) -> dict:
    """{name: float64 scalar} of the measured network terminals ``names`` for one init: the
    registered proxy ``name`` names before its ``@`` on the input after it (``inputs``:
    ``make_inputs``'s {source: [B, H, W, 3]}; AZ-NAS's components on the noise N, SWAP on the
    data D), one forward shared per input; non-finite values (AZ-NAS's -inf) become
    ``netops.MEASURED_FLOOR``."""
    if not names:
        return {}
    from zcjax.proxies import PROXIES  # the proxies import this module's users, not it
    from zcjax.proxies.passes import Passes

    passes = {}
    out = {}
    for name in names:
        proxy, source = _split(name)
        if source not in passes:
            passes[source] = Passes(plan, params, inputs[source], None)
        try:
            with np.errstate(all="ignore"):
                value = PROXIES[proxy].fn(passes[source])
        except (FloatingPointError, np.linalg.LinAlgError):
            value = float("nan")
        out[name] = np.float64(value if np.isfinite(value) else MEASURED_FLOOR)
    return out


def _split(terminal: str) -> tuple[str, str | None]:
    quantity, _, source = terminal.partition("@")
    return quantity, source or None


def passes_needed(terminals: Sequence[str]) -> tuple[str, ...]:
    """Which forward/backward passes (data, noise, perturbed) the terminals need."""
    sources = {_split(t)[1] for t in terminals} - {None}
    if "perturbed" in sources:
        sources.add("data")
    return tuple(i for i in INPUTS if i in sources)


def _quantities_for_pass(terminals: Sequence[str], source: str) -> tuple[str, ...]:
    """Unit quantities a pass must produce; the data pass also serves P - D differences."""
    sources = ("data", "perturbed") if source == "data" else (source,)
    return tuple(sorted({q for q, s in map(_split, terminals) if s in sources}))


def make_inputs(key: jax.Array, x: jax.Array) -> dict[str, jax.Array]:
    """D = ``x``, N = standard normal like ``x`` (from ``key``), P = D + 0.1 N."""
    noise = jax.random.normal(key, x.shape, x.dtype)
    return {"data": x, "noise": noise, "perturbed": x + 0.1 * noise}


# ----------------------------------------------------------------------------- the two paths


@functools.partial(jax.jit, static_argnames=("model",))
def _module_quantities(model, params, x, labels):
    """Per-unit quantities by differentiating the whole Flax module (one jit per arch)."""
    perturbations = jax.tree.map(jnp.zeros_like, model.init(jax.random.key(0), x)["perturbations"])

    def total(params, perturbations):
        logits, state = model.apply(
            {"params": params, "perturbations": perturbations}, x, mutable=["intermediates"]
        )
        if labels is None:
            return jnp.sum(logits), state["intermediates"]
        return engine.cross_entropy(logits, labels), state["intermediates"]

    (gparams, gpert), acts = jax.grad(total, argnums=(0, 1), has_aux=True)(params, perturbations)
    return gparams, gpert, acts


def _module_unit_quantities(model, params, plan, x, want, labels):
    gparams, gpert, acts = _module_quantities(model, params, x, labels)
    out = {}
    for unit in plan.units:
        path = unit.path
        q = {
            "weight": engine.get_path(params, path)["conv"]["kernel"],
            "weight_grad": engine.get_path(gparams, path)["conv"]["kernel"],
        }
        for name in ("relu_in", "conv_in", "bn_out"):
            q[name] = engine.get_path(acts, path)[name][0]
            q[f"{name}_grad"] = engine.get_path(gpert, path)[name]
        out[unit.path] = {k: q[k] for k in want}
    return out


# ----------------------------------------------------------------------------- collection


def collect_stats(
    key: jax.Array,
    plan: netplan.Plan,
    x: jax.Array,
    terminals: Sequence[str],
    *,
    params: engine.Params | None = None,
    weight_init: str = "eznas",
    num_inits: int | None = None,
    method: str = "engine",
    model=None,
    labels: jax.Array | None = None,
) -> Stats:
    """Terminals of every unit of the network ``plan`` for the data batch ``x`` [B, H, W, 3].

    Args:
      key: draws the initial weights (unless ``params`` is given) and the noise input.
      plan: the network, e.g. ``spaces.nb201.plan(arch)``.
      x: the data batch D.
      terminals: names from ``TERMINALS``, and measured network terminals
        (``MEASURED_TERMINALS``, computed by ``measure`` on their input); only the passes
        these need are run.
      params: weights to use instead of a fresh initialisation.
      num_inits: if set, K initialisations from ``split(key, K)``, computed as one vmapped
        batch; every array of the result gets a leading [K] axis.
      method: ``"engine"`` (shared kernels) or ``"module"`` (whole-module jit; needs ``model``).
      labels: [B] class labels; if given, gradients are of the mean cross-entropy instead of
        the sum of the logits.
    """
    measured = _measured_of(terminals)
    terminals = check_terminals(terminals)
    if num_inits is not None:
        if method != "engine":
            raise ValueError("num_inits (vmapped inits) needs method='engine'.")
        keys = jax.random.split(key, num_inits)
        key_params, key_noise = jax.vmap(init_keys)(keys)
        if params is None:
            params = engine.init_params_stacked(key_params, plan, weight_init)
        inputs = jax.vmap(lambda k: make_inputs(k, x))(key_noise)
    else:
        key_params, key_noise = init_keys(key)
        if params is None:
            params = engine.init_params(key_params, plan, weight_init)
        inputs = make_inputs(key_noise, x)
    by_source: dict[str, dict] = {}
    for source in passes_needed(terminals):
        want = _quantities_for_pass(terminals, source)
        if method == "engine":
            vmapped = num_inits is not None
            batch_labels = labels
            if vmapped and labels is not None:
                batch_labels = jnp.broadcast_to(labels, (num_inits, *labels.shape))
            by_source[source] = engine.unit_quantities(
                params, plan, inputs[source], want, vmapped=vmapped, labels=batch_labels
            )
        elif method == "module":
            if model is None:
                raise ValueError("method='module' needs the Flax model.")
            by_source[source] = _module_unit_quantities(
                model, params, plan, inputs[source], want, labels
            )
        else:
            raise ValueError(f"Unknown method {method!r}; expected 'engine' or 'module'.")
    if num_inits is None:
        values = measure(plan, params, inputs, measured)
    else:
        per_init = [
            measure(
                plan,
                jax.tree.map(lambda a, k=k: a[k], params),
                jax.tree.map(lambda a, k=k: a[k], inputs),
                measured,
            )
            for k in range(num_inits)
        ]
        values = {n: np.array([v[n] for v in per_init]) for n in measured}
    return _assemble(plan, params, by_source, terminals, values)


def _assemble(plan, params, by_source, terminals, measured=None) -> Stats:
    """Stats of one network from its pass outputs ``{source: {unit path: {quantity: ...}}}``
    and its ``measured`` terminal values."""
    layers = []
    for unit in plan.units:
        layer = {}
        for t in terminals:
            quantity, source = _split(t)
            if source is None:
                layer[t] = engine.get_path(params, unit.path)["conv"]["kernel"]
            elif source == "perturbed":
                layer[t] = (
                    by_source["perturbed"][unit.path][quantity]
                    - by_source["data"][unit.path][quantity]
                )
            else:
                layer[t] = by_source[source][unit.path][quantity]
        layers.append(layer)
    names = tuple("/".join(u.path) for u in plan.units)
    return Stats(tuple(layers), names, network_facts(plan), dict(measured or {}))


def collect_stats_batched(
    keys: Sequence[jax.Array],
    plans: Sequence[netplan.Plan],
    xs: Sequence[jax.Array],
    terminals: Sequence[str],
    *,
    num_inits: int,
    weight_init: str = "eznas",
    labels: Sequence[jax.Array] | None = None,
    mode: str | None = None,
    warm_buckets: bool = False,
    host: bool = False,
) -> list[Stats]:
    """``[stack_inits([collect_stats(k, plans[i], xs[i], ...) for k in split(keys[i], K)])]``:
    the K inits of a chunk of networks, their ops grouped across networks of one family
    (``engine.batched``; plans of several families run as one chunk per family).

    Args:
      keys: one key per network, as ``collect_stats``'s (split into its K inits).
      plans, xs: the networks and their data batches D [B, H, W, 3].
      labels: one [B] label array per network (cross-entropy gradients), or None.
      mode: how group calls run their members (``engine.batched.MODES``; None: per backend).
      warm_buckets: also compile every group at every bucket size (a warm-up chunk).
      host: NumPy arrays (``stack_inits``).

    Returns:
      one Stats per network, every array with a leading [K] axis.
    """
    measured = _measured_of(terminals)
    terminals = check_terminals(terminals)
    members = [(i, k) for i in range(len(plans)) for k in range(num_inits)]
    params, inputs = [], []
    for i, key in enumerate(keys):
        for key_init in jax.random.split(key, num_inits):
            key_params, key_noise = init_keys(key_init)
            params.append(engine.init_params(key_params, plans[i], weight_init))
            inputs.append(make_inputs(key_noise, xs[i]))
    families: dict[tuple, list[int]] = {}
    for m, (i, _) in enumerate(members):
        families.setdefault(batched.family(plans[i]), []).append(m)
    by_source = [{} for _ in members]
    for source in passes_needed(terminals):
        want = _quantities_for_pass(terminals, source)
        for group in families.values():
            out = batched.unit_quantities_batched(
                [params[m] for m in group],
                [plans[members[m][0]] for m in group],
                [inputs[m][source] for m in group],
                want,
                labels=None if labels is None else [labels[members[m][0]] for m in group],
                mode=mode,
                warm_buckets=warm_buckets,
            )
            for m, units in zip(group, out):
                by_source[m][source] = units
    per_member = [
        _assemble(
            plans[i],
            params[m],
            by_source[m],
            terminals,
            measure(plans[i], params[m], inputs[m], measured),
        )
        for m, (i, _) in enumerate(members)
    ]
    return [
        stack_inits(per_member[i * num_inits : (i + 1) * num_inits], host)
        for i in range(len(plans))
    ]


def network_facts(plan: netplan.Plan) -> NetworkFacts:
    """Each unit's stage (rank of its output resolution, 0 = the highest) and the plan's
    parameter and FLOP counts (``engine.plan_costs``)."""
    shapes = engine.value_shapes(plan)
    heights = [shapes[u.dst][1] for u in plan.units]
    order = sorted(set(heights), reverse=True)
    params, flops = engine.plan_costs(plan)
    return NetworkFacts(tuple(order.index(h) for h in heights), params, flops)


def stack_inits(stats: Sequence[Stats], host: bool = False) -> Stats:
    """Stacks per-initialisation Stats along a new leading [K] axis (measured terminals in
    float64 numpy). ``host``: as NumPy arrays, which for K=1 on the CPU are views of JAX's
    buffers (``jnp.stack`` copies every array: 0.05-0.2 s of an NB201 architecture's 0.7 s
    of statistics for the GP, all 22 terminals at batch 16); it waits for the arrays."""
    if not host:
        stack = lambda *xs: jnp.stack(xs)  # noqa: E731
    elif len(stats) == 1:
        stack = lambda x: np.asarray(x)[None]  # noqa: E731
    else:
        stack = lambda *xs: np.stack([np.asarray(x) for x in xs])  # noqa: E731
    stacked = jax.tree.map(stack, *[s.replace(measured={}) for s in stats])
    measured = {n: np.stack([np.asarray(s.measured[n]) for s in stats]) for n in stats[0].measured}
    return stacked.replace(measured=measured)


__all__ = [
    "EZNAS_ARGS",
    "INPUTS",
    "MEASURED_TERMINALS",
    "TERMINALS",
    "Stats",
    "collect_stats",
    "collect_stats_batched",
    "make_inputs",
    "measure",
    "passes_needed",
    "stack_inits",
]
