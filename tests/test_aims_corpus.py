"""FHI-aims runs of many versions and kinds, each checked against numbers the same run printed.

The runs come from public repositories (``tests/data/real/PROVENANCE.md``). Those whose licence
allows it are committed under ``tests/data/real/fhiaims``; the others (FHI-aims' own regression
references) are read from ``$DFTPOST_CORPUS`` (default ``../shared/corpus``) and skipped when
absent. The references are found here by plain text scans of the file, independent of
:mod:`dftpost.io.aims`: the last chemical potential before the last "Self-consistency cycle
converged", FHI-aims' own "HOMO-LUMO gap" and "fractional occupation numbers" lines, the DoS
headers' μ, the atom lines of geometry.in and of aims.out's final structure.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, CorpusCase

from dftpost.errors import DftpostError, MissingInputError
from dftpost.io import aims, describe, rundir

sys.path.insert(0, str(FIXTURES / "aims"))
import aims_format  # noqa: E402  (the fixture writer of FHI-aims formats)


def Case(log: str, version: str, kind: str, committed: bool = False) -> CorpusCase:  # noqa: N802
    return CorpusCase("fhiaims", log, version, kind, committed)


CASES = [
    Case("si_171221/aims_CC.out", "171221_1", "k-points, DoS, units glued to numbers", True),
    Case("si_071914/aims_CC.out", "071914_7", "k-points, DoS", True),
    Case("si_relaxation_151211/out.out", "151211", "relaxation", True),
    Case("h2o_md_151211/H2O_periodic_MD.out", "151211", "MD", True),
    Case("fe_spin_metal_151211/out.out", "151211", "spin, metal", True),
    Case("ceo2_dftu_210226/aims_CC.out", "210226", "DFT+U", True),
    Case("gaas_hse06_soc_210413/aims.out", "210413", "hybrid, SOC", True),
    Case("he_gw_090214/He_scGW_ontop_PBE.out", "090214", "GW, molecule", True),
    Case("dielectric_221103/aims.out", "221103", "k-points, DFPT dielectric", True),
    Case("md_sample_221103/aims.out", "221103", "metal, supercell", True),
    Case("electronic_parsers/CHN_gw/output.out", "180607", "GW, molecule"),
    Case("electronic_parsers/Si_pbe_vs_gw_bands/aims.out", "210716.2", "GW, k-points"),
    Case("fhiaims_regression/Al_mp_broadening/aims.out", "190813", "metal"),
    Case("fhiaims_regression/fcc_Cu/aims.out", "190813", "metal"),
    Case("fhiaims_regression/Au_periodic_relaxation/aims.out", "190813", "relaxation, metal"),
    Case("fhiaims_regression/H2O.pbe.relaxation/aims.out", "190813", "relaxation, molecule"),
    Case("fhiaims_regression/Si.pw-lda.cell_relaxation/aims.out", "190813", "cell relaxation"),
    Case("fhiaims_regression/periodic_relaxation_hse/aims.out", "190813", "relaxation, hybrid"),
    Case("fhiaims_regression/NO.pbe.spin.relax/aims.out", "190813", "relaxation, spin"),
    Case("fhiaims_regression/H5O2.MD.nose-hoover/aims.out", "190813", "MD"),
    Case("fhiaims_regression/NH3.MD.NVE/aims.out", "190813", "MD"),
    Case("fhiaims_regression/H2_fsm_2/aims.out", "190813", "constrained spins"),
    Case("fhiaims_regression/NaCl_spin_constrained.pbe/aims.out", "190813", "constrained spins"),
    Case("fhiaims_regression/O-Pd5.pw-lda.fsm_4/aims.out", "190813", "fixed spin moment, DoS"),
    Case("fhiaims_regression/MgS_pDOS/aims.out", "190824", "SOC, DoS"),
    Case("fhiaims_regression/MgS_pDOS_Gamma/aims.out", "190824", "SOC, DoS"),
    Case("fhiaims_regression/GaAs_SOC/aims.out", "190813", "SOC, DoS"),
    Case("fhiaims_regression/ScN.plus_u/aims.out", "190813", "DFT+U"),
    Case("fhiaims_regression/ScN.plus_u/ScN.122110.scalapack.mpi.out", "122110", "DFT+U"),
    Case("soc_hamiltonian_parsing/MoS2_unitcell_soc_intermediate/aims.out", "260530", "SOC, DoS"),
    Case("soc_hamiltonian_parsing/graphene_monolayer_unitcell_soc_intermediate/aims.out", "260530", "SOC, DoS"),
    Case("soc_hamiltonian_parsing/MoS2_unitcell_relaxation_light/aims.out", "260530", "relaxation"),
    Case("soc_hamiltonian_parsing/graphene_monolayer_unitcell_relaxation_light/aims.out", "260530", "unfinished"),
    Case("fhiaims_regression/V3+_pbe0_spin/aims.out", "190813", "hybrid, spin, SCF not converged"),
]


def _case(log_part: str) -> Case:
    """The case whose log path contains ``log_part``."""
    (case,) = [c for c in CASES if log_part in c.log]
    return case


def _present(case: Case) -> Path:
    if not case.path.is_file():
        pytest.skip(f"{case.path} is absent (licence: not committed; see tests/data/real/PROVENANCE.md)")
    return case.path


PARAMS = [pytest.param(c, id=c.log) for c in CASES]
_NUMBER = r"([-+]?(?:\d+\.\d*|\.\d+)(?:[EeDd][-+]?\d+)?)"


def _last_cycle(text: str) -> str:
    """The text of the last SCF cycle up to its convergence (the whole tail when none converged)."""
    end = text.rfind("Self-consistency cycle converged")
    end = len(text) if end < 0 else end
    start = text.rfind("Begin self-consistency loop", 0, end)
    return text[max(start, 0) : end]


def _printed_mu(cycle: str) -> float | None:
    """The chemical potential of the cycle's end: its final summary ('| Chemical Potential :',
    newer versions print only the first iteration's otherwise), else the overall level of
    constrained spins, else the last per-iteration value."""
    final = re.findall(r"\| Chemical Potential\s*:\s*" + _NUMBER, cycle)
    if final:
        return float(final[-1])
    overall = re.findall(r"Overall Fermi level:\s*\n.*Ha\s+" + _NUMBER, cycle)
    if overall:
        return float(overall[-1])
    values = re.findall(r"Chemical potential \(Fermi level\)(?: in eV)?\s*:\s*" + _NUMBER, cycle)
    return float(values[-1].replace("D", "E")) if values else None


@pytest.mark.parametrize("case", PARAMS)
def test_version_atoms_and_cycles(case):
    path = _present(case)
    text = path.read_text()
    out = aims.read_output(path)
    assert out.program_version == case.version
    assert out.finished == ("Have a nice day" in text)
    assert out.n_scf_cycles == text.count("Begin self-consistency loop")
    assert len(out.scf_fermi_levels_eV) == text.count("Self-consistency cycle converged")
    geometry = path.parent / "geometry.in"
    if geometry.exists() and "relax" not in case.kind and "| Number of atoms" in text:
        lines = [line.split() for line in geometry.read_text().splitlines()]
        assert out.n_atoms == sum(1 for w in lines if w[:1] in (["atom"], ["atom_frac"]))


@pytest.mark.parametrize("case", PARAMS)
def test_fermi_level_of_the_last_converged_cycle(case):
    """Relaxations and MD: the μ of the last converged cycle (printed there), not the first."""
    path = _present(case)
    text = path.read_text()
    out = aims.read_output(path)
    if "fixed spin moment" in case.kind:
        pytest.skip("checked against the DoS header below")
    expected = _printed_mu(_last_cycle(text))
    if expected is None:  # MD with output_level MD_light prints μ for the first geometry only
        assert out.fermi_level_eV is None
        assert any("no chemical potential" in w for w in out.warnings)
        if out.scf_converged:
            first = _printed_mu(text[: text.find("Self-consistency cycle converged")])
            assert out.scf_fermi_levels_eV[0] == pytest.approx(first)
    else:
        assert out.fermi_level_eV == pytest.approx(expected, abs=1e-6)
    if text.count("Self-consistency cycle converged") > 1:
        first = _printed_mu(text[: text.find("Self-consistency cycle converged")])
        assert out.scf_fermi_levels_eV[0] == pytest.approx(first, abs=1e-6)


@pytest.mark.parametrize("case", PARAMS)
def test_homo_lumo_and_fractional_occupations(case):
    """FHI-aims' own verdict: the gap it printed for the last cycle, or its words that the
    occupations are fractional (printed since about 2017), then no gap."""
    path = _present(case)
    cycle = _last_cycle(path.read_text())
    out = aims.read_output(path)
    gaps = re.findall(r"HOMO-LUMO gap:\s*" + _NUMBER, cycle)
    if not gaps:
        pytest.skip("the last cycle prints no HOMO-LUMO gap")
    fractional_words = "has fractional occupation numbers" in cycle.rsplit("HOMO-LUMO gap:", 1)[1]
    if fractional_words:
        assert out.fractional_occupations is True
    if out.fractional_occupations:
        assert out.homo_lumo_gap_eV is None
        assert any("fractional occupations" in w for w in out.warnings)
    else:
        assert out.homo_lumo_gap_eV == pytest.approx(float(gaps[-1]), abs=2e-8)


def test_units_glued_to_numbers_171221():
    """171221 prints '| Chemical potential (Fermi level):    -5.73085442eV' (no blank)."""
    case = _case("si_171221")
    path = _present(case)
    assert re.search(r"Chemical potential \(Fermi level\):\s+-5\.73085442eV", path.read_text())
    out = aims.read_output(path)
    assert out.fermi_level_eV == pytest.approx(-5.73085442)
    dos = aims.read_dos(path.parent / "KS_DOS_total.dat", program_version=out.program_version)
    assert dos.fermi_level_eV == pytest.approx(out.fermi_level_eV, abs=1e-6)  # header: mu = -5.730854 eV


@pytest.mark.parametrize("case", [p for p in PARAMS if "DoS" in p.values[0].kind])
def test_dos_header_mu_is_the_aims_out_mu(case):
    """Every shifted DoS file's μ equals what aims.out printed before writing it, and the run's
    Fermi level (the scalar one, or the spin–orbit one for the SOC set) is that μ."""
    path = _present(case)
    out = aims.read_output(path)
    names = [p for p in sorted(path.parent.iterdir()) if (n := aims.parse_dos_name(p)) is not None and not n.raw]
    assert names
    for p in names:
        dos = aims.read_dos(p, program_version=out.program_version)
        if p.name in out.dos_fermi_levels_eV:
            assert dos.fermi_level_eV == pytest.approx(out.dos_fermi_levels_eV[p.name], abs=1e-6), p.name
        level = out.fermi_level_eV if aims.parse_dos_name(p).no_soc or out.fermi_level_soc_eV is None else out.fermi_level_soc_eV
        if "SOC" not in case.kind:
            assert dos.fermi_level_eV == pytest.approx(level, abs=1e-6), p.name


def test_fixed_spin_moment_fermi_levels():
    """Fixed spin moment: FHI-aims prints μ per channel; the overall μ it forms from them
    (advance_KS_solution.f90) is the μ of the DoS headers."""
    path = _present(_case("fsm_4"))
    text = path.read_text()
    out = aims.read_output(path)
    up = float(re.findall(r"Chemical potential, spin up:\s*" + _NUMBER, text)[-1])
    dn = float(re.findall(r"Chemical potential, spin dn:\s*" + _NUMBER, text)[-1])
    assert out.fermi_levels_spin_eV == (pytest.approx(up), pytest.approx(dn))
    header = aims.read_dos(path.parent / "atom_proj_dos_spin_upO0006.dat").fermi_level_eV
    assert out.fermi_level_eV == pytest.approx(header, abs=2e-6)
    run = rundir.read_run(path.parent)
    assert run.fermi_level_eV == pytest.approx(header) and run.pdos.n_spin == 2


@pytest.mark.parametrize("case", [p for p in PARAMS if "constrained" in p.values[0].kind])
def test_constrained_spins_overall_fermi_level(case):
    path = _present(case)
    overall = re.findall(r"Overall Fermi level:\s*\n.*Ha\s+" + _NUMBER, _last_cycle(path.read_text()))
    assert aims.read_output(path).fermi_level_eV == pytest.approx(float(overall[-1]))


def _final_structure(text: str) -> tuple[list[str], np.ndarray]:
    """Species and positions (Å) of the last structure block aims.out prints."""
    at = max(text.rfind("Final atomic structure"), text.rfind("Updated atomic structure"), text.rfind("Atomic structure (and"))
    block = text[at:].split("\n\n", 2)[:2]
    atoms = re.findall(r"^\s*atom\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", "\n".join(block), re.M)
    return [a[3] for a in atoms], np.array([[float(x) for x in a[:3]] for a in atoms])


@pytest.mark.parametrize("case", [p for p in PARAMS if "relaxation" in p.values[0].kind or "MD" in p.values[0].kind])
def test_relaxation_and_md_structure_is_the_final_one(case, tmp_path):
    path = _present(case)
    text = path.read_text()
    symbols, positions = _final_structure(text)
    if not symbols:
        pytest.skip("aims.out prints the final structure in fractional coordinates only")
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(path, folder / "aims.out")
    if (path.parent / "geometry.in").exists():
        shutil.copy(path.parent / "geometry.in", folder / "geometry.in")
    run = rundir.read_run(folder)
    assert run.atoms.get_chemical_symbols() == symbols
    np.testing.assert_allclose(run.atoms.positions, positions, atol=1e-6)
    assert any("geometries" in w and "aims.out" in w for w in run.warnings)


def test_dos_normalisation_is_the_same_in_old_and_new_versions():
    """The same Si run (one control.in and geometry.in) in FHI-aims 071914 and 171221: the old
    one's spin-restricted DoS counts one state per orbital, the new one two (output_KS_dos.f90:
    ``spin_degeneracy * k_weights``). Read, both count both spins, and the 8 valence electrons of
    Si2 lie below E_F."""
    old_case, new_case = _case("si_071914"), _case("si_171221")
    old_path, new_path = _present(old_case), _present(new_case)
    assert (old_path.parent / "control.in").read_text() == (new_path.parent / "control.in").read_text()
    old = aims.read_dos(old_path.parent / "KS_DOS_total.dat", program_version="071914_7")
    new = aims.read_dos(new_path.parent / "KS_DOS_total.dat", program_version="171221_1")
    raw_old = aims.read_dos(old_path.parent / "KS_DOS_total.dat")
    np.testing.assert_allclose(raw_old.values * 2, old.values)
    np.testing.assert_allclose(old.values, new.values, rtol=2e-3, atol=2e-4)  # μ differs by 3 µeV
    below = new.energies_eV < 0
    electrons = new.values[0, 0][below].sum() * (new.energies_eV[1] - new.energies_eV[0])
    assert electrons == pytest.approx(8.0, abs=0.05)


def test_soc_and_scalar_dos_count_both_spins():
    """MgS (190824): the scalar and spin–orbit species DoS below E_F both hold MgS's 8 valence
    electrons (S 3s2 3p4, Mg 3s2), the window (from 15 eV below E_F) covering them."""
    path = _present(_case("MgS_pDOS/"))
    version = aims.read_output(path).program_version
    for suffix in ("", ".no_soc"):
        dos = [aims.read_dos(path.parent / f"{sp}_l_proj_dos.dat{suffix}", program_version=version) for sp in ("Mg", "S")]
        e = dos[0].energies_eV
        total = sum(d.values[0, 0][e < 0].sum() for d in dos) * (e[1] - e[0])
        assert total == pytest.approx(8.0, abs=0.2), suffix


def test_atom_projected_dos_names_are_inspected(tmp_path):
    """Löwdin/newer atom files are named atom_projected_dos_<Sp><NNNN>.dat (output_lowdin.f90)."""
    path = _present(_case("MgS_pDOS/"))
    out = aims.read_output(path)
    for name in ("atom_projected_dos_S0002.dat", "atom_projected_dos_Mg0001.dat.no_soc", "atom_proj_dos_S0002_raw.dat"):
        described = describe.describe_file(path.parent / name)
        assert described["format"] == "fhi-aims-dos" and described["code"] == "fhi-aims"
        assert described["fermi_level_eV"] == pytest.approx(out.dos_fermi_levels_eV[name], abs=1e-6)
    run = rundir.read_run(path.parent)
    assert run.pdos.labels == ("Mg0001", "S0002")


def test_missing_spin_channel_is_an_error(tmp_path):
    path = _present(_case("fsm_4"))
    folder = tmp_path / "run"
    shutil.copytree(path.parent, folder)
    for p in folder.glob("atom_proj_dos_spin_dn*"):
        p.unlink()
    with pytest.raises(MissingInputError, match="spin_dn") as info:
        rundir.read_run(folder)
    assert str(folder) in str(info.value)
    shutil.copytree(path.parent, tmp_path / "one", ignore=shutil.ignore_patterns("atom_proj_dos_spin_dnPd0003*"))
    with pytest.raises(MissingInputError, match="no spin_dn for Pd0003"):
        rundir.read_run(tmp_path / "one")


def test_unconverged_run_says_so():
    path = _present(_case("V3+"))
    out = aims.read_output(path)
    assert not out.scf_converged and not out.finished
    run = rundir.read_run(path.parent)
    assert any("no SCF cycle converged" in w for w in run.warnings)


def test_geometry_with_cartesian_and_fractional_atoms(tmp_path):
    """FHI-aims accepts atom and atom_frac in one geometry.in; ASE refuses the mix. A real
    geometry.in (all atom_frac) rewritten with its second atom in Cartesian coordinates gives
    the same structure."""
    case = _case("ceo2")  # CeO2, three atoms, a cell
    path = _present(case)
    reference = rundir.read_run(path.parent).atoms
    lines = (path.parent / "geometry.in").read_text().splitlines()
    k = [i for i, line in enumerate(lines) if line.split()[:1] == ["atom_frac"]][1]
    x = reference.positions[1]
    lines[k] = f"atom {x[0]:.12f} {x[1]:.12f} {x[2]:.12f} {lines[k].split()[4]}"
    folder = tmp_path / "run"
    shutil.copytree(path.parent, folder)
    (folder / "geometry.in").write_text("\n".join(lines) + "\n")
    run = rundir.read_run(folder)
    np.testing.assert_allclose(run.atoms.positions, reference.positions, atol=1e-9)
    assert run.atoms.get_chemical_symbols() == reference.get_chemical_symbols()
    assert any("ASE refuses" in w and "own geometry.in reader" in w for w in run.warnings)


def test_unusable_geometry_in_falls_back_to_aims_out(tmp_path):
    path = _present(_case("ceo2"))
    folder = tmp_path / "run"
    shutil.copytree(path.parent, folder)
    (folder / "geometry.in").write_text("lattice_vector 1 0 0\natom 0 0 0 Ce\n")  # 1 atom, aims.out says 3
    run = rundir.read_run(folder)
    assert len(run.atoms) == aims.read_output(path).n_atoms
    assert any("geometry.in" in w and "aims_CC.out" in w for w in run.warnings)


def test_own_geometry_reader_errors_name_the_file(tmp_path):
    path = tmp_path / "geometry.in"
    for text, problem in (
        ("atom_frac 0 0 0 O\n", "without lattice vectors"),
        ("atom 0 nan 0 O\n", "not a finite number"),
        ("atom 0 0 O\n", "three numbers"),
        ("lattice_vector 1 0 0\n", "no 'atom'"),
        ("atom 0 0 0 Xx\n", "names no element"),
    ):
        path.write_text(text)
        with pytest.raises(DftpostError, match=problem) as info:
            aims.read_geometry(path)
        assert str(path) in str(info.value)


def test_corpus_size():
    """At least 20 FHI-aims runs besides ../shared/realdata, over a decade of versions."""
    assert len(CASES) >= 20
    dates = {aims.version_date(c.version) for c in CASES}
    assert min(dates) < 20110101 and max(dates) > 20220101


def _fhi_aims_cube(path: Path, cell_A: np.ndarray, numbers, positions_A, values: np.ndarray) -> None:
    """A cube as FHI-aims writes it by default for a periodic cell (no real FHI-aims cube is
    public). setup_cube_defaults.f90 (since Oct 2017): cube_origin = the cell centre, 100 steps
    per lattice vector of length L/100 (here ``values.shape``); output_cube_files_p2.f90: point i
    at (i − 1)·step − (N − 1)/2·step + cube_origin, header origin −(offset − cube_origin);
    write_cube_header.f90: two title lines, '(1X,I4,3F12.6)' for counts and vectors (Bohr),
    '(1X,I4,4F12.6)' for atoms (Z, 0.0, x, y, z); data '(1E16.8, $)', a line break after six
    values or at the end of each z column."""
    from dftpost.units import BOHR_A

    shape = np.array(values.shape)
    step = cell_A / shape[:, None] / BOHR_A
    centre = cell_A.sum(axis=0) / 2 / BOHR_A
    origin = centre - ((shape - 1) / 2.0) @ step
    lines = [" CUBE FILE written by FHI-AIMS", " *****************************"]
    lines.append(f" {len(numbers):4d}" + "".join(f"{x:12.6f}" for x in origin))
    lines += [f" {n:4d}" + "".join(f"{x:12.6f}" for x in v) for n, v in zip(shape, step)]
    lines += [f" {z:4d}{0.0:12.6f}" + "".join(f"{x / BOHR_A:12.6f}" for x in p) for z, p in zip(numbers, positions_A)]
    body, row = [], ""
    for column in values.reshape(-1, shape[2]):
        for k, v in enumerate(column):
            row += aims_format.fortran_e(v, 16, 8)
            if (k + 1) % 6 == 0 or k + 1 == len(column):
                body.append(row)
                row = ""
    path.write_text("\n".join(lines + body) + "\n")


def test_fhi_aims_cube_grid_is_voxel_centred(tmp_path):
    """The default periodic FHI-aims cube starts half a voxel inside the cell (the PPSTM/ppafm
    users' observation: origin 0.094308 Bohr for a 0.188616 Bohr step); dftpost takes the header
    origin as the first point, so planar averages sit at (k + ½)·L/N and a density integrates to
    its charge. FHI-aims' default 'legacy' cube content is per Å³ (output_cube_files_p2.f90:
    inv_bohr_3 = 1/bohr³ applied to per-Bohr³ values)."""
    from dftpost.analysis.profiles import planar_average
    from dftpost.io.cube import read_cube

    cell = np.diag([4.0, 5.0, 12.0])
    shape = (6, 5, 24)
    z = (np.arange(shape[2]) + 0.5) * 12.0 / shape[2]
    density = np.broadcast_to(np.exp(-((z - 6.0) ** 2)), shape).copy()  # per Å³, legacy content
    density *= 8.0 / (density.sum() * np.prod(np.diag(cell)) / np.prod(shape))  # 8 electrons
    path = tmp_path / "cube_001_total_density.cube"
    _fhi_aims_cube(path, cell, [8], [[2.0, 2.5, 6.0]], density)
    grid = read_cube(path)
    np.testing.assert_allclose(grid.origin_A, np.diag(cell) / np.array(shape) / 2, atol=1e-6)
    assert grid.integral() == pytest.approx(8.0, rel=1e-6)
    z_grid, profile = planar_average(grid, axis=2)
    np.testing.assert_allclose(z_grid, z, atol=1e-5)
    assert abs(z_grid[np.argmax(profile)] - 6.0) == pytest.approx(0.25, abs=1e-5)  # the points nearest the peak
