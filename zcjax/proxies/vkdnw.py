"""VKDNW: the entropy of the Fisher information spectrum of a network at initialisation.

Tybl & Neumann, "Training-free Neural Architecture Search through Variance of Knowledge of Deep
Network Weights" (CVPR 2025); official code github.com/ondratybl/VKDNW,
``NB201/ZeroShotProxy/compute_vkdnw_score.py``.

As the reference computes it:
- BN in eval mode with fresh running statistics (``model.eval()`` right after init): every BN
  is the affine map z / sqrt(1 + 1e-5) * scale + bias, so samples are independent.
- theta: the first element (flat index 0 of PyTorch's layout) of each of the first 128
  parameter tensors in registration order (conv kernels, BN scales and biases, the
  classifier's kernel and bias; ``params_grad_len=128``, one index per tensor).
- J_n [K, P]: Jacobian of sample n's logits w.r.t. theta. p_n = softmax(logits_n) * (1 - a)
  + a / K with a = 0.05 (a float16 constant, 0.050003...), L_n the exact Cholesky factor of
  diag(p_n) - p_n p_n^T (Tanabe & Sagae 1992, the reference's ``cholesky_covariance``),
  A_n = L_n J_n and F = mean_n A_n^T A_n [P, P]. (This is J^T L^T L J, what the code
  computes; the Fisher information proper would be J^T L L^T J.)
- lambda: singular values of F (SVD; on failure lambda = (0, 0) as the reference), q_k its
  k/10 quantiles, k = 1..9 (linear interpolation), t = q / (sum |q| + 1e-10) and
  VKDNW = -sum t log(t + 1e-10).
- ``vkdnw`` is the paper's single score VKDNW_single = aleph + VKDNW, aleph = the number of
  parameter tensors (the reference's ``vkdnw_dim``, ``len(model.named_parameters())``; the
  paper calls it the number of trainable layers), so networks rank by size first, then by
  VKDNW; ``vkdnw_entropy`` is VKDNW alone.

Settings of the paper: random inputs, batch 64, ``kaiming_norm_fanin`` init:
``--inputs=noise --batch_size=64 --weight_init=kaiming_fan_in``.

Cost: J is exact, by one of two routes that give the same numbers. Reverse mode (up to
``REVERSE_MAX_CLASSES`` classes: CIFAR-10) walks the plan backwards once carrying K
cotangents, row i of every L_n the i-th (BN in eval mode keeps samples apart, so one batched
pass gives per-sample results), each op's forward computed once and transposed K times; the
per-sample gradient of a chosen weight is <g_y, d y / d theta> at its op (a forward-mode
derivative of that op alone). On NB201 at batch 64 (two CPU cores) that is about 4.6 s per
architecture, 7x the cross-entropy backward pass that snip and friends share (0.6 s).
Forward mode (more classes: ImageNet's 1000) propagates one tangent per chosen tensor (<= 128)
from its op to the logits, up to 16 of them stacked through one vmapped kernel per op. Every kernel is jitted per op configuration and shape, shared by
all architectures; L, F and the spectrum are host numpy (float64).

Deviations:
- Eigenvalues, L and F in float64 on the host (the reference: float32 on the GPU).
- The NB201 script that ran the reference is not published and its default ``p=0`` selects no
  weight at all (``linspace(..., steps=0)``); we take one weight per tensor, the first, as the
  MobileNetV2 version of the same file does (it samples tensors at random instead).
- Parameter order is plan order, which is PyTorch's registration order for NB201 and the NDS
  cell spaces; pycls registers a ResNet block's projection shortcut before its body, we after
  (this only changes which tensors make the first 128).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from zcjax import engine, netplan

NUM_TENSORS = 128  # the reference's params_grad_len
ALPHA = float(np.float16(0.05))  # the reference's torch.tensor(0.05, dtype=torch.float16)
BN_EPS = 1e-5
QUANTILES = np.arange(1, 10) / 10.0
# Up to this many classes J comes from one backward walk carrying K cotangents (memory: K
# copies of each activation); beyond it from forward mode, one tangent per chosen tensor.
REVERSE_MAX_CLASSES = 16
# Forward mode carries up to TANGENT_CHUNK tangents (chosen tensors) through the network
# together, fewer where that many copies of the largest activation would pass TANGENT_BYTES:
# stacking saves dispatches on small activations (an NDS-DARTS network at 32 px, batch 16:
# 19-20 s -> 6-12 s per architecture) but costs memory traffic on large ones (NB201 at batch
# 64: 16 stacked took twice as long as one at a time). Chunk widths are powers of two.
TANGENT_CHUNK = 16
TANGENT_BYTES = 16 * 2**20

_E = engine.EAGER  # the engine's op maths, unjitted, traced inside the kernels below


# ----------------------------------------------------------------------------- eval-mode ops


def _affine(z, bn):
    """BN in eval mode with fresh running statistics (mean 0, variance 1)."""
    return z * (bn["scale"] / math.sqrt(1.0 + BN_EPS)) + bn["bias"]


def _apply(static, p, xs):
    """An op's output in eval mode; ``static`` = (kind, configuration) from ``_static``."""
    kind, cfg = static
    if kind == "unit":
        z = _E["unit"]({n: v for n, v in p.items() if n != "bn"}, xs[0], body=cfg)
        return _affine(z, p["bn"]) if "bn" in p else z
    if kind == "conv":
        z = _E["conv"]({"conv": p["conv"]}, xs[0], stride=cfg)
        return _affine(z, p["bn"]) if "bn" in p else z
    if kind == "head":
        h = _affine(xs[0], p["bn"]) if "bn" in p else xs[0]
        return _E["head"]({"linear": p["linear"]}, h, relu=cfg)
    if kind == "pool":
        window, stride, padding, pool_kind = cfg
        return _E["pool"](xs[0], window=window, stride=stride, padding=padding, kind=pool_kind)
    if kind == "add":
        return _E["add"](*xs)
    if kind == "concat":
        return _E["concat"](*xs)
    if kind == "relu":
        return _E["relu"](xs[0])
    raise TypeError(f"VKDNW: no eval-mode rule for op kind {kind!r}")


