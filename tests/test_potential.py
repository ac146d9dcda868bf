"""The potential-difference proxy over trajectories: driver, store and ``dftpost potential``."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.io import write

from dftpost.analysis.correlation import autocorrelation, integrated_correlation_time
from dftpost.batch import potential_trajectory
from dftpost.errors import DftpostError
from dftpost.store import read_arrays, read_table


def water_box(seed: int, side: float = 9.0, n: int = 24) -> Atoms:
    """Water molecules on a jittered 3 x 3 x 3 grid (whole molecules, random orientations)."""
    rng = np.random.default_rng(seed)
    atoms = Atoms(cell=[side] * 3, pbc=True)
    sites = [(x, y, z) for x in range(3) for y in range(3) for z in range(3)][:n]
    for site in sites:
        w = molecule("H2O")
        w.rotate(rng.uniform(0, 360), rng.normal(size=3), center=w.positions[0])
        w.translate((np.array(site) + 0.5) * side / 3 - w.positions[0] + rng.normal(scale=0.15, size=3))
        atoms += w
    return atoms


def dftpost(*args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "dftpost"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from dftpost.cli.main import app; app()"]
    with tempfile.TemporaryDirectory() as elsewhere:
        return subprocess.run([*command, *args], capture_output=True, text=True, cwd=elsewhere)


@pytest.fixture(scope="module")
def trajectory(tmp_path_factory) -> Path:
    frames = [water_box(s) for s in range(6)]
    for k, atoms in enumerate(frames):
        atoms.info["time_fs"] = 25.0 * k
    path = tmp_path_factory.mktemp("potential") / "box.extxyz"
    write(path, frames)
    return path


def test_moving_or_rewrapping_the_frames_does_not_change_delta_v(trajectory, tmp_path):
    _, row = potential_trajectory(trajectory, tolerance_V=1e-6)
    moved = []
    for k in range(6):
        atoms = water_box(k)
        atoms.positions += np.array([3.7, -11.2, 25.0])  # far outside the cell
        if k % 2:
            atoms.wrap()  # and atom by atom back in: molecules cut by the faces
        moved.append(atoms)
    write(tmp_path / "moved.extxyz", moved)
    _, moved_row = potential_trajectory(tmp_path / "moved.extxyz", tolerance_V=1e-6)
    np.testing.assert_allclose(moved_row["delta_v"], row["delta_v"], atol=5e-6)


def test_row_statistics_follow_from_the_per_frame_values(trajectory):
    result, row = potential_trajectory(trajectory, gap_eV=float("inf"))
    delta_v = row["delta_v"]
    assert row["n_frames"] == 6 and list(row["frame_index"]) == list(range(6))
    assert row["mean_delta_v_V"] == pytest.approx(delta_v.mean()) and row["std_delta_v_V"] == pytest.approx(delta_v.std())
    assert row["exceeds_gap_fraction"] == 0.0
    np.testing.assert_allclose(row["acf"], autocorrelation(delta_v))
    assert row["acf_integrated_time_frames"] == pytest.approx(integrated_correlation_time(autocorrelation(delta_v)))
    assert row["acf_integrated_time_ps"] == pytest.approx(row["acf_integrated_time_frames"] * 0.025)
    assert row["cell_length_A"] == pytest.approx(9.0)
    np.testing.assert_allclose(row["cell_lengths"], 9.0)
    assert (delta_v > 0).all() and np.array_equal(result.delta_v_V, delta_v)
    _, half = potential_trajectory(trajectory, gap_eV=float(np.median(delta_v)))
    assert half["exceeds_gap_fraction"] == pytest.approx(np.mean(delta_v > np.median(delta_v)))
    parameters = json.loads(row["parameters"])
    assert parameters["ewald"]["sigma_A"] == row["sigma_A"] and parameters["self_term"] is True


def test_conventions_are_recorded_and_change_the_numbers(trajectory):
    _, plain = potential_trajectory(trajectory, index="0:2")
    _, inter = potential_trajectory(trajectory, index="0:2", intermolecular=True)
    _, bare = potential_trajectory(trajectory, index="0:2", self_term=False)
    assert inter["intermolecular"] == 1 and plain["intermolecular"] == 0 and bare["self_term"] == 0
    assert not np.allclose(inter["delta_v"], plain["delta_v"])
    # without the self term the O-H offset of each molecule's own charges dominates ΔV
    assert (bare["delta_v"] > plain["delta_v"] + 5.0).all()


def test_cli_json_and_hdf5(trajectory, tmp_path):
    out = tmp_path / "results.h5"
    result = dftpost("potential", str(trajectory), "--out", str(out), "--json", "--tolerance", "1e-5", "--index", "::2")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("n_frames", "delta_v_V", "mean_delta_v_V", "std_delta_v_V", "sigma_A", "self_term"):
        assert key in data
    assert data["n_frames"] == 3 and len(data["delta_v_V"]) == 3 and data["self_term"] is True
    assert data["mean_delta_v_V"] == pytest.approx(np.mean(data["delta_v_V"]))
    assert data["acf_integrated_time_units"] == "ps"
    table = read_table(out, "potential")
    np.testing.assert_allclose(read_arrays(out, "potential", 0)["delta_v"], data["delta_v_V"])
    assert table["tolerance_V"][0] == 1e-5


def test_bad_trajectories(tmp_path):
    slab = water_box(1)
    slab.cell[2] = 0.0
    slab.pbc = (True, True, False)
    cases = {"flat.extxyz": ([slab], "fewer than three vectors"), "empty.extxyz": ([], "no frames")}
    for name, (frames, message) in cases.items():
        path = tmp_path / name
        if frames:
            write(path, frames)
        else:
            path.write_text("")
        with pytest.raises(DftpostError, match=message):
            potential_trajectory(path)
        result = dftpost("potential", str(path), "--out", str(tmp_path / "r.h5"))
        assert result.returncode == 1 and "Traceback" not in result.stderr and name in result.stderr
