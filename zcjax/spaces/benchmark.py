"""Ground truth of a search space: its architectures with official indices and trained metrics."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Hashable, Sequence

import numpy as np

from zcjax.data import Table


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """Rows of a benchmark table with the architecture of each row.

    Attributes:
      archs: the architecture of each row (hashable, as the space represents it).
      index: [N] official index of each row.
      table: all columns (accuracies, costs, ...), one entry per row.
    """

    archs: Sequence[Hashable]
    index: np.ndarray
    table: Table

    @functools.cached_property
    def _rows(self) -> dict:
        return {a: i for i, a in enumerate(self.archs)}

    def row(self, arch: Hashable) -> int | None:
        """Row of ``arch``, or None if the benchmark does not hold it."""
        return self._rows.get(arch)

    def row_of_index(self, index: int) -> int:
        rows = np.flatnonzero(self.index == index)
        if len(rows) != 1:
            raise KeyError(f"No architecture with official index {index} in {self.table.source}.")
        return int(rows[0])

    def require_column(self, name: str, context: str = "") -> None:
        """Raises ValueError (one line: ``context``, the name and the known columns) unless the
        table has column ``name``; what every caller that takes a target column checks first."""
        if name not in self.table:
            known = ", ".join(self.table.columns)
            raise ValueError(f"{context}unknown target column {name!r}; columns are: {known}")

    def column(self, name: str, archs: Sequence[Hashable]) -> np.ndarray:
        """Values of column ``name`` for ``archs`` (NaN where an arch is not in the table)."""
        values = np.asarray(self.table[name], np.float64)
        rows = [self.row(a) for a in archs]
        return np.array([np.nan if r is None else values[r] for r in rows])
