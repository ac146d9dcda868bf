"""The band-edge search: constructed DoS with known answers, real CP2K water, a peer (pymatgen),
real FHI-aims per-atom DoS through the same code path, and what is missing."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from ase import Atoms
from conftest import CP2K_FIXTURE

from dftpost.analysis.bandedges import BandEdgeParameters, find_band_edges
from dftpost.analysis.water_gap import water_gap
from dftpost.analysis.water_selection import select_water, water_atoms, water_pdos
from dftpost.dos import ProjectedDos, Projection
from dftpost.errors import DftpostError
from dftpost.io import aims
from dftpost.io.rundir import read_run

E = np.round(np.arange(-10.0, 10.0 + 1e-9, 0.01), 2)


def boxes(*bands: tuple[float, float]) -> np.ndarray:
    """A DoS of 1 state/eV inside each closed interval, 0 elsewhere."""
    dos = np.zeros_like(E)
    for lo, hi in bands:
        dos[(E >= lo - 1e-9) & (E <= hi + 1e-9)] = 1.0
    return dos


@pytest.mark.parametrize("dipole", [-0.02, +0.02])
def test_insulating_water_either_tilt(dipole):
    edges = find_band_edges(E, boxes((-6, -1.5), (2, 8)), dipole, 0.5)
    assert (edges.vbm_eV, edges.cbm_eV, edges.gap_eV) == (-1.5, 2.0, 3.5)
    assert not edges.metallized and not edges.started_in_band


def test_negative_dipole_valence_band_crossing_fermi_level():
    edges = find_band_edges(E, boxes((-6, 0.5), (2, 8)), -0.03, 0.5, start_offset_eV=1.0, separation_eV=0.5)
    assert edges.vbm_eV == 0.5 and edges.cbm_eV == 2.0 and edges.metallized
    assert edges.branch.startswith("dipole<0")


def test_positive_dipole_conduction_band_crossing_fermi_level():
    edges = find_band_edges(E, boxes((-8, -3), (-0.5, 6)), +0.03, 0.5, start_offset_eV=1.0, separation_eV=0.5)
    assert edges.cbm_eV == -0.5 and edges.vbm_eV == -3.0 and edges.metallized
    assert edges.branch.startswith("dipole>=0")


def test_scan_starting_inside_a_band_does_not_take_it_for_the_other_edge():
    """μ > 0 and the valence band reaches above E_F − s: the CBM scan starts inside it."""
    edges = find_band_edges(E, boxes((-6, -0.5), (2, 8)), +0.01, 0.5, start_offset_eV=1.0)
    assert edges.started_in_band and edges.cbm_eV == 2.0 and edges.vbm_eV == -0.5
    assert "inside a band" in edges.notes[0]


def test_separation_keeps_the_second_scan_off_the_first_band():
    # with a tiny δ the VBM scan would restart at the CBM's own tail; δ = 0.5 skips it
    dos = boxes((-6, -1), (2, 8))
    dos[(E > 1.9) & (E < 2.0)] = 0.6  # smeared foot of the conduction band
    edges = find_band_edges(E, dos, +0.01, 0.5, separation_eV=0.5)
    assert edges.cbm_eV == pytest.approx(1.91) and edges.vbm_eV == -1.0


def test_dos_that_never_exceeds_the_threshold():
    with pytest.raises(DftpostError, match="never exceeds the threshold"):
        find_band_edges(E, boxes((-6, -1)) * 0.1, 0.01, 0.5)
    with pytest.raises(DftpostError, match="no CBM"):
        find_band_edges(E, boxes((-6, -1)), -0.01, 0.5)


# --------------------------------------------------------------------------- real CP2K water
@pytest.mark.parametrize("folder", ["nofield", "field"])
def test_cp2k_water_gap_lies_below_the_eigenvalue_gap(folder):
    run = read_run(CP2K_FIXTURE / folder)
    result = water_gap(run)
    summary = run.pdos.summary()
    homo_lumo = summary["lumo_eV"] - summary["homo_eV"]
    row = result.row()
    assert np.isfinite(row["gap_eV"]) and not row["metallized"]
    assert homo_lumo - 1.0 <= row["gap_eV"] <= homo_lumo
    assert row["dipole_e_per_A"] > 0 and row["n_water_atoms"] == 12
    # no metal and E_F at the HOMO: the reference is the middle of the water's gap
    assert row["reference_eV"] == pytest.approx(0.5 * (row["vbm_eV"] + row["cbm_eV"]), abs=0.05)
    # the fixed-charge dipole has the sign and size of the DFT dipole (0.68 e·Å / 36 Å²)
    dft = run.dipole_correction.dipole_e_A / 36.0
    assert row["dipole_e_per_A"] == pytest.approx(dft, rel=0.2)
    # band tilting: the upper layer's bands lie lower for a dipole pointing up
    assert result.local_vbm_eV[1] < result.local_vbm_eV[0]
    assert result.local_cbm_eV[1] < result.local_cbm_eV[0]


def test_edges_agree_with_pymatgen_get_cbm_vbm():
    """On the same water DoS with no tilt, pymatgen finds the same edges within one grid step."""
    dos_module = pytest.importorskip("pymatgen.electronic_structure.dos")
    core = pytest.importorskip("pymatgen.electronic_structure.core")
    run = read_run(CP2K_FIXTURE / "nofield")
    result = water_gap(run, dipole_e_per_A=0.0)
    reference = result.edges.reference_eV
    dos = dos_module.Dos(reference, result.energies_eV, {core.Spin.up: result.water_dos})
    cbm, vbm = dos.get_cbm_vbm(tol=result.edges.threshold_states_per_eV, abs_tol=True)
    step = result.parameters.spacing_eV
    assert result.edges.vbm_eV == pytest.approx(vbm, abs=step)
    assert result.edges.cbm_eV == pytest.approx(cbm, abs=step)


def test_threshold_modes_and_parameters_are_recorded():
    run = read_run(CP2K_FIXTURE / "nofield")
    per_atom = water_gap(run).row()
    assert per_atom["threshold_states_per_eV"] == pytest.approx(0.01 * 12)
    relative = water_gap(run, BandEdgeParameters(threshold=0.05, threshold_mode="relative")).row()
    assert relative["parameters"]["threshold_mode"] == "relative"
    assert relative["threshold_states_per_eV"] > per_atom["threshold_states_per_eV"]
    assert relative["gap_eV"] > per_atom["gap_eV"]  # a higher threshold cuts deeper into the tails
    with pytest.raises(DftpostError, match="threshold mode"):
        BandEdgeParameters(threshold_mode="percent")


# --------------------------------------------------------------------------- FHI-aims, real files
@pytest.mark.parametrize(
    "folder, files, slack",
    [
        ("Si_closed_shell_soc", ["atom_proj_dos_Si0001.dat.no_soc"], 0.2),  # Gaussian 0.05 eV
        ("hBN_mlk_no_soc", ["atom_proj_dos_tetrahedron_N0001.dat", "atom_proj_dos_tetrahedron_B0002.dat"], 0.1),
    ],
)
def test_fhi_aims_per_atom_dos_through_the_same_code_path(realdata, folder, files, slack):
    """Real FHI-aims per-atom DoS, selected by atom index as water atoms are and searched from
    the reference a structure without metal gets: the gap lies within the broadening of the
    HOMO–LUMO gap aims.out estimates, whichever band edge FHI-aims put μ on."""
    from dftpost.analysis.bandedges import reference_level

    path = realdata / "fhiaims/aimstools" / folder
    pdos = aims.read_dos_files([path / f for f in files])
    scf = (path / "aims.out").read_text().split("Self-consistency cycle converged")[0]
    homo_lumo = float(re.findall(r"ESTIMATED overall HOMO-LUMO gap:\s+(\S+)", scf)[-1])
    summed = water_pdos(pdos, np.arange(len(files)), water_only_structure=False)
    energies, dos = summed.energies_eV, summed.values[0, 0]
    threshold = 0.01 * len(files)
    reference, _ = reference_level(energies, dos, threshold, 0.2, metal=False)
    for dipole in (-0.01, +0.01):
        edges = find_band_edges(energies, dos, dipole, threshold, 0.3, 0.2, reference)
        assert homo_lumo - 2 * slack - 0.05 <= edges.gap_eV <= homo_lumo + 0.1
        assert not edges.metallized and edges.vbm_eV < reference < edges.cbm_eV


# --------------------------------------------------------------------------- water selection
def test_water_under_the_metal_through_the_boundary_is_next_to_it():
    """Pt at z = 1 and 3 Å in a 20 Å cell: the molecule at z = 19.5 Å (its H at 0.1 Å) lies
    1.5 Å (H: 0.9 Å) below the bottom Pt through the periodic boundary, not 16.5 Å above the top."""
    cell = np.diag([5.0, 5.0, 20.0])
    atoms = Atoms(
        "Pt2OH2OH2",
        positions=[[0, 0, 1.0], [2.5, 2.5, 3.0], [0, 0, 4.5], [0.8, 0, 5.0], [-0.8, 0, 5.0], [1, 1, 19.5], [1.8, 1, 0.1], [0.2, 1, 0.1]],
        cell=cell,
        pbc=True,
    )
    with pytest.raises(DftpostError, match="d_cut = 3.5"):
        water_atoms(atoms.numbers, atoms.positions, cell, d_cut_A=3.5)
    selection = select_water(atoms.numbers, atoms.positions, cell, d_cut_A=1.0)
    assert selection.indices.tolist() == [2, 3, 4]  # 1.5 Å above Pt; the other's H is 0.9 Å below
    assert selection.side.tolist() == [1, 1, 1] and selection.top_substrate_A == 3.0
    assert selection.distance_A == pytest.approx([1.5, 2.0, 2.0])
    both = select_water(atoms.numbers, atoms.positions, cell, d_cut_A=0.5)
    assert both.indices.tolist() == [2, 3, 4, 5, 6, 7] and both.side.tolist() == [1, 1, 1, -1, -1, -1]


def _discrete(projections, n_states=4):
    values = np.ones((1, len(projections), n_states))
    return ProjectedDos(
        fermi_level_eV=0.0,
        projections=tuple(projections),
        values=values,
        eigenvalues_eV=np.linspace(-1, 1, n_states)[None, :],
        occupations=np.array([[2, 2, 0, 0]]),
        spin_degeneracy=2,
    )


def test_cp2k_selection_by_lists():
    lists = [
        Projection("list1", "list", (0, 1, 2, 3, 4, 5)),
        Projection("list2", "list", (0, 1, 2)),
        Projection("list3", "list", (3, 4, 5)),
        Projection("O", "species", (0, 3), species="O"),
        Projection("H", "species", (1, 2, 4, 5), species="H"),
    ]
    pdos = _discrete(lists)
    assert water_pdos(pdos, np.arange(6), True).values[0, 0, 0] == 1.0  # the exact list
    layers = pdos.select(["list2", "list3", "O", "H"])
    assert water_pdos(layers, np.arange(6), False).values[0, 0, 0] == 2.0  # two layer lists summed
    kinds = pdos.select(["O", "H"])
    assert water_pdos(kinds, np.arange(6), True).values[0, 0, 0] == 2.0  # water alone: the kinds
    with pytest.raises(DftpostError, match="covers exactly the 3 water atoms"):
        water_pdos(kinds, np.array([3, 4, 5]), False)


def test_missing_inputs_are_errors_naming_the_run(copy_dir):
    run = read_run(CP2K_FIXTURE / "nofield")
    with pytest.raises(DftpostError, match="no projected DoS") as info:
        water_gap(replace(run, pdos=None))
    assert str(run.path) in str(info.value)
    with pytest.raises(DftpostError, match="no structure"):
        water_gap(replace(run, atoms=None))
    with pytest.raises(DftpostError, match="never exceeds"):
        water_gap(run, BandEdgeParameters(threshold=1e6, threshold_mode="absolute"))


# --------------------------------------------------------------------------- tilted water slabs
WATER8 = "cp2k/water8_slab_field/run_a_nofield"  # real CP2K 2023.1: list1 = upper layer, list2 = lower


def tilted_run(run, shift_eV: float, fermi: str):
    """The real run with the upper layer's share of every state moved by ``shift_eV`` (a tilt of
    that size across the slab) and the occupations refilled by aufbau with the run's electrons.

    Each state becomes two pieces, the lower layer's weight at ε and the upper layer's at ε + D;
    a piece of weight w holds 2w electrons, filled in the order of its energy. ``fermi`` puts E_F
    (the zero of the energies) at the highest occupied piece ("top") or half way between it and
    the lowest piece with room left ("middle"). Returns the run, the highest occupied and lowest
    unoccupied energies of the pieces (eV on the run's own scale), and the pieces' energies,
    weights and occupations."""
    pdos = run.pdos
    upper, lower = pdos.labels.index("list1"), pdos.labels.index("list2")
    eps = pdos.eigenvalues_eV[0]
    energies = np.concatenate([eps, eps + shift_eV])
    weights = np.zeros((1, 2, energies.size))
    weights[0, 0, eps.size:] = pdos.values[0, upper]
    weights[0, 1, : eps.size] = pdos.values[0, lower]
    capacity = 2.0 * weights[0].sum(axis=0)
    electrons = pdos.occupations.sum()
    occupation = np.zeros(energies.size)
    for i in np.argsort(energies, kind="stable"):
        filled = min(capacity[i], electrons)
        electrons -= filled
        occupation[i] = 2.0 * filled / capacity[i] if capacity[i] > 0 else 0.0
    assert electrons == pytest.approx(0.0, abs=1e-6)
    homo = energies[occupation > 2e-3].max()
    lumo = energies[occupation < 2 - 2e-3].min()
    fermi_eV = homo if fermi == "top" else 0.5 * (homo + lumo)
    tilted = ProjectedDos(
        fermi_level_eV=pdos.fermi_level_eV + fermi_eV,
        projections=(pdos.projections[upper], pdos.projections[lower]),
        values=weights,
        eigenvalues_eV=(energies - fermi_eV)[None, :],
        occupations=occupation[None, :],
        spin_degeneracy=2,
    )
    return replace(run, pdos=tilted, fermi_level_eV=tilted.fermi_level_eV), homo - fermi_eV, lumo - fermi_eV, (
        energies - fermi_eV, weights[0].sum(axis=0), occupation)


@pytest.fixture(scope="module")
def water8(realdata):
    return read_run(realdata / WATER8)


SHIFTS = [0.0, 1.0, 3.0, 5.0, 5.4, 6.0, 6.3, 6.5, 7.0, 8.4, 10.0, 14.0]


@pytest.mark.parametrize("fermi", ["top", "middle"])
@pytest.mark.parametrize("shift", SHIFTS + [-d for d in SHIFTS if d])
def test_tilted_real_water_slab_verdict_and_gap(water8, shift, fermi):
    """A rigid shift D of the upper layer closes the real slab's eigenvalue gap G (6.397 eV, from
    the .pdos occupations) exactly at |D| = G: below it the water is not metallized and the
    thresholded gap lies within the broadening of the refilled eigenvalue gap; at and beyond it
    (bands overlapping by |D| − G, up to 7.6 eV) the water is metallized, wherever E_F sits."""
    eps = water8.pdos.eigenvalues_eV[0]
    occupied = water8.pdos.occupations[0] > 0
    g0 = eps[~occupied].min() - eps[occupied].max()
    assert g0 == pytest.approx(6.397, abs=1e-3)
    run, homo, lumo, (energies, weights, occupation) = tilted_run(water8, shift, fermi)
    dipole = -0.01 if shift > 0 else 0.01  # bands rising upward ⇔ a dipole pointing down
    result = water_gap(run, dipole_e_per_A=dipole)
    row = result.row()
    assert row["metallized"] == (abs(shift) >= g0)
    assert row["verdict_basis"].startswith("occupations")
    assert row["water_homo_eV"] == pytest.approx(homo) and row["water_lumo_eV"] == pytest.approx(lumo)
    if abs(shift) >= g0:  # the edges are the overlapping states: a gap of minus the overlap
        assert (row["vbm_eV"], row["cbm_eV"]) == (row["water_homo_eV"], row["water_lumo_eV"]) and row["gap_eV"] <= 0
        return
    assert lumo - homo == pytest.approx(g0 - abs(shift), abs=1e-9)
    assert homo < row["reference_eV"] < lumo and row["start_offset_used_eV"] == 0.0
    # pieces a threshold can see on their own (peak 2w/(σ√2π) above T) bound the thresholded edges
    params = result.parameters
    seen = 2 * weights / (params.sigma_eV * np.sqrt(2 * np.pi)) > row["threshold_states_per_eV"]
    visible_gap = energies[seen & (occupation < 1)].min() - energies[seen & (occupation > 1)].max()
    step = params.spacing_eV
    assert (lumo - homo) - 6 * params.sigma_eV <= row["gap_eV"] <= visible_gap + step
    assert row["vbm_eV"] <= row["cbm_eV"]


def test_tilted_slab_results_do_not_depend_on_where_e_f_sits(water8):
    for shift in (2.0, 5.4, 8.4):
        rows = [water_gap(tilted_run(water8, shift, f)[0], dipole_e_per_A=-0.01).row() for f in ("top", "middle")]
        assert rows[0]["metallized"] == rows[1]["metallized"]
        for key in ("vbm_eV", "cbm_eV"):
            absolute = [r[key] + r["fermi_level_eV"] for r in rows]
            assert absolute[0] == pytest.approx(absolute[1], abs=0.021)


def test_water_without_occupations_keeps_the_dos_reference_and_says_so(water8):
    """FHI-aims-like: the same water as a DoS on a grid (no occupations) is judged from the
    broadened DoS, and the row says so."""
    grid = water8.pdos.on_grid(0.1)
    row = water_gap(replace(water8, pdos=grid)).row()
    assert "no occupations" in row["verdict_basis"] and row["water_homo_eV"] is None
    assert not row["metallized"]


# --------------------------------------------------------------------------- spin channels
def spin_polarised(run, down_shift_eV: float):
    """The real closed-shell run as two spin channels (one electron per state), the down
    channel's spectrum moved rigidly by ``down_shift_eV`` (smaller than the gap, so the
    occupations stay those of the closed shell)."""
    pdos = run.pdos
    eps = pdos.eigenvalues_eV[0]
    two = ProjectedDos(
        fermi_level_eV=pdos.fermi_level_eV,
        projections=pdos.projections,
        values=np.concatenate([pdos.values, pdos.values]),
        eigenvalues_eV=np.stack([eps, eps + down_shift_eV]),
        occupations=np.concatenate([pdos.occupations, pdos.occupations]) / 2,
        spin_degeneracy=1,
    )
    return replace(run, pdos=two)


def test_edges_per_spin_channel(water8):
    """Two equal channels have each the edges of their sum (T/2 per channel of half the DoS);
    moving the down channel by 0.5 eV moves its edges by 0.5 eV and leaves the up channel's; the
    combined VBM is the down channel's top within the tail of the threshold; closed shell: null."""
    closed = water_gap(water8).row()
    assert closed["vbm_by_spin_eV"] is None and closed["cbm_by_spin_eV"] is None
    equal = water_gap(spin_polarised(water8, 0.0)).row()
    assert equal["vbm_by_spin_eV"] == [closed["vbm_eV"]] * 2 and equal["cbm_by_spin_eV"] == [closed["cbm_eV"]] * 2
    assert (equal["vbm_eV"], equal["cbm_eV"], equal["metallized"]) == (closed["vbm_eV"], closed["cbm_eV"], False)
    moved = water_gap(spin_polarised(water8, 0.5)).row()
    step = 0.021
    assert moved["vbm_by_spin_eV"][0] == pytest.approx(closed["vbm_eV"], abs=step)
    assert moved["cbm_by_spin_eV"][0] == pytest.approx(closed["cbm_eV"], abs=step)
    assert moved["vbm_by_spin_eV"][1] == pytest.approx(closed["vbm_eV"] + 0.5, abs=step)
    assert moved["cbm_by_spin_eV"][1] == pytest.approx(closed["cbm_eV"] + 0.5, abs=step)
    assert moved["vbm_by_spin_eV"][1] - 0.3 <= moved["vbm_eV"] <= moved["vbm_by_spin_eV"][1] + step
    assert moved["cbm_by_spin_eV"][0] - step <= moved["cbm_eV"] <= moved["cbm_by_spin_eV"][0] + 0.3


