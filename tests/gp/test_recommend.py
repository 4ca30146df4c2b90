import dataclasses

import numpy as np
import pytest
import scipy.stats

from zcjax.gp import checkpoint
from zcjax.gp import config as configs
from zcjax.gp.heldout import validation_key
from zcjax.gp.recommend import recommend, reference_fitness, search_command
from zcjax.gp.state import SearchState
from zcjax.gp.tasks import Task, load_tasks, sample_task_archs
from zcjax.program import PROGRAMS, parse
from zcjax.program.registry import Origin
from zcjax.proxies import get_proxy
from zcjax.settings import Settings


def _record(g, program, validation, fitness=0.1):
    return {
        "generation": g,
        "best_program": program,
        "best_fitness": fitness,
        "validation_fitness": validation,
    }


def _save(path, seed, records, config=None, archive=None, validation=None):
    config = config or dataclasses.replace(configs.get_config("discover").search, seed=seed)
    state = SearchState(
        len(records), (parse("log_params"),), archive or {}, tuple(records), validation or {}
    )
    path.mkdir()
    checkpoint.save(path, config, state)
    return str(path)


def test_recommend_ranks_generation_bests_by_validation_across_searches(tmp_path):
    a = _save(
        tmp_path / "a",
        0,
        [
            _record(0, "net_mean(relu_in@data)", 0.30),
            _record(1, "log_params", 0.50),
            _record(2, "log_params", 0.50),  # best again: listed once, at generation 1
            _record(3, "num_units", None),  # no validation fitness: not a candidate
        ],
    )
    b = _save(tmp_path / "b", 1, [_record(0, "log_flops", 0.40, fitness=0.9)])
    recs = recommend([a, b])
    assert [(r.program, r.seed, r.generation) for r in recs] == [
        ("log_params", 0, 1),
        ("log_flops", 1, 0),
        ("net_mean(relu_in@data)", 0, 0),
    ]
    assert recs[1].search_fitness == 0.9  # ranked by validation, not by search fitness
    assert recs[0].command == (
        f"python experiments/evolve.py --config=discover --seed=0 --workdir={a}"
    )


def test_recommend_leaves_out_the_search_s_seed_programs(tmp_path):
    config = configs.get_config("discover_seeded").search
    seeded = str(parse(config.seed_programs[-1]))
    a = _save(
        tmp_path / "a",
        0,
        [_record(0, seeded, 0.60), _record(1, "net_mean(relu_in@data)", 0.30)],
        config=config,
    )
    b = _save(tmp_path / "b", 1, [_record(0, seeded, 0.50)])  # not seeded in this search
    recs = recommend([a, b])
    assert [(r.program, r.seed) for r in recs] == [(seeded, 1), ("net_mean(relu_in@data)", 0)]


def test_per_generation_adds_the_next_fittest_on_the_promotion_sample(tmp_path):
    config = configs.get_config("discover_seeded").search
    seeded = str(parse(config.seed_programs[0]))
    a, b, c = "net_mean(relu_in@data)", "num_units", "net_max(relu_in@data)"
    archive = {  # [generation, fitness, archs per task]
        a: [[0, 0.9, 20], [0, 0.5, 100], [1, 0.4, 100]],  # best of generation 0
        b: [[0, 0.7, 20], [0, 0.45, 100]],  # runner-up of generation 0
        "log_flops": [[0, 0.99, 20]],  # screened only: not on the promotion sample
        seeded: [[0, 0.6, 100]],  # fitter, but a seed program: left out
        c: [[1, 0.3, 100]],  # generation 1's runner-up (a is its best again)
        "net_min(relu_in@data)": [[1, 0.2, 100]],  # third in generation 1
    }
    records = [_record(0, a, 0.30), _record(1, a, 0.25)]
    path = _save(tmp_path / "a", 0, records, config=config, archive=archive)
    assert [r.program for r in recommend([path])] == [a]  # default: bests only
    recs = recommend([path], per_generation=2)
    assert [(r.program, r.generation, r.search_fitness) for r in recs] == [
        (a, 0, 0.1),  # the best keeps its own record (validated)
        (b, 0, 0.45),  # unvalidated ones follow, by their promotion fitness
        (c, 1, 0.3),
    ]
    assert np.isnan(recs[1].validation_fitness) and np.isnan(recs[2].validation_fitness)
    three = recommend([path], per_generation=3)
    assert [r.program for r in three] == [a, b, c, "net_min(relu_in@data)"]
    with pytest.raises(ValueError, match="per_generation must be >= 1"):
        recommend([path], per_generation=0)


