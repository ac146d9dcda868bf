"""Vacuum levels from real CP2K potential cubes, against the dipole CP2K printed (the two
plateaus differ by e·μ/(ε0 A)), and the water's band edges on the vacuum scale."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace

import numpy as np
import pytest
from ase import Atoms
from conftest import CP2K_FIXTURE, FIXTURES, REALDATA
from scipy import constants

from dftpost.analyses.gap import GapAnalysis, GapTask, read_potential
from dftpost.analysis.bandedges import BandEdgeParameters
from dftpost.analysis.vacuum import potential_cube, vacuum_gap_A, vacuum_levels
from dftpost.analysis.water_gap import water_gap
from dftpost.io.cube import read_cube
from dftpost.io.rundir import read_run

E_OVER_EPS0_V_A = constants.e / constants.epsilon_0 * 1e10  # V·Å per e (sheet dipole step per e·Å/Å²)
GENERATED = REALDATA / "cp2k" / "generated_cp2k2023.1"
WATER8 = REALDATA / "cp2k" / "water8_slab_field"


def printed_step(run) -> float:
    """Potential-energy step (eV, lower minus upper vacuum) of the dipole CP2K printed."""
    area = abs(np.linalg.det(run.atoms.cell[:2, :2]))
    return run.dipole_correction.dipole_e_A / area * E_OVER_EPS0_V_A


def real(path):
    if not path.is_dir():
        pytest.skip(f"real output files not found at {path}")
    return path


@pytest.mark.parametrize("folder", [
    CP2K_FIXTURE / "nofield", GENERATED / "water_dipcor", WATER8 / "run_a_nofield",
], ids=["water4", "water_dipcor", "water8"])
def test_the_two_vacuum_levels_differ_by_the_printed_dipole_step(folder):
    run = read_run(real(folder))
    cube = next(c for c in run.cubes if c.quantity == "electrostatic_potential")
    levels = vacuum_levels(read_cube(cube.path))
    assert levels.upper_spread_eV < 1e-3 and levels.lower_spread_eV < 1e-3  # flat plateaus
    assert levels.step_eV == pytest.approx(printed_step(run), abs=0.01)


def test_water_band_edges_on_the_vacuum_scale():
    """The real 8-water slab (PBE): each layer's local VBM against the vacuum on its own side
    lies at -7 to -6.5 eV, as PBE water slabs give, and the two layers agree to 0.1 eV."""
    run = read_run(real(WATER8 / "run_a_nofield"))
    result = water_gap(run, potential=read_potential(run))
    row = result.row()
    vac = result.vacuum
    assert row["vacuum_side"] == "lower" and row["dipole_e_per_A"] > 0  # VBM layer at the bottom
    assert row["vacuum_level_eV"] == row["vacuum_level_lower_eV"]
    assert row["vacuum_level_lower_eV"] - row["vacuum_level_upper_eV"] == pytest.approx(printed_step(run), abs=0.01)
    assert -7.0 <= row["vbm_vs_vacuum_eV"] <= -6.5
    assert row["cbm_vs_vacuum_eV"] - row["vbm_vs_vacuum_eV"] == pytest.approx(row["gap_eV"])
    lower_layer = result.local_vbm_eV[0] - vac.lower_eV
    upper_layer = result.local_vbm_eV[1] - vac.upper_eV
    assert result.z_bin_centres_A[0] < result.z_bin_centres_A[1]
    assert -7.0 <= upper_layer <= -6.5 and abs(lower_layer - upper_layer) < 0.1
    assert row["work_function_eV"] is None  # no substrate: no work function


@pytest.mark.parametrize("folder, why", [
    (CP2K_FIXTURE / "field", "applied field"),
    (GENERATED / "water_nodipcor", "no dipole correction"),
], ids=["field", "no-dipole-correction"])
def test_runs_without_a_flat_vacuum_say_why(folder, why):
    row = water_gap(read_run(real(folder))).row()
    assert row["vacuum_level_eV"] is None and row["vbm_vs_vacuum_eV"] is None and why in row["vacuum_note"]


def test_a_vacuum_without_dipole_correction_is_no_plateau():
    cube = real(GENERATED / "water_nodipcor") / "water_nodipcor-v_hartree-1_0.cube"
    levels = vacuum_levels(read_cube(cube))
    assert math.isnan(levels.upper_eV) or math.isnan(levels.lower_eV)
    assert max(np.nan_to_num(levels.upper_spread_eV), np.nan_to_num(levels.lower_spread_eV)) > 0.5


def test_analytic_profile_two_plateaus_a_jump_and_a_sloped_side():
    """φ(z) flat at +1 V above a slab at 8–12 Å and −2 V below it (through the boundary), a
    linear ramp across the slab and the jump at z = 0: the levels are the electron energies
    −1 and +2 eV, the step 3 eV; the same profile with a slope in one vacuum has no level there."""
    from ase import Atoms

    from dftpost.grid import Grid

    n, length = 200, 20.0
    z = np.arange(n) * length / n
    phi = np.where(z < 8.0, -2.0, np.where(z > 12.0, 1.0, -2.0 + 3.0 * (z - 8.0) / 4.0))
    atoms = Atoms("O2", positions=[[0, 0, 8.0], [0, 0, 12.0]], cell=[4, 4, length], pbc=True)

    def grid(values):
        return Grid(np.broadcast_to(values, (2, 2, n)).copy(), np.zeros(3), np.diag([2.0, 2.0, length / n]), atoms,
                    "electrostatic_potential", "V")

    levels = vacuum_levels(grid(phi))
    assert levels.upper_eV == pytest.approx(-1.0) and levels.lower_eV == pytest.approx(2.0)
    assert levels.step_eV == pytest.approx(3.0) and levels.upper_spread_eV == pytest.approx(0.0, abs=1e-12)
    assert levels.jump_A == pytest.approx(length, abs=0.2) or levels.jump_A == pytest.approx(0.0, abs=0.2)
    sloped = vacuum_levels(grid(np.where(z > 12.0, 1.0 + 0.05 * (z - 12.0), phi)))
    assert math.isnan(sloped.upper_eV) and sloped.upper_spread_eV > 0.05
    assert sloped.lower_eV == pytest.approx(2.0)


def test_the_analysis_measures_the_potential_it_is_given_and_opens_no_cube(tmp_path):
    """The vacuum scale is measured on the grid the caller read: with the run's cube paths moved
    where no file is, the levels are those of the grid (minus E_F); without the grid there is no
    level, and the note names the cube that was not given."""
    run = read_run(CP2K_FIXTURE / "nofield")
    cube = potential_cube(run)
    potential = read_potential(run)
    assert cube is not None and cube.path.name == "water4-v_hartree-1_0.cube" and potential.source == cube.path
    elsewhere = replace(run, cubes=tuple(replace(c, path=tmp_path / c.path.name) for c in run.cubes))
    levels = vacuum_levels(potential)
    given = water_gap(elsewhere, potential=potential).vacuum
    assert given.upper_eV == pytest.approx(levels.upper_eV - run.fermi_level_eV, abs=1e-12)
    assert given.lower_eV == pytest.approx(levels.lower_eV - run.fermi_level_eV, abs=1e-12)
    missing = water_gap(elsewhere).row()
    assert missing["vacuum_level_eV"] is None and missing["vacuum_side"] == "lower"
    assert missing["vacuum_note"] == "the potential of water4-v_hartree-1_0.cube was not given"


def test_no_potential_is_read_where_the_vacuum_scale_cannot_use_it():
    """The run with an applied field has a V_HARTREE cube, but its vacuum slopes: nothing to read."""
    run = read_run(CP2K_FIXTURE / "field")
    assert any(c.quantity == "electrostatic_potential" for c in run.cubes)
    assert potential_cube(run) is None and read_potential(run) is None


def test_a_bad_potential_cube_fails_its_run_naming_the_cube(tmp_path):
    run_dir = shutil.copytree(CP2K_FIXTURE / "nofield", tmp_path / "nofield")
    cube = run_dir / "water4-v_hartree-1_0.cube"
    lines = cube.read_text().splitlines(keepends=True)
    first_value = 6 + int(lines[2].split()[0])  # title, comment, origin, three voxel lines, atoms
    lines[first_value] = lines[first_value].replace("E", "X", 1)
    cube.write_text("".join(lines))
    row = GapAnalysis.work(GapTask(run_dir, BandEdgeParameters()))
    assert row["status"] == "error"
    assert row["error"].startswith(f"{cube}: ") and "not a number" in row["error"]


@pytest.mark.parametrize("folder, gap_A", [
    (FIXTURES / "cp2k_cu_water" / "cu_water", 13.0),  # VACUUM of make_cu_water.py
    (FIXTURES / "cp2k_oxide_water" / "mgo_water", 14.0),  # VACUUM of make_oxide_water.py
    (FIXTURES / "cp2k_metal_water_metal" / "cu_water_cu", 2.63),  # an H of near_image to the Cu image (its README)
], ids=["cu_water", "mgo_water", "cu_water_cu"])
def test_vacuum_gap_of_the_fixtures_is_the_one_they_were_built_with(folder, gap_A):
    assert vacuum_gap_A(read_run(folder).atoms) == pytest.approx(gap_A, abs=0.01)


def test_vacuum_gap_through_the_boundary_of_a_tilted_cell_and_without_a_period():
    """Heights 1, 3 and 9 Å on a 12 Å period: gaps 2, 6 and 4 (9 → 13, through the boundary); a
    c vector tilted in x leaves the heights and the period; no period along z: no limit."""
    atoms = Atoms("O3", positions=[[0, 0, 9.0], [0, 0, 1.0], [1, 1, 3.0]], cell=[[5, 0, 0], [0, 5, 0], [2, 0, 12]],
                  pbc=True)
    assert vacuum_gap_A(atoms) == pytest.approx(6.0)
    atoms.positions[0, 2] = 6.0  # gaps 2, 3 and 7
    assert vacuum_gap_A(atoms) == pytest.approx(7.0)
    atoms.pbc = [True, True, False]
    assert vacuum_gap_A(atoms) == math.inf