# --------------------------------------------------------------------------- a real metallized slab
METALLIZED = CP2K_FIXTURE.parents[1] / "cp2k_metallized" / "water10_oriented"  # its make_metallized_slab.py


def test_real_water_slab_metallized_by_its_own_dipole():
    """CP2K 2023.1 on 10 H2O, all H up in 5 layers (a fixed-charge step of 14.4 V, far above the
    6.4 eV gap of the unpolarised water8 slab), smeared at 300 K. CP2K's own numbers, read here
    straight from the .pdos columns, say the electrons moved: states above CP2K's E_F hold
    electrons, on the upper molecules, and states below it lack them, on the lower molecules. The
    verdict comes from the occupations and the edges are the overlapping states."""
    files = [METALLIZED / f"water10-list{k}-1.pdos" for k in (1, 2)]
    lower, upper = (np.loadtxt(f) for f in files)
    fermi_au = float(re.search(r"E\(Fermi\) =\s*(\S+)", files[0].read_text()).group(1))
    occupation, weight_lower, weight_upper = lower[:, 2], lower[:, 3:].sum(axis=1), upper[:, 3:].sum(axis=1)
    above = lower[:, 1] > fermi_au
    electrons_above, holes_below = occupation[above], 2.0 - occupation[~above]
    assert electrons_above.sum() > 0.05 and holes_below.sum() == pytest.approx(electrons_above.sum(), rel=1e-3)
    assert np.dot(electrons_above, weight_upper[above]) / electrons_above.sum() > 0.95
    assert np.dot(holes_below, weight_lower[~above]) / holes_below.sum() > 0.95
    row = water_gap(read_run(METALLIZED)).row()
    assert row["metallized"] and row["verdict_basis"].startswith("occupations")
    assert row["dipole_e_per_A"] > 0.07  # H up: the upper molecules' states lie lower
    assert row["water_homo_eV"] >= row["water_lumo_eV"] and row["gap_eV"] <= 0


