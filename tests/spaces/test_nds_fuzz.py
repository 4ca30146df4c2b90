"""NDS net configs under fuzzing: every mutated real config either passes ``check_net`` and
builds a well-formed plan, or fails with one NdsError line -- never another exception, never
a network built for minutes."""

import copy
import json
import math
import time

import numpy as np
import pytest

from zcjax import engine, netplan
from zcjax.spaces import nds

# Real ``net`` configs, first records of the NDS files named (shared/data/nds).
SEEDS = {
    "DARTS_in": {
        "aux": False, "depth": 14, "drop_prob": 0.0, "width": 48,
        "genotype": {
            "normal": [["none", 0], ["max_pool_3x3", 0], ["skip_connect", 0], ["avg_pool_3x3", 0],
                       ["max_pool_3x3", 2], ["sep_conv_5x5", 0], ["max_pool_3x3", 1],
                       ["avg_pool_3x3", 3]],
            "normal_concat": [2, 3, 4, 5],
            "reduce": [["none", 0], ["sep_conv_5x5", 1], ["max_pool_3x3", 0], ["skip_connect", 1],
                       ["avg_pool_3x3", 1], ["none", 0], ["none", 1], ["max_pool_3x3", 0]],
            "reduce_concat": [2, 3, 4, 5],
        },
    },
    "Amoeba_in": {
        "aux": False, "depth": 10, "drop_prob": 0.0, "width": 32,
        "genotype": {
            "normal": [["skip_connect", 0], ["max_pool_3x3", 0], ["sep_conv_5x5", 0],
                       ["sep_conv_3x3", 1], ["sep_conv_5x5", 3], ["sep_conv_5x5", 0],
                       ["max_pool_3x3", 2], ["sep_conv_7x7", 3], ["conv_7x1_1x7", 3],
                       ["dil_sep_conv_3x3", 0]],
            "normal_concat": [4, 5, 6],
            "reduce": [["skip_connect", 1], ["sep_conv_7x7", 1], ["max_pool_3x3", 2],
                       ["skip_connect", 1], ["conv_7x1_1x7", 0], ["avg_pool_3x3", 3],
                       ["avg_pool_3x3", 1], ["max_pool_3x3", 1], ["sep_conv_7x7", 2],
                       ["skip_connect", 0]],
            "reduce_concat": [4, 5, 6],
        },
    },
    "ResNeXt-A_in": {
        "block_type": "res_bottleneck_block", "bot_muls": [1.0, 0.25, 0.5, 0.25],
        "ds": [1, 2, 2, 2], "num_gs": [1, 2, 4, 2], "ss": [8, 1, 2, 2], "ws": [64, 16, 128, 128],
    },
    "ResNet_lr-wd_in": {
        "block_type": "res_basic_block", "bot_muls": [], "ds": [1, 5, 2, 3, 10], "num_gs": [],
        "ss": [4, 1, 2, 2, 2], "ws": [32, 32, 32, 192, 128],
    },
    "Vanilla_reruns": {
        "block_type": "double_plain_block", "bot_muls": [], "ds": [1, 3, 2, 2], "num_gs": [],
        "ss": [1, 1, 2, 2], "ws": [16, 40, 160, 256],
    },
}  # fmt: skip

WRONG = [None, True, False, 0, -1, 2.0, 0.5, math.nan, math.inf, -math.inf, 10**9, 2**64, 10**30]
WRONG += ["", "x", "3", "sep_conv_3x3", [], [0], [[0]], [["none", 0]], {}, {"normal": []}]
NAMES = [*nds.CELL_OPS, *nds.BLOCK_TYPES, "sep_conv_9x9", "dense", "None"]
CASES = 5000


def paths(tree, prefix=()):
    """Every position in a JSON tree, as a tuple of keys and indices (the root is ``()``)."""
    yield prefix
    if isinstance(tree, dict | list):
        items = tree.items() if isinstance(tree, dict) else enumerate(tree)
        for k, v in items:
            yield from paths(v, (*prefix, k))


