"""Every numeric option is checked while the command line is parsed (usage error, exit 2, nothing
read or written); messages are plain text; --json is strict JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import CP2K_FIXTURE, FIXTURES
from dftpost.cli.main import app
from typer.testing import CliRunner


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


RUNS = ["{fixture}/nofield", "{fixture}/field"]
# (command and its arguments, the option, a value out of range); the arguments name real inputs,
# so only the check can stop the command
CASES = [
    (["dipole", "{traj}"], "--dz", "0"),
    (["dipole", "{traj}"], "--dz", "-0.1"),
    (["dipole", "{traj}"], "--dz", "1e-9"),
    (["dipole", "{traj}"], "--dz", "nan"),
    (["dipole", "{traj}"], "--origin", "nan"),
    (["dipole", "{traj}"], "--origin", "inf"),
    (["dipole", "{traj}"], "--r-oh", "-1"),
    (["dipole", "{traj}"], "--r-oh", "5"),
    (["dipole", "{traj}"], "--timestep-ps", "-1"),
    (["dipole", "{traj}"], "--timestep-ps", "0"),
    (["dipole", "{traj}"], "--q-o", "0.5"),
    (["dipole", "{traj}"], "--gap", "0"),
    (["dipole", "{traj}"], "--index", "1:a"),
    (["dipole", "{traj}"], "--index", "::0"),
    (["dipole", "{traj}"], "--index", "1:2:3:4"),
    (["dipole", "{traj}"], "--workers", "0"),
    (["dipole", "{traj}"], "--workers", "-2"),
    (["potential", "{traj}"], "--sigma", "-1"),
    (["potential", "{traj}"], "--sigma", "nan"),
    (["potential", "{traj}"], "--tolerance", "0"),
    (["potential", "{traj}"], "--tolerance", "1e-20"),
    (["potential", "{traj}"], "--timestep-ps", "-1"),
    (["potential", "{traj}"], "--index", "x"),
    (["gap", "{fixture}"], "--sigma", "100"),
    (["gap", "{fixture}"], "--sigma", "1e-4"),
    (["gap", "{fixture}"], "--sigma", "inf"),
    (["gap", "{fixture}"], "--threshold", "0"),
    (["gap", "{fixture}"], "--threshold", "nan"),
    (["gap", "{fixture}"], "--d-cut", "-1"),
    (["gap", "{fixture}"], "--start-offset", "-1"),
    (["gap", "{fixture}"], "--separation", "0"),
    (["gap", "{fixture}"], "--dipole", "nan"),
    (["gap", "{fixture}"], "--wait", "-1"),
    (["gap", "{fixture}"], "--workers", "0"),
    (["gap", "{fixture}"], "--workers", "-1"),
    (["gap", "{fixture}"], "--threshold-mode", "percent"),
    (["summary", "{store}"], "--bin-width", "inf"),
    (["summary", "{store}"], "--bin-width", "1e-300"),
    (["summary", "{store}"], "--bin-width", "0"),
    (["summary", "{store}"], "--bin-width", "-0.005"),
    (["field-profile", *RUNS], "--margin", "-3"),
    (["field-profile", *RUNS], "--margin", "nan"),
    (["field-profile", *RUNS], "--window", "-1"),
    (["field-profile", *RUNS], "--axis", "w"),
    (["field-profile", *RUNS], "--include-applied", "maybe"),
    (["field-profile", *RUNS], "--plot", "{tmp}/figure"),
    (["fit-charge", "{frames}"], "--max-dipole", "0"),
    (["fit-charge", "{frames}"], "--max-dipole", "inf"),
    (["fit-charge", "{frames}"], "--workers", "0"),
    (["fit-charge", "{frames}"], "--source", "dft"),
    (["fit-charge", "{frames}"], "--plot", "{tmp}/parity.gif"),
    (["generate", "{traj}", "{tmp}/campaign", "--code", "cp2k"], "--field", "nan"),
    (["generate", "{traj}", "{tmp}/campaign", "--code", "cp2k"], "--field", "5"),
    (["generate", "{traj}", "{tmp}/campaign", "--code", "cp2k"], "--min-vacuum", "-1"),
    (["generate", "{traj}", "{tmp}/campaign", "--code", "cp2k"], "--layer-width", "0"),
    (["generate", "{traj}", "{tmp}/campaign", "--code", "cp2k"], "--cube-stride", "0"),
    (["generate", "{traj}", "{tmp}/campaign", "--code", "cp2k"], "--ntasks", "0"),
    (["generate", "{traj}", "{tmp}/campaign", "--code", "cp2k"], "--eps-scf", "1"),
    (["generate", "{traj}", "{tmp}/campaign", "--code", "cp2k"], "--index", "a:b"),
    (["generate", "{traj}", "{tmp}/campaign", "--code", "aims"], "--smearing", "0"),
    (["plot", "{store}"], "--format", "gif"),
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """A real trajectory and a results file, which a command given a good option would read."""
    tmp = tmp_path_factory.mktemp("checks")
    store = tmp / "results.h5"
    assert invoke("gap", CP2K_FIXTURE / "nofield", "--out", store, "--workers", "1").exit_code == 0
    return {"traj": FIXTURES / "trajectories/water_slab_tip3p.extxyz", "fixture": CP2K_FIXTURE, "store": store,
            "frames": FIXTURES / "cp2k/water4_frames"}


@pytest.mark.parametrize("args, option, value", CASES, ids=[f"{a[0]} {o} {v}" for a, o, v in CASES])
def test_out_of_range_is_a_usage_error_before_any_work(inputs, tmp_path, args, option, value):
    out = tmp_path / "out.h5"
    names = {**inputs, "tmp": tmp_path}
    args = [a.format(**names) for a in args]
    result = invoke(*args, option, value.format(**names), *([] if args[0] in ("plot", "summary", "generate") else ["--out", out]))
    assert result.exit_code == 2, result.output
    assert option in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, not even the results file


def test_each_range_is_stated_in_the_help():
    for command, option, words in [("dipole", "--dz", "0.01 ≤ x ≤ 5 Å"), ("summary", "--bin-width", "0.0001 ≤ x ≤ 1 e/Å"),
                                   ("gap", "--sigma", "0.02 ≤ x ≤ 1 eV"), ("gap", "--workers", "x ≥ 1")]:
        result = invoke(command, "--help")
        text = " ".join(result.stdout.replace("│", " ").split())
        assert option in text and words in text, (command, option)


def test_the_bounds_themselves_are_accepted(inputs, tmp_path):
    result = invoke("summary", inputs["store"], "--bin-width", "1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["bin_width_e_per_A"] == 1


def test_field_along_another_axis_is_a_clear_error(tmp_path):
    result = invoke("field-profile", CP2K_FIXTURE / "nofield", CP2K_FIXTURE / "field", "--axis", "x", "--out", tmp_path / "f.h5")
    assert result.exit_code == 1
    assert "no component along x" in result.stderr and "--axis z" in result.stderr
    assert not (tmp_path / "f.h5").exists()


def test_messages_are_plain_text(tmp_path):
    """No emoji codes (:100:), no markup: square brackets survive."""
    result = invoke("generate", FIXTURES / "trajectories/water_slab_tip3p.extxyz", tmp_path / "c", "--code", "cp2k",
                    "--select", "dipole-extremes:100:x")
    assert result.exit_code == 2 and "dipole-extremes:100:x" in result.stderr and "💯" not in result.stderr
    odd = tmp_path / "frame[red]:100:.cube"
    odd.write_bytes(b"\x00\xff" * 50)
    result = invoke("inspect", odd)
    assert result.exit_code == 1 and str(odd) in result.stderr


@pytest.mark.parametrize("command", ["dipole", "potential", "plot", "summary"])
def test_a_directory_where_a_file_is_expected_says_so(tmp_path, command):
    folder = tmp_path / "folder"
    folder.mkdir()
    result = invoke(command, folder, *([] if command in ("plot", "summary") else ["--out", tmp_path / "r.h5"]))
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "a directory" in line and str(folder.name) in line


def test_json_is_strict(tmp_path):
    """A quantity without a value (no metal here) is null, never NaN."""
    result = invoke("field-profile", CP2K_FIXTURE / "nofield", CP2K_FIXTURE / "field", "--out", tmp_path / "f.h5", "--json")
    assert result.exit_code == 0, result.output

    def refuse(constant):
        raise AssertionError(f"{constant} in --json output")

    data = json.loads(result.stdout, parse_constant=refuse)
    assert data["field_metal_V_per_A"] is None


def test_a_trajectory_read_backwards_has_the_same_correlation_time(tmp_path):
    trajectory = FIXTURES / "trajectories/water_slab_tip3p.extxyz"
    forward, backward = (json.loads(invoke("dipole", trajectory, "--index", index, "--json", "--workers", "1",
                                           "--out", tmp_path / "d.h5").stdout) for index in ("::2", "::-2"))
    assert forward["acf_integrated_time_units"] == backward["acf_integrated_time_units"] == "ps"
    assert backward["acf_integrated_time"] > 0
    assert backward["acf_integrated_time"] == pytest.approx(forward["acf_integrated_time"], rel=0.2)


def _special(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        os.symlink(tmp_path / "loop2", path)
        os.symlink(path, tmp_path / "loop2")
    elif kind == "dangling":
        os.symlink(tmp_path / "nowhere", path)
    elif kind == "device":
        return Path("/dev/null")
    return path


@pytest.mark.parametrize("kind, words", [("fifo", "a FIFO (named pipe), not a regular file"), ("loop", "a symbolic link loop"),
                                         ("dangling", "a dangling symbolic link"), ("device", "a device, not a regular file"),
                                         ("missing", "no such file")])
def test_special_files_get_their_own_words_before_any_work(tmp_path, kind, words):
    """A FIFO would block the reader forever: every kind is named before anything is opened."""
    target = _special(tmp_path, kind)
    for command in ("dipole", "potential"):
        result = invoke(command, target, "--out", tmp_path / "r.h5")
        assert result.exit_code == 1, result.output
        (line,) = result.stderr.strip().splitlines()
        assert words in line and str(target) in line
    assert not (tmp_path / "r.h5").exists()
