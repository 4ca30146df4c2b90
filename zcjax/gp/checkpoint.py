"""Atomic plain-text files for a search's work folder: JSON documents and JSON lines (no pickle)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` to ``path`` so that a reader (or a run killed at any moment) sees either
    the old file or the new one, never a part: a temporary file in the same folder, flushed
    and fsynced, then renamed over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_json(path: str | os.PathLike, obj) -> None:
    """``obj`` as JSON (floats written exactly, as ``repr`` does), atomically."""
    write_atomic(path, json.dumps(obj, indent=1, allow_nan=False) + "\n")


def load_json(path: str | os.PathLike):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_jsonl(path: str | os.PathLike, records) -> None:
    """One JSON object per line, atomically (the whole file is rewritten)."""
    write_atomic(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in records))
