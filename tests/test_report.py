"""Reports: the markdown numbers are ``metrics.correlations`` of the CSV, the pictures are PNGs,
a search folder's fitness plot reads the fields ``search`` writes, errors are one line."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import math
import re
import subprocess
import sys
import types
from pathlib import Path

import jax
import numpy as np
import pytest

from zcjax import metrics, report, scorefile
from zcjax.gp import checkpoint, generation, heldout, search
from zcjax.gp.config import SearchConfig
from zcjax.gp.fitness import INVALID
from zcjax.gp.tasks import TaskData

REPO = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"
SETTINGS = {"space": "nb201", "dataset": "cifar10", "target": "cifar10_valid", "seed": 0}
NOTES = ["inputs: cifar10 images, 32x32, batch 64"]
N = 30


def write_csv(path: Path, with_target: bool = True) -> Path:
    """A scores CSV of N archs: ``twice`` = 2 * target, ``synflow`` spans 1e2..1e40, ``signed``
    spans decades with both signs, ``broken`` has a NaN and an inf; arch 3 has no target."""
    rng = np.random.default_rng(0)
    target = np.linspace(60.0, 94.0, N) + rng.normal(0, 0.5, N)
    scores = {
        "twice": 2 * target,
        "synflow": 10.0 ** np.linspace(2, 40, N)[np.argsort(rng.permutation(N))],
        "signed": np.concatenate([-(10.0 ** np.arange(5)), 10.0 ** np.linspace(-2, 6, N - 5)]),
        "broken": target + rng.normal(0, 5, N),
    }
    scores["broken"][[4, 7]] = [np.nan, np.inf]
    text = scorefile.header(SETTINGS if with_target else SETTINGS | {"target": None}, NOTES)
    for i in range(N):
        tgt = None if i == 3 or not with_target else float(target[i])
        row = {p: float(s[i]) for p, s in scores.items()}
        text += scorefile.arch_rows(i, f"arch{i}", row, dict.fromkeys(row, 0.0), tgt)
    path.write_text(text)
    return path


def parse_markdown(text: str) -> list[dict[str, str]]:
    """The rows of the first markdown table in ``text`` as dicts of cell texts."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in ln.strip("|").split(" | ")))) for ln in lines[2:]]


def assert_png(path: Path):
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 5000, path


def test_csv_report_numbers_are_the_metrics_of_the_csv(tmp_path):
    csv = write_csv(tmp_path / "scores.csv")
    files = report.csv_report(csv, tmp_path / "out")
    proxies = ("twice", "synflow", "signed", "broken")
    assert [f.name for f in files] == ["table.md"] + [f"scatter_{p}.png" for p in proxies]
    for f in files[1:]:
        assert_png(f)
    text = files[0].read_text()
    assert text.startswith("# Correlation with cifar10_valid")
    assert "space: nb201, dataset: cifar10, 30 archs" in text and f"- {NOTES[0]}" in text
    sf = scorefile.read(csv)
    rows = parse_markdown(text)
    assert [r["proxy"] for r in rows] == list(proxies)
    for row in rows:
        want = metrics.correlations(sf.scores[row["proxy"]], sf.target)
        for k in ("kendall_tau", "spearman", "pearson"):
            assert abs(float(row[k]) - want[k]) <= 5e-5, (row, k)
        assert int(row["n"]) == want["n"]
    by = {r["proxy"]: r for r in rows}
    assert by["twice"]["kendall_tau"] == by["twice"]["pearson"] == "1.0000"
    assert (by["broken"]["n"], by["broken"]["invalid"]) == ("27", "2")  # NaN, inf, no target
    assert (by["twice"]["n"], by["twice"]["invalid"]) == ("29", "0")


