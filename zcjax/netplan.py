"""Networks as plans: flat lists of ops over numbered values, run by ``zcjax.engine``.

A plan is the same network as a space's Flax module, with the same parameter tree, written
as data so that it can run op by op: each op's jitted kernel depends only on the op's
configuration and shapes, so compiled code is shared by every architecture of a space
(``engine`` explains why that matters). Value 0 is the input image batch; ``Plan.output``
holds the logits.
"""

from __future__ import annotations

import dataclasses

Path = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Unit:
    """ReLU -> Conv (no bias) -> BN, params at ``path`` ({conv: {kernel}, bn: {scale, bias}}).

    The ReLU->Conv->BN units are the layers whose statistics proxy programs read. With
    ``bn=False`` (networks stripped of BN, as synflow uses) the unit is ReLU -> Conv.
    """

    path: Path
    src: int
    dst: int
    features: int
    kernel: int
    stride: int = 1
    dilation: int = 1
    bn: bool = True


@dataclasses.dataclass(frozen=True)
class Conv:
    """Conv (no bias, params ``path``: {kernel}), then BN (params ``bn_path``) if given."""

    path: Path
    src: int
    dst: int
    features: int
    kernel: int
    stride: int = 1
    bn_path: Path | None = None


@dataclasses.dataclass(frozen=True)
class Pool:
    """Average pool; ``count_include_pad=False`` as NB201's and PyTorch's cell pools use."""

    src: int
    dst: int
    window: int
    stride: int
    padding: int


@dataclasses.dataclass(frozen=True)
class Add:
    """Sum of values ``srcs``; with no sources, zeros shaped like ``like`` (an all-``none`` node)."""

    srcs: tuple[int, ...]
    dst: int
    like: int = 0


@dataclasses.dataclass(frozen=True)
class Head:
    """BN (``bn_path``, None for none) -> ReLU -> global average pool -> linear -> logits."""

    bn_path: Path | None
    linear_path: Path
    src: int
    dst: int
    classes: int


Op = Unit | Conv | Pool | Add | Head


@dataclasses.dataclass(frozen=True)
class Plan:
    """Ops in execution order; value ids are assigned once (SSA)."""

    ops: tuple[Op, ...]
    output: int
    input_shape: tuple[int, int, int]  # H, W, C

    @property
    def units(self) -> tuple[Unit, ...]:
        return tuple(op for op in self.ops if isinstance(op, Unit))


class Builder:
    """Appends ops and numbers their outputs: ``x = b.unit(path, x, 16, 3)``."""

    def __init__(self):
        self.ops: list[Op] = []
        self._next = 1

    def _emit(self, cls, *args, **kwargs) -> int:
        dst = self._next
        self._next += 1
        self.ops.append(cls(*args, dst=dst, **kwargs))
        return dst

    def unit(self, path: Path, src: int, features: int, kernel: int, **kw) -> int:
        return self._emit(Unit, path, src, features=features, kernel=kernel, **kw)

    def conv(self, path: Path, src: int, features: int, kernel: int, **kw) -> int:
        return self._emit(Conv, path, src, features=features, kernel=kernel, **kw)

    def pool(self, src: int, window: int, stride: int, padding: int) -> int:
        return self._emit(Pool, src, window=window, stride=stride, padding=padding)

    def add(self, srcs: tuple[int, ...], like: int = 0) -> int:
        """Sum of ``srcs``; one source is returned as is, with no op."""
        if len(srcs) == 1:
            return srcs[0]
        return self._emit(Add, tuple(srcs), like=like)

    def head(self, bn_path: Path | None, linear_path: Path, src: int, classes: int) -> int:
        return self._emit(Head, bn_path, linear_path, src, classes=classes)

    def build(self, output: int, input_shape: tuple[int, int, int]) -> Plan:
        return Plan(tuple(self.ops), output, input_shape)
