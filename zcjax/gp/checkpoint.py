"""A search's work folder: ``checkpoint.json`` (config and state) and ``history.jsonl``, written
atomically as plain JSON (no pickle), and resumed. In a multi-process search only process 0
writes (``zcjax.distributed.is_writer``); every process resumes from the folder, which must
then be on a filesystem all hosts see."""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from zcjax import distributed
from zcjax.files import write_atomic
from zcjax.gp.config import SearchConfig
from zcjax.gp.state import SearchState
from zcjax.settings import NOT_RECORDED


def save_json(path: str | os.PathLike, obj) -> None:
    """``obj`` as JSON (floats written exactly, as ``repr`` does), atomically; on process 0
    only."""
    if not distributed.is_writer():
        return
    write_atomic(path, json.dumps(obj, indent=1, allow_nan=False) + "\n")


class CheckpointError(ValueError):
    """A work-folder file that cannot be read back: damaged, or not of the expected form."""


def load_json(path: str | os.PathLike):
    """The JSON document at ``path``; CheckpointError naming the file if it is not valid JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, RecursionError) as e:  # bad JSON or UTF-8, nesting too deep
        raise CheckpointError(f"{path} is damaged: not valid JSON ({e})") from None


def save_jsonl(path: str | os.PathLike, records) -> None:
    """One JSON object per line, atomically (the whole file is rewritten); on process 0 only."""
    if not distributed.is_writer():
        return
    write_atomic(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in records))


CHECKPOINT = "checkpoint.json"
HISTORY = "history.jsonl"
HELDOUT = "heldout.json"  # the held-out table (``heldout.save``), written after the search
_FORMAT = 1


def save(workdir: str | os.PathLike, config: SearchConfig, state: SearchState) -> None:
    """Writes ``history.jsonl`` then ``checkpoint.json``, each atomically; the checkpoint is
    the source of truth (a history rewritten ahead of it is rewritten again on resume)."""
    save_jsonl(os.path.join(workdir, HISTORY), state.history)
    doc = {
        "format": _FORMAT,
        "config": config.to_json(),
        "key": np.asarray(jax.random.key_data(jax.random.key(config.seed))).tolist(),
        "state": state.to_json(),
    }
    save_json(os.path.join(workdir, CHECKPOINT), doc)


def resume(workdir: str | os.PathLike, config: SearchConfig) -> SearchState | None:
    """The state saved in ``workdir``, or None if there is none.

    Raises ValueError if the folder holds a search with other settings (only ``generations``
    may change, to extend a finished run).
    """
    found = _read_workdir(workdir)
    if found is None:
        return None
    saved, state = found
    saved, now = search_settings(saved), search_settings(config)
    differ = sorted(k for k in now if k != "generations" and saved.get(k) != now[k])
    if differ:
        details = "; ".join(f"{k}: saved {saved.get(k)!r}, now {now[k]!r}" for k in differ)
        raise ValueError(
            f"{workdir} holds a search with other settings ({details}). Use another workdir "
            "or the same settings to resume."
        )
    save_jsonl(os.path.join(workdir, HISTORY), state.history)
    return state


def search_settings(config: SearchConfig) -> dict:
    """``config`` as JSON without where the data lives and how many architectures run
    together, which do not change the numbers: what a search must match (``generations``
    aside) to resume another."""
    d = config.to_json()
    d["settings"] = {k: v for k, v in d["settings"].items() if k not in NOT_RECORDED}
    return d


def saved_config(workdir: str | os.PathLike) -> SearchConfig | None:
    """The settings of the search saved in ``workdir`` (None if there is none), as it ran:
    fields newer than the checkpoint read back as that search had them (``from_json``)."""
    found = _read_workdir(workdir)
    return None if found is None else found[0]


def _read_workdir(workdir: str | os.PathLike) -> tuple[SearchConfig, SearchState] | None:
    path = os.path.join(workdir, CHECKPOINT)
    if not os.path.exists(path):
        return None
    try:
        return read_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(
            f"{e}; delete it to start the search afresh, or use another workdir."
        ) from None


def read_checkpoint(path: str | os.PathLike) -> tuple[SearchConfig, SearchState]:
    """The config and state saved at ``path``; CheckpointError (a ValueError) naming the file
    if it is damaged or not a checkpoint of this format."""
    doc = load_json(path)
    if not isinstance(doc, dict):
        raise CheckpointError(f"{path} is damaged: a JSON {type(doc).__name__}, not an object")
    if doc.get("format") != _FORMAT:
        raise CheckpointError(
            f"{path} has checkpoint format {doc.get('format')!r}; this code reads {_FORMAT}"
        )
    parts = []
    for name, cls in (("config", SearchConfig), ("state", SearchState)):
        try:
            if not isinstance(doc.get(name), dict):
                raise TypeError("missing or not an object")
            parts.append(cls.from_json(doc[name]))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            lines = str(e).splitlines() or [type(e).__name__]  # a ProgramError's first line
            why = f"no {e} entry" if isinstance(e, KeyError) else lines[0]
            raise CheckpointError(f"{path} is damaged: bad {name!r} ({why})") from None
    return tuple(parts)
