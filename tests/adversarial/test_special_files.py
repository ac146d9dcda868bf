"""Paths that are not regular files: FIFOs, devices, symbolic-link loops, dangling links,
directories, missing files and files without read permission.

Given as a command's file (a trajectory, a cube, a run file) or found among a run's files, each
ends within seconds (a FIFO read would block forever, /dev/zero never ends) in one line naming
the path with its own words, and a batch stores its good runs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hostile import copy_runs, dftpost, failed_lines, one_line_error, stored_runs

#: The words each kind of path is reported with (and no other kind is).
WORDS = {
    "fifo": "a FIFO (named pipe)",
    "device": "a device",
    "loop": "a symbolic link loop",
    "dangling": "a dangling symbolic link",
    "directory": "a directory",
    "missing": "no such file",
    "unreadable": "permission denied",
}


def make(kind: str, path: Path) -> Path:
    """Make ``path`` a thing of ``kind`` (see WORDS; "missing": nothing, "unreadable": see
    test_files_and_folders_without_permission_fail_their_run_only)."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "loop":
        path.symlink_to(path.with_name(path.name + ".other"))
        path.with_name(path.name + ".other").symlink_to(path)
    elif kind == "dangling":
        path.symlink_to(path.with_name("gone-" + path.name))
    elif kind == "directory":
        path.mkdir()
    return path


def permission_is_enforced() -> bool:
    """False for root (CI runs the tests as root) or any process that reads files without
    read permission (CAP_DAC_OVERRIDE): permission tests are skipped then."""
    with tempfile.NamedTemporaryFile() as probe:
        os.chmod(probe.name, 0)
        try:
            open(probe.name).close()
        except PermissionError:
            return True
    return False


ENFORCED = pytest.mark.skipif(not permission_is_enforced(), reason="this process reads files without read permission")


def case(command: str, kind: str, slow: bool = False):
    return pytest.param(command, kind, marks=[pytest.mark.slow] * slow, id=f"{command}-{kind}")


#: Every kind as a trajectory (dipole) and as a cube (inspect: the kinds that take a reader's
#: code path of their own, the others marked slow); a FIFO, the kind that hangs, also as a run's
#: log (gap) and as the trajectory of the other commands that read one. (A path argument
#: without read permission is refused by the command line's argument parser, before dftpost:
#: the permission cases are files found in a run, below.)
CASES = ([case("dipole", kind) for kind in WORDS if kind != "unreadable"]
         + [case("inspect", kind, slow=kind not in ("fifo", "device", "loop")) for kind in WORDS if kind != "unreadable"]
         + [case(command, "fifo") for command in ("gap", "potential", "generate")]
         + [case("gap", "loop"), case("gap", "directory")])


@pytest.mark.parametrize("command, kind", CASES)
def test_a_path_that_is_not_a_regular_file_is_one_line_in_its_own_words(command, kind, tmp_path):
    """The path as a trajectory (dipole, potential, generate), a cube (inspect) or a run log (gap)."""
    name = {"inspect": "density.cube", "gap": "water4.out"}.get(command, "frames.xyz")
    path = make(kind, tmp_path / name)
    args = {"dipole": ["--out", tmp_path / "r.h5"], "potential": ["--out", tmp_path / "r.h5"],
            "generate": [tmp_path / "campaign", "--code", "cp2k"]}.get(command, [])
    if command in ("gap", "inspect") and kind == "directory":  # a folder of runs, or a run: an empty one
        one_line_error(dftpost(command, path, *args, cwd=tmp_path), name, "no FHI-aims or CP2K run"
                       if command == "gap" else "nothing recognisable")
        return
    line = one_line_error(dftpost(command, path, *args, cwd=tmp_path), name, WORDS[kind])
    assert not [w for k, w in WORDS.items() if k != kind and w in line.replace(WORDS[kind], "")], line
    assert not (tmp_path / "r.h5").exists() and not (tmp_path / "campaign").exists()


@pytest.mark.parametrize("kind", ["fifo", "loop", pytest.param("device", marks=pytest.mark.slow),
                                  pytest.param("dangling", marks=pytest.mark.slow)])
def test_a_results_file_that_is_not_a_regular_file_is_one_line(kind, tmp_path):
    out = make(kind, tmp_path / "results.h5")
    one_line_error(dftpost("summary", out, cwd=tmp_path), "results.h5", WORDS[kind])


@ENFORCED
def test_files_and_folders_without_permission_fail_their_run_only(tmp_path):
    """A run whose .pdos cannot be read and a folder that cannot be listed (it may hold a run):
    error rows naming them ("permission denied"), the good run stored."""
    good, unreadable, locked = copy_runs(tmp_path, ["good", "unreadable", "locked"])
    (unreadable / "water4-k1-1.pdos").chmod(0)
    locked.chmod(0)
    try:
        out = tmp_path / "results.h5"
        lines = failed_lines(dftpost("gap", tmp_path, "--out", out, cwd=tmp_path))
    finally:
        locked.chmod(0o755)
    assert sorted(lines) == [f"failed: {locked}: permission denied (the directory cannot be listed)",
                             f"failed: {unreadable / 'water4-k1-1.pdos'}: permission denied"]
    assert stored_runs(out) == {(str(good), "ok"): 1, (str(locked), "error"): 1, (str(unreadable), "error"): 1}


def test_special_files_among_a_runs_files_fail_that_run_only(tmp_path):
    """A batch of good runs and runs each holding one input-named path that is not a regular
    file: each bad run is an error row naming that path in its own words, the good runs are
    stored, and a second run of the batch stores nothing again."""
    good = copy_runs(tmp_path, ["good_a", "good_b"])
    bad = {kind: copy_runs(tmp_path, [f"bad_{kind}"])[0] for kind in ("fifo", "device", "loop", "dangling")}
    names = {"fifo": "extra-k3-1.pdos", "device": "water4-v_hartree-1_0.cube", "loop": "job.out", "dangling": "restart.inp"}
    for kind, run in bad.items():
        make(kind, run / names[kind])
    os.mkfifo(good[0] / "notes-pipe")  # not a name dftpost reads: no input, no error
    out = tmp_path / "results.h5"
    lines = failed_lines(dftpost("gap", tmp_path, "--out", out, cwd=tmp_path))
    assert len(lines) == len(bad), lines
    for kind, run in bad.items():
        assert [line for line in lines if str(run / names[kind]) in line and WORDS[kind] in line], (kind, lines)
    rows = stored_runs(out)
    assert rows == {**{(str(r), "ok"): 1 for r in good}, **{(str(r), "error"): 1 for r in bad.values()}}
    again = dftpost("gap", tmp_path, "--out", out, cwd=tmp_path)
    # nothing analysed again; the stored failures still make the exit status 1
    assert again.returncode == 1 and "6 run(s) already stored" in again.stderr, again.stderr
    assert stored_runs(out) == rows
