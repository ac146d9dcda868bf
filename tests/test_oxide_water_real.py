"""Band edges of water above an insulating substrate, on a real CP2K run: two H2O 4 Å above a
two-layer MgO(100) slab (fixtures/cp2k_oxide_water/mgo_water, written by make_oxide_water.py).

The reference numbers are read here from the raw .pdos columns with numpy (MO, eigenvalue in
Hartree, occupation, s, p, d weights), independently of dftpost's readers.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from conftest import FIXTURES
from scipy import constants

from dftpost.analyses.gap import read_potential
from dftpost.analysis.bandedges import BandEdgeParameters
from dftpost.analysis.metallization import WATER_STATE_WEIGHT, fermi_level_pinned
from dftpost.analysis.water_gap import water_gap
from dftpost.analysis.water_selection import select_water, water_pdos
from dftpost.io.rundir import read_run

RUN = FIXTURES / "cp2k_oxide_water" / "mgo_water"
HARTREE_EV = constants.physical_constants["Hartree energy in eV"][0]
WATER = list(range(16, 22))  # O,H,H O,H,H after the 8 Mg and 8 O of the oxide (mgo_water.xyz)
OXIDE_O = list(range(1, 16, 2))


def raw(name: str) -> tuple[np.ndarray, str]:
    """The columns of ``mgo_water-<name>-1.pdos`` and its header line."""
    path = RUN / f"mgo_water-{name}-1.pdos"
    return np.loadtxt(path), path.read_text().splitlines()[0]


def raw_kind(element: str) -> np.ndarray:
    for path in sorted(RUN.glob("mgo_water-k*-1.pdos")):
        if re.search(rf"atomic kind {element}\b", path.read_text().splitlines()[0]):
            return np.loadtxt(path)
    raise AssertionError(f"no kind file for {element}")


def weights(columns: np.ndarray) -> np.ndarray:
    return columns[:, 3:].sum(axis=1)


def raw_fermi_eV() -> float:
    _, header = raw("list1")
    return float(re.search(r"E\(Fermi\) =\s*(\S+)", header).group(1)) * HARTREE_EV


@pytest.fixture(scope="module")
def run():
    return read_run(RUN)


def test_the_two_waters_are_selected_and_the_oxide_oxygen_is_substrate(run):
    selection = select_water(run.atoms.numbers, run.atoms.positions, run.atoms.cell[:], 3.5)
    assert selection.indices.tolist() == WATER
    assert set(OXIDE_O) <= set(selection.substrate.tolist())
    assert (selection.side == 1).all() and selection.distance_A.min() > 3.5


def test_the_water_pdos_holds_no_oxide_oxygen(run):
    """CP2K's kinds mix the oxide's O with the water's; the list of the water atoms does not.
    Per state, kind O + kind H = list1 (water) + list2 (the oxide's O), to CP2K's printed digits:
    so list1 holds the water's O and H and nothing of the oxide's O, and dftpost's water PDoS is
    list1, state by state."""
    water, _ = raw("list1")
    oxide_o, _ = raw("list2")
    kinds = weights(raw_kind("O")) + weights(raw_kind("H"))
    assert np.allclose(kinds, weights(water) + weights(oxide_o), atol=5e-6)
    assert weights(oxide_o).max() > 0.9  # the oxide's O is there, in list2 and kind O only
    selected = water_pdos(run.pdos, np.array(WATER), water_only_structure=False)
    assert np.allclose(selected.values[0, 0], weights(water), atol=5e-6)
    assert np.allclose(selected.eigenvalues_eV[0], water[:, 1] * HARTREE_EV - raw_fermi_eV(), atol=1e-4)


def test_edges_lie_within_the_broadening_of_the_water_projected_eigenvalue_gap(run):
    """Independent edges: a state is seen in the broadened water PDoS when its own Gaussian peak
    2·w/(σ√(2π)) exceeds T (0.01 states/eV per water atom); the eigenvalue edges are the highest
    occupied and lowest empty such state. The broadened edges lie at most 4σ inside them."""
    params = BandEdgeParameters()
    row = water_gap(run, params).row()
    water, _ = raw("list1")
    energy = water[:, 1] * HARTREE_EV - raw_fermi_eV()
    peak = 2 * weights(water) / (params.sigma_eV * np.sqrt(2 * np.pi))
    seen = peak > params.threshold * len(WATER)
    occupied = water[:, 2] > 1
    eig_vbm, eig_cbm = energy[seen & occupied].max(), energy[seen & ~occupied].min()
    assert eig_vbm <= row["vbm_eV"] <= eig_vbm + 4 * params.sigma_eV
    assert eig_cbm - 4 * params.sigma_eV <= row["cbm_eV"] <= eig_cbm
    assert row["gap_eV"] == pytest.approx(row["cbm_eV"] - row["vbm_eV"])
    assert 5.0 < row["gap_eV"] <= eig_cbm - eig_vbm
    assert row["metallized"] is False


def test_an_insulating_substrate_pins_no_fermi_level_and_the_occupations_decide(run):
    """Every state is full or empty (no smearing), E_F is the oxide's valence top: the verdict
    comes from the occupations of the water's own states (weight > WATER_STATE_WEIGHT), read
    here from the raw list1 columns."""
    water, _ = raw("list1")
    energy = water[:, 1] * HARTREE_EV - raw_fermi_eV()
    own = weights(water) > WATER_STATE_WEIGHT
    occupied = water[:, 2] > 1
    assert fermi_level_pinned(run.pdos) is False
    row = water_gap(run).row()
    assert row["verdict_basis"].startswith("occupations:")
    assert row["water_homo_eV"] == pytest.approx(energy[own & occupied].max(), abs=1e-4)
    assert row["water_lumo_eV"] == pytest.approx(energy[own & ~occupied].min(), abs=1e-4)
    assert row["water_homo_eV"] < -2.5  # the water's 1b1 lies below the oxide's valence top (E_F)
    assert row["reference_eV"] == pytest.approx(0.5 * (row["water_homo_eV"] + row["water_lumo_eV"]))
    assert row["metallized"] is False


def with_tails_at_fermi_level(run, weight: float, top_occupation: float | None = None):
    """The real run with a hybridisation tail of ``weight`` on the water added to every state
    within 0.2 eV below E_F (the oxide's valence top); ``top_occupation`` replaces the occupation
    of the highest of them (a partly filled state: E_F inside a band)."""
    pdos = run.pdos
    values, occupations = pdos.values.copy(), pdos.occupations.copy()
    top = (pdos.eigenvalues_eV[0] > -0.2) & (occupations[0] > 1)
    water = next(k for k, p in enumerate(pdos.projections) if p.label == "list1")
    values[0, water, top] += weight
    if top_occupation is not None:
        occupations[0, np.flatnonzero(top)[-1]] = top_occupation
    return replace(run, pdos=replace(pdos, values=values, occupations=occupations))


def test_tails_at_the_oxide_valence_top_do_not_make_the_water_metallized():
    """Constructed from the real run: 5 % water weight on the oxide's six valence-top states, as
    a contact layer's hybridisation gives. The broadened water PDoS then exceeds T at E_F, so the
    edge rule against E_F would call the water metallized (VBM ≥ E_F); the occupations say the
    water's own states are apart. With the highest of those states partly filled (E_F inside a
    band, as a metal's), E_F is pinned and the edge rule decides."""
    real = read_run(RUN)
    tailed = water_gap(with_tails_at_fermi_level(real, 0.05)).row()
    assert tailed["vbm_eV"] >= 0.0  # the tail band reaches E_F: the metal-style rule would say metallized
    assert tailed["metallized"] is False and tailed["verdict_basis"].startswith("occupations:")
    pinned = water_gap(with_tails_at_fermi_level(real, 0.05, top_occupation=1.0)).row()
    assert pinned["metallized"] is True
    basis = pinned["verdict_basis"]  # the 5 % tail, not a water state, reached E_F: said so
    assert basis.startswith("band edges against the Fermi level pinned by the substrate; caution: ")
    assert "substrate's tails" in basis


def test_both_vacuum_levels_despite_a_dipole_too_small_for_its_jump_to_show(run):
    """The slab's dipole is tiny (CP2K prints +0.000545 e·Å, physical −0.000545): its step,
    e·μ/(ε0 A) = −0.0028 eV, is smaller than the tails of the profile 3 Å from the atoms, so the
    steepest step is no jump; the vacuum is split in its middle (the correction plane of the
    generated input) and both sides are flat plateaus differing by the printed dipole's step."""
    from dftpost.analysis.vacuum import vacuum_levels
    from dftpost.io.cube import read_cube

    levels = vacuum_levels(read_cube(RUN / "mgo_water-v_hartree-1_0.cube"))
    area = abs(np.linalg.det(run.atoms.cell[:2, :2]))
    printed_step = run.dipole_correction.dipole_e_A / area * constants.e / constants.epsilon_0 * 1e10
    assert levels.upper_spread_eV < 0.01 and levels.lower_spread_eV < 0.01
    assert levels.step_eV == pytest.approx(printed_step, abs=0.002)
    row = water_gap(run, potential=read_potential(run)).row()
    assert row["vacuum_side"] == "upper" and row["vacuum_level_eV"] == row["vacuum_level_upper_eV"]
    assert row["vbm_vs_vacuum_eV"] == pytest.approx(row["vbm_eV"] - row["vacuum_level_eV"])


def test_the_committed_input_is_what_the_generator_writes():
    """mgo_water.inp comes from dftpost's generator: two basis files (Mg's q2 MOLOPT basis is in
    BASIS_MOLOPT_UCL), no smearing for an oxide, the correction plane at the cell boundary."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_oxide_water", RUN.parent / "make_oxide_water.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    text = (RUN / "mgo_water.inp").read_text()
    assert "BASIS_SET_FILE_NAME BASIS_MOLOPT\n" in text and "BASIS_SET_FILE_NAME BASIS_MOLOPT_UCL\n" in text
    assert "&SMEAR" not in text and "SURF_DIP_POS 0.0" in text and "METHOD DIRECT_P_MIXING" in text
    from dftpost.inputs.cp2k import cp2k_input, render
    from dftpost.inputs.slab import AtomList, prepare_slab

    prepared = prepare_slab(script.build())
    lists = prepared.pdos_lists() + [AtomList("list2", "the oxide's O atoms (not in the water PDoS)", tuple(OXIDE_O))]
    assert render(cp2k_input(prepared.atoms, script.SETTINGS, coord_file="mgo_water.xyz", ldos_lists=lists)) == text
