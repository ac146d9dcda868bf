"""FHI-aims DoS files and aims.out, checked against what the same run printed in aims.out."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, ids, realdata_files

from dftpost.errors import DftpostError, MissingInputError, ParseError
from dftpost.io import aims

sys.path.insert(0, str(FIXTURES / "aims"))
import aims_format  # noqa: E402  (the fixture writer, checked below against real files)

DOS_FILES = [p for p in realdata_files("fhiaims/**/*.dat*") if aims.parse_dos_name(p)]
OUTS = realdata_files("fhiaims/**/*.out")


def _aims_out(path: Path) -> aims.AimsOutput:
    return aims.read_output(next(path.parent.glob("*.out")))


def test_every_real_dos_file_is_recognised_by_name(realdata):
    names = [p for p in realdata_files("fhiaims/**/*.dat*")]
    assert names and all(aims.parse_dos_name(p) for p in names)
    assert aims.parse_dos_name("atom_proj_dos_spin_upFe0001_raw.dat") == aims.AimsDosName(
        "atom", "Fe", 0, "up", True, False, False
    )
    assert aims.parse_dos_name("O_w_l_proj_dos_tetrahedron_spin_dn.dat.no_soc").species == "O_w"
    # a variant not seen in the real files, but of clear meaning
    assert aims.parse_dos_name("atom_proj_dos_raw_tetrahedron_spin-down_O0012.dat").atom_index == 11


@pytest.mark.parametrize("path", DOS_FILES, ids=ids(DOS_FILES))
def test_dos_header_mu_equals_aims_out(path):
    """μ in each shifted DoS file equals what aims.out printed before writing that file."""
    out = _aims_out(path)
    name = aims.parse_dos_name(path)
    mu = out.dos_fermi_levels_eV.get(path.name)
    dos = aims.read_dos(path, fermi_level_eV=mu if mu is not None else out.fermi_level_eV)
    if mu is not None:
        assert dos.fermi_level_eV == pytest.approx(mu, abs=1e-6)
    else:  # files aims.out does not list (151211 totals): the SCF or SOC chemical potential
        candidates = [out.fermi_level_eV, out.fermi_level_soc_eV]
        assert min(abs(dos.fermi_level_eV - c) for c in candidates if c is not None) < 0.3
    assert dos.values.shape[0] in (1, 2) and np.isfinite(dos.values).all()
    if name.what != "total":
        # the 'total dos' column is the sum of the l columns to the printed precision
        np.testing.assert_allclose(dos.orbital_values[0, 0].sum(axis=0), dos.values[0, 0], atol=2e-7 * 6)


RAW_PAIRS = [p for p in DOS_FILES if aims.parse_dos_name(p).raw]


@pytest.mark.parametrize("raw", RAW_PAIRS, ids=ids(RAW_PAIRS))
def test_raw_files_are_the_shifted_files_moved_by_mu(raw):
    shifted_name = raw.name.replace("_raw", "")
    shifted = raw.parent / shifted_name
    if not shifted.exists():
        pytest.skip(f"no shifted twin {shifted_name}")
    a = aims.read_dos(shifted)
    b = aims.read_dos(raw, fermi_level_eV=a.fermi_level_eV)
    np.testing.assert_allclose(b.energies_eV, a.energies_eV, atol=2e-6)
    np.testing.assert_allclose(b.values, a.values, atol=1e-12)


def test_atom_files_add_up_to_the_species_file(realdata):
    folder = realdata / "fhiaims/aimstools/Si_closed_shell_soc"
    atoms = aims.read_dos_files([folder / "atom_proj_dos_Si0001.dat", folder / "atom_proj_dos_Si0002.dat"])
    species = aims.read_dos(folder / "Si_l_proj_dos.dat")
    assert atoms.labels == ("Si0001", "Si0002")
    assert [p.atom_indices for p in atoms.projections] == [(0,), (1,)]
    np.testing.assert_allclose(atoms.values.sum(axis=1), species.values[:, 0], atol=3e-8)


def test_spin_files_become_two_channels(realdata):
    folder = realdata / "fhiaims/nomad_electronic_parsers/Fe_band_spinpol"
    dos = aims.read_dos_files(sorted(folder.glob("atom_proj_dos_spin_*Fe0001.dat")))
    assert dos.n_spin == 2 and dos.labels == ("Fe0001",)
    up = aims.read_dos(folder / "atom_proj_dos_spin_upFe0001.dat")
    np.testing.assert_array_equal(dos.values[0], up.values[0])
    total = aims.read_dos(folder / "KS_DOS_total.dat")
    assert total.n_spin == 2  # DOS(spin up), DOS(spin down) columns


@pytest.mark.parametrize("path", OUTS, ids=ids(OUTS))
def test_aims_out_facts(path):
    out = aims.read_output(path)
    assert out.finished and out.scf_converged
    assert out.program_version in ("151211", "201103", "210513")
    geometry = path.parent / "geometry.in"
    if geometry.exists():
        n_atoms = sum(1 for line in geometry.read_text().splitlines() if line.split()[:1] in (["atom"], ["atom_frac"]))
        assert out.n_atoms == n_atoms
        field_lines = [line.split()[1:4] for line in geometry.read_text().splitlines() if line.startswith("homogeneous_field")]
        if field_lines:
            np.testing.assert_allclose(out.homogeneous_field_V_per_A, [float(x) for x in field_lines[0]])
        else:
            assert out.homogeneous_field_V_per_A is None


def test_soc_and_scalar_chemical_potentials(realdata):
    out = aims.read_output(realdata / "fhiaims/aimstools/Si_closed_shell_soc/aims.out")
    assert out.fermi_level_eV == pytest.approx(-5.58219687)
    assert out.fermi_level_soc_eV == pytest.approx(-5.0198861)
    assert out.dos_fermi_levels_eV["atom_proj_dos_Si0001.dat.no_soc"] == pytest.approx(-5.582197)
    assert out.dos_fermi_levels_eV["atom_proj_dos_Si0001.dat"] == pytest.approx(-5.019886)


# ----------------------------------------------------------------------- the fixture writer
@pytest.mark.parametrize(
    "path", [p for p in DOS_FILES if aims.parse_dos_name(p).what != "total" and "aimstools" in str(p)],
    ids=ids([p for p in DOS_FILES if aims.parse_dos_name(p).what != "total" and "aimstools" in str(p)]),
)
def test_fixture_writer_reproduces_real_dos_files(path):
    text = path.read_text()
    name = aims.parse_dos_name(path)
    out = _aims_out(path)
    dos = aims.read_dos(path, out.dos_fermi_levels_eV.get(path.name, out.fermi_level_eV))
    energies = dos.energies_eV + (dos.fermi_level_eV if name.raw else 0.0)
    written = aims_format.dos_text(
        energies,
        dos.orbital_values[0, 0],
        name.species,
        None if name.raw else dos.fermi_level_eV,
        uuid=text.split("aims_uuid :")[1].split()[0],
        spin={"up": "spin_up", "dn": "spin_dn", None: None}[name.spin],
        total=dos.values[0, 0],
    )
    assert written == text


def test_fixture_writer_reproduces_a_real_aims_out_value_line(realdata):
    text = (realdata / "fhiaims/aimstools/MoS2_homogeneous_field/aims.out").read_text()
    assert aims_format.value_line("Chemical Potential", -0.98436721, "eV") in text.splitlines()


def test_dipole_correction_and_work_function_lines(tmp_path, realdata):
    """No public aims.out with a dipole correction exists; insert the lines FHI-aims writes
    (formats from its source, written by the checked fixture writer) into a real aims.out."""
    text = (realdata / "fhiaims/aimstools/MoS2_homogeneous_field/aims.out").read_text()
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "Self-consistency cycle converged" in line)
    scf = [
        aims_format.value_line("Dipole correction gradient", -0.01234567, "eV/Angstrom"),
        aims_format.value_line("Dipole correction potential jump", 1.23456789, "eV"),
    ]
    post = [
        aims_format.value_line('Potential vacuum level, "upper" slab surface', 4.5, "eV"),
        aims_format.value_line('Potential vacuum level, "lower" slab surface', 3.25, "eV"),
        aims_format.value_line('Work function ("upper" slab surface)', 5.48436721, "eV"),
        aims_format.value_line('Work function ("lower" slab surface)', 4.23436721, "eV"),
    ]
    path = tmp_path / "aims.out"
    path.write_text("\n".join(lines[:at] + ["  Using dipole correction."] + scf + lines[at:at + 5] + post + lines[at + 5 :]))
    out = aims.read_output(path)
    assert out.dipole_correction
    assert out.dipole_correction_gradient_eV_per_A == pytest.approx(-0.01234567)
    assert out.dipole_correction_jump_eV == pytest.approx(1.23456789)
    assert out.vacuum_levels_eV == (4.5, 3.25)
    assert out.work_functions_eV == (pytest.approx(5.48436721), pytest.approx(4.23436721))
    # work function = vacuum level - mu, as FHI-aims defines it
    assert out.work_functions_eV[0] == pytest.approx(out.vacuum_levels_eV[0] - out.fermi_level_eV)


# ---------------------------------------------------------------------------- damaged files
def test_damaged_dos_files(tmp_path, realdata):
    src = (realdata / "fhiaims/aimstools/Si_closed_shell_soc/atom_proj_dos_Si0001.dat").read_text()
    cases = {
        "header-only": ("\n".join(src.splitlines()[:4]) + "\n", "no data lines"),
        "truncated": (src[: src.index("\n", len(src) // 2) + 30], "columns"),
        "nan": (src.replace("0.31077467", "nan", 1), "NaN"),
        "word": (src.replace("0.31077467", "zero", 1), "not numeric"),
        "no-columns": ("\n".join(src.splitlines()[:3] + src.splitlines()[4:]), "column header"),
    }
    for case, (text, message) in cases.items():
        path = tmp_path / case / "atom_proj_dos_Si0001.dat"
        path.parent.mkdir()
        path.write_text(text)
        with pytest.raises(ParseError, match=message) as info:
            aims.read_dos(path)
        assert str(path) in str(info.value), case
    raw = tmp_path / "atom_proj_dos_Si0001_raw.dat"
    raw.write_text((realdata / "fhiaims/aimstools/Si_closed_shell_soc/atom_proj_dos_Si0001_raw.dat").read_text())
    with pytest.raises(MissingInputError, match="Fermi level from aims.out"):
        aims.read_dos(raw)
    cp2k_file = realdata / "cp2k/water8_slab_field/run_a_nofield/water_slab.out"
    with pytest.raises(ParseError, match="not an FHI-aims output"):
        aims.read_output(cp2k_file)
    garbage = tmp_path / "atom_proj_dos_O0001.dat"
    garbage.write_bytes(b"\x00\x01binary" * 50)
    with pytest.raises(DftpostError, match="binary"):
        aims.read_dos(garbage)


def test_unfinished_aims_out(tmp_path, realdata):
    text = (realdata / "fhiaims/aimstools/hBN_mlk_no_soc/aims.out").read_text()
    path = tmp_path / "aims.out"
    path.write_text(text[: len(text) // 3])
    out = aims.read_output(path)
    assert not out.finished and not out.scf_converged
    assert out.fermi_level_eV is not None  # the last SCF step that was written


def test_dipole_correction_from_the_dipole_method(tmp_path, realdata):
    """dipole_correction_method dipole (hartree_potential_recip.f90,
    evaluate_dipole_correction_from_dipole): FHI-aims prints the cell's dipole μ (ions minus
    electrons, output_periodic_dipole_moment.f90: '(2X,A,1X,1E30.15,A)', e·Å), then the
    gradient 2·dip_grad and jump 2·pot_jump with pot_jump = −μ/A·2π, dip_grad = −pot_jump/L
    (atomic units). Written so into a real aims.out: dftpost reads μ, and μ = ε0 Ω g, jump = −L g."""
    from dftpost.io import rundir
    from dftpost.units import BOHR_A, EPSILON0_E_PER_V_A, HARTREE_EV

    src = realdata / "fhiaims/aimstools/MoS2_homogeneous_field"
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "geometry.in").write_text((src / "geometry.in").read_text())
    cell = aims.read_geometry(folder / "geometry.in").cell
    area_bohr2 = abs(np.cross(cell[0], cell[1])[2]) / BOHR_A**2
    length_bohr = abs(cell[2][2]) / BOHR_A
    dipole_e_A = -0.0345678901234567
    pot_jump = -(dipole_e_A / BOHR_A) / area_bohr2 * 2 * np.pi
    dip_grad = -pot_jump / length_bohr
    lines = (src / "aims.out").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "Self-consistency cycle converged" in line)
    block = [
        "  | Total dipole moment in z-direction [eAng]          :" + " " + aims_format.fortran_e(dipole_e_A, 30, 15),
        aims_format.value_line("Dipole correction gradient", 2 * dip_grad * HARTREE_EV / BOHR_A, "eV/Angstrom"),
        aims_format.value_line("Dipole correction potential jump", 2 * pot_jump * HARTREE_EV, "eV"),
    ]
    (folder / "aims.out").write_text("\n".join(lines[:at] + block + lines[at:]) + "\n")
    out = aims.read_output(folder / "aims.out")
    assert out.dipole_z_e_A == pytest.approx(dipole_e_A, rel=1e-14)
    volume = abs(np.linalg.det(cell))
    assert EPSILON0_E_PER_V_A * volume * out.dipole_correction_gradient_eV_per_A == pytest.approx(dipole_e_A, rel=1e-5)
    assert out.dipole_correction_jump_eV == pytest.approx(-abs(cell[2][2]) * out.dipole_correction_gradient_eV_per_A, rel=1e-6)
    run = rundir.read_run(folder)
    assert run.dipole_correction.dipole_e_A == pytest.approx(dipole_e_A)


def test_inspect_every_dos_name_variant(tmp_path, realdata):
    """`dftpost inspect` on one DoS file of each name FHI-aims writes (atom_projected_dos_ is the
    Löwdin/newer spelling, output_lowdin.f90), a _raw one taking μ from the aims.out beside it."""
    from dftpost.io import describe

    src = realdata / "fhiaims/aimstools/Si_closed_shell_soc"
    out = aims.read_output(src / "aims.out")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "aims.out").write_text((src / "aims.out").read_text())
    names = {
        "atom_proj_dos_Si0001.dat": "atom_proj_dos_Si0001.dat",
        "atom_projected_dos_Si0001.dat": "atom_proj_dos_Si0001.dat",
        "atom_proj_dos_tetrahedron_Si0001_raw.dat": "atom_proj_dos_tetrahedron_Si0001_raw.dat",
        "Si_l_proj_dos.dat.no_soc": "Si_l_proj_dos.dat.no_soc",
        "KS_DOS_total_tetrahedron.dat": "KS_DOS_total_tetrahedron.dat",
    }
    for name, original in names.items():
        (folder / name).write_text((src / original).read_text())
        described = describe.describe_file(folder / name)
        assert described["format"] == "fhi-aims-dos", name
        header = re.search(r"mu =\s*(\S+)", (src / original).read_text())
        # a shifted file: the μ of its header (the spin-orbit tetrahedron files have their own,
        # -4.830862 eV, printed nowhere in aims.out); a _raw one: aims.out's μ of the SOC run
        mu = float(header.group(1)) if header else out.dos_fermi_levels_eV.get(original, out.fermi_level_soc_eV)
        assert described["fermi_level_eV"] == pytest.approx(mu, abs=1e-6), name


def test_one_spin_channel_is_an_error(tmp_path, realdata):
    """FHI-aims writes both spin channels; spin_up files alone name the missing spin_dn."""
    from dftpost.io import rundir

    src = realdata / "fhiaims/aimstools/Fe_open_shell_no_soc"
    folder = tmp_path / "run"
    folder.mkdir()
    for p in src.iterdir():
        if "spin_dn" not in p.name:
            (folder / p.name).write_bytes(p.read_bytes())
    with pytest.raises(MissingInputError, match="spin_dn") as info:
        rundir.read_run(folder)
    assert str(folder) in str(info.value)
