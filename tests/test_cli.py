"""The command line as a user calls it, and the package as a user installs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import venv
from pathlib import Path

import pytest
from conftest import CP2K_FIXTURE, REPO
from dftpost.cli.main import COMMANDS, make_app
from typer.testing import CliRunner

INSPECT_KEYS = {
    "code",
    "program_version",
    "fermi_level_eV",
    "n_atoms",
    "pdos",
    "dipole_correction",
    "applied_field_V_per_A",
    "cubes",
    "finished",
}


def dftpost(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``dftpost`` console script, from a folder outside the source tree."""
    script = Path(sys.executable).parent / "dftpost"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from dftpost.cli.main import app; app()"]
    with tempfile.TemporaryDirectory() as elsewhere:
        return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd or elsewhere)


def test_inspect_json_on_the_cp2k_fixture(tmp_path):
    result = dftpost("inspect", str(CP2K_FIXTURE / "field"), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert INSPECT_KEYS <= set(data)
    assert data["code"] == "cp2k" and data["finished"] is True and data["n_atoms"] == 12
    assert data["applied_field_V_per_A"] == pytest.approx([0, 0, 0.1])
    assert data["pdos"]["form"] == "eigenvalues" and data["pdos"]["n_projections"] == 5
    assert data["dipole_correction"]["dipole_e_A"] == pytest.approx(0.7072544529)
    assert {c["quantity"]: c["units"] for c in data["cubes"]} == {
        "electron_density": "e/Å^3",
        "electrostatic_potential": "V",
    }
    assert all(c["shape"] == [32, 32, 96] for c in data["cubes"])


def test_inspect_json_on_fhi_aims_and_single_files(realdata, tmp_path):
    data = json.loads(dftpost("inspect", str(realdata / "fhiaims/aimstools/Fe_open_shell_no_soc"), "--json").stdout)
    assert data["code"] == "fhi-aims" and data["pdos"]["n_spin"] == 2 and data["dipole_correction"] is None
    one = json.loads(dftpost("inspect", str(CP2K_FIXTURE / "nofield/water4-list2-1.pdos"), "--json").stdout)
    assert INSPECT_KEYS <= set(one) and one["pdos"]["projections"] == ["list2"]


def test_inspect_table(tmp_path):
    result = dftpost("inspect", str(CP2K_FIXTURE / "nofield"), cwd=tmp_path)
    assert result.returncode == 0
    assert "cp2k 2023.1" in result.stdout and "e/Å^3" in result.stdout


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d, "nothing recognisable"),
        (lambda d: d / "missing", "no such file"),
        (lambda d: _write(d / "water4-k1-1.pdos", b"# Projected DOS for atomic kind O\n"), "column header"),
        (lambda d: _write(d / "x.cube", b"\x00\xff" * 100), "x.cube"),
    ],
    ids=["empty-dir", "missing", "bad-pdos", "binary-cube"],
)
def test_bad_input_is_one_line_on_stderr(tmp_path, make, message):
    target = make(tmp_path)
    result = dftpost("inspect", str(target), "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(tmp_path) in lines[0]
    assert "Traceback" not in result.stderr


def test_unfinished_run_warns_on_stderr(copy_dir):
    run_dir = copy_dir(CP2K_FIXTURE / "nofield")
    log = run_dir / "water4.out"
    log.write_text(log.read_text()[:30000])
    result = dftpost("inspect", str(run_dir), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["finished"] is False
    assert "did not end normally" in result.stderr and str(log) in result.stderr


@pytest.mark.parametrize("editable", [False, True], ids=["regular", "editable"])
def test_install_gives_the_console_script_and_no_top_level_cli(tmp_path, editable):
    """Both install kinds provide ``dftpost`` and ``dftpost.cli``, never a module named ``cli``."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # the new environment sees the dependencies of the one running the tests (a venv or the
    # system Python alike), after its own site-packages, so the dftpost it finds is the new install
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    parent = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (Path(own) / "test-parent-env.pth").write_text("\n".join(sorted(parent)) + "\n")
    install = [str(python), "-m", "pip", "install", "-q", "--no-deps"] + (["-e"] if editable else []) + [str(REPO)]
    done = subprocess.run(install, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    version = subprocess.run([str(env_dir / "bin" / "dftpost"), "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("dftpost ")
    probe = subprocess.run(
        [str(python), "-c", "import importlib.util as u, dftpost.cli.main; print(u.find_spec('cli'))"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "None"


def test_help_loads_neither_the_analyses_nor_their_libraries(tmp_path):
    """Building the command line (``dftpost --help``, or any command before it runs) imports typer
    and rich, not numpy, SciPy, ASE, h5py, matplotlib or dftpost's analyses: start-up stays fast."""
    probe = ("import sys; from dftpost.cli.main import app\n"
             "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
             "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('numpy', 'scipy', 'ase', 'h5py', 'matplotlib') or m.startswith(('dftpost.analysis', 'dftpost.batch')))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "gap" in done.stdout and "fit-charge" in done.stdout  # the help was printed
    assert done.stdout.splitlines()[-1] == ""


def test_the_script_builds_only_the_command_it_runs(tmp_path):
    """``dftpost inspect FILE`` (the script, :func:`run`) builds the inspect command alone: no
    other command's module, no analysis declaration read; the output is the command's."""
    pdos = CP2K_FIXTURE / "field" / "water4-k1-1.pdos"
    probe = ("import sys, json; from dftpost.cli.main import run\n"
             f"sys.argv = ['dftpost', 'inspect', {str(pdos)!r}, '--json']\n"
             "try:\n    run()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
             "print(' '.join(sorted(m for m in sys.modules if m.startswith('dftpost.cli.'))), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["code"] == "cp2k"
    loaded = set(done.stderr.split())
    assert "dftpost.cli.inspection" in loaded
    assert not loaded & {"dftpost.cli.trajectory", "dftpost.cli.gap", "dftpost.cli.plot", "dftpost.cli.generate"}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_built_alone_is_the_command_of_the_whole_command_line(name, monkeypatch):
    """What :func:`run` does for ``dftpost NAME ...``: the command built alone has the same help,
    usage errors and exit codes as in the whole command line."""
    monkeypatch.setenv("COLUMNS", "100")
    whole, alone = make_app(), make_app([name])
    assert [c.name for c in alone.registered_commands] == [name]
    for args in ([name, "--help"], [name, "--no-such-option"], [name]):
        a, b = CliRunner().invoke(whole, args), CliRunner().invoke(alone, args)
        assert (a.exit_code, a.stdout, a.stderr) == (b.exit_code, b.stdout, b.stderr), args
    assert CliRunner().invoke(alone, [name, "--help"]).exit_code == 0


def test_the_whole_command_line_has_every_command():
    from dftpost.cli.main import app

    assert [c.name for c in app.registered_commands] == list(COMMANDS)


def test_a_second_identical_analysis_is_not_stored_twice(tmp_path):
    """field-profile (and dipole/potential) store one row per inputs and parameters: an identical
    re-run prints the same result and says it is stored already; other parameters add a row."""
    from dftpost.store import read_table

    out = tmp_path / "f.h5"
    pair = [str(CP2K_FIXTURE / "nofield"), str(CP2K_FIXTURE / "field")]
    first = dftpost("field-profile", *pair, "--out", str(out), "--json", cwd=tmp_path)
    again = dftpost("field-profile", *pair, "--out", str(out), "--json", cwd=tmp_path)
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout)
    assert "already stored" in again.stderr and "already stored" not in first.stderr
    table = read_table(out, "field_profile")
    assert len(table["run"]) == 1
    assert table["run"][0] == str((CP2K_FIXTURE / "field").resolve()) == json.loads(first.stdout)["run"]
    assert table["run_no_field"][0] == str((CP2K_FIXTURE / "nofield").resolve())
    relative = [os.path.relpath(p, tmp_path) for p in pair]  # the same runs named from elsewhere: the same row
    same = dftpost("field-profile", *relative, "--out", str(out), "--json", cwd=tmp_path)
    assert same.returncode == 0 and "already stored" in same.stderr, same.stderr
    other = dftpost("field-profile", *pair, "--out", str(out), "--json", "--margin", "2.5", cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert len(read_table(out, "field_profile")["run"]) == 2


def test_ci_runs_the_readme_test_command_as_written():
    """.ci/run ends with the README's second set-up command, letter for letter; both make and use
    a virtual environment (system Pythons of current Debian and Ubuntu refuse pip installs)."""
    readme = (REPO / "README.md").read_text()
    setup = readme[readme.index("## Set up") :].split("\n## ", 1)[0]
    commands = [block.strip() for block in setup.split("```bash")[1:]]
    commands = [block.split("```")[0].strip() for block in commands]
    assert len(commands) == 2 and all(c.startswith("python3 -m venv .venv && . .venv/bin/activate && ") for c in commands)
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert ci[-1] == commands[1]
