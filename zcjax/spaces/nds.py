"""NDS design spaces (Radosavovic et al., "On Network Design Spaces for Visual Recognition",
ICCV 2019): the pycls networks of every record of an NDS sweep file, as plans and Flax modules.

Two families, told apart by the record's ``net`` config (see ``nds/SCHEMA.md`` in the data):

- Cell spaces (DARTS, ENAS, Amoeba, PNAS, NASNet and their ``_fix-w-d`` / ``_lr-wd`` sweeps):
  DARTS-style ``NetworkCIFAR`` / ``NetworkImageNet`` of ``depth`` cells at width ``width``,
  reduction cells at ``depth // 3`` and ``2 * depth // 3``, a genotype of ``[op, input]`` pairs
  (two per node) and the concatenated states. Values between cells are BN outputs.
- AnyNet spaces (ResNet, ResNeXt-A/B, Vanilla): a stem (entry 0 of ``ds/ws/ss``) and stages of
  basic, bottleneck (``num_gs`` = number of groups) or plain double blocks. Values between
  blocks are *pre-activations*: each block's final ReLU is applied by the units that read it
  (ReLU -> conv -> BN, one unit per conv) and by a ``Relu`` op on identity shortcuts, which is
  the same function and makes every conv a ReLU-Conv-BN unit. The ImageNet ResNet stem's max
  pool runs before that ReLU (they commute). ResNeXt's ImageNet stem (``ss[0] = 8``) is three
  conv3x3s, which reproduces the records' params and FLOPs exactly.

Units follow EZNAS's ``create_layer_sequence`` on these networks: a separable or dilated conv
contributes its pointwise conv (``dil_sep``/``sep`` convs two units), factorised convs their
second conv, FactorizedReduce its second conv, and the first stem conv (with no ReLU before it)
is a plain ``Conv`` op, not a unit. Architectures are ``Model``s: a record's ``idx`` and its
``net`` config as canonical JSON.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
import math
import os
import reprlib
import zlib

import numpy as np

from zcjax import data, engine, netplan
from zcjax.data import DataNotFoundError, Table, data_file, find_data_dir, no_data_hint
from zcjax.nn import strided_size
from zcjax.spaces.benchmark import Benchmark
from zcjax.spaces.costs import Costs
from zcjax.spaces.plan_network import PlanNetwork

DATASETS = ("cifar10", "imagenet")
NUM_CLASSES = {d: data.NUM_CLASSES[d] for d in DATASETS}  # the one table, in zcjax.data
INPUT_SIZE = {d: data.INPUT_SIZE[d] for d in DATASETS}

# Every sweep of the NDS data.zip: official file stem -> dataset of its networks.
CELL_SWEEPS = ("Amoeba", "DARTS", "ENAS", "NASNet", "PNAS")
FILES = {
    **{f"{s}_in": "imagenet" for s in CELL_SWEEPS},
    "DARTS_fix-w-d_in": "imagenet",
    "DARTS_lr-wd_in": "imagenet",
    "ResNeXt-A_in": "imagenet",
    "ResNeXt-B_in": "imagenet",
    "ResNet_lr-wd_in": "imagenet",
    "Vanilla_lr-wd_in": "imagenet",
    **{s: "cifar10" for s in CELL_SWEEPS},
    **{f"{s}_fix-w-d": "cifar10" for s in ("DARTS", "ENAS", "PNAS")},
    "DARTS_lr-wd": "cifar10",
    **{s: "cifar10" for s in ("ResNet", "ResNet-B", "ResNeXt-A", "ResNeXt-B", "Vanilla")},
    **{f"{s}_lr-wd": "cifar10" for s in ("ResNet", "Vanilla")},
    **{f"{s}_rng{i}": "cifar10" for s in ("ResNet", "Vanilla") for i in (1, 2, 3)},
    "ResNet_reruns": "cifar10",
    "Vanilla_reruns": "cifar10",
}
SPACE_FILES = {f"nds_{stem.lower()}": stem for stem in FILES}

# Ops of the cell spaces: name -> (kind, kernel); see SCHEMA.md's op table.
CELL_OPS = {
    "none": ("none", 0),
    "skip_connect": ("skip", 0),
    "avg_pool_3x3": ("avg_pool", 3),
    "max_pool_3x3": ("max_pool", 3),
    "max_pool_5x5": ("max_pool", 5),
    "max_pool_7x7": ("max_pool", 7),
    "conv_1x1": ("conv", 1),
    "conv_3x3": ("conv", 3),
    "conv_3x1_1x3": ("factorized_conv", 3),
    "conv_7x1_1x7": ("factorized_conv", 7),
    "sep_conv_3x3": ("sep_conv", 3),
    "sep_conv_5x5": ("sep_conv", 5),
    "sep_conv_7x7": ("sep_conv", 7),
    "dil_conv_3x3": ("dil_conv", 3),
    "dil_conv_5x5": ("dil_conv", 5),
    "dil_sep_conv_3x3": ("dil_sep_conv", 3),
}
BLOCK_TYPES = ("res_basic_block", "res_bottleneck_block", "double_plain_block")

# Upper bounds of net configs (``check_net``), about ten times every record held (cells: depth
# <= 22, width <= 96, 5 nodes; AnyNet: 5 entries of ds/ws/ss, <= 24 blocks a stage, widths <=
# 1024, strides <= 2), so that a slip such as ``depth: 1e9`` fails at once instead of building
# a network for minutes.
MAX_CELL_DEPTH = 256  # cells
MAX_CELL_WIDTH = 1024  # channels of the first cells
MAX_CELL_NODES = 16  # intermediate nodes per cell
MAX_STAGES = 16  # entries of ds/ws/ss, the stem's included
MAX_STAGE_DEPTH = 256  # blocks per stage
MAX_WIDTH = 16384  # AnyNet channels: ws, bottleneck widths, groups
MAX_STRIDE = 8  # first-block stride of an AnyNet stage
MAX_IDX = 2**31 - 1  # record indices (``model_id`` puts hand-made configs above)
MAX_COUNT = 2**63 - 1  # params, FLOPs, epochs of a record


class NdsError(ValueError):
    """A malformed NDS record or net config."""


@dataclasses.dataclass(frozen=True)
class Model:
    """One NDS architecture: the record's ``idx`` (-1 for a config given by hand) and its
    ``net`` config as canonical JSON (sorted keys, no spaces)."""

    idx: int
    net: str

    @functools.cached_property
    def config(self) -> dict:
        return json.loads(self.net)


@dataclasses.dataclass(frozen=True)
class Record:
    """One trained model of a sweep (fields of SCHEMA.md; ``acc`` = 100 - final top-1 error)."""

    idx: int
    acc: float
    acc_best: float
    net: dict
    params: int
    flops: int
    epochs: int
    split: str = ""


def canonical(net: dict) -> str:
    return json.dumps(net, sort_keys=True, separators=(",", ":"))


# ----------------------------------------------------------------------------- records


def record_from_official(idx: int, raw: dict, split: str = "") -> Record:
    """A record of an official NDS json file (per-epoch curves) in our form."""
    try:
        _need_object(raw)
        errors = raw["test_ep_top1"]
        if not isinstance(errors, list) or not errors:
            raise NdsError(f"'test_ep_top1' must be a non-empty list, got {_show(errors)}.")
        errors = [_number(e, "'test_ep_top1' entry") for e in errors]
        return Record(
            idx=idx,
            acc=round(100.0 - errors[-1], 6),
            acc_best=round(
                100.0 - _number(raw.get("min_test_top1", min(errors)), "'min_test_top1'"), 6
            ),
            net=_checked_net(raw["net"]),
            params=_int(raw["params"], "'params'", 0, MAX_COUNT),
            flops=_int(raw["flops"], "'flops'", 0, MAX_COUNT),
            epochs=len(errors),
            split=split,
        )
    except KeyError as e:
        raise NdsError(f"official NDS record {idx}: missing field {e}.") from None
    except NdsError as e:
        raise NdsError(f"official NDS record {idx}: {e}") from None


def record_from_compact(raw: dict) -> Record:
    """A record of our ``*.jsonl`` files (SCHEMA.md)."""
    name = "NDS record"
    try:
        _need_object(raw)
        name = f"NDS record {_show(raw.get('idx', '?'))}"
        split = raw.get("split", "")
        if not isinstance(split, str):
            raise NdsError(f"'split' must be a string, got {_show(split)}.")
        return Record(
            idx=_int(raw["idx"], "'idx'", 0, MAX_IDX),
            acc=_number(raw["acc"], "'acc'"),
            acc_best=_number(raw.get("acc_best", raw["acc"]), "'acc_best'"),
            net=_checked_net(raw["net"]),
            params=_int(raw["params"], "'params'", 0, MAX_COUNT),
            flops=_int(raw["flops"], "'flops'", 0, MAX_COUNT),
            epochs=_int(raw.get("epochs", 0), "'epochs'", 0, MAX_COUNT),
            split=split,
        )
    except KeyError as e:
        raise NdsError(f"{name}: missing field {e}.") from None
    except NdsError as e:
        raise NdsError(f"{name}: {e}") from None


def _need_object(raw) -> None:
    if not isinstance(raw, dict):
        raise NdsError(f"a record is a JSON object, got {type(raw).__name__}.")


def _checked_net(net) -> dict:
    try:
        check_net(net)
    except NdsError as e:
        raise NdsError(f"bad 'net': {e}") from None
    return net


def _number(value, what: str) -> float:
    """``value`` as a float if it is a finite number (not a bool); else NdsError."""
    if not isinstance(value, bool) and isinstance(value, int | float):
        x = float(value) if abs(value) < 1e300 else math.inf
        if math.isfinite(x):
            return x
    raise NdsError(f"{what} must be a finite number, got {_show(value)}.")


def read_records(path: str | os.PathLike) -> list[Record]:
    """Records of an NDS sweep file: our ``.jsonl`` (one record per line) or an official
    ``.json`` (a list, or ``{"top": [...], "mid": [...]}`` read as ``top + mid``); ``.gz`` ok."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            text = f.read()
        if path.removesuffix(".gz").endswith(".jsonl"):
            lines = enumerate(text.splitlines(), 1)
            records = [_compact_line(n, ln) for n, ln in lines if ln.strip()]
        else:
            records = _official_records(_json(text))
    except (NdsError, UnicodeDecodeError, gzip.BadGzipFile, EOFError) as e:
        raise NdsError(f"{path}: {e}") from None
    if not records:
        raise NdsError(f"{path} holds no records.")
    return records


