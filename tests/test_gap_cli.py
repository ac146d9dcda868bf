"""``dftpost gap`` and ``dftpost summary`` as a job script calls them, with the HDF5 results."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import CP2K_FIXTURE

from dftpost.analysis.bandedges import BandEdgeParameters
from dftpost.batch import GapTask, analyse_gap, gap_batch
from dftpost.store import ResultStore, read_arrays, read_table

GAP_KEYS = {"run", "status", "vbm_eV", "cbm_eV", "gap_eV", "metallized", "dipole_e_per_A", "fermi_level_eV"}


def dftpost(*args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "dftpost"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from dftpost.cli.main import app; app()"]
    with tempfile.TemporaryDirectory() as elsewhere:
        return subprocess.run([*command, *args], capture_output=True, text=True, cwd=elsewhere)


@pytest.fixture
def campaign(copy_dir, tmp_path):
    """A parent folder with the two real CP2K runs and one broken run."""
    parent = tmp_path / "campaign"
    parent.mkdir()
    copy_dir(CP2K_FIXTURE / "nofield", "campaign/frame_000")
    copy_dir(CP2K_FIXTURE / "field", "campaign/frame_001")
    broken = copy_dir(CP2K_FIXTURE / "nofield", "campaign/frame_002")
    for p in broken.glob("*.pdos"):
        p.unlink()
    return parent


def test_gap_json_lines_exit_code_and_store(campaign, tmp_path):
    out = tmp_path / "results.h5"
    result = dftpost("gap", str(campaign), "--out", str(out), "--json", "--workers", "2")
    assert result.returncode == 1, result.stderr  # one run failed, the others are stored
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3 and all(GAP_KEYS <= set(line) for line in lines)
    by_run = {Path(line["run"]).name: line for line in lines}
    ok = by_run["frame_000"]
    assert ok["status"] == "ok" and ok["metallized"] is False and 5.6 < ok["gap_eV"] < 6.7
    failed = by_run["frame_002"]
    assert failed["status"] == "error" and "no projected DoS" in failed["error"] and "frame_002" in failed["error"]
    assert failed["gap_eV"] is None
    table = read_table(out, "gap")
    assert sorted(Path(r).name for r in table["run"]) == ["frame_000", "frame_001", "frame_002"]
    i = list(table["run"]).index(ok["run"])
    assert table["gap_eV"][i] == pytest.approx(ok["gap_eV"])
    assert json.loads(table["parameters"][i])["d_cut_A"] == 3.5
    arrays = read_arrays(out, "gap", i)
    assert arrays["water_dos"].shape == arrays["energies_eV"].shape
    assert arrays["z_resolved_dos"].shape == (2, arrays["energies_eV"].size)


def test_rerun_skips_stored_runs_and_force_redoes_them(campaign, tmp_path):
    out = tmp_path / "results.h5"
    dftpost("gap", str(campaign / "frame_000"), "--out", str(out), "--json")
    again = dftpost("gap", str(campaign / "frame_000"), "--out", str(out), "--json")
    assert again.returncode == 0
    (stored,) = [json.loads(line) for line in again.stdout.splitlines()]  # a pipe gets one object per run
    assert stored["stored"] is True and stored["status"] == "ok" and Path(stored["run"]).name == "frame_000"
    assert "already stored" in again.stderr
    assert len(read_table(out, "gap")["run"]) == 1
    # a changed input is analysed again
    log = campaign / "frame_000" / "water4.out"
    log.write_text(log.read_text() + "\n")
    changed = dftpost("gap", str(campaign / "frame_000"), "--out", str(out), "--json")
    assert [json.loads(line)["stored"] for line in changed.stdout.splitlines()] == [False]
    forced = dftpost("gap", str(campaign / "frame_000"), "--out", str(out), "--json", "--force")
    assert len(forced.stdout.splitlines()) == 1
    assert len(read_table(out, "gap")["run"]) == 3


def test_rerun_over_a_stored_failure_still_exits_1(campaign, tmp_path):
    """A run that failed is stored with its error; the same command again does not analyse it
    again but prints it (stored) and exits 1, as the first pass did."""
    out = tmp_path / "results.h5"
    first = dftpost("gap", str(campaign), "--out", str(out), "--json")
    again = dftpost("gap", str(campaign), "--out", str(out), "--json")
    assert first.returncode == again.returncode == 1, again.stderr
    lines = [json.loads(line) for line in again.stdout.splitlines()]
    assert len(lines) == 3 and all(line["stored"] for line in lines)
    assert [Path(line["run"]).name for line in lines if line["status"] != "ok"] == ["frame_002"]
    table = dftpost("gap", str(campaign), "--out", str(out))
    assert table.returncode == 1 and "frame_002" in table.stdout + table.stderr
    ok_only = dftpost("gap", str(campaign / "frame_000"), "--out", str(out), "--json")
    assert ok_only.returncode == 0


def test_serial_and_parallel_batches_store_the_same_numbers(campaign, tmp_path):
    params = BandEdgeParameters()
    serial = gap_batch([campaign], tmp_path / "serial.h5", params, workers=1)
    parallel = gap_batch([campaign], tmp_path / "parallel.h5", params, workers=2)
    a, b = read_table(tmp_path / "serial.h5", "gap"), read_table(tmp_path / "parallel.h5", "gap")
    order_a, order_b = np.argsort(a["run"]), np.argsort(b["run"])
    for column in ("run", "status", "gap_eV", "vbm_eV", "cbm_eV", "dipole_e_per_A", "input_hash"):
        x, y = np.asarray(a[column])[order_a], np.asarray(b[column])[order_b]
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y)
        else:
            assert list(x) == list(y)
    assert len(serial) == len(parallel) == 3


def test_second_writer_gets_a_lock_error(campaign, tmp_path):
    out = tmp_path / "results.h5"
    with ResultStore(out):
        result = dftpost("gap", str(campaign / "frame_000"), "--out", str(out))
    assert result.returncode == 1
    assert "results.h5" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_exit_2(campaign, tmp_path):
    from dftpost.cli.main import app
    from typer.testing import CliRunner

    def gap(*args):  # in this process: exit codes and messages are the command's own
        return CliRunner().invoke(app, ["gap", *args])

    assert gap(str(campaign), "--threshold-mode", "percent", "--out", str(tmp_path / "r.h5")).exit_code == 2
    assert gap("--no-such-option").exit_code == 2
    missing = gap(str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.h5"))
    assert missing.exit_code == 1 and "no such file" in missing.stderr
    assert not (tmp_path / "r.h5").exists()


def test_user_dipole_is_used_and_recorded(tmp_path):
    row = analyse_gap(GapTask(CP2K_FIXTURE / "nofield", BandEdgeParameters(), dipole_e_per_A=-0.01))
    assert row["status"] == "ok" and row["dipole_e_per_A"] == -0.01 and row["dipole_source"] == "given by the user"


def test_summary_json(campaign, tmp_path):
    out = tmp_path / "results.h5"
    dftpost("gap", str(campaign), "--out", str(out))
    result = dftpost("summary", str(out), "--json", "--bin-width", "0.01")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["n_runs"] == 3 and data["n_ok"] == 2 and data["n_failed"] == 1
    assert data["metallized_fraction"] == 0.0
    (bin_,) = data["gap_by_dipole"]
    table = read_table(out, "gap")
    ok = np.asarray(table["status"]) == "ok"
    assert bin_["count"] == 2 and bin_["mean_gap_eV"] == pytest.approx(float(np.mean(table["gap_eV"][ok])))
    assert bin_["std_gap_eV"] == pytest.approx(float(np.std(table["gap_eV"][ok])))
    assert math.isclose(bin_["centre_e_per_A"], 0.02)
    not_a_store = tmp_path / "x.h5"
    not_a_store.write_bytes(b"junk")
    bad = dftpost("summary", str(not_a_store))
    assert bad.returncode == 1 and "x.h5" in bad.stderr and "Traceback" not in bad.stderr


def test_waiting_writer_takes_its_turn(campaign, tmp_path):
    """A job that finds the store busy waits (--wait) and stores its row when the other ends."""
    out = tmp_path / "results.h5"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import time; from dftpost.store import ResultStore; s = ResultStore({str(out)!r}); time.sleep(3); s.close()"]
    )
    time.sleep(1.5)
    result = dftpost("gap", str(campaign / "frame_000"), "--out", str(out), "--wait", "30", "--json")
    holder.wait()
    assert result.returncode == 0, result.stderr
    assert len(read_table(out, "gap")["run"]) == 1


def test_worker_processes_started_from_the_source_checkout(tmp_path):
    """The README runs ``dftpost gap fixtures/cp2k`` from the checkout, whose dftpost/ folder
    lacks the installed dftpost.cli: the worker processes must still import the installed one."""
    script = Path(sys.executable).parent / "dftpost"
    if not script.exists():
        pytest.skip("needs the installed dftpost command")
    result = subprocess.run([str(script), "gap", "fixtures/cp2k/water4_slab", "--out", str(tmp_path / "r.h5"),
                             "--workers", "2", "--json"], capture_output=True, text=True, cwd=CP2K_FIXTURE.parents[2])
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)


def test_json_gives_the_edges_per_spin_fresh_and_stored(monkeypatch, tmp_path):
    """A spin-polarised run (the real closed-shell run as two channels, the down one moved by
    0.4 eV) prints its edges per channel in gap --json, when analysed and when read back stored."""
    from dataclasses import replace

    from dftpost.cli.main import app
    from typer.testing import CliRunner

    import dftpost.analyses.gap as gap_module
    from dftpost.dos import ProjectedDos

    real_read_run = gap_module.read_run

    def two_channels(path):
        run = real_read_run(path)
        pdos = run.pdos
        eps = pdos.eigenvalues_eV[0]
        return replace(run, pdos=ProjectedDos(
            fermi_level_eV=pdos.fermi_level_eV, projections=pdos.projections,
            values=np.concatenate([pdos.values, pdos.values]), eigenvalues_eV=np.stack([eps, eps + 0.4]),
            occupations=np.concatenate([pdos.occupations, pdos.occupations]) / 2, spin_degeneracy=1))

    monkeypatch.setattr(gap_module, "read_run", two_channels)
    args = ["gap", str(CP2K_FIXTURE / "nofield"), "--out", str(tmp_path / "r.h5"), "--workers", "1", "--json"]
    fresh = json.loads(CliRunner().invoke(app, args).stdout)
    stored = json.loads(CliRunner().invoke(app, args).stdout)
    assert not fresh["stored"] and stored["stored"]
    for line in (fresh, stored):
        up, down = line["vbm_by_spin_eV"]
        assert down - up == pytest.approx(0.4, abs=0.05)  # the shift, within the search's grid
        assert len(line["cbm_by_spin_eV"]) == 2
    assert stored["vbm_by_spin_eV"] == fresh["vbm_by_spin_eV"]
