"""Flags made from the library's config dataclasses: each setting, its default and its help
are written once, in the dataclass and its docstring's ``Attributes:`` section.

A script defines one flag per field of a config *instance* (the flag's default is that
instance's value), then builds its config from a base instance: fields whose flag was given on
the command line take the flag's value, the others the base's. With a named config (evolve.py's
``--config=smoke``) the base is that config, so its values apply unless a flag overrides them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

from absl import flags

from zcjax import allocator, cache, distributed
from zcjax.proxies import split_names

FLAGS = flags.FLAGS
_AUTO = {"auto": None, "true": True, "false": False}


def field_docs(cls) -> dict[str, str]:
    """``{field: help}`` from the ``Attributes:`` section of ``cls``'s docstring (Google style:
    ``name: text`` or ``a, b: text``, continuation lines indented deeper)."""
    doc = cls.__doc__ or ""
    if "Attributes:" not in doc:
        return {}
    out: dict[str, str] = {}
    current: list[str] = []
    for line in doc.split("Attributes:", 1)[1].splitlines():
        m = re.match(r"^\s{4,6}([a-z_][a-z_0-9]*(?:, [a-z_][a-z_0-9]*)*): (.*)$", line)
        if m:
            current = m.group(1).split(", ")
            for name in current:
                out[name] = m.group(2).strip()
        elif line.strip() and current:
            for name in current:
                out[name] += " " + line.strip()
        elif not line.strip() and out:
            current = []
    return out


@dataclasses.dataclass(frozen=True)
class Text:
    """A field given as one text flag: ``format`` its value as text, ``parse`` it back."""

    format: Callable[[object], str]
    parse: Callable[[str], object]


def program_texts(text: str) -> tuple[str, ...]:
    """Programs given in one flag, separated by semicolons (program texts hold commas)."""
    return tuple(t.strip() for t in text.split(";") if t.strip())


PROGRAMS = Text(";".join, program_texts)


def define_flags(config, skip: Sequence[str] = (), text: dict[str, Text] | None = None) -> None:
    """One flag per field of the dataclass instance ``config`` (except ``skip``), named as the
    field, with ``config``'s value as default and the docstring's line as help."""
    text = text or {}
    docs = field_docs(type(config))
    for f in dataclasses.fields(config):
        if f.name in skip:
            continue
        value, kind, help_ = getattr(config, f.name), f.type, docs.get(f.name)
        if help_ is None:
            raise TypeError(f"{type(config).__name__}.{f.name} has no line in its docstring.")
        if f.name in text:
            flags.DEFINE_string(f.name, text[f.name].format(value), help_)
        elif kind in ("int", "int | None"):
            flags.DEFINE_integer(f.name, value, help_)
        elif kind == "float":
            flags.DEFINE_float(f.name, value, help_)
        elif kind == "bool":
            flags.DEFINE_bool(f.name, value, help_)
        elif kind == "bool | None":
            default = {v: k for k, v in _AUTO.items()}[value]
            flags.DEFINE_enum(f.name, default, list(_AUTO), help_ + " (auto: None)")
        elif kind in ("str", "str | None"):
            flags.DEFINE_string(f.name, value, help_)
        elif kind in ("tuple[str, ...]", "tuple[int, int]"):
            flags.DEFINE_list(f.name, [str(v) for v in value], help_)
        else:
            raise TypeError(f"No flag kind for {type(config).__name__}.{f.name}: {kind}.")


def from_flags(base, skip: Sequence[str] = (), text: dict[str, Text] | None = None, **fields):
    """``base`` with every field whose flag was given on the command line replaced by the
    flag's value (``fields`` replace others, e.g. a nested config built the same way)."""
    text = text or {}
    changes = dict(fields)
    for f in dataclasses.fields(base):
        if f.name in skip or f.name in fields or not FLAGS[f.name].present:
            continue
        value = FLAGS[f.name].value
        if f.name in text:
            value = text[f.name].parse(value)
        elif f.type == "bool | None":
            value = _AUTO[value]
        elif f.type == "tuple[str, ...]":  # absl split at every comma; programs keep theirs
            value = tuple(split_names(",".join(value)))
        elif f.type == "tuple[int, int]":
            value = _int_pair(f.name, value)
        changes[f.name] = value
    return dataclasses.replace(base, **changes)


USER_CACHE = "$ZCJAX_CACHE, else $XDG_CACHE_HOME/zcjax/xla or ~/.cache/zcjax/xla"


def define_cache_flag(default: str = USER_CACHE, note: str = "") -> None:
    """``--compilation_cache_dir`` (None unless given), its help naming the script's
    ``default`` folder and 'none'."""
    flags.DEFINE_string(
        "compilation_cache_dir",
        None,
        f"Folder for JAX's persistent compilation cache, kept between runs (default: {default}; "
        f"'none': off).{' ' + note if note else ''}",
    )


def use_compilation_cache(default: str | None = None) -> str:
    """Turns the cache on in ``--compilation_cache_dir`` if given, else ``default`` (None: the
    per-user folder), before anything compiles; returns the line to print. Raises ValueError
    when the folder cannot be made."""
    path = FLAGS.compilation_cache_dir
    used = cache.enable_compilation_cache(default if path is None else path)
    return f"compilation cache: {used or 'off'}"


def define_malloc_flag() -> None:
    """``--tune_malloc``: glibc's allocator set for this workload (``zcjax.allocator``)."""
    flags.DEFINE_bool(
        "tune_malloc",
        True,
        "Set glibc's allocator to keep freed memory for reuse (one arena, zcjax.allocator): "
        "fewer zero-filled pages; no effect on scores, skipped if MALLOC_* is set.",
    )


def tune_malloc() -> str:
    """``zcjax.allocator.tune_malloc`` unless ``--tune_malloc=false``, first thing in a
    script's ``main``; returns the line to print."""
    if not FLAGS.tune_malloc:
        return "allocator: left as is (--tune_malloc=false)"
    return allocator.tune_malloc()


def define_distributed_flags() -> None:
    """``--coordinator_address``, ``--num_processes``, ``--process_id``: a multi-process run
    (``zcjax.distributed``); none of them: one process, or the cluster JAX detects."""
    flags.DEFINE_string(
        "coordinator_address",
        None,
        "host:port of process 0 for a multi-process run (jax.distributed.initialize); "
        "auto-detected on SLURM and TPU pods.",
    )
    flags.DEFINE_integer("num_processes", None, "Processes of a multi-process run.")
    flags.DEFINE_integer("process_id", None, "This process's id, 0..num_processes-1.")


def init_distributed() -> str | None:
    """Joins the multi-process run the flags describe, before anything compiles; returns a
    line to print when there are several processes. Raises ValueError for incomplete flags."""
    index, count = distributed.initialize(
        FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id
    )
    if count == 1:
        return None
    return f"process {index} of {count} (process 0 writes the outputs)"


def _int_pair(name: str, items: list[str]) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in items)
    except ValueError:
        raise ValueError(
            f"--{name} must be two integers 'lo,hi', got {','.join(items)!r}."
        ) from None
    return lo, hi
