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

One writer: :class:`ResultStore` holds an exclusive ``flock`` on ``<path>.lock``; a second writer,
in any process, gets :class:`StoreLockedError`. The operating system drops the lock when the
writer's process ends, however it ends (SIGKILL included).

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
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import resource
import shutil
import socket
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from . import __version__
from .errors import DftpostError, MissingInputError, printable
from .io.files import HDF5_SIGNATURE, regular_file

SCHEMA_VERSION = 1
"""Version of the file layout described in the module docstring; raise it when the layout changes."""

_DTYPES = {
    "f8": np.dtype("f8"),
    "i8": np.dtype("i8"),
    "i1": np.dtype("i1"),
    "bool": np.dtype(bool),
    "str": h5py.string_dtype("utf-8"),
}
_FILLS = {"f8": np.nan, "i8": -1, "i1": -1, "bool": False, "str": ""}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_CHUNK_ROWS = 1024  # rows per HDF5 chunk: 8 KiB of an "f8" column
_COPY_ROWS = 64  # rows of per-row arrays held in memory at once while a file is rewritten
_N_ROWS = "_n_rows"
_WRITE_MARGIN = 1 << 20  # bytes of room a write asks for beyond its estimate (HDF5's metadata)


class StoreLockedError(DftpostError):
    """Another writer (another process, or another ResultStore in this one) has the store open."""


class StoreFormatError(DftpostError):
    """The file is not a dftpost store this version can use, is damaged, or a table in it has
    other columns."""


class StoreWriteError(DftpostError):
    """Writing to the store failed (a full disk, a file-size limit): rows committed before stay."""


@dataclass(frozen=True)
class Column:
    """One column of a table, or one kind of per-row array.

    ``dtype`` is "f8", "i8", "i1", "bool" or "str" (variable-length UTF-8; columns only);
    ``units`` as written in the file, e.g. "eV", "e·Å", "" for labels and pure numbers;
    ``doc`` says in one sentence what the value is.
    """

    dtype: str
    units: str
    doc: str

    def __post_init__(self):
        if self.dtype not in _DTYPES:
            raise ValueError(f"column dtype {self.dtype!r} is not one of {', '.join(_DTYPES)}")