def changed(rng, value):
    """A random replacement for ``value``: a wrong type, a nudged number, another name, ..."""
    choice = rng.integers(4)
    if choice == 0 or isinstance(value, dict | bool | type(None)):
        return WRONG[rng.integers(len(WRONG))]
    if isinstance(value, int | float):
        nudges = [value + 1, value - 1, -value, 0, value * 10, value * 1000, 10**9, float(value)]
        return nudges[rng.integers(len(nudges))]
    if isinstance(value, str):
        return NAMES[rng.integers(len(NAMES))]
    if not value:
        return WRONG[rng.integers(len(WRONG))]
    i = rng.integers(len(value))
    variants = [value + [value[i]], value[:-1], value[::-1], [value], value * 3, value[:i]]
    return variants[rng.integers(len(variants))]


def mutate(rng, net):
    """``net`` after one to three random edits: a deletion or a replacement at a random place."""
    net = copy.deepcopy(net)
    for _ in range((1, 1, 2, 3)[rng.integers(4)]):
        all_paths = list(paths(net))
        path = all_paths[rng.integers(len(all_paths))]
        if not path:
            net = changed(rng, net)
            continue
        parent = net
        for k in path[:-1]:
            parent = parent[k]
        if rng.random() < 0.2:
            del parent[path[-1]]
        else:
            parent[path[-1]] = changed(rng, parent[path[-1]])
    return net


def outcome(fn, *args):
    """``fn(*args)``, or None if it raised NdsError with a one-line message."""
    try:
        return fn(*args)
    except nds.NdsError as e:
        message = str(e)
        assert message and "\n" not in message and len(message) < 400, message
        return None


def assert_well_formed(plan: netplan.Plan):
    """Shapes agree wherever a plan joins values, and grouped convs divide their channels."""
    shapes = engine.value_shapes(plan)
    assert all(d >= 1 for s in shapes.values() for d in s)
    for op in plan.ops:
        if isinstance(op, netplan.Add) and op.srcs:
            assert len({shapes[s] for s in op.srcs}) == 1
        elif isinstance(op, netplan.Concat):
            assert len({shapes[s][:-1] for s in op.srcs}) == 1
        elif isinstance(op, netplan.Unit):
            assert shapes[op.src][-1] % op.groups == 0 and not op.features % (1 + op.factorized)


def test_mutated_real_configs_pass_or_fail_with_one_ndserror_line():
    rng = np.random.default_rng(0)
    seeds = list(SEEDS.values())
    accepted = 0
    for case in range(CASES):
        net = mutate(rng, seeds[case % len(seeds)])
        try:
            family = outcome(nds.check_net, net)
            parsed = outcome(nds.parse_model, json.dumps(net))
            assert (parsed is None) == (family is None)
            if family is None:
                continue
            accepted += 1
            dataset = ("cifar10", "imagenet")[rng.integers(2)]
            start = time.perf_counter()
            plan = outcome(nds.plan, parsed, dataset)
            assert time.perf_counter() - start < 5.0
            if plan is not None:
                assert_well_formed(plan)
        except Exception as e:
            pytest.fail(f"case {case}, {nds._show(net)}: {type(e).__name__}: {e}")
    assert 0.05 * CASES < accepted < 0.95 * CASES  # the fuzzing reaches both outcomes


def with_(name, path, value):
    """Seed ``name`` with the entry at ``path`` set to ``value``."""
    net = copy.deepcopy(SEEDS[name])
    parent = net
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = value
    return net


