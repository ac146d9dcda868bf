"""Run folders as they are on shared clusters: the results file inside the run, a file given
where a run is expected, names that are not UTF-8, a run deleted while the batch runs, and far
more workers asked for than there are cores.

The promises: each run stored exactly once, the good runs of a batch stored whatever happens to
the others, an odd run an error row that shows its name, and never a traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import h5py
import pytest
from hostile import FRAMES, ONE_RUN, copy_runs, dftpost, failed_lines, one_line_error, stored_runs

from dftpost import process_pool as backends
from dftpost.analysis.bandedges import BandEdgeParameters
from dftpost.batch import GapTask, analyse_gap, gap_batch
from dftpost.io.rundir import input_hash


def test_results_in_the_run_folder_store_the_run_once(tmp_path):
    """``cd run && dftpost gap .`` three times: the default results.h5 (and its lock) lands in
    the run folder, and is not an input of the run: one row."""
    run = copy_runs(tmp_path, ["run"])[0]
    for attempt in range(3):
        result = dftpost("gap", ".", cwd=run)
        assert result.returncode == 0, result.stderr
        assert ("already stored" in result.stderr) == (attempt > 0), result.stderr
    assert stored_runs(run / "results.h5") == {(str(run), "ok"): 1}


def test_a_store_its_lock_and_its_tmp_leave_the_fingerprint_as_it_was(tmp_path):
    """Any results file, its lock and the .tmp of a rewrite (an HDF5 file by its signature,
    under any name) are not inputs; a new file that is one changes the fingerprint."""
    run = copy_runs(tmp_path, ["run"])[0]
    before = input_hash(run)
    with h5py.File(run / "campaign.h5", "w") as f:
        f["x"] = 1
    shutil.copy(run / "campaign.h5", run / "campaign.h5.tmp")
    (run / "campaign.h5.lock").write_text("pid 4242 on node17")
    (run / "results.h5.lock").write_text("")  # as the writer leaves it for an instant
    assert input_hash(run) == before
    (run / "control.lock").write_text("a lock of another program: its content is an input")
    assert input_hash(run) != before


def test_a_file_that_is_not_a_run_is_one_line_and_a_log_stands_for_its_run(tmp_path):
    run = copy_runs(tmp_path, ["run"])[0]
    (run / "slab.extxyz").write_text((run / "water4.xyz").read_text())
    one_line_error(dftpost("gap", run / "slab.extxyz", "--out", tmp_path / "r.h5", cwd=tmp_path),
                   "slab.extxyz", "not a run")
    assert not (tmp_path / "r.h5").exists()
    result = dftpost("gap", run / "water4.out", "--out", tmp_path / "r.h5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert stored_runs(tmp_path / "r.h5") == {(str(run), "ok"): 1}


def test_names_that_are_not_utf8_store_the_good_runs(tmp_path):
    """Six good runs (one holding a file whose name is not UTF-8) and one run folder whose name
    is not UTF-8, sorted first: the six are stored, the odd one is an error row showing its
    name with \\xNN escapes, and a second pass stores nothing again."""
    folder = tmp_path / "campaign"
    good = copy_runs(folder, [f"run{i}" for i in range(6)])
    (good[2] / "notes-\xe9".encode("latin-1").decode("utf-8", "surrogateescape")).write_text("x")
    copy_runs(folder, [b"a-\xff\xfe-run"])
    out = tmp_path / "results.h5"
    result = dftpost("gap", folder, "--out", out, "--json", cwd=tmp_path)
    assert failed_lines(result) == []  # with --json the failure is in the run's JSON line
    shown = f"{folder}/a-\\xff\\xfe-run"
    [odd] = [row for row in map(json.loads, result.stdout.splitlines()) if row["status"] == "error"]
    assert odd["run"] == shown and odd["error"].startswith(f"{shown}: the path is not valid UTF-8"), odd
    assert stored_runs(out) == {**{(str(r), "ok"): 1 for r in good}, (shown, "error"): 1}
    again = dftpost("gap", folder, "--out", out, cwd=tmp_path)
    assert again.returncode == 0 and "7 run(s) already stored" in again.stderr, again.stderr
    assert sum(stored_runs(out).values()) == 7


def test_a_run_deleted_while_the_batch_runs_is_an_error_row(tmp_path):
    """Ten runs analysed one after the other; once the first row is out, the last run is deleted:
    it is an error row saying it disappeared, the nine others are stored."""
    runs = copy_runs(tmp_path / "campaign", [f"run{i}" for i in range(10)])
    out = tmp_path / "results.h5"
    command = [sys.executable, "-c", "from dftpost.cli.main import app; app()", "gap", str(tmp_path / "campaign"),
               "--out", str(out), "--json", "--workers", "1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path) as proc:
        first = proc.stdout.readline()
        assert str(runs[0]) in first, first
        shutil.rmtree(runs[-1])
        stdout, stderr = proc.communicate(timeout=120)
    result = subprocess.CompletedProcess(command, proc.returncode, first + stdout, stderr)
    assert failed_lines(result) == []  # with --json the failure is in the run's JSON line
    [gone] = [row for row in map(json.loads, result.stdout.splitlines()) if row["status"] == "error"]
    assert gone["run"] == str(runs[-1]) and gone["error"] == f"{runs[-1]}: the run directory disappeared while it was being read"
    assert stored_runs(out) == {**{(str(r), "ok"): 1 for r in runs[:-1]}, (str(runs[-1]), "error"): 1}


def test_a_run_gone_before_its_analysis_is_an_error_row(tmp_path):
    run = copy_runs(tmp_path, ["run"])[0]
    shutil.rmtree(run)
    row = analyse_gap(GapTask(run, BandEdgeParameters()))
    assert row["status"] == "error" and row["error"] == f"{run}: the run directory disappeared while it was being read"


def test_workers_far_beyond_the_cores_are_capped(tmp_path, monkeypatch):
    """``workers=100000`` for three runs starts no more processes than the cores this process may
    use and the runs (the pool size is what ``_new_pool`` is asked for), and the rows are those
    of one worker."""
    sizes = []
    new_pool = backends._new_pool
    monkeypatch.setattr(backends, "_new_pool", lambda workers, func: sizes.append(workers) or new_pool(workers, func))
    runs = [FRAMES / f"frame_{i}" for i in range(3)]
    rows = gap_batch(runs, tmp_path / "r.h5", workers=100_000)
    assert sizes and max(sizes) == min(3, backends.default_workers())
    assert sorted((r["run"], r["status"]) for r in rows) == [(str(r), "ok") for r in runs]


@pytest.mark.slow  # the cap itself is tested above; this is the command as a user types it
def test_workers_100000_on_the_command_line(tmp_path):
    result = dftpost("gap", ONE_RUN.parent, "--out", tmp_path / "r.h5", "--workers", "100000", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert stored_runs(tmp_path / "r.h5") == {(str(FRAMES / f"frame_{i}"), "ok"): 1 for i in range(4)}
