"""``dftpost generate``: frame selection, CP2K and FHI-aims inputs, job scripts, the manifest,
bad input, and (marked ``cp2k``) the whole way through real CP2K runs to ``dftpost gap`` and
``dftpost field-profile``."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import fcc111, molecule
from ase.io import read, write
from conftest import FIXTURES
from dftpost.cli.main import app
from typer.testing import CliRunner

from dftpost.analysis.dipole import fixed_charge_dipole
from dftpost.analysis.water_selection import water_atoms, water_pdos
from dftpost.errors import DftpostError
from dftpost.inputs import (
    AimsSettings,
    Cp2kSettings,
    choose,
    cp2k_input,
    generate_campaign,
    parse_selection,
    prepare_slab,
    render,
    resolve_species_dir,
    select_frames,
)
from dftpost.inputs.cp2k import without_comments
from dftpost.io.cp2k import read_input, read_input_sections
from dftpost.io.rundir import read_run
from dftpost.store import read_arrays, read_table

sys.path.insert(0, str(FIXTURES / "cp2k"))
import make_fixtures  # noqa: E402  (the fixtures' geometry builders: seeded 4-water frames)

runner = CliRunner()
CP2K = shutil.which("cp2k.psmp")


# ----------------------------------------------------------------------------- helpers
def water_frames(z_cell: float = 15.0) -> list[Atoms]:
    """Frames 0, 1, 2 of the CP2K fixtures (4 waters; all H down, net ~0, H up) in a 6 × 6 ×
    ``z_cell`` Å cell, moved down along z by different amounts: the last crosses z = 0."""
    slab = make_fixtures.build_slab()
    frames = []
    for k in (0, 1, 2):
        frame = make_fixtures.build_frame(k, slab)
        frame.set_cell([6.0, 6.0, z_cell])
        frame.positions[:, 2] -= 1.5 + 3.0 * k
        frames.append(frame)
    return frames


@pytest.fixture
def trajectory(tmp_path) -> Path:
    path = tmp_path / "md.extxyz"
    write(path, water_frames(), format="extxyz")
    return path


def metal_water_frame() -> Atoms:
    """A Cu(111) slab with 4 waters above it: 2 within 3.5 Å of the top Cu layer, 2 beyond
    (in two layers)."""
    cu = fcc111("Cu", size=(2, 2, 3), vacuum=0.0, orthogonal=True)
    cell = cu.cell[:].copy()
    cell[2, 2] = 30.0
    cu.set_cell(cell)
    top = cu.positions[:, 2].max()
    atoms = cu.copy()
    for k, (x, y, dz) in enumerate([(1.0, 1.0, 2.4), (3.5, 2.5, 2.6), (1.5, 3.0, 5.6), (4.0, 0.8, 9.0)]):
        w = molecule("H2O")
        w.rotate(30 * k, "z")
        w.translate([x, y, top + dz] - w.positions[0])
        atoms += w
    atoms.pbc = True
    atoms.info = {}
    return atoms


def fake_species(root: Path, levels=("light", "intermediate"), elements=(("H", 1), ("O", 8), ("Cu", 29))) -> Path:
    """A species_defaults/defaults_2020 tree with minimal fake files named as FHI-aims names
    them (``01_H_default`` ...), one folder per level."""
    base = root / "species_defaults" / "defaults_2020"
    for level in levels:
        (base / level).mkdir(parents=True)
        for symbol, z in elements:
            (base / level / f"{z:02d}_{symbol}_default").write_text(
                f"################################################################################\n"
                f"#  FAKE {level} defaults for {symbol}, for tests only (not FHI-aims' numbers)\n"
                f"################################################################################\n"
                f"  species        {symbol}\n"
                f"    nucleus             {z}\n"
                f"    l_hartree           4\n"
                f"#     fake {level} block end {symbol}\n"
            )
    return base


def tree_listing(path: Path) -> dict[str, str]:
    """Every file below a folder and the SHA-256 of its bytes."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.endswith(".partial")]


# ----------------------------------------------------------------------------- selection
def test_selection_syntax():
    assert parse_selection(None).kind == "all"
    assert parse_selection("indices:0,5,-1").values == (0, 5, -1)
    assert parse_selection("stride:100").values == (100,)
    assert parse_selection("dipole-bins:10:2").values == (10, 2)
    for bad in ("every:3", "stride:0", "stride:x", "indices:1,1", "dipole-extremes:1:2", "dipole-bins:0", "all:3"):
        with pytest.raises(DftpostError):
            parse_selection(bad)


