"""The streamed dipole analysis of trajectories (METHODS §1): profiles, correlations, CLI."""

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

from dftpost.analysis.correlation import autocorrelation, block_average, integrated_correlation_time
from dftpost.analysis.dipole import DipoleAccumulator, fixed_charge_dipole, frame_profile
from dftpost.batch import dipole_trajectory
from dftpost.errors import DftpostError
from dftpost.io.trajectory import parse_index
from dftpost.store import read_arrays, read_table


def slab(seed: int, n: int = 24, cell=(12.0, 12.0, 40.0), z0: float = 14.0, metal: bool = False) -> Atoms:
    """Whole water molecules on a jittered grid between z0 and z0 + 9 Å, random orientations."""
    rng = np.random.default_rng(seed)
    atoms = Atoms(cell=cell, pbc=True)
    if metal:
        for x in range(4):
            for y in range(4):
                atoms += Atoms("Pt", positions=[[x * 3.0, y * 3.0, z0 - 3.0]])
    sites = [(x, y, z) for z in range(3) for x in range(3) for y in range(3)][:n]
    for x, y, z in sites:
        w = molecule("H2O")
        w.rotate(rng.uniform(0, 360), rng.normal(size=3), center=w.positions[0])
        w.translate(np.array([x * 4.0 + 1, y * 4.0 + 1, z0 + z * 3.0]) - w.positions[0] + rng.normal(scale=0.2, size=3))
        atoms += w
    return atoms


