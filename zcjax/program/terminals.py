"""Terminal names: EZNAS's 22 per-unit statistics, their EZNAS ``ARGn`` names and their kinds.

Names only, no computation (``zcjax.stats`` computes them), so reading program text needs
neither the engine nor any search space. ``weight`` is the unit's conv weight; every other
terminal is ``quantity@input`` for one of three inputs: D (``data``), N (``noise``) and
P = D + 0.1 N (``perturbed``, stored as the difference P - D).
"""

from __future__ import annotations

from zcjax.program.kinds import A, N, W
from zcjax.program.netops import MEASURED_TERMINALS, NETWORK_TERMINALS

INPUTS = ("data", "noise", "perturbed")
QUANTITIES = (
    "weight_grad",
    "relu_in",
    "relu_in_grad",
    "conv_in",
    "conv_in_grad",
    "bn_out",
    "bn_out_grad",
)
TERMINALS = ("weight",) + tuple(f"{q}@{i}" for q in QUANTITIES for i in INPUTS)
WEIGHT_TERMINALS = tuple(t for t in TERMINALS if t.startswith("weight"))
# Unit terminals (statistics) and the network language's terminals (``netops``), by kind.
TERMINAL_KINDS = {t: (W if t in WEIGHT_TERMINALS else A) for t in TERMINALS}
TERMINAL_KINDS.update({t: N for t in NETWORK_TERMINALS + MEASURED_TERMINALS})

# EZNAS's ARGn numbering -> our terminal names. This is what EZNAS's code computes: its
# ``populate()`` maps ARGk to ``fixed_ordering[k - 1]`` of the stored statistics, an index
# shifted by one from its docstring's order (so ARG0 is the last entry, the BN-output gradient
# P - D), and its tree-drawing labels use yet another, stale order (which names ARG8
# "wtgradnoise"). EZNAS-A reads ARG8 = the ReLU-input gradient under data.
EZNAS_ARGS: dict[int, str] = dict(
    enumerate(
        [
            "bn_out_grad@perturbed",
            "weight",
            "weight_grad@data",
            "weight_grad@noise",
            "weight_grad@perturbed",
            "relu_in@data",
            "relu_in@noise",
            "relu_in@perturbed",
            "relu_in_grad@data",
            "relu_in_grad@noise",
            "relu_in_grad@perturbed",
            "conv_in@data",
            "conv_in@noise",
            "conv_in@perturbed",
            "conv_in_grad@data",
            "conv_in_grad@noise",
            "conv_in_grad@perturbed",
            "bn_out@data",
            "bn_out@noise",
            "bn_out@perturbed",
            "bn_out_grad@data",
            "bn_out_grad@noise",
        ]
    )
)

__all__ = [
    "EZNAS_ARGS",
    "INPUTS",
    "MEASURED_TERMINALS",
    "NETWORK_TERMINALS",
    "QUANTITIES",
    "TERMINALS",
    "TERMINAL_KINDS",
    "WEIGHT_TERMINALS",
]
