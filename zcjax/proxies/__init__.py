"""Zero-cost proxies, by name, in ``PROXIES``. Higher scores mean "predicted to train better".

Three kinds, which ``zcjax.scoring`` runs differently:
- ``CostProxy``: a deterministic function of the architecture (params, FLOPs).
- ``ProgramProxy``: a proxy program over network statistics; all program proxies of a run share
  one statistics collection per (architecture, initialisation).
- ``NetworkProxy``: a classic proxy computed from ``passes.Passes``; proxies requested together
  share its forward/backward passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable

from zcjax.program import PROGRAMS, Program, parse
from zcjax.program.registry import SUM_LOGITS
from zcjax.proxies import activation, costs, gradient, synflow, zico
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
    name: str
    fn: Callable[[Passes], float]
    description: str = ""


Proxy = CostProxy | ProgramProxy | NetworkProxy

PROXIES: dict[str, Proxy] = {
    "params": CostProxy("params", costs.params, "number of parameters"),
    "flops": CostProxy("flops", costs.flops, "multiply-accumulates of conv and linear layers"),
    "grad_norm": NetworkProxy("grad_norm", gradient.grad_norm, "sum of weight-gradient norms (CE)"),
    "snip": NetworkProxy("snip", gradient.snip, "sum |w * dL/dw| (Lee et al. 2019)"),
    "grasp": NetworkProxy("grasp", gradient.grasp, "sum -w * Hg (Wang et al. 2020)"),
    "fisher": NetworkProxy("fisher", gradient.fisher, "per-channel Fisher information"),
    "synflow": NetworkProxy("synflow", synflow.synflow, "synaptic flow (Tanaka et al. 2020)"),
    "jacob_cov": NetworkProxy("jacob_cov", activation.jacob_cov, "input-Jacobian correlation"),
    "naswot": NetworkProxy(
        "naswot", activation.naswot, "log|K| of ReLU codes (Mellor et al. 2021)"
    ),
    "zico": NetworkProxy("zico", zico.zico, "inverse coefficient of variation of gradients"),
    **{
        name: ProgramProxy(name, spec.program, spec.loss, spec.description)
        for name, spec in PROGRAMS.items()
    },
}


def program_proxy(text: str, loss: str = SUM_LOGITS) -> ProgramProxy:
    """A proxy for a program given as text; its name is the program's canonical text."""
    program = parse(text)
    return ProgramProxy(str(program), program, loss, "user program")


def get_proxies(names) -> list[Proxy]:
    """The proxies named in ``names`` (a list, or a comma-separated string), in that order."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROXIES]
    if unknown:
        raise ValueError(f"Unknown proxies {unknown}; known proxies: {', '.join(PROXIES)}.")
    return [PROXIES[n] for n in names]
