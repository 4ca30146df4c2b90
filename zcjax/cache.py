"""JAX's persistent compilation cache: where it goes, and turning it on or off.

Scoring and searching compile many small kernels (~55 ms each on a CPU); a populated cache
loads them instead, so repeated runs skip most compilation. The folder is, in order,
``$ZCJAX_CACHE``, ``$XDG_CACHE_HOME/zcjax/xla``, ``~/.cache/zcjax/xla``; ``ZCJAX_CACHE=none``
turns the default off. Call ``enable_compilation_cache`` before anything compiles: JAX reads
these settings once, at its first compilation. ``clear_compiled`` drops the compiled kernels
held in memory (they reload from the folder).
"""

from __future__ import annotations

import os

import jax

ENV_VAR = "ZCJAX_CACHE"
OFF = ("", "none")


def default_cache_dir() -> str:
    """``$ZCJAX_CACHE`` if set, else ``$XDG_CACHE_HOME/zcjax/xla`` (an absolute
    ``XDG_CACHE_HOME`` only, as the XDG spec asks), else ``~/.cache/zcjax/xla``."""
    path = os.environ.get(ENV_VAR)
    if path:
        return path
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "zcjax", "xla")


def enable_compilation_cache(path: str | None = None) -> str | None:
    """Keeps every compiled kernel, however small, in the folder ``path`` (None: the
    ``default_cache_dir()``), creating it; returns its absolute path. ``"none"`` or ``""``
    turns the cache off, also one JAX would use from ``$JAX_COMPILATION_CACHE_DIR``, and
    returns None. A folder that cannot be created or written is a ValueError."""
    if path is None:
        path = default_cache_dir()
    if path.strip().lower() in OFF:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    path = os.path.abspath(os.path.expanduser(path))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ValueError(
            f"Compilation cache folder {path} cannot be created ({reason}); "
            "give another folder, or 'none' for no cache."
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(
            f"Compilation cache folder {path} is not writable; give another folder, "
            "or 'none' for no cache."
        )
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


MAX_MAP_COUNT = "/proc/sys/vm/max_map_count"


def mapped_fraction() -> float | None:
    """The fraction of Linux's per-process limit on memory mappings (``vm.max_map_count``)
    this process holds; None where ``/proc`` does not tell (other systems)."""
    try:
        with open(MAX_MAP_COUNT) as f:
            limit = int(f.read())
        with open("/proc/self/maps", "rb") as f:
            held = sum(1 for _ in f)
    except (OSError, ValueError):
        return None
    return held / limit if limit > 0 else None


def clear_compiled() -> None:
    """Drops every compiled kernel held in memory (``jax.clear_caches``: every jitted
    function's executables). Later calls reload them from the persistent cache (or compile
    them again)."""
    jax.clear_caches()


def clear_compiled_if_mapped(fraction: float = 0.5) -> bool:
    """``clear_compiled()`` if this process holds more than ``fraction`` of its memory
    mappings; whether it did.

    A search runs new programs on new stack shapes all the time, and each CPU executable
    keeps three mappings (code, constants, data): a search loaded ~4,000 kernels in one minute
    of a generation, and one that never cleared them aborted (``LLVM ERROR: Unable to
    allocate section memory``) at Linux's default limit of 65,530. ``gp.evaluate`` calls this
    after every chunk of architectures.
    """
    held = mapped_fraction()
    if held is None or held <= fraction:
        return False
    clear_compiled()
    return True
