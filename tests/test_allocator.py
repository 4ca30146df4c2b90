"""zcjax.allocator: glibc's allocator keeps freed memory for reuse (fewer zero-filled pages)."""

import os
import subprocess
import sys
import textwrap

import pytest

from zcjax import allocator

# A thread (its own arena under glibc's defaults) fills and frees 48 1 MB buffers, 12 times;
# prints tune_malloc's line and the page faults of rounds 2-12.
SCRIPT = textwrap.dedent(
    """
    import resource, sys, threading
    import numpy as np
    from zcjax import allocator
    line = allocator.tune_malloc() if sys.argv[1] == "tune" else "-"

    def rounds(out):
        for r in range(12):
            if r == 1:
                start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            held = [np.full(1 << 18, r, np.float32) for _ in range(48)]
            del held
        out.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)

    out = []
    t = threading.Thread(target=rounds, args=(out,))
    t.start()
    t.join()
    print(line)
    print(out[0])
    """
)


def _run(mode: str, **env_extra) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k not in allocator.ENV_VARS}
    env.update(env_extra)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line, faults = done.stdout.strip().splitlines()[-2:]
    return line, int(faults)


@pytest.mark.skipif(allocator._mallopt() is None, reason="needs glibc")
def test_tuned_allocator_reuses_freed_memory():
    line, tuned = _run("tune")
    assert line.startswith("allocator: glibc, one arena"), line
    _, default = _run("default")
    # 11 rounds x 48 MB: glibc's defaults give part of the freed heap back and fault it in
    # again (23,840 faults here, 2026-12-07); tuned, the rounds reuse the first round's pages
    # (0 faults).
    assert default > 11 * 1000, default
    assert tuned < default / 10, (tuned, default)


@pytest.mark.skipif(allocator._mallopt() is None, reason="needs glibc")
def test_tune_malloc_leaves_a_user_setting_alone():
    line, _ = _run("tune", MALLOC_ARENA_MAX="4")
    assert line == "allocator: left as is (MALLOC_ARENA_MAX set in the environment)"