def test_choose_by_dipole_index_and_stride():
    numbers = np.arange(10, 20)
    mu = np.array([0.03, -0.008, 0.022, -0.04, 0.0, 0.012, -0.021, 0.05, -0.03, 0.038])
    picked = lambda text: [c.number for c in choose(parse_selection(text), numbers, mu)]  # noqa: E731
    assert picked("dipole-extremes:2") == [13, 17, 18, 19]  # -0.04, -0.03 and +0.05, +0.038
    # sorted μ: 13 18 16 11 14 15 12 10 19 17; quantiles 0.1 … 0.9 are ranks 1, 3, 5, 7, 9
    assert picked("dipole-quantiles:5") == [10, 11, 15, 17, 18]
    assert len(picked("dipole-quantiles:10")) == 10
    # 3 bins of 0.03 e/Å from -0.04: the frames nearest the centres -0.025, +0.005, +0.035
    assert picked("dipole-bins:3") == [14, 16, 19]
    assert picked("dipole-bins:3:2") == [10, 14, 15, 16, 18, 19]
    assert picked("stride:4") == [10, 14, 18]
    assert picked("indices:12,-1") == [12, 19]
    assert picked("all") == list(numbers)
    assert [c.reason for c in choose(parse_selection("dipole-extremes:1"), numbers, mu)] == [
        "most negative μ_z #1", "most positive μ_z #1"]
    with pytest.raises(DftpostError, match="frame 25 requested"):
        picked("indices:25")
    with pytest.raises(DftpostError, match="only 4 of the 10 frames have a negative"):
        choose(parse_selection("dipole-extremes:5"), numbers, mu)
    with pytest.raises(DftpostError, match="11 quantiles requested of 10 frames"):
        picked("dipole-quantiles:11")


def test_select_frames_streams_and_matches_the_fixed_charge_dipole(trajectory):
    chosen = select_frames(trajectory, "dipole-extremes:1")
    assert [f.number for f in chosen.frames] == [0, 2]  # the negative and the most positive
    assert chosen.n_read == 3
    for frame in chosen.frames:
        atoms = read(trajectory, index=frame.number)
        mu = fixed_charge_dipole(atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc).total_e_per_A
        assert frame.dipole.total_e_per_A == pytest.approx(mu, abs=1e-15)
        np.testing.assert_array_equal(frame.atoms.positions, atoms.positions)
    assert [f.number for f in select_frames(trajectory, "stride:2").frames] == [0, 2]
    assert [f.number for f in select_frames(trajectory, "indices:-1", index="1:").frames] == [2]
    with pytest.raises(DftpostError, match=str(trajectory)):
        select_frames(trajectory, "indices:0", index="1:")


# ----------------------------------------------------------------------------- slab and CP2K
def test_prepared_slab_is_centred_on_the_vacuum_and_lists_the_gap_water(trajectory):
    frame = water_frames()[2]  # crosses z = 0
    assert frame.positions[:, 2].min() < 0
    slab = prepare_slab(frame)
    z = slab.atoms.positions[:, 2]
    assert z.min() > 5.0 and z.max() < 10.0  # the 11 Å of vacuum split around z = 0 = 15 Å
    assert z.min() == pytest.approx(15.0 - z.max(), abs=1e-9)
    np.testing.assert_allclose(slab.atoms.positions[:, :2], frame.positions[:, :2])
    lists = slab.pdos_lists()
    assert lists[0].indices == tuple(range(12))  # water alone: all O and H
    assert len(lists) >= 3 and sorted(i for a in lists[1:] for i in a.indices) == list(range(12))
    with pytest.raises(DftpostError, match="vacuum gap along z is"):
        prepare_slab(frame, min_vacuum_A=12.0)


def test_generated_cp2k_input_reads_back_and_selects_what_gap_selects(tmp_path):
    atoms = metal_water_frame()
    write(tmp_path / "cu.extxyz", atoms)
    campaign = generate_campaign(tmp_path / "cu.extxyz", tmp_path / "camp", "cp2k", field_V_per_A=0.1)
    frame = campaign.manifest["frames"][0]
    run_dirs = campaign.run_directories
    assert [d.name for d in run_dirs] == ["nofield", "field"]
    for run_dir in run_dirs:
        inp = read_input(run_dir / "frame.inp")
        assert inp.surface_dipole_correction and inp.surface_dipole_axis == 2 and inp.surface_dipole_position_A == 0.0
        # the rule of dftpost gap, on the structure dftpost reads from this input
        water, top = water_atoms(inp.atoms.numbers, inp.atoms.positions, inp.atoms.cell[:], 3.5)
        assert inp.ldos_lists[0] == tuple(water) and len(water) == 6  # 2 waters beyond 3.5 Å
        assert [i + 1 for i in water] == frame["water_atoms"]
        layers = inp.ldos_lists[1:]
        assert len(layers) == 2 and all(set(layer) < set(water) for layer in layers)
        assert sorted(sum(layers, ())) == sorted(water)
        text = (run_dir / "frame.inp").read_text()
        assert "&SMEAR ON" in text and "SURF_DIP_POS 0.0" in text and "NLUMO -1" in text
        assert "METHOD BROYDEN_MIXING\n        ALPHA 0.1\n        BETA 1.5\n        NBROYDEN 8\n" in text  # metal
        assert "&V_HARTREE_CUBE" in text and "&E_DENSITY_CUBE" in text
        # the vacuum around z = 0: no atom within 5 Å of the boundary
        z = inp.atoms.positions[:, 2]
        assert z.min() > 5.0 and z.max() < 25.0
        tree = read_input_sections(run_dir / "frame.inp")
        assert tree.find("FORCE_EVAL", "SUBSYS", "KIND")[0].parameter == "H"
    field = read_input(run_dirs[1] / "frame.inp").applied_field_V_per_A
    np.testing.assert_allclose(field, [0, 0, 0.1], atol=1e-12)
    assert read_input(run_dirs[0] / "frame.inp").applied_field_V_per_A is None


