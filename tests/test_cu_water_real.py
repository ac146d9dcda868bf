"""Water on a metal and the vacuum scale, on a real CP2K run: two H2O stacked on Cu(111)
(fixtures/cp2k_cu_water/cu_water, written by make_cu_water.py; 12 Cu in 3 layers, Γ point,
Fermi-Dirac smearing, slab dipole correction, V_HARTREE cube).

Reference numbers are read here from the raw files (the .pdos columns with numpy, the dipole
line of the .out with a regular expression), independently of dftpost's readers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES
from scipy import constants

from dftpost.analyses.gap import read_potential
from dftpost.analysis.metallization import fermi_level_pinned
from dftpost.analysis.vacuum import vacuum_levels
from dftpost.analysis.water_gap import water_gap
from dftpost.analysis.water_selection import select_water, water_pdos
from dftpost.io.cube import read_cube
from dftpost.io.rundir import read_run

FOLDER = FIXTURES / "cp2k_cu_water"
RUN = FOLDER / "cu_water"
BARE = FOLDER / "cu_bare"
HARTREE_EV = constants.physical_constants["Hartree energy in eV"][0]
E_OVER_EPS0_V_A = constants.e / constants.epsilon_0 * 1e10  # V·Å per (e·Å/Å²)
CU = list(range(12))
WATER = list(range(12, 18))  # O,H,H (lower molecule) O,H,H (upper), after the 12 Cu

#: PBE work function of Cu(111) (eV), about 4.8: measured 4.94 ± 0.03 eV (Gartland, Berge and
#: Slagsvold, "Photoelectric work function of a copper single crystal for the (100), (110), (111)
#: and (112) faces", 1972), which PBE underestimates by about 4 % (Patra, Bates, Sun and Perdew,
#: PNAS 114, E9188 (2017), PBE work functions of the (111) surfaces of Al, Cu, Ru, Rh, Pd, Ag,
#: Pt, Au): 4.94 × 0.96 = 4.74 eV. See fixtures/cp2k_cu_water/README.md.
CU111_PBE_WORK_FUNCTION_EV = 4.8
#: Tolerance (eV) of this small run against it. The Γ point of a 2 × 2 cell samples four k-points
#: of the 1 × 1 zone: E_F sits between discrete levels (here 0.9 eV apart around it, smeared at
#: 3000 K), which moves Φ by up to that spacing; 3 layers, ideal bulk positions and 300 Ry add
#: 0.1-0.2 eV. The bare side gives 5.70 eV.
WORK_FUNCTION_TOLERANCE_EV = 1.0


def raw_columns(folder: Path, name: str) -> np.ndarray:
    return np.loadtxt(next(folder.glob(f"*-{name}-1.pdos")))


def raw_kind(folder: Path, element: str) -> np.ndarray:
    for path in sorted(folder.glob("*-k*-1.pdos")):
        if re.search(rf"atomic kind {element}\b", path.read_text().splitlines()[0]):
            return np.loadtxt(path)
    raise AssertionError(f"no kind file for {element} in {folder}")


def weights(columns: np.ndarray) -> np.ndarray:
    return columns[:, 3:].sum(axis=1)


def printed_dipole_e_A(folder: Path) -> float:
    """The last 'Total dipole moment perpendicular to the slab [electrons-Angstroem]' of the .out:
    minus the physical dipole (CP2K counts electrons as positive; fixtures/cp2k/README.md)."""
    text = next(folder.glob("*.out")).read_text()
    return float(re.findall(r"the slab \[electrons-Angstroem\]:\s*(\S+)", text)[-1])


def physical_step_eV(folder: Path, run) -> float:
    """Lower minus upper vacuum level (eV) of the physical dipole μ = −printed: e·μ/(ε0 A)."""
    area = abs(np.linalg.det(run.atoms.cell[:2, :2]))
    return -printed_dipole_e_A(folder) / area * E_OVER_EPS0_V_A


@pytest.fixture(scope="module")
def run():
    return read_run(RUN)


@pytest.fixture(scope="module")
def gap(run):
    return water_gap(run, potential=read_potential(run))


def test_both_waters_are_selected_and_face_the_top_interface(run):
    selection = select_water(run.atoms.numbers, run.atoms.positions, run.atoms.cell[:], 3.5)
    assert selection.indices.tolist() == WATER
    assert selection.substrate.tolist() == CU
    assert (selection.side == 1).all() and selection.distance_A.min() > 3.5


def test_the_water_pdos_holds_no_copper(run):
    """Every O and H is water here, so the water list must equal kind O + kind H state by state,
    and the two layer lists must add up to it; dftpost's water PDoS is that list."""
    water = weights(raw_columns(RUN, "list1"))
    assert np.allclose(water, weights(raw_kind(RUN, "O")) + weights(raw_kind(RUN, "H")), atol=5e-6)
    assert np.allclose(water, weights(raw_columns(RUN, "list2")) + weights(raw_columns(RUN, "list3")), atol=5e-6)
    assert weights(raw_kind(RUN, "Cu")).max() > 0.9
    selected = water_pdos(run.pdos, np.array(WATER), water_only_structure=False)
    assert np.allclose(selected.values[0, 0], water, atol=5e-6)