def test_search_command_names_the_config_or_points_to_the_checkpoint():
    discover = dataclasses.replace(configs.get_config("discover").search, seed=4, generations=7)
    assert "--config=discover --seed=4 " in search_command(discover, "w")
    custom = dataclasses.replace(discover, archs_per_task=33)
    assert search_command(custom, "w").endswith("(settings in w/checkpoint.json)")


def test_origin_config_is_the_commands_config_flag():
    origin = Origin(
        "python experiments/evolve.py --config=discover_az --seed=1 --workdir=w", 1, 2, 0.5
    )
    assert origin.config == "discover_az"
    assert dataclasses.replace(origin, command="python evolve.py --seed=1").config is None


def test_recommend_without_checkpoint_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no checkpoint.json"):
        recommend([tmp_path])


def test_evolved_entries_record_their_search_and_score_as_proxies():
    evolved = {n: s for n, s in PROGRAMS.items() if n.startswith("evolved")}
    assert "evolved" in evolved
    for name, spec in evolved.items():
        assert spec.origin is not None, name
        assert f"--seed={spec.origin.seed}" in spec.origin.command
        assert spec.origin.config in configs.CONFIGS, name  # a named search config, re-runnable
        assert str(spec.program) == spec.text  # canonical text: it round-trips
        assert get_proxy(name).name == name
    published = [s for n, s in PROGRAMS.items() if not n.startswith("evolved")]
    assert all(s.origin is None for s in published)


def test_reference_fitness_is_the_signed_tau_on_the_validation_sample(data_dir):
    config = dataclasses.replace(
        configs.SearchConfig(),
        tasks=(Task("nb201", "cifar10"),),
        validation_archs=12,
        test_archs=50,
        settings=Settings(num_inits=1, batch_size=2, data_dir=str(data_dir)),
    )
    programs = [parse("log_params"), parse("net_neg(log_params)")]
    fitness, taus, tasks = reference_fitness(config, programs)
    assert tasks == ["nb201:cifar10"] and taus.shape == (2, 1)
    td = load_tasks(config)[0]
    archs = sample_task_archs(validation_key(config.seed), [td], 12)[0]
    params = td.benchmark.column("params_cifar10", archs)  # the benchmark's own counts
    want = scipy.stats.kendalltau(params, td.target(archs)).statistic
    np.testing.assert_allclose(fitness, [want, -want], rtol=1e-6)
    with pytest.raises(ValueError, match="no validation sample"):
        reference_fitness(dataclasses.replace(config, validation_archs=0), programs)


def test_confirm_rescores_the_top_on_a_fresh_sample_per_seed(tmp_path, data_dir):
    """Each seed's programs are scored on that seed's confirmation sample (not its validation
    sample) with the search's fitness, best confirmed first; params are the benchmark's."""
    from zcjax.gp.heldout import confirmation_key
    from zcjax.gp.recommend import confirm

    def config(seed):
        return dataclasses.replace(
            configs.SearchConfig(),
            tasks=(Task("nb201", "cifar10"),),
            validation_archs=12,
            test_archs=50,
            seed=seed,
            settings=Settings(num_inits=1, batch_size=2, data_dir=str(data_dir)),
        )

    a = _save(tmp_path / "a", 0, [_record(0, "net_neg(log_params)", 0.9)], config(0))
    b = _save(tmp_path / "b", 1, [_record(0, "log_params", 0.2)], config(1))
    recs = recommend([a, b])
    assert [r.program for r in recs] == ["net_neg(log_params)", "log_params"]
    done = confirm([a, b], recs, 15)
    assert [c.rec.program for c in done] == ["log_params", "net_neg(log_params)"]
    for c in done:
        td = load_tasks(config(c.rec.seed))[0]
        archs = sample_task_archs(confirmation_key(c.rec.seed), [td], 15)[0]
        assert not set(archs) & set(td.test)  # drawn from the search split
        assert archs != sample_task_archs(validation_key(c.rec.seed), [td], 15)[0]
        tau = scipy.stats.kendalltau(td.benchmark.column("params_cifar10", archs), td.target(archs))
        sign = -1 if c.rec.program.startswith("net_neg") else 1
        np.testing.assert_allclose(c.fitness, sign * tau.statistic, rtol=1e-6)
        assert c.tasks == ("nb201:cifar10",) and c.taus == (c.fitness,)
    with pytest.raises(ValueError, match="at least 3"):
        confirm([a, b], recs, 2)
