"""NAS-Bench-201 (Dong & Yang, ICLR 2020): architectures, their strings, and the network.

An architecture is a tuple of 6 op codes, one per cell edge, in arch-string order
``(1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)``; codes follow NB201's op order
``0 none, 1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3, 4 avg_pool_3x3``. Its string is
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. ``arch_id`` numbers the 5**6 = 15,625 architectures
in base 5 (first edge most significant); the *official* index comes from the benchmark table.

The network follows the official ``TinyNetwork``/``InferCell`` of xautodl: stem conv3x3 + BN;
three stages of N cells at C, 2C, 4C channels with a ResNet basic block (stride 2) between
stages; BN-ReLU, global average pooling and a linear classifier. Every edge is computed as in
the official code (dead edges included, ``none`` as ``x * 0``), so parameter counts equal the
official ones.
"""

from __future__ import annotations

import functools
import itertools
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from zcjax import data, netplan
from zcjax.data import load_nb201_table
from zcjax.nn import avg_pool
from zcjax.spaces.benchmark import Benchmark
from zcjax.spaces.costs import Costs, count_costs
from zcjax.spaces.layers import BatchNorm, Conv, Linear, ReLUConvBN

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_EDGES = 6
NUM_ARCHS = len(OPS) ** NUM_EDGES
# (destination node, source node) of each edge, in arch-string order.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
EDGE_COLUMNS = tuple(f"op_{d}_{s}" for d, s in EDGES)
DATASETS = ("cifar10", "cifar100", "imagenet16")
NUM_CLASSES = {d: data.NUM_CLASSES[d] for d in DATASETS}  # the one table, in zcjax.data
INPUT_SIZE = {d: data.INPUT_SIZE[d] for d in DATASETS}

Arch = tuple[int, ...]


class ArchError(ValueError):
    """A malformed NB201 architecture (string, code tuple or index)."""


_NODE_RE = re.compile(r"^\|(.*)\|$")


def parse_arch(text: str) -> Arch:
    """Parses an official arch string into 6 op codes; raises ArchError saying what is wrong."""
    if not isinstance(text, str):
        raise ArchError(f"Expected an NB201 arch string, got {type(text).__name__}.")
    nodes = text.strip().split("+")
    if len(nodes) != 3:
        raise ArchError(
            f"{text!r}: expected 3 nodes joined by '+' (|op~0|+|op~0|op~1|+|op~0|op~1|op~2|), "
            f"found {len(nodes)}."
        )
    codes = []
    for dst, node in enumerate(nodes, start=1):
        match = _NODE_RE.match(node)
        if not match:
            raise ArchError(f"{text!r}: node {dst} {node!r} must start and end with '|'.")
        edges = match.group(1).split("|")
        if len(edges) != dst:
            raise ArchError(f"{text!r}: node {dst} needs {dst} incoming edges, found {len(edges)}.")
        for src, edge in enumerate(edges):
            op, sep, source = edge.partition("~")
            if not sep:
                raise ArchError(f"{text!r}: edge {edge!r} of node {dst} is not of the form op~src.")
            if op not in OPS:
                raise ArchError(
                    f"{text!r}: unknown op {op!r} on edge {dst}<-{src}; known ops: {', '.join(OPS)}."
                )
            if source != str(src):
                raise ArchError(
                    f"{text!r}: edge {edge!r} of node {dst} must come from node {src}, not {source!r}."
                )
            codes.append(OPS.index(op))
    return tuple(codes)


def arch_to_string(arch: Arch) -> str:
    """The official arch string of a code tuple."""
    arch = check_arch(arch)
    it = iter(arch)
    nodes = (
        "|" + "|".join(f"{OPS[next(it)]}~{src}" for src in range(dst)) + "|" for dst in (1, 2, 3)
    )
    return "+".join(nodes)


def check_arch(arch) -> Arch:
    """Validates a code tuple and returns it as a tuple of ints."""
    codes = tuple(int(c) for c in np.asarray(arch).ravel())
    if len(codes) != NUM_EDGES or any(not 0 <= c < len(OPS) for c in codes):
        raise ArchError(
            f"An NB201 arch is {NUM_EDGES} op codes in 0..{len(OPS) - 1}, got {arch!r}."
        )
    return codes


def arch_id(arch: Arch) -> int:
    """Position of ``arch`` in ``enumerate_archs()`` (base-5 number of its codes)."""
    return int(np.dot(check_arch(arch), len(OPS) ** np.arange(NUM_EDGES - 1, -1, -1)))


