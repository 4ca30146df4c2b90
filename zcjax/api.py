"""The few entry points a Python user calls; ``import zcjax`` exposes them (see ``zcjax``).

The scripts in ``experiments/`` are thin absl mains over the same functions and configs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Hashable, Sequence

from zcjax.gp import search as gp_search
from zcjax.gp.config import SearchConfig, get_config
from zcjax.gp.state import SearchState
from zcjax.recipe import Progress
from zcjax.scoring import ScoreConfig, ScoreResult, run_scoring
from zcjax.settings import Settings


def score(
    space: str = "nb201",
    proxies: Sequence[str] | str = ("params", "flops"),
    *,
    archs: Sequence[Hashable | str] | None = None,
    dataset: str = "",
    programs: Sequence[str] = (),
    num_archs: int = 100,
    seed: int = 0,
    target: str | None = None,
    output: str | os.PathLike | None = None,
    progress: Progress | None = None,
    **settings,
) -> ScoreResult:
    """Scores architectures of ``space`` with named ``proxies`` and program texts.

    Args:
      space: a search space of ``zcjax.spaces.SPACES``, e.g. "nb201", "nds_darts_in".
      proxies: names in ``zcjax.proxies.PROXIES`` (a list or "a,b,c").
      archs: the architectures (objects or strings); None samples ``num_archs`` with ``seed``.
      dataset: "" for the space's first.
      programs: proxy programs as text, scored like registered proxies.
      output: a scores CSV written as architectures are scored (a rerun resumes it).
      **settings: fields of ``zcjax.Settings`` (batch_size, num_inits, inputs, weight_init, ...).

    Returns:
      a ``ScoreResult``: ``.scores[proxy]`` [N] arrays, ``.records()`` one dict per
      architecture, ``.correlations()`` against the benchmark's ``target`` column.
    """
    if isinstance(proxies, str):
        proxies = [p.strip() for p in proxies.split(",") if p.strip()]
    config = ScoreConfig(
        space=space,
        dataset=dataset,
        proxies=tuple(proxies),
        programs=tuple(programs),
        target=target,
        num_archs=num_archs,
        seed=seed,
        settings=Settings(**settings),
    )
    return run_scoring(config, progress, output, archs)


def search(
    config: SearchConfig | str = "default",
    workdir: str | os.PathLike | None = None,
    progress: gp_search.Progress | None = None,
    **fields,
) -> SearchState:
    """Runs (or, with ``workdir`` holding a checkpoint, resumes) a GP search for proxy programs.

    ``config`` is a ``SearchConfig`` or the name of one (``zcjax.gp.config.CONFIGS``:
    "default", "eznas", "discover", "smoke"); ``fields`` replace its fields. Returns the final ``SearchState``
    (``.history`` per generation, ``.archive`` of every evaluated program);
    ``zcjax.gp.heldout.final_programs`` picks the best.
    """
    if isinstance(config, str):
        config = get_config(config).search
    config = dataclasses.replace(config, **fields)
    return gp_search.run(config, None if workdir is None else os.fspath(workdir), progress)
