"""The search loop: fitness is a plain Kendall tau, runs resume exactly, bad settings are named."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import scipy.stats

from zcjax import stats
from zcjax.gp import INVALID, checkpoint, search, structural
from zcjax.gp import evaluate as gp_evaluate
from zcjax.gp import fitness as fit
from zcjax.gp.config import ABLATION_ARMS, CONFIGS, SearchConfig, ablation_arm, get_config
from zcjax.gp.evaluate import StackedStats, score_programs
from zcjax.gp.generation import (
    SIZE,
    GenerationKeys,
    Scored,
    dependence_runs,
    make_offspring,
    screen_ok,
    select,
    size_like,
)
from zcjax.gp.heldout import best_programs, final_programs, validation_key
from zcjax.gp.state import SearchState, initial_state
from zcjax.gp.tasks import GENERAL_TASKS, Task, load_tasks, sample_task_archs, split_archs
from zcjax.program import parse
from zcjax.program.network import members
from zcjax.proxies import ProgramProxy
from zcjax.recipe import arch_stats, score_archs
from zcjax.settings import Settings
from zcjax.spaces import get_space

TINY = SearchConfig(
    population=6,
    generations=2,
    offspring=6,
    survivors=3,
    archs_per_task=4,
    promote_archs=0,  # EZNAS's selection on the M architectures
    validation_archs=0,
    screen_archs=2,
    test_archs=50,
    settings=Settings(num_inits=1, batch_size=2, normalization="eznas"),
)
# Promotion, validation and an immigrant on, on one task (so a generation stays short).
PROMOTED = dataclasses.replace(
    TINY,
    tasks=(Task("nb201", "cifar10"),),
    population=4,
    offspring=4,
    survivors=2,
    immigrants=1,
    promote_fraction=0.5,
    promote_archs=8,
    validation_archs=6,
)


def without_times(history):
    return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in history]


def test_split_is_disjoint_seeded_and_complete():
    pool = list(range(100))
    search_a, test_a = split_archs(jax.random.key(0), pool, 30)
    assert len(test_a) == 30 and len(search_a) == 70
    assert not set(search_a) & set(test_a) and set(search_a) | set(test_a) == set(pool)
    assert split_archs(jax.random.key(0), pool, 30) == (search_a, test_a)
    assert split_archs(jax.random.key(1), pool, 30)[1] != test_a
    with pytest.raises(ValueError, match="leaves no search split"):
        split_archs(jax.random.key(0), pool, 100)


@pytest.mark.slow
def test_fitness_equals_a_direct_kendall_tau(data_dir):
    config = dataclasses.replace(TINY, archs_per_task=6)
    tasks = load_tasks(config)
    keys = GenerationKeys.of(config, 0)
    archs = sample_task_archs(keys.archs, tasks, 6)
    for td, task_archs in zip(tasks, archs):
        assert set(task_archs) <= set(td.search) and not set(task_archs) & set(td.test)
    programs = [
        parse("frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))"),
        parse("mean_abs(mul(weight, weight_grad@noise))"),
        parse("cosine_similarity(conv_in_grad@noise, relu_in@perturbed)"),
    ]
    taus = np.empty((len(programs), len(tasks)))
    direct = np.empty((len(programs), len(tasks)))
    for t, (td, task_archs) in enumerate(zip(tasks, archs)):
        got = score_programs(
            keys.stats, programs, td.space, task_archs, td.task.dataset, config.settings, 4
        )
        taus[:, t] = fit.kendall_tau_rows(got, td.target(task_archs))
        # score.py's path: one compiled function per program, statistics per arch.
        proxies = [ProgramProxy(f"p{i}", p) for i, p in enumerate(programs)]
        means, _ = score_archs(
            keys.stats, td.space, task_archs, proxies, td.task.dataset, config.settings
        )
        target = td.target(task_archs)
        for i in range(len(programs)):
            np.testing.assert_allclose(got[i], means[f"p{i}"], rtol=2e-5)
            direct[i, t] = scipy.stats.kendalltau(means[f"p{i}"], target)[0]
    np.testing.assert_allclose(taus, direct, atol=1e-12)
    fitness = fit.fitness_from_taus(taus, "signed", "min")
    np.testing.assert_allclose(fitness, direct.min(axis=1), atol=1e-12)
    absolute = fit.fitness_from_taus(taus, "absolute", "mean")
    np.testing.assert_allclose(absolute, np.abs(direct).mean(axis=1), atol=1e-12)


def test_invalid_programs_get_the_worst_fitness(data_dir):
    tasks = load_tasks(TINY)
    td = tasks[0]
    archs = list(td.search[:4])
    programs = [parse("invert(zeros_like(relu_in@data))"), parse("ones_like(relu_in@data)")]
    scores = score_programs(jax.random.key(0), programs, td.space, archs, "cifar10", TINY.settings)
    taus = fit.kendall_tau_rows(scores, td.target(archs))
    assert np.isnan(scores[0]).all()  # inf: NaN scores
    assert (scores[1] == 1.0).all() and np.isnan(taus).all()  # constant: tau undefined
    assert fit.fitness_from_taus(taus[:, None]).tolist() == [INVALID, INVALID]


@pytest.fixture(scope="module")
def screen():
    space = get_space("nb201")
    settings = Settings(num_inits=1, batch_size=2, inputs="noise")
    archs = [
        space.parse(
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|nor_conv_3x3~1|none~2|"
        ),
        space.parse(
            "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
        ),
    ]
    st = [
        arch_stats(jax.random.key(0), space, a, "cifar10", stats.TERMINALS, settings) for a in archs
    ]
    return StackedStats.of(st, 1)


@pytest.mark.slow
def test_children_are_screened_for_validity(screen):
    bad = parse("invert(zeros_like(relu_in@data))")  # inf on every arch
    constant = parse("ones_like(relu_in@data)")  # the same on every arch
    good = parse("mean(relu_in_grad@data)")
    config = dataclasses.replace(TINY, offspring=12, cx_prob=0.0, mut_prob=0.0)
    keys = GenerationKeys.of(config, 0)
    children, immigrants, rejected, rounds = make_offspring(
        config, keys, [bad, constant, good], [screen]
    )
    assert children == [good] * 12 and immigrants == 0
    assert rejected > 0 and rounds >= 2
    ok = screen_ok(screen.scores([bad, constant, good]))
    assert ok.tolist() == [False, False, True]


@pytest.mark.slow
def test_structural_children_are_rejected_when_asked(screen, data_dir):
    structural_ = parse("net_abslog(net_sum(mean(numel(bn_out@data))))")  # sizes only
    ensemble = parse(
        "ensemble2(net_mean(frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))), "
        "net_neg(log_params))"
    )  # data-dependent through its first member
    config = dataclasses.replace(
        TINY, offspring=8, cx_prob=0.0, mut_prob=0.0, root_kinds=("N", "E"), trees=2
    )
    keys = GenerationKeys.of(config, 0)
    space = get_space("nb201")
    archs = [
        space.parse(a)
        for a in (
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|nor_conv_3x3~1|none~2|",
            "|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|",
        )
    ]
    runs = structural.check_runs(jax.random.key(2), space, archs, "cifar10", config.settings)
    assert structural.dependent_in(runs, [structural_, ensemble]).tolist() == [False, True]
    parents = [structural_, ensemble]
    kept, _, rejected, _ = make_offspring(config, keys, parents, [screen], runs)
    assert kept == [ensemble] * 8 and rejected > 0
    free, _, none_rejected, _ = make_offspring(config, keys, parents, [screen])
    assert set(free) == set(parents) and none_rejected == 0
    # An init-only program (a size plus the smallest initial weight) passes the default check;
    # dependence_on="inputs" also asks for a change between data and noise, which it lacks.
    init_only = parse("net_add(net_min(weight), log_params)")
    assert structural.dependent_in(runs, [init_only]).tolist() == [True]
    assert structural.dependent_in(runs, [init_only, ensemble], "inputs").tolist() == [False, True]
    strict = dataclasses.replace(config, dependence_on="inputs")
    kept, _, rejected, _ = make_offspring(strict, keys, [init_only, ensemble], [screen], runs)
    assert kept == [ensemble] * 8 and rejected > 0


def test_selection_elites_and_dedupe():
    progs = [parse(t) for t in ("mean(weight)", "mean(relu_in@data)", "mean(bn_out@data)")]
    children = [progs[0], progs[1], progs[2], progs[1]]
    fitness = np.array([0.1, 0.5, 0.5, 0.5])
    config = dataclasses.replace(TINY, survivors=4, tournament=4, elites=2, dedupe="program")
    chosen = select(config, jax.random.key(0), children, fitness)
    assert chosen[:2] == (progs[1], progs[2])  # elites: best distinct, stable order
    assert len(set(chosen)) == len(chosen)
    by_fitness = dataclasses.replace(config, dedupe="fitness")
    chosen = select(by_fitness, jax.random.key(0), children, fitness)
    assert chosen == (progs[1],)  # all winners share fitness 0.5: one survives (EZNAS)


def test_lexicase_selection_keeps_a_specialist_that_tournaments_drop():
    texts = ("mean(weight)", "mean(relu_in@data)", "mean(bn_out@data)", "mean(conv_in@data)")
    progs = [parse(t) for t in texts + ("mean(relu_in_grad@data)", "mean(bn_out@noise)")]
    # Per-task values: two specialists, the best minimum, three poor programs (which keep
    # each task's median absolute deviation, lexicase's epsilon, at .25).
    values = np.array([[0.9, -0.5], [-0.5, 0.9], [0.3, 0.3]] + [[-1.0, -1.0]] * 3)
    fitness = values.min(axis=1)
    config = dataclasses.replace(TINY, survivors=2, elites=1, dedupe="program")
    assert select(config, jax.random.key(0), progs, fitness)[0] == progs[2]  # the elite
    lexicase = dataclasses.replace(config, selection="lexicase")
    chosen = select(lexicase, jax.random.key(0), progs, fitness, values=values)
    assert chosen[0] == progs[2] and chosen[1] in progs[:2]  # elite, then a specialist
    # A program invalid by its fitness (e.g. size-like) never wins, whatever its taus.
    invalid = np.concatenate([[INVALID], fitness[1:]])
    kept = dataclasses.replace(lexicase, elites=0, survivors=3)
    assert progs[0] not in select(kept, jax.random.key(1), progs, invalid, values=values)
    with pytest.raises(ValueError, match="per-task values"):
        select(lexicase, jax.random.key(0), progs, fitness)


@pytest.mark.slow
def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path, data_dir, monkeypatch):
    whole = search.run(TINY, str(tmp_path / "a"))
    assert whole.generation == 2 and len(whole.history) == 2
    lines = (tmp_path / "a" / checkpoint.HISTORY).read_text().splitlines()
    assert [json.loads(x)["generation"] for x in lines] == [0, 1]

    b = str(tmp_path / "b")
    real = score_programs
    calls = []

    def dies_midway(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # generation 1, second task: killed mid-evaluation
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(gp_evaluate, "score_programs", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        search.run(TINY, b)
    monkeypatch.undo()
    assert checkpoint.resume(b, TINY).generation == 1
    resumed = search.run(TINY, b)
    assert resumed.population == whole.population
    assert resumed.archive == whole.archive
    assert without_times(resumed.history) == without_times(whole.history)
    assert best_programs(resumed, 3) == best_programs(whole, 3)
    assert (Path(b) / checkpoint.HISTORY).read_text().count("\n") == 2


@pytest.mark.slow
def test_resume_with_promotion_equals_an_uninterrupted_run(tmp_path, data_dir, monkeypatch):
    whole = search.run(PROMOTED, str(tmp_path / "a"))
    assert all(r["promoted"] > 0 and r["immigrants"] == 1 for r in whole.history)
    assert all(r["validation_fitness"] is not None for r in whole.history)
    assert set(whole.validation) == {r["best_program"] for r in whole.history}

    b = str(tmp_path / "b")
    real = score_programs
    calls = []

    def dies_midway(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:  # generation 0: children, promoted, validation; 1: children, ...
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(gp_evaluate, "score_programs", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        search.run(PROMOTED, b)
    monkeypatch.undo()
    assert checkpoint.resume(b, PROMOTED).generation == 1
    resumed = search.run(PROMOTED, b)
    assert resumed.population == whole.population
    assert resumed.archive == whole.archive
    assert resumed.validation == whole.validation
    assert without_times(resumed.history) == without_times(whole.history)


@pytest.mark.slow
def test_a_search_that_requires_data_dependence_selects_no_structural_program(data_dir):
    config = dataclasses.replace(
        PROMOTED,
        generations=1,
        require_data_dependence=True,
        root_kinds=("N", "E"),
        trees=2,
        seed_programs=("log_params", "net_mean(mean(relu_in_grad@data))"),
    )
    state = search.run(config)
    assert parse("log_params") not in state.population  # a seed, structural: not selected
    # The generation's own check (its screening architectures) passes every survivor.
    tasks, keys = load_tasks(config), GenerationKeys.of(config, 0)
    archs = sample_task_archs(keys.archs, tasks, config.archs_per_task)
    runs = dependence_runs(config, keys.stats, tasks, archs)
    assert structural.dependent_in(runs, list(state.population)).all()
    assert dependence_runs(PROMOTED, keys.stats, tasks, archs) is None  # off by default


def test_size_like_asks_one_member_to_rank_unlike_size():
    flops, data = parse("log_flops"), parse("net_mean(mean(relu_in@data))")
    flat = parse("net_mean(mean(ones_like(relu_in@data)))")
    both_size = parse("ensemble2(log_flops, log_params)")
    mixed = parse("ensemble2(log_flops, net_mean(mean(relu_in@data)))")
    with_flat = parse("ensemble2(log_flops, net_mean(mean(ones_like(relu_in@data))))")
    programs = (SIZE, flops, data, flat, both_size, mixed, with_flat)
    first = np.array(
        [
            [1, 2, 3, 4, 5, 6],
            [1, 2, 3, 4, 6, 5],  # tau 13/15 = .867 with size
            [3, 1, 6, 2, 5, 4],  # concordant 9 of 15 pairs: tau .2
            [7, 7, 7, 7, 7, 7],  # constant: tau undefined
            [0, 0, 0, 0, 0, 0],  # the ensembles' own scores are not read
            [0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0],
        ],
        float,
    )
    assert scipy.stats.kendalltau(first[2], first[0])[0] == pytest.approx(0.2)
    second = np.zeros_like(first) + np.arange(6)[::-1]  # another task: not read
    scored = Scored(programs, [[], []], np.zeros((7, 2)), np.zeros(7), [first, second])
    config = dataclasses.replace(TINY, max_size_tau=0.8)
    got = size_like(config, scored, [flops, data, flat, both_size, mixed, with_flat, SIZE])
    assert got.tolist() == [True, False, True, True, False, True, True]
    # At a bound above .867, log_flops no longer counts as size, nor the ensemble it is in.
    loose = size_like(dataclasses.replace(TINY, max_size_tau=0.9), scored, [flops, both_size])
    assert loose.tolist() == [False, False]


@pytest.mark.slow
def test_a_search_with_max_size_tau_selects_nothing_that_ranks_like_size(data_dir):
    sizes = ("log_params", "log_flops", "ensemble2(log_params, log_flops)")
    config = dataclasses.replace(
        PROMOTED,
        generations=1,
        archs_per_task=6,
        max_size_tau=0.8,
        root_kinds=("N", "E"),
        trees=2,
        seed_programs=(*sizes, "net_mean(mean(relu_in_grad@data))"),
    )
    state = search.run(config)
    assert not {parse(t) for t in sizes} & set(state.population)
    assert state.history[0]["size_like"] > 0  # copies and mixes of the size seeds
    assert state.history[0]["invalid_in_evaluation"] >= state.history[0]["size_like"]
    free = search.run(dataclasses.replace(config, max_size_tau=1.0))
    assert free.history[0]["size_like"] == 0


def test_a_kill_while_writing_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.json"
    checkpoint.save_json(path, {"generation": 1})

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_json(path, {"generation": 2})
    monkeypatch.undo()
    assert checkpoint.load_json(path) == {"generation": 1}
    assert os.listdir(tmp_path) == ["checkpoint.json"]  # no temporary file left behind
    checkpoint.save_json(path, {"generation": 2, "fitness": 0.1 + 0.2})
    assert checkpoint.load_json(path)["fitness"] == 0.1 + 0.2  # floats round-trip exactly


def test_resume_refuses_other_settings(tmp_path):
    state = initial_state(TINY)
    checkpoint.save(tmp_path, TINY, state)
    assert checkpoint.resume(tmp_path, dataclasses.replace(TINY, generations=9)) == state
    with pytest.raises(ValueError, match="other settings.*population"):
        checkpoint.resume(tmp_path, dataclasses.replace(TINY, population=7))
    moved = dataclasses.replace(TINY.settings, data_dir="/elsewhere")
    assert checkpoint.resume(tmp_path, dataclasses.replace(TINY, settings=moved)) == state


def test_a_damaged_checkpoint_is_named_with_what_to_do(tmp_path):
    checkpoint.save(tmp_path, TINY, initial_state(TINY))
    path = tmp_path / checkpoint.CHECKPOINT
    text = path.read_text()
    doc = json.loads(text)

    def edited(part, **changes):
        return json.dumps({**doc, part: {**doc[part], **changes}})

    cases = [
        (text[: len(text) // 2], r"is damaged: not valid JSON \(.* line \d+ column \d+"),
        ("", "is damaged: not valid JSON"),
        ("[1, 2]", "is damaged: a JSON list, not an object"),
        (json.dumps({**doc, "format": 9}), "has checkpoint format 9; this code reads 1"),
        (json.dumps({"format": 1, "config": doc["config"]}), "bad 'state' .missing"),
        (edited("state", population=[5]), "bad 'state' .Expected program text"),
        (edited("state", history="gen 0"), "bad 'state' .history is not a list"),
        (edited("state", archive=[]), "bad 'state'"),
        (edited("config", tasks=5), "bad 'config'"),
        (edited("config", flavour="x"), "bad 'config' .*unexpected keyword argument 'flavour'"),
    ]
    for damaged, message in cases:
        path.write_text(damaged)
        with pytest.raises(checkpoint.CheckpointError, match=message) as caught:
            checkpoint.resume(tmp_path, TINY)
        error = str(caught.value)
        assert error.startswith(str(path)) and "\n" not in error, error
        assert error.endswith("delete it to start the search afresh, or use another workdir.")
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match="checkpoint.json is damaged: not valid JSON"):
        checkpoint.resume(tmp_path, TINY)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="survivors"):
        dataclasses.replace(TINY, survivors=99).validate()
    with pytest.raises(ValueError, match="no dataset 'svhn'"):
        dataclasses.replace(TINY, tasks=(Task("nb201", "svhn"),)).validate()
    with pytest.raises(ValueError, match="Unknown mutations"):
        dataclasses.replace(TINY, mutations=("flip",)).validate()
    with pytest.raises(ValueError, match="promote_archs"):
        dataclasses.replace(TINY, promote_archs=2).validate()
    with pytest.raises(ValueError, match="promote_fraction"):
        dataclasses.replace(TINY, promote_fraction=0.0).validate()
    with pytest.raises(ValueError, match="root_kinds"):
        dataclasses.replace(TINY, root_kinds=("X",)).validate()
    with pytest.raises(ValueError, match=r"trees must be in \[1, 6\]"):
        dataclasses.replace(TINY, trees=7).validate()
    with pytest.raises(ValueError, match="root kind E needs trees"):
        dataclasses.replace(TINY, root_kinds=("N", "E")).validate()
    with pytest.raises(ValueError, match="dependence_on not in"):
        dataclasses.replace(TINY, dependence_on="init").validate()
    with pytest.raises(ValueError, match="max_size_tau must be in"):
        dataclasses.replace(TINY, max_size_tau=1.5).validate()
    with pytest.raises(ValueError, match="selection not in"):
        dataclasses.replace(TINY, selection="roulette").validate()


def test_named_configs():
    assert get_config().search == SearchConfig()  # "default"
    eznas = get_config("eznas").search
    assert (eznas.promote_archs, eznas.validation_archs, eznas.dedupe) == (0, 0, "fitness")
    discover = get_config("discover")
    d = discover.search
    assert d.root_kinds == ("N", "E") and d.trees == 3 and d.immigrants == d.offspring // 2
    assert [str(t) for t in d.tasks] == GENERAL_TASKS.split(",")
    assert "az_nas" in discover.heldout.baselines and "zico" in discover.heldout.baselines
    seeded = get_config("discover_seeded").search
    assert dataclasses.replace(seeded, seed_programs=(), fill_survivors=False) == d
    assert seeded.fill_survivors and "log_params" in seeded.seed_programs
    assert any(p.startswith("ensemble2(net_mean(") for p in seeded.seed_programs)
    # discover_az on NB201 alone: the same search with NDS-DARTS dropped from the tasks.
    az, az_nb201 = get_config("discover_az").search, get_config("discover_az_nb201").search
    assert [str(t) for t in az_nb201.tasks] == GENERAL_TASKS.split(",")[:3]
    assert dataclasses.replace(az_nb201, tasks=az.tasks) == az
    bars, lexicase = get_config("discover_bars").search, get_config("discover_lexicase").search
    assert (lexicase.selection, lexicase.mutations) == ("lexicase", ("uniform", "members"))
    assert dataclasses.replace(lexicase, selection=bars.selection, mutations=bars.mutations) == bars
    weights = get_config("discover_weights").search
    assert (weights.trees, weights.mutations) == (6, ("uniform", "members", "weights"))
    assert weights.seed_programs[:-1] == lexicase.seed_programs
    assert [str(m) for m in members(parse(weights.seed_programs[-1]))][1:] == [
        "log_params",
        "swap@data",
        "az_trainability@noise",
    ]
    back = dict(trees=4, mutations=lexicase.mutations, seed_programs=lexicase.seed_programs)
    assert dataclasses.replace(weights, **back) == lexicase
    tuned = get_config("discover_tuned").search
    assert tuned.tune_weights == 5 and dataclasses.replace(tuned, tune_weights=0) == weights
    aligned = get_config("discover_aligned").search
    assert aligned.align and aligned.mutations == tuned.mutations + ("align",)
    assert aligned.measured_terminals == tuned.measured_terminals + ("meco@data",)
    assert aligned.seed_programs[:-2] == tuned.seed_programs
    assert not any("net_aligned" in t for t in aligned.seed_programs)  # the search aligns
    assert aligned.tune_weights == 100  # every promoted ensemble is climbed
    back = dict(
        align=False,
        tune_weights=tuned.tune_weights,
        mutations=tuned.mutations,
        measured_terminals=tuned.measured_terminals,
        seed_programs=tuned.seed_programs,
    )
    assert dataclasses.replace(aligned, **back) == tuned
    for name in CONFIGS:
        get_config(name).search.validate()
    # The ablation: every arm is ``ablate`` with exactly its own fields switched, and valid.
    ablate = get_config("ablate").search
    assert [str(t) for t in ablate.tasks] == ["nb201:cifar10", "nds_darts_in:imagenet@32"]
    assert get_config("ablate").heldout.top_k == 0  # arms compared on validation, not test
    for arm, fields in ABLATION_ARMS.items():
        switched = ablation_arm(arm).search
        switched.validate()
        assert dataclasses.replace(switched, **{k: getattr(ablate, k) for k in fields}) == ablate
        assert all(getattr(switched, k) != getattr(ablate, k) for k in fields), arm
    assert ablation_arm("seeded").search.seed_programs == seeded.seed_programs
    with pytest.raises(ValueError, match="Unknown ablation arm 'bogus'; known: all_levers"):
        ablation_arm("bogus")
    # A checkpoint written before ``trees`` existed reads back as a one-tree search.
    old = SearchConfig().to_json()
    del old["trees"], old["tune_weights"]
    assert SearchConfig.from_json(old).trees == 1
    assert SearchConfig.from_json(old).tune_weights == 0


def test_network_language_search_generation_zero():
    config = dataclasses.replace(TINY, root_kinds=("N", "E"), trees=3, population=30)
    population = initial_state(config).population
    assert {p.kind for p in population} == {"N", "E"}
    members = [int(p.nodes[0][-1]) for p in population if p.kind == "E"]
    assert members and max(members) <= 3


def run_cli(*args, cwd):
    script = Path(__file__).resolve().parents[2] / "experiments" / "evolve.py"
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=900,
    )


@pytest.mark.slow
def test_evolve_cli_smoke_and_resume(tmp_path, data_dir):
    work = tmp_path / "run"
    data = f"--data_dir={Path(data_dir).resolve()}"
    first = run_cli("--config=smoke", f"--workdir={work}", data, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    out = first.stdout
    assert "gen   0" in out and "gen   1" in out
    assert "held-out test split, nb201:cifar10 (24 archs)" in out
    assert "held-out test split, nb201:cifar100 (24 archs)" in out
    assert "eznas_a" in out and "evolved_1" in out and "best classic proxy" in out
    assert len((work / "history.jsonl").read_text().splitlines()) == 2
    assert any((work / "xla_cache").iterdir())  # kernels kept for the next run
    rows = json.loads((work / "heldout.json").read_text())["rows"]
    assert {r["task"] for r in rows} == {"nb201:cifar10", "nb201:cifar100"}
    again = run_cli("--config=smoke", f"--workdir={work}", "--baselines=params", data, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "starting at generation 2" in again.stdout and "gen   0" not in again.stdout
    quiet = run_cli("--config=smoke", f"--workdir={work}", "--top_k=0", data, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "held-out: off" in quiet.stdout and "held-out test split" not in quiet.stdout
    bad = run_cli("--config=smoke", "--tasks=nb201", data, cwd=tmp_path)
    assert bad.returncode != 0 and "error: Task 'nb201'" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.slow
def test_evolve_cli_names_a_damaged_checkpoint_in_one_line(tmp_path, data_dir):
    work = tmp_path / "run"
    work.mkdir()
    (work / "checkpoint.json").write_text('{"format": 1, "config": {"tasks": ["nb201:cif')
    data = f"--data_dir={Path(data_dir).resolve()}"
    out = run_cli(
        "--config=smoke", f"--workdir={work}", data, "--compilation_cache_dir=none", cwd=tmp_path
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {work / 'checkpoint.json'} is damaged: not valid JSON (")
    assert last.endswith("delete it to start the search afresh, or use another workdir.")


@pytest.mark.slow
def test_final_programs_are_ranked_on_a_validation_sample(data_dir):
    texts = [
        "mean(weight)",
        "ones_like(relu_in@data)",
        "frobenius_norm(sigmoid(logdet(sign(relu_in_grad@data))))",
    ]
    archive = {texts[0]: [[0, 0.9]], texts[1]: [[0, 0.5], [1, 0.3]], texts[2]: [[1, 0.1]]}
    state = SearchState(2, (), archive, ())
    tasks = load_tasks(TINY)
    unvalidated = final_programs(TINY, tasks, state, 2, 3, validate_archs=0)
    assert [str(c.program) for c in unvalidated] == texts[:2]
    assert unvalidated[1].search_fitness == pytest.approx(0.4) and unvalidated[1].evaluations == 2
    chosen = final_programs(TINY, tasks, state, 2, 3, validate_archs=6)
    # The same fitness, computed directly on the validation sample of the search split:
    key = validation_key(TINY.seed)
    archs = sample_task_archs(key, tasks, 6)
    for td, task_archs in zip(tasks, archs):
        assert set(task_archs) <= set(td.search)
    programs = [parse(t) for t in texts]
    taus = np.stack(
        [
            fit.kendall_tau_rows(
                score_programs(key, programs, td.space, a, td.task.dataset, TINY.settings),
                td.target(a),
            )
            for td, a in zip(tasks, archs)
        ],
        axis=1,
    )
    fitness = fit.fitness_from_taus(taus)
    assert fitness[1] == INVALID  # constant
    want = sorted(range(3), key=lambda i: -fitness[i])[:2]
    assert [c.program for c in chosen] == [programs[i] for i in want]
    assert [c.validation_fitness for c in chosen] == [fitness[i] for i in want]


def test_seed_programs_open_the_initial_population_and_bad_ones_are_one_error():
    seeds = ("ensemble2(net_mean(mean(relu_in@data)), log_params)", "log_flops")
    config = dataclasses.replace(get_config("discover").search, population=6, seed_programs=seeds)
    config.validate()
    population = initial_state(config).population
    assert [str(p) for p in population[:2]] == list(seeds) and len(population) == 6
    plain = initial_state(dataclasses.replace(config, seed_programs=()))
    assert population[2:] == plain.population[2:]  # the random ones are drawn as before
    for bad, message in [
        (("mean(relu_in@data)",), "not one of root_kinds"),  # a unit program, not N or E
        (("net_mean(nope)",), "Bad seed program"),
        (("ensemble4(log_params, log_flops, num_units, log_params)",), "more trees"),
    ]:
        with pytest.raises(ValueError, match=message):
            dataclasses.replace(config, seed_programs=bad).validate()
