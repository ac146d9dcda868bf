"""Tables as a job log gets them (output piped: 80 columns): runs told apart by the shortest
distinguishing path, never cut; numbers with units and sensible digits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import CP2K_FIXTURE, FIXTURES


def dftpost(*args, columns: int | None = None) -> subprocess.CompletedProcess:
    """The installed ``dftpost``, run from a folder outside the source tree (whose dftpost/ would
    shadow the installed package), its output piped; ``columns``: the terminal width it assumes."""
    script = Path(sys.executable).parent / "dftpost"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from dftpost.cli.main import app; app()"]
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns:
        env["COLUMNS"] = str(columns)
    with tempfile.TemporaryDirectory() as elsewhere:
        return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, env=env, cwd=elsewhere)


@pytest.fixture
def deep_campaign(copy_dir, tmp_path):
    """Runs deep below a long common path, differing only at the end."""
    base = "project_with_a_long_name/campaign_2026_water_slab_field_scan/frames_selected_by_dipole"
    for k, src in enumerate(["nofield", "field", "nofield"]):
        copy_dir(CP2K_FIXTURE / src, f"{base}/frame_{k:06d}/run")
    return tmp_path / base


@pytest.mark.parametrize("columns", [None, 80])
def test_gap_table_tells_the_runs_apart(deep_campaign, tmp_path, columns):
    result = dftpost("gap", deep_campaign, "--out", tmp_path / "r.h5", "--workers", "1", columns=columns)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert str(deep_campaign) in lines[0]  # the common parent, in the title
    rows = [line for line in lines if line.startswith("frame_")]
    assert [row.split()[0] for row in rows] == [f"frame_{k:06d}/run" for k in range(3)]
    assert all(len(line.rstrip()) <= 80 for line in lines[1:])
    assert all(re.fullmatch(r"[+-]\d\.\d{3}", row.split()[2]) for row in rows)  # VBM with three decimals
    again = dftpost("gap", deep_campaign, "--out", tmp_path / "r.h5", columns=columns)  # stored runs shown too
    assert [line.split()[1] for line in again.stdout.splitlines() if line.startswith("frame_")] == ["ok*"] * 3
    assert "already stored" in again.stderr


def test_summaries_have_units_and_four_digits(tmp_path):
    result = dftpost("dipole", FIXTURES / "trajectories/water_slab_tip3p.extxyz", "--out", tmp_path / "d.h5", "--workers", "1")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for forbidden in ("None", "True", "False", "{", "nan"):
        assert forbidden not in text, forbidden
    assert re.search(r"mean total dipole μ_z\s+-?\d\.\d+(e-\d+)? e/Å", text)
    assert re.search(r"species per frame\s+O 0, OH 0, H2O 36, H3O 0, free_H 0", text)
    assert re.search(r"integrated correlation time\s+\d\.\d+ ps \(\d\.\d+ frames\)", text)
    numbers = re.findall(r"\d+\.\d+", text)
    assert numbers and all(len(n.replace(".", "").lstrip("0")) <= 4 for n in numbers)


def test_fit_charge_says_which_frames_were_left_out_and_why(tmp_path):
    result = dftpost("fit-charge", FIXTURES / "cp2k/water4_frames", "--out", tmp_path / "c.h5", "--workers", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("2 frame(s) used, 2 left out: with so few frames the bootstrap interval is not meaningful")
    left_out = [line for line in result.stderr.splitlines() if line.startswith("left out: ")]  # beside the warnings
    assert [line.split(": ")[1].rsplit("/", 1)[1] for line in left_out] == ["frame_0", "frame_3"]
    assert all("|μ_DFT| = 0.0" in line and "≥ 0.02 e/Å" in line for line in left_out)