def _static(op) -> tuple:
    """The op's configuration as a hashable key: kernels compile once per key and shapes."""
    if isinstance(op, netplan.Unit):
        return ("unit", op.body)
    if isinstance(op, netplan.Conv):
        return ("conv", op.stride)
    if isinstance(op, netplan.Head):
        return ("head", op.relu)
    if isinstance(op, netplan.Pool):
        return ("pool", (op.window, op.stride, op.padding, op.kind))
    if isinstance(op, netplan.Add):
        return ("add", None)
    if isinstance(op, netplan.Concat):
        return ("concat", None)
    if isinstance(op, netplan.Relu):
        return ("relu", None)
    raise TypeError(f"VKDNW: unknown plan op {op!r}")


def _with_leaf(tree, leaf, value):
    if not leaf:
        return value
    return {**tree, leaf[0]: _with_leaf(tree[leaf[0]], leaf[1:], value)}


def _get_leaf(tree, leaf):
    for key in leaf:
        tree = tree[key]
    return tree


def _seeds(static, leaves, p, xs):
    """Per sample, d(op output)/d(element 0 of each leaf): a list of [B, ...] arrays.

    Each JVP differentiates the one leaf alone. Jitted JVPs of all of ``p`` with explicit zero
    tangents on the other leaves were miscompiled by XLA:CPU (jax 0.10.2): a head's BN scale
    at batch 64 gave values of 1e20-1e35 where the eager JVP gives 0.13
    (``tests/proxies/test_vkdnw.py::test_seeds_of_some_leaves_match_eager_jvps``)."""
    out = []
    for leaf in leaves:
        x = _get_leaf(p, leaf)
        onehot = jnp.zeros(x.size, x.dtype).at[0].set(1).reshape(x.shape)

        def of_leaf(value, leaf=leaf):
            return _apply(static, _with_leaf(p, leaf, value), xs)

        out.append(jax.jvp(of_leaf, (x,), (onehot,))[1])
    return out


@functools.partial(jax.jit, static_argnames=("static",))
def _forward(p, xs, static):
    return _apply(static, p, xs)


