"""Held-out evaluation: the best evolved programs on each task's test split, next to baselines.

The test split (``tasks.split_archs``) never feeds fitness, so these numbers measure what the
search found, not what it fitted. Every proxy is scored on the same architectures with the
same keys (``recipe.score_archs``: evolved programs run through ``program.compile``, the path
``score.py`` uses), and reported with Kendall's tau, Spearman's rho and percentile bootstrap
confidence intervals over architectures.

Each evolved program is also checked once for being *structural* (``gp.structural``: its
scores change neither between two inits nor between data and noise) and for reading its
inputs (its scores change between data and noise at the same init), on
``STRUCTURAL_ARCHS`` architectures of the first task's search split.

Keys: the run's test key is split by purpose into an architecture stream (task t scores with
``fold_in(key_archs, t)``, whose per-architecture keys are ``fold_in(., arch_id)``) and an
interval stream (proxy j of task t resamples with ``fold_in(fold_in(key_intervals, t), j)``),
so no bootstrap key can equal an architecture's key. The structural check uses
``structural_key`` (from the split stream, as the validation sample's key).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from zcjax import metrics
from zcjax.gp.checkpoint import HELDOUT, save_json
from zcjax.gp.config import HeldoutConfig, SearchConfig
from zcjax.gp.evaluate import task_fitness
from zcjax.gp.keys import Keys
from zcjax.gp.state import SearchState
from zcjax.gp.structural import dependences
from zcjax.gp.tasks import TaskData, load_tasks, sample_task_archs
from zcjax.program import Program, parse
from zcjax.proxies import get_proxies, proxy_of_program
from zcjax.recipe import Progress, score_archs
from zcjax.settings import Settings


@dataclasses.dataclass(frozen=True)
class Row:
    """One proxy on one task's test split."""

    task: str
    name: str
    program: str  # program text; "" for a classic proxy
    kendall_tau: float
    spearman: float
    tau_ci: tuple[float, float]
    rho_ci: tuple[float, float]
    n: int
    search_fitness: float | None = None  # mean fitness during the search (evolved only)
    validation_fitness: float | None = None  # fitness on the validation sample (evolved only)
    structural: bool | None = None  # see ``gp.structural`` (evolved only; None: not checked)
    reads_inputs: bool | None = None  # scores change between data and noise (as structural)

    @property
    def classic(self) -> bool:
        return not self.program


def best_programs(state: SearchState, k: int) -> list[tuple[Program, float, int]]:
    """The ``k`` archived programs of best mean fitness: (program, mean fitness, evaluations).

    Programs scored on the largest sample (promotion's, the third entry of an archived
    evaluation; 0 in archives without it) come first, ranked by their mean fitness on that
    sample size, so a lucky small-sample fitness never outranks a measured one; ties keep the
    earlier-archived program."""

    def size(e) -> int:
        return int(e[2]) if len(e) > 2 else 0

    ranked = []
    for i, (name, ev) in enumerate(state.archive.items()):
        n = max(size(e) for e in ev)
        mean = float(np.mean([e[1] for e in ev if size(e) == n]))
        ranked.append((n, mean, i, name, len(ev)))
    ranked.sort(key=lambda r: (-r[0], -r[1], r[2]))
    return [(parse(name), mean, count) for _, mean, _, name, count in ranked[:k]]


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A program picked at the end of a search, with its fitness during the search (mean over
    the generations it was scored in), on the validation sample (None if not validated) and
    whether it is structural and whether it reads its inputs (``mark_structural``; None if
    not checked)."""

    program: Program
    search_fitness: float
    evaluations: int
    validation_fitness: float | None = None
    structural: bool | None = None
    reads_inputs: bool | None = None


def validation_key(seed: int) -> jax.Array:
    """Key of the validation sample: distinct from every search and test key of the run."""
    return jax.random.fold_in(Keys.of(seed).split, 0)


def confirmation_key(seed: int) -> jax.Array:
    """Key of the confirmation sample (``recommend.confirm``): ``fold_in(split key, 2)``,
    beside the validation and structural keys."""
    return jax.random.fold_in(Keys.of(seed).split, 2)


STRUCTURAL_ARCHS = 2  # architectures the structural check runs on


def structural_key(seed: int) -> jax.Array:
    """Key of the structural check: ``fold_in(split key, 1)``, beside the validation key."""
    return jax.random.fold_in(Keys.of(seed).split, 1)


def mark_structural(
    config: SearchConfig,
    tasks: Sequence[TaskData],
    candidates: Sequence[Candidate],
    num_archs: int = STRUCTURAL_ARCHS,
) -> list[Candidate]:
    """``candidates`` with ``structural`` and ``reads_inputs`` set by
    ``structural.dependences`` (``"init_or_inputs"`` negated, ``"inputs"``) on
    ``num_archs`` architectures of the first task's search split, at that task's settings.

    ``structural_key(seed)`` splits into the key that samples the architectures
    (``sample_task_archs``) and the key of the check's batch and inits, so the answer is fixed
    by the search's seed.
    """
    if not candidates:
        return []
    key_archs, key_check = jax.random.split(structural_key(config.seed))
    td = tasks[0]
    archs = sample_task_archs(key_archs, [td], num_archs)[0]
    dependent = dependences(
        key_check,
        [c.program for c in candidates],
        td.space,
        archs,
        td.task.dataset,
        td.settings(config.settings),
    )
    return [
        dataclasses.replace(c, structural=not bool(d), reads_inputs=bool(i))
        for c, d, i in zip(candidates, dependent["init_or_inputs"], dependent["inputs"])
    ]


def final_programs(
    config: SearchConfig,
    tasks: Sequence[TaskData],
    state: SearchState,
    top_k: int,
    candidates: int = 10,
    validate_archs: int = 100,
) -> list[Candidate]:
    """The ``top_k`` programs to report.

    A program's search fitness comes from 20 architectures per task, often from one
    generation, so the archive's best are partly lucky. The ``candidates`` best by search
    fitness are therefore re-scored on ``validate_archs`` fresh architectures per task from the
    *search* split (the test split stays unseen) and ranked by that fitness; ties keep the
    search order. ``validate_archs=0`` keeps the search ranking.
    """
    best = [Candidate(p, f, n) for p, f, n in best_programs(state, max(candidates, top_k))]
    if validate_archs <= 0 or not best:
        return best[:top_k]
    key = validation_key(config.seed)
    archs = sample_task_archs(key, tasks, validate_archs)
    programs = [c.program for c in best]
    values = task_fitness(config, key, programs, tasks, archs)[1]
    order = np.argsort(-values, kind="stable")[:top_k]
    return [dataclasses.replace(best[i], validation_fitness=float(values[i])) for i in order]


def heldout_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(architectures, intervals): the two disjoint key streams of the held-out evaluation."""
    key_archs, key_intervals = jax.random.split(Keys.of(seed).test)
    return key_archs, key_intervals


