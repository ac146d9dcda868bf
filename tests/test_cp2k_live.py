"""Runs the real CP2K program: the fixture generator reproduces the committed fixtures, and
dftpost reads the fresh output to the same numbers."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import CP2K_FIXTURE, FIXTURES

from dftpost.io.cube import read_cube
from dftpost.io.rundir import read_run

pytestmark = [
    pytest.mark.cp2k,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("cp2k.psmp") is None, reason="CP2K (cp2k.psmp) is not installed"),
]


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cp2k")
    done = subprocess.run(
        [sys.executable, str(FIXTURES / "cp2k" / "make_fixtures.py"), "--only", "nofield", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out / "water4_slab" / "nofield"


def test_fresh_cp2k_run_reads_like_the_committed_fixture(fresh_run):
    fresh, committed = read_run(fresh_run), read_run(CP2K_FIXTURE / "nofield")
    assert fresh.finished and fresh.program_version == committed.program_version
    assert fresh.fermi_level_eV == pytest.approx(committed.fermi_level_eV, abs=1e-4)
    np.testing.assert_allclose(fresh.pdos.eigenvalues_eV, committed.pdos.eigenvalues_eV, atol=1e-4)
    np.testing.assert_allclose(fresh.pdos.values, committed.pdos.values, atol=1e-5)
    assert fresh.dipole_correction.dipole_e_A == pytest.approx(committed.dipole_correction.dipole_e_A, abs=1e-5)
    np.testing.assert_allclose(fresh.atoms.positions, committed.atoms.positions, atol=1e-6)
    for name in ("water4-v_hartree-1_0.cube", "water4-ELECTRON_DENSITY-1_0.cube"):
        a, b = read_cube(fresh_run / name), read_cube(CP2K_FIXTURE / "nofield" / name)
        np.testing.assert_allclose(a.values, b.values, atol=1e-6 * np.abs(b.values).max())


def test_full_resolution_density_cube_gives_the_printed_dipole(tmp_path):
    """A fresh frame with an unstrided density cube: the cube-integrated dipole equals CP2K's
    printed slab dipole within 2 % (sign included), and the printed dipole equals the committed
    frame's."""
    from dftpost.batch import dft_dipole

    done = subprocess.run(
        [sys.executable, str(FIXTURES / "cp2k" / "make_fixtures.py"), "--set", "frames", "--frames", "1", "--stride", "1", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = read_run(tmp_path / "water4_frames" / "frame_0")
    assert run.density_cube_stride == (1, 1, 1)
    d = dft_dipole(run, "cube")
    assert not d["warnings"]
    assert d["cube_e_A"] == pytest.approx(d["log_e_A"], rel=0.02)
    committed = read_run(CP2K_FIXTURE.parent / "water4_frames" / "frame_0")
    assert d["log_e_A"] == pytest.approx(committed.dipole_correction.dipole_e_A, abs=1e-5)


@pytest.mark.slow
def test_metallized_slab_generator_reproduces_its_fixture(tmp_path):
    """make_metallized_slab.py writes the committed input byte for byte, and CP2K run afresh
    moves the same charge from the lower to the upper molecules (occupations within 1e-3)."""
    committed = FIXTURES / "cp2k_metallized" / "water10_oriented"
    done = subprocess.run(
        [sys.executable, str(FIXTURES / "cp2k_metallized" / "make_metallized_slab.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("water10.inp", "water10.xyz"):
        assert (tmp_path / name).read_text() == (committed / name).read_text()
    fresh, old = read_run(tmp_path).pdos, read_run(committed).pdos
    partial = (old.occupations > 1e-3) & (old.occupations < 2 - 1e-3)
    assert partial.sum() == 2
    np.testing.assert_allclose(fresh.occupations[partial], old.occupations[partial], atol=1e-3)
