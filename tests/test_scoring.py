import csv
import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from zcjax import data, engine, scoring
from zcjax.archs import read_archs_file, sample_archs
from zcjax.inputs import input_batch
from zcjax.proxies import get_proxies
from zcjax.recipe import score_archs
from zcjax.settings import Settings
from zcjax.spaces import SPACES, get_space, nb201

REPO = Path(__file__).resolve().parent.parent
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_sampling_is_seeded_distinct_and_capped(key):
    space = SPACES["nb201"]
    a = sample_archs(key, space, 50)
    assert a == sample_archs(key, space, 50)
    assert len(set(a)) == 50
    assert a != sample_archs(jax.random.key(1), space, 50)
    assert len(sample_archs(key, space, 10**6)) == nb201.NUM_ARCHS
    with pytest.raises(ValueError, match="positive"):
        sample_archs(key, space, 0)


@pytest.mark.slow
def test_scores_do_not_depend_on_which_archs_are_asked(key):
    space = SPACES["nb201"]
    archs = sample_archs(key, space, 6)
    full, _ = score_archs(
        key,
        space,
        archs,
        get_proxies("params,flops,eznas_a"),
        "cifar10",
        Settings(batch_size=4, inputs="noise"),
    )
    part, _ = score_archs(
        key,
        space,
        archs[3:],
        get_proxies("eznas_a,flops"),
        "cifar10",
        Settings(batch_size=4, inputs="noise"),
    )
    np.testing.assert_array_equal(full["flops"][3:], part["flops"])
    np.testing.assert_array_equal(full["eznas_a"][3:], part["eznas_a"])


