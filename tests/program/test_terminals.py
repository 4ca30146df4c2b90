"""Terminal names belong to the program package: reading programs needs no engine."""

from __future__ import annotations

import subprocess
import sys

import pytest

from zcjax.program.kinds import A, W
from zcjax.program.terminals import EZNAS_ARGS, TERMINAL_KINDS, TERMINALS, WEIGHT_TERMINALS


@pytest.mark.parametrize("module", ["zcjax", "zcjax.program.tree", "zcjax.program"])
def test_importing_loads_no_flax_engine_statistics_or_space(module):
    code = (
        f"import sys, {module}\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] == 'flax'\n"
        "         or m.startswith(('zcjax.spaces', 'zcjax.engine', 'zcjax.stats'))]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_statistics_use_the_program_packages_names():
    from zcjax import stats

    assert stats.TERMINALS is TERMINALS and stats.EZNAS_ARGS is EZNAS_ARGS
    assert WEIGHT_TERMINALS == (
        "weight",
        "weight_grad@data",
        "weight_grad@noise",
        "weight_grad@perturbed",
    )
    assert {t for t, k in TERMINAL_KINDS.items() if k == W} == set(WEIGHT_TERMINALS)
    unit = {t: k for t, k in TERMINAL_KINDS.items() if t in TERMINALS}
    assert set(unit.values()) == {A, W} and tuple(unit) == TERMINALS
    # The network language's terminals are network values, read from NetworkFacts, and the
    # measured ones (AZ-NAS's components on the noise input, SWAP and MeCo on the data batch), read
    # from Stats.measured.
    assert {t: k for t, k in TERMINAL_KINDS.items() if t not in TERMINALS} == {
        "log_params": "N",
        "log_flops": "N",
        "num_units": "N",
        "az_expressivity@noise": "N",
        "az_progressivity@noise": "N",
        "az_trainability@noise": "N",
        "swap@data": "N",
        "meco@data": "N",
    }
