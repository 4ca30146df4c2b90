"""NDS spaces: records, loaders, networks, ops, units and costs."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zcjax import engine, netplan, stats
from zcjax.compiles import count_compiles
from zcjax.data import DataNotFoundError
from zcjax.nn import avg_pool, conv2d, max_pool
from zcjax.spaces import check, get_space, nds
from zcjax.spaces.costs import count_costs
from zcjax.spaces.plan_network import PlanNetwork

# A hand-built DARTS-style cell: units per op as SCHEMA.md's "EZNAS conv layers" section says.
GENOTYPE = {
    "normal": [
        ["sep_conv_3x3", 0],  # 2 units
        ["skip_connect", 1],  # 0
        ["dil_conv_5x5", 2],  # 1
        ["max_pool_3x3", 0],  # 0
        ["conv_7x1_1x7", 1],  # 1
        ["none", 3],  # 0
        ["avg_pool_3x3", 4],  # 0
        ["dil_sep_conv_3x3", 2],  # 2
    ],
    "normal_concat": [3, 4, 5],
    "reduce": [
        ["skip_connect", 0],  # FactorizedReduce: 1 unit
        ["conv_3x1_1x3", 1],  # 1
        ["none", 0],
        ["none", 1],  # a node of zeros
        ["conv_1x1", 2],  # 1
        ["max_pool_5x5", 1],  # 0
        ["sep_conv_5x5", 3],  # 2
        ["conv_3x3", 4],  # 1
    ],
    "reduce_concat": [2, 3, 4, 5],
}
UNITS_PER_CELL = {"normal": 2 + 6, "reduce": 2 + 6}  # preprocess0/1 + ops
CELL_NET = {"aux": False, "depth": 5, "drop_prob": 0.0, "genotype": GENOTYPE, "width": 8}
BOTTLENECK_NET = {
    "block_type": "res_bottleneck_block",
    "ds": [1, 1, 2],
    "ws": [64, 16, 32],
    "ss": [8, 1, 2],
    "bot_muls": [1.0, 0.5, 0.25],
    "num_gs": [1, 2, 4],
}


def model(net, idx=-1):
    return nds.Model(idx, nds.canonical(net))


def small(plan, size):
    return netplan.Plan(plan.ops, plan.output, (size, size, 3))


# ----------------------------------------------------------------------------- ops


def _single_op_plan(op_name, stride, channels=4):
    b = netplan.Builder()
    x = b.conv(("stem",), 0, channels, 3, bn_path=("stem_bn",))
    y = nds._cell_op(b, ("op",), op_name, x, channels, stride, True)
    y = b.add((), like=x, stride=stride) if y is None else y
    out = b.head(None, ("fc",), y, 3, relu=False)
    return b.build(out, (7, 7, 3)), y


@pytest.mark.slow
@pytest.mark.parametrize("op_name", sorted(nds.CELL_OPS))
@pytest.mark.parametrize("stride", [1, 2])
def test_each_op_engine_equals_flax_module_forward_and_backward(key, op_name, stride):
    plan, y = _single_op_plan(op_name, stride)
    params = engine.init_params(key, plan)
    x = jax.random.normal(jax.random.key(1), (3, 7, 7, 3))
    labels = jnp.array([0, 1, 2])
    values = engine.forward(params, plan, x)
    assert values[y].shape == ((3, 4, 4, 4) if stride == 2 else (3, 7, 7, 4))
    model = PlanNetwork(plan)
    np.testing.assert_allclose(
        values[plan.output], model.apply({"params": params}, x), rtol=1e-5, atol=1e-6
    )

    def loss(p, v):
        return engine.cross_entropy(model.apply({"params": p}, v), labels)

    want_params, want_x = jax.grad(loss, argnums=(0, 1))(params, x)
    got = engine.backward(
        params,
        plan,
        values,
        engine.logit_cotangent(values[plan.output], labels),
        param_grads=True,
    )
    np.testing.assert_allclose(got.input, want_x, rtol=1e-4, atol=1e-7)
    for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(want_params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_ops_compute_their_definitions(key):
    """Hand-written maths of SCHEMA.md's op table, against the engine on one input."""
    x = jax.random.normal(key, (2, 6, 6, 4))
    relu = jax.nn.relu(x)

    def run(op_name, stride):
        b = netplan.Builder()
        y = nds._cell_op(b, ("op",), op_name, 0, 4, stride, False)  # no BN: plain maths
        plan = b.build(y, (6, 6, 4))
        params = engine.init_params(jax.random.key(3), plan)
        return engine.forward(params, plan, x)[y], params.get("op", {})

    # FactorizedReduce: two 1x1 stride-2 convs, the second on the input shifted by one pixel.
    y, p = run("skip_connect", 2)
    w1, w2 = p["conv_1"]["kernel"][0, 0], p["conv"]["kernel"][0, 0]
    shifted = jnp.pad(relu, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 1:, 1:]
    want = jnp.concatenate([relu[:, ::2, ::2] @ w1, shifted[:, ::2, ::2] @ w2], -1)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    # avg pool excludes padding: a corner averages 4 values.
    y, _ = run("avg_pool_3x3", 1)
    np.testing.assert_allclose(y[:, 0, 0], x[:, :2, :2].mean((1, 2)), rtol=1e-6)
    # max pool 5x5 stride 2, padding never wins.
    y, _ = run("max_pool_5x5", 2)
    np.testing.assert_allclose(y[:, 0, 0], x[:, :3, :3].max((1, 2)))
    np.testing.assert_allclose(y[:, 1, 2], x[:, :5, 2:7].max((1, 2)))
    # sep conv: depthwise (one filter per channel) then pointwise, twice, each after a ReLU.
    y, p = run("sep_conv_3x3", 1)
    h = relu
    for half in ("a", "b"):
        dw, pw = p[half]["depthwise"]["kernel"], p[half]["conv"]["kernel"]
        assert dw.shape == (3, 3, 1, 4) and pw.shape == (1, 1, 4, 4)
        h = conv2d(h, dw, groups=4) @ pw[0, 0]
        h = jax.nn.relu(h) if half == "a" else h
    np.testing.assert_allclose(y, h, rtol=1e-4, atol=1e-5)
    # conv_7x1_1x7 at stride 2: 1x7 with stride (1, 2), then 7x1 with stride (2, 1).
    y, p = run("conv_7x1_1x7", 2)
    assert p["conv_1x7"]["kernel"].shape == (1, 7, 4, 4) and p["conv"]["kernel"].shape == (
        7,
        1,
        4,
        4,
    )
    want = conv2d(conv2d(relu, p["conv_1x7"]["kernel"], (1, 2)), p["conv"]["kernel"], (2, 1))
    assert y.shape == (2, 3, 3, 4)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    # dilated conv: a 5x5 depthwise with dilation 2 sees pixels 4 apart.
    y, p = run("dil_conv_5x5", 1)
    spread = jnp.zeros((2, 6, 6, 4)).at[:, 0, 0].set(1.0)
    b = netplan.Builder()
    plan = b.build(nds._cell_op(b, ("op",), "dil_conv_5x5", 0, 4, 1, False), (6, 6, 4))
    out = engine.forward(p and {"op": p}, plan, spread)[plan.output]
    assert np.flatnonzero(np.abs(np.asarray(out[0, :, :, 0])).ravel() > 0).tolist() == [
        0, 2, 4, 12, 14, 16, 24, 26, 28,
    ]  # fmt: skip
    np.testing.assert_allclose(max_pool(x, 3, 1, 1)[:, 2, 2], x[:, 1:4, 1:4].max((1, 2)))
    np.testing.assert_allclose(
        avg_pool(x, 3, 2, 1)[:, 1, 1], x[:, 1:4, 1:4].mean((1, 2)), rtol=1e-6
    )


