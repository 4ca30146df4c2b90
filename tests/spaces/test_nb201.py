import gzip

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zcjax.keys import host_rng
from zcjax.spaces import check, nb201
from zcjax.spaces.costs import count_costs

BEST_C100 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_every_arch_round_trips_through_its_string_and_id():
    archs = nb201.enumerate_archs()
    assert len(archs) == nb201.NUM_ARCHS == 15625 and len(set(archs)) == 15625
    for i, arch in enumerate(archs):
        assert nb201.parse_arch(nb201.arch_to_string(arch)) == arch
        assert nb201.arch_id(arch) == i
        assert nb201.arch_from_id(i) == arch


def test_parse_known_arch():
    assert nb201.parse_arch(BEST_C100) == (3, 3, 3, 1, 3, 3)


@pytest.mark.parametrize(
    "text, message",
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "expected 3 nodes"),
        ("nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "must start and end"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 incoming edges"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must come from node 0"),
        ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", "not of the form op~src"),
        ("", "expected 3 nodes"),
    ],
)
def test_malformed_strings_say_what_is_wrong(text, message):
    with pytest.raises(nb201.ArchError, match=message):
        nb201.parse_arch(text)


@pytest.mark.parametrize("bad", [(0, 1, 2), (0, 1, 2, 3, 4, 5), (-1, 0, 0, 0, 0, 0)])
def test_bad_code_tuples(bad):
    with pytest.raises(nb201.ArchError, match="6 op codes"):
        nb201.arch_to_string(bad)
    with pytest.raises(nb201.ArchError):
        nb201.arch_from_id(-1)


def test_table_codes_agree_with_strings(nb201_table):
    codes = nb201.arch_codes_from_table(nb201_table)
    for row in range(0, len(codes), 97):
        assert nb201.parse_arch(nb201_table["arch"][row]) == tuple(codes[row])


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "imagenet16"])
def test_costs_equal_official_for_all_archs(data_dir, dataset):
    report = check.check_costs("nb201", dataset, data_dir=data_dir)
    assert report.checked == 15625
    assert report.ok, report.summary()


def test_cost_check_reports_a_wrong_table(tmp_path):
    arch = (3, 3, 3, 1, 3, 3)
    cost = nb201.costs(arch)
    header = ["index", "arch", *nb201.EDGE_COLUMNS, "params_cifar10", "flops_cifar10"]
    rows = [
        [0, nb201.arch_to_string(arch), *arch, cost.params / 1e6, cost.flops / 1e6],
        [1, nb201.arch_to_string((0,) * 6), *(0,) * 6, 0.5, 1.0],
    ]
    (tmp_path / "nb201").mkdir()
    with gzip.open(tmp_path / "nb201" / "nb201.csv.gz", "wt") as f:
        f.write("\n".join(",".join(map(str, r)) for r in [header, *rows]))
    report = check.check_costs("nb201", "cifar10", data_dir=tmp_path)
    assert not report.ok
    assert [(i, what) for i, what, _ in report.mismatches] == [(1, "params"), (1, "flops")]


@pytest.mark.slow
def test_whole_network_trace_equals_fast_costs_and_table(nb201_table, key):
    """The Flax module itself (not the fast sum) has the official counts, on a seeded sample."""
    codes = nb201.arch_codes_from_table(nb201_table)
    rows = host_rng(key).choice(len(codes), size=300, replace=False)
    datasets = ["cifar10"] * 280 + ["cifar100"] * 10 + ["imagenet16"] * 10
    for row, dataset in zip(rows, datasets):
        arch = tuple(codes[row])
        size = nb201.INPUT_SIZE[dataset]
        traced = count_costs(nb201.network(arch, dataset), (size, size, 3))
        assert traced == nb201.costs(arch, dataset)
        assert traced.params == round(nb201_table[f"params_{dataset}"][row] * 1e6)


def test_hand_counted_params_of_arch_0():
    # avg_pool, 2x conv1x1 per cell. Stem 432+32; stage convs (C^2 + 2C) * 2 * 5 per stage;
    # ResBlocks 14464 and 57600; last BN 128; classifier 64*10+10.
    arch = nb201.parse_arch(
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    )
    stages = sum((c * c + 2 * c) * 10 for c in (16, 32, 64))
    assert nb201.costs(arch).params == 432 + 32 + stages + 14464 + 57600 + 128 + 650 == 129306


