"""Imports point down: the maths and the engine import no search space and no Flax."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["zcjax.nn", "zcjax.engine", "zcjax.engine.batched"])
def test_imports_no_space_and_no_flax(module):
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('zcjax.spaces', 'flax')))\n"
        "print(' '.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
