"""The z-density profile of O (dftpost.analyses.density) on the TIP3P slab fixture: against a
brute-force numpy histogram, against MAICoS' DensityPlanar, the same bit for bit on the serial,
process and Dask backends, stored and read back, its --json object and its figure."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
from conftest import FIXTURES

from dftpost.analyses import DensityAnalysis
from dftpost.backends import DaskBackend, ProcessBackend, SerialBackend, parse_scheduler
from dftpost.errors import DftpostError

# MAICoS warns that the frames are correlated (τ ≈ 6 frames here): its error, like ours, treats
# them as independent, so both understate the error of the mean alike
pytestmark = pytest.mark.filterwarnings("ignore:Your data seems to be correlated:UserWarning")

SLAB = FIXTURES / "trajectories" / "water_slab_tip3p.extxyz"
DZ = 0.5


@pytest.fixture(scope="module")
def frames():
    return ase.io.read(SLAB, ":")


@pytest.fixture(scope="module")
def serial():
    return DensityAnalysis(SLAB, dz_A=DZ).run(SerialBackend())


def test_profile_is_the_numpy_histogram(serial, frames):
    """np.histogram of each frame's wrapped O heights over ⌈L/dz⌉ bins of [0, L], over the bin
    volume; mean over frames and sqrt(Σ(ρ−ρ̄)²)/N."""
    profiles = []
    for atoms in frames:
        length = atoms.cell[2, 2]
        n = int(np.ceil(length / DZ))
        z = np.mod(atoms.positions[atoms.numbers == 8, 2], length)
        counts, _ = np.histogram(z, bins=np.linspace(0.0, length, n + 1))
        profiles.append(counts / (atoms.cell[0, 0] * atoms.cell[1, 1] * length / n))
    profiles = np.array(profiles)
    row = serial.to_row()
    assert row["n_frames"] == len(frames) == 200
    np.testing.assert_allclose(row["density"], profiles.mean(axis=0), rtol=1e-12, atol=0)
    np.testing.assert_allclose(row["density_sem"], profiles.std(axis=0) / np.sqrt(len(frames)), rtol=1e-9, atol=1e-18)
    # 36 O per frame; the profile integrates to them
    assert row["mean_atoms"] == 36
    area = frames[0].cell[0, 0] * frames[0].cell[1, 1]
    assert np.sum(row["density"]) * area * (row["z"][1] - row["z"][0]) == pytest.approx(36, rel=1e-12)
    assert row["density"].max() > 0.025  # bulk-like water reaches ~0.033 O/Å³


def test_profile_is_maicos_density_planar(serial, frames):
    maicos = pytest.importorskip("maicos")
    mda = pytest.importorskip("MDAnalysis")
    from MDAnalysis.coordinates.memory import MemoryReader

    n_atoms = len(frames[0])
    universe = mda.Universe.empty(n_atoms, trajectory=True)
    universe.add_TopologyAttr("name", frames[0].get_chemical_symbols())
    universe.add_TopologyAttr("masses", frames[0].get_masses())
    positions = np.array([a.positions for a in frames])
    dimensions = np.array([[*a.cell.lengths(), *a.cell.angles()] for a in frames])
    universe.load_new(positions, format=MemoryReader, dimensions=dimensions)
    ana = maicos.DensityPlanar(universe.select_atoms("name O"), dens="number", bin_width=DZ, unwrap=False).run()
    row = serial.to_row()
    z_maicos = ana.results.bin_pos + ana.means.box_center[2]  # MAICoS reports z from the box centre
    np.testing.assert_allclose(z_maicos, row["z"], rtol=0, atol=1e-5)
    # MDAnalysis holds float32 positions and box lengths: the bin volumes differ by ~1e-7
    # relative, and an O within ~1e-5 Å of a bin edge could fall in the neighbouring bin
    # (there is none in this trajectory: then the profiles agree to float32 rounding)
    length = frames[0].cell[2, 2]
    edges = np.linspace(0, length, len(row["z"]) + 1)
    z_all = np.mod(positions[:, frames[0].numbers == 8, 2], length)
    assert int((np.abs(z_all[..., None] - edges).min(axis=-1) < 1e-5).sum()) == 0
    np.testing.assert_allclose(ana.results.profile, row["density"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(ana.results.dprofile, row["density_sem"], rtol=1e-5, atol=1e-12)


def test_processes_give_the_serial_profile_bit_for_bit(serial):
    analysis = DensityAnalysis(SLAB, dz_A=DZ, parallel_bytes=0)
    row = analysis.run(ProcessBackend(2)).to_row()
    assert len(analysis._tasks) > 1  # cut into chunks for the workers
    for key in ("z", "density", "density_sem", "frame_index"):
        assert np.array_equal(row[key], serial.to_row()[key]), key


@pytest.mark.slow  # starts a Dask cluster
def test_dask_gives_the_serial_profile_bit_for_bit(serial, dask_address):
    row = DensityAnalysis(SLAB, dz_A=DZ, parallel_bytes=0).run(DaskBackend(parse_scheduler(dask_address), 2)).to_row()
    for key in ("z", "density", "density_sem", "frame_index"):
        assert np.array_equal(row[key], serial.to_row()[key]), key


def test_stored_and_read_back_it_is_the_same_result(serial, tmp_path):
    out = tmp_path / "r.h5"
    serial.store(out)
    stored = DensityAnalysis.read(out)
    assert type(stored) is DensityAnalysis
    assert json.dumps(stored.to_json(out=out)) == json.dumps(serial.to_json(out=out))
    data = serial.to_json(out=out)
    assert data["n_frames"] == 200 and data["element"] == "O" and len(data["z_A"]) == len(data["density_per_A3"])


def test_plot_draws_the_profile_on_given_axes(serial):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    assert serial.plot(ax=ax) is fig
    x, y = ax.lines[0].get_data()
    assert np.array_equal(y, serial.to_row()["density"]) and np.array_equal(x, serial.to_row()["z"])
    assert isinstance(DensityAnalysis.from_row(serial.to_row()).plot(), Figure)


def test_bad_input_says_what_is_wrong(tmp_path):
    with pytest.raises(DftpostError, match="no element 'Xx'"):
        DensityAnalysis(SLAB, element="Xx")
    frames = ase.io.read(SLAB, ":2")
    frames[1].cell[0, 2] = 1.0
    path = tmp_path / "tilted.extxyz"
    ase.io.write(path, frames)
    with pytest.raises(DftpostError, match="frame 1: the cell vectors a and b must lie in the xy plane") as error:
        DensityAnalysis(path).run()
    assert str(path) in str(error.value)