def test_cumulative_profile_ends_at_the_total_dipole_and_matches_a_loop():
    atoms = slab(1)
    edges = np.arange(0.0, 40.05, 0.1)
    profile = frame_profile(atoms.numbers, atoms.positions, atoms.cell[:], edges)
    total = fixed_charge_dipole(atoms.numbers, atoms.positions, atoms.cell[:]).total_e_per_A
    assert profile.cumulative_dipole_e_per_A[-1] == pytest.approx(total, abs=1e-12)
    # loop: molecule by molecule (O, H, H in order here), heights above the origin
    z = np.mod(atoms.positions[:, 2] - profile.origin_A, 40.0)
    expected = np.zeros(edges.size - 1)
    for m in range(24):
        o, h1, h2 = z[3 * m : 3 * m + 3]
        contribution = -0.5562 * o + 0.2781 * (h1 + h2)
        expected[int(o // 0.1):] += contribution / 144.0
    np.testing.assert_allclose(profile.cumulative_dipole_e_per_A, expected, atol=1e-12)
    assert profile.o_density_per_A3.sum() * 144.0 * 0.1 == pytest.approx(24)


def test_slab_across_the_boundary_gives_the_same_profile():
    atoms = slab(2)
    edges = np.arange(0.0, 40.05, 0.1)
    a = frame_profile(atoms.numbers, atoms.positions, atoms.cell[:], edges)
    moved = atoms.copy()
    moved.translate([0, 0, 22.0])  # now the slab straddles z = 40
    moved.wrap()
    b = frame_profile(moved.numbers, moved.positions, moved.cell[:], edges)
    np.testing.assert_allclose(b.cumulative_dipole_e_per_A, a.cumulative_dipole_e_per_A, atol=1e-12)
    np.testing.assert_allclose(b.o_density_per_A3, a.o_density_per_A3)


def test_metal_top_layer_is_the_origin():
    atoms = slab(3, metal=True)
    profile = frame_profile(atoms.numbers, atoms.positions, atoms.cell[:], np.arange(0.0, 40.05, 0.1))
    assert profile.origin_A == pytest.approx(11.0)
    assert profile.o_density_per_A3[: int(2.0 / 0.1)].sum() == 0  # no water within 2 Å of the metal


def test_autocorrelation_equals_direct_sum_and_tidynamics():
    tidynamics = pytest.importorskip("tidynamics")
    rng = np.random.default_rng(5)
    x = np.zeros(500)
    for t in range(1, 500):  # AR(1), correlation time ~ 1/(1-0.9)
        x[t] = 0.9 * x[t - 1] + rng.normal()
    c = autocorrelation(x)
    d = x - x.mean()
    direct = np.array([np.dot(d[: 500 - k], d[k:]) / (500 - k) for k in range(500)]) / d.var()
    np.testing.assert_allclose(c, direct, atol=1e-12)
    np.testing.assert_allclose(c, tidynamics.acf(d) / d.var(), atol=1e-12)
    assert 5 < integrated_correlation_time(c) < 20  # (1 + 0.9) / (2 (1 - 0.9)) = 9.5


def test_block_average_of_white_and_correlated_noise():
    rng = np.random.default_rng(6)
    white = rng.normal(size=4096)
    assert block_average(white).sem_estimate == pytest.approx(1 / 64, rel=0.3)
    x = np.zeros(4096)
    for t in range(1, 4096):
        x[t] = 0.9 * x[t - 1] + rng.normal()
    blocked = block_average(x)
    assert blocked.sem_estimate > 2.5 * blocked.sem[0]  # correlation inflates the naive error


def _trajectory(tmp_path: Path, frames) -> Path:
    path = tmp_path / "traj.extxyz"
    write(path, frames)
    return path


def test_streaming_driver_and_store(tmp_path):
    frames = [slab(s) for s in range(12)]
    path = _trajectory(tmp_path, frames)
    result, row = dipole_trajectory(path, index="::2")
    assert result.n_frames == 6 and list(result.frame_index) == [0, 2, 4, 6, 8, 10]
    expected = [fixed_charge_dipole(f.numbers, f.positions, f.cell[:]).total_e_per_A for f in frames[::2]]
    np.testing.assert_allclose(result.total_dipole_e_per_A, expected, atol=1e-12)
    assert row["std_total_dipole_e_per_A"] == pytest.approx(np.std(expected))
    assert (result.census[:, 2] == 24).all()


def test_batched_accumulator_equals_frame_by_frame_profiles_also_when_the_atoms_change():
    edges = np.arange(0.0, 40.05, 0.1)
    frames = [slab(s) for s in range(7)] + [slab(s, n=20) for s in range(7, 12)]  # other atoms from frame 7 on
    accumulator = DipoleAccumulator(edges, batch=3)
    for k, atoms in enumerate(frames):
        accumulator.add(k, atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc, time_ps=0.5 * k)
    result = accumulator.result()
    single = [frame_profile(a.numbers, a.positions, a.cell[:], edges) for a in frames]
    np.testing.assert_allclose(result.total_dipole_e_per_A, [p.total_e_per_A for p in single], atol=1e-12)
    cumulative = np.array([p.cumulative_dipole_e_per_A for p in single])
    np.testing.assert_allclose(result.mean_cumulative_dipole_e_per_A, cumulative.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(result.std_cumulative_dipole_e_per_A, cumulative.std(axis=0), atol=1e-9)
    np.testing.assert_allclose(result.o_density_per_A3, np.mean([p.o_density_per_A3 for p in single], axis=0), atol=1e-12)
    assert result.census[:, 2].tolist() == [24] * 7 + [20] * 5
    np.testing.assert_allclose(result.time_ps, 0.5 * np.arange(12))
    # the water's extent: highest minus lowest O height, by hand (these slabs do not cross z = 0)
    expected = [np.ptp(a.positions[a.numbers == 8, 2]) for a in frames]
    np.testing.assert_allclose(result.water_thickness_A, expected, atol=1e-9)


def test_accumulator_equals_frame_profiles_with_changing_cells_and_a_slab_crossing_z():
    """NPT-like cells (every other frame wider) and frames whose slab crosses z = 0 (the vacuum
    found again from scratch) in batches of 4: the same as frame by frame."""
    edges = np.arange(0.0, 40.05, 0.1)
    frames = []
    for k in range(12):
        atoms = slab(k)
        if k % 2:
            atoms.set_cell(atoms.cell[:] * [[1.0 + 0.02 * k], [1.0 + 0.02 * k], [1.0]], scale_atoms=True)
        if k in (5, 6, 9):
            atoms.translate([0.0, 0.0, 20.0])
            atoms.wrap()
        frames.append(atoms)
    accumulator = DipoleAccumulator(edges, batch=4)
    for k, atoms in enumerate(frames):
        accumulator.add(k, atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc)
    result = accumulator.result()
    single = [frame_profile(a.numbers, a.positions, a.cell[:], edges) for a in frames]
    np.testing.assert_allclose(result.total_dipole_e_per_A, [p.total_e_per_A for p in single], atol=1e-12)
    cumulative = np.array([p.cumulative_dipole_e_per_A for p in single])
    np.testing.assert_allclose(result.mean_cumulative_dipole_e_per_A, cumulative.mean(axis=0), atol=1e-12)
    for name in ("o_density_per_A3", "h_density_per_A3"):
        np.testing.assert_allclose(getattr(result, name), np.mean([getattr(p, name) for p in single], axis=0), atol=1e-12)
    assert result.o_density_per_A3.sum() == pytest.approx(np.mean([24 / (a.cell.area(2) * 0.1) for a in frames]))
    np.testing.assert_allclose(result.water_thickness_A, [p.water_thickness_A for p in single], atol=1e-9)


def test_frame_times_give_the_correlation_time_in_ps(tmp_path):
    frames = [slab(s) for s in range(40)]
    for k, atoms in enumerate(frames):
        atoms.info["time_fs"] = 20.0 * k
    path = _trajectory(tmp_path, frames)
    _, row = dipole_trajectory(path, index="::2")
    np.testing.assert_allclose(row["time_ps"], 0.04 * np.arange(20))
    assert row["acf_integrated_time_ps"] == pytest.approx(row["acf_integrated_time_frames"] * 0.04)
    _, row = dipole_trajectory(path, timestep_ps=0.1)  # an explicit time step wins
    assert row["acf_integrated_time_ps"] == pytest.approx(row["acf_integrated_time_frames"] * 0.1)
    for atoms in frames:
        del atoms.info["time_fs"]
    _, row = dipole_trajectory(_trajectory(tmp_path, frames))
    assert np.isnan(row["acf_integrated_time_ps"]) and np.isnan(row["time_ps"]).all()
    result = dftpost("dipole", str(path), "--out", str(tmp_path / "t.h5"), "--json", "--timestep-ps", "0.1")
    data = json.loads(result.stdout)
    assert data["acf_integrated_time_units"] == "ps"
    assert data["acf_integrated_time"] == pytest.approx(data["acf_integrated_time_frames"] * 0.1)


def dftpost(*args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "dftpost"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from dftpost.cli.main import app; app()"]
    with tempfile.TemporaryDirectory() as elsewhere:
        return subprocess.run([*command, *args], capture_output=True, text=True, cwd=elsewhere)


def test_cli_json_and_hdf5(tmp_path):
    path = _trajectory(tmp_path, [slab(s) for s in range(8)])
    out = tmp_path / "results.h5"
    result = dftpost("dipole", str(path), "--out", str(out), "--json", "--gap", "0.5")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("n_frames", "mean_total_dipole_e_per_A", "std_total_dipole_e_per_A", "breakdown_fraction", "acf_integrated_time", "species_counts"):
        assert key in data
    assert data["n_frames"] == 8 and data["species_counts"]["H2O"] == 24.0
    assert data["acf_integrated_time_units"] == "frames"  # the frames carry no times
    table = read_table(out, "dipole")
    assert table["mean_total_dipole_e_per_A"][0] == pytest.approx(data["mean_total_dipole_e_per_A"])
    arrays = read_arrays(out, "dipole", 0)
    assert arrays["total_dipole"].shape == (8,) and arrays["census"].shape == (8, 5)
    steps = np.abs(arrays["potential_step"])
    assert data["breakdown_fraction"] == pytest.approx(np.mean(steps > 0.5))
    again = dftpost("dipole", str(path), "--out", str(out), "--json", "--gap", "0.5")
    assert again.returncode == 0 and "already stored" in again.stderr
    assert json.loads(again.stdout) == data and len(read_table(out, "dipole")["run"]) == 1


def test_bad_trajectories(tmp_path):
    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    no_water = _trajectory(tmp_path, [Atoms("Pt2", positions=[[0, 0, 0], [2, 0, 0]], cell=[5, 5, 5], pbc=True)])
    cases = [
        (empty, "no frames"),
        (no_water, "no water"),
        (tmp_path / "missing.extxyz", "no such file"),
    ]
    mixed = tmp_path / "mixed.extxyz"
    write(mixed, [slab(1), slab(2, n=20)])
    cases.append((mixed, "frame 1: 60 atoms, the first frame had 72"))
    no_cell = tmp_path / "nocell.xyz"
    write(no_cell, Atoms("OH2", positions=[[0, 0, 0], [0.9, 0, 0], [0, 0.9, 0]]))
    cases.append((no_cell, "no cell along x and y"))
    tilted = slab(3)
    tilted.cell[0] = [12.0, 0.0, 1.5]  # z is then not the surface normal
    (tmp_path / "tilted").mkdir()
    cases.append((_trajectory(tmp_path / "tilted", [slab(1), tilted]), "frame 1: the cell vectors a and b must lie in the xy plane"))
    for path, message in cases:
        with pytest.raises(DftpostError, match=message):
            dipole_trajectory(path)
        result = dftpost("dipole", str(path), "--out", str(tmp_path / "r.h5"))
        assert result.returncode == 1 and "Traceback" not in result.stderr and path.name in result.stderr


def test_index_parsing():
    assert parse_index("10:100:5") == slice(10, 100, 5)
    assert parse_index("::3") == slice(None, None, 3)
    assert parse_index("7") == slice(7, 8)
    with pytest.raises(DftpostError):
        parse_index("1:2:0")
