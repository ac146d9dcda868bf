"""Every ``dftpost`` command of the README's bash blocks runs as written, from a fresh copy of the
shipped files; the shipped trajectories are what their generator says they are."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import iread
from conftest import FIXTURES, REPO

# commands that need what a fresh clone lacks: a SLURM cluster (Dask on it) or a job array
NEEDS_A_CLUSTER = {
    "dftpost gap campaign/ --scheduler slurm.yaml --out results.h5",
    'dftpost gap "${RUNS[@]}" --workers "$SLURM_CPUS_PER_TASK" --out "parts/gap_${SLURM_ARRAY_TASK_ID}.h5"',
}


def readme_commands() -> list[str]:
    """The ``dftpost ...`` commands of the README's bash blocks, in order (``a && b`` gives two)."""
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            commands += [part.strip() for part in line.split("&&") if part.strip().startswith("dftpost ")]
    return commands


def test_the_readme_names_its_commands():
    commands = readme_commands()
    assert NEEDS_A_CLUSTER <= set(commands)  # the list above is not stale
    runnable = [c for c in commands if c not in NEEDS_A_CLUSTER]
    assert {c.split()[1] for c in runnable} >= {"gap", "dipole", "potential", "field-profile", "fit-charge", "generate", "plot"}


@pytest.mark.slow
def test_every_readme_command_runs_from_a_fresh_copy(tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    script = Path(sys.executable).parent / "dftpost"
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "dftpost.cli.main"]
    for command in readme_commands():
        if command in NEEDS_A_CLUSTER:
            continue
        words = shlex.split(command)
        done = subprocess.run(prefix + words[1:], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, (command, done.stderr[-2000:])
        assert "Traceback" not in done.stderr and done.stdout.strip(), command
        if "--json" in words:
            for line in done.stdout.splitlines() if words[1] == "gap" else [done.stdout]:
                json.loads(line)
    assert (tmp_path / "figures" / "band-edges.png").is_file() and (tmp_path / "fig2b.png").is_file()
    assert (tmp_path / "parity.png").is_file() and (tmp_path / "campaign" / "run_all.sh").is_file()
    assert not (tmp_path / "docs").exists()  # examples never draw into the tracked figures


@pytest.mark.parametrize("name, n_frames, n_molecules, vacuum", [("water_slab_tip3p", 200, 36, True), ("water_box_tip3p", 100, 27, False)])
def test_shipped_trajectories_are_rigid_tip3p_liquid_water(name, n_frames, n_molecules, vacuum):
    """O–H 0.9572 Å and H–O–H 104.52° (TIP3P, held rigid), times 20 fs apart from 0, liquid
    density in the water, and the slab's vacuum."""
    path = FIXTURES / "trajectories" / f"{name}.extxyz"
    assert path.stat().st_size < 2_000_000
    frames = list(iread(path, index=":"))
    assert len(frames) == n_frames
    times = np.array([f.info["time_ps"] for f in frames])
    np.testing.assert_allclose(np.diff(times), 0.02, atol=1e-9)
    for frame in frames[:: n_frames // 10]:
        assert frame.get_chemical_symbols() == ["O", "H", "H"] * n_molecules
        o, h1, h2 = (frame.positions[k::3] for k in range(3))
        np.testing.assert_allclose(np.linalg.norm(h1 - o, axis=1), 0.9572, atol=1e-4)
        np.testing.assert_allclose(np.linalg.norm(h2 - o, axis=1), 0.9572, atol=1e-4)
        cos = np.einsum("ij,ij->i", h1 - o, h2 - o) / 0.9572**2
        np.testing.assert_allclose(np.degrees(np.arccos(cos)), 104.52, atol=0.05)
        lengths = frame.cell.lengths()
        z = np.sort(o[:, 2] % lengths[2])
        if vacuum:  # the widest gap between O heights (periodic) is the vacuum, about 20 Å
            gaps = np.diff(np.append(z, z[0] + lengths[2]))
            thickness = lengths[2] - gaps.max()
            assert 15 < gaps.max() < 25
            volume = lengths[0] * lengths[1] * (thickness + 2.8)  # one O–O distance for the two surfaces
        else:
            volume = frame.get_volume()
        density = n_molecules * 18.015 / 6.02214e23 / (volume * 1e-24)
        assert 0.8 < density < 1.2, density


def test_the_python_examples_run(tmp_path):
    text = (REPO / "README.md").read_text()
    section = text[text.index("## From Python"):].split("\n## ", 1)[0]
    first, analyses = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    shutil.copytree(FIXTURES / "cp2k", tmp_path / "fixtures" / "cp2k")
    shutil.copytree(FIXTURES / "trajectories", tmp_path / "fixtures" / "trajectories")
    done = subprocess.run([sys.executable, "-c", first], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Run(cp2k" in done.stdout and "ProjectedDos(grid" in done.stdout and "Grid(electrostatic_potential" in done.stdout
    assert len(done.stdout.splitlines()) < 20
    done = subprocess.run([sys.executable, "-c", analyses], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"{len(list((FIXTURES / 'cp2k').glob('*/*/*.inp')))} runs"
