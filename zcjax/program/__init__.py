"""Proxy programs: typed expression trees over network statistics (EZNAS's genome)."""

from zcjax.program.compile import layer_scores, network_score
from zcjax.program.primitives import PRIMITIVES
from zcjax.program.registry import PROGRAMS, ProgramSpec
from zcjax.program.tree import Program, ProgramError, parse

__all__ = [
    "PRIMITIVES",
    "PROGRAMS",
    "Program",
    "ProgramError",
    "ProgramSpec",
    "layer_scores",
    "network_score",
    "parse",
]
