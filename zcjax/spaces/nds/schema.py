"""The NDS data model: the sweep files and their datasets, the cell ops and AnyNet block types,
the ``MAX_*`` bounds of net configs, ``NdsError``, and the ``Model`` (an architecture) and
``Record`` (a trained model of a sweep) types, with ``canonical``, the JSON form of a config.
"""

from __future__ import annotations

import dataclasses
import functools
import json

from zcjax import data

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
