"""Several processes (hosts) scoring one set of architectures, with JAX's own machinery.

``initialize`` joins a multi-process run through ``jax.distributed.initialize``: with an
explicit coordinator address, process count and id, or auto-detected where JAX detects a
cluster (SLURM with more than one task, TPU pods). Then every process scores its share of the
architectures (``recipe.score_archs``: position ``i`` goes to process ``i % count``, so the
split is fixed by the list alone), and ``gather`` collects each round's rows on every process with
``multihost_utils.process_allgather`` (Gloo on CPU, NCCL/ICI on accelerators). Each
architecture's keys depend on the architecture alone, so scores are identical to one
process; process 0 writes files (``is_writer``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def cluster_detected(environ=os.environ, tpu_vm: bool | None = None) -> bool:
    """Whether JAX can find this process's cluster by itself (``jax.distributed.initialize()``
    without arguments): a SLURM job step with more than one task (the variables JAX's SLURM
    detection reads), a GKE TPU slice (``TPU_WORKER_HOSTNAMES`` or ``TPU_PROCESS_ADDRESSES``),
    or a Cloud TPU VM (``libtpu`` installed; JAX asks the metadata server, one host counts as
    one process)."""
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID")
    if all(v in environ for v in slurm) and int(environ["SLURM_NTASKS"] or 1) > 1:
        return True
    if environ.get("TPU_WORKER_HOSTNAMES") or environ.get("TPU_PROCESS_ADDRESSES"):
        return True
    if tpu_vm is None:
        tpu_vm = importlib.util.find_spec("libtpu") is not None
    return tpu_vm


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> tuple[int, int]:
    """Joins the multi-process run described by the arguments (all three, e.g.
    ``"10.0.0.1:1234", 2, 0``) or by the cluster (``cluster_detected``); does nothing for a
    single process. Call before anything touches a device.

    Returns:
      (this process's index, the number of processes).
    """
    given = (coordinator_address, num_processes, process_id)
    if any(v is not None for v in given):
        if any(v is None for v in given):
            raise ValueError(
                "A multi-process run needs all of coordinator_address, num_processes and "
                "process_id (or none of them, where JAX detects the cluster)."
            )
        if not 0 <= process_id < num_processes:
            raise ValueError(f"process_id {process_id} is not in 0..{num_processes - 1}.")
        if num_processes > 1:
            jax.distributed.initialize(coordinator_address, num_processes, process_id)
    elif cluster_detected():
        jax.distributed.initialize()
    return jax.process_index(), jax.process_count()


def row_multiple() -> int:
    """Stacked rows are padded to a multiple of this: the number of local devices."""
    return jax.local_device_count()


def rows_sharding(rows: int) -> NamedSharding | None:
    """Arrays [rows, ...] split along their leading axis over this process's devices (a
    ``NamedSharding`` of a 1-D mesh); None on one device or when ``rows`` does not divide."""
    devices = jax.local_devices()
    if len(devices) == 1 or rows % len(devices):
        return None
    return NamedSharding(Mesh(np.array(devices), ("rows",)), PartitionSpec("rows"))


def shard_rows(x: jax.Array) -> jax.Array:
    """``x`` [R, ...] placed by ``rows_sharding`` (split over this process's devices), so
    jitted per-row kernels run on all of them; as it is where that is None."""
    sharding = rows_sharding(x.shape[0])
    return x if sharding is None else jax.device_put(x, sharding)


def is_writer() -> bool:
    """Whether this process writes outputs (CSV, checkpoints, history): process 0."""
    return jax.process_index() == 0


def gather(row: np.ndarray) -> np.ndarray:
    """[P, ...]: ``row`` of every process, in process order (``row[None]`` for one process),
    bit for bit (64-bit values travel as pairs of 32-bit words: JAX without x64 would round
    them). Every process must call it with a row of the same shape and dtype."""
    row = np.asarray(row)
    if jax.process_count() == 1:
        return row[None]
    words = np.asarray(multihost_utils.process_allgather(_as_words(row)))
    return np.stack([_from_words(w, row) for w in words])


def my_turns(count: int) -> range:
    """The items of ``0..count-1`` that this process computes in ``in_turn``, in order."""
    return range(jax.process_index(), count, jax.process_count())


def in_turn(
    count: int, compute: Callable[[int], np.ndarray], missing: np.ndarray
) -> Iterator[tuple[int, np.ndarray]]:
    """Items ``0..count-1`` computed in rounds, one item per process per round (item ``i`` on
    process ``i % P``): yields ``(i, compute(i))`` for every item, in order, on every process,
    bit for bit. ``missing`` (same shape and dtype as ``compute``'s results) stands for a
    process's item in the last round when it has none."""
    processes, mine = jax.process_count(), iter(my_turns(count))
    for first in range(0, count, processes):
        item = next(mine, None)
        got_mine = compute(item) if item is not None else missing
        for i, got in enumerate(gather(got_mine), first):
            if i < count:
                yield i, got


def broadcast(value: np.ndarray) -> np.ndarray:
    """Process 0's ``value`` on every process, bit for bit (same shape and dtype on all)."""
    value = np.asarray(value)
    if jax.process_count() == 1:
        return value
    words = multihost_utils.broadcast_one_to_all(_as_words(value))
    return _from_words(np.asarray(words), value)


def _as_words(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).reshape(-1).view(np.uint32)


def _from_words(words: np.ndarray, like: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(words, np.uint32).view(like.dtype).reshape(like.shape)
