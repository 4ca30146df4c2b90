"""Zero-cost proxies, by name, in ``PROXIES``. Higher scores mean "predicted to train better".

Four kinds, which ``zcjax.recipe`` and ``zcjax.scoring`` run differently:
- ``CostProxy``: a deterministic function of the architecture (params, FLOPs).
- ``ProgramProxy``: a proxy program over network statistics; all program proxies of a run share
  one statistics collection per (architecture, initialisation).
- ``NetworkProxy``: a classic proxy computed from ``passes.Passes``; proxies requested together
  share its forward/backward passes.
- ``EnsembleProxy``: the sum of log-ranks of other proxies over the scored set
  (``proxies.ensemble``): registered ones (``az_nas``) or ad hoc, ``"eznas_a+naswot+flops"``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable

from zcjax.program import PROGRAMS, Program, network, parse
from zcjax.program.kinds import E
from zcjax.program.netops import MEASURED_TERMINALS, NETWORK_TERMINALS
from zcjax.program.registry import SUM_LOGITS
from zcjax.proxies import activation, az_nas, costs, gradient, meco, swap, synflow, vkdnw, zico
from zcjax.proxies.ensemble import ALIGNED, EnsembleProxy
from zcjax.proxies.ensemble import parse as parse_ensemble
from zcjax.proxies.passes import Passes
from zcjax.spaces import SearchSpace


@dataclasses.dataclass(frozen=True)
class CostProxy:
    name: str
    fn: Callable[[SearchSpace, Hashable, str], float]
    description: str = ""


@dataclasses.dataclass(frozen=True)
class ProgramProxy:
    name: str
    program: Program
    loss: str = SUM_LOGITS
    description: str = ""


@dataclasses.dataclass(frozen=True)
class NetworkProxy:
    """``reads_layers``: ``fn`` reads ``passes.cross_entropy.layers`` (kept only if asked).
    ``reads_values``: ``fn`` may read any forward value (e.g. MeCo's layer outputs); when no
    proxy of a run does, ``Passes`` is lean (holds only what backward passes and ReLU inputs
    need)."""

    name: str
    fn: Callable[[Passes], float]
    description: str = ""
    reads_layers: bool = False
    reads_values: bool = True


Proxy = CostProxy | ProgramProxy | NetworkProxy | EnsembleProxy


def proxy_of_program(
    name: str, program: Program, loss: str = SUM_LOGITS, description: str = ""
) -> Proxy:
    """A program as a proxy; a rank-ensemble program (kind E) becomes the ``EnsembleProxy``
    of its member programs, named by their text (``get_proxy`` reads program text; an
    aligned member ``net_aligned(x)`` is named ``x~``)."""
    network.check_aligned(program)
    if program.kind != E:
        return ProgramProxy(name, program, loss, description)
    texts = tuple(
        str(network.unaligned(m)) + (ALIGNED if network.is_aligned(m) else "")
        for m in network.members(program)
    )
    return EnsembleProxy(name, texts, description or "sum of log-ranks of " + ", ".join(texts))


PROXIES: dict[str, Proxy] = {
    "params": CostProxy("params", costs.params, "number of parameters"),
    "flops": CostProxy("flops", costs.flops, "multiply-accumulates of conv and linear layers"),
    "grad_norm": NetworkProxy(
        "grad_norm", gradient.grad_norm, "sum of weight-gradient norms (CE)", reads_values=False
    ),
    "snip": NetworkProxy(
        "snip", gradient.snip, "sum |w * dL/dw| (Lee et al. 2019)", reads_values=False
    ),
    "grasp": NetworkProxy(
        "grasp", gradient.grasp, "sum -w * Hg (Wang et al. 2020)", reads_values=False
    ),
    "fisher": NetworkProxy(
        "fisher",
        gradient.fisher,
        "per-channel Fisher information",
        reads_layers=True,
        reads_values=False,
    ),
    "synflow": NetworkProxy(
        "synflow", synflow.synflow, "synaptic flow (Tanaka et al. 2020)", reads_values=False
    ),
    "jacob_cov": NetworkProxy(
        "jacob_cov", activation.jacob_cov, "input-Jacobian correlation", reads_values=False
    ),
    "naswot": NetworkProxy(
        "naswot",
        activation.naswot,
        "log|K| of ReLU codes (Mellor et al. 2021)",
        reads_values=False,
    ),
    "zico": NetworkProxy(
        "zico", zico.zico, "inverse coefficient of variation of gradients", reads_values=False
    ),
    "az_expressivity": NetworkProxy(
        "az_expressivity", az_nas.expressivity, "AZ-NAS: sum of block feature eigen-entropies"
    ),
    "az_progressivity": NetworkProxy(
        "az_progressivity", az_nas.progressivity, "AZ-NAS: min entropy increase between blocks"
    ),
    "az_trainability": NetworkProxy(
        "az_trainability", az_nas.trainability, "AZ-NAS: block Jacobian spectral norm near 1"
    ),
    "az_complexity": CostProxy("az_complexity", costs.flops, "AZ-NAS complexity: FLOPs"),
    "vkdnw": NetworkProxy("vkdnw", vkdnw.vkdnw, "VKDNW_single: #param tensors + Fisher entropy"),
    "vkdnw_entropy": NetworkProxy(
        "vkdnw_entropy", vkdnw.vkdnw_entropy, "VKDNW: entropy of Fisher eigenvalue deciles"
    ),
    "vkdnw_ratio": NetworkProxy(
        "vkdnw_ratio", vkdnw.vkdnw_ratio, "VKDNW_single ranked as the reference's NB201 analysis"
    ),
    "meco": NetworkProxy("meco", meco.meco, "min eigenvalue of feature-map correlations"),
    "swap": NetworkProxy("swap", swap.swap, "distinct sample-wise ReLU activation patterns"),
    "swap_reg": NetworkProxy("swap_reg", swap.swap_reg, "SWAP x Gaussian of params (NB201 mu)"),
    # Rank ensembles (sum of log-ranks over the scored set): AZ-NAS's tss_general.ipynb, and
    # VKDNW's Eq. 15 (V/J/E/T/F: VKDNW_single, jacob_cov, expressivity, trainability, FLOPs).
    "az_nas": EnsembleProxy(
        "az_nas",
        ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity"),
        "AZ-NAS (Lee & Ham, CVPR 2024): log-rank sum of its four components",
    ),
    "vkdnw_agg": EnsembleProxy(
        "vkdnw_agg",
        ("vkdnw", "jacob_cov", "az_expressivity", "az_trainability", "flops"),
        "VKDNW_agg (Tybl & Neumann, CVPR 2025): log-rank sum of V, J, E, T, F",
    ),
    **{
        name: proxy_of_program(name, spec.program, spec.loss, spec.description)
        for name, spec in PROGRAMS.items()
    },
}


def program_proxy(text: str, loss: str = SUM_LOGITS) -> Proxy:
    """A proxy for a program given as text; its name is the program's canonical text."""
    program = parse(text)
    return proxy_of_program(str(program), program, loss, "user program")


def get_proxy(name: str) -> Proxy:
    """The registered proxy ``name``, the rank ensemble ``"a+b+c"`` of registered proxies, or
    a program given as text (an ensemble program's members are named so)."""
    if "(" in name or name in NETWORK_TERMINALS + MEASURED_TERMINALS:
        return program_proxy(name)
    ensemble = parse_ensemble(name)
    for n in ensemble.needed if ensemble else (name,):
        if n not in PROXIES:
            raise ValueError(f"Unknown proxy {n!r}; known proxies: {', '.join(PROXIES)}.")
    return ensemble or PROXIES[name]


def split_names(text: str) -> list[str]:
    """``"a,b,f(x, y)"`` -> ``["a", "b", "f(x, y)"]``: splits at the commas outside brackets, so a
    program text with several arguments stays one name; ValueError on unbalanced brackets."""
    names, depth, start = [], 0, 0
    for i, c in enumerate(text + ","):
        depth += (c == "(") - (c == ")")
        if depth < 0 or (i == len(text) and depth):
            raise ValueError(f"Unbalanced brackets in the proxy list {text!r}.")
        if c == "," and depth == 0:
            names.append(text[start:i].strip())
            start = i + 1
    return [n for n in names if n]


def get_proxies(names) -> list[Proxy]:
    """The proxies named in ``names`` (a list, or a comma-separated string whose program texts
    keep their own commas), in that order."""
    if isinstance(names, str):
        names = split_names(names)
    return [get_proxy(n) for n in names]