def test_a_band_through_the_reference_is_metallized_when_the_start_lies_a_step_short_of_it():
    """With s = 0 and the reference between grid points, the first scan starts at the grid point
    on the near side of the reference, inside a band that runs through it: the edge taken there
    lies below (VBM) or above (CBM) the reference, and the water is metallized all the same."""
    energies = np.arange(-3.0, 3.0001, 0.1)
    band = (energies > -2.0) & (energies < 1.0)  # one band from -2 to +1 eV, through 0.05
    dos = np.where(band, 1.0, 0.0) + np.where(energies > 2.0, 1.0, 0.0)
    edges = find_band_edges(energies, dos, -0.01, 0.5, start_offset_eV=0.0, separation_eV=0.5, reference_eV=0.05)
    assert edges.vbm_eV < 0.05 and edges.band_crosses_reference and edges.metallized
    up = find_band_edges(energies, dos[::-1].copy(), +0.01, 0.5, start_offset_eV=0.0, separation_eV=0.5,
                         reference_eV=-0.05)
    assert up.cbm_eV > -0.05 and up.band_crosses_reference and up.metallized
    # a band that stays below the reference is no crossing
    clear = find_band_edges(energies, np.where(energies < -1.0, 1.0, 0.0) + np.where(energies > 2.0, 1.0, 0.0),
                            -0.01, 0.5, start_offset_eV=0.0, separation_eV=0.5, reference_eV=0.05)
    assert not clear.band_crosses_reference and not clear.metallized


