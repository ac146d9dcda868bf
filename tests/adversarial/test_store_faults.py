"""The results file under faults: damaged, cut short, a directory, a full disk or a file-size limit.

Each case runs the installed command line as a user would and checks the promises: exit 1, one
line on stderr naming the file and the problem, no traceback, nothing written into a file that
does not validate, no leftover files, and the rows stored before still readable.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from hostile import CP2K_RUNS as RUNS
from hostile import ONE_RUN, dftpost, one_line_error

GOOD_RUNS = [RUNS / "water4_frames", RUNS / "water4_slab"]  # every fixture run that analyses without error
PAIR = [RUNS / "water4_slab" / "nofield", RUNS / "water4_slab" / "field"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A real store: the gap rows of the fixture runs."""
    folder = tmp_path_factory.mktemp("store")
    done = dftpost("gap", *GOOD_RUNS, "--out", folder / "results.h5", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "results.h5"


def damaged_copies(store: Path, folder: Path) -> dict[str, Path]:
    data = store.read_bytes()
    made = {}

    def write(name: str, content: bytes) -> None:
        made[name] = folder / f"{name}.h5"
        made[name].write_bytes(content)

    write("half", data[: len(data) // 2])
    write("first-kilobytes", data[:4096])
    rng = np.random.default_rng(7)
    for where in (0.05, 0.3, 0.6, 0.9):  # random bytes over 4 kB at four places
        block = bytearray(data)
        at = int(where * len(data))
        block[at : at + 4096] = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
        write(f"noise-at-{where:g}", bytes(block))
    for name, change in {
        "schema-not-json": lambda f: f["gap"].attrs.modify("schema_json", "{not json"),
        "version-as-text": lambda f: (f.attrs.__delitem__("dftpost_schema_version"),
                                      f.attrs.create("dftpost_schema_version", "1")),
        "rows-beyond-data": lambda f: f["gap/_n_rows"].write_direct(np.array(40, dtype="i8")),
    }.items():
        shutil.copy(store, folder / f"{name}.h5")
        with h5py.File(folder / f"{name}.h5", "r+") as f:
            change(f)
        made[name] = folder / f"{name}.h5"
    return made


def test_damaged_files_are_one_line_and_never_written_into(store, tmp_path):
    """Reading a damaged store (summary) and appending to it (gap): exit 1 with one line naming the
    file, or, where the damage hit nothing dftpost reads, a normal answer; never a traceback, and
    a file that does not validate is left byte for byte as it was."""
    for name, path in damaged_copies(store, tmp_path).items():
        before = path.read_bytes()
        summary = dftpost("summary", path, "--json", cwd=tmp_path)
        assert "Traceback" not in summary.stderr, (name, summary.stderr[-3000:])
        if summary.returncode != 0:
            one_line_error(summary, str(path))
        gap = dftpost("gap", ONE_RUN, "--out", path, "--force", "--json", cwd=tmp_path)
        assert "Traceback" not in gap.stderr, (name, gap.stderr[-3000:])
        if gap.returncode != 0:
            line = one_line_error(gap, str(path))
            assert path.read_bytes() == before, f"{name}: written into although it did not validate"
            assert not path.with_name(path.name + ".lock").exists(), name
            assert not path.with_name(path.name + ".tmp").exists(), name
        else:
            assert summary.returncode == 0, f"{name}: refused by summary but written into by gap"
        if name in ("half", "schema-not-json", "version-as-text", "rows-beyond-data", "first-kilobytes"):
            assert summary.returncode == gap.returncode == 1, name
        if name == "rows-beyond-data":
            assert "40 rows committed" in line and "cut short" in line


@pytest.mark.parametrize("command", ["gap", "summary", "field-profile"])
def test_out_naming_a_directory_is_one_line(command, tmp_path):
    args = {"gap": ["gap", ONE_RUN, "--out"], "summary": ["summary"], "field-profile": ["field-profile", *PAIR, "--out"]}
    result = dftpost(*args[command], tmp_path, cwd=tmp_path)
    one_line_error(result, str(tmp_path), "is a directory")


@pytest.mark.parametrize("command", ["gap", "field-profile"])
def test_a_file_size_limit_refuses_the_write_and_keeps_the_stored_rows(command, tmp_path):
    """Under ``ulimit -f`` just above the store's size, appending a row (gap) or a new table
    (field-profile, a rewrite of the file) is refused in one line: no crash, no leftover .tmp,
    the rows stored before still read, and once the limit is lifted the same command stores."""
    out = tmp_path / "results.h5"
    assert dftpost("gap", ONE_RUN, "--out", out, cwd=tmp_path).returncode == 0
    size = out.stat().st_size
    args = ["gap", *GOOD_RUNS] if command == "gap" else ["field-profile", *PAIR]
    limited = dftpost(*args, "--out", out, cwd=tmp_path, fsize=size + 32 * 1024)
    one_line_error(limited, str(out), "no room", "the rows stored before are intact")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.h5", "results.h5.lock"]
    summary = dftpost("summary", out, "--json", cwd=tmp_path)
    assert summary.returncode == 0 and json.loads(summary.stdout)["n_runs"] == 1
    free = dftpost(*args, "--out", out, cwd=tmp_path)
    assert free.returncode == 0, free.stderr


def test_rows_without_a_dipole_are_left_out_of_the_bins_and_counted(store, tmp_path):
    """A file whose gap rows carry no dipole (NaN: written before the column existed, extended
    since) is summarised without phantom bins: those rows count as runs, not in the bins."""
    path = tmp_path / "old.h5"
    shutil.copy(store, path)
    with h5py.File(path, "r+") as f:
        n = int(f["gap/_n_rows"][()])
        dipoles = f["gap/dipole_e_per_A"]
        dipoles[: n // 2] = np.nan
    result = dftpost("summary", path, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["n_ok"] == n and data["n_not_binned"] == n // 2
    assert sum(b["count"] for b in data["gap_by_dipole"]) == n - n // 2
    assert all(abs(b["centre_e_per_A"]) < 1 for b in data["gap_by_dipole"])
    table = dftpost("summary", path, cwd=tmp_path)
    assert table.returncode == 0 and f"{n // 2} run(s) that succeeded have no dipole" in table.stderr


def test_two_damaged_tables_are_one_line_naming_the_first(store, tmp_path):
    """Each damaged table is checked once: two of them give one line, not an endless recursion."""
    path = tmp_path / "two.h5"
    shutil.copy(store, path)
    with h5py.File(path, "r+") as f:
        f.copy("gap", "gap_copy")
        for name in ("gap", "gap_copy"):
            f[name].attrs.modify("schema_json", "{not json")
    line = one_line_error(dftpost("summary", path, cwd=tmp_path), str(path), "damaged: table 'gap'")
    assert line.endswith("no table can be read")
