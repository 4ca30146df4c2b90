"""The EZNAS generation loop: evolve proxy programs, checkpointed after every generation.

One generation (EZNAS's schedule, every number a ``SearchConfig`` setting):
1. Each task samples ``archs_per_task`` architectures from the space's *search split* with the
   generation's key; the generation's statistics use that key too.
2. ``var_or`` makes ``offspring`` (lambda = 50) children of the population by crossover
   (p 0.4), mutation (p 0.4) or copy, except ``immigrants`` of them, fresh random programs
   (``gen_half_and_half``; the EZNAS paper's immigrants, 0 in its code). A child counts only if
   its scores on the first ``screen_archs`` architectures of every task are finite and not all
   equal (``screen_ok``), as EZNAS's quick validity check required; rejected children are
   counted and replaced, for at most ``max_rounds`` rounds. With ``require_data_dependence``
   a child must also be data-dependent (``structural``: its unit scores change between two
   inits or between data and noise on the first task's screening architectures), and
   structural parents are not promoted, so no structural program is selected.
3. Every distinct child is scored population-major (``evaluate.StackedStats``): the
   statistics of each sampled (architecture, init) are computed once, all children read them.
   Fitness = Kendall tau with accuracy, worst (or mean) over tasks (``fitness``). With
   ``max_size_tau`` below 1 a program none of whose member trees ranks the first task's
   sample unlike the network's size (``generation.size_like``) gets the worst fitness, here
   and in promotion; the history counts such children (``size_like``, also among
   ``invalid_in_evaluation``).
4. Promotion (ours; ``promote_archs=0`` is EZNAS): a tau on 20 architectures has an SD of
   ~.1-.16, so selecting on it rewards luck. The best ``promote_fraction`` of the distinct valid
   children and the population (the previous survivors, or generation 0's random programs)
   are re-scored on ``promote_archs`` architectures per task, drawn once per generation with
   their own key, and selection uses that fitness.
5. ``survivors`` (mu = 25) are chosen by tournament (size 4) from the children (the promoted
   pool) -- after the ``elites`` best, if any -- then de-duplicated by ``dedupe``: programs
   that order every task's architectures alike count as one (``"ranking"``, default), or by
   fitness (EZNAS) or program text.
6. The generation's best is scored once on a fixed ``validation_archs`` sample of the search
   split (the one ``heldout`` re-ranks the final candidates on) for the history's curve.

Every evaluated program's fitness per generation is kept in ``SearchState.archive`` (the
larger sample's for promoted programs); the best programs (mean fitness over the generations
they were scored in) go to ``heldout``, which scores them on the disjoint *test split*.

Randomness: all keys derive from ``seed`` -- generation g uses ``fold_in(key_generations, g)``
-- so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

from collections.abc import Callable

from zcjax.gp.checkpoint import resume, save
from zcjax.gp.config import SearchConfig
from zcjax.gp.generation import run_generation
from zcjax.gp.state import SearchState, initial_state
from zcjax.gp.tasks import load_tasks

Progress = Callable[[str, dict], None]


def run(
    config: SearchConfig,
    workdir: str | None = None,
    progress: Progress | None = None,
    stop_after: int | None = None,
) -> SearchState:
    """Runs (or resumes) a search to ``config.generations``.

    With ``workdir``, a checkpoint (``checkpoint.json``: config, state) and ``history.jsonl``
    are written atomically after every generation, and an existing checkpoint is resumed --
    the result is the same as an uninterrupted run. ``stop_after`` ends the call after that
    many generations of this call (for tests and time-boxed jobs).
    """
    config.validate()
    tasks = load_tasks(config)
    state = resume(workdir, config) if workdir else None
    if state is None:
        state = initial_state(config)
    if progress is not None:
        progress("start", {"generation": state.generation, "tasks": [str(t.task) for t in tasks]})
    done = 0
    while state.generation < config.generations:
        if stop_after is not None and done >= stop_after:
            break
        state = run_generation(config, tasks, state)
        done += 1
        if workdir:
            save(workdir, config, state)
        if progress is not None:
            progress("generation", state.history[-1])
    return state