def _layer_shift(params: BandEdgeParameters) -> tuple[float, float, float]:
    """Field-induced change of (upper − lower) local VBM and CBM of the real 4-water slab in
    +0.1 V/Å, and the expected change: the field in the water (fitted to the cubes' potential)
    times the distance between the two layers' centres."""
    from dftpost.analysis.profiles import field_response
    from dftpost.io.cube import read_cube

    gaps = {name: water_gap(read_run(CP2K_FIXTURE / name), params) for name in ("nofield", "field")}
    apart = {k: g.local_vbm_eV[1] - g.local_vbm_eV[0] for k, g in gaps.items()}
    cube = {
        (name, q): read_cube(CP2K_FIXTURE / name / f"water4-{q}-1_0.cube")
        for name in ("nofield", "field")
        for q in ("v_hartree", "ELECTRON_DENSITY")
    }
    response = field_response(
        cube["nofield", "v_hartree"], cube["field", "v_hartree"],
        cube["nofield", "ELECTRON_DENSITY"], cube["field", "ELECTRON_DENSITY"], 0.1,
    )
    centres = gaps["field"].z_bin_centres_A
    expected = response.field_water_V_per_A * (centres[1] - centres[0])  # electron energy: +E·Δz
    return apart["field"] - apart["nofield"], expected, centres[1] - centres[0]