def test_score_axes_go_logarithmic_over_decades():
    assert report.axis_scale(np.array([1.0, 50.0, 900.0, np.nan])) == ("linear", 0.0)
    assert report.axis_scale(np.array([1e2, 1e40, np.inf])) == ("log", 0.0)
    assert report.axis_scale(np.array([0.0, 1e2, 1e40])) == ("log", 0.0)  # zeros: left edge
    scale, linthresh = report.axis_scale(np.array([-1e4, 0.0, 1e-2, 1.0, 1e6]))
    assert scale == "symlog" and 1e-2 <= linthresh <= 1.0
    assert report.axis_scale(np.array([np.nan, 0.0])) == ("linear", 0.0)
    assert report.file_stem("mean(relu_in_grad@data)") == "mean_relu_in_grad_data"


def test_csv_without_target_gets_histograms_and_ranges(tmp_path):
    csv = write_csv(tmp_path / "scores.csv", with_target=False)
    files = report.csv_report(csv, tmp_path / "out")
    assert [f.name for f in files][:2] == ["table.md", "hist_twice.png"]
    for f in files[1:]:
        assert_png(f)
    text = files[0].read_text()
    assert "no target values" in text and "kendall_tau" not in text
    rows = {r["proxy"]: r for r in parse_markdown(text)}
    broken = scorefile.read(csv).scores["broken"]
    assert rows["broken"]["n"] == "28" and rows["broken"]["invalid"] == "2"
    assert float(rows["broken"]["max"]) == pytest.approx(
        np.nanmax(broken[np.isfinite(broken)]), abs=1e-4
    )
    assert rows["synflow"]["max"] == "1.0000e+40"
    with pytest.raises(ValueError, match="no target"):
        report.correlation_table(scorefile.read(csv))


