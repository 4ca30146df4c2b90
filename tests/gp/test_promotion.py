"""Promotion: the best children and the parents are re-scored on a larger sample and selected on
it; immigrants are screened fresh programs; the new settings and state round-trip."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest
import scipy.stats

from zcjax.gp import checkpoint
from zcjax.gp import evaluate as gp_evaluate
from zcjax.gp import fitness as fit
from zcjax.gp.config import SearchConfig
from zcjax.gp.evaluate import fitness_of_scores, task_fitness
from zcjax.gp.generation import (
    GenerationKeys,
    Scored,
    climb_weights,
    make_offspring,
    promotion_pool,
    run_generation,
)
from zcjax.gp.heldout import final_programs, validation_key
from zcjax.gp.keys import Keys
from zcjax.gp.state import SearchState
from zcjax.gp.tasks import Task, load_tasks, sample_task_archs
from zcjax.program import network, parse
from zcjax.settings import Settings

ONE_TASK = SearchConfig(
    tasks=(Task("nb201", "cifar10"),),
    population=4,
    offspring=6,
    survivors=3,
    cx_prob=0.0,
    mut_prob=0.0,
    archs_per_task=4,
    promote_fraction=0.5,
    promote_archs=8,
    validation_archs=6,
    test_archs=50,
    settings=Settings(num_inits=1, batch_size=2, normalization="eznas"),
)
P, DOUBLE_P = "mean_abs(weight)", "add(mean_abs(weight), mean_abs(weight))"  # rank alike
TEXTS = (P, DOUBLE_P, "frobenius_norm(weight)", "mean(weight)")


class OddLengthScreen:
    """A stand-in for ``StackedStats``: programs of an odd node count are valid."""

    def __init__(self):
        self.seen = []

    def scores(self, programs):
        self.seen.extend(programs)
        ok = np.array([len(p) % 2 == 1 for p in programs])
        return np.where(ok[:, None, None], np.array([1.0, 2.0])[None, :, None], np.nan)


def test_immigrants_are_screened_fresh_programs_and_counted():
    parent = parse(DOUBLE_P)  # 5 nodes: valid
    config = dataclasses.replace(ONE_TASK, offspring=8, immigrants=5)
    keys = GenerationKeys.of(config, 0)
    screen = OddLengthScreen()
    children, immigrants, rejected, rounds = make_offspring(config, keys, [parent], [screen])
    assert immigrants == 5 and len(children) == 8
    assert children[:3] == [parent] * 3  # var_or's copies (no crossover, no mutation)
    fresh = children[3:]
    assert all(len(c) % 2 == 1 for c in fresh)  # screened like the others
    assert all(c.height <= config.init_heights[1] for c in fresh)
    assert all(c.kinds[0] in config.root_kinds for c in fresh)
    failed = {p for p in screen.seen if len(p) % 2 == 0}
    assert failed and rejected >= len(failed) and rounds >= 2 and not failed & set(children)
    again = make_offspring(config, keys, [parent], [OddLengthScreen()])
    assert again == (children, immigrants, rejected, rounds)  # same keys, same children
    none = make_offspring(dataclasses.replace(config, immigrants=0), keys, [parent], [screen])
    assert none[:2] == ([parent] * 8, 0)


def test_generation_keys_keep_their_old_derivation():
    keys = GenerationKeys.of(ONE_TASK, 3)
    key = jax.random.fold_in(Keys.of(ONE_TASK.seed).generations, 3)
    old = jax.random.split(key, 5)
    for name, want in zip(("archs", "stats", "variation", "selection", "immigrants"), old):
        assert (jax.random.key_data(getattr(keys, name)) == jax.random.key_data(want)).all()
    assert not (jax.random.key_data(keys.promotion) == jax.random.key_data(old)).all(-1).any()


def test_promotion_pool_is_the_best_fraction_of_valid_children_and_the_parents():
    programs = tuple(parse(f"mean({t})") for t in ("weight", "relu_in@data", "bn_out@data"))
    parents = (parse("mean_abs(weight)"), programs[0])
    scored = Scored(programs, [], np.empty((3, 1)), np.array([0.1, fit.INVALID, 0.3]), [])
    config = dataclasses.replace(ONE_TASK, promote_fraction=0.5)  # ceil(0.5 * 2 valid) = 1
    assert promotion_pool(config, scored, parents) == [programs[2], *parents]
    every = dataclasses.replace(ONE_TASK, promote_fraction=1.0)
    assert promotion_pool(every, scored, parents) == [programs[2], programs[0], parents[0]]


def test_bad_promotion_settings_are_named():
    for change, message in [
        ({"promote_fraction": 0.0}, "promote_fraction"),
        ({"promote_fraction": 1.5}, "promote_fraction"),
        ({"promote_archs": 2}, "promote_archs"),
        ({"promote_archs": 1}, "promote_archs"),
        ({"promote_archs": 3}, "promote_archs"),  # below archs_per_task
        ({"validation_archs": 2}, "validation_archs"),
        ({"immigrants": 7}, "immigrants"),
        ({"immigrants": -1}, "immigrants"),
        ({"dedupe": "text"}, "dedupe"),
        ({"relative_to": (P, P)}, "relative_to has 2 programs; give one, or one per task"),
        ({"relative_to": ("mean(",)}, "Bad relative_to program 'mean\\('"),
    ]:
        with pytest.raises(ValueError, match=message):
            dataclasses.replace(ONE_TASK, **change).validate()
    dataclasses.replace(ONE_TASK, promote_archs=0, validation_archs=0, immigrants=6).validate()
    defaults = SearchConfig()
    assert (defaults.promote_archs, defaults.validation_archs, defaults.dedupe) == (
        100,
        100,
        "ranking",
    )
    assert (defaults.promote_fraction, defaults.immigrants) == (0.2, 0)


def test_state_with_validation_round_trips_and_old_checkpoints_keep_their_search(tmp_path):
    history = ({"generation": 0, "best_fitness_se": None, "validation_fitness": -0.25},)
    state = SearchState(1, (parse(P),), {P: [[0, 0.5]]}, history, {P: -0.25, TEXTS[3]: 0.1})
    checkpoint.save(tmp_path, ONE_TASK, state)
    assert checkpoint.resume(tmp_path, ONE_TASK) == state
    # A checkpoint written before promotion existed: it resumes as the search it was.
    path = tmp_path / checkpoint.CHECKPOINT
    doc = json.loads(path.read_text())
    for name in ("promote_fraction", "promote_archs", "validation_archs"):
        del doc["config"][name]
    del doc["state"]["validation"]
    doc["config"]["dedupe"] = "fitness"
    path.write_text(json.dumps(doc))
    saved = checkpoint.saved_config(tmp_path)
    assert (saved.promote_archs, saved.validation_archs, saved.dedupe) == (0, 0, "fitness")
    assert checkpoint.resume(tmp_path, saved) == dataclasses.replace(state, validation={})
    with pytest.raises(ValueError, match="dedupe: saved 'fitness'.*promote_archs: saved 0"):
        checkpoint.resume(tmp_path, ONE_TASK)
    assert checkpoint.saved_config(tmp_path / "nothing") is None


@pytest.mark.slow
def test_promotion_selects_on_the_larger_sample(data_dir, monkeypatch):
    config = ONE_TASK
    tasks = load_tasks(config)
    population = tuple(parse(t) for t in TEXTS)
    calls = []
    real = gp_evaluate.score_programs

    def recorded(key, programs, space, archs, *args):
        calls.append((tuple(programs), list(archs)))
        return real(key, programs, space, archs, *args)

    monkeypatch.setattr(gp_evaluate, "score_programs", recorded)
    new = run_generation(config, tasks, SearchState(0, population, {}, ()))
    monkeypatch.undo()
    record = new.history[-1]
    keys = GenerationKeys.of(config, 0)
    small = sample_task_archs(keys.archs, tasks, config.archs_per_task)
    big = sample_task_archs(keys.promotion, tasks, config.promote_archs)
    valid = sample_task_archs(validation_key(config.seed), tasks, config.validation_archs)
    # One call per stage: every program of a stage sees the same architectures.
    assert [archs for _, archs in calls] == [small[0], big[0], valid[0]]
    children, pool = calls[0][0], calls[1][0]
    assert len(children) == record["distinct_children"] and set(children) <= set(population)
    assert set(population) <= set(pool) and record["promoted"] == len(pool)
    assert record["promote_archs"] == 8 and set(new.population) <= set(pool)
    # Selection fitness, archive and SE: the promoted programs on the larger sample.
    taus, values, scores, _ = task_fitness(config, keys.stats, list(pool), tasks, big)
    for program, value in zip(pool, values):
        assert new.archive[str(program)] == [[0, value, 8]]
    best = int(np.argmax(values))
    assert record["best_program"] == str(pool[best])
    assert record["best_fitness"] == values[best]
    assert record["best_taus"] == {"nb201:cifar10": taus[best, 0]}
    se = fit.kendall_tau_jackknife_se(scores[0][best], tasks[0].target(big[0]))
    assert record["best_fitness_se"] == pytest.approx(se, rel=1e-12) and se > 0
    # p and add(p, p) rank the sample alike: one survives.
    assert not {parse(P), parse(DOUBLE_P)} <= set(new.population)
    # The curve's validation fitness is the one heldout re-ranks the final candidates with.
    state = SearchState(1, (), {record["best_program"]: [[0, 0.0]]}, ())
    chosen = final_programs(config, tasks, state, 1, 1, config.validation_archs)
    assert record["validation_fitness"] == chosen[0].validation_fitness
    assert new.validation == {record["best_program"]: record["validation_fitness"]}


def test_fitness_relative_to_a_bar_is_the_margin_over_its_tau(data_dir):
    # Two tasks, each with its own bar; every program and the bars on the same statistics.
    two = dataclasses.replace(
        ONE_TASK, tasks=(Task("nb201", "cifar10"), Task("nb201", "cifar100")), archs_per_task=5
    )
    bars = (P, "frobenius_norm(weight)")
    relative = dataclasses.replace(two, relative_to=bars)
    assert relative.reference_programs() == tuple(parse(t) for t in bars)
    one = dataclasses.replace(two, relative_to=("log_params",))
    assert one.reference_programs() == (parse("log_params"),) * 2
    tasks = load_tasks(two)
    archs = sample_task_archs(jax.random.key(3), tasks, 5)
    programs = [parse(t) for t in TEXTS]
    key = jax.random.key(0)
    taus, fitness, scores, refs = task_fitness(relative, key, programs, tasks, archs)
    # Independently: the bars scored as ordinary programs, with no references.
    every = programs + [parse(bars[1])]  # bars[0] is P, already among the programs
    plain_taus, plain, plain_scores, none = task_fitness(two, key, every, tasks, archs)
    assert none is None
    np.testing.assert_array_equal(taus, plain_taus[: len(programs)])
    np.testing.assert_array_equal(refs[0], plain_scores[0][0])  # P's scores on task 0
    np.testing.assert_array_equal(refs[1], plain_scores[1][-1])
    bar_taus = np.array([plain_taus[0, 0], plain_taus[-1, 1]])
    want = np.min(plain_taus[: len(programs)] - bar_taus, axis=1)
    np.testing.assert_allclose(fitness, np.where(np.isfinite(want), want, fit.INVALID))
    assert fitness[0] == min(0.0, plain_taus[0, 1] - bar_taus[1])  # P against its own bar
    assert not np.allclose(fitness, plain[: len(programs)])


class FixedTarget:
    """A stand-in for ``TaskData``: the same accuracies whatever the architectures."""

    def __init__(self, truth):
        self.truth = truth

    def target(self, archs):
        return self.truth


def test_climb_weights_follows_the_best_weight_step_until_none_helps():
    # Synthetic member scores on one task: A close to the accuracies, B noisier, C unrelated.
    rng = np.random.default_rng(4)
    truth = rng.normal(size=30)
    columns = [truth + 0.4 * rng.normal(size=30), truth + 2 * rng.normal(size=30)]
    columns.append(rng.normal(size=30))
    a, b, c = (parse(t) for t in ("log_params", "log_flops", "num_units"))
    start = network.ensemble([a, b, c])
    config = dataclasses.replace(ONE_TASK, trees=6)
    tasks = [FixedTarget(truth)]
    held = np.stack(columns + [network.combine(columns)])
    taus, fitness = fitness_of_scores(config, [truth], [held])
    scored = Scored((a, b, c, start), [list(range(30))], taus, fitness, [held])
    climbed, best = climb_weights(config, tasks, scored, start)

    # Independently: tau-b (scipy) of the weighted sum of log-ranks, greedy over the weights.
    def tau(w):
        s = sum(k * np.log(scipy.stats.rankdata(col) / 30) for k, col in zip(w, columns))
        return scipy.stats.kendalltau(s, truth).statistic

    w = (1, 1, 1)
    while True:
        steps = [w[:i] + (w[i] + 1,) + w[i + 1 :] for i in range(3) if sum(w) < 6]
        steps += [w[:i] + (w[i] - 1,) + w[i + 1 :] for i in range(3) if w[i] > 1]
        values = sorted((tau(v) for v in steps), reverse=True)
        assert len(values) < 2 or values[0] - values[1] > 1e-9  # no near-tie to break
        top = max(steps, key=tau)
        if tau(top) <= tau(w) + 1e-12:
            break
        w = top
    assert sum(w) >= 5  # the climb took several steps
    assert best == network.ensemble([a] * w[0] + [b] * w[1] + [c] * w[2])
    assert climbed.fitness[climbed.rows([best])[0]] == pytest.approx(tau(w), abs=1e-12)
    assert set(scored.programs) < set(climbed.programs)  # the neighbours tried are held
    for p in climbed.programs[4:]:  # each added row is its members' sum of log-ranks
        rows = scored.rows(network.members(p))
        want = sum(np.log(scipy.stats.rankdata(held[r]) / 30) for r in rows)
        np.testing.assert_allclose(climbed.scores[0][climbed.rows([p])[0]], want, rtol=1e-12)


def test_weight_tuning_at_promotion_adds_a_better_weighting(data_dir):
    # P and -P cancel in a sum of log-ranks; more copies of P rank the networks by size.
    p, neg = parse("log_params"), parse("net_neg(log_params)")
    start = network.ensemble([p, neg])
    config = dataclasses.replace(ONE_TASK, trees=4, promote_archs=12, validation_archs=0)
    tasks = load_tasks(config)
    population = (start, parse("log_flops"))
    plain = run_generation(config, tasks, SearchState(0, population, {}, ()))
    tuned_config = dataclasses.replace(config, tune_weights=1)
    tuned_config.validate()
    tuned = run_generation(tuned_config, tasks, SearchState(0, population, {}, ()))
    added = set(tuned.archive) - set(plain.archive)
    assert len(added) == 1 and all(tuned.archive[k] == v for k, v in plain.archive.items())
    (text,) = added
    program = parse(text)
    assert set(network.members(program)) == {p, neg} and network.members(program).count(p) >= 2
    # Its fitness on the promotion sample, scored as an ordinary program through the networks.
    keys = GenerationKeys.of(config, 0)
    big = sample_task_archs(keys.promotion, tasks, config.promote_archs)
    _, value, _, _ = task_fitness(config, keys.stats, [program, start], tasks, big)
    assert tuned.archive[text] == [[0, value[0], 12]]
    (gain,) = tuned.history[-1]["tuning_gains"]
    assert gain == pytest.approx(value[0] - value[1], abs=1e-12) and gain > 0
    assert plain.history[-1]["tuning_gains"] == []
    with pytest.raises(ValueError, match="tune_weights needs trees >= 2 and promote_archs"):
        dataclasses.replace(ONE_TASK, tune_weights=1).validate()


def test_climb_with_align_orients_a_member_that_ranks_against_size():
    # Size follows the accuracies; member B ranks them backwards, so B aligned (negated over
    # this set, as its Spearman rho with size is below 0) helps and A aligned changes nothing.
    rng = np.random.default_rng(5)
    truth = rng.normal(size=40)
    size = truth + 0.5 * rng.normal(size=40)
    a_col, b_col = truth + 1.0 * rng.normal(size=40), -(truth + 0.3 * rng.normal(size=40))
    a, b = parse("log_flops"), parse("num_units")
    start = network.ensemble([a, b])
    held = np.stack([a_col, b_col, size, network.combine([a_col, b_col])])
    config = dataclasses.replace(ONE_TASK, trees=2, align=True)
    taus, fitness = fitness_of_scores(config, [truth], [held])
    scored = Scored((a, b, network.SIZE, start), [list(range(40))], taus, fitness, [held])
    climbed, best = climb_weights(config, [FixedTarget(truth)], scored, start)
    assert best == network.ensemble([a, network.aligned(b)])
    lr = [np.log(scipy.stats.rankdata(c) / 40) for c in (a_col, -b_col)]
    want = scipy.stats.kendalltau(lr[0] + lr[1], truth).statistic
    assert climbed.fitness[climbed.rows([best])[0]] == pytest.approx(want, abs=1e-12)
    # Without align the same climb has no move at two trees: it stays where it started.
    plain = dataclasses.replace(config, align=False)
    assert climb_weights(plain, [FixedTarget(truth)], scored, start)[1] == start
    with pytest.raises(ValueError, match="align needs trees >= 2"):
        dataclasses.replace(ONE_TASK, align=True).validate()
    with pytest.raises(ValueError, match="aligns a member; set align=True"):
        dataclasses.replace(
            ONE_TASK,
            trees=2,
            root_kinds=("N", "E"),
            seed_programs=("ensemble2(log_params, net_aligned(log_flops))",),
        ).validate()