def score_test_split(
    config: SearchConfig,
    tasks: Sequence[TaskData],
    programs: Sequence[Candidate],
    baselines: Sequence[str] = ("eznas_a", "synflow", "naswot", "params"),
    num_inits: int | None = None,
    num_resamples: int = 1000,
    progress: Progress | None = None,
) -> list[Row]:
    """Scores ``programs`` (``final_programs``) and ``baselines`` on every task's test
    split (all of it: ``n`` is at most ``len(td.test)``) at each task's settings
    (``TaskData.settings``); ``num_inits`` overrides the search's K for this evaluation."""
    base = config.settings
    if num_inits is not None:
        base = dataclasses.replace(base, num_inits=num_inits)
    evolved = [
        proxy_of_program(f"evolved_{i + 1}", c.program, description="evolved")
        for i, c in enumerate(programs)
    ]
    proxies = evolved + get_proxies(list(baselines))
    key_archs, key_intervals = heldout_keys(config.seed)
    rows = []
    for t, td in enumerate(tasks):
        archs = list(td.test)
        means, _ = score_archs(
            jax.random.fold_in(key_archs, t),
            td.space,
            archs,
            proxies,
            td.task.dataset,
            td.settings(base),
            progress,
        )
        target = td.target(archs)
        for j, proxy in enumerate(proxies):
            c = metrics.correlations(means[proxy.name], target)
            ci = metrics.bootstrap_ci(
                jax.random.fold_in(jax.random.fold_in(key_intervals, t), j),
                means[proxy.name],
                target,
                num_resamples,
            )
            picked = programs[j] if j < len(evolved) else None
            rows.append(
                Row(
                    task=str(td.task),
                    name=proxy.name,
                    program=str(picked.program if picked else getattr(proxy, "program", "")),
                    kendall_tau=c["kendall_tau"],
                    spearman=c["spearman"],
                    tau_ci=ci["kendall_tau"],
                    rho_ci=ci["spearman"],
                    n=c["n"],
                    search_fitness=None if picked is None else picked.search_fitness,
                    validation_fitness=None if picked is None else picked.validation_fitness,
                    structural=None if picked is None else picked.structural,
                    reads_inputs=None if picked is None else picked.reads_inputs,
                )
            )
    return rows