# ----------------------------------------------------------------------------- search folder


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A search folder written by the real ``search.run`` / ``run_generation`` / ``save`` with
    statistics and fitness stubbed (no data, seconds), plus ``heldout.json`` as evolve.py
    writes it: the report reads exactly the fields the search writes."""
    mp = pytest.MonkeyPatch()
    config = dataclasses.replace(
        SearchConfig(),
        population=4,
        generations=3,
        offspring=5,
        survivors=2,
        archs_per_task=3,
        screen_archs=1,
        init_heights=(1, 2),
        mut_heights=(0, 1),
        max_height=3,
        promote_archs=0,
        validation_archs=0,
    )
    truth = types.SimpleNamespace(column=lambda name, archs: np.asarray(archs, float))
    tasks = [TaskData(t, None, truth, "acc", tuple(range(10)), ()) for t in config.tasks]
    calls = []

    def offspring(config, keys, parents, screen, dependence=None):
        children = [parents[i % len(parents)] for i in range(config.offspring)]
        return children, 0, 3 + len(calls), 2

    def fitness(config, key, programs, tasks, archs, settings=None):
        calls.append(1)
        values = np.linspace(-0.5, 0.1 * len(calls), len(programs))
        values[0] = INVALID
        scores = [np.add.outer(values, np.asarray(a, float)) for a in archs]
        return np.tile(values[:, None], (1, len(tasks))), values, scores, None

    mp.setattr(search, "load_tasks", lambda config: tasks)
    mp.setattr(generation, "arch_stats", lambda *args, **kwargs: None)
    mp.setattr(generation, "StackedStats", types.SimpleNamespace(of=lambda st, k: None))
    mp.setattr(generation, "make_offspring", offspring)
    mp.setattr(generation, "task_fitness", fitness)
    path = tmp_path_factory.mktemp("run")
    try:
        search.run(config, str(path))
    finally:
        mp.undo()
    nan = math.nan
    rows = [
        heldout.Row(t, name, prog, tau, tau + 0.1, (tau - 0.2, tau + 0.1), (nan, nan), 24, fit, val)
        for t in ("nb201:cifar10", "nb201:cifar100")
        for name, prog, tau, fit, val in [
            ("evolved_1", "mean(relu_in_grad@data)", 0.61234, 0.4, 0.55),
            (
                "eznas_a",
                "frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))",
                0.5,
                None,
                None,
            ),
            ("synflow", "", 0.58, None, None),
            ("params", "", nan, None, None),
        ]
    ]
    heldout.save(path / checkpoint.HELDOUT, rows, config.settings, test_inits=1)
    return path


def test_workdir_report_plots_the_history_the_search_wrote(workdir, tmp_path):
    config, history = report.load_search(workdir)
    assert [r["generation"] for r in history] == [0, 1, 2]
    lines = (workdir / checkpoint.HISTORY).read_text().splitlines()
    assert [json.loads(ln) for ln in lines] == history
    curves = report.fitness_curves(history)
    for field in ("best_fitness", "median_fitness", "invalid", "rejected_by_screen"):
        np.testing.assert_array_equal(curves[field], [r[field] for r in history])
    np.testing.assert_array_equal(curves["rejected_by_screen"], [3, 4, 5])
    assert curves["best_so_far"].tolist() == np.maximum.accumulate(curves["best_fitness"]).tolist()
    for field in ("best_fitness_se", "validation_fitness"):  # NaN where a record has none
        want = [np.nan if r.get(field) is None else r[field] for r in history]
        np.testing.assert_array_equal(curves[field], want)
    assert report.fitness_label(config) == "fitness (min tau over tasks)"

    files = report.workdir_report(workdir, tmp_path / "out")
    assert [f.name for f in files] == ["fitness.png", "history.md", "heldout.md"]
    assert_png(files[0])
    table = parse_markdown(files[1].read_text())
    assert [int(r["gen"]) for r in table] == [0, 1, 2]
    for got, r in zip(table, history):
        assert got["best"].startswith(f"{r['best_fitness']:+.3f}")
        assert got["best program"] == f"`{r['best_program']}`"
        assert got["wall s"] == f"{r['wall_time_s']:.0f}"
    text = files[2].read_text()
    want = json.loads((workdir / checkpoint.HELDOUT).read_text())["rows"]
    for task in ("nb201:cifar10", "nb201:cifar100"):
        section = text.split(f"## {task}")[1]
        got = parse_markdown(section)
        rows = [r for r in want if r["task"] == task]
        assert [g["proxy"].removesuffix(" *") for g in got] == [r["name"] for r in rows]
        assert [g["proxy"] for g in got if g["proxy"].endswith("*")] == ["synflow *"]
        for g, r in zip(got, rows):
            tau = r["kendall_tau"]
            assert g["tau"] == ("nan" if tau is None else f"{tau:.4f}")
            assert g["tau 95% CI"] == "[{:.4f}, {:.4f}]".format(
                *(x or math.nan for x in r["tau_ci"])
            )
            assert g["rho 95% CI"] == "[nan, nan]" and g["n"] == "24"
            assert g["fitness"] == (
                "" if r["search_fitness"] is None else f"{r['search_fitness']:.4f}"
            )
    assert "- evolved_1: `mean(relu_in_grad@data)`" in text and "- EZNAS-A: `frobenius" in text


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def cli():
    spec = importlib.util.spec_from_file_location("report_cli", REPO / "experiments" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_main(cli, *args):
    cli.FLAGS.unparse_flags()
    cli.FLAGS(["report.py", *args])
    try:
        cli.main([])
    finally:
        cli.FLAGS.unparse_flags()


def test_cli_errors_are_one_line(cli, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("index,arch,proxy,score,score_std\n1,a,params,1.0,0.0\n")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / checkpoint.CHECKPOINT).write_text('{"format": 1, "state": ')
    cases = [
        ((), "error: give --csv"),
        ((f"--csv={tmp_path / 'missing.csv'}",), "error: cannot read scores CSV"),
        ((f"--csv={other}",), "error: .*is not a zcjax scores CSV"),
        ((f"--workdir={tmp_path}",), "error: .*has no checkpoint.json or history.jsonl"),
        ((f"--workdir={damaged}",), "error: .*checkpoint.json is damaged: not valid JSON"),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit, match=message):
            run_main(cli, *args)


def test_without_matplotlib_the_error_says_how_to_get_it(cli, tmp_path, monkeypatch):
    csv = write_csv(tmp_path / "scores.csv")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails
    with pytest.raises(ImportError, match=re.escape(report.PLOT_HINT)):
        report.csv_report(csv, tmp_path / "out")
    with pytest.raises(SystemExit, match=re.escape(f"error: {report.PLOT_HINT}")):
        run_main(cli, f"--csv={csv}")


def test_one_gzipped_csv_compares_with_cis(cli, tmp_path):
    """``--compare`` gives one CSV (here gzipped, as whole-space CSVs are kept) the comparison
    table with CIs; its rho is the plain CSV's."""
    csv = write_csv(tmp_path / "scores.csv")
    packed = tmp_path / "scores.csv.gz"
    packed.write_bytes(gzip.compress(csv.read_bytes()))
    run_main(cli, f"--csv={packed}", "--compare", f"--out_dir={tmp_path / 'cmp'}")
    rows = {r["proxy"]: r for r in parse_markdown((tmp_path / "cmp" / "comparison.md").read_text())}
    sf = scorefile.read(csv)
    want = metrics.correlations(sf.scores["synflow"], sf.target)["spearman"]
    assert abs(float(rows["synflow"]["spearman"]) - want) <= 5e-4
    assert_png(tmp_path / "cmp" / "comparison.png")


