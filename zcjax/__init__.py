"""zcjax: zero-cost proxies for neural architecture search in JAX.

The entry points, imported on first use (so ``import zcjax`` itself loads nothing heavy)::

  import zcjax
  result = zcjax.score("nb201", ["eznas_a", "synflow"], num_archs=50, batch_size=16)
  print(result.correlations()["eznas_a"]["spearman"])   # against cifar10_valid
  program = zcjax.parse("mean( abs(relu_in_grad@data) )")
  print(program)                                        # canonical text: mean(abs(...))
  state = zcjax.search("smoke", workdir="runs/smoke")   # GP search, resumable

- ``score``: architectures of a space with named proxies and programs (``ScoreResult``).
- ``parse``: program text to a ``Program``; ``str(program)`` prints it back.
- ``search``: EZNAS's GP search (``SearchConfig``, ``get_config``), checkpointed.
- ``Settings``: how networks are run (batch size, inits, inputs, init scheme).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "score": "zcjax.api",
    "search": "zcjax.api",
    "parse": "zcjax.program.tree",
    "Program": "zcjax.program.tree",
    "Settings": "zcjax.settings",
    "ScoreConfig": "zcjax.scoring",
    "ScoreResult": "zcjax.scoring",
    "SearchConfig": "zcjax.gp.config",
    "get_config": "zcjax.gp.config",
    "PROXIES": "zcjax.proxies",
    "SPACES": "zcjax.spaces",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zcjax' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