def _json(text: str):
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:  # also too deep, or an int of 4300+ digits
        raise NdsError(f"not valid JSON ({e}).") from None


def _compact_line(number: int, line: str) -> Record:
    try:
        return record_from_compact(_json(line))
    except NdsError as e:
        raise NdsError(f"line {number}: {e}") from None


def _official_records(raw) -> list[Record]:
    if isinstance(raw, dict) and set(raw) == {"top", "mid"}:
        if not all(isinstance(raw[k], list) for k in ("top", "mid")):
            raise NdsError("'top' and 'mid' must be lists of records.")
        pairs = [(r, "top") for r in raw["top"]] + [(r, "mid") for r in raw["mid"]]
    elif isinstance(raw, list):
        pairs = [(r, "") for r in raw]
    else:
        raise NdsError("expected a list of records or {'top', 'mid'} lists.")
    return [record_from_official(i, r, s) for i, (r, s) in enumerate(pairs)]


_EXTENSIONS = (".jsonl", ".jsonl.gz", ".json", ".json.gz")


def sweep_file(stem: str, data_dir=None) -> str:
    """Path of sweep ``stem``: ``nds/<stem>.jsonl`` or an official ``nds/<stem>.json``."""
    root = find_data_dir(data_dir)
    if root is None:
        raise DataNotFoundError(f"No data folder found for NDS {stem!r}: {no_data_hint()}")
    for ext in _EXTENSIONS:
        if (root / "nds" / f"{stem}{ext}").is_file():
            return str(root / "nds" / f"{stem}{ext}")
    return str(data_file(f"nds/{stem}.jsonl", data_dir))  # raises, naming the file