def test_cp2k_tree_renders_and_parses_back(trajectory):
    slab = prepare_slab(water_frames()[0])
    tree = cp2k_input(slab.atoms, Cp2kSettings(kinds=(("O", "TZV2P-MOLOPT-GTH", "GTH-PBE-q6"),)), coord_file="x.xyz",
                      ldos_lists=slab.pdos_lists(), field_V_per_A=-0.05)
    text = render(tree)
    path = trajectory.parent / "x.inp"
    path.write_text(text)
    assert read_input_sections(path) == without_comments(tree)
    assert "BASIS_SET TZV2P-MOLOPT-GTH" in text and "POTENTIAL GTH-PBE\n" in text  # H: the alias
    assert "&SMEAR" not in text and "METHOD DIRECT_P_MIXING" in text


def test_make_fixtures_uses_the_generator_and_renders_the_committed_inputs():
    """One source for CP2K inputs: the fixture script's inputs come from dftpost.inputs.cp2k and
    are byte for byte the committed ones (which real CP2K ran)."""
    slab = make_fixtures.build_slab()
    n_occ = 16
    lists = [("list1 = all water", 1, 12), ("list2 = lower molecules", 1, 6), ("list3 = upper molecules", 7, 12)]
    for run in make_fixtures.RUNS:
        text = make_fixtures.make_input(slab, xyz_name="water4.xyz", n_occ=n_occ, ldos_lists=lists, **make_fixtures.run_options(run))
        assert text == (FIXTURES / "cp2k" / "water4_slab" / run / "water4.inp").read_text(), run
    for k in range(len(make_fixtures.FRAME_SPECS)):
        frame = make_fixtures.build_frame(k, slab)
        text = make_fixtures.make_input(frame, xyz_name="water4.xyz", n_occ=n_occ, ldos_lists=[], field_v_per_a=None,
                                        cube_stride=2, v_hartree_cube=False)
        assert text == (FIXTURES / "cp2k" / "water4_frames" / f"frame_{k}" / "water4.inp").read_text(), k


