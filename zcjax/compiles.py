"""Counting XLA compilations, to prove that scoring new architectures does not recompile."""

from __future__ import annotations

import contextlib
import dataclasses
import threading

from jax import monitoring

_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
_COMPILE_STAGES = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    _BACKEND_COMPILE,
)
_lock = threading.Lock()
_active: list[CompileCount] = []
_registered = False


@dataclasses.dataclass
class CompileCount:
    """Compilations seen so far: ``count`` XLA compiles, ``seconds`` tracing+lowering+compiling."""

    count: int = 0
    seconds: float = 0.0


def _listener(name: str, duration: float, **kwargs) -> None:
    if name not in _COMPILE_STAGES:
        return
    with _lock:
        for c in _active:
            c.seconds += duration
            c.count += name == _BACKEND_COMPILE


@contextlib.contextmanager
def count_compiles():
    """``with count_compiles() as c: ...`` then ``c.count`` compilations happened inside."""
    global _registered
    with _lock:
        if not _registered:
            monitoring.register_event_duration_secs_listener(_listener)
            _registered = True
        counter = CompileCount()
        _active.append(counter)
    try:
        yield counter
    finally:
        with _lock:
            _active.remove(counter)