def arch_from_id(i: int) -> Arch:
    if not 0 <= i < NUM_ARCHS:
        raise ArchError(f"NB201 arch ids are 0..{NUM_ARCHS - 1}, got {i}.")
    return tuple(int(d) for d in np.base_repr(i, len(OPS)).zfill(NUM_EDGES))


def enumerate_archs() -> list[Arch]:
    """All 15,625 architectures, in ``arch_id`` order."""
    return [tuple(a) for a in itertools.product(range(len(OPS)), repeat=NUM_EDGES)]


def arch_codes_from_table(table) -> np.ndarray:
    """[N, 6] op codes of the benchmark table's rows, checked against the arch strings."""
    codes = np.stack([table[c] for c in EDGE_COLUMNS], axis=1).astype(np.int64)
    for row in (0, len(codes) - 1):
        if parse_arch(str(table["arch"][row])) != tuple(codes[row]):
            raise ValueError(
                f"{table.source}: op columns disagree with the arch string in row {row}."
            )
    return codes


# ----------------------------------------------------------------------------- network


class Cell(nn.Module):
    """One NB201 cell: node j = sum over i < j of op_{j<-i}(node i); the output is node 3."""

    arch: Arch
    features: int
    weight_init: str = "eznas"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        nodes = [x]
        codes = iter(self.arch)
        for dst in (1, 2, 3):
            total = None
            for src in range(dst):
                y = edge_op(next(codes), self.features, self.weight_init, f"edge_{dst}_{src}")(
                    nodes[src]
                )
                total = y if total is None else total + y
            nodes.append(total)
        return nodes[-1]


def edge_op(code: int, features: int, weight_init: str, name: str):
    """The function an edge applies; conv edges are ReLUConvBN submodules named ``name``."""
    op = OPS[code]
    if op == "none":
        return lambda x: x * 0.0  # as the official Zero op; never a constant (see stats docs)
    if op == "skip_connect":
        return lambda x: x
    if op == "avg_pool_3x3":
        return lambda x: avg_pool(x, 3, 1, 1)
    kernel = 1 if op == "nor_conv_1x1" else 3
    return ReLUConvBN(features, kernel, weight_init=weight_init, name=name)


class ResBlock(nn.Module):
    """ResNet basic block between stages: ReLUConvBN(stride 2) -> ReLUConvBN, plus a shortcut
    of 2x2 average pooling and a 1x1 conv."""

    features: int
    weight_init: str = "eznas"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = ReLUConvBN(self.features, 3, stride=2, weight_init=self.weight_init, name="conv_a")(x)
        y = ReLUConvBN(self.features, 3, weight_init=self.weight_init, name="conv_b")(y)
        shortcut = avg_pool(x, 2, 2, 0)
        shortcut = Conv(self.features, 1, weight_init=self.weight_init, name="shortcut")(shortcut)
        return y + shortcut


class NB201Network(nn.Module):
    """The NAS-Bench-201 network of ``arch``.

    Submodules are named like the official ``cells`` list: ``cell_0..cell_{3N+1}``, with the
    two ResBlocks at positions N and 2N+1.

    Call: ``x`` [B, H, W, 3] -> logits [B, num_classes].
    """

    arch: Arch
    channels: int = 16
    cells_per_stage: int = 5
    num_classes: int = 10
    weight_init: str = "eznas"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        arch = check_arch(self.arch)
        c = self.channels
        x = Conv(c, 3, weight_init=self.weight_init, name="stem_conv")(x)
        x = BatchNorm(name="stem_bn")(x)
        k = 0
        for stage in range(3):
            width = c * 2**stage
            if stage:
                x = ResBlock(width, weight_init=self.weight_init, name=f"cell_{k}")(x)
                k += 1
            for _ in range(self.cells_per_stage):
                x = Cell(arch, width, weight_init=self.weight_init, name=f"cell_{k}")(x)
                k += 1
        x = nn.relu(BatchNorm(name="last_bn")(x))
        x = jnp.mean(x, axis=(1, 2))
        return Linear(self.num_classes, weight_init=self.weight_init, name="classifier")(x)


