"""Networks as plans: flat lists of ops over numbered values, run by ``zcjax.engine``.

A plan is the same network as a space's Flax module, with the same parameter tree, written
as data so that it can run op by op: each op's jitted kernel depends only on the op's
configuration and shapes, so compiled code is shared by every architecture of a space
(``engine`` explains why that matters). Value 0 is the input image batch; ``Plan.output``
holds the logits.
"""

from __future__ import annotations

import dataclasses

from zcjax.nn import pair

Path = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PreConv:
    """A conv a unit applies before its own (no bias, params ``{name: {kernel}}`` in the unit).

    ``groups=0`` means depthwise (one group per input channel); ``features=0`` keeps the input's
    channel count. Kernel and stride are (h, w) pairs.
    """

    name: str
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    dilation: int = 1
    groups: int = 1
    features: int = 0


@dataclasses.dataclass(frozen=True)
class Unit:
    """ReLU -> [pre convs] -> Conv (no bias) -> BN, params at ``path``
    ({conv: {kernel}, bn: {scale, bias}, <pre conv name>: {kernel}}).

    The ReLU->Conv->BN units are the layers whose statistics proxy programs read: ``relu_in``
    is the unit's input, ``conv_in`` its ReLU output and ``weight`` the kernel of ``conv``, the
    last conv, as EZNAS collapses a conv followed by a conv (separable, dilated and factorised
    convs) into the second one. ``kernel`` and ``stride`` are ints or (h, w) pairs.
    ``groups`` splits the conv's channels (ResNeXt). ``factorized`` makes the unit a
    FactorizedReduce: two 1x1 stride-2 convs (``conv_1`` on the ReLU output, ``conv`` on it
    shifted by one pixel), concatenated to ``features`` channels. ``shared_relu`` marks a unit
    whose ReLU is the same module as another op's (ResNet's projection shortcut), so proxies
    that visit each ReLU once (NASWOT) skip it. With ``bn=False`` (networks stripped of BN, as
    synflow uses) the unit is ReLU -> Conv.
    """

    path: Path
    src: int
    dst: int
    features: int
    kernel: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    dilation: int = 1
    bn: bool = True
    groups: int = 1
    pre: tuple[PreConv, ...] = ()
    factorized: bool = False
    shared_relu: bool = False

    @property
    def body(self) -> Body:
        """The unit's convs as a hashable description (a static argument of its kernels)."""
        main = PreConv("conv", pair(self.kernel), pair(self.stride), self.dilation, self.groups)
        main = dataclasses.replace(main, features=self.features)
        return Body(self.pre, main, self.factorized)


@dataclasses.dataclass(frozen=True)
class Body:
    """What a unit computes between its ReLU and its BN (see ``Unit``)."""

    pre: tuple[PreConv, ...]
    main: PreConv
    factorized: bool = False


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
    """Average pool (``count_include_pad=False`` as NB201's and DARTS's cell pools use) or,
    with ``kind="max"``, max pool."""

    src: int
    dst: int
    window: int
    stride: int
    padding: int
    kind: str = "avg"


@dataclasses.dataclass(frozen=True)
class Add:
    """Sum of values ``srcs``; with no sources, zeros shaped like ``like`` subsampled by
    ``stride`` (a node whose inputs are all ``none`` ops)."""

    srcs: tuple[int, ...]
    dst: int
    like: int = 0
    stride: int = 1


@dataclasses.dataclass(frozen=True)
class Concat:
    """Values ``srcs`` concatenated along channels (a cell's output)."""

    srcs: tuple[int, ...]
    dst: int


@dataclasses.dataclass(frozen=True)
class Relu:
    """ReLU of ``src`` outside a unit (a ResNet identity shortcut reading a pre-activation)."""

    src: int
    dst: int


@dataclasses.dataclass(frozen=True)
class Head:
    """BN (``bn_path``, None for none) -> ReLU (unless ``relu=False``) -> global average pool
    -> linear -> logits."""

    bn_path: Path | None
    linear_path: Path
    src: int
    dst: int
    classes: int
    relu: bool = True


Op = Unit | Conv | Pool | Add | Concat | Relu | Head


@dataclasses.dataclass(frozen=True)
class Plan:
    """Ops in execution order; value ids are assigned once (SSA)."""

    ops: tuple[Op, ...]
    output: int
    input_shape: tuple[int, int, int]  # H, W, C
    # Value ids of the block outputs in order: the stem's, then each cell's or block's, as the
    # space's network returns them (repeated where a cell is the identity). Proxies that read
    # features block by block (AZ-NAS) use them; () where the space marks none.
    blocks: tuple[int, ...] = ()

    @property
    def units(self) -> tuple[Unit, ...]:
        return tuple(op for op in self.ops if isinstance(op, Unit))


class Builder:
    """Appends ops and numbers their outputs: ``x = b.unit(path, x, 16, 3)``."""

    def __init__(self):
        self.ops: list[Op] = []
        self.blocks: list[int] = []
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

    def pool(self, src: int, window: int, stride: int, padding: int, kind: str = "avg") -> int:
        return self._emit(Pool, src, window=window, stride=stride, padding=padding, kind=kind)

    def add(self, srcs: tuple[int, ...], like: int = 0, stride: int = 1) -> int:
        """Sum of ``srcs``; one source is returned as is, with no op."""
        if len(srcs) == 1:
            return srcs[0]
        return self._emit(Add, tuple(srcs), like=like, stride=stride)

    def concat(self, srcs: tuple[int, ...]) -> int:
        """Channel concatenation of ``srcs``; one source is returned as is."""
        if len(srcs) == 1:
            return srcs[0]
        return self._emit(Concat, tuple(srcs))

    def relu(self, src: int) -> int:
        return self._emit(Relu, src)

    def head(
        self, bn_path: Path | None, linear_path: Path, src: int, classes: int, relu: bool = True
    ) -> int:
        return self._emit(Head, bn_path, linear_path, src, classes=classes, relu=relu)

    def block(self, v: int) -> int:
        """Marks value ``v`` as the output of the next block (``Plan.blocks``); returns it."""
        self.blocks.append(v)
        return v

    def build(self, output: int, input_shape: tuple[int, int, int]) -> Plan:
        return Plan(tuple(self.ops), output, input_shape, tuple(self.blocks))
