"""Atomic plain-text files for a search's work folder: JSON documents and JSON lines (no pickle)."""

from __future__ import annotations

import json
import os

from zcjax.files import write_atomic


def save_json(path: str | os.PathLike, obj) -> None:
    """``obj`` as JSON (floats written exactly, as ``repr`` does), atomically."""
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
    """One JSON object per line, atomically (the whole file is rewritten)."""
    write_atomic(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in records))
