"""glibc's allocator, set for this workload: one arena, freed memory kept for reuse.

A search or a scoring run allocates and frees the same few hundred MB of activations,
statistics and NumPy intermediates over and over, from several threads (XLA's pool, the
statistics thread, the program threads). With glibc's defaults each thread's arena keeps its
own free memory and gives freed tops back to the kernel, which zero-fills them page by page when
they are used again: ~2M page faults a minute in ``benchmark.py --parts=gp``. ``tune_malloc``
sets, through glibc's ``mallopt``:

- one arena (``M_ARENA_MAX``): every thread reuses the same free memory;
- a 1 GiB trim threshold and a 64 MiB top pad: freed memory stays mapped for the next
  allocation instead of going back to the kernel;
- a fixed 32 MiB mmap threshold: buffers up to that size come from the heap.

Measured (2026-12-07, 2-core Intel Xeon, 50 random programs on 20 NB201 archs): peak resident
memory 4.9 GB instead of 6.8-8.7 GB, page faults of a warm pass 2,000-371,000 instead of
1.8-2.0M, speed the same within the machine's spread (the kernel time saved goes to the one
arena's contention). Scores do not depend on it: it changes where buffers live, not what is
computed. Call it before anything computes (the ``experiments/`` scripts do, ``--tune_malloc``);
threads that already run keep their arenas. Elsewhere than glibc it does nothing, and it leaves
the allocator alone when the environment already sets it (``MALLOC_*_``, ``GLIBC_TUNABLES``).
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt's parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

# (parameter, value, what it is called in the line ``tune_malloc`` returns)
SETTINGS = (
    (M_ARENA_MAX, 1, "one arena"),
    (M_TRIM_THRESHOLD, 1 << 30, "trim threshold 1 GiB"),
    (M_TOP_PAD, 64 << 20, "top pad 64 MiB"),
    (M_MMAP_THRESHOLD, 32 << 20, "mmap threshold 32 MiB"),
)
ENV_VARS = (
    "MALLOC_ARENA_MAX",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_THRESHOLD_",
    "GLIBC_TUNABLES",
)


def _mallopt():
    """glibc's ``mallopt``, or None (not Linux, not glibc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # glibc's; musl's mallopt does nothing
            return None
        fn = libc.mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return fn


def tune_malloc() -> str:
    """Sets glibc's allocator as the module docstring says, unless the environment sets it
    already; returns the line to print (what was done, or why not)."""
    mallopt = _mallopt()
    if mallopt is None:
        return "allocator: left as is (not glibc)"
    given = [v for v in ENV_VARS if v in os.environ]
    if given:
        return f"allocator: left as is ({', '.join(given)} set in the environment)"
    failed = [name for param, value, name in SETTINGS if mallopt(param, value) != 1]
    if failed:
        return f"allocator: glibc refused {', '.join(failed)}"
    return "allocator: glibc, " + ", ".join(name for _, _, name in SETTINGS)