def test_local_edges_of_two_layers_shift_apart_by_the_field_in_the_water():
    """A layer's local VBM is its own: in 0.1 V/Å the two layers' local VBMs move apart by the
    screened field in the water × their distance (0.081 V/Å × 2.79 Å ≈ 0.23 eV), within σ."""
    params = BandEdgeParameters()
    shift, expected, distance = _layer_shift(params)
    assert 2.5 < distance < 3.1 and 0.15 < expected < 0.3
    assert shift == pytest.approx(expected, abs=params.sigma_eV)
    # without the floor, T = 0.01 per atom lets the lower layer's tail set the upper layer's
    # VBM, which then barely moves
    old, _, _ = _layer_shift(replace(params, local_threshold_fraction=0.0))
    assert abs(old - expected) > params.sigma_eV


def test_bin_centres_are_layer_centres_and_a_run_without_layer_lists_says_why(tmp_path):
    run = read_run(CP2K_FIXTURE / "nofield")
    result = water_gap(run)
    z = run.atoms.positions[:, 2]
    np.testing.assert_allclose(result.z_bin_centres_A, [z[:6].mean(), z[6:].mean()])  # list2, list3
    assert result.row()["z_resolved_note"] == ""
    keep = [k for k, p in enumerate(run.pdos.projections) if p.kind != "list" or len(p.atom_indices) == 12]
    pdos = run.pdos
    lists_only_whole = replace(run, pdos=replace(
        pdos, projections=tuple(pdos.projections[k] for k in keep), values=pdos.values[:, keep]))
    bare = water_gap(lists_only_whole)
    assert bare.z_resolved_dos.shape[0] == 0 and bare.z_bin_centres_A.size == 0
    assert "none of its 1 &LDOS lists" in bare.row()["z_resolved_note"]


