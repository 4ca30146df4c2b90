"""Rank ensembles: proxies combined by the sum of their log-ranks over the scored set.

AZ-NAS (Lee & Ham, CVPR 2024) and VKDNW (Tybl & Neumann, CVPR 2025) combine their components
this way: with N architectures and r_i(a) the rank of architecture a under member i (1 = the
lowest score, ties averaged), the ensemble's score is ``sum_i log(r_i(a) / N)``. The score is
therefore *relative to the set it was computed on*: the same architecture scores differently
in another set, and only the ranking within one set means anything.

A member's NaN or -inf ranks lowest (the references turn NaN into -inf before ranking), so an
ensemble's score is always finite: a member that fails on an architecture counts against it.

A member named with a trailing ``~`` (``"eznas_a+az_trainability~"``) is *aligned*: before
ranking it is negated if its Spearman rho with ``params`` over the scored set is below 0
(``metrics.orient``), so a measure that ranks a space against size is turned to rank with it;
``params`` is then scored too. A program ensemble's ``net_aligned(x)`` member is named ``x~``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from zcjax.metrics import log_rank_sum, orient

SEPARATOR = "+"  # "eznas_a+naswot+flops" names an ad-hoc ensemble of those proxies
ALIGNED = "~"  # "az_trainability~": that member oriented to rank with params over the set
SIZE = "params"  # what aligned members are oriented by


def base_name(member: str) -> str:
    """A member's proxy name, without the aligned mark."""
    return member[: -len(ALIGNED)] if member.endswith(ALIGNED) else member


@dataclasses.dataclass(frozen=True)
class EnsembleProxy:
    """The sum of log-ranks of ``members`` (names of non-ensemble proxies) over a scored set."""

    name: str
    members: tuple[str, ...]
    description: str = ""

    @property
    def needed(self) -> tuple[str, ...]:
        """The proxies whose scores the ensemble reads: its members' (``base_name``), and
        ``params`` where a member is aligned."""
        names = tuple(dict.fromkeys(base_name(m) for m in self.members))
        if any(m.endswith(ALIGNED) for m in self.members) and SIZE not in names:
            names += (SIZE,)
        return names


def parse(name: str) -> EnsembleProxy | None:
    """``"a+b+c"`` -> the ensemble of a, b and c; None for a name without ``+``."""
    if SEPARATOR not in name:
        return None
    members = tuple(m.strip() for m in name.split(SEPARATOR))
    bases = [base_name(m) for m in members]
    if len(members) < 2 or not all(bases) or len(set(bases)) != len(bases):
        raise ValueError(f"Ensemble {name!r} must name two or more distinct proxies joined by '+'.")
    return EnsembleProxy(name, members, "sum of log-ranks of " + ", ".join(members))


def with_members(proxies: Sequence, lookup) -> list:
    """``proxies`` with each ensemble's members (``lookup(name)``) inserted before it where not
    already requested, so every member is scored once."""
    out, names = [], set()
    for p in proxies:
        for m in p.needed if isinstance(p, EnsembleProxy) else ():
            member = lookup(m)
            if isinstance(member, EnsembleProxy):
                raise ValueError(f"Ensemble {p.name!r}: member {m!r} is itself an ensemble.")
            if m not in names:
                out.append(member)
                names.add(m)
        if p.name in names:
            continue
        out.append(p)
        names.add(p.name)
    return out


def ensemble_scores(proxies: Sequence, means: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{ensemble name: [N] scores} of the ensembles among ``proxies``, from their members'
    ``means`` over the same N architectures."""
    return {p.name: values(p, means) for p in proxies if isinstance(p, EnsembleProxy)}


def values(p: EnsembleProxy, means: Mapping[str, np.ndarray]) -> np.ndarray:
    """[N] ``p``'s scores from ``means`` {proxy name: [N]} of its ``needed`` proxies."""
    columns = [means[base_name(m)] for m in p.members]
    columns = [
        orient(c, means[SIZE]) if m.endswith(ALIGNED) else c for c, m in zip(columns, p.members)
    ]
    return log_rank_sum(columns)
