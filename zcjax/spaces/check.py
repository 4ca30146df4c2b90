"""Compare a space's parameter and FLOP counts with its benchmark table."""

from __future__ import annotations

import dataclasses

import numpy as np

from zcjax.spaces import get_space
from zcjax.spaces.costs import count_costs


@dataclasses.dataclass(frozen=True)
class CostReport:
    space: str
    dataset: str
    checked: int
    mismatches: list[tuple[int, str, str]]  # (official index, what, "ours vs table")

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        head = (
            f"{self.space}/{self.dataset}: {self.checked - len(self.mismatches)}/{self.checked} "
            "archs match the table's params and FLOPs"
        )
        return "\n".join([head] + [f"  index {i}: {w} {d}" for i, w, d in self.mismatches[:10]])


def check_costs(
    space_name: str, dataset: str, trace: bool = False, data_dir=None, progress=None
) -> CostReport:
    """Checks every benchmark row. ``trace`` counts each whole network instead of the fast sum
    (params only for NDS, whose records count FLOPs their own way: see ``nds.costs``).
    ``progress(what, done, total)`` hears of each architecture checked.

    NB201's table holds params in millions (6 decimals) and MFLOPs (5 decimals); NDS records
    hold exact integers.
    """
    space = get_space(space_name)
    bench = space.load_benchmark(data_dir)
    size = space.input_size(dataset)
    records = "params" in bench.table  # NDS: exact integers, FLOPs in the records' convention
    if records:
        want_params = np.asarray(bench.table["params"], np.int64)
        want_flops, flops_unit = np.asarray(bench.table["flops"], np.int64), 1
    else:
        want_params = np.round(bench.table[f"params_{dataset}"] * 1e6).astype(np.int64)
        want_flops, flops_unit = (
            np.round(bench.table[f"flops_{dataset}"] * 1e5).astype(np.int64),
            10,
        )
    mismatches = []
    what = "archs"
    if progress is not None:
        progress(what, 0, len(bench.archs))
    for row, arch in enumerate(bench.archs):
        if trace:
            got = count_costs(space.network(arch, dataset), (size, size, 3))
        else:
            got = space.costs(arch, dataset)
        if got.params != want_params[row]:
            mismatches.append(
                (int(bench.index[row]), "params", f"{got.params} vs {want_params[row]}")
            )
        # A traced module counts plain multiply-adds, which NB201's table holds, NDS's not.
        if not (trace and records) and round(got.flops / flops_unit) != want_flops[row]:
            mismatches.append(
                (int(bench.index[row]), "flops", f"{got.flops} vs {want_flops[row] * flops_unit}")
            )
        if progress is not None:
            progress(what, row + 1, len(bench.archs))
    return CostReport(space.name, dataset, len(bench.archs), mismatches)
