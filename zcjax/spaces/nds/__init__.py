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

Modules, each importing only those above it: ``schema`` (constants, ``NdsError``, ``Model``,
``Record``), ``nets`` (parsing and checking net configs), ``records`` (sweep files and
benchmarks), ``plans`` (plans and Flax modules), ``record_costs`` (params and FLOPs). Their
names are re-exported here, as ``nds.<name>``.
"""

from zcjax.spaces.nds.nets import _show as _show
from zcjax.spaces.nds.nets import check_net, model_id, parse_model
from zcjax.spaces.nds.plans import _cell_op as _cell_op
from zcjax.spaces.nds.plans import network, plan
from zcjax.spaces.nds.record_costs import costs, plan_costs
from zcjax.spaces.nds.records import (
    available_spaces,
    load_benchmark,
    read_records,
    record_from_compact,
    record_from_official,
    sweep_file,
)
from zcjax.spaces.nds.schema import (
    BLOCK_TYPES,
    CELL_OPS,
    CELL_SWEEPS,
    DATASETS,
    FILES,
    INPUT_SIZE,
    MAX_CELL_DEPTH,
    MAX_CELL_NODES,
    MAX_CELL_WIDTH,
    MAX_COUNT,
    MAX_IDX,
    MAX_STAGE_DEPTH,
    MAX_STAGES,
    MAX_STRIDE,
    MAX_WIDTH,
    NUM_CLASSES,
    SPACE_FILES,
    Model,
    NdsError,
    Record,
    canonical,
)

__all__ = [
    "BLOCK_TYPES",
    "CELL_OPS",
    "CELL_SWEEPS",
    "DATASETS",
    "FILES",
    "INPUT_SIZE",
    "MAX_CELL_DEPTH",
    "MAX_CELL_NODES",
    "MAX_CELL_WIDTH",
    "MAX_COUNT",
    "MAX_IDX",
    "MAX_STAGE_DEPTH",
    "MAX_STAGES",
    "MAX_STRIDE",
    "MAX_WIDTH",
    "NUM_CLASSES",
    "SPACE_FILES",
    "Model",
    "NdsError",
    "Record",
    "available_spaces",
    "canonical",
    "check_net",
    "costs",
    "load_benchmark",
    "model_id",
    "network",
    "parse_model",
    "plan",
    "plan_costs",
    "read_records",
    "record_from_compact",
    "record_from_official",
    "sweep_file",
]