@functools.lru_cache(maxsize=32)
def _records(path: str) -> tuple[Record, ...]:
    return tuple(read_records(path))


def load_benchmark(stem: str, data_dir=None) -> Benchmark:
    """Sweep ``stem`` as a Benchmark: archs are ``Model``s, index = ``idx``, columns
    ``acc``, ``acc_best``, ``params``, ``flops``, ``epochs``."""
    records = _records(sweep_file(stem, data_dir))
    table = Table(
        {
            "index": np.array([r.idx for r in records]),
            "acc": np.array([r.acc for r in records]),
            "acc_best": np.array([r.acc_best for r in records]),
            "params": np.array([r.params for r in records]),
            "flops": np.array([r.flops for r in records]),
            "epochs": np.array([r.epochs for r in records]),
        },
        source=f"nds/{stem}",
    )
    archs = [Model(r.idx, canonical(r.net)) for r in records]
    return Benchmark(archs=archs, index=table["index"], table=table)


# ----------------------------------------------------------------------------- architectures


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


class _ShortRepr(reprlib.Repr):
    """reprlib's bounded repr (depth, lengths), also for ints too long for ``repr``."""

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother = 3, 40, 40

    def repr_int(self, x, level):
        return f"<a {x.bit_length()}-bit integer>" if x.bit_length() > 64 else repr(x)


