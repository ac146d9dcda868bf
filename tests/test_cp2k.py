"""CP2K .pdos, log and input readers, checked against numbers CP2K printed in the same run."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CP2K_FIXTURE, FIXTURES, REALDATA, ids, realdata_files

from dftpost.errors import DftpostError, ParseError
from dftpost.io import cp2k
from dftpost.io.rundir import read_run
from dftpost.units import FIELD_AU_V_PER_A, HARTREE_EV

REAL_PDOS = realdata_files("cp2k/**/*.pdos") + sorted(CP2K_FIXTURE.glob("*/*.pdos"))


@pytest.mark.parametrize("path", REAL_PDOS, ids=ids(REAL_PDOS))
def test_every_real_pdos_file_parses(path):
    dos = cp2k.read_pdos(path)
    header = path.read_text().splitlines()[0]
    fermi_au = float(header.split("E(Fermi) =")[1].split()[0])
    assert dos.fermi_level_eV == pytest.approx(fermi_au * HARTREE_EV, abs=1e-9)
    first_state = [float(x) for x in path.read_text().splitlines()[2].split()]
    assert dos.eigenvalues_eV[0, 0] + dos.fermi_level_eV == pytest.approx(first_state[1] * HARTREE_EV)
    # weight of a state on the projection = sum of its orbital columns
    assert dos.values[0, 0, 0] == pytest.approx(sum(first_state[3:]), abs=1e-7)
    np.testing.assert_allclose(dos.orbital_values[0, 0].sum(axis=0), dos.values[0, 0], atol=1e-12)
    assert dos.is_discrete and np.isfinite(dos.values).all()


# (run folder, the value CP2K prints in its log for the Fermi level, in eV)
FERMI_RUNS = [
    ("cp2k/water8_slab_field/run_a_nofield", -6.153192),  # MO| E(Fermi) ... eV column
    ("cp2k/water8_slab_field/run_c_extpot_field", -5.253054),
    ("cp2k/nomad_electronic_parsers/graphene_15x15_pdos", -0.14608634979029 * HARTREE_EV),
]


@pytest.mark.parametrize("run, printed_eV", FERMI_RUNS, ids=[r for r, _ in FERMI_RUNS])
def test_pdos_fermi_level_equals_the_log(realdata, run, printed_eV):
    folder = realdata / run
    (log_path,) = folder.glob("*.out")
    log = cp2k.read_log(log_path)
    assert log.fermi_level_eV == pytest.approx(printed_eV, abs=2e-5)
    for path in folder.glob("*.pdos"):
        assert cp2k.read_pdos(path).fermi_level_eV == pytest.approx(log.fermi_level_eV, abs=3e-5)


@pytest.mark.parametrize("folder", [CP2K_FIXTURE / "nofield", CP2K_FIXTURE / "field"], ids=["nofield", "field"])
def test_fixture_fermi_and_gap_equal_the_log(folder):
    log = cp2k.read_log(folder / "water4.out")
    dos = cp2k.read_pdos_files(sorted(folder.glob("*.pdos")))
    assert dos.fermi_level_eV == pytest.approx(log.fermi_level_eV, abs=3e-5)
    summary = dos.summary()
    assert summary["lumo_eV"] - summary["homo_eV"] == pytest.approx(log.homo_lumo_gap_eV, abs=3e-5)


def test_homo_lumo_gap_from_occupations_equals_the_printed_band_gap(realdata):
    folder = realdata / "cp2k/water8_slab_field/run_a_nofield"
    dos = cp2k.read_pdos_files(sorted(folder.glob("*.pdos")))
    summary = dos.summary()
    assert summary["lumo_eV"] - summary["homo_eV"] == pytest.approx(6.397376, abs=3e-5)
    assert summary["homo_eV"] == pytest.approx(0.0, abs=1e-9)  # E(Fermi) is the HOMO here


def test_kind_weights_sum_to_one_and_lists_partition_the_atoms(realdata):
    """Per state, the kind projections add up to 1, and two LDOS lists that split the atoms in
    two add up to the same as the kinds (CP2K's own Mulliken-type decomposition)."""
    folder = realdata / "cp2k/water8_slab_field/run_a_nofield"
    dos = cp2k.read_pdos_files(sorted(folder.glob("*.pdos")))
    assert dos.labels == ("O", "H", "list1", "list2")
    weights = dos.values[0]
    np.testing.assert_allclose(weights[0] + weights[1], 1.0, atol=1e-6)
    np.testing.assert_allclose(weights[2] + weights[3], weights[0] + weights[1], atol=1e-6)


def test_alpha_beta_files_become_two_spin_channels(realdata):
    folder = realdata / "cp2k/nomad_electronic_parsers/graphene_15x15_pdos"
    dos = cp2k.read_pdos_files(sorted(folder.glob("*.pdos")))
    assert dos.n_spin == 2 and dos.spin_degeneracy == 1
    assert dos.occupations.max() <= 1.0 + 1e-9
    # the broadened DoS integrates to the number of states of each channel
    grid = dos.on_grid(sigma_eV=0.1)
    integral = np.trapezoid(grid.values[:, 0], grid.energies_eV, axis=-1)
    np.testing.assert_allclose(integral, dos.values[:, 0].sum(axis=-1), rtol=1e-6)


def test_peer_pymatgen_reads_the_same_levels(realdata):
    """pymatgen's parse_pdos on the same file: same Fermi level, same eigenvalues (eV)."""
    pymatgen_outputs = pytest.importorskip("pymatgen.io.cp2k.outputs")
    path = realdata / "cp2k/water8_slab_field/run_a_nofield/water_slab-k1-1.pdos"
    ours = cp2k.read_pdos(path)
    theirs = next(iter(next(iter(pymatgen_outputs.parse_pdos(path).values())).values()))
    assert theirs.efermi == pytest.approx(ours.fermi_level_eV, abs=1e-4)  # older Hartree value
    absolute = ours.eigenvalues_eV[0] + ours.fermi_level_eV
    nearest = np.abs(np.asarray(theirs.energies)[None, :] - absolute[:, None]).min(axis=1)
    assert nearest.max() < 1e-4


def test_multiple_snapshots_read_the_last(tmp_path, realdata):
    src = realdata / "cp2k/water8_slab_field/run_a_nofield/water_slab-k1-1.pdos"
    text = src.read_text()
    second = text.replace("iteration step i = 0", "iteration step i = 5").replace("-0.226126 a.u.", "-0.300000 a.u.")
    path = tmp_path / "water_slab-k1-1.pdos"
    path.write_text(text + second)
    dos = cp2k.read_pdos(path)
    assert dos.fermi_level_eV == pytest.approx(-0.3 * HARTREE_EV)


def _large_snapshot(step: int, fermi_au: float, rng) -> tuple[str, np.ndarray]:
    """A kind file's snapshot of 1,500 states (above the size where the fixed-width decoder
    reads the rows), CP2K 2026.1 layout: (I8, 2X, 2F16.6, n(2X, F16.8))."""
    n = 1500
    table = np.column_stack([np.arange(1, n + 1), np.sort(rng.uniform(-2, 1, n)), np.repeat([2.0, 0.0], n // 2),
                             rng.uniform(0, 1, (n, 3))])
    head = (f"# Projected DOS for atomic kind O at iteration step i = {step}, E(Fermi) = {fermi_au:12.6f} a.u.\n"
            f"{'#     MO Eigenvalue [a.u.]      Occupation':42}" + "".join(f"{'':10}{label:8}" for label in "spd") + "\n")
    rows = "".join(f"{int(r[0]):8d}  {r[1]:16.6f}{r[2]:16.6f}" + "".join(f"  {w:16.8f}" for w in r[3:]) + "\n" for r in table)
    return head + rows, table


def test_large_files_read_the_last_snapshot_as_loadtxt_reads_its_rows(tmp_path):
    """The decoded rows of a large file are numpy's to the bit, and an appended snapshot wins."""
    rng = np.random.default_rng(3)
    first, _ = _large_snapshot(0, -0.2, rng)
    second, table = _large_snapshot(5, -0.3, rng)
    path = tmp_path / "big-k1-1.pdos"
    path.write_text(first + second)
    dos = cp2k.read_pdos(path)
    rows = np.loadtxt(second.splitlines()[2:])
    assert dos.fermi_level_eV == pytest.approx(-0.3 * HARTREE_EV)
    assert np.array_equal(dos.eigenvalues_eV[0], rows[:, 1] * HARTREE_EV - dos.fermi_level_eV)
    assert np.array_equal(dos.orbital_values[0, 0], rows[:, 3:].T)
    assert np.abs(rows[:, 3:] - table[:, 3:]).max() <= 5e-9  # the file holds what was written
    path.write_text(first)  # one snapshot
    assert cp2k.read_pdos(path).fermi_level_eV == pytest.approx(-0.2 * HARTREE_EV)


# ---------------------------------------------------------------------------- log and input
def test_slab_dipole_sign_is_physical(realdata):
    """CP2K prints the slab dipole counting electrons positive; the density cube with the core
    charges (Z(eff) of the log) gives the physical dipole. Both must agree, sign included."""
    from dftpost.io.cube import read_cube

    folder = CP2K_FIXTURE / "nofield"
    log = cp2k.read_log(folder / "water4.out")
    grid = read_cube(folder / "water4-ELECTRON_DENSITY-1_0.cube")
    z = grid.origin_A[2] + np.arange(grid.shape[2]) * grid.voxel_A[2, 2]
    electrons = grid.values.sum(axis=(0, 1)) * grid.voxel_volume_A3
    cores = (log.core_charges_e * log.atoms.positions[:, 2]).sum()
    from_cube = cores - (electrons * z).sum()
    printed = float(
        (folder / "water4.out").read_text().split("the slab [electrons-Angstroem]:")[-1].split()[0]
    )
    assert log.slab_dipole_e_A == pytest.approx(-printed)
    assert log.slab_dipole_e_A == pytest.approx(from_cube, rel=0.02)


def test_periodic_efield_from_log_and_input_agree(realdata):
    folder = realdata / "cp2k/water8_slab_field/run_b_periodic_efield"
    log = cp2k.read_log(folder / "water_slab.out")
    inp = cp2k.read_input(folder / "water_slab.inp")
    np.testing.assert_allclose(log.periodic_efield_V_per_A, [0, 0, 1.944690e-3 * FIELD_AU_V_PER_A], atol=1e-9)
    np.testing.assert_allclose(inp.applied_field_V_per_A, log.periodic_efield_V_per_A, atol=1e-7)
    assert log.uses_ot and any("OT" in w for w in log.warnings)


def test_external_potential_linear_field(realdata):
    inp = cp2k.read_input(realdata / "cp2k/water8_slab_field/run_c_extpot_field/water_slab.inp")
    np.testing.assert_allclose(inp.applied_field_V_per_A, [0, 0, 0.1], atol=1e-6)
    assert "EXTERNAL_POTENTIAL" in inp.applied_field_source


INPUTS = [p for p in realdata_files("cp2k/**/*.inp")] + sorted(CP2K_FIXTURE.glob("*/*.inp"))


@pytest.mark.parametrize("path", INPUTS, ids=ids(INPUTS))
def test_input_structure_equals_the_coordinates_cp2k_printed(path):
    inp = cp2k.read_input(path)
    logs = list(path.parent.glob("*.out"))
    log = cp2k.read_log(logs[0])
    if inp.atoms is None:
        assert inp.warnings  # a missing coordinate file is reported, not an error
        return
    if log.atoms is None:
        pytest.skip("this log (PRINT_LEVEL LOW) prints no coordinates")
    assert inp.atoms.get_chemical_symbols() == log.atoms.get_chemical_symbols()
    np.testing.assert_allclose(inp.atoms.positions, log.atoms.positions, atol=2e-6)
    np.testing.assert_allclose(inp.atoms.cell[:], log.cell_A, atol=2e-6)


def test_ldos_lists_and_dipole_settings_from_input():
    inp = cp2k.read_input(CP2K_FIXTURE / "nofield" / "water4.inp")
    assert [len(lst) for lst in inp.ldos_lists] == [12, 6, 6]
    assert inp.ldos_lists[0] == tuple(range(12))
    assert inp.surface_dipole_correction and inp.surface_dipole_axis == 2
    assert inp.surface_dipole_position_A == 0.0


LOGS = realdata_files("cp2k/**/*.out") + sorted(CP2K_FIXTURE.glob("*/*.out"))


@pytest.mark.parametrize("path", LOGS, ids=ids(LOGS))
def test_every_real_log_parses(path):
    log = cp2k.read_log(path)
    assert log.finished
    assert log.program_version and log.program_version[0].isdigit()


# ---------------------------------------------------------------------------- damaged files
@pytest.fixture
def pdos_text() -> str:
    return (CP2K_FIXTURE / "nofield" / "water4-k1-1.pdos").read_text()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda t: "\n".join(t.splitlines()[:2]) + "\n", "no data lines"),
        (lambda t: t[: t.index("\n", len(t) // 2) + 40], "columns"),
        (lambda t: t.replace("2.000000", "nan", 1), "NaN"),
        (lambda t: t.replace("2.000000", "two", 1), "not numeric"),
        (lambda t: "\n".join(t.splitlines()[2:]), "header"),
        (lambda t: t.replace("E(Fermi)", "E(F)"), "E\\(Fermi\\)"),
    ],
    ids=["no-data", "truncated", "nan", "word", "no-header", "no-fermi"],
)
def test_damaged_pdos_is_a_clear_error(tmp_path, pdos_text, damage, message):
    path = tmp_path / "water4-k1-1.pdos"
    path.write_text(damage(pdos_text))
    with pytest.raises(ParseError, match=message) as info:
        cp2k.read_pdos(path)
    assert str(path) in str(info.value)


def test_other_files_given_to_the_cp2k_readers(tmp_path):
    aims_dos = REALDATA / "fhiaims/aimstools/Si_closed_shell_soc/atom_proj_dos_Si0001.dat"
    if aims_dos.exists():
        with pytest.raises(ParseError, match="not a CP2K .pdos"):
            cp2k.read_pdos(aims_dos)
        with pytest.raises(ParseError, match="not a CP2K output"):
            cp2k.read_log(aims_dos.parent / "aims.out")
    binary = tmp_path / "x-k1-1.pdos"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(DftpostError, match="x-k1-1.pdos"):
        cp2k.read_pdos(binary)
    truncated = tmp_path / "cut.inp"
    truncated.write_text((CP2K_FIXTURE / "nofield" / "water4.inp").read_text()[:600])
    with pytest.raises(ParseError, match="never closed"):
        cp2k.read_input(truncated)


def test_input_cell_vectors_scaled_coordinates_and_variables(tmp_path):
    """&CELL as A/B/C vectors, &COORD SCALED, @SET variables: the structure ASE builds from the
    same numbers."""
    from ase import Atoms

    path = tmp_path / "slab.inp"
    path.write_text(
        """@SET LZ 20.0
&GLOBAL
  PROJECT slab   ! comment
&END GLOBAL
&FORCE_EVAL
  &DFT
    &PRINT
      &PDOS
        &LDOS
          LIST 1 3..4
        &END LDOS
      &END PDOS
    &END PRINT
  &END DFT
  &SUBSYS
    &CELL
      A 6.0 0.0 0.0
      B 3.0 5.196152 0.0
      C 0.0 0.0 ${LZ}
    &END CELL
    &COORD
      SCALED .TRUE.
      O   0.10 0.20 0.50
      H1  0.15 0.20 0.55
      H2  0.05 0.25 0.55
      Pt  0.50 0.50 0.10
    &END COORD
  &END SUBSYS
&END FORCE_EVAL
"""
    )
    inp = cp2k.read_input(path)
    cell = [[6.0, 0.0, 0.0], [3.0, 5.196152, 0.0], [0.0, 0.0, 20.0]]
    reference = Atoms("OHHPt", cell=cell, pbc=True)
    reference.set_scaled_positions([[0.1, 0.2, 0.5], [0.15, 0.2, 0.55], [0.05, 0.25, 0.55], [0.5, 0.5, 0.1]])
    assert inp.project == "slab"
    assert inp.atoms.get_chemical_symbols() == ["O", "H", "H", "Pt"]
    np.testing.assert_allclose(inp.atoms.cell[:], cell)
    np.testing.assert_allclose(inp.atoms.positions, reference.positions, atol=1e-12)
    assert inp.ldos_lists == ((0, 2, 3),)


# ---------------------------------------------------------------------------- MULTIPLE_UNIT_CELL
MUC = FIXTURES / "cp2k_replicated" / "muc_skew"


def test_multiple_unit_cell_replicates_as_cp2k_did():
    """A skewed unit cell of 3 atoms, replicated 2 x 1 x 3: the structure read from the input is
    the one CP2K 2023.1 printed (18 atoms, in its order, and the replicated cell)."""
    inp = cp2k.read_input(MUC / "h2_muc.inp")
    log = cp2k.read_log(MUC / "h2_muc.out")
    assert log.n_atoms == len(log.atoms) == len(inp.atoms) == 18
    assert inp.atoms.get_chemical_symbols() == log.atoms.get_chemical_symbols()
    np.testing.assert_allclose(inp.atoms.positions, log.atoms.positions, atol=1e-6)
    np.testing.assert_allclose(inp.atoms.cell[:], log.cell_A, atol=1e-3)  # CELL| printed to 1e-3 Å
    assert read_run(MUC).atoms is not None


def test_structure_with_another_atom_count_than_the_log_is_an_error(copy_dir):
    run_dir = copy_dir(MUC)
    text = (run_dir / "h2_muc.inp").read_text()
    (run_dir / "h2_muc.inp").write_text(text.replace("&TOPOLOGY\n      MULTIPLE_UNIT_CELL 2 1 3\n    &END TOPOLOGY\n", ""))
    assert len(cp2k.read_input(run_dir / "h2_muc.inp").atoms) == 3  # &CELL alone scales the cell only
    with pytest.raises(ParseError, match=r"h2_muc.inp: gives 3 atoms, the log h2_muc.out counts 18"):
        read_run(run_dir)


def test_topology_and_cell_replication_that_disagree_are_an_error(copy_dir):
    run_dir = copy_dir(MUC)
    path = run_dir / "h2_muc.inp"
    path.write_text(path.read_text().replace("&TOPOLOGY\n      MULTIPLE_UNIT_CELL 2 1 3", "&TOPOLOGY\n      MULTIPLE_UNIT_CELL 2 1 1"))
    with pytest.raises(ParseError, match="differs from &CELL MULTIPLE_UNIT_CELL"):
        cp2k.read_input(path)
    path.write_text(path.read_text().replace("MULTIPLE_UNIT_CELL 2 1 1", "MULTIPLE_UNIT_CELL 2 0 1"))
    with pytest.raises(ParseError, match="not three positive integers"):
        cp2k.read_input(path)


# ---------------------------------------------------------------------------- &EFIELD
def efield_input(tmp_path, efield_lines: str):
    text = (CP2K_FIXTURE / "nofield" / "water4.inp").read_text()
    text = text.replace("    &POISSON\n", f"    &EFIELD\n{efield_lines}    &END EFIELD\n    &POISSON\n", 1)
    assert "&EFIELD" in text
    path = tmp_path / "water4.inp"
    path.write_text(text)
    (tmp_path / "water4.xyz").write_text((CP2K_FIXTURE / "nofield" / "water4.xyz").read_text())
    return path


@pytest.mark.parametrize(
    "lines, expected_V_per_A",
    [
        # efield_utils.F (v2023.1:144, v2026.2:138 with cp_control_utils.F:3198): E0 = sqrt(I / 3.50944e16) a.u.
        ("      INTENSITY 3.50944E14\n      POLARISATION 0 0 2\n", [0, 0, 0.1 * FIELD_AU_V_PER_A]),
        # input_cp2k_field.F v2026.2:179-183: AMPLITUDE, default unit V/m (Vm-1); cp_units.F: VNM-1, VA-1
        ("      AMPLITUDE 1.0E9\n", [0, 0, 0.1]),
        ("      AMPLITUDE [Vnm-1] 1.06\n      POLARISATION 1 0 0\n", [0.106, 0, 0]),
        ("      AMPLITUDE [VA-1] 0.2\n      PHASE 1.0\n", [0, 0, -0.2]),  # cos(pi * PHASE)
        ("      AMPLITUDE [VA-1] 0.3\n      POLARISATION 0 0 0\n", [0.1, 0.1, 0.1]),  # make_field: pol = 1/3
    ],
)
def test_efield_intensity_and_amplitude_as_cp2k_defines_them(tmp_path, lines, expected_V_per_A):
    inp = cp2k.read_input(efield_input(tmp_path, lines))
    assert inp.applied_field_source == "&EFIELD"
    np.testing.assert_allclose(inp.applied_field_V_per_A, expected_V_per_A, atol=1e-9)


def test_efield_with_both_intensity_and_amplitude_is_an_error(tmp_path):
    with pytest.raises(ParseError, match="both INTENSITY and AMPLITUDE"):
        cp2k.read_input(efield_input(tmp_path, "      INTENSITY 1.0E12\n      AMPLITUDE 1.0E9\n"))
    with pytest.raises(ParseError, match=r"unit \[MV\] is not one"):
        cp2k.read_input(efield_input(tmp_path, "      AMPLITUDE [MV] 1.0\n"))