@dataclass(frozen=True)
class TableSchema:
    """A table: its name, its columns, its per-row arrays and the columns that identify a row.

    Rows with equal ``key_columns`` values come from the same run with the same inputs
    (see :meth:`ResultStore.stored_keys`). Names are letters, digits and "_", a letter first.
    """

    name: str
    columns: dict[str, Column]
    arrays: dict[str, Column] = field(default_factory=dict)
    key_columns: tuple[str, ...] = ("run", "input_hash")

    def __post_init__(self):
        object.__setattr__(self, "key_columns", tuple(self.key_columns))
        for name in (self.name, *self.columns, *self.arrays):
            if not _NAME.match(name):
                raise ValueError(f"{name!r} is not a valid name (letters, digits and _, a letter first)")
        if both := set(self.columns) & set(self.arrays):
            raise ValueError(f"table {self.name!r}: {sorted(both)} are both columns and arrays")
        if missing := set(self.key_columns) - set(self.columns):
            raise ValueError(f"table {self.name!r}: key columns {sorted(missing)} are not columns")
        if strings := [n for n, a in self.arrays.items() if a.dtype == "str"]:
            raise ValueError(f"table {self.name!r}: per-row arrays {strings} must be numeric")

    def to_json(self) -> str:
        """The schema as JSON (stored in the table's ``schema_json`` attribute)."""
        return json.dumps(
            {
                "name": self.name,
                "key_columns": list(self.key_columns),
                "columns": {n: asdict(c) for n, c in self.columns.items()},
                "arrays": {n: asdict(c) for n, c in self.arrays.items()},
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> TableSchema:
        """The schema from :meth:`to_json`."""
        d = json.loads(text)
        return cls(
            d["name"],
            {n: Column(**c) for n, c in d["columns"].items()},
            {n: Column(**c) for n, c in d["arrays"].items()},
            tuple(d["key_columns"]),
        )


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
            with _open_read(self.path) as f:
                _validate(f, self.path, tables=None)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._lock_fd: int | None = _lock(self.path)
                break
            except StoreLockedError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        try:
            _tmp(self.path).unlink(missing_ok=True)  # left by a writer killed during a rewrite
            if not self.path.exists():
                _rewrite(self.path)
            self._file = _open_writer(self.path)
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
        if self._lock_fd is None:
            return
        try:
            if getattr(self, "_file", None):
                self._file.close()
        except (OSError, RuntimeError) as error:
            if not failing:
                raise StoreWriteError(self.path, f"cannot finish writing the store ({_reason(error)}); "
                                                 "the rows committed before are intact") from None
        finally:
            os.close(self._lock_fd)
            self._lock_fd = None

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
        columns = {n: _column_values(n, c, [r.get(n) for r in rows]) for n, c in schema.columns.items()}
        arrays = {n: [_row_array(n, c, r.get(n)) for r in rows] for n, c in schema.arrays.items()}
        if not rows:
            return []
        # HDF5 can crash, not fail, when the disk fills under it: refuse what may not fit
        payload = sum(v.nbytes if v.dtype != object else sum(len(x.encode()) + 16 for x in v) for v in columns.values())
        payload += sum(a.nbytes + 16 for values in arrays.values() for a in values)
        datasets = len(columns) + 2 * len(arrays)
        _check_room(self.path, 2 * payload + _WRITE_MARGIN + datasets * _CHUNK_ROWS * 16,
                    f"{len(rows)} row(s) of table {schema.name!r}")
        table = self._table(schema)
        start = int(table[_N_ROWS][()])
        try:
            for name, values in columns.items():
                _write(table[name], start, values)
            for name, row_arrays in arrays.items():
                group = self._file[f"{schema.name}_arrays"]
                _write_arrays(group[name], start, [a.ravel() for a in row_arrays])
                _write_arrays(group[f"{name}.shape"], start, [np.array(a.shape, "i8") for a in row_arrays])
            self.flush()  # the rows' data are in the file before the count that makes them rows
            table[_N_ROWS][()] = start + len(rows)
            self.flush()
        except (OSError, RuntimeError) as error:
            raise StoreWriteError(self.path, f"cannot write {len(rows)} row(s) to table {schema.name!r} "
                                             f"({_reason(error)}); the rows stored before are intact") from None
        return list(range(start, start + len(rows)))

    def stored_keys(self, table: str) -> set[tuple]:
        """The key-column values of every committed row of ``table`` (empty if there is no such table)."""
        if table not in self._file:
            return set()
        group = self._file[table]
        n = int(group[_N_ROWS][()])
        keys = [_read(group[k], n).tolist() for k in _stored_schema(group).key_columns]
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
            _rewrite(self.path, add=schema)
            self._file = _open_writer(self.path)
        stored = _stored_schema(self._file[schema.name])
        if _layout(stored) != _layout(schema):
            if not _extends(schema, stored):
                raise StoreFormatError(self.path, f"table {schema.name!r} is stored with other key columns, "
                                                  "columns, arrays, dtypes or units; write to a new file")
            self._file.close()  # columns added since the table was made: rewrite it with them
            _rewrite(self.path, add=schema)
            self._file = _open_writer(self.path)
        return self._file[schema.name]


def read_table(path: str | Path, table: str) -> dict[str, np.ndarray]:
    """The committed rows of ``table``: one array per column, in the columns' units (see the
    ``units`` attributes or the schema); "str" columns as object arrays of Python str.

    Reads while a writer appends, and after a writer was killed, without h5clear.
    """
    with _open_read(Path(path)) as f:
        group = _table_group(f, Path(path), table)
        _validate(f, Path(path), tables=[table])
        n = int(group[_N_ROWS][()])
        with _damage(Path(path), f"table {table!r}", f):
            return {name: _read(group[name], n) for name in _stored_schema(group).columns}


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
    with _open_read(Path(path)) as f:
        group = _table_group(f, Path(path), table)
        _validate(f, Path(path), tables=[table])
        n = int(group[_N_ROWS][()])
        if not 0 <= row_index < n:
            raise MissingInputError(path, f"table {table!r} has no row {row_index} (it has {n} rows)")
        arrays = f.get(f"{table}_arrays", {})
        with _damage(Path(path), f"row {row_index} of table {table!r}", f):
            return {
                name: arrays[name][row_index].reshape(arrays[f"{name}.shape"][row_index])
                for name in _stored_schema(group).arrays
            }


def _open_read(path: Path) -> h5py.File:
    """Open a store read-only as a SWMR reader without HDF5's file lock (see the module docstring)."""
    if path.is_dir():
        raise StoreFormatError(path, "is a directory, not a results file (name a file, e.g. results.h5)")
    if path.exists() or path.is_symlink():
        regular_file(path)  # a FIFO, a device, a loop of links, a dangling link: each in its own words
    _check_length(path)
    try:
        f = h5py.File(path, "r", swmr=True, locking=False)
    except FileNotFoundError:
        if path.is_symlink():
            raise MissingInputError(path, "a symbolic link to nothing (or a loop of links)") from None
        raise MissingInputError(path, "no such file") from None
    except PermissionError:
        raise StoreFormatError(path, "cannot be read: permission denied") from None
    except OSError as error:
        raise StoreFormatError(path, f"cannot be read as HDF5: not an HDF5 file, or damaged beyond opening ({_reason(error)})") from None
    try:
        version = f.attrs.get("dftpost_schema_version")
    except (OSError, RuntimeError, KeyError) as error:
        f.close()
        raise StoreFormatError(path, f"damaged: its attributes cannot be read ({_reason(error)})") from None
    if version is None:
        f.close()
        raise StoreFormatError(path, "not a dftpost results store (no dftpost_schema_version attribute)")
    if not isinstance(version, (int, np.integer)) or isinstance(version, (bool, np.bool_)):
        f.close()
        raise StoreFormatError(path, f"damaged: dftpost_schema_version is {version!r}, not a whole number")
    if version > SCHEMA_VERSION:
        f.close()
        raise StoreFormatError(path, f"written by a newer dftpost (store schema {version}, this dftpost reads "
                                     f"up to {SCHEMA_VERSION}); upgrade dftpost")
    return f


def _check_length(path: Path) -> None:
    """Refuse a file shorter than the end-of-file address its HDF5 superblock records: a copy or
    a write that did not finish. HDF5 itself skips this check for SWMR readers and may then read
    garbage or never return. Skipped while a writer holds the store's lock (the writer may have
    recorded space it is still filling)."""
    try:
        with open(path, "rb") as f:
            head = f.read(96)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return  # h5py names the problem
    if not head.startswith(HDF5_SIGNATURE) or len(head) < 12:
        return
    version = head[8]
    if version in (0, 1):
        offsets = head[13]
        start = 24 + (4 if version == 1 else 0)
        field = start + 2 * offsets  # base address, free-space address, then end-of-file address
    elif version in (2, 3):
        offsets = head[9]
        field = 12 + 2 * offsets  # base address, superblock extension address, end-of-file address
    else:
        return
    if offsets not in (2, 4, 8) or len(head) < field + offsets:
        return
    end = int.from_bytes(head[field : field + offsets], "little")
    if size < end and not _writer_active(path):
        raise StoreFormatError(path, f"damaged: cut short, {size} of the {end} bytes it says it holds "
                                     "(a copy or a write that did not finish)")


def _writer_active(path: Path) -> bool:
    """True when a :class:`ResultStore` holds the writer's lock of ``path`` (no lock file is made)."""
    try:
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _check_room(path: Path, needed: int, what: str, whole_file: bool = False) -> None:
    """Raise :class:`StoreWriteError` unless ``needed`` bytes more fit: on the file system, and
    under the process's file-size limit (``ulimit -f``) for the file (``whole_file``: a new file
    of that size, as a rewrite writes)."""
    directory = path.parent if str(path.parent) else Path(".")
    room = shutil.disk_usage(directory).free
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        size = 0 if whole_file or not path.exists() else path.stat().st_size
        room = min(room, max(limit - size, 0))
    if room < needed:
        raise StoreWriteError(path, f"no room to write {what}: {room / 2**20:.1f} MiB can be written (free disk "
                                    f"space or the file-size limit), {needed / 2**20:.1f} MiB needed; "
                                    "the rows stored before are intact")


def _reason(error: BaseException) -> str:
    """An HDF5 or OS error in one short line (HDF5's messages span lines and name C functions)."""
    text = " ".join(str(error).split())
    if m := re.search(r"error message = '([^']*)'", text):  # HDF5's record of a failed system call
        text = m.group(1)
    text = re.sub(r"^\[Errno \d+\]\s*", "", text)
    text = re.sub(r"^Unable to (?:synchronously )?\w+ \w+ \((.*)\)$", r"\1", text)
    return text[:200]


class _damage:
    """Turns the errors h5py raises on a damaged file into one :class:`StoreFormatError` that
    names the part that failed and the tables that can still be read."""

    def __init__(self, path: Path, what: str, f: h5py.File):
        self.path, self.what, self.f = path, what, f

    def __enter__(self):
        return self

    def __exit__(self, kind, error, _tb):
        if error is None or not isinstance(error, (OSError, RuntimeError, KeyError, ValueError, TypeError)):
            return False
        raise StoreFormatError(self.path, f"damaged: {self.what} cannot be read ({_reason(error)})"
                                          f"{_readable(self.f, self.path)}") from None


def _readable(f: h5py.File, path: Path, besides: str | None = None) -> str:
    """``"; tables still readable: a, b"`` (or that none is) for a message about a damaged file;
    ``besides``: the damaged table the message names, left out of the list."""
    good = [name for name in _table_names(f) if name != besides and _table_damage(f, name) is None]
    return f"; tables still readable: {', '.join(good)}" if good else "; no table can be read"


def _table_names(f: h5py.File) -> list[str]:
    names = []
    for name in f.keys():
        try:
            if isinstance(f[name], h5py.Group) and "schema_json" in f[name].attrs:
                names.append(name)
        except (OSError, RuntimeError, KeyError):
            names.append(name)  # a group whose header cannot be read: reported by _validate
    return sorted(names)


def _validate(f: h5py.File, path: Path, tables: list[str] | None) -> None:
    """Check ``tables`` (all when None) of an open store before anything reads or writes them
    (:func:`_table_damage`). Raises :class:`StoreFormatError` naming the damaged part and the
    tables still readable."""
    for name in _table_names(f) if tables is None else tables:
        if (problem := _table_damage(f, name)) is not None:
            raise StoreFormatError(path, f"damaged: table {name!r}: {problem}{_readable(f, path, besides=name)}")


def _table_damage(f: h5py.File, name: str) -> str | None:
    """What is wrong with table ``name`` in one line, or None: the schema parses, every column
    and per-row array holds at least the committed rows (a file cut while growing holds fewer),
    and the committed values of every column can be read. Costs one read of the columns (one
    value per row), not of the per-row arrays' contents."""
    try:
        group = f[name]
        schema = _stored_schema(group)
        n = int(group[_N_ROWS][()])
        if n < 0:
            return f"a negative row count {n}"
        for column in schema.columns:
            size = group[column].shape[0]
            if size < n:
                return f"{n} rows committed but column {column!r} holds {size} (a file cut short?)"
            _read(group[column], n)
        if schema.arrays:
            arrays = f[f"{name}_arrays"]
            for array in schema.arrays:
                for dataset in (array, f"{array}.shape"):
                    size = arrays[dataset].shape[0]
                    if size < n:
                        return f"{n} rows committed but array {dataset!r} holds {size} (a file cut short?)"
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as error:
        return _reason(error)
    return None


def _open_writer(path: Path) -> h5py.File:
    """Open the store for SWMR writing, taking it over if its last writer was killed."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    fapl.set_file_locking(False, True)  # as the readers: HDF5 refuses mixed settings within a process
    flags = h5py.h5f.ACC_RDWR | h5py.h5f.ACC_SWMR_WRITE
    try:
        return h5py.File(h5py.h5f.open(os.fsencode(path), flags, fapl=fapl))
    except OSError as error:
        if "already open for write" not in str(error):
            raise StoreFormatError(path, f"cannot be opened for writing ({error})") from None
    # We hold the writer's lock, so the writer that marked the file as open is dead.
    _rewrite(path)
    return h5py.File(h5py.h5f.open(os.fsencode(path), flags, fapl=fapl))


def _lock(path: Path) -> int:
    """Take the writer's lock on ``<path>.lock`` and write who holds it into that file."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise DftpostError(path, f"cannot create {lock_path.name} ({error.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode(errors="replace").strip() or "pid unknown"
        os.close(fd)
        raise StoreLockedError(path, f"the file is being written by another dftpost process ({holder}); "
                                     "wait for it to finish or stop it, then retry") from None
    except OSError as error:
        os.close(fd)
        raise StoreLockedError(path, f"cannot lock {lock_path.name} ({error.strerror}); "
                                     "put the store on a file system that supports flock") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
    return fd


def _rewrite(path: Path, add: TableSchema | None = None) -> None:
    """Write the store's committed rows (and a table ``add``: new, or an existing one extended by
    columns, its old rows given the fill values) to ``<path>.tmp``, then rename it over ``path``:
    creates the file, adds or extends tables, and takes over a file left by a killed writer.
    """
    tmp = _tmp(path)
    size = path.stat().st_size if path.exists() else 0
    extra = 0 if add is None else (len(add.columns) + 2 * len(add.arrays)) * _CHUNK_ROWS * 16
    _check_room(path, size + extra + _WRITE_MARGIN, "a copy of the store", whole_file=True)
    try:
        with h5py.File(tmp, "w", libver="latest") as new:
            if path.exists():
                with _open_read(path) as old:
                    new.attrs.update(old.attrs)
                    tables = _table_names(old)
                    for name in tables:
                        _copy_table(old, new, name, add if add is not None and add.name == name else None)
                    for name in old.keys() - {*tables, *(f"{t}_arrays" for t in tables)}:
                        old.copy(name, new)  # anything else a user put into the file
            else:
                new.attrs.update(dftpost_schema_version=SCHEMA_VERSION, dftpost_version=__version__,
                                 created=_now())
            if add is not None and add.name not in new:
                _create_table(new, add)
    except (OSError, RuntimeError) as error:
        tmp.unlink(missing_ok=True)
        raise StoreWriteError(path, f"cannot write the store ({_reason(error)}); "
                                    "the rows stored before are intact") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _copy_table(old: h5py.File, new: h5py.File, name: str, extended: TableSchema | None = None) -> None:
    """Copy table ``name``'s committed rows; with ``extended`` (the stored schema plus columns)
    the copy has its layout and the added columns hold fill values (empty arrays) for these rows."""
    stored = _stored_schema(old[name])
    schema = extended or stored
    n = int(old[name][_N_ROWS][()])
    group = _create_table(new, schema)
    group.attrs.update({k: v for k, v in old[name].attrs.items() if k != "schema_json"})
    for column, spec in schema.columns.items():
        values = _read(old[name][column], n) if column in stored.columns else _column_values(column, spec, [None] * n)
        _write(group[column], 0, values)
    for array, spec in schema.arrays.items():
        for dataset in (array, f"{array}.shape"):
            target = new[f"{name}_arrays"][dataset]
            if array not in stored.arrays:  # an empty array of shape (0,) per row
                fill = np.zeros(1, "i8") if dataset.endswith(".shape") else np.empty(0, _DTYPES[spec.dtype])
                _write_arrays(target, 0, [fill] * n)
                continue
            source = old[f"{name}_arrays"][dataset]
            for start in range(0, n, _COPY_ROWS):  # a block at a time: per-row arrays can be large
                _write_arrays(target, start, source[start:min(start + _COPY_ROWS, n)])
    group[_N_ROWS][()] = n


def _create_table(f: h5py.File, schema: TableSchema) -> h5py.Group:
    group = f.create_group(schema.name)
    group.attrs.update(key_columns=np.array(schema.key_columns, dtype=_DTYPES["str"]),
                       schema_json=schema.to_json(), dftpost_version=__version__, created=_now())
    group.create_dataset(_N_ROWS, data=np.int64(0))
    for name, column in schema.columns.items():
        _create_dataset(group, name, _DTYPES[column.dtype], column.units, column.doc)
    if schema.arrays:
        arrays = f.create_group(f"{schema.name}_arrays")
        for name, column in schema.arrays.items():
            _create_dataset(arrays, name, h5py.vlen_dtype(_DTYPES[column.dtype]), column.units, column.doc)
            _create_dataset(arrays, f"{name}.shape", h5py.vlen_dtype(np.int64), "", f"shape of {name}")
    return group


def _create_dataset(group: h5py.Group, name: str, dtype, units: str, doc: str) -> None:
    dataset = group.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(_CHUNK_ROWS,), dtype=dtype)
    dataset.attrs.update(units=units, doc=doc)


def _table_group(f: h5py.File, path: Path, table: str) -> h5py.Group:
    if table not in f or "schema_json" not in f[table].attrs:
        tables = sorted(n for n, g in f.items() if "schema_json" in g.attrs)
        raise MissingInputError(path, f"no table {table!r} (tables: {', '.join(tables) or 'none'})")
    return f[table]


def _stored_schema(group: h5py.Group) -> TableSchema:
    return TableSchema.from_json(group.attrs["schema_json"])


def _extends(schema: TableSchema, stored: TableSchema) -> bool:
    """True when ``schema`` is ``stored`` with columns or arrays added (nothing else changed)."""
    new_key, new_columns, new_arrays = _layout(schema)
    old_key, old_columns, old_arrays = _layout(stored)
    return (new_key == old_key and all(new_columns.get(k) == v for k, v in old_columns.items())
            and all(new_arrays.get(k) == v for k, v in old_arrays.items()))


def _layout(schema: TableSchema) -> tuple:
    """What must agree between a stored table and a schema appended to it (docs may differ)."""
    return (schema.key_columns,
            {n: (c.dtype, c.units) for n, c in schema.columns.items()},
            {n: (c.dtype, c.units) for n, c in schema.arrays.items()})


def _column_values(name: str, column: Column, values: list) -> np.ndarray:
    values = [_FILLS[column.dtype] if v is None else v for v in values]
    if column.dtype == "str":
        if bad := [v for v in values if not isinstance(v, str)]:
            raise TypeError(f"column {name!r} holds str, got {bad[0]!r}")
        return np.array([printable(v) for v in values], dtype=object)  # UTF-8: no lone surrogates
    return np.array(values, dtype=_DTYPES[column.dtype])


def _row_array(name: str, column: Column, value) -> np.ndarray:
    if value is None:
        return np.empty(0, _DTYPES[column.dtype])
    array = np.asarray(value, dtype=_DTYPES[column.dtype])
    if array.ndim == 0:
        raise ValueError(f"{name!r} is a per-row array, got the scalar {value!r}")
    return array


def _write(dataset: h5py.Dataset, start: int, values: np.ndarray) -> None:
    dataset.resize((start + len(values),))
    dataset[start:] = values


def _write_arrays(dataset: h5py.Dataset, start: int, arrays) -> None:
    """Write 1-D arrays as the variable-length elements from ``start`` on, by the low-level API:
    h5py's ``dataset[a:b] = ...`` turns arrays of equal length into a 2-D block it cannot write."""
    values = np.empty(len(arrays), dtype=object)
    for i, array in enumerate(arrays):
        values[i] = array
    dataset.resize((start + len(values),))
    selection = dataset.id.get_space()
    selection.select_hyperslab((start,), (len(values),))
    dataset.id.write(h5py.h5s.create_simple((len(values),)), selection, values)


def _read(dataset: h5py.Dataset, n: int) -> np.ndarray:
    return dataset.asstr()[:n] if h5py.check_string_dtype(dataset.dtype) else dataset[:n]


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
