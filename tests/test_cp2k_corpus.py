"""CP2K runs of many versions and kinds, each checked against numbers the same run printed.

The runs come from public repositories (``tests/data/real/PROVENANCE.md``, CP2K section). Those
whose licence allows it are committed under ``tests/data/real/cp2k``; the others (no licence, or
a copyleft one, or too large) are read from ``$DFTPOST_CORPUS/cp2k`` and skipped when absent.
The references are found here by plain text scans of the files, independent of
:mod:`dftpost.io.cp2k`: the ``- Atoms:`` count, the valence charges (``Z(eff)``) of the
coordinate table and the ``DFT| Charge``, the last Fermi-level, HOMO and gap lines, the
``.pdos`` headers and columns, the cube header against the log's grid.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from ase.io import read as ase_read
from conftest import CorpusCase

from dftpost.errors import DftpostError, MissingInputError
from dftpost.io import cp2k, cube, rundir
from dftpost.units import HARTREE_EV


def Case(log: str, version: str, kind: str, committed: bool = False) -> CorpusCase:  # noqa: N802
    return CorpusCase("cp2k", log, version, kind, committed)


CASES = [
    Case("nomad_si_bulk8_2.6.2/si_bulk8.out", "2.6.2", "bulk, diagonalisation", True),
    Case("nomad_h2o_md_2.6.2/H2O-32.out", "2.6.2", "MD, molecule", True),
    Case("aiida_bands_5.1/BANDS_output_v5.1.out", "5.1", "k-points, band structure, smearing", True),
    Case("aiida_tddft_uks_6.0/tddft_cp2k_6.0.out", "6.0 (Development Version)",
         "spin-polarised (UKS), hybrid (HFX), OT, TDDFPT", True),
    Case("output_tools_si64_7.0/Si.out", "7.0 (Development Version)", "bulk, smearing", True),
    Case("output_tools_truncated_7.0/Si-truncated.out", "7.0 (Development Version)", "unfinished", True),
    Case("aiida_bands_8.1/BANDS_output_v8.1.out", "8.1", "k-points, band structure, smearing", True),
    Case("aim2dat_eigenvalues_spin_8.1/aiida.out", "8.1", "spin-polarised (UKS), smearing"),
    Case("aim2dat_md_nvt_8.1/aiida.out", "8.1", "MD (NVT), OT, an earlier SCF unconverged"),
    Case("aim2dat_cell_opt_8.2/aiida.out", "8.2", "CELL_OPT"),
    Case("aim2dat_smearing_8.2/aiida.out", "8.2", "stopped by CP2K (smearing without added MOs)"),
    Case("tutorials_adamantane_9.0/out.log", "9.0 (Development Version)", "molecule, PDoS, TDDFPT", True),
    Case("tutorials_c3n4_qd_9.0/tddft.log", "9.0 (Development Version)", "quantum dot, PDoS, TDDFPT", True),
    Case("tutorials_c3n4_geo_opt_9.0/geo_opt_out.log", "9.0 (Development Version)", "GEO_OPT, smearing, PDoS of the last step, an earlier SCF unconverged", True),
    Case("tutorials_c3n4_md_9.0/md.log", "9.0 (Development Version)", "MD, smearing, PDoS, an earlier SCF unconverged, cut short in its last step", True),
    Case("aiida_geo_opt_9.1/GEO_OPT_v9.1.out", "9.1", "GEO_OPT, OT", True),
    Case("aim2dat_si_pdos_9.1/aiida.out", "9.1", "bulk, PDoS"),
    Case("aim2dat_si_uks_pdos_9.1/aiida.out", "9.1", "spin-polarised (UKS), PDoS of both spins"),
    Case("aim2dat_sc2bdc3_pdos_9.1/aiida.out", "9.1", "metal-organic framework, PDoS"),
    Case("spm_o2_uks_9.1/out", "9.1", "spin-polarised (UKS) triplet, OT, cubes of MOs of both spins", True),
    Case("spm_tbau2_uks_9.1/out", "9.1", "spin-polarised (UKS) doublet, Tb in an Au18 cluster", True),
    Case("aiida_geo_opt_2024.3/GEO_OPT_v2024.3.out", "2024.3", "GEO_OPT, OT", True),
    Case("examples_h2o_geo_opt_2.5/H2O.out", "2.5 (Development Version)", "GEO_OPT, print level LOW"),
    Case("examples_si_bulk8_2.5/Si_bulk8.out", "2.5 (Development Version)", "smearing, SCF not converged"),
    Case("nomad_h2o_geo_opt_2.6.2/H2O.out", "2.6.2", "GEO_OPT, molecule"),
    Case("aiida_bsse_5.1/BSSE_output_v5.1_.out", "5.1", "BSSE, OT"),
    Case("aiida_cdft_dos_6.0/cdft_dos_cp2k_6.0.out", "6.0 (Development Version)",
         "spin-polarised (UKS), hybrid (HFX), CDFT, OT"),
    Case("cp2kdata_energy_force_6.1/output", "6.1", "spin-polarised (UKS), OT"),
    Case("spm_c2h2_6.1/cp2k.out", "6.1", "molecule, cubes of v_hartree and an MO", True),
    Case("spm_hrstm_tip_pdos/aiida.out", "6.1", "metal, smearing, PDoS, 1142 atoms"),
    Case("cucinotta_ni32_7.1/log.out", "7.1", "spin-polarised metal, smearing, MULTIPLE_UNIT_CELL, cube"),
    Case("cp2kdata_no_converge_7.1/output", "7.1", "spin-polarised (UKS), OT, SCF not converged"),
    Case("cp2kdata_energy_force_8.1/output", "8.1", "spin-polarised (UKS), OT"),
    Case("cp2kdata_energy_force_9.0/output", "9.0 (Development Version)", "OT"),
    Case("aiida_ot_9.1/OT_v9.1.out", "9.1", "OT, 1101 atoms"),
    Case("cp2kdata_xtb_md_9.1/output", "9.1", "xTB, MD (NPT)"),
    Case("cp2kdata_aimd_npt_2022.2/output", "2022.2", "MD (NPT), smearing"),
    Case("nomad_defect_2023.1/Defect_level_D_mode.548022.out", "2023.1 (Development Version)", "431 atoms, diagonalisation"),
    Case("cucinotta_ni32_muc_2023.1/log.out", "2023.1", "spin-polarised metal, smearing, MULTIPLE_UNIT_CELL"),
    Case("cp2kdata_aimd_nvt_restart_2023.2/output", "2023.2", "MD restart, OT"),
    Case("cp2kdata_aimd_npt_restart_2024.1/output", "2024.1", "MD restart (NPT), OT, 1074 atoms"),
    Case("examples_gw_wse2_2024.1/cp2k.out", "2024.1 (Development Version)", "GW, k-points, 2D"),
    Case("examples_bse_h2_2025.2/cp2k.out", "2025.2 (Development Version)", "GW + BSE, molecule"),
    Case("examples_rtbse_ethene_2026.1/rtbse.out", "2026.1 (Development Version)",
         "hybrid (HFX 0.25), real-time BSE, molecule"),
]

PARAMS = [pytest.param(c, id=c.log.split("/")[0]) for c in CASES]


def _case(folder: str) -> Case:
    (case,) = [c for c in CASES if c.log.startswith(folder + "/")]
    return case


def _present(case: Case) -> Path:
    if not case.path.is_file():
        pytest.skip(f"{case.path} is absent (licence or size: not committed; see tests/data/real/PROVENANCE.md)")
    return case.path


_NUMBER = r"([-+]?(?:\d+\.\d*|\.\d+)(?:[EeDd][-+]?\d+)?)"
#: every line on which CP2K prints a Fermi level (the HOMO under OT): (pattern, eV per unit)
_FERMI_LINES = (
    (re.compile(r"MO\|\s*E\(Fermi\):\s+" + _NUMBER + r"\s+a\.u\."), HARTREE_EV),
    (re.compile(r"^\s*Fermi energy:\s+" + _NUMBER + r"\s*$"), HARTREE_EV),
    (re.compile(r"Fermi Energy \[eV\]\s*:\s*" + _NUMBER), 1.0),
)


def _printed_fermi_levels(text: str) -> list[float]:
    """Every Fermi level the log prints, in eV, in the order printed."""
    return [level for level, _ in _printed_fermi_lines(text)]


def _printed_fermi_lines(text: str) -> list[tuple[float, int]]:
    """Every Fermi level the log prints (eV) and which of :data:`_FERMI_LINES` printed it."""
    levels = []
    for line in text.splitlines():
        for kind, (pattern, unit) in enumerate(_FERMI_LINES):
            m = pattern.search(line)
            if m:
                levels.append((float(m.group(1)) * unit, kind))
    return levels


def _run_fermi_level(text: str) -> float | None:
    """The run's Fermi level: the last one printed; in a spin-polarised (UKS) run, whose
    ``MO| E(Fermi)`` and ``Fermi Energy [eV]`` lines come once per spin (qs_mo_io.F,
    qs_mo_methods.F: each channel's μ), the higher of the last two."""
    lines = _printed_fermi_lines(text)
    if not lines:
        return None
    if "Spin unrestricted (spin-polarized) Kohn-Sham" in text and lines[-1][1] != 1 and len(lines) > 1:
        return max(level for level, _ in lines[-2:])
    return lines[-1][0]


def _printed_valence_electrons(text: str) -> int | None:
    """Σ Z(eff) of the last coordinate table minus the ``DFT| Charge``: the electrons of the run."""
    tables = [m.start() for m in re.finditer("ATOMIC COORDINATES IN angstrom", text, re.I)]
    charge = re.findall(r"DFT\| Charge\s+(-?\d+)", text)
    if not tables or not charge:
        return None
    at = tables[-1]
    z_eff = []
    rows = text[at:].splitlines()
    start = next(i for i, line in enumerate(rows) if line.split()[:3] == ["Atom", "Kind", "Element"]) + 1
    for line in rows[start:]:
        words = line.split()
        if not words and not z_eff:  # older versions: a blank line after the column names
            continue
        if len(words) < 9 or not words[0].isdigit():
            break
        z_eff.append(float(words[7]))
    return round(sum(z_eff)) - int(charge[-1])


@pytest.mark.parametrize("case", PARAMS)
def test_version_atoms_and_end(case):
    path = _present(case)
    text = path.read_text()
    log = cp2k.read_log(path)
    assert log.program_version == case.version
    assert log.finished == ("PROGRAM ENDED AT" in text)
    counts = re.findall(r"- Atoms:\s+(\d+)", text)
    assert log.n_atoms == (int(counts[0]) if counts else None)
    if log.atoms is not None:
        assert len(log.atoms) == log.n_atoms
    elif "ATOMIC COORDINATES IN ANGSTROM" in text.upper():
        assert "unfinished" in case.kind  # the table of a log cut short inside it


@pytest.mark.parametrize("case", PARAMS)
def test_electron_count_is_the_valence_charge(case):
    """``Number of electrons`` is printed once per spin in spin-polarised runs: the run's count
    is their sum, the valence charge of its atoms minus its charge."""
    path = _present(case)
    expected = _printed_valence_electrons(path.read_text())
    if expected is None:
        pytest.skip("the log prints no coordinate table or no DFT| Charge")
    assert cp2k.read_log(path).n_electrons == expected


@pytest.mark.parametrize("case", PARAMS)
def test_fermi_level_and_gap_of_the_last_cycle(case):
    """MD and GEO_OPT logs print one Fermi level (or HOMO) and gap per SCF cycle: the run's are
    the last ones printed (of both spins, in a spin-polarised run)."""
    path = _present(case)
    text = path.read_text()
    log = cp2k.read_log(path)
    expected = _run_fermi_level(text)
    if expected is None:
        assert log.fermi_level_eV is None
    else:
        assert log.fermi_level_eV == pytest.approx(expected, abs=1e-6)  # printed in a.u. and in eV (F12.6)
    gaps = re.findall(r"HOMO - LUMO gap \[eV\]\s*:\s*" + _NUMBER, text)
    rows = [i for i, line in enumerate(text.splitlines()) if "HOMO - LUMO gap [eV]" in line]
    per_spin = len(rows) > 1 and rows[-1] == rows[-2] + 1  # two lines in a row
    if gaps and not per_spin:
        assert log.homo_lumo_gap_eV == pytest.approx(float(gaps[-1]), abs=1e-9)
    elif gaps:  # one line per spin (UKS), after each channel's HOMO: lowest LUMO - highest HOMO
        assert "UKS" in case.kind
        pair = [float(g) for g in gaps[-2:]]
        homos = [level for level, kind in _printed_fermi_lines(text[: text.rfind("HOMO - LUMO gap")]) if kind == 2][-2:]
        expected = min(h + g for h, g in zip(homos, pair)) - max(homos)
        assert log.homo_lumo_gap_eV == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("case", [p for p in PARAMS if "GEO_OPT" in p.values[0].kind or "MD" in p.values[0].kind])
def test_many_cycles_differ(case):
    """The runs of several SCF cycles whose printed values change: the last value is not the first
    (so that the test above tells the last cycle from the first)."""
    path = _present(case)
    text = path.read_text()
    levels = _printed_fermi_levels(text)
    gaps = re.findall(r"HOMO - LUMO gap \[eV\]\s*:\s*" + _NUMBER, text)
    if len(set(levels)) < 2 and len(set(gaps)) < 2:
        pytest.skip("the log prints one Fermi level and gap, or none")
    log = cp2k.read_log(path)
    if len(set(levels)) > 1:
        assert log.fermi_level_eV != pytest.approx(levels[0], abs=1e-9)
    if len(set(gaps)) > 1:
        assert log.homo_lumo_gap_eV != pytest.approx(float(gaps[0]), abs=1e-9)


PDOS_CASES = [p for p in PARAMS if "PDoS" in p.values[0].kind]


@pytest.mark.parametrize("case", PDOS_CASES)
def test_pdos_header_occupations_and_homo_agree_with_the_log(case):
    """Each ``.pdos`` header's E(Fermi) is what the log printed in the SCF cycle that wrote it
    (``Calculate PDOS at iteration step i``: the run's last cycle unless the run was cut short
    while writing the next); the occupations of each kind's file (both spins' files in a
    spin-polarised run) hold the log's electrons, each printed with 6 decimals; without
    smearing, the occupations are 0 or the spin degeneracy and the highest occupied state is
    the header's E(Fermi) and the HOMO the log printed (CP2K 9.0 prints it as ``Fermi Energy
    [eV]``); the kinds' projections of each occupied state sum to one."""
    path = _present(case)
    text = path.read_text()
    log = cp2k.read_log(path)
    files = sorted(path.parent.glob("*.pdos"))
    assert files
    per_kind: dict[str, float] = {}
    for p in files:
        header = re.search(r"E\(Fermi\) =\s*" + _NUMBER + r" a\.u\.", p.read_text().splitlines()[0])
        header_eV = float(header.group(1)) * HARTREE_EV
        assert cp2k.read_pdos(p).fermi_level_eV == pytest.approx(header_eV, abs=1e-9)
        # the Fermi level the log printed for the SCF cycle that wrote the file
        step = re.search(r"iteration step i =\s*(\d+)", p.read_text().splitlines()[0]).group(1)
        wrote = [m.start() for m in re.finditer(rf"Calculate PDOS at iteration step\s+{step}\b", text)]
        printed = _run_fermi_level(text[: wrote[-1]] if wrote else text)
        if printed is not None:
            assert header_eV == pytest.approx(printed, abs=3e-5)  # 6 decimals in a.u.
            if log.finished:
                assert header_eV == pytest.approx(log.fermi_level_eV, abs=3e-5)
        occupations = np.loadtxt(p, usecols=2)
        kind = re.sub(r"(ALPHA|BETA)_", "", p.name)
        per_kind[kind] = per_kind.get(kind, 0.0) + occupations.sum()
    for kind, electrons in per_kind.items():
        assert electrons == pytest.approx(log.n_electrons, abs=5e-7 * 2 * len(occupations) + 1e-9), kind
    dos = cp2k.read_pdos_files(files)
    assert dos.n_spin == (2 if "ALPHA" in files[0].name else 1)
    assert dos.occupations.sum() == pytest.approx(log.n_electrons, abs=5e-7 * dos.occupations.size + 1e-9)
    occupied = dos.occupations > 0.5 * dos.spin_degeneracy
    if "smearing" not in case.kind:
        assert set(np.unique(dos.occupations)) == {0.0, float(dos.spin_degeneracy)}
        assert dos.eigenvalues_eV[occupied].max() == pytest.approx(0.0, abs=3e-5)  # relative to E(Fermi)
        if log.fermi_level_eV is not None:
            assert dos.eigenvalues_eV[occupied].max() + dos.fermi_level_eV == pytest.approx(log.fermi_level_eV, abs=3e-5)
    np.testing.assert_allclose(dos.values.sum(axis=1)[occupied], 1.0, atol=0.02)


def _printed_cells(text: str) -> list[tuple[int, np.ndarray]]:
    """Each ``CELL| Vector a/b/c [angstrom]`` block the log prints: (where it starts, 3×3 Å)."""
    rows = list(re.finditer(r"CELL\| Vector ([abc]) \[angstrom\]:\s+(\S+)\s+(\S+)\s+(\S+)", text))
    return [
        (a.start(), np.array([[float(x) for x in m.groups()[1:]] for m in (a, b, c)]))
        for a, b, c in zip(rows, rows[1:], rows[2:])
        if (a.group(1), b.group(1), c.group(1)) == ("a", "b", "c")
    ]


def test_md_cut_short_while_writing_its_pdos():
    """CP2K 9.0 MD stopped in step 17 ('Calculate PDOS at iteration step 17', then nothing): the
    log's last Fermi level (-0.15207893 a.u.) is of a cycle whose .pdos files were never
    written; the files on disk are of step 16. The run takes the files' E(Fermi) and says so."""
    path = _present(_case("tutorials_c3n4_md_9.0"))
    log = cp2k.read_log(path)
    header = cp2k.read_pdos(path.parent / "C3N4-QD-k1-1.pdos").fermi_level_eV
    assert not log.finished and log.fermi_level_eV == pytest.approx(-0.15207893400009 * HARTREE_EV)
    assert header == pytest.approx(-0.150313 * HARTREE_EV)
    run = rundir.read_run(path.parent)
    assert run.fermi_level_eV == pytest.approx(header)
    assert any("differs from the .pdos header" in w for w in run.warnings)
    assert any("did not end normally" in w for w in run.warnings)


def test_cell_opt_structure_keeps_its_own_cell():
    """CP2K 8.2, CELL_OPT (the cell turned to a standard orientation, then optimised): the log
    prints the coordinates once, in the input cell, and a cell after each step. The structure
    read is those coordinates in the cell printed before them; the log's cell is the last one."""
    path = _present(_case("aim2dat_cell_opt_8.2"))
    text = path.read_text()
    cells = _printed_cells(text)
    table = text.find("ATOMIC COORDINATES IN angstrom")
    log = cp2k.read_log(path)
    before = [c for at, c in cells if at < table][-1]
    np.testing.assert_allclose(log.atoms.cell[:], before, atol=1e-9)
    np.testing.assert_allclose(log.cell_A, cells[-1][1], atol=1e-9)
    assert np.abs(before - cells[-1][1]).max() > 1.0


def test_multiple_unit_cell_input_gives_the_logs_atoms():
    """Ni: a 4-atom cell replicated 2×2×2 (&CELL and &TOPOLOGY MULTIPLE_UNIT_CELL): the input
    read is the 32-atom cell the log prints."""
    path = _present(_case("cucinotta_ni32_muc_2023.1"))
    log = cp2k.read_log(path)
    inp = cp2k.read_input(path.parent / "cp2k.inp")
    assert log.n_atoms == 32 and len(inp.atoms) == 32
    np.testing.assert_allclose(inp.atoms.cell[:], log.cell_A, atol=1e-3)
    # the same structure up to the order of the atoms (CP2K prints them image by image)
    key = lambda x: np.round(np.mod(x, np.diag(log.cell_A)), 3).tolist()  # noqa: E731
    assert sorted(map(key, inp.atoms.positions)) == sorted(map(key, log.atoms.positions))


#: (run folder, cube, the input's print key that wrote it)
CUBES = [
    ("spm_c2h2_6.1", "PROJ-v_hartree-1_0.cube", "V_HARTREE_CUBE"),
    ("spm_c2h2_6.1", "PROJ-WFN_00005_1-1_0.cube", "MO_CUBES"),
    ("spm_o2_uks_9.1", "PROJ-WFN_00006_1-1_0.cube", "MO_CUBES"),
    ("spm_o2_uks_9.1", "PROJ-WFN_00006_2-1_0.cube", "MO_CUBES"),
    ("cucinotta_ni32_7.1", "Ni_bulk-ELECTRON_DENSITY-1_0.cube", "E_DENSITY_CUBE"),
]


@pytest.mark.parametrize("folder, name, key", CUBES, ids=[f"{f}/{n}" for f, n, _ in CUBES])
def test_cube_atoms_and_grid_against_the_log(folder, name, key):
    """A cube lists the log's atoms (at the positions of its coordinate table) in the log's
    cell (the input's, where the log prints none), on the log's finest grid (``PW_GRID`` grid
    1, where printed) taken every STRIDE-th point (the print key's STRIDE in the input, 2 when
    not given)."""
    case = _case(folder)
    path = _present(case)
    cube_path = path.parent / name
    if not cube_path.is_file():
        pytest.skip(f"{cube_path} is absent")
    text = path.read_text()
    log = cp2k.read_log(path)
    (inp,) = [p for p in path.parent.iterdir() if p.name in ("cp2k.inp", "inp", "input.inp")]
    sections = cp2k.read_input_sections(inp)
    (print_key,) = sections.find("FORCE_EVAL", "DFT", "PRINT", key)
    stride = int((print_key.get("STRIDE") or "2").split()[0])
    (cell,) = sections.find("FORCE_EVAL", "SUBSYS", "CELL")
    cell_A = log.cell_A if log.cell_A is not None else np.diag([float(x) for x in cell.get("ABC").split()])
    points = [int(n) for n in re.findall(r"PW_GRID\|\s+Bounds\s+\d\s+\S+\s+\S+\s+Points:\s+(\d+)", text)[:3]]
    header = cube.read_cube_header(cube_path)
    assert header.n_atoms == log.n_atoms
    if points:  # not printed at PRINT_LEVEL LOW
        assert header.shape == tuple(-(-n // stride) for n in points)
    grid = cube.read_cube(cube_path)
    np.testing.assert_allclose(grid.atoms.cell[:], cell_A, atol=1e-3)  # the log prints 3 decimals
    if log.atoms is not None:
        assert grid.atoms.get_chemical_symbols() == log.atoms.get_chemical_symbols()
        np.testing.assert_allclose(grid.atoms.positions, log.atoms.positions, atol=1e-5)


def test_density_cube_holds_the_electrons_of_the_run():
    """CP2K 7.1, Ni 32 atoms, spin-polarised: the ELECTRON_DENSITY cube (the sum of both
    spins' densities) integrates to the valence electrons of the run."""
    path = _present(_case("cucinotta_ni32_7.1"))
    cube_path = path.parent / "Ni_bulk-ELECTRON_DENSITY-1_0.cube"
    if not cube_path.is_file():
        pytest.skip(f"{cube_path} is absent")
    grid = cube.read_cube(cube_path)
    assert grid.integral() == pytest.approx(_printed_valence_electrons(path.read_text()), rel=1e-3)
    assert grid.integral() == pytest.approx(cp2k.read_log(path).n_electrons, rel=1e-3)


def test_included_coordinates_give_the_logs_atoms(tmp_path):
    """CP2K 2022.2: ``&COORD`` holds ``@include coord.xyz``; read with it, the input's atoms are
    those of the log's coordinate table. Without the included file the input has no structure,
    and a warning names the file."""
    path = _present(_case("cp2kdata_aimd_npt_2022.2"))
    log = cp2k.read_log(path)
    inp = cp2k.read_input(path.parent / "input.inp")
    assert len(inp.atoms) == log.n_atoms == 52 and not inp.warnings
    assert inp.atoms.get_chemical_symbols() == log.atoms.get_chemical_symbols()
    np.testing.assert_allclose(inp.atoms.positions, log.atoms.positions, atol=1e-6)
    shutil.copy(path.parent / "input.inp", tmp_path / "input.inp")
    alone = cp2k.read_input(tmp_path / "input.inp")
    assert alone.atoms is None
    assert any("@INCLUDE coord.xyz is absent" in w for w in alone.warnings)


def test_log_named_output_is_found(tmp_path):
    path = _present(_case("cp2kdata_energy_force_8.1"))
    shutil.copy(path, tmp_path / "output")
    try:
        run = rundir.read_run(tmp_path)
    except MissingInputError:  # "nothing recognisable: no FHI-aims or CP2K log (*.out) ..."
        run = None
    assert run is not None and len(run.atoms) == cp2k.read_log(path).n_atoms


def test_pdos_files_with_a_print_key_filename_are_read(tmp_path):
    path = _present(_case("spm_hrstm_tip_pdos"))
    for p in path.parent.iterdir():
        (tmp_path / p.name).symlink_to(p)
    assert cp2k.read_log(path).project == "aiida"
    run = rundir.read_run(tmp_path)
    assert run.pdos is not None and [p.label for p in run.pdos.projections] == ["O", "C", "Au", "H"]


def test_spin_polarised_fermi_level_is_the_higher_channels():
    """O2 triplet, CP2K 9.1: 'Fermi Energy [eV]' is printed per spin, the HOMO of each channel
    (-6.268210 eV for the 7 α, -11.823158 eV for the 5 β electrons). The run's is the higher,
    not the last printed."""
    path = _present(_case("spm_o2_uks_9.1"))
    assert _printed_fermi_levels(path.read_text())[-2:] == [-6.26821, -11.823158]
    assert cp2k.read_log(path).fermi_level_eV == pytest.approx(-6.26821, abs=1e-9)


def test_spin_polarised_gap_is_lowest_lumo_minus_highest_homo():
    """PBE0, CP2K 6.0, UKS doublet (153 α, 152 β electrons): the log prints each channel's HOMO
    ('Fermi Energy [eV] : -5.988210' α, '-5.984085' β) and then each channel's gap (3.248614,
    3.254121 eV). The run's gap is the lowest LUMO (α: -5.988210 + 3.248614) minus the highest
    HOMO (β), 3.244489 eV, neither channel's own."""
    path = _present(_case("aiida_tddft_uks_6.0"))
    text = path.read_text()
    assert " Fermi Energy [eV] :   -5.988210" in text and " HOMO - LUMO gap [eV] :    3.254121" in text
    log = cp2k.read_log(path)
    assert log.homo_lumo_gap_eV == pytest.approx(-5.988210 + 3.248614 + 5.984085, abs=1e-9)
    assert log.fermi_level_eV == pytest.approx(-5.984085, abs=1e-9)


def test_open_shell_pdos_channels_with_their_own_fermi_levels(tmp_path):
    """An open-shell run (as the O2 triplet above) writes each spin's μ into its .pdos files
    (qs_pdos.F v2023.1:229-230 and 722: get_mo_set(mu=e_fermi) of that spin's MOs). No such
    pair is in the corpus: it is written here by the format statements of v2026.1
    (``write_v2026_1``), the BETA states 0.05 Ha below the ALPHA ones, each channel's E(Fermi)
    its own HOMO. Read, both channels are relative to the higher E(Fermi), 0.05 Ha apart; an
    E(Fermi) that is not its channel's μ stays an error."""
    from test_cp2k_formats import NOFIELD, hoco_au, read_states, write_v2026_1

    title, _, names, e, occ, w = read_states(NOFIELD / "water4-k1-1.pdos")
    alpha, beta = tmp_path / "w-ALPHA_k1-1.pdos", tmp_path / "w-BETA_k1-1.pdos"
    write_v2026_1(alpha, title, hoco_au(e, occ), names, e, occ / 2, w)
    write_v2026_1(beta, title, hoco_au(e, occ) - 0.05, names, e - 0.05, occ / 2, w)
    dos = cp2k.read_pdos_files([alpha, beta])
    assert dos.fermi_level_eV == pytest.approx(cp2k.read_pdos(alpha).fermi_level_eV)
    np.testing.assert_allclose(dos.eigenvalues_eV[1] - dos.eigenvalues_eV[0], -0.05 * HARTREE_EV, atol=2e-5)
    assert dos.eigenvalues_eV[0][dos.occupations[0] > 0.5].max() == pytest.approx(0.0, abs=2e-5)
    # an E(Fermi) below the channel's own HOMO is no μ of that channel: another run's file
    write_v2026_1(beta, title, hoco_au(e, occ) - 0.07, names, e - 0.05, occ / 2, w)
    with pytest.raises(DftpostError, match="Fermi levels differ"):
        cp2k.read_pdos_files([alpha, beta])


def test_unfinished_log_says_so():
    path = _present(_case("output_tools_truncated_7.0"))
    log = cp2k.read_log(path)
    assert not log.finished and log.atoms is None


@pytest.mark.parametrize("case", PARAMS)
def test_unconverged_scf_is_a_warning(case):
    """CP2K 2.5 with MAX_SCF 1 prints '*** SCF run NOT converged ***', then 'Fermi energy:
    0.000...'; 7.1 with OT, 'outer SCF loop FAILED to converge' and '*** WARNING in
    qs_scf.F:542 :: SCF run NOT converged ***'. Such a run's values come with a warning; a
    converged one has none, nor has an MD run one of whose earlier steps did not converge."""
    path = _present(case)
    warned = any("did not converge" in w for w in cp2k.read_log(path).warnings)
    assert warned == ("SCF not converged" in case.kind)
    if "SCF run NOT converged" in path.read_text():
        assert warned or "earlier SCF unconverged" in case.kind


@pytest.mark.parametrize("folder", ["nomad_h2o_md_2.6.2", "nomad_h2o_geo_opt_2.6.2", "tutorials_c3n4_geo_opt_9.0"])
def test_md_and_geo_opt_structure_is_the_last_one(folder, tmp_path):
    case = _case(folder)
    path = _present(case)
    run_dir = tmp_path / "run"
    shutil.copytree(path.parent, run_dir)
    last = ase_read(next(path.parent.glob("*-pos-1.xyz")), index=-1)
    run = rundir.read_run(run_dir)
    if not np.allclose(run.atoms.positions, last.positions, atol=1e-6):
        assert any("geometr" in w for w in run.warnings)


def test_corpus_size():
    """At least 20 CP2K runs besides ../shared/realdata, over more than a decade of versions."""
    assert len(CASES) >= 20
    versions = {c.version.split()[0] for c in CASES}
    assert {"2.5", "2026.1"} <= versions and len(versions) >= 15