_show = _ShortRepr().repr  # a short one-line repr of a config value, for error messages


# ----------------------------------------------------------------------------- plans


def plan(model: Model, dataset: str = "imagenet", bn: bool = True) -> netplan.Plan:
    """The network of ``model`` as a plan (``bn=False``: every BN removed, for synflow)."""
    if dataset not in NUM_CLASSES:
        raise ValueError(f"Unknown NDS dataset {dataset!r}; expected one of {sorted(NUM_CLASSES)}.")
    return _plan(model.net, dataset, bn)


@functools.lru_cache(maxsize=64)
def _plan(net_json: str, dataset: str, bn: bool) -> netplan.Plan:
    net = json.loads(net_json)
    b = netplan.Builder()
    if check_net(net) == "cell":
        out = _cell_network(b, net, dataset, bn)
    else:
        out = _anynet(b, net, dataset, bn)
    size = INPUT_SIZE[dataset]
    return b.build(out, (size, size, 3))


def _bn(path, bn):
    return path if bn else None


def _cell_network(b: netplan.Builder, net: dict, dataset: str, bn: bool) -> int:
    c, depth, genotype = net["width"], net["depth"], net["genotype"]
    if dataset == "imagenet" and c % 2:  # pycls's FactorizedReduce of the first cell asserts it
        raise NdsError(f"an ImageNet cell network needs an even width, got {c}.")
    if dataset == "imagenet":
        s0 = b.conv(("stem0", "conv_0"), 0, c // 2, 3, stride=2, bn_path=_bn(("stem0", "bn_0"), bn))
        s0 = b.unit(("stem0", "unit_1"), s0, c, 3, stride=2, bn=bn)
        s1 = b.unit(("stem1",), s0, c, 3, stride=2, bn=bn)
        reduction_prev = True
    else:
        s0 = s1 = b.conv(("stem", "conv"), 0, 3 * c, 3, bn_path=_bn(("stem", "bn"), bn))
        reduction_prev = False
    c_curr = c
    for i in range(depth):
        reduction = i in (depth // 3, 2 * depth // 3)
        c_curr = c_curr * 2 if reduction else c_curr
        kind = "reduce" if reduction else "normal"
        cell = _cell(
            b,
            f"cell_{i}",
            genotype[kind],
            genotype[f"{kind}_concat"],
            s0,
            s1,
            c_curr,
            reduction,
            reduction_prev,
            bn,
        )
        s0, s1 = s1, cell
        reduction_prev = reduction
    return b.head(None, ("classifier",), s1, NUM_CLASSES[dataset], relu=False)


def _cell(b, name, edges, concat, s0, s1, c, reduction, reduction_prev, bn) -> int:
    if reduction_prev:
        s0 = b.unit((name, "preprocess0"), s0, c, 1, stride=2, factorized=True, bn=bn)
    else:
        s0 = b.unit((name, "preprocess0"), s0, c, 1, bn=bn)
    s1 = b.unit((name, "preprocess1"), s1, c, 1, bn=bn)
    states = [s0, s1]
    for node in range(len(edges) // 2):
        inputs, zero_like = [], None
        for j in (2 * node, 2 * node + 1):
            op, src = edges[j]
            stride = 2 if reduction and src < 2 else 1
            y = _cell_op(b, (name, f"op_{j}"), op, states[src], c, stride, bn)
            if y is None:
                zero_like = zero_like or (states[src], stride)
            else:
                inputs.append(y)
        if inputs:
            states.append(b.add(tuple(inputs)))
        else:
            states.append(b.add((), like=zero_like[0], stride=zero_like[1]))
    return b.concat(tuple(states[i] for i in concat))


def _cell_op(b, path, op, x, c, stride, bn) -> int | None:
    """One genotype op on value ``x``; None for ``none`` (it adds nothing)."""
    kind, k = CELL_OPS[op]
    if kind == "none":
        return None
    if kind == "skip":
        return x if stride == 1 else b.unit(path, x, c, 1, stride=2, factorized=True, bn=bn)
    if kind in ("avg_pool", "max_pool"):
        return b.pool(x, k, stride, (k - 1) // 2, kind=kind.removesuffix("_pool"))
    if kind == "conv":
        return b.unit(path, x, c, k, stride=stride, bn=bn)
    if kind == "factorized_conv":
        pre = (netplan.PreConv(f"conv_1x{k}", (1, k), (1, stride)),)
        return b.unit(path, x, c, (k, 1), stride=(stride, 1), pre=pre, bn=bn)
    dilation = 2 if kind.startswith("dil") else 1
    depthwise = netplan.PreConv("depthwise", (k, k), (stride, stride), dilation, groups=0)
    if kind == "dil_conv":
        return b.unit(path, x, c, 1, pre=(depthwise,), bn=bn)
    y = b.unit((*path, "a"), x, c, 1, pre=(depthwise,), bn=bn)
    depthwise = dataclasses.replace(depthwise, stride=(1, 1))
    return b.unit((*path, "b"), y, c, 1, pre=(depthwise,), bn=bn)


def _anynet(b: netplan.Builder, net: dict, dataset: str, bn: bool) -> int:
    ds, ws, ss = net["ds"], net["ws"], net["ss"]
    v = _stem(b, ws[0], ss[0], bn)
    if (ss[0] == 1) != (dataset == "cifar10"):
        raise NdsError(
            f"stem stride {ss[0]} does not fit dataset {dataset!r} (1: cifar10, 4/8: imagenet)."
        )
    w_in = ws[0]
    block = net["block_type"]
    for stage in range(1, len(ds)):
        w = ws[stage]
        for i in range(ds[stage]):
            name = f"s{stage}_b{i + 1}"
            stride = ss[stage] if i == 0 else 1
            if block == "double_plain_block":
                a = b.unit((name, "a"), v, w, 3, stride=stride, bn=bn)
                v = b.unit((name, "b"), a, w, 3, bn=bn)
            else:
                if block == "res_basic_block":
                    a = b.unit((name, "a"), v, w, 3, stride=stride, bn=bn)
                    out = b.unit((name, "b"), a, w, 3, bn=bn)
                else:
                    w_b = int(round(w * net["bot_muls"][stage]))
                    groups = net["num_gs"][stage]
                    a = b.unit((name, "a"), v, w_b, 1, bn=bn)
                    a = b.unit((name, "b"), a, w_b, 3, stride=stride, groups=groups, bn=bn)
                    out = b.unit((name, "c"), a, w, 1, bn=bn)
                if w_in != w or stride != 1:
                    shortcut = b.unit(
                        (name, "proj"), v, w, 1, stride=stride, bn=bn, shared_relu=True
                    )
                else:
                    shortcut = b.relu(v)
                v = b.add((out, shortcut))
            w_in = w
    return b.head(None, ("head", "fc"), v, NUM_CLASSES[dataset])


def _stem(b: netplan.Builder, w: int, stride: int, bn: bool) -> int:
    """The stem's output (a pre-activation). 1: CIFAR conv3x3; 4: ResNet's conv7x7 s2 + max
    pool s2; 8: ResNeXt's three conv3x3 + BN, 3 -> 32 -> 64 -> w, each stride 2 (56,480
    params for w = 64, and the records' FLOPs pin the strides)."""
    if stride == 1:
        return b.conv(("stem", "conv"), 0, w, 3, bn_path=_bn(("stem", "bn"), bn))
    if stride == 4:
        v = b.conv(("stem", "conv"), 0, w, 7, stride=2, bn_path=_bn(("stem", "bn"), bn))
        return b.pool(v, 3, 2, 1, kind="max")
    v = b.conv(("stem", "conv_0"), 0, 32, 3, stride=2, bn_path=_bn(("stem", "bn_0"), bn))
    v = b.unit(("stem", "unit_1"), v, 64, 3, stride=2, bn=bn)
    v = b.unit(("stem", "unit_2"), v, w, 3, stride=2, bn=bn)
    return v


# ----------------------------------------------------------------------------- costs


def plan_costs(p: netplan.Plan) -> Costs:
    """Params and FLOPs of a plan at its input shape, batch 1 (``spaces.costs`` convention)."""
    return Costs(*engine.plan_costs(p))


def costs(model: Model, dataset: str = "imagenet") -> Costs:
    """Params and FLOPs of ``model`` as the NDS records count them.

    Params are ``plan_costs``'s. The records' FLOPs add to the conv and linear multiply-adds
    (found by fitting, and reproducing every record held exactly): for cell networks one per
    ReLU input element, ``k * k`` per pooled output element and one per globally pooled input
    element, with a dilated conv's depthwise part counted at the output size its counter got
    by ignoring dilation, ``(H + 2 * pad - k) // stride + 1``; for AnyNet networks five per BN
    output element.
    """
    p = plan(model, dataset)
    base = plan_costs(p)
    return Costs(base.params, base.flops + _record_flops_extra(p, check_net(model.config)))


def _record_flops_extra(p: netplan.Plan, family: str) -> int:
    shapes = engine.value_shapes(p)
    extras = _CELL_EXTRA if family == "cell" else _ANYNET_EXTRA
    return sum(extras[type(op)](op, shapes) for op in p.ops if type(op) in extras)


def _size(shape) -> int:
    """Elements of one sample of a value of ``shape`` [B, ...]."""
    return math.prod(shape[1:])


def _cell_unit_extra(op: netplan.Unit, shapes) -> int:
    """Its ReLU's input elements, and the dilated depthwise conv's miscounted output."""
    extra = _size(shapes[op.src])
    dilated = [c for c in op.pre if c.dilation > 1]
    if dilated:
        c = dilated[0]
        (k, _), (s, _) = c.kernel, c.stride
        h, w, c_in = shapes[op.src][1:]
        pad = c.dilation * (k - 1) // 2
        counted = ((h + 2 * pad - k) // s + 1) * ((w + 2 * pad - k) // s + 1)
        extra += (counted - math.prod(strided_size(h, w, s))) * k * k * c_in
    return extra


# What the records' FLOP counter adds per op type, beyond the conv and linear MACs (``costs``).
_CELL_EXTRA = {
    netplan.Unit: _cell_unit_extra,
    netplan.Pool: lambda op, shapes: _size(shapes[op.dst]) * op.window**2,
    netplan.Head: lambda op, shapes: _size(shapes[op.src]),
}
_ANYNET_EXTRA = {  # five per BN output element
    netplan.Unit: lambda op, shapes: 5 * _size(shapes[op.dst]) if op.bn else 0,
    netplan.Conv: lambda op, shapes: 5 * _size(shapes[op.dst]) if op.bn_path else 0,
}


def network(model: Model, dataset: str = "imagenet", **kwargs) -> PlanNetwork:
    """The Flax module of ``model`` (``plan_network.PlanNetwork`` of its plan)."""
    return PlanNetwork(plan(model, dataset), **kwargs)


def available_spaces(data_dir=None) -> list[str]:
    """Names of the NDS spaces whose sweep file is in the data folder."""
    root = find_data_dir(data_dir)
    if root is None:
        return []
    found = []
    for name, stem in SPACE_FILES.items():
        if any((root / "nds" / f"{stem}{ext}").is_file() for ext in _EXTENSIONS):
            found.append(name)
    return found
