"""Run network plans op by op with jitted kernels shared across architectures.

Why: XLA compiles a whole NB201 network in 1.4-6 s on a CPU, longer than its forward and
backward pass (about 0.1 s at batch 16), so scoring never-seen architectures with one jit per
architecture is compile-bound. Here each op (ReLU-Conv-BN unit, conv, pool, sum, head) has a
jitted forward and backward kernel that depends only on the op's configuration and shapes, so
after the first few architectures nothing compiles: a space has a few dozen distinct kernels.
Python walks the plan; dispatching ~100 kernels costs a few milliseconds.

Modules: ``rules`` (what each op type means: ``OP_RULES``), ``kernels`` (the jitted kernels),
``plans`` (value shapes, costs and parameters of a plan, on the host), ``run`` (forward and
backward passes), ``paths`` (parameter trees by path), ``batched`` (unit quantities of a chunk
of architectures of one family, ops grouped across them; import it as ``engine.batched``).
The engine imports no search space.
"""

from zcjax.engine.kernels import EAGER, KERNELS, cross_entropy, head_pre_activation
from zcjax.engine.paths import Params, get_path, set_path
from zcjax.engine.plans import (
    init_params,
    init_params_stacked,
    plan_costs,
    select_params,
    value_shapes,
)
from zcjax.engine.rules import OP_RULES, OpRule, rule_of, unit_convs
from zcjax.engine.run import (
    GRAD_FIELDS,
    UNIT_FIELDS,
    Backward,
    add_only_values,
    backward,
    forward,
    forward_with_residuals,
    logit_cotangent,
    relu_inputs,
    unit_quantities,
)

__all__ = [
    "EAGER",
    "GRAD_FIELDS",
    "KERNELS",
    "OP_RULES",
    "UNIT_FIELDS",
    "Backward",
    "OpRule",
    "Params",
    "add_only_values",
    "backward",
    "cross_entropy",
    "forward",
    "forward_with_residuals",
    "get_path",
    "head_pre_activation",
    "init_params",
    "init_params_stacked",
    "logit_cotangent",
    "plan_costs",
    "relu_inputs",
    "rule_of",
    "select_params",
    "set_path",
    "unit_convs",
    "unit_quantities",
    "value_shapes",
]
