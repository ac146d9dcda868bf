"""A metal–water interface end to end, in FHI-aims' file formats (written by the fixture writer,
itself checked byte for byte against real FHI-aims files): the water beyond d_cut is selected
geometrically, the Fermi level pinned by the metal is the reference, and the band edges equal
the analytic threshold crossings of the constructed DoS."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111, surface
from ase.io import write
from ase.spacegroup import crystal
from conftest import FIXTURES

from dftpost.analysis.bandedges import BandEdgeParameters
from dftpost.analysis.water_gap import water_gap
from dftpost.analysis.water_selection import select_water
from dftpost.errors import DftpostError
from dftpost.io.rundir import read_run

sys.path.insert(0, str(FIXTURES / "aims"))
import aims_format  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:FHI-aims IO is moving:FutureWarning")  # ASE's notice

MU = -4.0  # eV, the metal's Fermi level on FHI-aims' internal zero
ENERGIES = np.linspace(-20.0, 5.0, 1001)  # the paper's grid: 1001 points, 0.025 eV apart
HEIGHT, WIDTH = 1.0, 0.4  # Gaussian band height (states/eV per atom) and width (eV)


def band(centre: float) -> np.ndarray:
    return HEIGHT * np.exp(-0.5 * ((ENERGIES - centre) / WIDTH) ** 2)


def crossing(centre: float, side: int, threshold_per_atom: float) -> float:
    """Where a band of one atom falls to the threshold, on the side ``side`` (+1 above)."""
    return centre + side * WIDTH * np.sqrt(2 * np.log(HEIGHT / threshold_per_atom))


def interface(h_up: bool) -> Atoms:
    """Pt(2 layers, top at z = 3 Å), a contact water at 5 Å, three waters at 9–12 Å."""
    pt = [[x, y, z] for z in (1.0, 3.0) for x in (0.0, 4.0) for y in (0.0, 4.0)]
    sign = 1.0 if h_up else -1.0
    waters = []
    for ox, oy, oz in [(2.0, 2.0, 5.0), (1.0, 1.0, 9.0), (5.0, 1.0, 10.5), (3.0, 5.0, 12.0)]:
        waters += [[ox, oy, oz], [ox + 0.76, oy, oz + sign * 0.59], [ox - 0.76, oy, oz + sign * 0.59]]
    return Atoms("Pt8" + "OH2" * 4, positions=pt + waters, cell=[8.0, 8.0, 30.0], pbc=True)


def write_run(folder: Path, atoms: Atoms, vb: float, cb: float, at_fermi=None) -> None:
    """geometry.in, a minimal aims.out and one atom_proj_dos file per atom (energies vs μ).
    Atoms in ``at_fermi`` (default: Pt and everything below 7 Å) get a flat DoS through E_F,
    the others the water bands at ``vb`` and ``cb``."""
    folder.mkdir()
    write(folder / "geometry.in", atoms, format="aims")
    (folder / "aims.out").write_text(
        "          Invoking FHI-aims ...\n  FHI-aims version      : 210513\n"
        + f"  | Number of atoms                   : {len(atoms):8d}\n"
        + f"  | Chemical potential (Fermi level):    {MU:.8f} eV\n"
        + "  Self-consistency cycle converged.\n          Have a nice day.\n"
    )
    for i, (symbol, z) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions[:, 2])):
        metallic = (symbol == "Pt" or z < 7.0) if at_fermi is None else i in at_fermi
        if metallic:  # the metal, and water touching it: states at E_F
            dos = np.full_like(ENERGIES, 0.5)
        else:
            dos = band(vb) + band(cb)
        l_columns = np.vstack([0.3 * dos, 0.7 * dos])
        text = aims_format.dos_text(ENERGIES, l_columns, symbol, MU, uuid="00000000-TEST")
        (folder / f"atom_proj_dos_{symbol}{i + 1:04d}.dat").write_text(text)


@pytest.mark.parametrize("h_up", [True, False], ids=["dipole>0", "dipole<0"])
def test_insulating_water_on_a_metal(tmp_path, h_up):
    write_run(tmp_path / "run", interface(h_up), vb=-3.0, cb=3.0)
    run = read_run(tmp_path / "run")
    assert run.code == "fhi-aims" and run.fermi_level_eV == MU
    params = BandEdgeParameters()
    result = water_gap(run, params)
    assert result.n_water_atoms == 9 and result.top_metal_A == 3.0  # the contact water is left out
    assert (result.dipole_e_per_A > 0) == h_up
    assert result.edges.reference_eV == 0.0 and "pinned by the metal" in result.reference
    step = ENERGIES[1] - ENERGIES[0]
    assert result.edges.vbm_eV == pytest.approx(crossing(-3.0, +1, params.threshold), abs=step)
    assert result.edges.cbm_eV == pytest.approx(crossing(3.0, -1, params.threshold), abs=step)
    assert not result.edges.metallized


def test_valence_band_pulled_above_the_fermi_level_is_metallized(tmp_path):
    write_run(tmp_path / "run", interface(h_up=False), vb=-0.2, cb=5.5)
    result = water_gap(read_run(tmp_path / "run"))
    assert result.dipole_e_per_A < 0
    assert result.edges.vbm_eV == pytest.approx(crossing(-0.2, +1, 0.01), abs=0.025)
    assert result.edges.vbm_eV > 0 and result.edges.metallized


def test_contact_layer_would_close_the_gap_without_d_cut(tmp_path):
    write_run(tmp_path / "run", interface(h_up=True), vb=-3.0, cb=3.0)
    with_contact = water_gap(read_run(tmp_path / "run"), BandEdgeParameters(d_cut_A=1.0))
    assert with_contact.n_water_atoms == 12 and with_contact.edges.metallized


def test_valence_band_top_between_start_and_fermi_level_is_left_not_taken(tmp_path):
    """μ > 0 and the VB top lies between E_F − s and E_F: the CBM scan starts inside the valence
    band, which ends below E_F, so it is left and the conduction band found above."""
    write_run(tmp_path / "run", interface(h_up=True), vb=-1.9, cb=3.0)
    result = water_gap(read_run(tmp_path / "run"))
    top = crossing(-1.9, +1, 0.01)
    assert -1.0 < top < 0.0 and result.edges.started_in_band
    assert result.edges.vbm_eV == pytest.approx(top, abs=0.025)
    assert result.edges.cbm_eV == pytest.approx(crossing(3.0, -1, 0.01), abs=0.025)
    assert not result.edges.metallized


# --------------------------------------------------------------------------- selection geometry
def waters(centres, up=True) -> Atoms:
    """H2O molecules with O at ``centres`` (Å) and both H 0.59 Å above (``up``) or below."""
    sign = 1.0 if up else -1.0
    positions = []
    for x, y, z in centres:
        positions += [[x, y, z], [x + 0.76, y, z + sign * 0.59], [x - 0.76, y, z + sign * 0.59]]
    return Atoms("OH2" * len(centres), positions=positions)


def brute_force(atoms: Atoms, n_substrate: int, d_cut: float):
    """Selected atom indices and their sides, from every substrate atom and the images n = −1, 0,
    1 along z: the substrate is the first ``n_substrate`` atoms, then whole molecules O, H, H."""
    z, length = atoms.positions[:, 2], atoms.cell[2, 2]
    chosen, sides = [], []
    for first in range(n_substrate, len(atoms), 3):
        per_atom = []
        for a in range(first, first + 3):
            deltas = [z[a] - z[s] + n * length for s in range(n_substrate) for n in (-1, 0, 1)]
            nearest = min(deltas, key=abs)
            per_atom.append((abs(nearest), 1 if nearest >= 0 else -1))
        if min(d for d, _ in per_atom) > d_cut:
            chosen += list(range(first, first + 3))
            sides += [side for _, side in per_atom]
    return chosen, sides


def copper(layers=3, cell_z=30.0, z0=0.0) -> Atoms:
    slab = fcc111("Cu", (2, 2, layers), a=3.61, vacuum=None, orthogonal=True)
    slab.positions[:, 2] += z0
    slab.cell[2] = [0.0, 0.0, cell_z]
    slab.pbc = True
    return slab


def test_water_on_both_sides_of_a_metal_slab_and_through_the_boundary():
    """Cu(111), 3 layers at z = 0–4.17 Å in a 30 Å cell. Molecules 2.5 and 6 Å above the top
    layer, and 2.5 and 6 Å below the bottom layer, which lie at the top of the cell (z ≈ 27.5 and
    24): through the periodic boundary they face the bottom layer."""
    slab = copper()
    top = slab.positions[:, 2].max()
    above = waters([(1.0, 1.0, top + 2.5), (3.0, 2.5, top + 6.0)], up=True)
    below = waters([(1.0, 2.0, 30.0 - 2.5), (3.0, 1.0, 30.0 - 6.0)], up=False)
    atoms = slab + above + below
    atoms.cell, atoms.pbc = slab.cell, True
    selection = select_water(atoms.numbers, atoms.positions, atoms.cell[:], d_cut_A=3.5)
    expected, sides = brute_force(atoms, len(slab), 3.5)
    assert selection.indices.tolist() == expected and selection.side.tolist() == sides
    n = len(slab)
    assert expected == [n + 3, n + 4, n + 5, n + 9, n + 10, n + 11]  # the 6 Å molecules only
    assert sides == [1, 1, 1, -1, -1, -1]  # one above the top layer, one below the bottom layer
    assert selection.substrate.tolist() == list(range(n)) and selection.top_substrate_A == pytest.approx(top)


def test_metal_water_metal_each_molecule_faces_its_nearer_slab():
    """Two Cu(111) slabs (z = 0–4.17 and 16–20.17 Å, cell 24 Å) with water between them: water
    in the middle is selected, the lower half facing the lower slab from above (+1), the upper
    half facing the upper slab from below (−1); the 3.8 Å of vacuum-less gap through the
    boundary is metal to metal."""
    lower, upper = copper(), copper(z0=16.0)
    heights = [6.0, 8.5, 10.0, 11.5, 13.0]
    water = waters([(1.2 + 2.5 * (k % 2), 1.0 + 2.2 * (k % 2), h) for k, h in enumerate(heights)], up=True)
    atoms = lower + upper + water
    atoms.cell = lower.cell.copy()
    atoms.cell[2, 2] = 24.0
    atoms.pbc = True
    n = len(lower) + len(upper)
    selection = select_water(atoms.numbers, atoms.positions, atoms.cell[:], d_cut_A=3.5)
    expected, sides = brute_force(atoms, n, 3.5)
    assert selection.indices.tolist() == expected and selection.side.tolist() == sides
    # analytic: the molecules at 8.5, 10 and 11.5 Å (H 0.59 Å higher) are > 3.5 Å from both slabs
    # (4.17 and 16 Å); the 8.5 Å one is nearer the lower slab, the 11.5 Å one the upper; of the
    # 10 Å one the O (5.83 vs 6.0 Å) faces the lower slab and the H (6.42 vs 5.41 Å) the upper
    assert expected == list(range(n + 3, n + 12))
    assert sides == [1, 1, 1, 1, -1, -1, -1, -1, -1]


def test_random_water_around_a_slab_matches_brute_force():
    rng = np.random.default_rng(7)
    slab = copper(layers=2, cell_z=20.0)
    for _ in range(40):
        centres = [(x, y, rng.uniform(0, 20)) for x in (1.0, 3.5) for y in (1.0, 3.2)]  # apart in xy
        atoms = slab + waters(centres, up=bool(rng.integers(2)))
        atoms.cell, atoms.pbc = slab.cell, True
        d_cut = rng.uniform(0.5, 4.0)
        expected, sides = brute_force(atoms, len(slab), d_cut)
        if not expected:
            with pytest.raises(DftpostError, match="d_cut"):
                select_water(atoms.numbers, atoms.positions, atoms.cell[:], d_cut_A=d_cut)
            continue
        selection = select_water(atoms.numbers, atoms.positions, atoms.cell[:], d_cut_A=d_cut)
        assert selection.indices.tolist() == expected and selection.side.tolist() == sides


def rutile_110() -> Atoms:
    rutile = crystal(["Ti", "O"], basis=[(0, 0, 0), (0.3053, 0.3053, 0)], spacegroup=136,
                     cellpar=[4.594, 4.594, 2.959, 90, 90, 90])
    slab = surface(rutile, (1, 1, 0), 2, vacuum=None)
    slab.cell[2] = [0.0, 0.0, 30.0]
    slab.pbc = True
    return slab


def mgo_100() -> Atoms:
    slab = bulk("MgO", "rocksalt", a=4.21, cubic=True)  # two (100) layers at z = 0 and 2.105 Å
    slab.cell[2] = [0.0, 0.0, 30.0]
    slab.pbc = True
    return slab


@pytest.mark.parametrize("make", [rutile_110, mgo_100], ids=["TiO2(110)", "MgO(100)"])
def test_an_oxides_oxygen_is_substrate_not_water(make):
    oxide = make()
    top = oxide.positions[:, 2].max()
    lx, ly = oxide.cell[0, 0], oxide.cell[1, 1]
    water = waters([(0.3 * lx, 0.3 * ly, top + 2.2), (0.7 * lx, 0.6 * ly, top + 5.0), (0.4 * lx, 0.7 * ly, top + 7.5)])
    atoms = oxide + water
    atoms.cell, atoms.pbc = oxide.cell, True
    selection = select_water(atoms.numbers, atoms.positions, atoms.cell[:], d_cut_A=3.5)
    n = len(oxide)
    assert selection.substrate.tolist() == list(range(n))  # every oxide O with the cations
    assert selection.molecule_atoms.tolist() == list(range(n, n + 9))
    expected, sides = brute_force(atoms, n, 3.5)
    assert selection.indices.tolist() == expected == list(range(n + 3, n + 9)) and sides == [1] * 6


def test_oxide_water_end_to_end_sums_no_oxide_oxygen(tmp_path):
    """TiO2(110) whose atoms have states at E_F (as a summed oxide O would bring into the water
    PDoS) under insulating water: only the water molecules beyond d_cut are summed, the water is
    not metallized, and the reference is E_F pinned by the substrate."""
    oxide = rutile_110()
    top = oxide.positions[:, 2].max()
    water = waters([(1.0, 1.0, top + 2.2), (3.5, 1.5, top + 5.0), (5.0, 1.0, top + 7.5)])
    atoms = oxide + water
    atoms.cell, atoms.pbc = oxide.cell, True
    write_run(tmp_path / "run", atoms, vb=-3.0, cb=3.0, at_fermi=set(range(len(oxide) + 3)))
    result = water_gap(read_run(tmp_path / "run"))
    assert result.n_water_atoms == 6 and not result.metallized
    assert "pinned by the substrate" in result.verdict_basis
    row = result.row()
    assert row["n_substrate_atoms"] == len(oxide) and row["n_water_atoms_above_substrate"] == 6
    assert row["n_water_atoms_below_substrate"] == 0


def _water_alone(folder: Path, homo_eV: float, homo_occ: float, lumo_eV: float, lumo_occ: float) -> None:
    """The four waters of :func:`interface` without the metal, bands at −3 and +3 eV, and an
    aims.out whose last SCF cycle prints the given highest occupied / lowest unoccupied states
    (eV on FHI-aims' internal zero, as output_eigenfunctions.f90 writes them)."""
    atoms = interface(h_up=True)
    del atoms[[a.index for a in atoms if a.symbol == "Pt"]]
    write_run(folder, atoms, vb=-3.0, cb=3.0, at_fermi=set())
    (folder / "aims.out").write_text(
        "          Invoking FHI-aims ...\n  FHI-aims version      : 210513\n"
        f"  | Number of atoms                   : {len(atoms):8d}\n"
        "  Begin self-consistency loop: Initialization.\n"
        f"  | Chemical potential (Fermi level):    {MU:.8f} eV\n"
        f"  Highest occupied state (VBM) at    {homo_eV:15.8f} eV (relative to internal zero)\n"
        f"  | Occupation number:    {homo_occ:15.8f}\n"
        f"  Lowest unoccupied state (CBM) at   {lumo_eV:15.8f} eV (relative to internal zero)\n"
        f"  | Occupation number:    {lumo_occ:15.8f}\n"
        "  Self-consistency cycle converged.\n          Have a nice day.\n"
    )


def test_water_alone_in_fhi_aims_is_judged_by_the_printed_occupied_and_empty_states(tmp_path):
    """FHI-aims' DoS has no occupations; aims.out's highest occupied / lowest unoccupied state
    decide for water alone. The same DoS files with states apart or overlapping give opposite
    verdicts, and the verdict says where it came from."""
    _water_alone(tmp_path / "apart", MU - 2.0, 2.0, MU + 2.0, 0.0)
    apart = water_gap(read_run(tmp_path / "apart")).row()
    assert not apart["metallized"] and "aims.out" in apart["verdict_basis"]
    assert (apart["water_homo_eV"], apart["water_lumo_eV"]) == pytest.approx((-2.0, 2.0))
    assert apart["reference_eV"] == pytest.approx(0.0)  # the scans start between the two states
    # a partly filled lowest unoccupied state (0.3 e) lying below the highest occupied one
    _water_alone(tmp_path / "overlap", MU + 0.1, 1.7, MU - 0.1, 0.3)
    overlap = water_gap(read_run(tmp_path / "overlap")).row()
    assert overlap["metallized"] and overlap["verdict_basis"].startswith("occupations")
    assert overlap["water_homo_eV"] >= overlap["water_lumo_eV"]


def test_a_metal_run_gets_z_bins_and_its_substrate_dos(tmp_path):
    """FHI-aims per-atom files with a metal: the selected water is binned by height (its two
    3 Å bins hold the waters at 9 and 10.5 Å, and at 12 Å), the metal's DoS is the sum of the Pt
    atoms' (8 × 0.5 states/eV, flat), and the Fig. 2a map has the substrate panel."""
    from dftpost.plot import draw_pdos_map

    write_run(tmp_path / "run", interface(h_up=True), vb=-3.0, cb=3.0, at_fermi=set(range(8)))
    result = water_gap(read_run(tmp_path / "run"))
    row = result.row()
    assert result.z_resolved_dos.shape[0] == 2 and row["z_resolved_note"] == ""
    z = interface(h_up=True).positions[:, 2]
    np.testing.assert_allclose(result.z_bin_centres_A, [z[11:17].mean(), z[17:20].mean()])
    inside = (result.energies_eV > -15) & (result.energies_eV < 0)
    np.testing.assert_allclose(result.substrate_dos[inside], 8 * 0.5, rtol=1e-6)
    fig = draw_pdos_map({**row, "run": str(tmp_path / "run"), "energies_eV": result.energies_eV,
                         "z_bin_edges_A": result.z_bin_edges_A, "z_bin_centres_A": result.z_bin_centres_A,
                         "z_resolved_dos": result.z_resolved_dos, "local_vbm_eV": result.local_vbm_eV,
                         "local_cbm_eV": result.local_cbm_eV, "water_dos": result.water_dos,
                         "substrate_dos": result.substrate_dos})
    assert any(a.get_xlabel().startswith("substrate") for a in fig.axes)


def test_fhi_aims_work_function_is_taken_from_its_printed_vacuum_levels(tmp_path):
    """With the dipole correction FHI-aims prints a vacuum level and a work function for each
    surface (work function = vacuum level − μ); the water lies above the metal, so the main
    value is the upper one and equals FHI-aims' own upper work function."""
    write_run(tmp_path / "run", interface(h_up=True), vb=-3.0, cb=3.0)
    upper, lower = 0.9, 0.3  # eV on FHI-aims' internal zero; μ = MU = −4.0
    (tmp_path / "run" / "aims.out").write_text(
        "          Invoking FHI-aims ...\n  FHI-aims version      : 210513\n"
        f"  | Number of atoms                   : {len(interface(True)):8d}\n"
        "  Begin self-consistency loop: Initialization.\n"
        f"  | Chemical potential (Fermi level):    {MU:.8f} eV\n"
        "  | Dipole correction gradient          :      0.01000000 eV/Angstrom\n"
        "  | Dipole correction potential jump    :     -0.30000000 eV\n"
        "  Self-consistency cycle converged.\n"
        f'  | Potential vacuum level, "upper" slab surface          :     {upper:.8f} eV\n'
        f'  | Potential vacuum level, "lower" slab surface          :     {lower:.8f} eV\n'
        f'  | Work function ("upper" slab surface)                  :     {upper - MU:.8f} eV\n'
        f'  | Work function ("lower" slab surface)                  :     {lower - MU:.8f} eV\n'
        "          Have a nice day.\n"
    )
    run = read_run(tmp_path / "run")
    assert run.dipole_correction is not None and run.dipole_correction.work_functions_eV[0] == pytest.approx(upper - MU)
    row = water_gap(run).row()
    assert row["vacuum_side"] == "upper"
    assert row["work_function_eV"] == pytest.approx(run.dipole_correction.work_functions_eV[0])
    assert row["vacuum_level_lower_eV"] == pytest.approx(run.dipole_correction.work_functions_eV[1])
    assert row["vbm_vs_vacuum_eV"] == pytest.approx(row["vbm_eV"] - row["work_function_eV"])
