"""Writing a results store's HDF5 layout (described in :mod:`dftpost.store`): creating tables,
writing column values and per-row arrays, and :func:`rewrite`, which writes the whole file anew
to ``<path>.tmp`` and renames it over the store (a new file, a new or extended table, the take-over
of a file left by a killed writer). Before writing, :func:`check_room` refuses what may not fit on
the disk or under the file-size limit: HDF5 can crash, not fail, when the disk fills under it."""

from __future__ import annotations

import os
import resource
import shutil
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from . import __version__
from .errors import DftpostError, printable
from .store_checks import StoreFormatError, open_read, reason, table_names
from .store_schema import DTYPES, FILLS, N_ROWS, SCHEMA_VERSION, Column, TableSchema, read_rows, stored_schema

CHUNK_ROWS = 1024  # rows per HDF5 chunk: 8 KiB of an "f8" column
_COPY_ROWS = 64  # rows of per-row arrays held in memory at once while a file is rewritten
WRITE_MARGIN = 1 << 20  # bytes of room a write asks for beyond its estimate (HDF5's metadata)


class StoreWriteError(DftpostError):
    """Writing to the store failed (a full disk, a file-size limit): rows committed before stay."""


def check_room(path: Path, needed: int, what: str, whole_file: bool = False) -> None:
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


def open_writer(path: Path) -> h5py.File:
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
    rewrite(path)
    return h5py.File(h5py.h5f.open(os.fsencode(path), flags, fapl=fapl))


def rewrite(path: Path, add: TableSchema | None = None) -> None:
    """Write the store's committed rows (and a table ``add``: new, or an existing one extended by
    columns, its old rows given the fill values) to ``<path>.tmp``, then rename it over ``path``:
    creates the file, adds or extends tables, and takes over a file left by a killed writer.
    """
    tmp = tmp_path(path)
    size = path.stat().st_size if path.exists() else 0
    extra = 0 if add is None else (len(add.columns) + 2 * len(add.arrays)) * CHUNK_ROWS * 16
    check_room(path, size + extra + WRITE_MARGIN, "a copy of the store", whole_file=True)
    try:
        with h5py.File(tmp, "w", libver="latest") as new:
            if path.exists():
                with open_read(path) as old:
                    new.attrs.update(old.attrs)
                    tables = table_names(old)
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
        raise StoreWriteError(path, f"cannot write the store ({reason(error)}); "
                                    "the rows stored before are intact") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _copy_table(old: h5py.File, new: h5py.File, name: str, extended: TableSchema | None = None) -> None:
    """Copy table ``name``'s committed rows; with ``extended`` (the stored schema plus columns)
    the copy has its layout and the added columns hold fill values (empty arrays) for these rows."""
    stored = stored_schema(old[name])
    schema = extended or stored
    n = int(old[name][N_ROWS][()])
    group = _create_table(new, schema)
    group.attrs.update({k: v for k, v in old[name].attrs.items() if k != "schema_json"})
    for column, spec in schema.columns.items():
        values = read_rows(old[name][column], n) if column in stored.columns else column_values(column, spec, [None] * n)
        write_values(group[column], 0, values)
    for array, spec in schema.arrays.items():
        for dataset in (array, f"{array}.shape"):
            target = new[f"{name}_arrays"][dataset]
            if array not in stored.arrays:  # an empty array of shape (0,) per row
                fill = np.zeros(1, "i8") if dataset.endswith(".shape") else np.empty(0, DTYPES[spec.dtype])
                write_arrays(target, 0, [fill] * n)
                continue
            source = old[f"{name}_arrays"][dataset]
            for start in range(0, n, _COPY_ROWS):  # a block at a time: per-row arrays can be large
                write_arrays(target, start, source[start:min(start + _COPY_ROWS, n)])
    group[N_ROWS][()] = n


def _create_table(f: h5py.File, schema: TableSchema) -> h5py.Group:
    group = f.create_group(schema.name)
    group.attrs.update(key_columns=np.array(schema.key_columns, dtype=DTYPES["str"]),
                       schema_json=schema.to_json(), dftpost_version=__version__, created=_now())
    group.create_dataset(N_ROWS, data=np.int64(0))
    for name, column in schema.columns.items():
        _create_dataset(group, name, DTYPES[column.dtype], column.units, column.doc)
    if schema.arrays:
        arrays = f.create_group(f"{schema.name}_arrays")
        for name, column in schema.arrays.items():
            _create_dataset(arrays, name, h5py.vlen_dtype(DTYPES[column.dtype]), column.units, column.doc)
            _create_dataset(arrays, f"{name}.shape", h5py.vlen_dtype(np.int64), "", f"shape of {name}")
    return group


def _create_dataset(group: h5py.Group, name: str, dtype, units: str, doc: str) -> None:
    dataset = group.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(CHUNK_ROWS,), dtype=dtype)
    dataset.attrs.update(units=units, doc=doc)


def column_values(name: str, column: Column, values: list) -> np.ndarray:
    """The values of column ``name`` for a block of rows as the array written (None: the fill value);
    TypeError for a "str" column given something else."""
    values = [FILLS[column.dtype] if v is None else v for v in values]
    if column.dtype == "str":
        if bad := [v for v in values if not isinstance(v, str)]:
            raise TypeError(f"column {name!r} holds str, got {bad[0]!r}")
        return np.array([printable(v) for v in values], dtype=object)  # UTF-8: no lone surrogates
    return np.array(values, dtype=DTYPES[column.dtype])


def row_array(name: str, column: Column, value) -> np.ndarray:
    """One row's per-row array ``name`` in its dtype (None: an empty one); ValueError for a scalar."""
    if value is None:
        return np.empty(0, DTYPES[column.dtype])
    array = np.asarray(value, dtype=DTYPES[column.dtype])
    if array.ndim == 0:
        raise ValueError(f"{name!r} is a per-row array, got the scalar {value!r}")
    return array


def write_values(dataset: h5py.Dataset, start: int, values: np.ndarray) -> None:
    """Write ``values`` as the elements of a column from ``start`` on, growing it to fit."""
    dataset.resize((start + len(values),))
    dataset[start:] = values


def write_arrays(dataset: h5py.Dataset, start: int, arrays) -> None:
    """Write 1-D arrays as the variable-length elements from ``start`` on, by the low-level API:
    h5py's ``dataset[a:b] = ...`` turns arrays of equal length into a 2-D block it cannot write."""
    values = np.empty(len(arrays), dtype=object)
    for i, array in enumerate(arrays):
        values[i] = array
    dataset.resize((start + len(values),))
    selection = dataset.id.get_space()
    selection.select_hyperslab((start,), (len(values),))
    dataset.id.write(h5py.h5s.create_simple((len(values),)), selection, values)


def tmp_path(path: Path) -> Path:
    """Where :func:`rewrite` writes the new file: ``<path>.tmp``."""
    return path.with_name(path.name + ".tmp")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
