"""HDF5 results store: one table per analysis, rows appended by one writer, read while it writes.

An analysis module declares its table once; a batch appends rows, skips runs already stored and
survives being killed::

    GAP = TableSchema("gap", {
        "run": Column("str", "", "run directory"),
        "input_hash": Column("str", "", "hash of the DFT inputs"),
        "gap_eV": Column("f8", "eV", "water HOMO-LUMO gap"),
    }, arrays={"pdos_z": Column("f8", "states/eV", "water PDoS per z slab (n_E x n_z)")})

    with ResultStore("results.h5") as store:
        done = store.stored_keys("gap")
        store.append(GAP, [{"run": "f42", "input_hash": "9c1e", "gap_eV": 6.9, "pdos_z": pdos}])
        store.append_once(GAP, {"run": "f42", "input_hash": "9c1e", "gap_eV": 6.9})  # False: stored already

    gap = read_table("results.h5", "gap")["gap_eV"]          # works while the writer runs
    newest = latest_rows("results.h5", "gap")                # run -> its last row

File layout, ``dftpost_schema_version`` 1 (strings are UTF-8 throughout)::

    /                            attrs dftpost_schema_version, dftpost_version, created (ISO 8601, UTC)
    /<table>/                    attrs key_columns, schema_json (the TableSchema), dftpost_version, created
    /<table>/<column>            1-D chunked resizable dataset, one element per row; attrs units, doc
    /<table>/_n_rows             scalar int64: the rows committed; elements beyond it are not rows
    /<table>_arrays/<name>       per-row arrays: element i holds row i's array flattened in C order
                                 (variable length); attrs units, doc
    /<table>_arrays/<name>.shape element i holds that array's shape

Column dtypes are "f8", "i8", "i1", "bool" and "str" (variable-length UTF-8). A column missing from
a row (or None) is stored as NaN, -1, -1, False or "" respectively; a missing per-row array as an
empty one. A newer dftpost that adds columns or arrays to a table extends a stored table on its
first append (a rewrite, as for a new table): the rows already there get those fill values.

One writer: :class:`ResultStore` holds an exclusive ``flock`` on ``<path>.lock`` (:mod:`dftpost.lock`);
a second writer, in any process, gets :class:`StoreLockedError` naming the holder. The operating
system drops the lock when the writer's process ends, however it ends (SIGKILL included).

Crash safety: the writer keeps the file open in HDF5 SWMR-write mode, in which the file on disk is
readable at every moment. :meth:`ResultStore.append` writes the rows, flushes, then raises
``_n_rows`` and flushes again, so a writer killed at any point leaves every appended row intact and
no partial ones; readers never look past ``_n_rows``. (HDF5 does not promise SWMR for
variable-length data, i.e. "str" columns and per-row arrays: the count is what keeps readers off
an element being written, and tests/test_store.py kills writers to check it.) SWMR cannot create
groups or datasets, so the new file, a new table, and the take-over of a file whose writer was
killed (HDF5 refuses to reopen such a file for writing without ``h5clear``) are written whole to
``<path>.tmp`` (committed rows only) and renamed over ``<path>`` in one step; adding a table thus
costs a copy of the file. Covered: a killed process. Not covered: power loss or a crash of the
machine (nothing is fsync'ed).

dftpost's readers open the file as SWMR readers without HDF5's file lock, which lets them read it
while the writer has it open, and after a writer was killed, without ``h5clear``. Other programs do
the same (h5py: ``File(path, "r", swmr=True)``); after a clean close any HDF5 reader works.

Here: the writer and the queries. The tables are declared in :mod:`dftpost.store_schema`, opening
for reading and the checks against damaged files are :mod:`dftpost.store_checks`, writing and
rewriting the layout :mod:`dftpost.store_layout`, the writer's lock :mod:`dftpost.lock`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from .errors import MissingInputError, printable
from .lock import StoreLockedError, hold_writer_lock
from .store_checks import StoreFormatError, damage, open_read, reason, table_group, validate
from .store_layout import (
    CHUNK_ROWS,
    WRITE_MARGIN,
    StoreWriteError,
    check_room,
    column_values,
    open_writer,
    rewrite,
    row_array,
    tmp_path,
    write_arrays,
    write_values,
)
from .store_schema import N_ROWS, SCHEMA_VERSION, Column, TableSchema, extends, layout, read_rows, stored_schema

if TYPE_CHECKING:
    from filelock import BaseFileLock

__all__ = [
    "SCHEMA_VERSION", "Column", "ResultStore", "StoreFormatError", "StoreLockedError", "StoreWriteError",
    "TableSchema", "latest_rows", "read_arrays", "read_table",
]


class ResultStore:
    """The one writer of a results file; use as ``with ResultStore(path) as store: ...``.

    Opening creates the file if it does not exist, appends to it if it does, and raises
    :class:`StoreLockedError` while another writer has it (after waiting up to ``wait_s``
    seconds for it to finish: jobs of one campaign ending at the same time then take turns),
    :class:`StoreFormatError` for a file that is not a dftpost store or was written by a newer
    dftpost.
    """

    def __init__(self, path: str | Path, wait_s: float = 0.0):
        self.path = Path(path)
        if self.path.exists() or self.path.is_symlink():
            # a wrong or damaged file is refused before a lock file appears beside it: nothing is
            # ever written into a file that does not validate
            with open_read(self.path) as f:
                validate(f, self.path, tables=None)
        self._lock: BaseFileLock | None = hold_writer_lock(self.path, wait_s)
        try:
            tmp_path(self.path).unlink(missing_ok=True)  # left by a writer killed during a rewrite
            if not self.path.exists():
                rewrite(self.path)
            self._file = open_writer(self.path)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, kind, *exc) -> None:
        self.close(failing=kind is not None)

    def close(self, failing: bool = False) -> None:
        """Close the file, then release the writer's lock (always). A file that cannot be closed
        (a full disk) raises :class:`StoreWriteError`, unless ``failing``: an error is already on
        its way, and that one is the one to report."""
        if self._lock is None:
            return
        try:
            if getattr(self, "_file", None):
                self._file.close()
        except (OSError, RuntimeError) as error:
            if not failing:
                raise StoreWriteError(self.path, f"cannot finish writing the store ({reason(error)}); "
                                                 "the rows committed before are intact") from None
        finally:
            self._lock.release()
            self._lock = None

    def append(self, schema: TableSchema, rows: list[dict]) -> list[int]:
        """Append ``rows`` to table ``schema.name`` (created on first use); return their row indices.

        A row maps column and array names to values (in the declared units); a column or array
        that is missing or None is filled (see the module docstring), so a failed run can still be
        recorded. An unknown name raises ValueError, a value of the wrong type TypeError or
        ValueError, and a table stored with other columns :class:`StoreFormatError`. When this
        returns the rows are committed: readers see them and killing this process does not lose
        them.
        """
        known = schema.columns.keys() | schema.arrays.keys()
        for i, row in enumerate(rows):
            if unknown := row.keys() - known:
                raise ValueError(f"row {i}: {sorted(unknown)} are not columns of table {schema.name!r} "
                                 f"(it has {sorted(known)})")
        columns = {n: column_values(n, c, [r.get(n) for r in rows]) for n, c in schema.columns.items()}
        arrays = {n: [row_array(n, c, r.get(n)) for r in rows] for n, c in schema.arrays.items()}
        if not rows:
            return []
        # HDF5 can crash, not fail, when the disk fills under it: refuse what may not fit
        payload = sum(v.nbytes if v.dtype != object else sum(len(x.encode()) + 16 for x in v) for v in columns.values())
        payload += sum(a.nbytes + 16 for values in arrays.values() for a in values)
        datasets = len(columns) + 2 * len(arrays)
        check_room(self.path, 2 * payload + WRITE_MARGIN + datasets * CHUNK_ROWS * 16,
                    f"{len(rows)} row(s) of table {schema.name!r}")
        table = self._table(schema)
        start = int(table[N_ROWS][()])
        try:
            for name, values in columns.items():
                write_values(table[name], start, values)
            for name, row_arrays in arrays.items():
                group = self._file[f"{schema.name}_arrays"]
                write_arrays(group[name], start, [a.ravel() for a in row_arrays])
                write_arrays(group[f"{name}.shape"], start, [np.array(a.shape, "i8") for a in row_arrays])
            self.flush()  # the rows' data are in the file before the count that makes them rows
            table[N_ROWS][()] = start + len(rows)
            self.flush()
        except (OSError, RuntimeError) as error:
            raise StoreWriteError(self.path, f"cannot write {len(rows)} row(s) to table {schema.name!r} "
                                             f"({reason(error)}); the rows stored before are intact") from None
        return list(range(start, start + len(rows)))

    def stored_keys(self, table: str) -> set[tuple]:
        """The key-column values of every committed row of ``table`` (empty if there is no such table)."""
        if table not in self._file:
            return set()
        group = self._file[table]
        n = int(group[N_ROWS][()])
        keys = [read_rows(group[k], n).tolist() for k in stored_schema(group).key_columns]
        return set(zip(*keys))

    def append_once(self, schema: TableSchema, row: dict) -> bool:
        """Append ``row`` unless a row with the same key-column values (by default the same run
        and input hash: the same inputs and parameters) is stored already; True when appended.

        For deterministic analyses: a second identical row would only count the run twice.
        """
        key = tuple(printable(v) if isinstance(v, str) else v for v in (row.get(k) for k in schema.key_columns))
        if key in self.stored_keys(schema.name):
            return False
        self.append(schema, [row])
        return True

    def flush(self) -> None:
        """Hand everything written to the operating system (:meth:`append` does it before returning)."""
        self._file.flush()

    def _table(self, schema: TableSchema) -> h5py.Group:
        if schema.name not in self._file:  # SWMR cannot create objects: rewrite the file with the table
            self._file.close()
            rewrite(self.path, add=schema)
            self._file = open_writer(self.path)
        stored = stored_schema(self._file[schema.name])
        if layout(stored) != layout(schema):
            if not extends(schema, stored):
                raise StoreFormatError(self.path, f"table {schema.name!r} is stored with other key columns, "
                                                  "columns, arrays, dtypes or units; write to a new file")
            self._file.close()  # columns added since the table was made: rewrite it with them
            rewrite(self.path, add=schema)
            self._file = open_writer(self.path)
        return self._file[schema.name]


def read_table(path: str | Path, table: str) -> dict[str, np.ndarray]:
    """The committed rows of ``table``: one array per column, in the columns' units (see the
    ``units`` attributes or the schema); "str" columns as object arrays of Python str.

    Reads while a writer appends, and after a writer was killed, without h5clear.
    """
    with open_read(Path(path)) as f:
        group = table_group(f, Path(path), table)
        validate(f, Path(path), tables=[table])
        n = int(group[N_ROWS][()])
        with damage(Path(path), f"table {table!r}", f):
            return {name: read_rows(group[name], n) for name in stored_schema(group).columns}


def latest_rows(path: str | Path, table: str, runs: list[str] | None = None,
                arrays: Iterable[str] = ()) -> dict[str, dict]:
    """The latest committed row (the last appended) of each run of ``table``, keyed by the value
    of its "run" column: column name → Python value (str, int, float, bool) in the column's units,
    the values :func:`read_table` gives, and the per-row arrays named in ``arrays`` (numpy arrays,
    as :func:`read_arrays` gives them).

    ``runs``: only these runs, in this order (those without a row left out); default every run
    stored, in the order of their latest rows. A run analysed again with other inputs or
    parameters thus counts once, with its newest result.
    """
    columns = {name: values.tolist() for name, values in read_table(path, table).items()}
    latest = {run: i for i, run in enumerate(columns["run"])}
    wanted = sorted(latest, key=latest.__getitem__) if runs is None else [run for run in runs if run in latest]
    rows = {run: {name: values[latest[run]] for name, values in columns.items()} for run in wanted}
    names = list(arrays)
    if names:
        for run, row in rows.items():
            stored = read_arrays(path, table, latest[run])
            row.update({name: stored[name] for name in names if name in stored})
    return rows


def read_arrays(path: str | Path, table: str, row_index: int) -> dict[str, np.ndarray]:
    """The per-row arrays of row ``row_index`` of ``table``, in their declared units and shapes
    (an array not given for the row is empty)."""
    with open_read(Path(path)) as f:
        group = table_group(f, Path(path), table)
        validate(f, Path(path), tables=[table])
        n = int(group[N_ROWS][()])
        if not 0 <= row_index < n:
            raise MissingInputError(path, f"table {table!r} has no row {row_index} (it has {n} rows)")
        arrays = f.get(f"{table}_arrays", {})
        with damage(Path(path), f"row {row_index} of table {table!r}", f):
            return {
                name: arrays[name][row_index].reshape(arrays[f"{name}.shape"][row_index])
                for name in stored_schema(group).arrays
            }