# ----------------------------------------------------------------------------- FHI-aims
def test_aims_inputs_read_back_with_ase_and_hold_keywords_and_species(tmp_path, trajectory, monkeypatch):
    species = fake_species(tmp_path)
    monkeypatch.delenv("AIMS_SPECIES_DIR", raising=False)
    campaign = generate_campaign(trajectory, tmp_path / "aims", "aims", "indices:2", field_V_per_A=0.1, species_dir=species)
    frame = campaign.manifest["frames"][0]
    slab = prepare_slab(read(trajectory, index=2))
    for run_dir, field in zip(campaign.run_directories, (None, 0.1)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            back = read(run_dir / "geometry.in", format="aims")
        np.testing.assert_allclose(back.positions, slab.atoms.positions, atol=1e-8, rtol=0)
        np.testing.assert_allclose(back.cell[:], slab.atoms.cell[:], atol=1e-12)
        assert back.get_chemical_symbols() == slab.atoms.get_chemical_symbols()
        geometry = (run_dir / "geometry.in").read_text()
        assert ("homogeneous_field 0.0 0.0 0.1" in geometry) == (field is not None)
        control = (run_dir / "control.in").read_text()
        lines = [line.split() for line in control.splitlines() if line.strip() and not line.startswith("#")]
        keywords = {parts[0]: parts[1:] for parts in lines}
        assert keywords["xc"] == ["pbe"] and keywords["relativistic"] == ["none"]
        assert keywords["use_dipole_correction"] == [".true."] and keywords["set_vacuum_level"] == ["0.0"]
        assert keywords["k_grid"] == ["5", "5", "1"] == [str(k) for k in frame["k_grid"]]
        outputs = [parts[1:] for parts in lines if parts[0] == "output"]
        assert ["atom_proj_dos", "-20", "10", "1501", "0.1"] in outputs
        assert ["cube", "hartree_potential"] in outputs and ["cube", "total_density"] in outputs
        assert sum(1 for parts in lines if parts[:2] == ["cube", "origin"]) == 2  # each cube its grid
        # the species blocks of the intermediate level, verbatim
        for symbol, z in (("O", 8), ("H", 1)):
            block = (species / "intermediate" / f"{z:02d}_{symbol}_default").read_text()
            assert block in control
        assert "light defaults" not in control
    # the dos window covers the paper's: 1001 points from -20 eV (0.02 eV spacing or finer)
    e_min, e_max, n, _sigma = AimsSettings().dos
    assert e_min <= -20 and (e_max - e_min) / (n - 1) <= 0.02 + 1e-12


def test_species_directory_resolution(tmp_path, monkeypatch):
    species = fake_species(tmp_path, elements=(("H", 1), ("O", 8)))
    assert resolve_species_dir(species, "intermediate", ["H", "O"]) == species / "intermediate"
    assert resolve_species_dir(species / "intermediate", "intermediate", ["H"]) == species / "intermediate"
    monkeypatch.setenv("AIMS_SPECIES_DIR", str(species / "intermediate"))
    assert resolve_species_dir(None, "intermediate", ["O"]) == species / "intermediate"
    with pytest.raises(DftpostError, match="'light' species defaults"):
        resolve_species_dir(species / "light", "intermediate", ["H"])
    with pytest.raises(DftpostError, match="29_Cu_default"):
        resolve_species_dir(species, "intermediate", ["Cu"])
    monkeypatch.delenv("AIMS_SPECIES_DIR")
    with pytest.raises(DftpostError, match="AIMS_SPECIES_DIR"):
        resolve_species_dir(None, "intermediate", ["H"])


# ----------------------------------------------------------------------------- manifest, jobs
def test_manifest_records_source_frames_and_parameters(trajectory, tmp_path):
    campaign = generate_campaign(trajectory, tmp_path / "camp", "cp2k", "dipole-quantiles:3", d_cut_A=3.0, q_o=-0.6)
    m = json.loads((tmp_path / "camp" / "manifest.json").read_text())
    assert m == json.loads(json.dumps(campaign.manifest))
    digest = hashlib.sha256(trajectory.read_bytes()).hexdigest()
    assert m["trajectory"]["sha256"] == digest and m["trajectory"]["file"] == str(trajectory.resolve())
    assert m["selection"] == {"spec": "dipole-quantiles:3", "index": ":", "n_frames_considered": 3, "n_frames_chosen": 3}
    assert m["gap"]["d_cut_A"] == 3.0 and m["dipole"]["q_o_e"] == -0.6 and m["slab"]["d_cut_A"] == 3.0
    assert m["settings"]["cutoff_Ry"] == 400 and m["settings"]["mixing"] == "auto"
    for frame, atoms in zip(m["frames"], read(trajectory, index=":")):
        assert frame["source"] == {"file": str(trajectory.resolve()), "sha256": digest, "index": frame["index"],
                                   "structure_sha256": frame["source"]["structure_sha256"]}
        mu = fixed_charge_dipole(atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc, q_o=-0.6).total_e_per_A
        assert frame["dipole_e_per_A"] == pytest.approx(mu, abs=1e-15)
        assert frame["census"]["H2O"] == 4 and frame["ldos_lists"][0]["atoms"] == list(range(1, 13))
        run = frame["runs"][0]
        assert (tmp_path / "camp" / run["dir"] / run["input"]).is_file()
    script = (tmp_path / "camp" / "run_task.sh").read_text()
    assert "--d-cut 3.0 --q-o -0.6 --workers 1 --wait 600" in script
    assert (tmp_path / "camp" / "tasks.txt").read_text().splitlines() == [f"frame_{i:06d}" for i in range(3)]
    for name in ("run_task.sh", "run_all.sh", "submit.slurm"):
        path = tmp_path / "camp" / name
        assert path.stat().st_mode & stat.S_IXUSR
        assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    slurm = (tmp_path / "camp" / "submit.slurm").read_text()
    assert "#SBATCH --array=0-2" in slurm and "srun cp2k.psmp" in slurm
    assert leftovers(tmp_path) == []


FAKE_PROGRAM = """
import pathlib, sys
args = sys.argv[1:]
log = pathlib.Path(args[args.index("-o") + 1])
with open(pathlib.Path(sys.argv[0]).parent / "calls.txt", "a") as f:
    f.write(str(pathlib.Path.cwd()) + "\\n")
import os
log.write_text("aborted\\n" if os.environ.get("FAKE_FAIL") else "fake CP2K\\n PROGRAM ENDED AT fake\\n")
"""
FAKE_DFTPOST = """
import pathlib, sys
with open(pathlib.Path(sys.argv[0]).parent / "dftpost_calls.txt", "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
"""


def test_job_scripts_run_each_frame_once_then_gap(trajectory, tmp_path):
    """run_all.sh with stand-ins for CP2K and dftpost: every run is started once; a second pass
    starts none (their logs say they ended) and calls gap again (which skips stored runs)."""
    campaign = generate_campaign(trajectory, tmp_path / "camp", "cp2k", "indices:0,2", field_V_per_A=0.05)
    (tmp_path / "fake_cp2k.py").write_text(FAKE_PROGRAM)
    (tmp_path / "fake_dftpost.py").write_text(FAKE_DFTPOST)
    env = dict(os.environ, DFT_CMD=f"{sys.executable} {tmp_path / 'fake_cp2k.py'}",
               DFTPOST=f"{sys.executable} {tmp_path / 'fake_dftpost.py'}")
    for _ in range(2):
        done = subprocess.run(["bash", str(tmp_path / "camp" / "run_all.sh")], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls.txt").read_text().split()
    assert sorted(calls) == sorted(str(d) for d in campaign.run_directories)  # once each
    gaps = [line for line in (tmp_path / "dftpost_calls.txt").read_text().splitlines() if line.startswith("gap")]
    assert len(gaps) == 4
    first = gaps[0].split()
    assert first[1:3] == [str(campaign.run_directories[0]), str(campaign.run_directories[1])]
    assert first[3:] == ["--out", str(tmp_path / "camp" / "results.h5"), "--d-cut", "3.5", "--q-o", "-0.5562", "--workers", "1",
                         "--wait", "600"]
    profiles = [line for line in (tmp_path / "dftpost_calls.txt").read_text().splitlines() if line.startswith("field-profile")]
    assert len(profiles) == 2  # once per frame (the json marks it done)


def test_a_failed_run_is_reported_and_run_again(trajectory, tmp_path):
    generate_campaign(trajectory, tmp_path / "fail", "cp2k", "indices:1")
    (tmp_path / "fake_cp2k.py").write_text(FAKE_PROGRAM)
    (tmp_path / "fake_dftpost.py").write_text(FAKE_DFTPOST)
    env = dict(os.environ, DFT_CMD=f"{sys.executable} {tmp_path / 'fake_cp2k.py'}",
               DFTPOST=f"{sys.executable} {tmp_path / 'fake_dftpost.py'}", FAKE_FAIL="1")
    for attempt in (1, 2):
        done = subprocess.run(["bash", str(tmp_path / "fail" / "run_task.sh"), "0"], env=env, capture_output=True, text=True)
        assert done.returncode == 1 and "did not end normally" in done.stderr
        assert len((tmp_path / "calls.txt").read_text().split()) == attempt
    assert (tmp_path / "fail" / "frame_000001" / "frame.out.previous").exists()


# ----------------------------------------------------------------------------- CLI, bad input
def test_cli_generate_and_again(trajectory, tmp_path):
    out = tmp_path / "camp"
    result = runner.invoke(app, ["generate", str(trajectory), str(out), "--code", "cp2k", "--select", "dipole-extremes:1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_frames"] == 2 and data["existing"] is False and [f["index"] for f in data["frames"]] == [0, 2]
    before = tree_listing(out)
    again = runner.invoke(app, ["generate", str(trajectory), str(out), "--code", "cp2k", "--select", "dipole-extremes:1"])
    assert again.exit_code == 0 and "already holds this campaign" in again.stdout
    assert tree_listing(out) == before


@pytest.mark.parametrize(
    "case",
    ["missing frames", "no species", "missing species file", "other campaign", "foreign folder", "no vacuum", "no trajectory"],
)
def test_cli_bad_input_exits_1_naming_the_file_and_writes_nothing(case, trajectory, tmp_path, monkeypatch):
    monkeypatch.delenv("AIMS_SPECIES_DIR", raising=False)
    out = tmp_path / "camp"
    args = ["generate", str(trajectory), str(out), "--code", "cp2k"]
    named = str(trajectory)
    if case == "missing frames":
        args += ["--select", "indices:0,7"]
    elif case == "no species":
        args[-1] = "aims"
        named = "AIMS_SPECIES_DIR"
    elif case == "missing species file":
        species = fake_species(tmp_path, elements=(("H", 1),))
        args = ["generate", str(trajectory), str(out), "--code", "aims", "--species-dir", str(species)]
        named = str(species / "intermediate" / "08_O_default")
    elif case == "other campaign":
        assert runner.invoke(app, [*args, "--select", "indices:0"]).exit_code == 0
        args += ["--select", "indices:1"]
        named = str(out)
    elif case == "foreign folder":
        out.mkdir()
        (out / "notes.txt").write_text("mine\n")
        named = str(out)
    elif case == "no vacuum":
        frames = water_frames(z_cell=12.0)
        write(trajectory, frames, format="extxyz")
        args += ["--select", "indices:1"]
        named = f"{trajectory}: frame 1: the widest vacuum gap"
    elif case == "no trajectory":
        args[1] = named = str(tmp_path / "absent.extxyz")
    before = tree_listing(out) if out.exists() else None
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and message.startswith("error:") and named in message, message
    assert (tree_listing(out) if out.exists() else None) == before  # nothing written, nothing changed
    assert leftovers(tmp_path) == []


def test_cli_usage_errors_exit_2(trajectory, tmp_path):
    for extra in (["--select", "every:2"], ["--code", "vasp"], ["--k-grid", "4,4"], ["--kind", "Cu"], ["--mixing", "FAST"],
                  ["--cutoff", "-1"], ["--dft-command", "srun cp2k.psmp; rm -rf /"], ["--smearing", "0"]):
        args = ["generate", str(trajectory), str(tmp_path / "camp"), "--code", "cp2k", *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (extra, result.output)
    assert not (tmp_path / "camp").exists()


# ----------------------------------------------------------------------------- real CP2K
COARSE = ["--cutoff", "200", "--rel-cutoff", "30"]  # coarse grid: ~20 s per run on 2 cores


def _dft_command() -> str:
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        return "cp2k.psmp"
    root = ["--allow-run-as-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return " ".join(["mpirun", *root, "-np", "2", "cp2k.psmp"])


def _run_campaign(directory: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", DFT_CMD=_dft_command(), DFTPOST=f"{sys.executable} -m dftpost.cli.main")
    return subprocess.run(["bash", str(directory / "run_all.sh")], env=env, capture_output=True, text=True, timeout=900)


def _cp2k_seconds(log: Path) -> float:
    line = next(line for line in log.read_text().splitlines() if line.startswith(" CP2K  "))
    return float(line.split()[-1])


@pytest.mark.cp2k
@pytest.mark.slow
@pytest.mark.skipif(CP2K is None, reason="CP2K (cp2k.psmp) is not installed")
def test_generated_cp2k_campaign_runs_and_gap_stores_every_frame(trajectory, tmp_path):
    out = tmp_path / "camp"
    result = runner.invoke(app, ["generate", str(trajectory), str(out), "--code", "cp2k", "--select", "dipole-quantiles:3", *COARSE])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    start = time.perf_counter()
    done = _run_campaign(out)
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    seconds = [_cp2k_seconds(out / f["runs"][0]["dir"] / "frame.out") for f in manifest["frames"]]
    print(f"\n3 frames: run_all.sh {wall:.1f} s wall, CP2K {', '.join(f'{s:.1f}' for s in seconds)} s per run")

    table = read_table(out / "results.h5", "gap")
    runs = [str(out / f["runs"][0]["dir"]) for f in manifest["frames"]]
    assert sorted(table["run"]) == sorted(runs)  # one row per frame
    assert list(table["status"]) == ["ok"] * 3
    assert np.isfinite(table["gap_eV"]).all() and (table["gap_eV"] > 3.0).all()
    assert not table["metallized"].any()
    for k, run in enumerate(table["run"]):
        frame = next(f for f in manifest["frames"] if str(out / f["runs"][0]["dir"]) == run)
        assert table["dipole_e_per_A"][k] == pytest.approx(frame["dipole_e_per_A"], abs=1e-6)
        assert table["n_water_atoms"][k] == len(frame["water_atoms"])
        # gap's water PDoS is the generated list: found without the kind fallback
        loaded = read_run(run)
        water = np.array(frame["water_atoms"]) - 1
        assert water_pdos(loaded.pdos, water, water_only_structure=False).projections[0].label == "water"
        lists = [p for p in loaded.pdos.projections if p.kind == "list"]
        assert [p.atom_indices for p in lists] == [tuple(i - 1 for i in a["atoms"]) for a in frame["ldos_lists"]]
        arrays = read_arrays(out / "results.h5", "gap", k)
        assert arrays["z_resolved_dos"].shape[0] == len(frame["ldos_lists"]) - 1  # one bin per layer list

    # again: nothing is run twice, nothing stored twice
    logs = [out / f["runs"][0]["dir"] / "frame.out" for f in manifest["frames"]]
    stamps = [log.stat().st_mtime_ns for log in logs]
    again = _run_campaign(out)
    assert again.returncode == 0 and again.stdout.count("not run again") == 3
    assert [log.stat().st_mtime_ns for log in logs] == stamps
    assert len(read_table(out / "results.h5", "gap")["run"]) == 3


@pytest.mark.cp2k
@pytest.mark.slow
@pytest.mark.skipif(CP2K is None, reason="CP2K (cp2k.psmp) is not installed")
def test_generated_field_pair_gives_the_applied_field_in_vacuum(trajectory, tmp_path):
    out = tmp_path / "field"
    result = runner.invoke(app, ["generate", str(trajectory), str(out), "--code", "cp2k", "--select", "indices:2", "--field", "0.1", *COARSE])
    assert result.exit_code == 0, result.output
    start = time.perf_counter()
    done = _run_campaign(out)
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    nofield, field = out / "frame_000002" / "nofield", out / "frame_000002" / "field"
    print(f"\nfield pair: run_all.sh {wall:.1f} s wall, CP2K {_cp2k_seconds(nofield / 'frame.out'):.1f} + "
          f"{_cp2k_seconds(field / 'frame.out'):.1f} s")
    profile = runner.invoke(app, ["field-profile", str(nofield), str(field), "--out", str(tmp_path / "f.h5"), "--json"])
    assert profile.exit_code == 0, profile.output
    data = json.loads(profile.stdout)
    assert data["applied_field_V_per_A"] == pytest.approx(0.1, rel=1e-6)
    for e in data["field_vacuum_V_per_A"]:
        assert e == pytest.approx(0.1, rel=0.02)
    assert not data["metallic_water"] and 0 < data["field_water_V_per_A"] < 0.1
    # the task ran field-profile too, into the frame's own file
    in_task = json.loads((out / "frame_000002" / "field_profile.json").read_text())
    assert in_task["field_vacuum_V_per_A"] == pytest.approx(data["field_vacuum_V_per_A"], rel=1e-9)
    assert sorted(read_table(out / "results.h5", "gap")["run"]) == sorted([str(nofield), str(field)])


@pytest.mark.cp2k
@pytest.mark.slow
@pytest.mark.skipif(CP2K is None, reason="CP2K (cp2k.psmp) is not installed")
def test_default_mixing_runs_a_frame_where_broyden_aborts(tmp_path, monkeypatch):
    """The pitfall of the fixtures: lower layer H up, upper layer H down (seed 20240705). With
    Broyden mixing CP2K 2023.1 aborts ("Dipole correction needs more vacuum space above the
    surface"); the generator's default (direct density-matrix mixing) converges. The failed
    run is stored as an error row."""
    spec = ("lower H up, upper H down", 20240705, ((40.0, 70.0),) * 2 + ((110.0, 140.0),) * 2, (-0.3, 0.3))
    monkeypatch.setattr(make_fixtures, "FRAME_SPECS", (spec,))
    frame = make_fixtures.build_frame(0, make_fixtures.build_slab())  # 6 x 6 x 18 A
    write(tmp_path / "mixed.extxyz", frame, format="extxyz")
    outcome = {}
    for mixing in ("BROYDEN_MIXING", "DIRECT_P_MIXING"):
        out = tmp_path / mixing
        args = ["generate", str(tmp_path / "mixed.extxyz"), str(out), "--code", "cp2k", "--mixing", mixing, *COARSE]
        assert runner.invoke(app, args).exit_code == 0
        start = time.perf_counter()
        done = _run_campaign(out)
        print(f"\n{mixing}: run_all.sh {time.perf_counter() - start:.1f} s wall")
        log = (out / "frame_000000" / "frame.out").read_text()
        outcome[mixing] = (done.returncode, "needs more vacuum space" in log, read_table(out / "results.h5", "gap")["status"][0])
    assert outcome["BROYDEN_MIXING"] == (1, True, "error")
    assert outcome["DIRECT_P_MIXING"] == (0, False, "ok")


# ----------------------------------------------------------------------------- CP2K releases
CP2K_SOURCE = Path(os.environ.get("DFTPOST_CP2K_SOURCE", FIXTURES.parents[1] / ".mirror" / "cp2k+cp2k" / "repo"))
#: the layout (key of VERIFIED_PRINT_PATHS) of each release checked against its source
LAYOUT_OF = {"2023.1": "2023.1", "2024.1": "2023.1", "2025.2": "2023.1", "2026.1": "2023.1", "2026.2": "2026.2"}


def print_paths(section, prefix=()) -> set[str]:
    """Every section and keyword path written below a section (comments left out)."""
    out = set()
    for key, _value in section.keywords:
        if key != "!":
            out.add("/".join(prefix + (key,)))
    for child in section.sections:
        out.add("/".join(prefix + (child.name,)))
        out |= print_paths(child, prefix + (child.name,))
    return out


def generated_print_paths(version: str) -> set[str]:
    slab = prepare_slab(water_frames()[0])
    settings = Cp2kSettings(cp2k_version=version, mo_index_range=(13, 20))
    tree = cp2k_input(slab.atoms, settings, coord_file="x.xyz", ldos_lists=slab.pdos_lists())
    (printing,) = tree.find("FORCE_EVAL", "DFT", "PRINT")
    return print_paths(printing)


def cp2k_source(tag: str, path: str) -> list[str]:
    if not (CP2K_SOURCE / "HEAD").exists():
        pytest.skip(f"CP2K's source history is not at {CP2K_SOURCE}")
    done = subprocess.run(["git", "-C", str(CP2K_SOURCE), "show", f"{tag}:{path}"], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"{path} at {tag} is not in the CP2K mirror")
    return done.stdout.splitlines()


@pytest.mark.parametrize("version", sorted(LAYOUT_OF))
def test_every_print_path_written_is_one_verified_for_its_release(version):
    from dftpost.inputs.cp2k import VERIFIED_PRINT_PATHS

    written = generated_print_paths(version)
    assert written <= set(VERIFIED_PRINT_PATHS[LAYOUT_OF[version]]), written - set(VERIFIED_PRINT_PATHS[LAYOUT_OF[version]])
    if version >= "2026.2":
        assert {"DOS", "DOS/PDOS", "DOS/LDOS/LIST"} <= written and "PDOS" not in written
    else:
        assert {"PDOS", "PDOS/LDOS/LIST"} <= written and "DOS" not in written


@pytest.mark.parametrize("layout", ["2023.1", "2026.2"])
def test_verified_print_paths_cite_their_definitions_in_cp2ks_source(layout):
    """Each cited file:line at the tag creates the section or keyword the path ends in."""
    from dftpost.inputs.cp2k import VERIFIED_PRINT_PATHS

    for path, where in VERIFIED_PRINT_PATHS[layout].items():
        file, line = where.rsplit(":", 1)
        text = cp2k_source(f"v{layout}", file)[int(line) - 1]
        name = path.rsplit("/", 1)[-1]
        assert re.search(rf'"{name}\s*"', text, re.I), (path, where, text)


# the print keys that hold the PDoS: a section made by cp_print_key_section_create with this name
PDOS_PRINT_KEY = re.compile(r'cp_print_key_section_create\(\s*print_key,\s*__LOCATION__,\s*"PDOS"')


@pytest.mark.parametrize("version", sorted(LAYOUT_OF))
def test_each_release_defines_the_pdos_layout_written_for_it(version):
    """Before 2026.2 &DFT%PRINT%PDOS is a print key; 2026.2 has none (an input with it does not
    run there) and defines &PDOS and &LDOS inside the &DOS print key (add_dos_keywords)."""
    file = "src/input_cp2k_dft.F" if version < "2025.1" else "src/input_cp2k_print_dft.F"
    source = "\n".join(cp2k_source(f"v{version}", file))
    names = {m.upper() for m in re.findall(r'(?:keyword_create|section_create)\([^)]*?name="(\w+)"', source, re.S)}
    names |= {m.upper() for m in re.findall(r'cp_print_key_section_create\([\s&]*\w+,\s*__LOCATION__,\s*(?:name=)?"(\w+)"', source)}
    names |= {m.upper() for m in re.findall(r'create_e_density_section\([\s&]*\w+,\s*"(\w+)"', source)}
    for path in generated_print_paths(version):
        for part in path.split("/"):
            if part not in ("EACH", "QS_SCF", "ADD_LAST"):  # of every print key (cp_output_handling.F)
                assert part in names, (version, path, part)
    if LAYOUT_OF[version] == "2026.2":
        assert not PDOS_PRINT_KEY.search(source)
        assert "CALL add_dos_keywords(print_key, xas_mode=.FALSE.)" in source
    else:
        assert PDOS_PRINT_KEY.search(source)


def test_generate_cp2k_version_chooses_the_layout_and_says_so(trajectory, tmp_path, monkeypatch):
    from dftpost.inputs import cp2k as cp2k_inputs

    for version, section in (("2026.2", "&DOS"), ("2023.1", "&PDOS")):
        out = tmp_path / f"camp{version}"
        result = runner.invoke(app, ["generate", str(trajectory), str(out), "--code", "cp2k", "--select", "indices:0",
                                     "--cp2k-version", version, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["cp2k_version"] == version
        (inp,) = out.glob("*/*.inp") or out.glob("*/*/*.inp")
        text = inp.read_text()
        assert f"    {section}\n" in text
        assert ("&DOS" in text) == (version == "2026.2")
        assert f"input written for CP2K {version}" in (out / "run_task.sh").read_text()
        read = read_input(inp)
        assert read.ldos_lists and all(read.ldos_lists)  # the LDOS lists, from either location
    # the same lists from both layouts
    lists = [read_input(next((tmp_path / f"camp{v}").rglob("*.inp"))).ldos_lists for v in ("2023.1", "2026.2")]
    assert lists[0] == lists[1]
    bad = runner.invoke(app, ["generate", str(trajectory), str(tmp_path / "bad"), "--code", "cp2k", "--cp2k-version", "latest"])
    assert bad.exit_code == 2 and "not a release number" in bad.output
    # default: the installed CP2K's release, else the newest layout
    monkeypatch.setattr(cp2k_inputs, "installed_cp2k_version", lambda: "2024.1")
    result = runner.invoke(app, ["generate", str(trajectory), str(tmp_path / "d1"), "--code", "cp2k", "--select", "indices:0", "--json"])
    assert json.loads(result.output)["cp2k_version"] == "2024.1"
    monkeypatch.setattr(cp2k_inputs, "installed_cp2k_version", lambda: None)
    result = runner.invoke(app, ["generate", str(trajectory), str(tmp_path / "d2"), "--code", "cp2k", "--select", "indices:0", "--json"])
    assert json.loads(result.output)["cp2k_version"] == cp2k_inputs.NEWEST_CP2K_VERSION == "2026.2"


@pytest.mark.skipif(CP2K is None, reason="CP2K (cp2k.psmp) is not installed")
def test_installed_cp2k_version_is_what_the_program_reports():
    from dftpost.inputs.cp2k import installed_cp2k_version

    printed = subprocess.run([CP2K, "--version"], capture_output=True, text=True).stdout
    assert installed_cp2k_version() == re.search(r"CP2K version (\S+)", printed).group(1)
