"""Speed measurements behind ``experiments/benchmark.py``: each returns JSON-ready records.

Not part of the library: it reaches into other modules' compilation caches to start cold.

"cold" runs start from empty compilation caches (``jax.clear_caches`` and ours), so they pay
every compilation a fresh process would, provided JAX's persistent compilation cache is off
(benchmark.py turns it off; the environment record's ``persistent_cache`` says); "warm" runs
repeat the same work with everything compiled, which is the steady-state compute time.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import time
from collections.abc import Hashable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from zcjax import cache, compiles
from zcjax.gp import evaluate as gp_evaluate
from zcjax.gp import operators
from zcjax.gp.generation import run_generation
from zcjax.gp.state import initial_state
from zcjax.gp.tasks import load_tasks
from zcjax.inputs import at_resolution, input_batch
from zcjax.program import compile as program_compile
from zcjax.program.compile import network_score
from zcjax.program.registry import SUM_LOGITS
from zcjax.proxies import get_proxies
from zcjax.recipe import arch_stats, init_stats, score_archs
from zcjax.settings import Settings
from zcjax.spaces import SearchSpace


def clear_compilation_caches() -> None:
    cache.clear_compiled()
    program_compile.compiled_layer_score.cache_clear()
    program_compile.fits.cache_clear()
    gp_evaluate.kernel.cache_clear()


def _timed(fn) -> dict:
    with compiles.count_compiles() as c:
        start = time.perf_counter()
        jax.block_until_ready(fn())
        seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "compiles": c.count, "compile_s": round(c.seconds, 3)}


def _record(bench: str, phase: str, n: int, timing: dict, **extra) -> dict:
    rate = n / timing["seconds"] if timing["seconds"] else float("inf")
    return {
        "bench": bench,
        "phase": phase,
        "archs": n,
        "archs_per_s": round(rate, 3),
        "s_per_arch": round(timing["seconds"] / n, 4),
        **timing,
        **extra,
    }


def bench_stats(
    key: jax.Array,
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    terminals: Sequence[str],
    method: str = "engine",
) -> list[dict]:
    """Statistics collection alone (``recipe.init_stats``, one batch for all archs), cold then
    warm, K inits per arch (loop or vmap; the module method loops)."""
    settings = dataclasses.replace(settings, stats_method=method)
    x, labels = input_batch(key, dataset, settings)

    def run():
        out = None
        for i, arch in enumerate(archs):
            plan = at_resolution(space.plan(arch, dataset), settings.resolution)
            model = space.network(arch, dataset) if method == "module" else None
            k = jax.random.fold_in(key, i)
            out = init_stats(k, plan, x, labels, terminals, SUM_LOGITS, settings, model)
        return out  # only the last one is kept (flat memory) and blocked on

    clear_compilation_caches()
    extra = {"method": method, "terminals": len(terminals), "vmap_inits": settings.use_vmap()}
    records = [_record("stats", "cold", len(archs), _timed(run), **extra)]
    records.append(_record("stats", "warm", len(archs), _timed(run), **extra))
    return records


def bench_models(
    key: jax.Array,
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    terminals: Sequence[str],
) -> list[dict]:
    """Compile overhead per model: statistics of each never-seen arch in turn from empty
    caches (what a fresh process pays), then again warm; overhead = cold - warm per arch.

    Spaces whose models differ in widths and depths (NDS) keep meeting new kernel shapes, so
    this shows how fast the shared kernels stop compiling.
    """
    x, _ = input_batch(key, dataset, settings)
    one_init = dataclasses.replace(settings, num_inits=1, stats_method="engine")

    def one(i, arch):
        plan = at_resolution(space.plan(arch, dataset), settings.resolution)
        k = jax.random.fold_in(key, i)
        return lambda: init_stats(k, plan, x, None, terminals, SUM_LOGITS, one_init).layers

    clear_compilation_caches()
    cold = [_timed(one(i, a)) for i, a in enumerate(archs)]
    warm = [_timed(one(i, a)) for i, a in enumerate(archs)]
    overhead = [c["seconds"] - w["seconds"] for c, w in zip(cold, warm)]
    half = len(archs) // 2
    return [
        {
            "bench": "compile_per_model",
            "archs": len(archs),
            "terminals": len(terminals),
            "first_model_compile_s": round(overhead[0], 3),
            "first_model_compiles": cold[0]["compiles"],
            "mean_overhead_s_first_half": round(sum(overhead[:half]) / max(half, 1), 3),
            "mean_overhead_s_second_half": round(
                sum(overhead[half:]) / max(len(archs) - half, 1), 3
            ),
            "models_compiling_second_half": sum(c["compiles"] > 0 for c in cold[half:]),
            "compiles_second_half": sum(c["compiles"] for c in cold[half:]),
            "warm_s_per_model": round(sum(w["seconds"] for w in warm) / len(archs), 3),
            "cold_s_total": round(sum(c["seconds"] for c in cold), 2),
        }
    ]


def bench_proxies(
    key: jax.Array,
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    proxies: Sequence[str],
) -> list[dict]:
    """End-to-end scoring (batch sampling, init, statistics, programs), cold then warm."""
    selected = get_proxies(list(proxies))

    def run():
        return score_archs(key, space, archs, selected, dataset, settings)[0]

    clear_compilation_caches()
    name = ",".join(proxies)
    extra = {"vmap_inits": settings.use_vmap()}
    cold = _timed(run)
    warm = _timed(run)
    records = [
        _record(name, "cold", len(archs), cold, **extra),
        _record(name, "warm", len(archs), warm, **extra),
    ]
    records.append(
        {
            "bench": name,
            "phase": "cold/warm",
            "archs": len(archs),
            "ratio": round(cold["seconds"] / warm["seconds"], 3),
        }
    )
    return records


def bench_sharing(
    key: jax.Array,
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    proxies: Sequence[str],
) -> list[dict]:
    """Proxies requested together (sharing passes) versus one at a time, warm."""
    selected = get_proxies(list(proxies))
    score_archs(key, space, archs[:2], selected, dataset, settings)  # compile everything

    def run(subset):
        return lambda: score_archs(key, space, archs, subset, dataset, settings)[0]

    together = _timed(run(selected))
    alone = {p.name: _timed(run([p])) for p in selected}
    records = [_record(",".join(proxies), "warm, together", len(archs), together)]
    records += [_record(name, "warm, alone", len(archs), t) for name, t in alone.items()]
    total_alone = sum(t["seconds"] for t in alone.values())
    records.append(
        {
            "bench": ",".join(proxies),
            "phase": "sharing",
            "s_per_arch_together": round(together["seconds"] / len(archs), 4),
            "s_per_arch_one_at_a_time": round(total_alone / len(archs), 4),
        }
    )
    return records


def memory_record() -> dict:
    """Peak host memory of this process and, where the backend reports it, device memory."""
    record = {
        "bench": "memory",
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    try:
        device_stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # not every backend reports memory
        device_stats = {}
    if "peak_bytes_in_use" in device_stats:
        record["device_peak_mb"] = round(device_stats["peak_bytes_in_use"] / 2**20, 1)
    return record


def environment_record(settings: Settings, num_archs: int) -> dict:
    device = jax.devices()[0]
    return {
        "bench": "environment",
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "devices": jax.device_count(),
        "jax": jax.__version__,
        "batch_size": settings.batch_size,
        "num_inits": settings.num_inits,
        "inputs": settings.inputs,
        "num_archs": num_archs,
        "cpu_threads": _cpu_threads(),
        "persistent_cache": bool(jax.config.jax_enable_compilation_cache)
        and bool(jax.config.jax_compilation_cache_dir),
    }


def machine_record() -> dict:
    """Speed of this machine on four fixed kernels, so that rates measured on different days
    (or VMs) can be compared: this project's 2-core VM has run the same work 1.4-1.8x slower
    on some days (results/scale/README.md). Best of a few repeats, about a second:
    NumPy's float32 log in cache (ns an element; the host primitives' kind of work), a 64 MB
    copy (GB/s), a 1024^3 float32 matrix product (GFLOP/s, BLAS threads as configured) and an
    NB201 first-stage 3x3 convolution's forward and weight gradient in XLA (ms, batch 16,
    32x32x16; the statistics' kind of work)."""
    rng = np.random.default_rng(0)
    x = rng.random(1 << 20, dtype=np.float32) + 0.5
    big = rng.random(1 << 24, dtype=np.float32)
    a = rng.random((1024, 1024), dtype=np.float32)
    image = jnp.asarray(rng.standard_normal((16, 32, 32, 16), dtype=np.float32))
    kernel = jnp.asarray(rng.standard_normal((3, 3, 16, 16), dtype=np.float32))

    def conv(w, h):
        dims = ("NHWC", "HWIO", "NHWC")
        return jnp.sum(jax.lax.conv_general_dilated(h, w, (1, 1), "SAME", dimension_numbers=dims))

    conv_step = jax.jit(jax.value_and_grad(conv))
    jax.block_until_ready(conv_step(kernel, image))

    def best(fn, repeats: int) -> float:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    out = np.empty_like(x)
    copy = np.empty_like(big)
    return {
        "bench": "machine",
        "numpy_log_ns_per_element": round(1e9 * best(lambda: np.log(x, out=out), 20) / x.size, 3),
        "copy_gb_per_s": round(2 * big.nbytes / 1e9 / best(lambda: np.copyto(copy, big), 5), 2),
        "matmul_gflop_per_s": round(2 * 1024**3 / 1e9 / best(lambda: a @ a, 5), 1),
        "xla_conv_ms": round(
            1e3 * best(lambda: jax.block_until_ready(conv_step(kernel, image)), 10), 3
        ),
    }


