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
from ase.io import write

from dftpost.analysis.bandedges import BandEdgeParameters, water_gap
from dftpost.io.rundir import read_run

from conftest import FIXTURES

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


def write_run(folder: Path, atoms: Atoms, vb: float, cb: float) -> None:
    """geometry.in, a minimal aims.out and one atom_proj_dos file per atom (energies vs μ)."""
    folder.mkdir()
    write(folder / "geometry.in", atoms, format="aims")
    (folder / "aims.out").write_text(
        "          Invoking FHI-aims ...\n  FHI-aims version      : 210513\n"
        + f"  | Number of atoms                   : {len(atoms):8d}\n"
        + f"  | Chemical potential (Fermi level):    {MU:.8f} eV\n"
        + "  Self-consistency cycle converged.\n          Have a nice day.\n"
    )
    for i, (symbol, z) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions[:, 2])):
        if symbol == "Pt" or z < 7.0:  # the metal, and water touching it: states at E_F
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
