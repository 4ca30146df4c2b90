"""Sweep files: reading official (``.json``) and compact (``.jsonl``) NDS record files into
``Record``s, finding a sweep's file in the data folder (``sweep_file``, ``available_spaces``)
and loading a sweep as a ``Benchmark`` (``load_benchmark``).
"""

from __future__ import annotations

import functools
import gzip
import math
import os

import numpy as np

from zcjax.data import DataNotFoundError, Table, data_file, find_data_dir, no_data_hint
from zcjax.spaces.benchmark import Benchmark
from zcjax.spaces.nds.nets import _int, _json, _show, check_net
from zcjax.spaces.nds.schema import (
    MAX_COUNT,
    MAX_IDX,
    SPACE_FILES,
    Model,
    NdsError,
    Record,
    canonical,
)


def record_from_official(idx: int, raw: dict, split: str = "") -> Record:
    """A record of an official NDS json file (per-epoch curves) in our form."""
    try:
        _need_object(raw)
        errors = raw["test_ep_top1"]
        if not isinstance(errors, list) or not errors:
            raise NdsError(f"'test_ep_top1' must be a non-empty list, got {_show(errors)}.")
        errors = [_number(e, "'test_ep_top1' entry") for e in errors]
        return Record(
            idx=idx,
            acc=round(100.0 - errors[-1], 6),
            acc_best=round(
                100.0 - _number(raw.get("min_test_top1", min(errors)), "'min_test_top1'"), 6
            ),
            net=_checked_net(raw["net"]),
            params=_int(raw["params"], "'params'", 0, MAX_COUNT),
            flops=_int(raw["flops"], "'flops'", 0, MAX_COUNT),
            epochs=len(errors),
            split=split,
        )
    except KeyError as e:
        raise NdsError(f"official NDS record {idx}: missing field {e}.") from None
    except NdsError as e:
        raise NdsError(f"official NDS record {idx}: {e}") from None


def record_from_compact(raw: dict) -> Record:
    """A record of our ``*.jsonl`` files (SCHEMA.md)."""
    name = "NDS record"
    try:
        _need_object(raw)
        name = f"NDS record {_show(raw.get('idx', '?'))}"
        split = raw.get("split", "")
        if not isinstance(split, str):
            raise NdsError(f"'split' must be a string, got {_show(split)}.")
        return Record(
            idx=_int(raw["idx"], "'idx'", 0, MAX_IDX),
            acc=_number(raw["acc"], "'acc'"),
            acc_best=_number(raw.get("acc_best", raw["acc"]), "'acc_best'"),
            net=_checked_net(raw["net"]),
            params=_int(raw["params"], "'params'", 0, MAX_COUNT),
            flops=_int(raw["flops"], "'flops'", 0, MAX_COUNT),
            epochs=_int(raw.get("epochs", 0), "'epochs'", 0, MAX_COUNT),
            split=split,
        )
    except KeyError as e:
        raise NdsError(f"{name}: missing field {e}.") from None
    except NdsError as e:
        raise NdsError(f"{name}: {e}") from None


def _need_object(raw) -> None:
    if not isinstance(raw, dict):
        raise NdsError(f"a record is a JSON object, got {type(raw).__name__}.")


def _checked_net(net) -> dict:
    try:
        check_net(net)
    except NdsError as e:
        raise NdsError(f"bad 'net': {e}") from None
    return net


def _number(value, what: str) -> float:
    """``value`` as a float if it is a finite number (not a bool); else NdsError."""
    if not isinstance(value, bool) and isinstance(value, int | float):
        x = float(value) if abs(value) < 1e300 else math.inf
        if math.isfinite(x):
            return x
    raise NdsError(f"{what} must be a finite number, got {_show(value)}.")


def read_records(path: str | os.PathLike) -> list[Record]:
    """Records of an NDS sweep file: our ``.jsonl`` (one record per line) or an official
    ``.json`` (a list, or ``{"top": [...], "mid": [...]}`` read as ``top + mid``); ``.gz`` ok."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            text = f.read()
        if path.removesuffix(".gz").endswith(".jsonl"):
            lines = enumerate(text.splitlines(), 1)
            records = [_compact_line(n, ln) for n, ln in lines if ln.strip()]
        else:
            records = _official_records(_json(text))
    except (NdsError, UnicodeDecodeError, gzip.BadGzipFile, EOFError) as e:
        raise NdsError(f"{path}: {e}") from None
    if not records:
        raise NdsError(f"{path} holds no records.")
    return records


def _compact_line(number: int, line: str) -> Record:
    try:
        return record_from_compact(_json(line))
    except NdsError as e:
        raise NdsError(f"line {number}: {e}") from None


def _official_records(raw) -> list[Record]:
    if isinstance(raw, dict) and set(raw) == {"top", "mid"}:
        if not all(isinstance(raw[k], list) for k in ("top", "mid")):
            raise NdsError("'top' and 'mid' must be lists of records.")
        pairs = [(r, "top") for r in raw["top"]] + [(r, "mid") for r in raw["mid"]]
    elif isinstance(raw, list):
        pairs = [(r, "") for r in raw]
    else:
        raise NdsError("expected a list of records or {'top', 'mid'} lists.")
    return [record_from_official(i, r, s) for i, (r, s) in enumerate(pairs)]


_EXTENSIONS = (".jsonl", ".jsonl.gz", ".json", ".json.gz")


def sweep_file(stem: str, data_dir=None) -> str:
    """Path of sweep ``stem``: ``nds/<stem>.jsonl`` or an official ``nds/<stem>.json``."""
    root = find_data_dir(data_dir)
    if root is None:
        raise DataNotFoundError(f"No data folder found for NDS {stem!r}: {no_data_hint()}")
    for ext in _EXTENSIONS:
        if (root / "nds" / f"{stem}{ext}").is_file():
            return str(root / "nds" / f"{stem}{ext}")
    return str(data_file(f"nds/{stem}.jsonl", data_dir))  # raises, naming the file


@functools.lru_cache(maxsize=32)
def _records(path: str) -> tuple[Record, ...]:
    return tuple(read_records(path))


def load_benchmark(stem: str, data_dir=None) -> Benchmark:
    """Sweep ``stem`` as a Benchmark: archs are ``Model``s, index = ``idx``, columns
    ``acc``, ``acc_best``, ``params``, ``flops``, ``epochs``."""
    records = _records(sweep_file(stem, data_dir))
    table = Table(
        {
            "index": np.array([r.idx for r in records]),
            "acc": np.array([r.acc for r in records]),
            "acc_best": np.array([r.acc_best for r in records]),
            "params": np.array([r.params for r in records]),
            "flops": np.array([r.flops for r in records]),
            "epochs": np.array([r.epochs for r in records]),
        },
        source=f"nds/{stem}",
    )
    archs = [Model(r.idx, canonical(r.net)) for r in records]
    return Benchmark(archs=archs, index=table["index"], table=table)


def available_spaces(data_dir=None) -> list[str]:
    """Names of the NDS spaces whose sweep file is in the data folder."""
    root = find_data_dir(data_dir)
    if root is None:
        return []
    found = []
    for name, stem in SPACE_FILES.items():
        if any((root / "nds" / f"{stem}{ext}").is_file() for ext in _EXTENSIONS):
            found.append(name)
    return found
