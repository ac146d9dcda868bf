"""Water between two metal surfaces, on a real CP2K run: a 2-layer Cu(111) 2 × 2 slab periodic
along z with no vacuum, four H2O in the 10 Å gap between its top and its periodic image's bottom
(fixtures/cp2k_metal_water_metal/cu_water_cu, written by make_metal_water_metal.py; Γ point,
Fermi–Dirac smearing, no dipole correction).

The molecules facing the image lie just above z = 0, across the cell boundary from the slab's
top: only the minimum image along the normal puts them next to the slab's bottom. The water
selection is checked against a brute-force loop over the periodic images of every Cu along z;
the atoms' grouping into molecules is the generator's (O,H,H after the 8 Cu), checked here by
the O–H distances. Reference numbers come from the raw files (the xyz with numpy, the LIST
lines of the .inp with a regular expression, the .pdos columns with numpy), not dftpost's
readers.
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

from dftpost.analysis.water_gap import water_gap
from dftpost.analysis.water_selection import select_water, water_pdos
from dftpost.inputs.cp2k import cp2k_input, render
from dftpost.io.rundir import read_run

FOLDER = FIXTURES / "cp2k_metal_water_metal"
RUN = FOLDER / "cu_water_cu"
D_CUT_A = 3.5
HARTREE_EV = 27.211386245988  # CODATA 2018
N_CU = 8
#: The generator's molecules, in its order: (name, side it faces: +1 the slab's top, −1 the image's bottom).
MOLECULES = (("near_top", 1), ("top", 1), ("image", -1), ("near_image", -1))


def raw_structure() -> tuple[list[str], np.ndarray, float]:
    """Symbols, positions (Å) and cell height c (Å, from the .inp's C vector) read directly."""
    lines = (RUN / "cu_water_cu.xyz").read_text().splitlines()
    n = int(lines[0])
    symbols = [line.split()[0] for line in lines[2 : 2 + n]]
    positions = np.array([[float(x) for x in line.split()[1:4]] for line in lines[2 : 2 + n]])
    c = re.search(r"^\s*C\s+(\S+)\s+(\S+)\s+(\S+)", (RUN / "cu_water_cu.inp").read_text(), re.M)
    assert float(c.group(1)) == 0.0 and float(c.group(2)) == 0.0
    return symbols, positions, float(c.group(3))


def brute_force_normal(water_z: float, cu_z: np.ndarray, c: float) -> tuple[float, int]:
    """Distance (Å) along z from a height to the nearest Cu over the images −2..2 along z,
    and the side (+1: the atom lies above that Cu, −1 below)."""
    best = (np.inf, 0)
    for z in cu_z:
        for n in range(-2, 3):
            dz = water_z - (z + n * c)
            if abs(dz) < best[0]:
                best = (abs(dz), 1 if dz > 0 else -1)
    return best


def molecule_atoms(k: int) -> list[int]:
    return [N_CU + 3 * k, N_CU + 3 * k + 1, N_CU + 3 * k + 2]


def brute_force_selection() -> tuple[list[int], dict[int, int]]:
    """The atoms of the molecules whose every atom lies beyond d_cut from all Cu images along z,
    and each selected atom's side."""
    symbols, positions, c = raw_structure()
    cu_z = positions[:N_CU, 2]
    selected, side = [], {}
    for k in range(len(MOLECULES)):
        atoms = molecule_atoms(k)
        found = [brute_force_normal(positions[i, 2], cu_z, c) for i in atoms]
        if min(d for d, _ in found) > D_CUT_A:
            selected += atoms
            side.update({i: s for i, (_, s) in zip(atoms, found)})
    return selected, side


@pytest.fixture(scope="module")
def run():
    return read_run(RUN)


@pytest.fixture(scope="module")
def gap(run):
    return water_gap(run)


def test_the_fixture_is_the_geometry_the_generator_describes():
    """8 Cu, then O,H,H × 4 with each H 0.97 Å from its O (minimum image), no Cu–Cu gap
    wider than the 10 Å water gap: the cell has no vacuum; two molecules cross the boundary."""
    symbols, positions, c = raw_structure()
    assert symbols == ["Cu"] * N_CU + ["O", "H", "H"] * len(MOLECULES)
    cell_xy = np.array(
        [
            [float(x) for x in m.groups()]
            for m in re.finditer(r"^\s*[AB]\s+(\S+)\s+(\S+)\s+(\S+)", (RUN / "cu_water_cu.inp").read_text(), re.M)
        ]
    )
    for k in range(len(MOLECULES)):
        o, *hs = molecule_atoms(k)
        for h in hs:
            d = positions[h] - positions[o]
            d[2] -= c * np.round(d[2] / c)
            shifts = [i * cell_xy[0] + j * cell_xy[1] for i in (-1, 0, 1) for j in (-1, 0, 1)]
            assert min(np.linalg.norm(d + s) for s in shifts) == pytest.approx(0.97, abs=1e-3)
    cu_z = np.unique(np.round(positions[:N_CU, 2], 6))
    assert cu_z.size == 2 and c - (cu_z[1] - cu_z[0]) == pytest.approx(10.0, abs=1e-6)
    assert "SURFACE_DIPOLE_CORRECTION" not in (RUN / "cu_water_cu.inp").read_text()


def test_the_selection_matches_a_brute_force_over_the_images(run):
    """Two molecules are selected — one facing the slab's top (+1), one facing the image's bottom
    (−1, below the slab's bottom layer through the boundary) — and two left out: one with its O
    2.3 Å above the top, one whose O lies 3.6 Å under the image but whose upper H is within d_cut.
    dftpost's indices, sides and distances equal the brute-force loop's."""
    selected, side = brute_force_selection()
    assert selected == molecule_atoms(1) + molecule_atoms(2)  # the generator's intent, too
    selection = select_water(run.atoms.numbers, run.atoms.positions, run.atoms.cell[:], D_CUT_A)
    assert selection.indices.tolist() == sorted(selected)
    assert selection.side.tolist() == [side[i] for i in sorted(selected)]
    assert selection.substrate.tolist() == list(range(N_CU))
    _, positions, c = raw_structure()
    expected = [brute_force_normal(positions[i, 2], positions[:N_CU, 2], c)[0] for i in sorted(selected)]
    assert selection.distance_A == pytest.approx(expected, abs=1e-6)
    for k, (_, faces) in enumerate(MOLECULES):
        if molecule_atoms(k)[0] in selected:
            assert {side[i] for i in molecule_atoms(k)} == {faces}


def test_the_selection_leaves_out_the_molecule_whose_h_points_at_the_image():
    """Its O alone would pass d_cut: it is the molecule, not the atom, that is judged."""
    _, positions, c = raw_structure()
    o, h_up, _ = molecule_atoms(3)
    assert brute_force_normal(positions[o, 2], positions[:N_CU, 2], c)[0] > D_CUT_A
    assert brute_force_normal(positions[h_up, 2], positions[:N_CU, 2], c)[0] < D_CUT_A


def test_the_water_pdos_is_list1_and_holds_no_copper(run):
    """list1 of the .inp holds exactly the brute-force selection (no Cu); the layer lists 2 and 3
    split it by height and add up to it state by state; dftpost's water PDoS is list1."""
    selected, _ = brute_force_selection()
    text = (RUN / "cu_water_cu.inp").read_text()
    ldos = re.findall(r"&LDOS\n(.*?)&END LDOS", text, re.S)
    assert len(ldos) == 3

    def members(block: str) -> set[int]:
        out = set()
        for token in " ".join(re.findall(r"^\s*LIST\s+(.*)$", block, re.M)).split():
            a, _, b = token.partition("..")
            out |= set(range(int(a) - 1, int(b or a)))
        return out

    assert members(ldos[0]) == set(selected) and not members(ldos[0]) & set(range(N_CU))
    assert members(ldos[1]) | members(ldos[2]) == set(selected) and not members(ldos[1]) & members(ldos[2])

    def weights(name: str) -> np.ndarray:
        return np.loadtxt(next(RUN.glob(f"*-{name}-1.pdos")))[:, 3:].sum(axis=1)

    assert np.allclose(weights("list1"), weights("list2") + weights("list3"), atol=5e-6)
    water = water_pdos(run.pdos, np.array(sorted(selected)), water_only_structure=False)
    assert np.allclose(water.values[0, 0], weights("list1"), atol=5e-6)


def test_dftpost_gap_json_counts_the_water_on_both_faces(tmp_path):
    """status ok, finite edges, and the selected atoms split 3 above their nearest Cu (facing
    the slab's top) and 3 below (facing the image's bottom). The verdict is metallized, by the
    edge rule against the pinned E_F: the CBM is the tail of a Cu state at E_F with 2.6 % of its
    weight on the water (see the verdict test below)."""
    script = Path(sys.executable).parent / "dftpost"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from dftpost.cli.main import app; app()"]
    done = subprocess.run(
        [*command, "gap", str(RUN), "--json", "--out", "r.h5"], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout.splitlines()[0])
    assert row["vacuum_side"] is None and row["vacuum_level_eV"] is None  # no vacuum in the cell: no side
    stored = subprocess.run([*command, "gap", str(RUN), "--json", "--out", "r.h5"], capture_output=True, text=True,
                            cwd=tmp_path, check=False)
    again = json.loads(stored.stdout.splitlines()[0])
    assert again["stored"] is True and again["vacuum_side"] is None
    assert row["status"] == "ok", row["error"]
    assert np.isfinite(row["vbm_eV"]) and np.isfinite(row["cbm_eV"])
    assert row["n_water_atoms"] == 6 and row["n_substrate_atoms"] == N_CU
    assert row["n_water_atoms_above_substrate"] == 3 and row["n_water_atoms_below_substrate"] == 3
    assert row["n_water_atoms_above_substrate"] + row["n_water_atoms_below_substrate"] == row["n_water_atoms"]
    assert row["metallized"] is True and row["verdict_basis"].startswith("band edges against the Fermi level pinned")


def raw_list1() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (eV vs the header's E_F), occupations and weights of list1 (the selected water)."""
    path = next(RUN.glob("*-list1-1.pdos"))
    fermi = float(re.search(r"E\(Fermi\) =\s*(\S+)", path.read_text().splitlines()[0]).group(1))
    columns = np.loadtxt(path)
    return (columns[:, 1] - fermi) * HARTREE_EV, columns[:, 2], columns[:, 3:].sum(axis=1)


def test_the_cell_has_no_vacuum_so_no_vacuum_side_or_level(gap):
    row = gap.row()
    assert row["vacuum_side"] is None and row["vacuum_level_eV"] is None and row["work_function_eV"] is None
    assert row["vacuum_note"].startswith("the cell has no vacuum (widest gap between atoms along the normal 2.63 Å")


def test_the_verdict_is_metallized_by_the_tail_of_a_metal_state_at_the_fermi_level(gap):
    """Verdict: metallized, by the edge rule against the Fermi level the Cu pins (verdict_basis
    "band edges against the Fermi level pinned by the substrate"). Why: the whole-water CBM
    (−0.358 eV) is the broadened tail of the partly filled state at −0.213 eV (occupation 1.39)
    that has only 2.6 % of its weight on the selected water — a Cu state — whose Gaussian
    (σ = 0.1 eV) peak, 0.21 states/eV, still exceeds T = 0.06; the water's own highest occupied
    state (0.61 on the water) lies 1.66 eV below E_F and its VBM (−1.378 eV) is that state's tail."""
    energy, occupation, weight = raw_list1()
    row = gap.row()
    assert row["metallized"] is True and row["reference_eV"] == 0.0
    assert row["verdict_basis"].startswith("band edges against the Fermi level pinned by the substrate")
    sigma, threshold = gap.parameters.sigma_eV, row["threshold_states_per_eV"]
    culprit = (energy > row["cbm_eV"]) & (energy < row["cbm_eV"] + 4 * sigma)
    assert culprit.any() and weight[culprit].max() < 0.05 and 0.1 < occupation[culprit].max() < 1.9
    assert 2 * weight[culprit].max() / (sigma * np.sqrt(2 * np.pi)) > threshold
    cu = np.loadtxt(next(RUN.glob("*-k1-1.pdos")))
    assert "atomic kind Cu" in next(RUN.glob("*-k1-1.pdos")).read_text().splitlines()[0]
    assert cu[culprit, 3:].sum(axis=1).max() > 0.8  # a Cu state
    own_occupied = energy[(weight > 0.5) & (occupation > 1.0)].max()
    assert own_occupied == pytest.approx(-1.656, abs=0.01)
    assert own_occupied < row["vbm_eV"] < own_occupied + 4 * sigma


def test_the_verdict_carries_the_tails_caution_when_no_water_state_reaches_the_fermi_level(gap):
    """The caution's condition, read from the raw list1: every state within 3σ of E_F has less
    than half its weight on the selected water, and the water's own states (more than half on
    it) lie at −1.66 eV (occupied, 1.997 of 2: a thermal hole of 0.17 % at 3000 K, which the
    caution does not take for partial filling) and +9.8 eV (empty), both far from E_F."""
    energy, occupation, weight = raw_list1()
    row = gap.row()
    sigma = gap.parameters.sigma_eV
    assert (weight[np.abs(energy) < 3 * sigma] < 0.5).all()
    own = weight > 0.5
    assert energy[own & (occupation > 1.0)].max() < -3 * sigma and energy[own & (occupation < 1.0)].min() > 3 * sigma
    assert "substrate's tails" in row["verdict_basis"]


def test_the_committed_input_is_what_the_generator_writes():
    """cu_water_cu.inp and .xyz come from the generator: dftpost's metal settings without the
    dipole correction, list1 from dftpost's selection."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_metal_water_metal", FOLDER / "make_metal_water_metal.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    atoms = script.build()
    _, positions, _ = raw_structure()
    assert np.allclose(atoms.positions, positions, atol=1e-7)
    text = (RUN / "cu_water_cu.inp").read_text()
    assert "METHOD BROYDEN_MIXING" in text and "ELECTRONIC_TEMPERATURE [K] 3000" in text and "CUBE" not in text
    settings = replace(script.SETTINGS, project="cu_water_cu", v_hartree_cube=False, density_cube=False)
    tree = cp2k_input(atoms, settings, coord_file="cu_water_cu.xyz", ldos_lists=script.ldos_lists(atoms), metal=True)
    assert render(script.without_dipole_correction(tree)) == text