@pytest.mark.slow
def test_cli_writes_next_to_its_inputs(tmp_path, workdir):
    csv = write_csv(tmp_path / "scores.csv")
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "report.py"),
            f"--csv={csv}",
            f"--workdir={workdir}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| twice | 1.0000 |" in proc.stdout and "## nb201:cifar100" in proc.stdout
    assert f"wrote {tmp_path / 'scores_report' / 'scatter_synflow.png'}" in proc.stdout
    assert f"wrote {workdir / 'report' / 'fitness.png'}" in proc.stdout
    assert_png(tmp_path / "scores_report" / "scatter_signed.png")


def test_fitness_plot_shows_se_and_validation_where_recorded(tmp_path):
    base = {"median_fitness": 0.0, "invalid": 1, "rejected_by_screen": 1}
    history = [
        {**base, "generation": 0, "best_fitness": 0.4, "best_fitness_se": 0.05,
         "validation_fitness": 0.38, "invalid_in_evaluation": 0},
        {**base, "generation": 1, "best_fitness": 0.5, "best_fitness_se": None,
         "validation_fitness": None, "invalid_in_evaluation": 0},
    ]  # fmt: skip
    curves = report.fitness_curves(history)
    np.testing.assert_array_equal(curves["best_fitness_se"], [0.05, np.nan])
    np.testing.assert_array_equal(curves["validation_fitness"], [0.38, np.nan])
    report.plot_fitness(tmp_path / "f.png", history)
    assert_png(tmp_path / "f.png")


