"""Architectures as net configs: ``parse_model`` (JSON text -> ``Model``), ``model_id``, and
``check_net``, which validates a config against the cell or AnyNet schema and its ``MAX_*``
bounds, with the value checks (``_int``, ``_json``) and short reprs (``_show``) that the
record readers share.
"""

from __future__ import annotations

import json
import reprlib
import zlib

from zcjax.spaces.nds.schema import (
    BLOCK_TYPES,
    CELL_OPS,
    MAX_CELL_DEPTH,
    MAX_CELL_NODES,
    MAX_CELL_WIDTH,
    MAX_IDX,
    MAX_STAGE_DEPTH,
    MAX_STAGES,
    MAX_STRIDE,
    MAX_WIDTH,
    Model,
    NdsError,
    canonical,
)


def parse_model(text: str) -> Model:
    """A ``net`` config (or a whole record with ``idx`` and ``net``) as JSON text -> Model."""
    try:
        raw = _json(text)
    except NdsError as e:
        raise NdsError(f"NDS architectures are JSON net configs; {_show(text)} is {e}") from None
    idx = -1
    if isinstance(raw, dict) and "net" in raw:
        idx, raw = _int(raw.get("idx", -1), "record 'idx'", -1, MAX_IDX), raw["net"]
    model = Model(idx, canonical(raw))
    check_net(model.config)
    return model


def model_id(model: Model) -> int:
    """The record's idx; configs given by hand get a CRC32 above 2**31 (no clash)."""
    return model.idx if model.idx >= 0 else 2**31 + zlib.crc32(model.net.encode())


def check_net(net) -> str:
    """Validates a net config; returns its family, "cell" or "anynet".

    Raises NdsError naming the first bad entry: a missing key, a value of the wrong type
    (booleans and floats are not integers), an integer out of its range (``MAX_*``), an
    unknown op or block type, or an input index that is not an earlier state.
    """
    if not isinstance(net, dict):
        raise NdsError(f"An NDS net config is a JSON object, got {type(net).__name__}.")
    if ("genotype" in net) == ("block_type" in net):
        raise NdsError(
            "An NDS net config has either a 'genotype' (cell spaces) or a 'block_type' (AnyNet)."
        )
    if "genotype" in net:
        _check_cell_net(net)
        return "cell"
    _check_anynet(net)
    return "anynet"


def _check_cell_net(net: dict) -> None:
    _int(net.get("depth"), "cell net 'depth'", 1, MAX_CELL_DEPTH)
    _int(net.get("width"), "cell net 'width'", 1, MAX_CELL_WIDTH)
    if net.get("aux", False) is not False:
        raise NdsError(f"cell net 'aux' must be false (no auxiliary head): {_show(net['aux'])}.")
    g = net["genotype"]
    if not isinstance(g, dict):
        raise NdsError(f"cell net 'genotype' must be an object, got {_show(g)}.")
    for kind in ("normal", "reduce"):
        _check_cell(g.get(kind), g.get(f"{kind}_concat"), kind)