def _cpu_threads() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 0


def bench_gp(
    key: jax.Array,
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    num_programs: int = 50,
    baseline_programs: int = 5,
    arch_chunk: int = 4,
) -> list[dict]:
    """A GP generation's evaluation: ``num_programs`` random programs on ``archs``, with
    statistics of ``arch_chunk`` architectures held at once (``gp.evaluate.score_programs``).

    Population-major (``gp.evaluate.score_programs``: statistics once per arch, programs
    interpreted on shared per-primitive kernels), cold then warm with a *new* population (as
    each generation brings), against EZNAS's way for ``baseline_programs`` programs: statistics
    rebuilt per program and one compiled function per program (``program.network_score``).
    Rates are (program, arch) evaluations per second.
    """

    def population(k):
        keys = jax.random.split(k, num_programs)
        return list(dict.fromkeys(operators.gen_half_and_half(kk, 2, 6) for kk in keys))

    key_a, key_b, key_c, key_stats = jax.random.split(key, 4)
    records = []
    clear_compilation_caches()
    for phase, k in (("cold", key_a), ("warm", key_b)):
        programs = population(k)
        timing = _timed(
            lambda programs=programs: gp_evaluate.score_programs(
                key_stats, programs, space, archs, dataset, settings, arch_chunk
            )
        )
        n = len(programs) * len(archs)
        records.append(
            {
                **_record("gp_population_major", phase, len(archs), timing),
                "programs": len(programs),
                "batch_size": settings.batch_size,
                "arch_chunk": arch_chunk,
                "program_archs_per_s": round(n / timing["seconds"], 2),
            }
        )
    programs = population(key_c)[:baseline_programs]
    if not programs:  # --gp_baseline_programs=0: the population-major rates only
        return records

    def per_program():
        out = []
        for p in programs:
            for a in archs:
                st = arch_stats(key_stats, space, a, dataset, p.reads, settings)
                out.append(network_score(p, st, settings.num_inits))
        return out

    timing = _timed(per_program)
    n = len(programs) * len(archs)
    records.append(
        {
            **_record("gp_per_program", "new programs", len(archs), timing),
            "programs": len(programs),
            "program_archs_per_s": round(n / timing["seconds"], 2),
        }
    )
    return records


