"""The scores CSV of ``score.py``: written as architectures are scored, read back, resumed.

Layout (comment lines first, then plain CSV, one row per architecture and proxy, arch-major)::

  # zcjax scores v1
  # settings: {"dataset": "cifar10", "proxies": ["params"], ...}
  # note: inputs: cifar10 images, 32x32, batch 64
  index,arch,proxy,score,score_std,target
  7,|nor_conv_3x3~0|+|...|,params,0.8,0.0,85.3

``index`` is the official index (empty where unknown), ``score`` and ``score_std`` the mean and
standard deviation over initialisations (``nan`` marks an invalid score), ``target`` the ground
truth named by ``settings["target"]`` (empty without a benchmark). Readers other than ours skip
the comment lines (pandas: ``comment="#"``).
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zcjax.files import write_atomic

MAGIC = "# zcjax scores v1"
COLUMNS = ("index", "arch", "proxy", "score", "score_std", "target")


class ScoreFileError(ValueError):
    """A scores CSV that cannot be read or resumed; the message names the file."""


@dataclasses.dataclass(frozen=True)
class ScoreFile:
    """The contents of a scores CSV.

    Attributes:
      settings: what was scored and how (the JSON of the ``# settings:`` line).
      notes: the ``# note:`` lines (inputs used, data folder, caveats).
      index: [N] official index per architecture, -1 where unknown.
      arch_strings: [N] architectures in text form, in file order.
      scores, score_std: proxy -> [N] float64 (NaN where a proxy has no row for an arch).
      target: [N] float64 ground truth, or None when the file has none.
      present: proxy -> [N] bool, whether the file has that proxy's row for the arch.
    """

    settings: dict
    notes: list[str]
    index: np.ndarray
    arch_strings: list[str]
    scores: dict[str, np.ndarray]
    score_std: dict[str, np.ndarray]
    target: np.ndarray | None
    present: dict[str, np.ndarray]

    @property
    def target_name(self) -> str:
        return str(self.settings.get("target", "target"))


def header(settings: dict, notes: Sequence[str]) -> str:
    """The comment lines and column header that start a scores CSV."""
    lines = [MAGIC, "# settings: " + json.dumps(settings, sort_keys=True)]
    lines += [f"# note: {n}" for n in notes]
    return "\n".join(lines) + "\n" + ",".join(COLUMNS) + "\n"


def arch_rows(
    index: int, arch: str, scores: dict[str, float], stds: dict[str, float], target: float | None
) -> str:
    """The CSV rows of one architecture, one per proxy in ``scores``' order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    idx = "" if index < 0 else int(index)
    tgt = "" if target is None or np.isnan(target) else repr(float(target))
    for name, value in scores.items():
        writer.writerow([idx, arch, name, repr(float(value)), repr(float(stds[name])), tgt])
    return buf.getvalue()


def _split(path: Path, text: str) -> tuple[dict, list[str], list[list[str]]]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\n") != MAGIC:
        raise ScoreFileError(f"{path} is not a zcjax scores CSV (its first line is not {MAGIC!r}).")
    settings, notes, pos = None, [], 1
    while pos < len(lines) and lines[pos].startswith("#"):
        line = lines[pos].rstrip("\n")
        if line.startswith("# settings: "):
            try:
                settings = json.loads(line[len("# settings: ") :])
            except json.JSONDecodeError as e:
                raise ScoreFileError(f"{path}: damaged settings line ({e}).") from None
        elif line.startswith("# note: "):
            notes.append(line[len("# note: ") :])
        pos += 1
    if settings is None or pos >= len(lines) or lines[pos].rstrip("\n") != ",".join(COLUMNS):
        raise ScoreFileError(f"{path}: no settings line or column header; delete it to rescore.")
    # A run killed mid-write can leave a last line without its newline: it is not a row.
    body = [ln for ln in lines[pos + 1 :] if ln.endswith("\n")]
    rows = list(csv.reader(body))
    bad = [i for i, r in enumerate(rows) if len(r) != len(COLUMNS)]
    if bad:
        raise ScoreFileError(f"{path}: row {pos + 2 + bad[0]} does not have {len(COLUMNS)} fields.")
    return settings, notes, rows


def read(path: str | os.PathLike) -> ScoreFile:
    """Reads a scores CSV written by ``score.py`` (rows of a killed run's last arch included),
    or its gzip (``*.gz``: a whole-space CSV compresses ~13x)."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as f:
                text = f.read()
        else:
            text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScoreFileError(f"cannot read scores CSV {path}: {e.strerror or e}.") from None
    settings, notes, rows = _split(path, text)
    archs: dict[str, int] = {}
    index, target, proxies = [], [], []
    for idx, arch, proxy, _, _, tgt in rows:
        if arch not in archs:
            archs[arch] = len(archs)
            index.append(int(idx) if idx else -1)
            target.append(float(tgt) if tgt else np.nan)
        if proxy not in proxies:
            proxies.append(proxy)
    scores = {p: np.full(len(archs), np.nan) for p in proxies}
    stds = {p: np.full(len(archs), np.nan) for p in proxies}
    present = {p: np.zeros(len(archs), bool) for p in proxies}
    try:
        for _, arch, proxy, score, std, _ in rows:
            scores[proxy][archs[arch]] = float(score)
            stds[proxy][archs[arch]] = float(std)
            present[proxy][archs[arch]] = True
    except ValueError as e:
        raise ScoreFileError(f"{path}: a score is not a number ({e}).") from None
    target_arr = np.array(target, np.float64)
    return ScoreFile(
        settings=settings,
        notes=notes,
        index=np.array(index, np.int64),
        arch_strings=list(archs),
        scores=scores,
        score_std=stds,
        target=None if np.all(np.isnan(target_arr)) else target_arr,
        present=present,
    )


def completed(
    path: str | os.PathLike, settings: dict, arch_strings: Sequence[str], proxies: Sequence[str]
) -> tuple[int, ScoreFile | None]:
    """What an earlier run with the same ``settings`` finished in ``path``: how many of
    ``arch_strings`` (the longest prefix with a row for every proxy; 0 when there is no file)
    and the file as read (None when there is none).

    Refuses (ScoreFileError) a file written with other settings, naming the first difference.
    """
    path = Path(path)
    if not path.exists():
        return 0, None
    done = read(path)
    if done.settings != settings:
        keys = sorted(set(done.settings) | set(settings))
        diff = next(k for k in keys if done.settings.get(k) != settings.get(k))
        raise ScoreFileError(
            f"{path} was written with other settings ({diff}: {done.settings.get(diff)!r} there, "
            f"{settings.get(diff)!r} now); use another --output or delete it to rescore."
        )
    rows = {a: i for i, a in enumerate(done.arch_strings)}
    count = 0
    for arch in arch_strings:
        i = rows.get(arch)
        if i is None or not all(p in done.present and done.present[p][i] for p in proxies):
            break
        count += 1
    return count, done


def start(path: str | os.PathLike, settings: dict, notes: Sequence[str], rows: str = "") -> None:
    """Writes the header and ``rows`` (arch_rows output) to ``path`` atomically."""
    write_atomic(path, header(settings, notes) + rows)


def append(path: str | os.PathLike, rows: str) -> None:
    """Appends one architecture's rows and flushes them, so a killed run keeps them."""
    with open(path, "a", encoding="utf-8", newline="") as f:
        f.write(rows)
        f.flush()