@pytest.mark.parametrize(
    "net, message",
    [
        (with_("DARTS_in", ("genotype",), [["none", 0]]), "'genotype' must be an object"),
        (with_("DARTS_in", ("genotype",), "DARTS"), "'genotype' must be an object"),
        (with_("DARTS_in", ("genotype",), 7), "'genotype' must be an object"),
        (with_("DARTS_in", ("depth",), 10**9), r"'depth' must be in 1\.\.256"),
        (with_("DARTS_in", ("depth",), True), "'depth' must be an integer, got True"),
        (with_("DARTS_in", ("depth",), 14.0), "'depth' must be an integer, got 14.0"),
        (with_("DARTS_in", ("width",), 10**5000), "'width' must be in 1..1024, got <a 16610-bit"),
        (with_("DARTS_in", ("genotype", "normal", 2, 1), True), "edge 2: input must be an int"),
        (with_("DARTS_in", ("genotype", "normal", 2, 0), ["none"]), "edge 2: unknown op"),
        (with_("DARTS_in", ("genotype", "reduce_concat"), [0, 2]), "reduce_concat must list"),
        (with_("DARTS_in", ("genotype", "normal_concat"), [2, 2]), "distinct states"),
        (with_("DARTS_in", ("genotype", "normal_concat"), 5), "normal_concat must list"),
        (with_("DARTS_in", ("aux",), True), "'aux' must be false"),
        (with_("DARTS_in", ("block_type",), "res_basic_block"), "either a 'genotype'"),
        (with_("ResNeXt-A_in", ("ds", 3), 10**9), r"ds\[3\] must be in 1\.\.256"),
        (with_("ResNeXt-A_in", ("ws", 2), 10**9), r"ws\[2\] must be in 1\.\.16384"),
        (with_("ResNeXt-A_in", ("ss", 0), True), r"stem stride ss\[0\] = True"),
        (with_("ResNeXt-A_in", ("ss", 1), 0), r"ss\[1\] must be in 1\.\.8"),
        (with_("ResNeXt-A_in", ("ds", 0), 2), r"ds\[0\] describes the stem"),
        (with_("ResNeXt-A_in", ("num_gs", 2), 3), r"num_gs\[2\] = 3 groups do not divide"),
        (with_("ResNeXt-A_in", ("num_gs", 2), True), r"num_gs\[2\] must be an integer"),
        (with_("ResNeXt-A_in", ("bot_muls", 1), math.nan), r"bot_muls\[1\] must be in"),
        (with_("ResNeXt-A_in", ("bot_muls", 1), "1"), r"bot_muls\[1\] must be a number"),
        (with_("ResNeXt-A_in", ("bot_muls", 1), 1e-9), r"round\(ws\[1\] \* bot_muls\[1\]\)"),
        (with_("ResNeXt-A_in", ("block_type",), ["x"]), "unknown block_type"),
        (with_("Vanilla_reruns", ("ws",), {"0": 16}), "needs lists ds, ws, ss of one length"),
    ],
)
def test_bad_configs_are_named(net, message):
    with pytest.raises(nds.NdsError, match=message):
        nds.check_net(net)


def test_bad_text_and_records_are_named():
    cases = [
        (lambda: nds.parse_model("[" * 100_000), "not valid JSON"),
        (lambda: nds.parse_model('{"depth": ' + "9" * 5000 + "}"), "not valid JSON"),
        (lambda: nds.parse_model(json.dumps({"idx": True, "net": SEEDS["DARTS_in"]})), "'idx'"),
        (lambda: nds.record_from_compact([1, 2]), "record is a JSON object, got list"),
        (lambda: nds.record_from_official(3, "x"), "record 3: a record is a JSON object"),
    ]
    record = {"idx": 5, "acc": 1.0, "params": 1, "flops": 1, "net": SEEDS["ResNeXt-A_in"]}
    bad_net = dict(record, net=with_("ResNeXt-A_in", ("ws", 1), 2.5))
    cases.append((lambda: nds.record_from_compact(bad_net), r"record 5: bad 'net': ws\[1\]"))
    cases.append((lambda: nds.record_from_compact(dict(record, acc="1")), "'acc' must be a"))
    cases.append((lambda: nds.record_from_compact(dict(record, params=1.5)), "'params'"))
    official = {"test_ep_top1": [50, None], "params": 1, "flops": 1, "net": record["net"]}
    cases.append((lambda: nds.record_from_official(0, official), "'test_ep_top1' entry"))
    for fn, message in cases:
        with pytest.raises(nds.NdsError, match=message):
            fn()
    assert nds.record_from_compact(record).idx == 5


def test_every_record_held_passes_within_the_limits(data_dir):
    """The limits are far above every real config: all records load (which checks each net)."""
    files = sorted((data_dir / "nds").glob("*.jsonl*"))
    assert files
    nets = [r.net for f in files for r in nds.read_records(f)]
    cells = [n for n in nets if "genotype" in n]
    anynets = [n for n in nets if "block_type" in n]
    assert 10 * max(n["depth"] for n in cells) <= nds.MAX_CELL_DEPTH
    assert 10 * max(n["width"] for n in cells) <= nds.MAX_CELL_WIDTH
    assert 10 * max(max(n["ds"]) for n in anynets) <= nds.MAX_STAGE_DEPTH
    assert 10 * max(max(n["ws"]) for n in anynets) <= nds.MAX_WIDTH
