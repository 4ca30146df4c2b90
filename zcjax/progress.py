"""Progress lines for long runs: done / total, rate and time left."""

from __future__ import annotations

import time
from collections.abc import Callable

Progress = Callable[[str, int, int], None]


def format_progress(what: str, done: int, total: int, rate: float | None) -> str:
    """``"120/300 archs (40%), 2.40 archs/s, 1m15s left"``; rate in items per second."""
    pct = 100.0 * done / total if total else 100.0
    line = f"{done}/{total} {what} ({pct:.0f}%)"
    if rate is None or rate <= 0:
        return line
    per = f"{rate:.2f} {what}/s" if rate >= 1 else f"{1 / rate:.2f} s per {what.rstrip('s')}"
    return f"{line}, {per}, {format_seconds((total - done) / rate)} left"


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def printer(
    emit: Callable[[str], None], every_s: float = 10.0, clock: Callable[[], float] = time.monotonic
) -> Progress:
    """A ``progress(what, done, total)`` callback that emits a line at most every ``every_s``
    seconds and at the end. The rate counts only what this call did, after its first item:
    the first report (e.g. a resumed run starting at 120/300) is the origin, and the first
    item after it (which pays for compilation) is left out of the rate and the time left."""
    origin: dict[str, tuple[float, int]] = {}
    first: dict[str, tuple[float, int]] = {}
    last = [-float("inf")]

    def progress(what: str, done: int, total: int) -> None:
        now = clock()
        if what not in origin:
            origin[what] = (now, done)
            if done and done < total:
                emit(f"resuming at {done}/{total} {what}")
            last[0] = now
            if done < total:
                return
        if what not in first and done > origin[what][1]:
            first[what] = (now, done)
        t1, d1 = first.get(what, origin[what])
        if done < total and now - last[0] < every_s:
            return
        last[0] = now
        rate = (done - d1) / (now - t1) if now > t1 and done > d1 else None
        emit(format_progress(what, done, total, rate))

    return progress