def test_local_edges_shift_apart_by_the_field_on_the_real_8_water_slab():
    """Second real pair (8 waters, 0.1 V/Å as an external potential): the two layers' local VBMs
    move apart by the field fitted in the water × the distance of the layers' centres, within σ."""
    from conftest import REALDATA

    from dftpost.analysis.profiles import field_response
    from dftpost.io.cube import read_cube

    base = REALDATA / "cp2k" / "water8_slab_field"
    if not base.is_dir():
        pytest.skip(f"real output files not found at {base}")
    names = ("run_a_nofield", "run_c_extpot_field")
    gaps = {n: water_gap(read_run(base / n)) for n in names}
    apart = {n: g.local_vbm_eV[1] - g.local_vbm_eV[0] for n, g in gaps.items()}
    cube = {(n, q): read_cube(base / n / f"water_slab-{q}-1_0.cube") for n in names for q in ("v_hartree", "ELECTRON_DENSITY")}
    response = field_response(cube[names[0], "v_hartree"], cube[names[1], "v_hartree"],
                              cube[names[0], "ELECTRON_DENSITY"], cube[names[1], "ELECTRON_DENSITY"], 0.1)
    centres = gaps[names[1]].z_bin_centres_A
    expected = response.field_water_V_per_A * (centres[1] - centres[0])
    assert 0.15 < expected < 0.3
    assert apart[names[1]] - apart[names[0]] == pytest.approx(expected, abs=BandEdgeParameters().sigma_eV)