@pytest.mark.slow
@pytest.mark.parametrize("dataset,classes,size", [("cifar100", 100, 32), ("imagenet16", 120, 16)])
def test_forward_shapes_and_batch_norm(key, dataset, classes, size):
    """Every unit's BN output is normalised with the batch's statistics per channel, then
    scaled and shifted by its own ``scale`` and ``bias`` (set to 1 + c/10 and c/100 here)."""
    model = nb201.network(nb201.parse_arch(BEST_C100), dataset)
    x = 3 * jax.random.normal(key, (4, size, size, 3)) + 1
    variables = model.init(key, x)

    def affine(path, leaf):
        name = jax.tree_util.keystr(path)
        c = np.arange(leaf.shape[-1])
        if "['bn']['scale']" in name:
            return jnp.asarray(1 + c / 10, leaf.dtype)
        if "['bn']['bias']" in name:
            return jnp.asarray(c / 100, leaf.dtype)
        return leaf

    variables = {
        **variables,
        "params": jax.tree_util.tree_map_with_path(affine, variables["params"]),
    }
    apply = jax.jit(lambda v, x: model.apply(v, x, mutable=["intermediates"]))
    logits, state = apply(variables, x)
    assert logits.shape == (4, classes)
    assert np.all(np.isfinite(logits))
    bn_outs = [
        np.asarray(v, np.float64)
        for p, v in jax.tree_util.tree_flatten_with_path(state["intermediates"])[0]
        if "bn_out" in jax.tree_util.keystr(p)
    ]
    assert len(bn_outs) == 3 * 5 * 5 + 2 * 2  # 15 cells of 5 conv edges; 2 ResBlocks of 2
    for y in bn_outs:
        c = np.arange(y.shape[-1])
        np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), c / 100, atol=2e-4)
        np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1 + c / 10, rtol=2e-3)


@pytest.mark.slow
def test_eznas_init_statistics(key):
    model = nb201.network((3,) * 6)
    variables = model.init(key, np.zeros((2, 32, 32, 3), np.float32))
    params = variables["params"]
    kernels = np.concatenate(
        [np.ravel(params[f"cell_{k}"]["edge_3_2"]["conv"]["kernel"]) for k in range(12, 17)]
    )
    np.testing.assert_allclose(kernels.std(), np.sqrt(2 / (9 * 64)), rtol=0.05)
    np.testing.assert_allclose(params["classifier"]["kernel"].std(), 0.01, rtol=0.1)
    assert np.all(params["classifier"]["bias"] == 0)
    assert np.all(params["cell_0"]["edge_1_0"]["bn"]["scale"] == 1)


@pytest.mark.slow
def test_init_scheme_is_selectable(key):
    model = nb201.network((2,) * 6, weight_init="pytorch")
    params = model.init(key, np.zeros((2, 32, 32, 3), np.float32))["params"]
    kernel = params["stem_conv"]["kernel"]
    bound = 1 / np.sqrt(27)
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.8 * bound
    assert np.any(params["classifier"]["bias"] != 0)
    with pytest.raises(ValueError, match="Unknown init scheme"):
        nb201.network((2,) * 6, weight_init="nope").init(key, np.zeros((2, 32, 32, 3)))


@pytest.mark.slow
def test_none_edges_zero_the_cell(key):
    """An all-none cell outputs zeros (as the official Zero op), not NaN, for finite inputs."""
    cell = nb201.Cell((0,) * 6, 16)
    x = jax.random.normal(key, (2, 8, 8, 16))
    out = cell.apply(cell.init(key, x), x)
    np.testing.assert_array_equal(out, 0.0)


def test_skip_only_cell_is_hand_computed(key):
    # node1 = x; node2 = x + node1 = 2x; node3 = x + node1 + node2 = 4x.
    cell = nb201.Cell((1,) * 6, 16)
    x = jax.random.normal(key, (2, 8, 8, 16))
    np.testing.assert_allclose(cell.apply(cell.init(key, x), x), 4 * x, rtol=1e-6)
