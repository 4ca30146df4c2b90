"""The evolved programs to recommend from one or more searches, and their registry entries.

  python experiments/recommend.py --workdirs=results/gp/discover_seed0,results/gp/discover_seed1

Lists every generation's best program, best validation fitness first (fitness on each search's
fixed validation sample of its search split; no test architecture is seen), and prints the
``ProgramSpec`` entries for ``zcjax/program/registry.py``: ``evolved`` (the first), then
``evolved_2``, ... for the runners-up, each with its search command, seed and generation.

``--references='net_mean(...);log_params;ensemble2(...)'`` also scores known programs on the
first search's validation sample with its fitness, to compare its best with hand design.

``--confirm_top=K --confirm_archs=500`` re-scores the first K on a fresh confirmation sample
of 500 search-split architectures per task (one per seed) and ranks them by that: the
validation sample chose each generation's best, so its top values are biased upwards. The
registry entries then follow the confirmed order.

``--per_generation=K`` adds each generation's next fittest programs on its promotion sample
(up to K a generation; e.g. weightings the climb made that were not the best there). Only
bests have a validation fitness, so these are compared by ``--confirm_top``.

``--test_archs_dir=DIR`` writes each search's test split per space
(``DIR/<space>_seed<S>_test.txt``), the architectures its fitness never saw, for a held-out
report scored in resumable parts with ``score.py --archs_file`` (see ``results/heldout``).
"""

from __future__ import annotations

import math
import sys

import cli
from absl import app, flags

from zcjax.gp import checkpoint
from zcjax.gp.checkpoint import CheckpointError
from zcjax.gp.heldout import write_test_splits
from zcjax.gp.recommend import confirm, recommend, reference_fitness
from zcjax.program import parse

FLAGS = flags.FLAGS
flags.DEFINE_list("workdirs", None, "Work folders of evolve.py searches (comma-separated).")
flags.DEFINE_integer(
    "per_generation",
    1,
    "Candidates per generation: its best, and with > 1 its next fittest on the promotion "
    "sample (unvalidated; confirm them with --confirm_top).",
)
flags.DEFINE_integer("top", 3, "Entries to print for the registry: evolved, evolved_2, ...")
flags.DEFINE_string(
    "references",
    None,
    "Programs (semicolon-separated text) to score on the first search's validation sample.",
)
flags.DEFINE_integer(
    "confirm_top", 0, "Re-score this many of the best on the confirmation sample (0: off)."
)
flags.DEFINE_integer(
    "confirm_archs", 500, "Architectures per task of the confirmation sample (search split)."
)
flags.DEFINE_string(
    "test_archs_dir",
    None,
    "Folder to write each search's test split to, per space: <space>_seed<S>_test.txt.",
)


def main(argv):
    del argv
    if not FLAGS.workdirs:
        sys.exit("error: give --workdirs=results/gp/discover_seed0,...")
    try:
        recs = recommend(FLAGS.workdirs, FLAGS.per_generation)
    except (FileNotFoundError, CheckpointError, ValueError) as e:
        sys.exit(f"error: {e}")
    if not recs:
        sys.exit("error: no generation has a validation fitness (validation_archs was 0?)")
    print("| rank | validation | search | seed | gen | program |")
    print("|---|---|---|---|---|---|")
    for i, r in enumerate(recs, 1):
        print(
            f"| {i} | {r.validation_fitness:+.3f} | {r.search_fitness:+.3f} | {r.seed} "
            f"| {r.generation} | `{r.program}` |"
        )
    if FLAGS.references:
        print_references(FLAGS.workdirs[0], FLAGS.references)
    if FLAGS.test_archs_dir:
        write_splits(FLAGS.workdirs, FLAGS.test_archs_dir)
    confirmed = {}
    if FLAGS.confirm_top > 0:
        try:
            done = confirm(
                FLAGS.workdirs,
                recs[: FLAGS.confirm_top],
                FLAGS.confirm_archs,
                on_seed=lambda seed, n: print(
                    f"scoring {n} programs of seed {seed} on its confirmation sample", flush=True
                ),
            )
        except ValueError as e:
            sys.exit(f"error: {e}")
        print(f"\n# confirmed on {FLAGS.confirm_archs} search-split archs per task (per seed)")
        print(
            "| rank | confirmed | validation | seed | gen | "
            + " | ".join(done[0].tasks)
            + " | program |"
        )
        print("|---" * (len(done[0].tasks) + 6) + "|")
        for i, c in enumerate(done, 1):
            taus = " | ".join(f"{t:.3f}" for t in c.taus)
            print(
                f"| {i} | {c.fitness:+.3f} | {c.rec.validation_fitness:+.3f} | {c.rec.seed} "
                f"| {c.rec.generation} | {taus} | `{c.rec.program}` |"
            )
        confirmed = {c.rec.program: c.fitness for c in done}
        recs = [c.rec for c in done] + recs[FLAGS.confirm_top :]  # the rest unconfirmed
    print("\n# registry entries (zcjax/program/registry.py, PROGRAMS):")
    for i, r in enumerate(recs[: FLAGS.top]):
        name = "evolved" if i == 0 else f"evolved_{i + 1}"
        extra = (
            f"            confirmation_fitness={confirmed[r.program]:.4f},\n"
            if r.program in confirmed
            else ""
        )
        runner_up = math.isnan(r.validation_fitness)
        which = "a runner-up" if runner_up else "best"
        valid = "None" if runner_up else f"{r.validation_fitness:.4f}"
        print(
            f'    "{name}": ProgramSpec(\n'
            f'        "{r.program}",\n'
            f'        "evolved (issue 14): {which} of generation {r.generation}, seed {r.seed}",\n'
            f"        origin=Origin(\n"
            f'            "{r.command}",\n'
            f"            seed={r.seed},\n"
            f"            generation={r.generation},\n"
            f"            validation_fitness={valid},\n"
            f"{extra}"
            f"        ),\n"
            f"    ),"
        )


def write_splits(workdirs, out_dir: str) -> None:
    seen = set()
    for workdir in workdirs:
        try:
            config = checkpoint.saved_config(workdir)
            if (config.seed, config.test_archs, config.tasks) in seen:
                continue
            seen.add((config.seed, config.test_archs, config.tasks))
            for path in write_test_splits(config, out_dir):
                print(f"wrote {path} (test split of {workdir})")
        except (ValueError, OSError) as e:
            sys.exit(f"error: {e}")


def print_references(workdir: str, text: str) -> None:
    try:
        programs = [parse(t) for t in cli.program_texts(text)]
        config = checkpoint.saved_config(workdir)
        fitness, taus, tasks = reference_fitness(config, programs)
    except ValueError as e:
        sys.exit(f"error: {e}")
    print(f"\n# references on the validation sample of {workdir} (seed {config.seed})")
    print("| fitness | " + " | ".join(tasks) + " | program |")
    print("|---" * (len(tasks) + 2) + "|")
    for p, f, row in zip(programs, fitness, taus):
        cells = " | ".join(f"{t:.3f}" for t in row)
        print(f"| {f:+.3f} | {cells} | `{p}` |")


if __name__ == "__main__":
    app.run(main)
