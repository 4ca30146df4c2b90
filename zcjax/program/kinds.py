"""Kinds: the shape classes that type proxy programs (DEAP's strongly typed GP, by shape).

Programs see statistics in PyTorch layout, as EZNAS's primitives were written for it:
- ``A``  activation-like, [B, C, H, W] (H == W): ReLU inputs, BN outputs and their gradients;
- ``W``  weight-like, [C_out, C_in, k, k]: conv weights and their gradients;
- ``Am`` one value per activation map, [B, C]: what ``det``/``logdet`` make of an ``A``;
- ``Wm`` one value per kernel, [C_out, C_in]: what ``det``/``logdet`` make of a ``W``;
- ``S``  scalar, [].

Network kinds (the opt-in network language, ``zcjax.program.network``), above the units:
- ``N``  one value per network: a reducer over its units' scores, a network terminal
  (``log_params``, ...) or arithmetic of those;
- ``E``  an ensemble of several ``N`` trees, combined by the sum of their log-ranks over the
  scored set (only at the root).

A kind guarantees the rank and which dimensions mean what, not exact sizes: ``add`` of a ReLU
input [B, C_in, H, W] and a BN output [B, C_out, H', W'] is well typed, but it has no value on
units where the sizes differ (a stride-2 unit, say); such units are skipped (see ``compile``).
"""

from __future__ import annotations

A, W, AM, WM, S = "A", "W", "Am", "Wm", "S"
N, E = "N", "E"
KINDS = (A, W, AM, WM, S)  # unit kinds: EZNAS's language
NETWORK_KINDS = (N, E)
ALL_KINDS = KINDS + NETWORK_KINDS
DESCRIPTIONS = {
    A: "activation-like [B, C, H, W]",
    W: "weight-like [C_out, C_in, k, k]",
    AM: "one value per activation map [B, C]",
    WM: "one value per kernel [C_out, C_in]",
    S: "scalar",
    N: "one value per network",
    E: "rank ensemble of network values",
}
MATRIX_OF = {A: AM, W: WM}  # det/logdet over the last two (square) dims