def test_archs_file_reads_strings_indices_and_reports_bad_lines(tmp_path, data_dir):
    space = SPACES["nb201"]
    bench = space.load_benchmark(data_dir)
    path = tmp_path / "archs.txt"
    path.write_text(f"# best on CIFAR-100\n{BEST}\n\n9930  # same by index\n0\n")
    archs = read_archs_file(str(path), space, bench)
    assert archs[0] == archs[1] == nb201.parse_arch(BEST)
    assert archs[2] == bench.archs[0]
    path.write_text(f"{BEST}\n|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
    with pytest.raises(ValueError, match=r"archs.txt:2: .*unknown op 'conv'"):
        read_archs_file(str(path), space, bench)
    path.write_text("99999\n")
    with pytest.raises(ValueError, match=r"archs.txt:1: .*index 99999"):
        read_archs_file(str(path), space, bench)
    path.write_text("5\n")
    with pytest.raises(ValueError, match="need the benchmark table"):
        read_archs_file(str(path), space, None)


def _csv_rows(path):
    """The rows of a scores CSV as dicts, its ``#`` comment lines skipped as pandas would."""
    with open(path) as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def test_run_without_a_data_folder_uses_the_embedded_default(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEFAULT_DIRS", (tmp_path / "none",))
    result = scoring.run_scoring(scoring.ScoreConfig(num_archs=40))
    assert result.notes[0].startswith("data: the embedded default")
    table = data.load_nb201_table("embedded")
    np.testing.assert_array_equal(result.target, table["cifar10_valid"][result.index])
    assert result.correlations()["params"]["n"] == 40


def test_run_without_any_data_scores_and_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEFAULT_DIRS", (tmp_path / "none",))
    monkeypatch.setattr(data, "embedded_dir", lambda: tmp_path / "lost")
    result = scoring.run_scoring(scoring.ScoreConfig(num_archs=4))
    assert result.target is None and result.correlations() == {}
    assert "No ground truth found" in result.notes[0] and "ZCJAX_DATA" in result.notes[0]
    assert np.all(result.index == -1)
    assert result.scores["params"][0] == nb201.costs(result.archs[0]).params
    assert "params" in scoring.format_scores(result)


@pytest.mark.slow
def test_params_correlation_on_all_archs_is_the_datas(data_dir):
    """Params vs cifar10 valid accuracy over all 15,625 archs (independently: scipy)."""
    import scipy.stats

    result = scoring.run_scoring(
        scoring.ScoreConfig(
            proxies=("params",), num_archs=15625, settings=Settings(data_dir=str(data_dir))
        )
    )
    corr = result.correlations()["params"]
    table = data.load_nb201_table(data_dir)
    order = np.argsort(result.index)
    np.testing.assert_array_equal(result.index[order], table["index"])
    tau = scipy.stats.kendalltau(table["params_cifar10"], table["cifar10_valid"])[0]
    np.testing.assert_allclose(corr["kendall_tau"], tau, atol=1e-4)
    assert corr["kendall_tau"] == pytest.approx(0.53, abs=0.01)
    assert corr["spearman"] == pytest.approx(0.71, abs=0.01)


def test_unknown_target_and_dataset(data_dir):
    with pytest.raises(ValueError, match="unknown target column 'nope'; columns are"):
        scoring.run_scoring(scoring.ScoreConfig(target="nope", num_archs=2))
    with pytest.raises(ValueError, match="no dataset 'mnist'"):
        scoring.run_scoring(scoring.ScoreConfig(dataset="mnist", num_archs=2))


def _run_score(*args, env=None):
    return subprocess.run(
        [sys.executable, str(REPO / "experiments" / "score.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.mark.slow
def test_score_cli_smoke(tmp_path, data_dir):
    out = tmp_path / "scores.csv"
    proc = _run_score(
        "--space=nb201",
        "--dataset=cifar100",
        "--proxies=params,flops,net_add(log_params, log_params)",  # a program keeps its comma
        "--num_archs=30",
        f"--output={out}",
        f"--data_dir={data_dir}",
    )
    assert proc.returncode == 0, proc.stderr
    assert "kendall_tau" in proc.stdout and "cifar100_valid" in proc.stdout
    rows = _csv_rows(out)
    assert len(rows) == 90 and set(rows[0]) >= {"index", "arch", "proxy", "score"}
    table = data.load_nb201_table(data_dir)
    program = "net_add(log_params, log_params)"
    assert [r["proxy"] for r in rows[:4]] == ["params", "flops", program, "params"]  # arch-major
    for params, twice_log in zip(rows[::3], rows[2::3]):
        assert float(twice_log["score"]) == pytest.approx(2 * math.log(float(params["score"])))
    for row in [r for r in rows if r["proxy"] == "params"][:5]:
        i = int(row["index"])
        assert table["arch"][i] == row["arch"]
        assert float(row["score"]) == round(table["params_cifar100"][i] * 1e6)
        assert float(row["target"]) == table["cifar100_valid"][i]


@pytest.mark.slow
def test_score_cli_bad_input_is_one_clear_line(tmp_path):
    proc = _run_score("--proxies=nope", "--num_archs=2")
    assert proc.returncode != 0
    assert "error: Unknown proxy 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _run_score("--proxies=params,net_add(log_params", "--num_archs=2")
    assert "error: Unbalanced brackets in the proxy list" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _run_score("--num_archs=2", env={"ZCJAX_DATA": str(tmp_path / "missing")})
    assert "is not a folder" in proc.stderr and "Traceback" not in proc.stderr
    listed = tmp_path / "archs.txt"
    listed.write_text("0\n1\n2\n")
    proc = _run_score("--num_archs=2", f"--archs_file={listed}")  # the file would win silently
    assert "error: --num_archs and --archs_file both given" in proc.stderr
    assert proc.returncode != 0 and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_vmap_over_inits_equals_loop(key):
    space = SPACES["nb201"]
    archs = sample_archs(key, space, 3)
    proxies = get_proxies("eznas_a,eznas_pnas")
    runs = [
        score_archs(
            key,
            space,
            archs,
            proxies,
            "cifar10",
            Settings(num_inits=3, batch_size=4, inputs="noise", vmap_inits=v),
        )
        for v in (True, False)
    ]
    # Same maths, different float32 summation order: EZNAS-A takes the sign of gradients with
    # many entries near 0, so a few flip and scores agree to ~1e-3, not to the last bit. The
    # spread over the 3 inits moves by as much as one init's score does (|std(a) - std(b)| <=
    # max |a - b|), i.e. by ~2e-3 of the score, which is 7% of a small spread (CI, stop 41:
    # .0820 against .0883).
    for name in ("eznas_a", "eznas_pnas"):
        np.testing.assert_allclose(runs[0][0][name], runs[1][0][name], rtol=2e-3)
        spread = np.abs(runs[0][1][name] - runs[1][1][name])
        bound = 0.05 * np.abs(runs[1][1][name]) + 2e-3 * np.abs(runs[1][0][name]) + 1e-3
        assert np.all(spread <= bound), (name, spread, bound)
    assert np.all(runs[0][1]["eznas_a"] > 0)  # inits differ


@pytest.mark.slow
def test_compilations_are_not_per_architecture(key):
    """After a few warm-up archs, 20 never-seen archs compile (almost) nothing."""
    from experiments import bench_lib as bench
    from zcjax import compiles

    space = SPACES["nb201"]
    archs = sample_archs(jax.random.key(11), space, 30)
    proxies = get_proxies("eznas_a")
    settings = Settings(batch_size=2, inputs="noise")
    bench.clear_compilation_caches()  # start cold whatever ran before
    with compiles.count_compiles() as warm:
        score_archs(key, space, archs[:10], proxies, "cifar10", settings)
    with compiles.count_compiles() as new:
        score_archs(key, space, archs[10:], proxies, "cifar10", settings)
    assert warm.count > 20  # the counter sees the kernels compile
    assert len(set(archs[10:])) == 20 and not set(archs[10:]) & set(archs[:10])
    assert new.count <= 5, f"{new.count} compilations for 20 new archs"


@pytest.mark.slow
def test_invalid_program_scores_are_nan_and_counted_out(data_dir, key):
    result = scoring.run_scoring(
        scoring.ScoreConfig(
            proxies=("params",),
            programs=("invert(zeros_like(relu_in@data))", "mean(relu_in_grad@data)"),
            num_archs=4,
            settings=Settings(batch_size=4, data_dir=str(data_dir)),
        )
    )
    assert np.all(np.isnan(result.scores["invert(zeros_like(relu_in@data))"]))
    corr = result.correlations()
    assert corr["invert(zeros_like(relu_in@data))"]["n"] == 0
    assert corr["mean(relu_in_grad@data)"]["n"] == 4


@pytest.mark.slow
def test_score_cli_programs_and_inits(tmp_path, data_dir):
    out = tmp_path / "scores.csv"
    proc = _run_score(
        "--proxies=eznas_a",
        "--program=mean(abs(bn_out_grad@noise))",
        "--num_inits=2",
        "--batch_size=4",
        "--num_archs=5",
        f"--output={out}",
        f"--data_dir={data_dir}",
    )
    assert proc.returncode == 0, proc.stderr
    rows = _csv_rows(out)
    assert {r["proxy"] for r in rows} == {"eznas_a", "mean(abs(bn_out_grad@noise))"}
    assert len(rows) == 10 and all(float(r["score_std"]) >= 0 for r in rows)
    assert any(float(r["score_std"]) > 0 for r in rows)
    proc = _run_score("--program=logdet(logdet(relu_in@data))", "--num_archs=2")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    proc = _run_score("--program=mean(foo)", "--num_archs=2")
    assert "Unknown name 'foo'" in proc.stderr and "^" in proc.stderr


@pytest.mark.slow
def test_module_stats_method_gives_the_engines_scores(key):
    space = SPACES["nb201"]
    archs = sample_archs(jax.random.key(3), space, 2)
    proxies = get_proxies("eznas_pnas,eznas_topprog")
    runs = [
        score_archs(
            key,
            space,
            archs,
            proxies,
            "cifar10",
            Settings(batch_size=4, inputs="noise", num_inits=2, stats_method=m),
        )[0]
        for m in ("engine", "module")
    ]
    for name in ("eznas_pnas", "eznas_topprog"):
        np.testing.assert_allclose(runs[0][name], runs[1][name], rtol=1e-3)


@pytest.mark.slow
def test_nds_space_scores_records_by_idx(data_dir, tmp_path):
    """score.py's path on an NDS space: all records when num_archs exceeds the space, CSV
    index = record idx, ImageNet inputs at a chosen resolution, EZNAS-A and costs."""
    config = scoring.ScoreConfig(
        space="nds_resnext-a_in",
        dataset="",
        proxies=("params", "flops", "eznas_a"),
        num_archs=10**6,
        settings=Settings(batch_size=4, resolution=32, data_dir=str(data_dir)),
    )
    space = get_space("nds_resnext-a_in")
    bench = space.load_benchmark(data_dir)
    small = dataclasses.replace(config, num_archs=3)
    result = scoring.run_scoring(small)
    archs = result.archs
    assert result.dataset == "imagenet" and result.target_name == "acc"
    assert len(archs) == 3 and list(result.index) == [a.idx for a in archs]
    np.testing.assert_array_equal(result.target, bench.table["acc"][result.index])
    np.testing.assert_array_equal(result.scores["params"], bench.table["params"][result.index])
    assert np.all(np.isfinite(result.scores["eznas_a"]))
    path = tmp_path / "scores.csv"
    scoring.write_csv(path, result)
    rows = _csv_rows(path)
    assert {int(r["index"]) for r in rows} == {a.idx for a in archs}
    assert json.loads(rows[0]["arch"]) == archs[0].config
    everything = sample_archs(jax.random.key(0), space, config.num_archs, bench)
    assert len(everything) == len(bench.archs) == 130


def _no_data_anywhere(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("noise inputs must not look for a data folder")

    monkeypatch.setattr(data, "find_data_dir", refuse)
    monkeypatch.setattr(data, "load_images", refuse)


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "imagenet16", "imagenet"])
def test_noise_labels_cover_the_datasets_classes_without_data(dataset, monkeypatch):
    _no_data_anywhere(monkeypatch)
    settings = Settings(batch_size=512, inputs="noise", resolution=8)
    x, y = input_batch(jax.random.key(1), dataset, settings)
    classes = data.NUM_CLASSES[dataset]
    assert x.shape == (512, 8, 8, 3)
    assert int(y.min()) >= 0 and int(y.max()) == classes - 1  # 512 draws reach the top class
    assert len(np.unique(np.asarray(y))) >= min(classes, 200)


@pytest.mark.slow
def test_noise_snip_on_a_tiny_network_equals_a_hand_computation(monkeypatch):
    """1x1 conv -> ReLU -> GAP -> linear to 10 classes, mean cross-entropy of noise inputs with
    labels drawn as score.py draws them: SNIP = sum |W * dL/dW| written out in numpy."""
    from zcjax import netplan
    from zcjax.proxies import gradient
    from zcjax.proxies.passes import Passes

    _no_data_anywhere(monkeypatch)
    plan = netplan.Plan(
        (
            netplan.Conv(("conv",), 0, 1, features=3, kernel=1),
            netplan.Head(None, ("linear",), 1, 2, classes=10),
        ),
        2,
        (8, 8, 2),
    )
    settings = Settings(batch_size=6, inputs="noise", resolution=8)
    x, labels = input_batch(jax.random.key(2), "cifar10", settings)
    x = x[..., :2]  # the tiny network reads 2 channels
    params = engine.init_params(jax.random.key(3), plan, "pytorch")
    score = gradient.snip(Passes(plan, params, x, labels))

    xs = np.asarray(x, np.float64).reshape(6, 64, 2)
    w1 = np.asarray(params["conv"]["kernel"][0, 0], np.float64)  # [2, 3]
    w2 = np.asarray(params["linear"]["kernel"], np.float64)  # [3, 10]
    b2 = np.asarray(params["linear"]["bias"], np.float64)
    pre = xs @ w1  # [6, 64, 3]
    pooled = np.maximum(pre, 0).mean(axis=1)  # [6, 3]
    logits = pooled @ w2 + b2
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(10)[np.asarray(labels)]
    d_logits = (p - onehot) / 6  # mean over the batch
    g2 = pooled.T @ d_logits
    d_pre = (d_logits @ w2.T)[:, None, :] / 64 * (pre > 0)
    g1 = np.einsum("bpc,bpk->ck", xs, d_pre)
    expected = np.sum(np.abs(w1 * g1)) + np.sum(np.abs(w2 * g2))
    np.testing.assert_allclose(score, expected, rtol=1e-5)


@pytest.mark.slow
def test_noise_snip_and_grad_norm_rank_nb201_like_the_references(data_dir):
    """Noise inputs with labels in CIFAR-10's 10 classes, PyTorch's init as zero-cost-nas:
    SNIP and grad_norm rank 200 NB201 architectures with Spearman rho > .5 against CIFAR-10
    validation accuracy (the reference implementations: .60 on 300 archs at batch 64; with
    labels drawn from 2048 "classes" both were .07)."""
    result = scoring.run_scoring(
        scoring.ScoreConfig(
            proxies=("snip", "grad_norm"),
            num_archs=200,
            settings=Settings(
                batch_size=16, inputs="noise", weight_init="pytorch", data_dir=str(data_dir)
            ),
        )
    )
    corr = result.correlations()
    assert corr["snip"]["n"] == corr["grad_norm"]["n"] == 200
    assert corr["snip"]["spearman"] > 0.5, corr["snip"]
    assert corr["grad_norm"]["spearman"] > 0.5, corr["grad_norm"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"batch_size": True}, "batch_size must be a positive integer, got True"),
        ({"num_inits": -1}, "num_inits must be a positive integer, got -1"),
        ({"resolution": 3}, "resolution must be an integer in 8..1024, got 3"),
        ({"resolution": 10**6}, "resolution must be an integer in 8..1024"),
        ({"inputs": "images"}, "inputs must be one of"),
        ({"stats_method": "jit"}, "stats_method must be one of"),
    ],
)
def test_bad_settings_get_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Settings(**kwargs)


@pytest.mark.slow
def test_score_cli_batch_size_zero_is_one_clear_line():
    proc = _run_score("--proxies=snip", "--batch_size=0", "--num_archs=2")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: batch_size must be a positive integer, got 0."
    )
