"""Inputs that are whole files but wrong: a cube cut short, a frame without water, a trajectory
read backwards.

A cut cube is refused by its header alone (``inspect`` reads no data), in one line naming it; in
a run it is a warning and the run's other results stand. A frame of hydrogen alone has no ΔV
("no water", naming the frame). Frames read backwards give the correlation time of the frames
read forwards, positive.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import write
from hostile import ONE_RUN, copy_runs, dftpost, one_line_error, stored_runs

from dftpost.io.cube import read_cube_header

CUBE = ONE_RUN / "water4-ELECTRON_DENSITY-1_0.cube"


@pytest.mark.parametrize("keep", [700_000, CUBE.stat().st_size - 80])
def test_a_cube_cut_short_is_refused_by_inspect(keep, tmp_path):
    """The first 700 kB of the 1.3 MB cube, and the cube less its last line."""
    cut = tmp_path / "density.cube"
    cut.write_bytes(CUBE.read_bytes()[:keep])
    one_line_error(dftpost("inspect", cut, cwd=tmp_path), "density.cube", "cut short", "32x32x96 = 98304 values")


def test_a_cube_cut_short_in_a_run_is_a_warning_and_the_gap_stands(tmp_path):
    run = copy_runs(tmp_path, ["run"])[0]
    cube = run / CUBE.name
    cube.write_bytes(cube.read_bytes()[:700_000])
    result = dftpost("inspect", run, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:") and "cut short" in line], result.stderr
    assert json.loads(result.stdout)["cubes"] == []
    gap = dftpost("gap", run, "--out", tmp_path / "r.h5", cwd=tmp_path)
    assert gap.returncode == 0 and stored_runs(tmp_path / "r.h5") == {(str(run), "ok"): 1}, gap.stderr


def test_a_free_format_cube_cut_short_is_refused_from_its_header(tmp_path):
    """A cube written by ASE (free-format numbers): cut to half, its header says so; whole, it reads."""
    rng = np.random.default_rng(3)
    whole = tmp_path / "whole.cube"
    write(whole, Atoms("H2O", positions=[[0, 0, 0], [0.9, 0, 0], [0, 0.9, 0]], cell=[6, 6, 6], pbc=True),
          data=rng.random((24, 24, 40)), format="cube")
    assert read_cube_header(whole).shape == (24, 24, 40)
    cut = tmp_path / "cut.cube"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    one_line_error(dftpost("inspect", cut, cwd=tmp_path), "cut.cube", "cut short")


def water_frames(path: Path, n_frames: int = 24, hydrogen_only_frame: int | None = None) -> Path:
    """An extxyz trajectory of 8 randomly oriented water molecules in a 10 x 10 x 20 Å cell,
    ``time_ps`` 0.5 ps apart; frame ``hydrogen_only_frame`` (if any) holds 4 H and nothing else."""
    rng = np.random.default_rng(11)
    frames = []
    for number in range(n_frames):
        if number == hydrogen_only_frame:
            atoms = Atoms("H4", positions=rng.random((4, 3)) * 5 + 2, cell=[10, 10, 20], pbc=True)
        else:
            positions = []
            for k in range(8):
                oxygen = np.array([2 + 5 * (k % 2), 2 + 5 * (k // 2 % 2), 3 + 4 * (k // 4)]) + rng.normal(0, 0.2, 3)
                bonds = rng.normal(size=(2, 3))
                positions += [oxygen, *(oxygen + 0.97 * bonds / np.linalg.norm(bonds, axis=1)[:, None])]
            atoms = Atoms("OH2" * 8, positions=positions, cell=[10, 10, 20], pbc=True)
        atoms.info["time_ps"] = 0.5 * number
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


@pytest.mark.parametrize("command", ["potential", "dipole"])
def test_a_frame_without_water_is_named(command, tmp_path):
    """A trajectory of one frame of 4 H (frames keep their atom count: the first is the odd one)."""
    trajectory = water_frames(tmp_path / "frames.extxyz", n_frames=1, hydrogen_only_frame=0)
    one_line_error(dftpost(command, trajectory, "--out", tmp_path / "r.h5", cwd=tmp_path),
                   "frames.extxyz", "frame 0", "0 O and 4 H atoms: no water")
    assert not (tmp_path / "r.h5").exists()


def test_frames_read_backwards_give_the_forward_correlation_time(tmp_path):
    trajectory = water_frames(tmp_path / "frames.extxyz")
    times = {}
    for index in ("::1", "::-1"):
        result = dftpost("dipole", trajectory, "--out", tmp_path / "r.h5", f"--index={index}", "--json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        times[index] = json.loads(result.stdout)
    forward, backward = times["::1"], times["::-1"]
    assert forward["acf_integrated_time_units"] == backward["acf_integrated_time_units"] == "ps"
    assert forward["acf_integrated_time"] > 0
    assert backward["acf_integrated_time"] == pytest.approx(forward["acf_integrated_time"], rel=1e-9)