@functools.partial(jax.jit, static_argnames=("static",))
def _vjp_rows(p, xs, gys, static):
    """Cotangents [R, ...] of the op's inputs for R cotangents ``gys`` [R, B, ...] of its output
    (one forward, R transposes)."""
    return jax.vmap(jax.vjp(lambda *v: _apply(static, p, v), *xs)[1])(gys)


@functools.partial(jax.jit, static_argnames=("static", "leaves"))
def _sample_grads(p, xs, gys, static, leaves):
    """[R, B, len(leaves)]: per-sample gradient of <gys[r], op output> w.r.t. each leaf's
    element 0, for each of the R cotangents ``gys`` [R, B, ...]."""
    r, b = gys.shape[:2]
    seeds = _seeds(static, leaves, p, xs)
    return jnp.stack([jnp.sum((gys * s).reshape(r, b, -1), axis=2) for s in seeds], axis=-1)


@functools.partial(jax.jit, static_argnames=("static", "moving"))
def _jvp_stacked(p, xs, tangents, static, moving):
    """[T, B, ...] tangents of the op output for [T, B, ...] ``tangents`` of the inputs
    flagged in ``moving`` (the others held fixed, never given explicit zero tangents; see
    ``_seeds``): the forward computed once, the JVP vmapped over T."""
    fixed = [x for x, m in zip(xs, moving) if not m]

    def of_moving(*vs):
        it_v, it_f = iter(vs), iter(fixed)
        return _apply(static, p, tuple(next(it_v) if m else next(it_f) for m in moving))

    primals = tuple(x for x, m in zip(xs, moving) if m)

    def one(*ts):
        return jax.jvp(of_moving, primals, ts)[1]

    return jax.vmap(one)(*tangents)


@functools.partial(jax.jit, static_argnames=("static", "leaves", "width"))
def _seeds_stacked(p, xs, slots, static, leaves, width):
    """[width, B, ...]: the op's seed tangents (``_seeds``) at rows ``slots`` [L], zero
    elsewhere."""
    seeds = jnp.stack(_seeds(static, leaves, p, xs))
    return jnp.zeros((width, *seeds.shape[1:]), seeds.dtype).at[slots].set(seeds)


# ----------------------------------------------------------------------------- the score


def torch_leaves(op, in_shape) -> list[tuple[str, ...]]:
    """The op's parameter tensors in PyTorch registration order, as paths into its params in
    kernel layout (``OpRule.take``)."""
    bn = [("bn", "scale"), ("bn", "bias")]
    if isinstance(op, netplan.Unit):
        convs = [(name, "kernel") for name, _, _ in engine.unit_convs(op, in_shape)]
        return convs + (bn if op.bn else [])
    if isinstance(op, netplan.Conv):
        return [("conv",)] + (bn if op.bn_path is not None else [])
    if isinstance(op, netplan.Head):
        return (bn if op.bn_path is not None else []) + [("linear", "kernel"), ("linear", "bias")]
    return []


def eval_forward(params, plan: netplan.Plan, x) -> dict:
    """Every value of the plan with BN in eval mode (fresh running statistics)."""
    values = {0: x}
    for op in plan.ops:
        rule = engine.rule_of(op)
        xs = tuple(values[v] for v in rule.inputs(op))
        if isinstance(op, netplan.Add) and not op.srcs:  # zeros: no parameters, no BN
            values[op.dst] = rule.forward(engine.KERNELS[False], op, {}, list(xs))
        else:
            values[op.dst] = _forward(rule.take(op, params), xs, static=_static(op))
    return values