def _check_cell(edges, concat, kind: str) -> None:
    """One cell of a genotype: ``[op, input]`` pairs, two per node, and its output states."""
    if not isinstance(edges, list) or len(edges) % 2 or not edges:
        raise NdsError(f"genotype {kind!r} must be an even-length list of [op, input] pairs.")
    if len(edges) > 2 * MAX_CELL_NODES:
        raise NdsError(f"genotype {kind!r} has {len(edges) // 2} nodes; at most {MAX_CELL_NODES}.")
    for k, edge in enumerate(edges):
        if not (isinstance(edge, list) and len(edge) == 2):
            raise NdsError(f"genotype {kind} edge {k} is not [op, input]: {_show(edge)}.")
        op, src = edge
        if not isinstance(op, str) or op not in CELL_OPS:
            raise NdsError(
                f"genotype {kind} edge {k}: unknown op {_show(op)}; known: {sorted(CELL_OPS)}."
            )
        _int(src, f"genotype {kind} edge {k}: input", 0, k // 2 + 1)
    nodes = len(edges) // 2 + 2
    # A reduction cell's states 0 and 1 keep the input's size: only its nodes can be concatenated.
    first = 2 if kind == "reduce" else 0
    if (
        not isinstance(concat, list)
        or not concat
        or any(isinstance(c, bool) or not isinstance(c, int) for c in concat)
        or not all(first <= c < nodes for c in concat)
        or len(set(concat)) != len(concat)
    ):
        raise NdsError(
            f"genotype {kind}_concat must list distinct states in {first}..{nodes - 1}, "
            f"got {_show(concat)}."
        )


def _check_anynet(net: dict) -> None:
    block = net["block_type"]
    if not isinstance(block, str) or block not in BLOCK_TYPES:
        raise NdsError(f"unknown block_type {_show(block)}; known: {BLOCK_TYPES}.")
    keys = ("ds", "ws", "ss")
    if block == "res_bottleneck_block":
        keys += ("bot_muls", "num_gs")
    lists = [net.get(k) for k in keys]
    n = len(lists[0]) if isinstance(lists[0], list) else 0
    if not 2 <= n <= MAX_STAGES or any(not isinstance(v, list) or len(v) != n for v in lists):
        raise NdsError(
            f"AnyNet config needs lists {', '.join(keys)} of one length in 2..{MAX_STAGES} "
            "(entry 0: the stem)."
        )
    ds, ws, ss = lists[:3]
    if type(ds[0]) is not int or ds[0] != 1:
        raise NdsError(f"ds[0] describes the stem and must be 1, got {_show(ds[0])}.")
    if type(ss[0]) is not int or ss[0] not in (1, 4, 8):
        raise NdsError(f"unknown stem stride ss[0] = {_show(ss[0])} (1: CIFAR, 4/8: ImageNet).")
    _int(ws[0], "ws[0]", 1, MAX_WIDTH)
    for i in range(1, n):
        _int(ds[i], f"ds[{i}]", 1, MAX_STAGE_DEPTH)
        _int(ws[i], f"ws[{i}]", 1, MAX_WIDTH)
        _int(ss[i], f"ss[{i}]", 1, MAX_STRIDE)
        if block == "res_bottleneck_block":
            _bottleneck_width(ws[i], net["bot_muls"][i], net["num_gs"][i], i)


def _bottleneck_width(w: int, bot_mul, groups, i: int) -> int:
    """``round(w * bot_mul)``, checked to be a width that ``groups`` groups divide."""
    if isinstance(bot_mul, bool) or not isinstance(bot_mul, int | float):
        raise NdsError(f"bot_muls[{i}] must be a number, got {_show(bot_mul)}.")
    if not 0 < bot_mul <= MAX_WIDTH:  # also false for NaN
        raise NdsError(f"bot_muls[{i}] must be in (0, {MAX_WIDTH}], got {_show(bot_mul)}.")
    w_b = _int(int(round(w * bot_mul)), f"round(ws[{i}] * bot_muls[{i}])", 1, MAX_WIDTH)
    if w_b % _int(groups, f"num_gs[{i}]", 1, MAX_WIDTH):
        raise NdsError(f"num_gs[{i}] = {groups} groups do not divide the bottleneck width {w_b}.")
    return w_b


def _int(value, what: str, lo: int, hi: int) -> int:
    """``value`` if it is an integer (not a bool, not a float) in ``lo..hi``; else NdsError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise NdsError(f"{what} must be an integer, got {_show(value)}.")
    if not lo <= value <= hi:
        raise NdsError(f"{what} must be in {lo}..{hi}, got {_show(value)}.")
    return value


def _json(text: str):
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:  # also too deep, or an int of 4300+ digits
        raise NdsError(f"not valid JSON ({e}).") from None


class _ShortRepr(reprlib.Repr):
    """reprlib's bounded repr (depth, lengths), also for ints too long for ``repr``."""

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother = 3, 40, 40

    def repr_int(self, x, level):
        return f"<a {x.bit_length()}-bit integer>" if x.bit_length() > 64 else repr(x)


_show = _ShortRepr().repr  # a short one-line repr of a config value, for error messages