def test_the_two_vacuum_levels_differ_by_the_printed_dipole_step(run):
    levels = vacuum_levels(read_cube(next(RUN.glob("*v_hartree*.cube"))))
    assert levels.upper_spread_eV < 0.03 and levels.lower_spread_eV < 0.03  # flat (0.0002 / 0.023 eV)
    assert levels.step_eV == pytest.approx(physical_step_eV(RUN, run), abs=0.02)  # 2.588 vs 2.591 eV


def test_work_function_of_the_bare_side_against_the_published_pbe_value(run, gap):
    """Φ = V_vac − E_F below the slab (the side without water) against the PBE work function of
    Cu(111) (CU111_PBE_WORK_FUNCTION_EV, source in the fixture README), within
    WORK_FUNCTION_TOLERANCE_EV; the water side's differs from it by the dipole step."""
    row = gap.row()
    assert row["work_function_eV"] == row["vacuum_level_upper_eV"]  # the water side
    bare_side = row["vacuum_level_lower_eV"]
    assert bare_side == pytest.approx(CU111_PBE_WORK_FUNCTION_EV, abs=WORK_FUNCTION_TOLERANCE_EV)
    assert bare_side - row["vacuum_level_upper_eV"] == pytest.approx(physical_step_eV(RUN, run), abs=0.02)


def test_the_metal_pins_the_fermi_level_and_a_tail_of_its_states_sets_the_whole_water_cbm(run, gap):
    """Smeared states at E_F: the edge rule against E_F decides. Its whole-water CBM is no water
    state: it lies within 4σ below a Cu state just under E_F that has less than 1 % of its weight
    on the water (read from the raw list), whose broadened peak still exceeds T = 0.01 per water
    atom, so the rule calls the water metallized. The lower molecule's own highest occupied
    state (0.98 on the water) lies 1.9 eV below E_F, and each layer's local edges, whose threshold
    floor (2 % of the layer's own peak) keeps such tails out, put E_F inside the gap."""
    assert fermi_level_pinned(run.pdos) is True
    row = gap.row()
    basis = row["verdict_basis"]
    assert basis.startswith("band edges against the Fermi level pinned by the substrate; caution: ")
    assert "substrate's tails" in basis  # the metallized verdict is not silent about what set it
    assert row["reference_eV"] == 0.0
    water = raw_columns(RUN, "list1")
    header = next(RUN.glob("*-list1-1.pdos")).read_text().splitlines()[0]
    energy = (water[:, 1] - float(re.search(r"E\(Fermi\) =\s*(\S+)", header).group(1))) * HARTREE_EV
    sigma = gap.parameters.sigma_eV
    culprit = (energy > row["cbm_eV"]) & (energy < row["cbm_eV"] + 4 * sigma)
    assert culprit.any() and weights(water)[culprit].max() < 0.01
    assert 2 * weights(water)[culprit].max() / (sigma * np.sqrt(2 * np.pi)) > row["threshold_states_per_eV"]
    assert row["cbm_eV"] <= 0.0 and row["metallized"] is True
    own = weights(water) > 0.5
    assert -2.5 < energy[own & (water[:, 2] > 1)].max() < -1.5
    assert (gap.local_vbm_eV < 0.0).all() and (gap.local_cbm_eV > 4.0).all()