def cholesky_factor(logits: np.ndarray) -> np.ndarray:
    """[B, K, K] lower-triangular L_n with L_n L_n^T = diag(p_n) - p_n p_n^T for the smoothed
    softmax p_n of ``logits`` [B, K], as the reference's ``cholesky_covariance``."""
    z = np.asarray(logits, np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    k = z.shape[1]
    prob = e / e.sum(axis=1, keepdims=True) * (1 - ALPHA) + ALPHA / k
    q = 1.0 - np.cumsum(prob, axis=1)
    q[:, -1] = 0.0
    q_shift = np.roll(q, 1, axis=1)
    q_shift[:, 0] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.sqrt(prob * q / q_shift)
        low = np.nan_to_num(-prob[:, :, None] / q[:, None, :], neginf=0.0)
    eye = np.eye(k)
    low = (low * (1 - eye) + eye) * np.tril(np.ones((k, k)))
    return low * d[:, None, :]


def selected_tensors(plan: netplan.Plan, shapes) -> tuple[dict[int, tuple], int]:
    """({op index: (leaves, columns)} of the first ``NUM_TENSORS`` tensors, their total)."""
    chosen: dict[int, tuple[list, list]] = {}
    total = 0
    for i, op in enumerate(plan.ops):
        rule = engine.rule_of(op)
        for leaf in torch_leaves(op, shapes[rule.inputs(op)[0]]):
            if total < NUM_TENSORS:
                leaves, cols = chosen.setdefault(i, ([], []))
                leaves.append(leaf)
                cols.append(total)
            total += 1
    return {i: (tuple(ls), tuple(cs)) for i, (ls, cs) in chosen.items()}, total


def fisher(passes) -> tuple[np.ndarray, int]:
    """(F [P, P] float64, aleph: the number of parameter tensors) of ``passes``' network."""
    plan, params = passes.plan, passes.params
    values = eval_forward(params, plan, passes.x)
    shapes = {v: a.shape for v, a in values.items()}
    chosen, total = selected_tensors(plan, shapes)
    logits = np.asarray(values[plan.output], np.float64)
    b, k = logits.shape
    p = sum(len(cols) for _, cols in chosen.values())
    if k <= REVERSE_MAX_CLASSES:
        a = _reverse_mode(params, plan, values, chosen, cholesky_factor(logits), p)
        a = a.reshape(-1, p)
        return a.T @ a / b, total
    jac = _forward_mode(params, plan, values, chosen, k, p)
    f = np.zeros((p, p))
    for start in range(0, b, 8):  # L is [B, K, K]: a few samples at a time
        a = np.matmul(cholesky_factor(logits[start : start + 8]), jac[start : start + 8])
        a = a.reshape(-1, p)
        f += a.T @ a
    return f / b, total


def _reverse_mode(params, plan, values, chosen, low, p) -> np.ndarray:
    """A [B, K, P]: one backward walk carrying K cotangents, row i of each L_n the i-th."""
    b, k, _ = low.shape
    a = np.zeros((b, k, p))
    first = min(chosen)
    add = engine.KERNELS[False]["add"]
    cot = {plan.output: jnp.asarray(np.moveaxis(low, 1, 0), jnp.float32)}  # [K, B, K]
    for j in range(len(plan.ops) - 1, first - 1, -1):
        op = plan.ops[j]
        gys = cot.pop(op.dst, None)
        if gys is None or (isinstance(op, netplan.Add) and not op.srcs):
            continue
        rule = engine.rule_of(op)
        srcs = rule.inputs(op)
        xs = tuple(values[v] for v in srcs)
        op_params, static = rule.take(op, params), _static(op)
        if j in chosen:
            leaves, cols = chosen[j]
            grads = _sample_grads(op_params, xs, gys, static=static, leaves=leaves)
            a[:, :, list(cols)] = np.moveaxis(np.asarray(grads), 0, 1)
        if j == first:
            break
        for v, g in zip(srcs, _vjp_rows(op_params, xs, gys, static=static)):
            cot[v] = g if v not in cot else add(cot[v], g)
    return a


def _forward_mode(params, plan, values, chosen, k, p) -> np.ndarray:
    """J [B, K, P]: the columns propagate from their ops to the logits T at a time (see
    ``TANGENT_CHUNK``), stacked [T, B, ...] through one vmapped JVP kernel per op (a chunk's
    columns not yet started are zero), so an op costs one dispatch per chunk, not per column."""
    b = values[0].shape[0]
    jac = np.zeros((b, k, p))
    ops = plan.ops
    last_use = {plan.output: len(ops)}
    for i, op in enumerate(ops):
        for v in engine.rule_of(op).inputs(op):
            last_use[v] = max(last_use.get(v, -1), i)
    columns = [
        (j, leaf, col) for j, (leaves, cols) in chosen.items() for leaf, col in zip(leaves, cols)
    ]
    columns.sort(key=lambda c: c[2])
    largest = max(v.size * v.dtype.itemsize for v in values.values())
    width = 1
    while width * 2 <= TANGENT_CHUNK and width * 2 * largest <= TANGENT_BYTES:
        width *= 2
    for start in range(0, len(columns), width):
        chunk = columns[start : start + width]
        seeds: dict[int, tuple[list, list]] = {}
        for slot, (j, leaf, _) in enumerate(chunk):
            leaves, slots = seeds.setdefault(j, ([], []))
            leaves.append(leaf)
            slots.append(slot)
        tangent = {}
        for i in range(min(seeds), len(ops)):
            op = ops[i]
            rule = engine.rule_of(op)
            srcs = rule.inputs(op)
            if isinstance(op, netplan.Add) and not op.srcs:
                continue
            out = None
            if any(v in tangent for v in srcs) or i in seeds:
                xs = tuple(values[v] for v in srcs)
                op_params, static = rule.take(op, params), _static(op)
            if any(v in tangent for v in srcs):
                moving = tuple(v in tangent for v in srcs)
                tangents = tuple(tangent[v] for v in srcs if v in tangent)
                out = _jvp_stacked(op_params, xs, tangents, static=static, moving=moving)
            if i in seeds:
                leaves, slots = seeds[i]
                placed = _seeds_stacked(
                    op_params,
                    xs,
                    jnp.asarray(slots, jnp.int32),
                    static=static,
                    leaves=tuple(leaves),
                    width=width,
                )
                out = placed if out is None else out + placed
            if out is not None:
                tangent[op.dst] = out
            for v in srcs:  # free what no later op reads
                if last_use[v] == i:
                    tangent.pop(v, None)
        if plan.output in tangent:
            cols = [col for _, _, col in chunk]
            jac[:, :, cols] = np.moveaxis(np.asarray(tangent[plan.output])[: len(chunk)], 0, -1)
    return jac


def spectrum_entropy(eigenvalues: np.ndarray) -> float:
    """-sum t log(t + 1e-10), t the deciles (10%..90%) of ``eigenvalues`` over their L1 norm."""
    q = np.quantile(np.asarray(eigenvalues, np.float64), QUANTILES)
    t = q / (np.sum(np.abs(q)) + 1e-10)
    return float(-np.sum(t * np.log(t + 1e-10)))


def fisher_spectrum(passes) -> tuple[np.ndarray, int]:
    """(singular values of F, aleph); (0, 0) if the SVD fails, as the reference."""
    f, total = fisher(passes)
    try:
        eig = np.linalg.svd(f, compute_uv=False)
    except np.linalg.LinAlgError:
        eig = np.zeros(2)
    return eig, total


def vkdnw(passes) -> float:
    """VKDNW_single = aleph + VKDNW."""
    eig, total = passes.vkdnw_spectrum
    return float(total) + spectrum_entropy(eig)


def decile_ratio(eigenvalues: np.ndarray) -> float:
    """q_4 / q_9 in [0, 1] (the 40% and 90% quantiles of ``eigenvalues``; 0 when q_9 is 0):
    the reference's analysis code ranks by -log(q_9 / q_4), which this orders the same way."""
    q = np.quantile(np.asarray(eigenvalues, np.float64), QUANTILES)
    return float(q[3] / q[8]) if q[8] > 0 else 0.0


def vkdnw_ratio(passes) -> float:
    """VKDNW_single as the reference's NB201 analysis ranks it (``NB201/tss_utils.py``,
    ``get_scores``: the dense rank of the pair (``vkdnw_dim``, -log(lambda_8 / lambda_3)), the
    90% and 40% quantiles): aleph + q_4 / q_9, tensors first and the decile ratio within a
    size, where ``vkdnw`` breaks ties by the entropy as the paper's text defines it."""
    eig, total = passes.vkdnw_spectrum
    return float(total) + decile_ratio(eig)


def vkdnw_entropy(passes) -> float:
    """VKDNW alone: the decile entropy of the Fisher spectrum."""
    return spectrum_entropy(passes.vkdnw_spectrum[0])