def test_comparison_of_several_csvs_uses_their_common_archs(tmp_path):
    """Two CSVs (different settings, one missing an arch): every proxy's tau and rho are
    ``metrics.correlations`` on the archs both scored, CIs hold the estimate, best rho first."""
    a = write_csv(tmp_path / "a.csv")
    sf = scorefile.read(a)
    b_text = scorefile.header(SETTINGS | {"settings": {"inputs": "noise", "batch_size": 64}}, [])
    rng = np.random.default_rng(1)
    noisy = np.nan_to_num(sf.target, nan=70.0) + rng.normal(0, 8, N)
    for i in range(N - 1):  # arch N-1 is not scored here
        tgt = None if i == 3 else float(sf.target[i])
        b_text += scorefile.arch_rows(i, f"arch{i}", {"noisy": noisy[i]}, {"noisy": 0.0}, tgt)
    b = tmp_path / "b.csv"
    b.write_text(b_text)
    files = report.comparison_report(jax.random.key(0), [a, b], tmp_path / "cmp", 200)
    assert [f.name for f in files] == ["comparison.md", "comparison.png"]
    assert_png(files[1])
    text = files[0].read_text()
    assert "28 architectures scored in every file" in text  # arch 3: no target; arch 29: not in b
    rows = parse_markdown(text)
    assert {r["proxy"] for r in rows} == {"twice", "synflow", "signed", "broken", "noisy"}
    keep = np.array([i not in (3, N - 1) for i in range(N)])
    rhos = [float(r["spearman"]) for r in rows]
    assert rhos == sorted(rhos, reverse=True)
    for r in rows:
        scores = noisy if r["proxy"] == "noisy" else sf.scores[r["proxy"]]
        want = metrics.correlations(scores[keep], sf.target[keep])
        assert abs(float(r["spearman"]) - want["spearman"]) <= 5e-4, r
        assert abs(float(r["kendall_tau"]) - want["kendall_tau"]) <= 5e-4, r
        lo, hi = (float(v) for v in r["rho_ci"].strip("[]").split(","))
        assert lo <= want["spearman"] + 1e-3 and want["spearman"] - 1e-3 <= hi, r
    by = {r["proxy"]: r for r in rows}
    assert by["noisy"]["run"] == "noise, batch 64, ? init" and "broken" in by
    other = tmp_path / "c.csv"
    other.write_text(scorefile.header(SETTINGS | {"dataset": "cifar100"}, []))
    with pytest.raises(ValueError, match="cannot compare scores of dataset 'cifar10' and"):
        report.comparison_report(jax.random.key(0), [a, other], tmp_path / "bad")


def test_comparison_adds_rank_ensembles_over_the_compared_archs(tmp_path):
    """``ensembles``: the sum of log-ranks, computed on the architectures both files scored,
    of members from either file; checked against scipy's ranks by hand."""
    from scipy.stats import rankdata

    a = write_csv(tmp_path / "a.csv")
    sf = scorefile.read(a)
    rng = np.random.default_rng(2)
    noisy = np.nan_to_num(sf.target, nan=70.0) + rng.normal(0, 8, N)
    text = scorefile.header(SETTINGS | {"settings": {"inputs": "noise"}}, [])
    for i in range(N - 1):  # arch N-1 is not scored here
        tgt = None if i == 3 else float(sf.target[i])
        text += scorefile.arch_rows(i, f"arch{i}", {"noisy": noisy[i]}, {"noisy": 0.0}, tgt)
    b = tmp_path / "b.csv"
    b.write_text(text)
    files = [sf, scorefile.read(b)]
    rows, n = report.comparison_table(jax.random.key(0), files, 50, ["synflow+noisy"])
    keep = np.array([i not in (3, N - 1) for i in range(N)])
    assert n == keep.sum() == 28
    want = np.log(rankdata(sf.scores["synflow"][keep]) / n) + np.log(rankdata(noisy[keep]) / n)
    expected = metrics.correlations(want, sf.target[keep])
    (row,) = [r for r in rows if r["proxy"] == "synflow+noisy"]
    assert row["spearman"] == pytest.approx(expected["spearman"], abs=1e-12)
    assert row["kendall_tau"] == pytest.approx(expected["kendall_tau"], abs=1e-12)
    assert row["run"] == "sum of log-ranks over these 28 archs" and row["n"] == 28
    with pytest.raises(ValueError, match="'synflow\\+nope': no CSV holds proxy 'nope'"):
        report.comparison_table(jax.random.key(0), files, 50, ["synflow+nope"])
    with pytest.raises(ValueError, match="must join two or more proxies"):
        report.comparison_table(jax.random.key(0), files, 50, ["synflow"])


def test_ensembles_flag_implies_a_comparison_of_one_csv(cli, tmp_path, capsys):
    csv = write_csv(tmp_path / "a.csv")
    run_main(cli, f"--csv={csv}", "--ensembles=twice+synflow", f"--out_dir={tmp_path}/e")
    rows = parse_markdown((tmp_path / "e" / "comparison.md").read_text())
    assert "twice+synflow" in [r["proxy"] for r in rows]
    with pytest.raises(SystemExit, match="error: Ensemble 'twice\\+nope': no CSV holds"):
        run_main(cli, f"--csv={csv}", "--ensembles=twice+nope", f"--out_dir={tmp_path}/f")