def bench_generation(config) -> list[dict]:
    """Two generations of a search (``gp.config.SearchConfig``): cold (compile caches cleared)
    and warm, each's wall time split as ``history.jsonl`` records it (screening statistics,
    children, evaluation, promotion, validation) and its (program, architecture) evaluations
    per second: distinct children x M archs x tasks, plus promoted programs x promotion archs
    x tasks, plus the validated program x validation archs x tasks."""
    config = dataclasses.replace(config, generations=2)
    config.validate()
    tasks = load_tasks(config)
    clear_compilation_caches()
    state = initial_state(config)
    records = []
    for phase in ("cold", "warm"):
        start = time.perf_counter()
        state = run_generation(config, tasks, state)
        wall = time.perf_counter() - start
        r = state.history[-1]
        sizes = [len(td.search) for td in tasks]
        evals = sum(
            r["distinct_children"] * min(config.archs_per_task, n)
            + r.get("promoted", 0) * min(config.promote_archs, n)
            + (min(config.validation_archs, n) if r.get("validation_fitness") is not None else 0)
            for n in sizes
        )
        split = {k: r[k] for k in r if k.endswith("_s") and k != "wall_time_s"}
        records.append(
            {
                "bench": "gp_generation",
                "phase": phase,
                "tasks": [str(td.task) for td in tasks],
                "wall_s": round(wall, 2),
                **split,
                "program_arch_evaluations": evals,
                "program_archs_per_s": round(evals / wall, 2),
            }
        )
    return records


def bench_scale(
    key: jax.Array,
    space: SearchSpace,
    archs: Sequence[Hashable],
    dataset: str,
    settings: Settings,
    arch_batches: Sequence[int],
) -> list[dict]:
    """EZNAS-A scoring (``recipe.score_archs``) of ``archs`` by this process group, cold then
    warm, for each B of ``arch_batches`` (1: the per-architecture engine; B > 1:
    ``stats_method="batched"``, B architectures per group of kernel calls)."""
    records = []
    for b in arch_batches:
        method = "engine" if b == 1 else "batched"
        s = dataclasses.replace(settings, stats_method=method, arch_batch=b)

        def run(s=s):
            return score_archs(key, space, archs, get_proxies("eznas_a"), dataset, s)[0]

        clear_compilation_caches()
        extra = {
            "arch_batch": b,
            "processes": jax.process_count(),
            "devices": jax.device_count(),
            "backend": jax.default_backend(),
        }
        for phase in ("cold", "warm"):
            records.append(_record("scale", phase, len(archs), _timed(run), **extra))
    return records
