"""What a table of a results store is: its columns and per-row arrays (:class:`Column`,
:class:`TableSchema`), their dtypes and fill values, when a stored table can take a schema
(:func:`layout`, :func:`extends`), and the names the schema takes in the HDF5 file (the row count
``_n_rows``, the ``schema_json`` attribute). The file layout is described in :mod:`dftpost.store`."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

import h5py
import numpy as np

SCHEMA_VERSION = 1
"""Version of the file layout described in :mod:`dftpost.store`; raise it when the layout changes."""

DTYPES = {
    "f8": np.dtype("f8"),
    "i8": np.dtype("i8"),
    "i1": np.dtype("i1"),
    "bool": np.dtype(bool),
    "str": h5py.string_dtype("utf-8"),
}
FILLS = {"f8": np.nan, "i8": -1, "i1": -1, "bool": False, "str": ""}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
N_ROWS = "_n_rows"


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
        if self.dtype not in DTYPES:
            raise ValueError(f"column dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")


@dataclass(frozen=True)
class TableSchema:
    """A table: its name, its columns, its per-row arrays and the columns that identify a row.

    Rows with equal ``key_columns`` values come from the same run with the same inputs
    (see :meth:`dftpost.store.ResultStore.stored_keys`). Names are letters, digits and "_", a letter first.
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


def stored_schema(group: h5py.Group) -> TableSchema:
    """The schema stored with the table ``group`` (its ``schema_json`` attribute)."""
    return TableSchema.from_json(group.attrs["schema_json"])


def extends(schema: TableSchema, stored: TableSchema) -> bool:
    """True when ``schema`` is ``stored`` with columns or arrays added (nothing else changed)."""
    new_key, new_columns, new_arrays = layout(schema)
    old_key, old_columns, old_arrays = layout(stored)
    return (new_key == old_key and all(new_columns.get(k) == v for k, v in old_columns.items())
            and all(new_arrays.get(k) == v for k, v in old_arrays.items()))


def layout(schema: TableSchema) -> tuple:
    """What must agree between a stored table and a schema appended to it (docs may differ)."""
    return (schema.key_columns,
            {n: (c.dtype, c.units) for n, c in schema.columns.items()},
            {n: (c.dtype, c.units) for n, c in schema.arrays.items()})


def read_rows(dataset: h5py.Dataset, n: int) -> np.ndarray:
    """The first ``n`` values of a column (the committed rows); "str" columns as Python str."""
    return dataset.asstr()[:n] if h5py.check_string_dtype(dataset.dtype) else dataset[:n]