def test_z_resolved_pdos_of_the_two_water_layers(run, gap):
    """The generator wrote one layer list per molecule (lists 2 and 3): they are the z bins, lower
    first, each with its local edges; the row's note is empty because the bins exist."""
    assert gap.z_resolved_note == "" and gap.row()["z_resolved_note"] == ""
    z = run.atoms.positions[:, 2]
    assert gap.z_bin_centres_A == pytest.approx([z[12:15].mean(), z[15:18].mean()])
    assert gap.z_resolved_dos.shape == (2, gap.energies_eV.size)
    assert np.isfinite(gap.local_vbm_eV).all() and np.isfinite(gap.local_cbm_eV).all()


def test_dftpost_gap_json_on_the_real_run(tmp_path):
    script = Path(sys.executable).parent / "dftpost"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from dftpost.cli.main import app; app()"]
    done = subprocess.run([*command, "gap", str(RUN), "--json"], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout.splitlines()[0])
    for key in ("vacuum_level_eV", "work_function_eV", "vbm_vs_vacuum_eV", "cbm_vs_vacuum_eV"):
        assert isinstance(row[key], float) and np.isfinite(row[key]), key
    assert row["vacuum_side"] == "upper" and row["metallized"] in (True, False)
    assert row["n_water_atoms"] == 6 and row["n_substrate_atoms"] == 12 and row["z_resolved_note"] == ""


def test_bare_slab_both_sides_give_the_same_work_function(gap):
    """The bare slab (cu_bare) is symmetric: both sides give one Φ (5.715 eV, 1e-4 apart), near
    the published value; and the water on one side of a metal leaves the other side's Φ alone:
    cu_water's bare side gives it within 0.05 eV (5.699)."""
    bare = read_run(BARE)
    levels = vacuum_levels(read_cube(next(BARE.glob("*v_hartree*.cube"))))
    upper, lower = levels.upper_eV - bare.fermi_level_eV, levels.lower_eV - bare.fermi_level_eV
    assert upper == pytest.approx(lower, abs=0.01)
    assert upper == pytest.approx(CU111_PBE_WORK_FUNCTION_EV, abs=WORK_FUNCTION_TOLERANCE_EV)
    assert gap.row()["vacuum_level_lower_eV"] == pytest.approx(upper, abs=0.05)


def test_the_committed_input_is_what_the_generator_writes():
    """cu_water.inp comes from dftpost's generator (metal settings, the correction plane at the
    cell boundary) with the restart from the first stage's wavefunction added by the script."""
    import importlib.util

    from dftpost.inputs.cp2k import cp2k_input, render
    from dftpost.inputs.slab import prepare_slab

    spec = importlib.util.spec_from_file_location("make_cu_water", FOLDER / "make_cu_water.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    text = (RUN / "cu_water.inp").read_text()
    assert "SURF_DIP_POS 0.0" in text and "METHOD BROYDEN_MIXING" in text and "ELECTRONIC_TEMPERATURE [K] 3000" in text
    prepared = prepare_slab(script.build(with_water=True), layer_width_A=script.LAYER_WIDTH)
    settings = replace(script.SETTINGS, project="cu_water")
    tree = cp2k_input(prepared.atoms, settings, coord_file="cu_water.xyz", ldos_lists=prepared.pdos_lists(), metal=True)
    assert render(script.restarted(tree, "cu_water-start-RESTART.wfn")) == text


def test_the_gap_table_marks_a_verdict_set_by_the_substrates_tails(tmp_path):
    from dftpost.cli.main import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["gap", str(RUN), "--out", str(tmp_path / "r.h5"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "yes†" in result.stdout and "† the edge reached E_F on the substrate's tails" in result.stdout
