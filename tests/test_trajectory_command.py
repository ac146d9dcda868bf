"""A trajectory analysis declares its command as data (dftpost.analyses.frames.TrajectoryCommand) and
one line registers it (dftpost.cli.trajectory.trajectory_command): a new observable written in one
file (tests/trajectory_count.py) gets a working command, --json, storing and --plot included, on a
fresh typer app; its values are checked against a brute-force count."""

from __future__ import annotations

import importlib
import json
import sys

import ase.io
import numpy as np
import pytest
import typer
from conftest import FIXTURES
from dftpost.cli.trajectory import read_declaration, trajectory_command
from typer.testing import CliRunner

from dftpost.store import read_table

SLAB = FIXTURES / "trajectories" / "water_slab_tip3p.extxyz"

app = typer.Typer(add_completion=False)
app.command("layer-count")(trajectory_command("trajectory_count", "LayerCount"))  # the one line


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "100"})


def brute_force_count(index: str, symbol: str, z_min: float, z_max: float) -> np.ndarray:
    """Atoms ``symbol`` per frame with z wrapped into [0, c_z) in [z_min, z_max) (orthorhombic cells)."""
    frames = ase.io.read(SLAB, index)
    counts = []
    for atoms in frames:
        z = atoms.positions[np.array(atoms.get_chemical_symbols()) == symbol, 2] % atoms.cell[2, 2]
        counts.append(int(np.sum((z >= z_min) & (z < z_max))))
    return np.array(counts)


def test_the_registered_analysis_gets_json_storing_and_a_figure(tmp_path):
    out, figure = tmp_path / "r.h5", tmp_path / "count.png"
    args = (SLAB, "--index", "::20", "--z-min", "12", "--z-max", "16", "--out", out, "--workers", "1")
    result = invoke(*args, "--json", "--plot", figure)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = brute_force_count("::20", "H", 12.0, 16.0)
    assert data["count"] == expected.tolist() and expected.min() > 0  # the layer holds H in every frame
    assert data["n_frames"] == 10 and data["frame_index"] == list(range(0, 200, 20)) and data["element"] == "H"
    assert data["mean_count"] == pytest.approx(expected.mean(), rel=1e-12)
    table = read_table(out, "layer_count")
    assert list(table["mean_count"]) == [data["mean_count"]] and str(table["run"][0]) == str(SLAB.resolve())
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    again = invoke(*args)  # the same analysis: a table, and not stored twice
    assert again.exit_code == 0, again.output
    assert "already stored" in again.stderr and "frames read (--index)" in again.stdout
    # its own quantity in the table, with the label its declaration gives
    (line,) = [line for line in again.stdout.splitlines() if "atoms in the layer per frame" in line]
    assert f"{expected.mean():.4g}" in line
    assert len(read_table(out, "layer_count")["run"]) == 1

    oxygen = invoke(SLAB, "--index", "1:3", "--element", "O", "--out", out, "--json", "--workers", "1")
    assert oxygen.exit_code == 0, oxygen.output
    assert json.loads(oxygen.stdout)["count"] == brute_force_count("1:3", "O", 0.0, 1000.0).tolist() == [36, 36]
    assert len(read_table(out, "layer_count")["run"]) == 2


def test_its_options_come_from_the_declaration():
    result = invoke("--help")
    assert result.exit_code == 0
    for text in ("Atoms of one element in a layer, per frame.", "--element", "SYMBOL", "--z-min", "--z-max",
                 "0 < x ≤ 1000 Å", "--index", "--out", "--json", "--workers", "--scheduler", "--plot",
                 "Draw the count per frame to this file."):
        assert text in result.stdout, text
    params = {p.name: p for p in typer.main.get_command(app).params}
    assert list(params) == ["trajectory", "out", "as_json", "element", "z_min", "z_max", "index", "workers",
                            "scheduler", "plot"]
    assert params["element"].default == "H" and params["z_max"].default == 1000.0


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--element", "Qq"], 2, "--element: no element 'Qq'"),  # the analysis's own check
    (["--z-min", "5", "--z-max", "2"], 2, "--z-max: the top of the layer must be above its bottom"),
    (["--z-max", "0"], 2, "0 is out of range: 0 < x ≤ 1000 Å"),  # the declared range
    (["--z-min", "nan"], 2, "out of range"),
    (["--plot", "count.gif"], 2, "not a figure file"),
])
def test_bad_options_are_usage_errors(args, code, message, tmp_path):
    result = invoke(tmp_path / "nowhere.extxyz", *args)  # the options are refused before the file is looked at
    assert result.exit_code == code and message in " ".join(result.output.split()), result.output


def test_a_missing_trajectory_is_bad_input(tmp_path):
    result = invoke(tmp_path / "nowhere.extxyz", "--out", tmp_path / "r.h5")
    assert result.exit_code == 1 and "nowhere.extxyz: no such file" in result.stderr
    assert not (tmp_path / "r.h5").exists()


@pytest.mark.parametrize(("module", "name"), [("dftpost.analyses.density", "DensityAnalysis"),
                                              ("dftpost.analyses.dipole", "DipoleAnalysis"),
                                              ("dftpost.analyses.potential", "PotentialAnalysis"),
                                              ("trajectory_count", "LayerCount")])
def test_the_declaration_read_from_the_source_is_the_classes_own(module, name):
    """The command line reads ``command`` without importing the module: the same value."""
    assert read_declaration(module, name) == getattr(importlib.import_module(module), name).command


def test_without_its_source_the_module_is_imported_for_its_declaration(tmp_path, monkeypatch):
    """Compiled files only (no .py): the module is imported and gives the same declaration."""
    import py_compile

    (tmp_path / "compiled_only.py").write_text("class Count:\n    command = {'help': 'x'.upper(), 'options': ('index',)}\n")
    py_compile.compile(str(tmp_path / "compiled_only.py"), cfile=str(tmp_path / "compiled_only.pyc"))
    (tmp_path / "compiled_only.py").unlink()
    monkeypatch.syspath_prepend(str(tmp_path))
    assert read_declaration("compiled_only", "Count") == {"help": "X", "options": ("index",)}
    with pytest.raises(ModuleNotFoundError):
        read_declaration("no_such_module_here", "Count")


def test_a_declaration_that_is_not_data_is_refused(tmp_path, monkeypatch):
    (tmp_path / "computed_command.py").write_text(
        "class Computed:\n    command = {'help': 'x'.upper(), 'options': ()}\n\n\nclass Silent:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match="Computed.command must be written as literals"):
        trajectory_command("computed_command", "Computed")
    with pytest.raises(TypeError, match="Silent declares no command"):
        trajectory_command("computed_command", "Silent")
    with pytest.raises(ModuleNotFoundError):
        trajectory_command("no_such_module_here", "Computed")
    assert "computed_command" not in sys.modules  # read, never imported
