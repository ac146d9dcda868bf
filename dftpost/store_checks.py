"""Opening a results store for reading (:func:`open_read`) and the checks that keep dftpost from
reading garbage or writing into a file it must not: not a store, written by a newer dftpost, cut
short (:func:`_check_length`), or damaged (:func:`validate`, :class:`damage`). Each raises
:class:`StoreFormatError` in one line naming the file, the damaged part and the tables still
readable; HDF5's own messages are cut to one line by :func:`reason`."""

from __future__ import annotations

import os
import re
from pathlib import Path

import h5py
import numpy as np

from .errors import DftpostError, MissingInputError
from .io.files import HDF5_SIGNATURE, regular_file
from .lock import writer_active
from .store_schema import N_ROWS, SCHEMA_VERSION, read_rows, stored_schema


class StoreFormatError(DftpostError):
    """The file is not a dftpost store this version can use, is damaged, or a table in it has
    other columns."""


def open_read(path: Path) -> h5py.File:
    """Open a store read-only as a SWMR reader without HDF5's file lock (see :mod:`dftpost.store`)."""
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
        raise StoreFormatError(path, f"cannot be read as HDF5: not an HDF5 file, or damaged beyond opening ({reason(error)})") from None
    try:
        version = f.attrs.get("dftpost_schema_version")
    except (OSError, RuntimeError, KeyError) as error:
        f.close()
        raise StoreFormatError(path, f"damaged: its attributes cannot be read ({reason(error)})") from None
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
    if size < end and not writer_active(path):
        raise StoreFormatError(path, f"damaged: cut short, {size} of the {end} bytes it says it holds "
                                     "(a copy or a write that did not finish)")


def reason(error: BaseException) -> str:
    """An HDF5 or OS error in one short line (HDF5's messages span lines and name C functions)."""
    text = " ".join(str(error).split())
    if m := re.search(r"error message = '([^']*)'", text):  # HDF5's record of a failed system call
        text = m.group(1)
    text = re.sub(r"^\[Errno \d+\]\s*", "", text)
    text = re.sub(r"^Unable to (?:synchronously )?\w+ \w+ \((.*)\)$", r"\1", text)
    return text[:200]


class damage:
    """Turns the errors h5py raises on a damaged file into one :class:`StoreFormatError` that
    names the part that failed and the tables that can still be read."""

    def __init__(self, path: Path, what: str, f: h5py.File):
        self.path, self.what, self.f = path, what, f

    def __enter__(self):
        return self

    def __exit__(self, kind, error, _tb):
        if error is None or not isinstance(error, (OSError, RuntimeError, KeyError, ValueError, TypeError)):
            return False
        raise StoreFormatError(self.path, f"damaged: {self.what} cannot be read ({reason(error)})"
                                          f"{_readable(self.f, self.path)}") from None


def _readable(f: h5py.File, path: Path, besides: str | None = None) -> str:
    """``"; tables still readable: a, b"`` (or that none is) for a message about a damaged file;
    ``besides``: the damaged table the message names, left out of the list."""
    good = [name for name in table_names(f) if name != besides and _table_damage(f, name) is None]
    return f"; tables still readable: {', '.join(good)}" if good else "; no table can be read"


def table_names(f: h5py.File) -> list[str]:
    """The tables of an open store (groups with a ``schema_json`` attribute), sorted."""
    names = []
    for name in f.keys():
        try:
            if isinstance(f[name], h5py.Group) and "schema_json" in f[name].attrs:
                names.append(name)
        except (OSError, RuntimeError, KeyError):
            names.append(name)  # a group whose header cannot be read: reported by validate
    return sorted(names)


def validate(f: h5py.File, path: Path, tables: list[str] | None) -> None:
    """Check ``tables`` (all when None) of an open store before anything reads or writes them
    (:func:`_table_damage`). Raises :class:`StoreFormatError` naming the damaged part and the
    tables still readable."""
    for name in table_names(f) if tables is None else tables:
        if (problem := _table_damage(f, name)) is not None:
            raise StoreFormatError(path, f"damaged: table {name!r}: {problem}{_readable(f, path, besides=name)}")


def _table_damage(f: h5py.File, name: str) -> str | None:
    """What is wrong with table ``name`` in one line, or None: the schema parses, every column
    and per-row array holds at least the committed rows (a file cut while growing holds fewer),
    and the committed values of every column can be read. Costs one read of the columns (one
    value per row), not of the per-row arrays' contents."""
    try:
        group = f[name]
        schema = stored_schema(group)
        n = int(group[N_ROWS][()])
        if n < 0:
            return f"a negative row count {n}"
        for column in schema.columns:
            size = group[column].shape[0]
            if size < n:
                return f"{n} rows committed but column {column!r} holds {size} (a file cut short?)"
            read_rows(group[column], n)
        if schema.arrays:
            arrays = f[f"{name}_arrays"]
            for array in schema.arrays:
                for dataset in (array, f"{array}.shape"):
                    size = arrays[dataset].shape[0]
                    if size < n:
                        return f"{n} rows committed but array {dataset!r} holds {size} (a file cut short?)"
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as error:
        return reason(error)
    return None


def table_group(f: h5py.File, path: Path, table: str) -> h5py.Group:
    """The group of ``table``; :class:`MissingInputError` naming the tables there are if there is none."""
    if table not in f or "schema_json" not in f[table].attrs:
        tables = sorted(n for n, g in f.items() if "schema_json" in g.attrs)
        raise MissingInputError(path, f"no table {table!r} (tables: {', '.join(tables) or 'none'})")
    return f[table]