def test_comparison_lists_a_proxy_two_files_share_once(tmp_path):
    """The same proxy with the same settings and scores in two CSVs (an ensemble's member
    written by both) is one row; the same name with other scores or settings stays."""
    a = write_csv(tmp_path / "a.csv")
    sf = scorefile.read(a)
    changed = SETTINGS | {"settings": {"inputs": "noise", "batch_size": 64}}

    def copy(path, settings, shift):
        text = scorefile.header(settings, [])
        for i in range(N):
            tgt = None if not np.isfinite(sf.target[i]) else float(sf.target[i])
            scores = {
                "synflow": sf.scores["synflow"][i],
                "signed": sf.scores["signed"][i] + np.broadcast_to(shift, (N,))[i],
            }
            text += scorefile.arch_rows(i, f"arch{i}", scores, {k: 0.0 for k in scores}, tgt)
        path.write_text(text)
        return path

    b = copy(tmp_path / "b.csv", sf.settings, 0.0)  # a's settings, a's scores
    rows = report.comparison_table(jax.random.key(0), [sf, scorefile.read(b)], 50)[0]
    names = [r["proxy"] for r in rows]
    assert names.count("synflow") == 1 and names.count("signed") == 1
    c = copy(tmp_path / "c.csv", sf.settings, 1e-3 * np.arange(N))  # other scores
    d = copy(tmp_path / "d.csv", changed, 0.0)  # other settings
    files = [sf, scorefile.read(c), scorefile.read(d)]
    rows = report.comparison_table(jax.random.key(0), files, 50)[0]
    names = [r["proxy"] for r in rows]
    assert names.count("signed") == 3 and names.count("synflow") == 2


def test_target_judges_scores_against_another_benchmark_column(cli, tmp_path, data_dir):
    """``--target=cifar10_test`` replaces the CSV's cifar10_valid by the benchmark's
    cifar10_test of each arch (looked up by text): the comparison's rho is the rho against the
    table's column, which differs from the CSV's own; an unknown column is one error line."""
    from zcjax.data import load_nb201_table

    table = load_nb201_table(data_dir)
    rows = np.arange(0, 15625, 521)[:N]  # 30 real NB201 archs
    valid, test = table["cifar10_valid"][rows], table["cifar10_test"][rows]
    score = np.random.default_rng(0).normal(0, 3, N) + test  # ranks closer to test than valid
    text = scorefile.header(SETTINGS, NOTES)
    for i, r in enumerate(rows):
        text += scorefile.arch_rows(
            int(table["index"][r]), str(table["arch"][r]), {"s": score[i]}, {"s": 0.0}, valid[i]
        )
    csv = tmp_path / "scores.csv"
    csv.write_text(text)
    run_main(cli, f"--csv={csv}", "--compare", "--target=cifar10_test", f"--out_dir={tmp_path}/t")
    md = (tmp_path / "t" / "comparison.md").read_text()
    assert md.startswith("# Correlation with cifar10_test")
    got = float(parse_markdown(md)[0]["spearman"])
    want, own = (metrics.correlations(score, t)["spearman"] for t in (test, valid))
    assert abs(got - want) <= 5e-4 and abs(want - own) > 5e-3
    sf = report.retarget(scorefile.read(csv), "cifar10_test", data_dir)
    np.testing.assert_array_equal(sf.target, test)
    assert sf.target_name == "cifar10_test" and sf.scores["s"] is not None
    with pytest.raises(SystemExit, match="unknown target column 'cifar10_tset'; columns are"):
        run_main(cli, f"--csv={csv}", "--target=cifar10_tset", f"--out_dir={tmp_path}/u")
