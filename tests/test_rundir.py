"""Run directories → Run objects, for both programs and for what is missing or broken."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CP2K_FIXTURE, REPO

from dftpost.errors import DftpostError, MissingInputError, ParseError
from dftpost.io import cp2k, rundir
from dftpost.io.describe import describe_file
from dftpost.io.rundir import detect_code, find_run_dirs, read_run, sniff_log


def test_cp2k_fixture_run():
    run = read_run(CP2K_FIXTURE / "nofield")
    assert run.code == "cp2k" and run.finished and run.program_version == "2023.1"
    assert len(run.atoms) == 12 and run.atoms.get_chemical_formula() == "H8O4"
    assert run.pdos.labels == ("O", "H", "list1", "list2", "list3")
    o, h, all_water, lower, upper = run.pdos.projections
    assert o.atom_indices == tuple(i for i, s in enumerate(run.atoms.get_chemical_symbols()) if s == "O")
    assert h.atom_indices == tuple(i for i, s in enumerate(run.atoms.get_chemical_symbols()) if s == "H")
    assert all_water.atom_indices == tuple(range(12))
    assert set(lower.atom_indices) | set(upper.atom_indices) == set(range(12))
    z = run.atoms.positions[:, 2]
    assert z[list(lower.atom_indices)].mean() < z[list(upper.atom_indices)].mean()
    assert run.dipole_correction.axis == 2 and run.dipole_correction.dipole_e_A > 0
    assert run.applied_field_V_per_A is None
    assert {c.quantity for c in run.cubes} == {"electron_density", "electrostatic_potential"}
    assert run.missing == () and run.warnings == ()
    assert run.fermi_level_eV == pytest.approx(cp2k.read_log(CP2K_FIXTURE / "nofield/water4.out").fermi_level_eV, abs=3e-5)


def test_cp2k_field_twin_has_the_applied_field():
    run = read_run(CP2K_FIXTURE / "field")
    np.testing.assert_allclose(run.applied_field_V_per_A, [0, 0, 0.1], atol=1e-9)


def test_fhi_aims_runs(realdata):
    run = read_run(realdata / "fhiaims/aimstools/Si_closed_shell_soc")
    assert run.code == "fhi-aims" and run.program_version == "201103" and run.finished
    assert run.pdos.labels == ("Si0001", "Si0002") and len(run.atoms) == 2
    assert run.fermi_level_eV == pytest.approx(-5.019886)  # the SOC set is preferred
    field = read_run(realdata / "fhiaims/aimstools/MoS2_homogeneous_field")
    np.testing.assert_allclose(field.applied_field_V_per_A, [0, 0, 0.1])
    assert "pdos (atom_proj_dos*.dat)" in field.missing


def test_a_log_path_reads_its_directory(realdata):
    run = read_run(realdata / "fhiaims/nomad_electronic_parsers/Fe_band_spinpol/Fe_band_structure_dos_spin.out")
    assert run.code == "fhi-aims" and run.pdos.n_spin == 2


def test_nothing_recognisable(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(MissingInputError, match="nothing recognisable") as info:
        read_run(tmp_path)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(MissingInputError, match="no such file"):
        read_run(tmp_path / "absent")


def test_unfinished_run_is_reported(copy_dir):
    run_dir = copy_dir(CP2K_FIXTURE / "nofield")
    log = run_dir / "water4.out"
    log.write_text(log.read_text()[:30000])
    run = read_run(run_dir)
    assert not run.finished
    assert any("did not end normally" in w and str(log) in w for w in run.warnings)


def test_missing_pieces_are_listed(copy_dir):
    run_dir = copy_dir(CP2K_FIXTURE / "nofield")
    for p in run_dir.glob("*.pdos"):
        p.unlink()
    (run_dir / "water4.inp").unlink()
    run = read_run(run_dir)
    assert "pdos (.pdos files)" in run.missing and "input (.inp)" in run.missing
    assert run.atoms is not None  # from the log's coordinate table


def test_damaged_file_in_a_run_names_the_file(copy_dir):
    run_dir = copy_dir(CP2K_FIXTURE / "nofield")
    bad = run_dir / "water4-k2-1.pdos"
    bad.write_text(bad.read_text()[:200])
    with pytest.raises(ParseError) as info:
        read_run(run_dir)
    assert str(bad) in str(info.value)


def test_describe_single_files(realdata):
    assert describe_file(CP2K_FIXTURE / "nofield/water4-k1-1.pdos")["format"] == "cp2k-pdos"
    cube = describe_file(CP2K_FIXTURE / "nofield/water4-v_hartree-1_0.cube")
    assert cube["cubes"][0]["units"] == "V" and cube["code"] == "cp2k"
    log = describe_file(CP2K_FIXTURE / "field/water4.out")
    assert log["finished"] and log["dipole_correction"]["dipole_e_A"] > 0
    aims_out = describe_file(realdata / "fhiaims/aimstools/MoS2_homogeneous_field/aims.out")
    assert aims_out["code"] == "fhi-aims" and aims_out["applied_field_V_per_A"] == [0.0, 0.0, 0.1]
    with pytest.raises(DftpostError, match="not a file dftpost knows"):
        describe_file(realdata / "fhiaims/aimstools/MoS2_homogeneous_field/control.in")


def test_two_programs_in_one_directory_name_both_logs_and_are_not_skipped(copy_dir, realdata, tmp_path):
    parent = tmp_path / "batch"
    parent.mkdir()
    run_dir = copy_dir(CP2K_FIXTURE / "nofield", "batch/both")
    (run_dir / "aims.out").write_text((realdata / "fhiaims/aimstools/hBN_mlk_no_soc/aims.out").read_text())
    assert find_run_dirs([parent]) == [run_dir.resolve()]  # found, not skipped as "no run"
    with pytest.raises(ParseError, match=r"FHI-aims log \(aims.out\) and a CP2K log \(water4.out\)"):
        read_run(run_dir)


def test_cp2k_log_after_a_long_scheduler_preamble(copy_dir):
    """Half a megabyte of SLURM cpu-bind lines before CP2K's banner."""
    run_dir = copy_dir(CP2K_FIXTURE / "nofield")
    log = run_dir / "water4.out"
    preamble = "".join(
        f"cpu-bind=MASK - nid{node:06d}, task {task:3d} {task:3d} [{40000 + task}]: mask 0x{1 << (task % 64):x} set\n"
        for node in range(8) for task in range(128)
    ) * 7
    assert 450_000 < len(preamble) < 600_000
    log.write_text(preamble + log.read_text())
    assert sniff_log(log) == "cp2k" and detect_code(run_dir) == "cp2k"
    original = cp2k.read_log(CP2K_FIXTURE / "nofield/water4.out")
    parsed = cp2k.read_log(log)
    assert parsed.program_version == original.program_version and parsed.program_version.startswith("2023.1")
    assert parsed.finished and parsed.fermi_level_eV == original.fermi_level_eV
    run = read_run(run_dir)
    assert run.files["log"] == (log,) and run.finished and run.program_version == original.program_version
    assert describe_file(log)["format"] == "cp2k-log"


