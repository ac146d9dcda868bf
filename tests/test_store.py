"""The HDF5 results store: schema, append, resume, one writer, and a writer killed at any moment."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime

import h5py
import numpy as np
import pytest
from conftest import REPO

from dftpost import __version__
from dftpost.errors import MissingInputError
from dftpost.store import (
    Column,
    ResultStore,
    StoreFormatError,
    StoreLockedError,
    TableSchema,
    latest_rows,
    read_arrays,
    read_table,
)

GAP = TableSchema(
    "gap",
    {
        "run": Column("str", "", "run directory"),
        "input_hash": Column("str", "", "hash of the DFT inputs"),
        "gap_eV": Column("f8", "eV", "water HOMO–LUMO gap"),
        "dipole": Column("f8", "e·Å", "slab dipole μ"),
        "n_water": Column("i8", "", "water molecules"),
        "charge": Column("i1", "e", "total charge"),
        "metallic": Column("bool", "", "water falsely metallized"),
    },
    arrays={"pdos_z": Column("f8", "states/eV", "water PDoS per z slab (n_z × n_E)")},
)


def row(i: int) -> dict:
    """Row ``i`` of the test table: every value follows from i, so any stored row can be checked."""
    return {
        "run": f"frame_{i:04d}",
        "input_hash": f"h{i}·μ",
        "gap_eV": 0.5 * i,
        "dipole": -0.25 * i,
        "n_water": i,
        "charge": i % 5 - 2,
        "metallic": i % 2 == 0,
        "pdos_z": np.full((i % 3 + 1, 4), float(i)),
    }


def assert_rows(path, n: int) -> None:
    """The table in ``path`` holds exactly rows 0 … n-1, intact."""
    table = read_table(path, "gap")
    assert list(table) == list(GAP.columns)
    for name, values in table.items():
        expected = [row(i)[name] for i in range(n)]
        assert values.tolist() == expected, name
    for i in {0, n // 2, n - 1}:
        np.testing.assert_array_equal(read_arrays(path, "gap", i)["pdos_z"], row(i)["pdos_z"])


# A child process: "loop" appends rows (and now and then a new table, which rewrites the file) and
# prints the number of committed rows after each append; "hold" appends a row and waits; "second"
# tries to open the store and prints the error.
CHILD = f"""
import sys, time
sys.path[:0] = [{str(REPO)!r}, {str(REPO / "tests")!r}]
from dftpost.store import ResultStore, StoreLockedError, TableSchema, Column
from test_store import GAP, row
mode, path = sys.argv[1:]
if mode == "second":
    try:
        ResultStore(path)
    except StoreLockedError as error:
        print("StoreLockedError:", error)
    sys.exit()
with ResultStore(path) as store:
    n = len(store.stored_keys("gap"))
    while mode == "loop":
        n = store.append(GAP, [row(n), row(n + 1)])[-1] + 1
        if n % 10 == 0:
            extra = {{"run": Column("str", "", ""), "input_hash": Column("str", "", "")}}
            store.append(TableSchema(f"extra_{{n}}", extra), [{{"run": "x", "input_hash": "y"}}])
        print(n, flush=True)
    store.append(GAP, [row(n)])
    print("holding", flush=True)
    time.sleep(60)
"""


@contextlib.contextmanager
def child(mode: str, path) -> Iterator[subprocess.Popen]:
    """Run CHILD in another process; it is killed when the block ends, however it ends."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        yield proc
    finally:
        proc.kill()
        proc.communicate()


def test_file_and_table_attributes_describe_schema_and_units(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path) as store:
        store.append(GAP, [row(0)])
    with h5py.File(path, "r") as f:
        assert f.attrs["dftpost_schema_version"] == 1
        assert f.attrs["dftpost_version"] == __version__
        datetime.fromisoformat(f.attrs["created"])
        table = f["gap"]
        assert list(table.attrs["key_columns"]) == ["run", "input_hash"]
        assert TableSchema.from_json(table.attrs["schema_json"]) == GAP
        assert json.loads(table.attrs["schema_json"])["columns"]["dipole"]["units"] == "e·Å"
        for name, column in GAP.columns.items():
            dataset = table[name]
            assert dataset.ndim == 1 and dataset.maxshape == (None,) and dataset.chunks is not None
            assert (dataset.attrs["units"], dataset.attrs["doc"]) == (column.units, column.doc)
        assert f["gap_arrays/pdos_z"].attrs["units"] == "states/eV"
        assert f["gap/run"][0].decode() == "frame_0000" and f["gap/input_hash"][0].decode() == "h0·μ"


