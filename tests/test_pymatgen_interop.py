"""pymatgen interop: ``ProjectedDos.to_pymatgen`` and ``Grid.to_pymatgen`` against pymatgen's own
readers of the same real CP2K files, pymatgen's band-edge search against dftpost's, DosPlotter on
the result; and pymatgen stays out of ``import dftpost`` and the command line."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("pymatgen")

from conftest import CP2K_FIXTURE  # noqa: E402
from pymatgen.core.units import Ha_to_eV, bohr_to_angstrom  # noqa: E402
from pymatgen.electronic_structure.core import Spin  # noqa: E402
from pymatgen.electronic_structure.dos import Dos  # noqa: E402
from pymatgen.electronic_structure.plotter import DosPlotter  # noqa: E402
from pymatgen.io.common import VolumetricData  # noqa: E402
from pymatgen.io.cp2k.outputs import parse_pdos  # noqa: E402
from scipy.stats import norm  # noqa: E402

import dftpost  # noqa: E402
from dftpost.dos import ProjectedDos, Projection  # noqa: E402
from dftpost.io.cube import write_cube  # noqa: E402

RUN = CP2K_FIXTURE / "nofield"
SIGMA_EV = 0.1


@pytest.fixture(scope="module")
def run():
    return dftpost.read_run(RUN)


@pytest.fixture(scope="module")
def converted(run) -> dict[str, Dos]:
    return run.pdos.to_pymatgen(sigma_eV=SIGMA_EV)


# ----------------------------------------------------------------------------- projected DoS
@pytest.mark.parametrize("label, name", [("O", "water4-k1-1.pdos"), ("H", "water4-k2-1.pdos"), ("list3", "water4-list3-1.pdos")])
def test_dos_matches_pymatgens_cp2k_reader_after_the_same_broadening(run, converted, label, name):
    pymatgen_pdos, total = parse_pdos(str(RUN / name), total=True)
    assert list(pymatgen_pdos) == [label.removeprefix("list")]
    # parse_pdos inserts two empty points in the gap (for its own band-edge search): drop them
    real = total.get_densities(Spin.up) != 0
    eigenvalues, weights = total.energies[real], total.get_densities(Spin.up)[real]
    assert eigenvalues.size == run.pdos.eigenvalues_eV.shape[1] == 92  # every state has weight on some orbital here
    # absolute energies (eV on CP2K's zero), as pymatgen gives them
    np.testing.assert_allclose(eigenvalues, run.pdos.eigenvalues_eV[0] + run.pdos.fermi_level_eV, rtol=1e-7)
    dos = converted[label]
    assert isinstance(dos, Dos) and list(dos.densities) == [Spin.up]
    step = np.diff(dos.energies)
    assert np.allclose(step, 0.02) and dos.energies[0] == pytest.approx(eigenvalues.min() - 5 * SIGMA_EV, abs=1e-6)
    # the same Gaussians (scipy's normal density) over pymatgen's weights; parse_pdos counts one
    # state per orbital, pymatgen's DoS of a closed-shell run (as VASP's) two: the file's
    # occupation of a full state
    capacity = np.loadtxt(RUN / name)[:, 2].max()
    assert capacity == 2.0
    broadened = capacity * (weights[:, None] * norm.pdf(dos.energies[None, :], eigenvalues[:, None], SIGMA_EV)).sum(axis=0)
    # (to 1e-4 of the peak: the two Hartree-to-eV constants, CODATA 2014 and 2018, move states by µeV)
    np.testing.assert_allclose(dos.get_densities(Spin.up), broadened, rtol=1e-4, atol=1e-4 * broadened.max())
    # ∫ DoS dE = electrons the projection can hold over all states
    assert np.trapezoid(dos.get_densities(), dos.energies) == pytest.approx(capacity * weights.sum(), rel=1e-6)


def test_fermi_level_is_mid_gap_for_pymatgens_band_edge_search(run, converted):
    pymatgen_efermi = parse_pdos(str(RUN / "water4-k1-1.pdos"), total=True)[1].efermi
    table = np.loadtxt(RUN / "water4-k1-1.pdos")
    energies_eV, occupation = table[:, 1] * Ha_to_eV, table[:, 2]
    homo, lumo = energies_eV[occupation > 0].max(), energies_eV[occupation == 0].min()
    # pymatgen's reader puts efermi 1 µeV above the highest occupied state; CP2K prints E_F there too
    assert pymatgen_efermi == pytest.approx(homo + 1e-6, abs=1e-9)
    assert run.pdos.fermi_level_eV == pytest.approx(homo, abs=1e-5)
    # in the broadened DoS that level lies inside the top band: efermi moves to the middle of the gap
    for dos in converted.values():
        assert dos.efermi == pytest.approx(0.5 * (homo + lumo), abs=1e-5)
    assert lumo - homo == pytest.approx(6.665, abs=1e-3)


def test_pymatgen_band_edges_of_the_water_dos_agree_with_dftpost(run, converted):
    """pymatgen's threshold search on the converted water DoS (list1 holds every water atom)
    against dftpost's own band edges of the same run: with the same threshold they agree to one
    grid point (0.02 eV); with pymatgen's default tolerance its edges lie in the Gaussian tails,
    within 5σ of the highest occupied and the lowest empty state."""
    gap = dftpost.water_gap(run)
    water = converted["list1"]
    assert gap.parameters.sigma_eV == SIGMA_EV and gap.n_water_atoms == 12
    e_f = run.fermi_level_eV
    cbm, vbm = water.get_cbm_vbm(tol=gap.edges.threshold_states_per_eV, abs_tol=True)
    assert vbm == pytest.approx(gap.edges.vbm_eV + e_f, abs=0.02)
    assert cbm == pytest.approx(gap.edges.cbm_eV + e_f, abs=0.02)
    cbm, vbm = water.get_cbm_vbm()
    homo, lumo = gap.levels.highest_occupied_eV + e_f, gap.levels.lowest_unoccupied_eV + e_f
    assert homo < vbm < homo + 5 * SIGMA_EV and lumo - 5 * SIGMA_EV < cbm < lumo
    # the sum of the O and H kinds is the same water
    np.testing.assert_allclose((converted["O"] + converted["H"]).get_densities(), water.get_densities(), rtol=1e-6, atol=1e-9)


def test_dos_plotter_draws_the_converted_dos(converted, tmp_path):
    plotter = DosPlotter(sigma=None)
    plotter.add_dos_dict({k: converted[k] for k in ("O", "H")})
    ax = plotter.get_plot(xlim=(-10, 10))
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert {"O", "H"} <= set(lines)
    # DosPlotter puts the zero at efermi: the O line is the O DoS against E − efermi
    o_line = lines["O"]
    np.testing.assert_allclose(o_line.get_xdata(), converted["O"].energies - converted["O"].efermi)
    np.testing.assert_allclose(o_line.get_ydata(), converted["O"].get_densities(Spin.up))
    ax.figure.savefig(tmp_path / "dos.png")
    assert (tmp_path / "dos.png").read_bytes().startswith(b"\x89PNG") and (tmp_path / "dos.png").stat().st_size > 10_000


def test_two_spin_channels_and_a_dos_on_a_grid():
    """A DoS already on a grid (FHI-aims' form) is not broadened again; two channels are Spin.up and Spin.down."""
    energies = np.linspace(-3.0, 3.0, 61)
    values = np.stack([np.exp(-(energies - 1) ** 2), 2 * np.exp(-(energies + 1) ** 2)])[:, None, :]
    dos = ProjectedDos(-4.2, (Projection("Fe", "species"),), values, energies_eV=energies).to_pymatgen(sigma_eV=5.0)["Fe"]
    assert dos.efermi == -4.2
    np.testing.assert_array_equal(dos.energies, energies - 4.2)
    np.testing.assert_array_equal(dos.densities[Spin.up], values[0, 0])
    np.testing.assert_array_equal(dos.densities[Spin.down], values[1, 0])
    with pytest.raises(dftpost.DftpostError, match="share a label"):
        ProjectedDos(0.0, (Projection("O", "atom"),) * 2, np.zeros((1, 2, 3)), energies_eV=np.arange(3.0)).to_pymatgen()


# ----------------------------------------------------------------------------- volumetric data
@pytest.mark.parametrize("name, factor", [
    ("water4-ELECTRON_DENSITY-1_0.cube", bohr_to_angstrom**-3),  # e/Bohr³ → e/Å³
    ("water4-v_hartree-1_0.cube", -Ha_to_eV),  # the electron's energy (Hartree) → φ in V
])
def test_grid_matches_pymatgens_cube_reader(name, factor):
    grid = dftpost.read_cube(RUN / name)
    ours, theirs = grid.to_pymatgen(), VolumetricData.from_cube(RUN / name)
    assert isinstance(ours, VolumetricData) and list(ours.data) == list(theirs.data) == ["total"]
    assert ours.dim == theirs.dim == (32, 32, 96)
    # no scaling by the volume (a cube's values are per volume), dftpost's units
    np.testing.assert_allclose(ours.data["total"], theirs.data["total"] * factor, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ours.structure.lattice.matrix, theirs.structure.lattice.matrix, atol=1e-6)
    assert ours.structure.lattice.abc == pytest.approx((6.0, 6.0, 18.0), abs=1e-4)
    assert [s.symbol for s in ours.structure.species] == [s.symbol for s in theirs.structure.species] == ["O", "H", "H"] * 4
    np.testing.assert_allclose(ours.structure.cart_coords, theirs.structure.cart_coords, atol=1e-6)


def test_grid_origin_becomes_the_lattice_origin(tmp_path):
    """pymatgen puts grid point (0, 0, 0) at the lattice origin: the atoms move by −origin, as
    ``from_cube`` moves them, so atoms and values stay where they were relative to each other."""
    grid = dftpost.read_cube(RUN / "water4-ELECTRON_DENSITY-1_0.cube")
    shifted = replace(grid, origin_A=np.array([1.5, -0.75, 2.25]))
    write_cube(tmp_path / "shifted.cube", shifted)
    ours, theirs = shifted.to_pymatgen(), VolumetricData.from_cube(tmp_path / "shifted.cube")
    np.testing.assert_allclose(ours.structure.cart_coords, grid.atoms.positions - [1.5, -0.75, 2.25], atol=1e-12)
    np.testing.assert_allclose(ours.structure.cart_coords, theirs.structure.cart_coords, atol=1e-5)


# ----------------------------------------------------------------------------- optional import
def test_pymatgen_is_not_imported_by_dftpost_or_its_command_line(tmp_path):
    probe = (
        "import sys, dftpost\n"
        "dftpost.ProjectedDos, dftpost.Grid\n"
        "from dftpost.cli.main import app\n"
        "sys.argv = ['dftpost', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] == 'pymatgen'))\n"
    )
    # run away from the checkout, whose dftpost/ would shadow the installed package and its cli
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "Usage" in done.stdout and done.stdout.strip().endswith("LOADED []")