def plan(
    arch: Arch,
    dataset: str = "cifar10",
    channels: int = 16,
    cells_per_stage: int = 5,
    bn: bool = True,
) -> netplan.Plan:
    """The network of ``arch`` as an op plan with the same parameter tree as ``network``.

    ``none`` edges are dropped (their ``x * 0`` adds nothing), ``skip_connect`` edges reuse their
    input's value; every other edge is computed, dead ones included, as the official network does.
    ``bn=False`` drops the BNs of the stem, the cells and the head but keeps those of the two
    ResNet blocks, as zero-cost-nas's BN-free NB201 copy for synflow does.
    """
    arch = check_arch(arch)
    b = netplan.Builder()
    x = b.block(b.conv(("stem_conv",), 0, channels, 3, bn_path=("stem_bn",) if bn else None))
    k = 0
    for stage in range(3):
        width = channels * 2**stage
        if stage:
            y = b.unit((f"cell_{k}", "conv_a"), x, width, 3, stride=2)
            y = b.unit((f"cell_{k}", "conv_b"), y, width, 3)
            shortcut = b.conv((f"cell_{k}", "shortcut"), b.pool(x, 2, 2, 0), width, 1)
            x = b.block(b.add((y, shortcut)))
            k += 1
        for _ in range(cells_per_stage):
            x = b.block(_plan_cell(b, arch, f"cell_{k}", width, x, bn))
            k += 1
    out = b.head(("last_bn",) if bn else None, ("classifier",), x, NUM_CLASSES[dataset])
    size = INPUT_SIZE[dataset]
    return b.build(out, (size, size, 3))


def _plan_cell(b: netplan.Builder, arch: Arch, name: str, width: int, x: int, bn: bool) -> int:
    nodes = [x]
    codes = iter(arch)
    for dst in (1, 2, 3):
        inputs = []
        for src in range(dst):
            op = OPS[next(codes)]
            if op == "skip_connect":
                inputs.append(nodes[src])
            elif op == "avg_pool_3x3":
                inputs.append(b.pool(nodes[src], 3, 1, 1))
            elif op != "none":
                kernel = 1 if op == "nor_conv_1x1" else 3
                path = (name, f"edge_{dst}_{src}")
                inputs.append(b.unit(path, nodes[src], width, kernel, bn=bn))
        nodes.append(b.add(tuple(inputs), like=x))
    return nodes[-1]


def network(arch: Arch, dataset: str = "cifar10", **kwargs) -> NB201Network:
    """The network of ``arch`` for ``dataset`` (sets the number of classes)."""
    if dataset not in NUM_CLASSES:
        raise ValueError(
            f"Unknown NB201 dataset {dataset!r}; expected one of {sorted(NUM_CLASSES)}."
        )
    return NB201Network(check_arch(arch), num_classes=NUM_CLASSES[dataset], **kwargs)


def costs(
    arch: Arch, dataset: str = "cifar10", channels: int = 16, cells_per_stage: int = 5
) -> Costs:
    """Params and FLOPs of the network of ``arch`` (``spaces.costs`` convention).

    Costs add up over submodules and cells hold nothing but their edges, so this traces the
    skeleton (all edges ``none``) and each conv edge type once per stage, then sums: exact and
    about 1000x faster than tracing each network. ``tests/spaces/test_nb201.py`` checks it
    against ``count_costs`` of whole networks.
    """
    counts = np.bincount(np.asarray(check_arch(arch)), minlength=len(OPS))
    total = _skeleton_costs(dataset, channels, cells_per_stage)
    params, flops = total.params, total.flops
    for code in (OPS.index("nor_conv_1x1"), OPS.index("nor_conv_3x3")):
        for stage in range(3):
            edge = _edge_costs(code, channels * 2**stage, INPUT_SIZE[dataset] // 2**stage)
            params += cells_per_stage * counts[code] * edge.params
            flops += cells_per_stage * counts[code] * edge.flops
    return Costs(int(params), int(flops))


@functools.cache
def _skeleton_costs(dataset: str, channels: int, cells_per_stage: int) -> Costs:
    size = INPUT_SIZE[dataset]
    model = network((0,) * NUM_EDGES, dataset, channels=channels, cells_per_stage=cells_per_stage)
    return count_costs(model, (size, size, 3))


@functools.cache
def _edge_costs(code: int, width: int, size: int) -> Costs:
    return count_costs(edge_op(code, width, "eznas", "edge"), (size, size, width))


# ----------------------------------------------------------------------------- benchmark


def load_benchmark(data_dir=None) -> Benchmark:
    """The NB201 table as a Benchmark keyed by arch (official index order)."""
    table = load_nb201_table(data_dir)
    archs = [tuple(int(c) for c in row) for row in arch_codes_from_table(table)]
    return Benchmark(archs=archs, index=np.asarray(table["index"]), table=table)