def test_append_then_read_back_equal(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path) as store:
        assert store.append(GAP, [row(i) for i in range(3)]) == [0, 1, 2]
        assert store.append(GAP, []) == []
    assert_rows(path, 3)
    assert isinstance(read_table(path, "gap")["input_hash"][0], str)
    assert read_arrays(path, "gap", 2)["pdos_z"].shape == (3, 4)
    assert not (tmp_path / "results.h5.tmp").exists()


def test_two_sessions_accumulate_rows(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path) as store:
        store.append(GAP, [row(0), row(1)])
    with ResultStore(path) as store:
        assert store.append(GAP, [row(2)]) == [2]
    assert_rows(path, 3)


def test_stored_keys_lets_a_batch_skip_stored_runs(tmp_path):
    with ResultStore(tmp_path / "results.h5") as store:
        assert store.stored_keys("gap") == set()
        store.append(GAP, [row(0), row(1)])
        assert store.stored_keys("gap") == {("frame_0000", "h0·μ"), ("frame_0001", "h1·μ")}


def test_missing_columns_and_arrays_are_filled(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path) as store:  # e.g. a run that failed before its inputs could be hashed
        store.append(GAP, [{"run": "a", "dipole": None}])
    table = read_table(path, "gap")
    assert table["input_hash"][0] == ""
    assert np.isnan(table["gap_eV"][0]) and np.isnan(table["dipole"][0])
    assert (table["n_water"][0], table["charge"][0], table["metallic"][0]) == (-1, -1, False)
    assert read_arrays(path, "gap", 0)["pdos_z"].size == 0


def test_unknown_column_or_wrong_type_is_refused_and_nothing_written(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path) as store:
        store.append(GAP, [row(0)])
        with pytest.raises(ValueError, match="gap_ev"):
            store.append(GAP, [row(1), {**row(2), "gap_ev": 1.0}])
        with pytest.raises(TypeError, match="run"):
            store.append(GAP, [{**row(1), "run": 7}])
        assert store.append(GAP, [row(1)]) == [1]
    assert_rows(path, 2)


def test_table_stored_with_other_units_is_refused(tmp_path):
    path = tmp_path / "results.h5"
    other = TableSchema("gap", {**GAP.columns, "gap_eV": Column("f8", "Ha", "gap")}, GAP.arrays)
    with ResultStore(path) as store:
        store.append(GAP, [row(0)])
        with pytest.raises(StoreFormatError, match=f"{path}: table 'gap' is stored with other"):
            store.append(other, [row(1)])


def test_table_extended_by_a_newer_schema_keeps_its_rows_and_fills_the_new_columns(tmp_path):
    path = tmp_path / "results.h5"
    newer = TableSchema("gap", {**GAP.columns, "thickness_A": Column("f8", "Å", "slab thickness")},
                        {**GAP.arrays, "time_ps": Column("f8", "ps", "frame times")})
    with ResultStore(path) as store:
        store.append(GAP, [row(0), row(1)])
    with ResultStore(path) as store:
        store.append(newer, [{**row(2), "thickness_A": 9.5, "time_ps": [0.0, 0.5]}])
    table = read_table(path, "gap")
    assert list(table["run"]) == ["frame_0000", "frame_0001", "frame_0002"]
    np.testing.assert_array_equal(table["gap_eV"], [row(i)["gap_eV"] for i in range(3)])
    assert np.isnan(table["thickness_A"][:2]).all() and table["thickness_A"][2] == 9.5
    np.testing.assert_array_equal(read_arrays(path, "gap", 1)["pdos_z"], row(1)["pdos_z"])
    assert read_arrays(path, "gap", 0)["time_ps"].size == 0
    np.testing.assert_array_equal(read_arrays(path, "gap", 2)["time_ps"], [0.0, 0.5])
    with h5py.File(path) as f:
        assert f["gap/thickness_A"].attrs["units"] == "Å"
        assert "thickness_A" in json.loads(f["gap"].attrs["schema_json"])["columns"]


def test_schema_declarations_are_checked():
    with pytest.raises(ValueError, match="dtype"):
        Column("f4", "eV", "")
    with pytest.raises(ValueError, match="key columns"):
        TableSchema("t", {"run": Column("str", "", "")})
    with pytest.raises(ValueError, match="not a valid name"):
        TableSchema("t/x", GAP.columns)


def test_reader_sees_committed_rows_while_the_writer_is_open(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path) as store:
        store.append(GAP, [row(0)])
        assert_rows(path, 1)
        store.append(GAP, [row(1)])
        assert_rows(path, 2)


def test_second_writer_in_the_same_process_is_refused(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path):
        with pytest.raises(StoreLockedError, match=f"{path}: .*another dftpost process .*pid {os.getpid()}"):
            ResultStore(path)
    ResultStore(path).close()  # released when the first writer closed