def write_test_splits(config: SearchConfig, out_dir: str | os.PathLike) -> list[Path]:
    """Writes each space's test split of the search ``config`` (its seed and ``test_archs``)
    to ``out_dir/<space>_seed<seed>_test.txt``, one architecture per line as its official
    index with its string as a comment (the index names an NDS record exactly, where two
    records may share a genotype), the form ``score.py --archs_file`` reads. A held-out report
    can then be scored in resumable parts.

    Returns:
      the written files, one per space of ``config.tasks``, in task order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for td in load_tasks(config):
        path = out / f"{td.space.name}_seed{config.seed}_test.txt"
        if path in written:  # one split per space, shared by its datasets
            continue
        lines = [
            f"# test split of {td.space.name} for search seed {config.seed} "
            f"(test_archs={config.test_archs}): {len(td.test)} architectures, never seen by "
            "the search's fitness",
            *(f"{_official_index(td, a)}  # {td.space.to_string(a)}" for a in td.test),
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _official_index(td: TaskData, arch) -> int:
    row = td.benchmark.row(arch)
    if row is None:
        raise ValueError(f"{td.space.name}: architecture {td.space.to_string(arch)} has no record")
    return int(td.benchmark.index[row])


def best_classic(rows: Sequence[Row], task: str) -> Row | None:
    """The classic (non-program) baseline of highest tau on ``task``."""
    classic = [r for r in rows if r.task == task and r.classic and np.isfinite(r.kendall_tau)]
    return max(classic, key=lambda r: r.kendall_tau, default=None)


def yes_no(flag: bool | None) -> str:
    """A check's answer for a table: "yes", "no" or "" (not checked)."""
    return "" if flag is None else ("yes" if flag else "no")


def format_table(rows: Sequence[Row]) -> str:
    """Per task: tau, rho with 95% CIs, fitness, validation fitness and whether an evolved
    program is structural and reads its inputs; the best classic proxy marked ``*``; programs
    listed."""
    lines = []
    for task in dict.fromkeys(r.task for r in rows):
        best = best_classic(rows, task)
        n = max(r.n for r in rows if r.task == task)
        lines.append(f"held-out test split, {task} ({n} archs)")
        lines.append(
            f"  {'proxy':<28}{'tau':>8}{'  95% CI':<18}{'rho':>8}{'  95% CI':<18}"
            f"{'fitness':>9}{'valid.':>8}{'struct.':>8}{'inputs':>8}"
        )
        for r in rows:
            if r.task != task:
                continue
            name = r.name + (" *" if r is best else "")
            fitness = "" if r.search_fitness is None else f"{r.search_fitness:.3f}"
            valid = "" if r.validation_fitness is None else f"{r.validation_fitness:.3f}"
            lines.append(
                f"  {name:<28}{r.kendall_tau:>8.3f}  [{r.tau_ci[0]:.3f}, {r.tau_ci[1]:.3f}]"
                f"{'':<1}{r.spearman:>8.3f}  [{r.rho_ci[0]:.3f}, {r.rho_ci[1]:.3f}] {fitness:>8}"
                f"{valid:>8}{yes_no(r.structural):>8}{yes_no(r.reads_inputs):>8}"
            )
    lines.append(
        "  * best classic proxy on the task; fitness: mean search fitness; valid.: fitness on the"
        " validation sample (search split) that chose the reported programs; struct.: yes if the"
        " program's scores change neither between two inits nor between data and noise;"
        " inputs: yes if they change between data and noise at the same init"
    )
    for r in rows:
        if r.program and r.task == rows[0].task:
            label = "EZNAS-A" if r.name == "eznas_a" else r.name  # evolved_2 is registered too
            lines.append(f"  {label}: {r.program}")
    return "\n".join(lines)


def save(path: str | os.PathLike, rows: Sequence[Row], settings: Settings, test_inits: int) -> None:
    """Writes the held-out table to ``path`` (``heldout.json``) atomically; NaN becomes null."""
    doc = {
        "test_inits": test_inits,
        "settings": dataclasses.asdict(settings),
        "rows": to_json(rows),
    }
    save_json(path, doc)


def to_json(rows: Sequence[Row]) -> list[dict]:
    """JSON-ready rows: tuples as lists, non-finite floats as None."""

    def clean(x):
        if isinstance(x, tuple):
            return [clean(v) for v in x]
        if isinstance(x, float) and not np.isfinite(x):
            return None
        return x

    return [{k: clean(v) for k, v in dataclasses.asdict(r).items()} for r in rows]


def run_heldout(
    config: SearchConfig,
    report: HeldoutConfig,
    state: SearchState,
    workdir: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> tuple[list[Candidate], list[Row]]:
    """What ``evolve.py`` reports after a search: its final programs (``final_programs``,
    checked by ``mark_structural``) and their rows on every task's test split next to
    ``report.baselines``; with ``workdir`` the rows are saved there as ``heldout.json``.
    ``([], [])`` when no program was evaluated."""
    tasks = load_tasks(config)
    best = final_programs(
        config, tasks, state, report.top_k, report.candidates, report.validate_archs
    )
    if not best:
        return [], []
    best = mark_structural(config, tasks, best)
    rows = score_test_split(
        config, tasks, best, list(report.baselines), report.test_inits, progress=progress
    )
    if workdir is not None:
        test_inits = report.test_inits or config.settings.num_inits
        save(os.path.join(workdir, HELDOUT), rows, config.settings, test_inits)
    return best, rows
