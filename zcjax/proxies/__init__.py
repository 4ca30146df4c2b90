"""Zero-cost proxies, by name, in ``PROXIES``. Higher scores mean "predicted to train better".

Two kinds, which ``zcjax.scoring`` runs differently:
- ``CostProxy``: a deterministic function of the architecture (params, FLOPs).
- ``ProgramProxy``: a proxy program over network statistics; all program proxies of a run share
  one statistics collection per (architecture, initialisation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable

from zcjax.program import PROGRAMS, Program, parse
from zcjax.program.registry import SUM_LOGITS
from zcjax.proxies import costs
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


Proxy = CostProxy | ProgramProxy

PROXIES: dict[str, Proxy] = {
    "params": CostProxy("params", costs.params, "number of parameters"),
    "flops": CostProxy("flops", costs.flops, "multiply-accumulates of conv and linear layers"),
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
