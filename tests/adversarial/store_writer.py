"""The rows of the store fuzz (tests/adversarial/test_store_fuzz.py), and the writer it kills.

``python store_writer.py OUT FIRST COUNT`` appends rows FIRST, FIRST+1, ... one per append to
the store OUT, printing each row's number once :meth:`~dftpost.store.ResultStore.append`
returned (the row is then committed), then waits, the store still open, to be killed.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from dftpost.store import Column, ResultStore, TableSchema

SCHEMA = TableSchema(
    "fuzz",
    {
        "run": Column("str", "", "row name"),
        "input_hash": Column("str", "", "row fingerprint"),
        "value": Column("f8", "", "the row number"),
    },
    arrays={"series": Column("f8", "", "0 .. (row number mod 7) - 1")},
)


def make_row(number: int) -> dict:
    """Row ``number``: its key (run, input_hash) and values that say which row it is."""
    return {"run": f"run-{number:04d}", "input_hash": f"h{number}", "value": float(number),
            "series": np.arange(number % 7, dtype=float)}


def main(out: str, first: int, count: int) -> None:
    with ResultStore(out) as store:
        for number in range(first, first + count):
            store.append(SCHEMA, [make_row(number)])
            print(number, flush=True)
        time.sleep(120)  # killed here at the latest, the file open


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