def test_second_writer_in_another_process_is_refused(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path), child("second", path) as proc:
        out, err = proc.communicate(timeout=30)
    assert out.startswith(f"StoreLockedError: {path}: the file is being written by another dftpost "
                          f"process (pid {os.getpid()} on "), err


def test_lock_of_a_killed_writer_does_not_block(tmp_path):
    path = tmp_path / "results.h5"
    with child("hold", path) as proc:
        assert proc.stdout.readline() == "holding\n", proc.stderr.read()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with ResultStore(path) as store:  # the file still carries HDF5's "open for writing" mark
        assert store.append(GAP, [row(1)]) == [1]
    assert_rows(path, 2)


@pytest.mark.parametrize("kill_after", [38, 44])  # 38: next comes a new table, i.e. a rewrite
def test_writer_killed_while_appending_loses_no_flushed_row(tmp_path, kill_after):
    path = tmp_path / "results.h5"
    flushed = 0
    with child("loop", path) as proc:
        while flushed < kill_after:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            flushed = int(line)
            if flushed == 20:  # another process reads while the writer appends
                assert len(read_table(path, "gap")["run"]) >= 20
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    n = len(read_table(path, "gap")["run"])
    assert n >= flushed
    assert_rows(path, n)
    extras = [f"extra_{k}" for k in range(10, n, 10)]  # each added before the rows after it
    assert all(len(read_table(path, name)["run"]) == 1 for name in extras)
    with ResultStore(path) as store:
        assert store.append(GAP, [row(n)]) == [n]
    assert_rows(path, n + 1)
    assert all(len(read_table(path, name)["run"]) == 1 for name in extras)
    assert not (tmp_path / "results.h5.tmp").exists()


def test_not_a_store_is_refused_with_the_file_named(tmp_path):
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = 1.0
    text = tmp_path / "notes.txt"
    text.write_text("not HDF5\n")
    for path, problem in [(plain, "not a dftpost results store"), (text, "cannot be read as HDF5")]:
        for open_it in (ResultStore, lambda p: read_table(p, "gap")):
            with pytest.raises(StoreFormatError, match=f"^{path}: {problem}"):
                open_it(path)
    assert not (tmp_path / "notes.txt.lock").exists()
    assert text.read_text() == "not HDF5\n"


def test_store_from_a_newer_dftpost_is_refused(tmp_path):
    path = tmp_path / "results.h5"
    ResultStore(path).close()
    with h5py.File(path, "r+") as f:
        f.attrs["dftpost_schema_version"] = 2
    with pytest.raises(StoreFormatError, match=f"^{path}: written by a newer dftpost"):
        ResultStore(path)


def test_missing_file_table_or_row_is_reported(tmp_path):
    path = tmp_path / "results.h5"
    with pytest.raises(MissingInputError, match=f"^{path}: no such file"):
        read_table(path, "gap")
    with ResultStore(path) as store:
        store.append(GAP, [row(0)])
    with pytest.raises(MissingInputError, match=r"no table 'dos' \(tables: gap\)"):
        read_table(path, "dos")
    with pytest.raises(MissingInputError, match="has no row 1 "):
        read_arrays(path, "gap", 1)


def test_append_once_stores_a_run_and_its_inputs_once(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path) as store:
        assert store.append_once(GAP, row(0)) is True
        assert store.append_once(GAP, {**row(0), "gap_eV": 9.0}) is False  # same run and inputs
        assert store.append_once(GAP, {**row(0), "input_hash": "other"}) is True  # other inputs
        assert store.append_once(GAP, row(1)) is True
    table = read_table(path, "gap")
    assert table["run"].tolist() == ["frame_0000", "frame_0000", "frame_0001"]
    assert table["gap_eV"].tolist() == [0.0, 0.0, 0.5]


def test_latest_rows_gives_each_run_its_last_row(tmp_path):
    path = tmp_path / "results.h5"
    with ResultStore(path) as store:
        store.append(GAP, [row(0), row(1), {**row(0), "input_hash": "new", "gap_eV": 7.5}, row(2)])
    latest = latest_rows(path, "gap")
    assert list(latest) == ["frame_0001", "frame_0000", "frame_0002"]  # in the order of their last rows
    assert latest["frame_0000"]["gap_eV"] == 7.5 and latest["frame_0000"]["input_hash"] == "new"
    assert latest["frame_0002"] == {k: v for k, v in row(2).items() if k != "pdos_z"}
    assert all(type(v) in (str, int, float, bool) for v in latest["frame_0002"].values())
    chosen = latest_rows(path, "gap", ["frame_0002", "frame_9999", "frame_0000"])
    assert list(chosen) == ["frame_0002", "frame_0000"]  # in the order asked, unknown runs left out
    with pytest.raises(MissingInputError, match="no table 'dipole'"):
        latest_rows(path, "dipole")