# ----------------------------------------------------------------------------- units


def _count_units_by_rule(genotype, kind):
    """SCHEMA.md's count: sep/dil_sep 2, other convs and stride-2 skips 1, the rest 0."""
    n = 2
    for op, src in genotype[kind]:
        if op.startswith(("sep_conv", "dil_sep_conv")):
            n += 2
        elif op.startswith(("dil_conv", "conv_")):
            n += 1
        elif op == "skip_connect" and kind == "reduce" and src < 2:
            n += 1
    return n


@pytest.mark.slow
@pytest.mark.parametrize("dataset, stem_units", [("imagenet", 2), ("cifar10", 0)])
def test_unit_discovery_on_a_hand_built_cell(dataset, stem_units):
    plan = nds.plan(model(CELL_NET), dataset)
    depth = CELL_NET["depth"]
    reductions = {depth // 3, 2 * depth // 3}
    per_cell = [
        _count_units_by_rule(GENOTYPE, "reduce" if i in reductions else "normal")
        for i in range(depth)
    ]
    assert per_cell[0] == UNITS_PER_CELL["normal"] and per_cell[1] == UNITS_PER_CELL["reduce"]
    names = ["/".join(u.path) for u in plan.units]
    assert len(names) == stem_units + sum(per_cell)
    assert len([n for n in names if n.startswith("stem")]) == stem_units
    for i, n in enumerate(per_cell):
        assert len([m for m in names if m.startswith(f"cell_{i}/")]) == n
    # ImageNet's first cell reads the stride-2 stems: its preprocess0 is a FactorizedReduce,
    # as is the preprocess0 after each reduction cell; sep convs give their pointwise conv.
    by_name = {"/".join(u.path): u for u in plan.units}
    assert by_name["cell_0/preprocess0"].factorized == (dataset == "imagenet")
    assert by_name["cell_2/preprocess0"].factorized
    assert by_name["cell_1/op_0"].factorized  # skip_connect from input 0 in a reduction cell
    assert by_name["cell_0/op_0/a"].pre[0].groups == 0  # depthwise before the unit's conv
    # The statistics see every unit: EZNAS's layer list.
    x = jnp.ones((2, 16, 16, 3))
    st = stats.collect_stats(jax.random.key(0), small(plan, 16), x, ("weight", "bn_out@data"))
    assert st.names == tuple(names)
    assert st.layers[names.index("cell_0/op_0/a")]["weight"].shape == (1, 1, 8, 8)


def test_anynet_units_and_shortcuts():
    plan = nds.plan(model(BOTTLENECK_NET), "imagenet")
    names = ["/".join(u.path) for u in plan.units]
    # Stem: conv (not a unit) + two ReLU-conv-BN; blocks: a, b, c (+ proj when shape changes).
    assert names == [
        "stem/unit_1", "stem/unit_2",
        "s1_b1/a", "s1_b1/b", "s1_b1/c", "s1_b1/proj",
        "s2_b1/a", "s2_b1/b", "s2_b1/c", "s2_b1/proj",
        "s2_b2/a", "s2_b2/b", "s2_b2/c",
    ]  # fmt: skip
    units = {"/".join(u.path): u for u in plan.units}
    assert units["s2_b1/b"].groups == 4 and units["s2_b1/b"].features == 8  # round(32 * 0.25)
    assert units["s2_b1/proj"].shared_relu and not units["s2_b1/a"].shared_relu
    assert sum(isinstance(op, netplan.Relu) for op in plan.ops) == 1  # s2_b2's identity
    params = engine.init_params(jax.random.key(0), plan)
    assert params["s2_b1"]["b"]["conv"]["kernel"].shape == (3, 3, 2, 8)  # 8 / 4 groups


@pytest.mark.slow
def test_networks_equal_their_flax_modules_and_count_the_same(key):
    for net, dataset in (
        (CELL_NET, "imagenet"),
        (CELL_NET, "cifar10"),
        (BOTTLENECK_NET, "imagenet"),
    ):
        m = model(net)
        plan = nds.plan(m, dataset)
        params = engine.init_params(key, plan)
        size = 32
        x = jax.random.normal(key, (2, size, size, 3))
        np.testing.assert_allclose(
            engine.forward(params, small(plan, size), x)[plan.output],
            nds.network(m, dataset).apply({"params": params}, x),
            rtol=1e-3,  # BN over 2 samples at 1x1 in the last stage amplifies rounding
            atol=1e-4,
        )
        traced = count_costs(nds.network(m, dataset), plan.input_shape)
        assert traced.params == nds.costs(m, dataset).params == nds.plan_costs(plan).params
        assert traced.flops == nds.plan_costs(plan).flops


def test_bn_free_plan_drops_every_bn():
    for net in (CELL_NET, BOTTLENECK_NET):
        plan = nds.plan(model(net), "imagenet", bn=False)
        params = engine.init_params(jax.random.key(0), plan)
        paths = jax.tree_util.tree_flatten_with_path(params)[0]
        assert not [p for p, _ in paths if any(getattr(k, "key", "").startswith("bn") for k in p)]


@pytest.mark.slow
def test_compiled_kernels_are_shared_across_models(key):
    """A second model whose ops and shapes were all seen compiles nothing."""
    first = dict(CELL_NET, width=8)
    other = json.loads(json.dumps(first))
    other["genotype"]["normal"][0] = ["sep_conv_3x3", 1]  # same ops, other wiring
    x = jnp.ones((2, 16, 16, 3))
    for net in (first, other):
        plan = small(nds.plan(model(net), "imagenet"), 16)
        with count_compiles() as c:
            stats.collect_stats(key, plan, x, ("relu_in_grad@data",))
        compiled = c.count
    assert compiled == 0


# ----------------------------------------------------------------------------- records


def _official(idx):
    return {
        "net": dict(CELL_NET, width=8 + idx),
        "params": 100 + idx,
        "flops": 1000 + idx,
        "test_ep_top1": [90.0, 50.0, 40.0 - idx],
        "min_test_top1": 39.0 - idx,
        "train_ep_loss": [1.0, 0.5, 0.4],
    }


def test_official_list_and_top_mid_files_load_like_compact_records(tmp_path):
    (tmp_path / "nds").mkdir()
    (tmp_path / "nds" / "DARTS.json").write_text(json.dumps([_official(0), _official(1)]))
    layout = {"top": [_official(2)], "mid": [_official(3), _official(4)]}
    (tmp_path / "nds" / "ResNet_reruns.json").write_text(json.dumps(layout))
    records = nds.read_records(tmp_path / "nds" / "DARTS.json")
    assert [r.idx for r in records] == [0, 1]
    assert records[1].acc == pytest.approx(61.0) and records[1].acc_best == pytest.approx(62.0)
    assert records[1].epochs == 3 and records[1].params == 101
    reruns = nds.read_records(tmp_path / "nds" / "ResNet_reruns.json")
    assert [(r.idx, r.split) for r in reruns] == [(0, "top"), (1, "mid"), (2, "mid")]
    assert [r.acc for r in reruns] == pytest.approx([62.0, 63.0, 64.0])
    # The same records written in our compact form load identically.
    lines = [
        json.dumps({"idx": r.idx, "acc": r.acc, "acc_best": r.acc_best, "net": r.net,
                    "params": r.params, "flops": r.flops, "epochs": r.epochs, "split": r.split})
        for r in reruns
    ]  # fmt: skip
    (tmp_path / "nds" / "ResNet_reruns.jsonl").write_text("\n".join(lines) + "\n")
    assert nds.read_records(tmp_path / "nds" / "ResNet_reruns.jsonl") == reruns
    # As a space: the .jsonl is preferred; the CIFAR space reads the official file.
    bench = get_space("nds_darts").load_benchmark(tmp_path)
    assert list(bench.index) == [0, 1] and bench.archs[1].config["width"] == 9
    assert nds.available_spaces(tmp_path) == ["nds_darts", "nds_resnet_reruns"]


def test_bad_files_and_configs_fail_clearly(tmp_path):
    (tmp_path / "nds").mkdir()
    with pytest.raises(DataNotFoundError, match="nds/PNAS_in.jsonl"):
        get_space("nds_pnas_in").load_benchmark(tmp_path)
    bad = tmp_path / "nds" / "ENAS.json"
    bad.write_text(json.dumps([{"net": CELL_NET, "params": 1}]))
    with pytest.raises(nds.NdsError, match="record 0: missing"):
        nds.read_records(bad)
    bad.write_text("{not json")
    with pytest.raises(nds.NdsError, match="not valid JSON"):
        nds.read_records(bad)
    cases = [
        ('{"width": 8, "depth": 5}', "'genotype'|'block_type'"),
        ("[1, 2]", "JSON object"),
        ("nope", "JSON net configs"),
    ]
    net = json.loads(json.dumps(CELL_NET))
    net["genotype"]["normal"][3] = ["sep_conv_9x9", 0]
    cases.append((json.dumps(net), "unknown op 'sep_conv_9x9'"))
    net = json.loads(json.dumps(CELL_NET))
    net["genotype"]["normal"][2] = ["conv_1x1", 3]
    cases.append((json.dumps(net), r"edge 2: input must be in 0\.\.2, got 3"))
    cases.append((json.dumps(dict(BOTTLENECK_NET, block_type="dense")), "unknown block_type"))
    cases.append((json.dumps(dict(BOTTLENECK_NET, num_gs=[1])), "bot_muls, num_gs of one length"))
    for text, message in cases:
        with pytest.raises(nds.NdsError, match=message):
            nds.parse_model(text)
    with pytest.raises(nds.NdsError, match="does not fit dataset"):
        nds.plan(model(BOTTLENECK_NET), "cifar10")


def test_parse_round_trips_and_ids():
    m = nds.parse_model(json.dumps(CELL_NET))
    assert m.idx == -1 and nds.parse_model(m.net) == m
    assert nds.model_id(m) >= 2**31 and nds.model_id(nds.Model(7, m.net)) == 7
    record = {"idx": 3, "net": CELL_NET}
    assert nds.parse_model(json.dumps(record)) == nds.Model(3, m.net)


# ----------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_params_and_flops_match_every_record(data_dir):
    """All records of every NDS file held: params and FLOPs exactly as the records say."""
    names = nds.available_spaces(data_dir)
    assert len(names) == 13
    for name in names:
        report = check.check_costs(name, get_space(name).datasets[0], data_dir=data_dir)
        assert report.ok, report.summary()
        assert report.checked >= 117


@pytest.mark.slow
def test_traced_flax_modules_match_record_params(data_dir):
    """An independent count: trace the Flax module of a few records of each family."""
    for name in ("nds_amoeba_in", "nds_resnext-b_in", "nds_vanilla_reruns"):
        space = get_space(name)
        bench = space.load_benchmark(data_dir)
        dataset = space.datasets[0]
        for row in (0, len(bench.archs) - 1):
            arch = bench.archs[row]
            size = space.input_size(dataset)
            traced = count_costs(space.network(arch, dataset), (size, size, 3))
            assert traced.params == bench.table["params"][row]


def test_plan_costs_equal_nb201_official_counting():
    """plan_costs is generic: on NB201 plans it gives nb201.costs (official counts)."""
    from zcjax.spaces import nb201

    for i in (0, 1234, 8765, 15624):
        arch = nb201.arch_from_id(i)
        for dataset in ("cifar10", "imagenet16"):
            assert nds.plan_costs(nb201.plan(arch, dataset)) == nb201.costs(arch, dataset)
