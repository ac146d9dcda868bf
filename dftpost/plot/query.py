"""The rows of result files that figures are drawn from: each run's latest ok row with the data a
figure needs (:class:`Need`), read through :mod:`dftpost.store` once per table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MissingInputError


@dataclass(frozen=True)
class Need:
    """What a figure reads from one table: scalar ``columns`` (finite in the rows drawn) and
    per-row ``arrays`` (non-empty in the rows drawn)."""

    table: str
    columns: tuple[str, ...] = ()
    arrays: tuple[str, ...] = ()


class _ResultFile:
    """The tables of one result file, read once each."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise MissingInputError(self.path, "no such file")
        self._tables: dict[str, dict | None] = {}
        self._arrays: dict[tuple[str, int], dict] = {}

    def table(self, name: str) -> dict | None:
        if name not in self._tables:
            from ..store import read_table

            try:
                self._tables[name] = read_table(self.path, name)
            except MissingInputError:  # the file exists, so: no such table
                self._tables[name] = None
        return self._tables[name]

    def arrays(self, table: str, index: int) -> dict:
        if (table, index) not in self._arrays:
            from ..store import read_arrays

            self._arrays[(table, index)] = read_arrays(self.path, table, index)
        return self._arrays[(table, index)]

    def rows(self, need: Need, figure: str | None = None, run: str | None = None, latest_only: bool = False,
             all_arrays: bool = False) -> list[dict]:
        """The latest ok row of each run with the data ``need`` says, with its per-row arrays when
        ``need`` names some or ``all_arrays`` (only the last such row with ``latest_only``; only
        runs whose path contains ``run``). Raises MissingInputError naming the table or dataset
        missing and the figure that needs it."""

        def missing(problem: str) -> MissingInputError:
            return MissingInputError(self.path, problem + (f" (figure {figure} needs it)" if figure else ""))

        table = self.table(need.table)
        if table is None:
            raise missing(f"no table {need.table!r}")
        for column in ("run", "status", *need.columns):
            if column not in table:
                raise missing(f"table {need.table!r} has no column {column!r}")
        latest = {run_: i for i, run_ in enumerate(table["run"])}  # each run once: its latest row
        candidates = [i for i in sorted(latest.values()) if table["status"][i] == "ok" and (run is None or run in table["run"][i])]
        if not candidates:
            where = f" whose run contains {run!r}" if run is not None else ""
            raise missing(f"table {need.table!r} has no row with status ok{where}")
        if need.arrays and (absent := [a for a in need.arrays if a not in self.arrays(need.table, candidates[-1])]):
            raise missing(f"table {need.table!r} has no dataset {absent[0]!r}")
        rows = []
        for i in reversed(candidates):
            row = {k: v[i] for k, v in table.items()}
            if not all(_finite(row[c]) for c in need.columns):
                continue
            if need.arrays or all_arrays:
                arrays = self.arrays(need.table, i)
                if any(arrays[a].size == 0 for a in need.arrays):
                    continue
                row.update(arrays)
            rows.append(row)
            if latest_only:
                break
        if not rows:
            what = ", ".join(f"{c!r}" for c in (*need.columns, *need.arrays))
            raise missing(f"table {need.table!r} has no ok row with {what} (all empty or NaN)")
        return rows[::-1]


def _finite(value) -> bool:
    return not isinstance(value, (float, np.floating)) or math.isfinite(value)


def read_rows(path: str | Path, table: str, run: str | None = None) -> list[dict]:
    """The rows of ``table`` in a result file for drawing: each run once (its latest row), status
    ok only, each row a dict of its columns and per-row arrays; ``run`` keeps the rows whose run
    path contains it. Raises MissingInputError when there is no such file, table or row."""
    return _ResultFile(path).rows(Need(table), None, run, all_arrays=True)
