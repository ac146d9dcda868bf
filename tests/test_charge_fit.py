"""Fitting q_O against DFT dipoles: synthetic data with known answers, real CP2K dipoles."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from conftest import CP2K_FIXTURE, REALDATA

import dftpost.analyses.charge_fit
from dftpost.analysis.charge_fit import density_dipole, fit_oxygen_charge
from dftpost.batch import dft_dipole, fit_charge
from dftpost.errors import DftpostError
from dftpost.io.cube import read_cube
from dftpost.io.rundir import read_run


def test_exact_data_give_the_charge_back():
    s = np.linspace(-0.05, 0.05, 11)
    fit = fit_oxygen_charge(s, -0.5562 * s, max_dipole_e_per_A=1.0)
    assert fit.q_o_e == pytest.approx(-0.5562, abs=1e-12) and fit.r2 == pytest.approx(1.0)
    assert fit.q_o_stderr_e < 1e-12 and fit.n_used == 11


def test_threshold_intercept_and_errors():
    rng = np.random.default_rng(1)
    s = rng.uniform(-0.06, 0.06, 400)
    mu = -0.55 * s + rng.normal(scale=1e-3, size=s.size)
    mu[np.abs(mu) > 0.02] = np.sign(mu[np.abs(mu) > 0.02]) * 0.02  # saturation, as in metallized water
    fit = fit_oxygen_charge(s, mu, max_dipole_e_per_A=0.019)
    assert fit.q_o_e == pytest.approx(-0.55, abs=4 * fit.q_o_stderr_e)
    assert fit.n_rejected == int((np.abs(mu) >= 0.019).sum())
    low, high = fit.q_o_ci95_e
    assert low < fit.q_o_e < high and (high - low) == pytest.approx(4 * fit.q_o_stderr_e, rel=0.35)
    clean = -0.55 * s + 0.003 + rng.normal(scale=1e-3, size=s.size)
    with_b = fit_oxygen_charge(s, clean, max_dipole_e_per_A=1.0, intercept=True)
    assert with_b.intercept_e_per_A == pytest.approx(0.003, abs=3 * 1e-3 / np.sqrt(s.size))
    assert with_b.q_o_e == pytest.approx(-0.55, abs=4 * with_b.q_o_stderr_e)
    with pytest.raises(DftpostError, match="too few"):
        fit_oxygen_charge(s, mu, max_dipole_e_per_A=1e-9)


@pytest.mark.parametrize(
    "folder, tolerance",
    [
        (CP2K_FIXTURE / "nofield", 0.01),
        (CP2K_FIXTURE / "field", 0.01),
        (REALDATA / "cp2k/generated_cp2k2023.1/water_dipcor", 0.01),
        (REALDATA / "cp2k/water8_slab_field/run_a_nofield", 0.05),  # STRIDE 2 on a larger cell: 4.2 % off
    ],
    ids=["fixture-nofield", "fixture-field", "water_dipcor", "water8-run_a"],
)
def test_cube_dipole_matches_the_printed_dipole(folder, tolerance):
    if not folder.exists():
        pytest.skip("real data not available")
    run = read_run(folder)
    d = dft_dipole(run, "auto")
    assert d["source"] == "log"
    assert d["cube_e_A"] == pytest.approx(d["log_e_A"], rel=tolerance)
    assert np.sign(d["cube_e_A"]) == np.sign(d["log_e_A"])  # the physical sign, both ways


def test_density_dipole_does_not_depend_on_where_the_slab_sits():
    run = read_run(CP2K_FIXTURE / "nofield")
    density = read_cube(next(c.path for c in run.cubes if c.quantity == "electron_density"))
    reference = density_dipole(density, run.core_charges_e)
    shift = 40  # planes
    rolled = density.values.copy()
    rolled = np.roll(rolled, shift, axis=2)
    atoms = density.atoms.copy()
    atoms.positions[:, 2] += shift * density.voxel_A[2, 2]
    moved = type(density)(rolled, density.origin_A, density.voxel_A, atoms, density.quantity, density.units)
    assert density_dipole(moved, run.core_charges_e) == pytest.approx(reference, rel=1e-9)


def test_fit_over_real_runs_and_cli(tmp_path):
    if not REALDATA.exists():
        pytest.skip("real data not available")
    result, row = fit_charge([CP2K_FIXTURE, REALDATA / "cp2k/water8_slab_field"], max_dipole_e_per_A=0.05)
    frames = {Path(f["run"]).name: f for f in json.loads(row["frames"])}
    assert frames["field"]["rejected"].startswith("an applied field")  # as are run_b and run_c
    assert result.n_used == 2 and result.n_rejected == 3
    used = [frames["nofield"], frames["run_a_nofield"]]
    s = np.array([f["lever_per_A"] for f in used])
    mu = np.array([f["dft_dipole_e_per_A"] for f in used])
    assert result.q_o_e == pytest.approx(np.dot(s, mu) / np.dot(s, s), rel=1e-12)  # least squares by hand
    script = Path(sys.executable).parent / "dftpost"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from dftpost.cli.main import app; app()"]
    with tempfile.TemporaryDirectory() as elsewhere:
        done = subprocess.run(
            [*command, "fit-charge", str(CP2K_FIXTURE), str(REALDATA / "cp2k/water8_slab_field"), "--json",
             "--max-dipole", "0.05", "--out", str(tmp_path / "r.h5"), "--plot", str(tmp_path / "parity.png")],
            capture_output=True, text=True, cwd=elsewhere,
        )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    for key in ("q_O_e", "q_O_stderr_e", "r2", "rmse_e_per_A", "n_used", "n_rejected"):
        assert key in data
    assert data["n_used"] == 2 and data["n_rejected"] == 3
    assert done.stderr.count("left out:") == 3 and "applied field" in done.stderr  # each with its reason
    assert data["q_O_ci95_e"] == [None, None] and "from 2 frames" in data["interval_note"] in done.stderr
    assert -0.7 < data["q_O_e"] < -0.4 and data["q_O_stderr_e"] > 0
    assert (tmp_path / "parity.png").stat().st_size > 10_000


def test_run_without_dipole_information_is_named(copy_dir):
    bare = copy_dir(CP2K_FIXTURE / "nofield", "bare")
    (bare / "water4-ELECTRON_DENSITY-1_0.cube").unlink()
    log = bare / "water4.out"
    log.write_text(log.read_text().replace("Total dipole moment perpendicular to", "Total moment"))
    with pytest.raises(DftpostError, match="no dipole") as info:
        dft_dipole(read_run(bare), "auto")
    assert "bare" in str(info.value)
    with pytest.raises(DftpostError, match="the log prints no dipole"):
        dft_dipole(read_run(bare), "log")


FRAMES = CP2K_FIXTURE.parent / "water4_frames"


def test_fit_on_real_cp2k_frames_of_different_orientations():
    result, row = fit_charge([FRAMES], max_dipole_e_per_A=0.05)
    assert result.n_used == 4 and result.r2 > 0.99
    assert result.q_o_e == pytest.approx(-0.567, abs=0.005)  # near the -0.5562 e of revPBE-D3 water
    assert 0 < result.q_o_stderr_e < 0.02
    default, _ = fit_charge([FRAMES])  # |μ| of frames 0 and 3 is above 0.02 e/Å
    assert default.n_rejected == 2 and default.n_used == 2


def test_fit_reads_runs_in_parallel_with_the_same_result(copy_dir):
    runs = [copy_dir(FRAMES / f"frame_{k}", f"frame_{k}") for k in range(4)]
    (runs[2] / "water4.out").write_text("garbage\n")  # a bad run is recorded, the others fit
    _, serial = fit_charge(runs, max_dipole_e_per_A=0.05)
    _, parallel = fit_charge(runs, max_dipole_e_per_A=0.05, workers=2)
    for key in ("run", "q_o_e", "q_o_stderr_e", "r2", "n_used", "n_rejected", "frames"):
        assert parallel[key] == serial[key], key
    np.testing.assert_array_equal(parallel["lever"], serial["lever"])
    assert serial["n_used"] == 3 and "error" in json.loads(serial["frames"])[2]
    _, on_dask = fit_charge(runs, max_dipole_e_per_A=0.05, workers=2, scheduler="local") if _has_dask() else (None, serial)
    assert on_dask["frames"] == serial["frames"]


def _has_dask() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("frame", ["frame_0", "frame_1", "frame_2", "frame_3"])
def test_strided_cube_dipoles_of_the_frames(frame):
    """STRIDE 2 cubes: within 1.5 % of the printed dipole, or 0.003 e·Å for the near-zero frame;
    the warning says when a strided cube is the only source."""
    run = read_run(FRAMES / frame)
    d = dft_dipole(run, "auto")
    assert abs(d["cube_e_A"] - d["log_e_A"]) <= max(0.015 * abs(d["log_e_A"]), 0.003)
    only_cube = dft_dipole(run, "cube")
    assert only_cube["source"] == "cube" and any("strided" in w for w in only_cube["warnings"])


# --------------------------------------------------------------------------- which runs, which dipole
DIPOLE_CORRECTED = [
    CP2K_FIXTURE / "nofield",
    CP2K_FIXTURE / "field",
    REALDATA / "cp2k/generated_cp2k2023.1/water_dipcor",
    REALDATA / "cp2k/water8_slab_field/run_a_nofield",
    REALDATA / "cp2k/water8_slab_field/run_c_extpot_field",
]


@pytest.mark.parametrize("folder", DIPOLE_CORRECTED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_vacuum_step_of_the_potential_cube_gives_the_printed_dipole(folder):
    """μ = ε0 A ΔV from the vacuum plateaus of CP2K's V_HARTREE cube (STRIDE 2 where set) equals
    the dipole CP2K prints to 1e-3, where the strided density cube was up to 4 % off."""
    if not folder.exists():
        pytest.skip("real data not available")
    run = read_run(folder)
    d = dft_dipole(run, "cube")
    assert d["source"] == "potential_step" and not any("strided" in w for w in d["warnings"])
    printed = run.dipole_correction.dipole_e_A
    assert d["dipole_e_A"] == pytest.approx(printed, rel=1e-3)
    assert abs(d["dipole_e_A"] - printed) <= abs(d["cube_e_A"] - printed) + 1e-4  # no worse than the density
    assert d["cube_vs_log_relative"] < 1e-3 and not any("differ" in w for w in d["warnings"])  # checked against the step


def test_a_metal_run_is_left_out_unless_included(copy_dir, monkeypatch):
    """The same real run with a Cu atom added to its structure (far from the water) counts as a
    metal–water run: left out by default with the reason, in the fit with --include-substrate,
    where its lever still sums the water molecules only. (The atom is added to the run as read:
    added to its files, the run's input and log would disagree, which is an error of its own.)"""
    runs = [copy_dir(FRAMES / f"frame_{k}", f"frame_{k}") for k in range(4)]
    read = dftpost.analyses.charge_fit.read_run

    def with_copper(path):
        run = read(path)
        if Path(path).resolve() != runs[1].resolve():
            return run
        return dataclasses.replace(run, atoms=run.atoms + Atoms("Cu", positions=[[3.0, 3.0, 1.0]]))

    monkeypatch.setattr(dftpost.analyses.charge_fit, "read_run", with_copper)
    result, row = fit_charge(runs, max_dipole_e_per_A=0.05)
    frames = json.loads(row["frames"])
    assert result.n_used == 3 and frames[1]["rejected"].startswith("not water alone (Cu present)")
    assert frames[1]["substrate"] == "Cu" and not frames[1]["used"]
    with pytest.raises(DftpostError, match="1 left out for other reasons"):
        fit_charge(runs[:2], max_dipole_e_per_A=0.05)
    included, row_in = fit_charge(runs, max_dipole_e_per_A=0.05, include_substrate=True)
    reference, _ = fit_charge([FRAMES], max_dipole_e_per_A=0.05)
    assert included.n_used == 4 and row_in["include_substrate"] == 1
    assert included.q_o_e == pytest.approx(reference.q_o_e, rel=1e-9)  # the Cu adds nothing to the lever
    assert json.loads(row_in["frames"])[1]["lever_per_A"] == json.loads(row["frames"])[1]["lever_per_A"]


def test_no_interval_from_fewer_than_three_frames():
    s = np.array([0.01, -0.02, 0.03])
    two = fit_oxygen_charge(s[:2], -0.55 * s[:2] + np.array([1e-4, -1e-4]), max_dipole_e_per_A=1.0)
    assert np.isnan(two.q_o_ci95_e).all() and "from 2 frames" in two.interval_note
    assert two.q_o_e == pytest.approx(-0.55, abs=0.01)  # the fit itself is still made
    three = fit_oxygen_charge(s, -0.55 * s + np.array([1e-4, -1e-4, 2e-4]), max_dipole_e_per_A=1.0)
    assert np.isfinite(three.q_o_ci95_e).all() and three.interval_note == ""


def test_potential_step_dipole_of_an_analytic_step():
    """A slab at z = 10–15 Å in a 30 Å cell, the potential 0 below it, rising through it to
    1.5 V, flat above it up to a correction jump back to 0 at 25 Å: μ = ε0 A · 1.5 V, wherever
    the grid's origin lies; a vacuum too thin for plateaus is an error."""
    from ase import Atoms

    from dftpost.analysis.charge_fit import potential_step_dipole
    from dftpost.grid import Grid
    from dftpost.units import EPSILON0_E_PER_V_A

    n = 300
    z = 0.1 * np.arange(n)
    phi = np.where(z < 10, 0.0, np.where(z < 15, 0.3 * (z - 10), np.where(z < 25, 1.5, 0.0)))
    atoms = Atoms("O2", positions=[[0, 0, 10.0], [0, 0, 15.0]], cell=[8.0, 9.0, 30.0], pbc=True)
    values = np.broadcast_to(phi, (4, 4, n)).copy()
    grid = Grid(values, np.zeros(3), np.diag([2.0, 2.25, 0.1]), atoms, "electrostatic_potential", "V")
    dipole, step = potential_step_dipole(grid)
    assert step == pytest.approx(1.5, abs=1e-12) and dipole == pytest.approx(EPSILON0_E_PER_V_A * 72.0 * 1.5, rel=1e-12)
    rolled = Grid(np.roll(values, 70, axis=2), np.array([0, 0, -7.0]), grid.voxel_A, atoms, grid.quantity, grid.units)
    assert potential_step_dipole(rolled)[1] == pytest.approx(1.5, abs=1e-12)
    crowded = atoms + Atoms("O5", positions=[[0, 0, h] for h in (19.0, 23.0, 27.0, 1.0, 5.0)])
    with pytest.raises(DftpostError, match="too thin"):
        potential_step_dipole(Grid(values, np.zeros(3), grid.voxel_A, crowded, grid.quantity, grid.units))