def test_sniff_reads_only_up_to_the_banner(tmp_path, monkeypatch):
    """A log whose banner comes after 3 MB is recognised; after it, nothing more is read."""
    log = tmp_path / "big.out"
    with open(log, "w") as f:
        f.write("srun: cpu-bind line\n" * 150_000)
        f.write(" DBCSR| CPU Multiplication driver  XSMM\n CP2K| version string:  CP2K version 2026.2\n")
        f.write("x" * 5_000_000)
    reads = []
    real_open = rundir.open_regular

    def counting_open(*args, **kwargs):
        handle = real_open(*args, **kwargs)
        read = handle.read
        handle_read = lambda n=-1: (reads.append(n), read(n))[1]  # noqa: E731
        return type("H", (), {"read": staticmethod(handle_read), "__enter__": lambda s: s,
                              "__exit__": lambda s, *a: handle.close()})()

    monkeypatch.setattr(rundir, "open_regular", counting_open)
    assert sniff_log(log) == "cp2k"
    monkeypatch.undo()
    assert 3 <= len(reads) <= 4  # 3 MB of preamble: blocks of 1 MiB up to the banner


def test_a_log_without_suffix_and_pdos_files_of_a_named_print_key_are_read(copy_dir):
    """``cp2k.psmp -i water4.inp -o output`` leaves a log named ``output``; a PDOS print key with
    ``FILENAME PDOS`` writes ``water4-PDOS-k1-1.pdos``: the run reads as the original does."""
    original = read_run(CP2K_FIXTURE / "nofield")
    run_dir = copy_dir(CP2K_FIXTURE / "nofield", "renamed")
    (run_dir / "water4.out").rename(run_dir / "output")
    for p in run_dir.glob("water4-*.pdos"):
        p.rename(run_dir / p.name.replace("water4-", "water4-PDOS-"))
    run = read_run(run_dir)
    assert run.files["log"] == (run_dir / "output",)
    assert [p.label for p in run.pdos.projections] == [p.label for p in original.pdos.projections]
    assert np.array_equal(run.pdos.values, original.pdos.values)
    assert run.fermi_level_eV == original.fermi_level_eV and run.finished


def test_md_structure_is_the_last_geometry_of_the_trajectory(copy_dir):
    """A CP2K MD run: the structure is the last frame of <project>-pos-1.xyz (the PDoS and cubes
    are written for it), with the input's cell, and a warning says so."""
    from ase.io import read as ase_read

    folder = REPO / "tests" / "data" / "real" / "cp2k" / "nomad_h2o_md_2.6.2"
    run = read_run(copy_dir(folder, "md"))
    last = ase_read(folder / "H2O-32-pos-1.xyz", index=-1)
    first = ase_read(folder / "H2O-32-pos-1.xyz", index=0)
    assert np.allclose(run.atoms.positions, last.positions) and not np.allclose(run.atoms.positions, first.positions)
    assert any("last geometry of H2O-32-pos-1.xyz" in w for w in run.warnings)
