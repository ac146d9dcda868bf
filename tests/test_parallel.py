"""Mapping a batch serially, on local processes and on Dask, and what survives faults: a worker
that dies, Ctrl-C, kill -9 of the batch, Dask missing, a wrong cluster file."""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import FIXTURES, REPO
from dying_workers import analyse_or_die, double_or_die

from dftpost.analyses.gap import GapAnalysis
from dftpost.analysis.bandedges import BandEdgeParameters
from dftpost.backends import SchedulerError, WorkerDied, map_unordered, parse_scheduler
from dftpost.batch import GAP_SCHEMA, gap_batch
from dftpost.store import read_arrays, read_table

SOURCES = [FIXTURES / "cp2k" / "water4_slab" / n for n in ("nofield", "field")] + sorted(
    (FIXTURES / "cp2k" / "water4_frames").glob("frame_*")
)
N_RUNS = 36  # the six real CP2K runs, six times over, and one broken run
TIMING_COLUMNS = {"elapsed_s", "analysed_at"}


# ----------------------------------------------------------------------------- helpers
def crash_result(item, exc):
    return ("crash", type(exc).__name__, str(exc))


def dftpost_command() -> list[str]:
    script = Path(sys.executable).parent / "dftpost"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from dftpost.cli.main import app; app()"]


def start_gap(*args: str) -> subprocess.Popen:
    """``dftpost gap ARGS --json`` in a session of its own (a job: Ctrl-C reaches every process of it)."""
    return subprocess.Popen([*dftpost_command(), "gap", *args, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(), start_new_session=True,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})


def communicate(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """stdout and stderr of a job whose process ends within ``timeout`` s (else a failure with its
    stacks) and whose other processes, holding its stdout and stderr, end 15 s later at most."""
    try:
        proc.wait(timeout)  # reaped first, as a shell or a batch system does (the output is small)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        stdout, stderr = proc.communicate()
        raise AssertionError(f"dftpost gap did not end in {timeout} s:\n{stderr}") from None
    try:
        return proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        raise AssertionError("processes of dftpost gap outlived it by 15 s") from None


def rows_committed(out: Path) -> int:
    try:
        return len(read_table(out, "gap")["run"])
    except Exception:  # noqa: BLE001 - not there yet, or the table is being created
        return 0


def wait_for_rows(proc: subprocess.Popen, out: Path, n: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if (committed := rows_committed(out)) >= n:
            return committed
        time.sleep(0.01)
    code = proc.poll()
    raise AssertionError(f"{n} rows were not committed in time (exit {code}): {end_group(proc)}")


def group_alive(pgid: int) -> bool:
    """True while a process of the group is alive (zombies not counted)."""
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def end_group(proc: subprocess.Popen) -> str:
    """Kill what is left of a job started by start_gap (its own session); its stderr if unread."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.stderr.closed:  # read by communicate() already
        return ""
    return proc.communicate(timeout=30)[1]


def table_by_run(path: Path) -> tuple[dict, np.ndarray]:
    table = read_table(path, "gap")
    return table, np.argsort(table["run"], kind="stable")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> Path:
    """N_RUNS copies of the real CP2K runs (cubes left out: gap does not read them) and one broken run."""
    parent = tmp_path_factory.mktemp("campaign")
    for i in range(N_RUNS):
        shutil.copytree(SOURCES[i % len(SOURCES)], parent / f"run_{i:03d}", ignore=shutil.ignore_patterns("*.cube"))
    broken = shutil.copytree(SOURCES[0], parent / "broken", ignore=shutil.ignore_patterns("*.cube", "*.pdos"))
    assert not list(broken.glob("*.pdos"))
    return parent


# ----------------------------------------------------------------------------- same results everywhere
def test_serial_processes_and_dask_store_identical_contents(campaign, dask_address, tmp_path):
    runs = [campaign / f"run_{i:03d}" for i in range(len(SOURCES) + 2)] + [campaign / "broken"]
    files = {"serial": tmp_path / "serial.h5", "processes": tmp_path / "processes.h5", "dask": tmp_path / "dask.h5"}
    gap_batch(runs, files["serial"], BandEdgeParameters(), workers=1)
    gap_batch(runs, files["processes"], BandEdgeParameters(), workers=2)
    gap_batch(runs, files["dask"], BandEdgeParameters(), workers=2, scheduler=dask_address)
    reference, order = table_by_run(files["serial"])
    assert len(order) == len(runs) and list(reference["status"]).count("error") == 1
    columns = set(GAP_SCHEMA.columns) - TIMING_COLUMNS
    for name in ("processes", "dask"):
        table, other = table_by_run(files[name])
        assert set(table) == set(reference)
        for column in columns:
            np.testing.assert_array_equal(table[column][other], reference[column][order], err_msg=f"{name}: {column}")
        for i, j in zip(order, other):
            a, b = read_arrays(files["serial"], "gap", int(i)), read_arrays(files[name], "gap", int(j))
            assert a.keys() == b.keys() == GAP_SCHEMA.arrays.keys()
            for array in a:
                np.testing.assert_array_equal(b[array], a[array], err_msg=f"{name}: {array} of {reference['run'][i]}")


# ----------------------------------------------------------------------------- a worker that dies
@pytest.mark.parametrize("where", ["processes", "dask"])
def test_a_worker_that_dies_is_one_error_result_and_the_rest_go_on(where, request):
    scheduler = request.getfixturevalue("dask_address") if where == "dask" else None
    items = [1, 2, "die", 3, 4, "raise", 5, 6, 7, 8]
    results = dict(map_unordered(double_or_die, items, 2, crash_result, scheduler=scheduler))
    assert results.keys() == set(items)
    assert all(results[i] == 2 * i for i in items if isinstance(i, int))
    assert results["raise"] == ("crash", "ValueError", "bad item")
    kind, name, message = results["die"]
    assert (kind, name) == ("crash", "WorkerDied") and "died" in message
    with pytest.raises(WorkerDied):  # without on_crash it propagates
        list(map_unordered(double_or_die, [1, "die"], 2, scheduler=scheduler))


@pytest.mark.parametrize("where", ["processes", "dask"])
def test_gap_batch_stores_a_run_whose_worker_died_as_an_error_and_a_rerun_retries_it(
    where, campaign, tmp_path, monkeypatch, request
):
    scheduler = request.getfixturevalue("dask_address") if where == "dask" else None
    runs = [campaign / f"run_{i:03d}" for i in range(4)]
    die = shutil.copytree(runs[0], tmp_path / "die")
    out = tmp_path / "results.h5"
    # Workers import analyse_or_die from tests/dying_workers.py; the analysis looks its work up when it runs.
    monkeypatch.setattr(GapAnalysis, "work", staticmethod(analyse_or_die))
    rows = gap_batch([*runs, die], out, workers=2, scheduler=scheduler)
    monkeypatch.undo()
    by_run = {Path(r["run"]).name: r for r in rows}
    assert [by_run[r.name]["status"] for r in runs] == ["ok"] * 4
    assert by_run["die"]["status"] == "error" and "worker failed: WorkerDied" in by_run["die"]["error"]
    table = read_table(out, "gap")
    assert sorted(Path(r).name for r in table["run"]) == ["die", *(r.name for r in runs)]
    # no input hash was stored for the run whose worker died: a re-run analyses it again
    again = gap_batch([*runs, die], out, workers=1)
    assert [(Path(r["run"]).name, r["status"]) for r in again] == [("die", "ok")]


# ----------------------------------------------------------------------------- kill -9, Ctrl-C
def test_batch_killed_mid_way_leaves_a_readable_file_and_a_rerun_completes_it(campaign, tmp_path):
    out = tmp_path / "results.h5"
    proc = start_gap(str(campaign), "--out", str(out), "--workers", "2")
    try:
        wait_for_rows(proc, out, 5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        deadline = time.monotonic() + 10
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not group_alive(proc.pid), "worker processes outlived the killed batch"
    finally:
        end_group(proc)
    at_kill = read_table(out, "gap")
    assert 5 <= len(at_kill["run"]) < N_RUNS + 1, "the batch ended before it was killed"
    rerun = start_gap(str(campaign), "--out", str(out), "--workers", "2")
    stdout, stderr = communicate(rerun, 120)
    assert rerun.returncode == 1, stderr  # the broken run failed, now or in its stored error row (not redone)
    lines = [json.loads(line) for line in stdout.splitlines()]  # one object per run, the stored ones marked
    assert len(lines) == N_RUNS + 1
    assert sum(not line["stored"] for line in lines) == N_RUNS + 1 - len(at_kill["run"])
    table = read_table(out, "gap")
    counts = collections.Counter(table["run"])
    assert set(counts) == {str(p) for p in campaign.iterdir()} and set(counts.values()) == {1}
    assert list(table["status"]).count("error") == 1
    for i in range(len(table["run"])):
        arrays = read_arrays(out, "gap", i)
        assert arrays["water_dos"].shape == arrays["energies_eV"].shape
    with h5py.File(out, "r") as f:  # closed cleanly by the re-run: any HDF5 reader opens it
        assert int(f["gap/_n_rows"][()]) == N_RUNS + 1


@pytest.mark.parametrize(
    "where, signum, code, word",
    [("processes", signal.SIGINT, 130, "interrupted"), ("dask", signal.SIGINT, 130, "interrupted"),
     ("processes", signal.SIGTERM, 143, "terminated")],
    ids=["ctrl-c-processes", "ctrl-c-dask", "sigterm-processes"],
)
def test_ctrl_c_or_sigterm_stops_cleanly_and_keeps_the_rows_done(where, signum, code, word, campaign, tmp_path):
    if where == "dask":
        pytest.importorskip("distributed")
    out = tmp_path / "results.h5"
    extra = ["--scheduler", "local"] if where == "dask" else []
    proc = start_gap(str(campaign), "--out", str(out), "--workers", "2", *extra)
    try:
        wait_for_rows(proc, out, 3)
        os.killpg(proc.pid, signum)  # as Ctrl-C in a terminal, or a batch system: every process of the job
        stdout, stderr = communicate(proc, 60)
        deadline = time.monotonic() + 15
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not group_alive(proc.pid), "worker processes outlived the batch"
    finally:
        end_group(proc)
    assert proc.returncode == code, stderr
    stored = read_table(out, "gap")["run"]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert re.fullmatch(rf"{word}: {len(stored)} run\(s\) stored in .*results\.h5; run the same command "
                        r"again to analyse the rest", lines[0]), lines[0]
    assert 3 <= len(stored) < N_RUNS + 1 and len(set(stored)) == len(stored)
    assert len(stdout.splitlines()) == len(stored)  # each row printed was stored, and only those


# ----------------------------------------------------------------------------- choosing a scheduler
def test_scheduler_without_dask_installed_is_a_one_line_error(campaign, tmp_path):
    block = "import sys; sys.modules['distributed'] = None; from dftpost.cli.main import app; app()"
    result = subprocess.run([sys.executable, "-c", block, "gap", str(campaign / "run_000"), "--out",
                             str(tmp_path / "r.h5"), "--scheduler", "local"], capture_output=True, text=True,
                            cwd=tmp_path)  # the installed dftpost, not the checkout's source tree
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "install dftpost[dask]" in result.stderr, result.stderr
    assert not (tmp_path / "r.h5").exists()  # refused before any work


def test_cluster_file_runs_the_batch_on_the_cluster_it_names(campaign, tmp_path):
    pytest.importorskip("distributed")
    config = tmp_path / "cluster.yaml"
    config.write_text("cluster: LocalCluster\njobs: 2\nkwargs:\n  n_workers: 0\n  processes: false\n"
                      "  threads_per_worker: 1\n  dashboard_address: null\n")
    spec = parse_scheduler(str(config))
    assert (spec.kind, spec.cluster_class, spec.jobs) == ("cluster", "distributed.deploy.local.LocalCluster", 2)
    runs = [campaign / f"run_{i:03d}" for i in range(3)]
    rows = gap_batch(runs, tmp_path / "r.h5", workers=1, scheduler=str(config))
    assert sorted(r["run"] for r in rows) == sorted(map(str, runs)) and {r["status"] for r in rows} == {"ok"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("cluster: NoSuchCluster\n", "no cluster class 'NoSuchCluster'"),
        ("cluster: LocalCluster\nworkers: 2\n", "unknown key(s) ['workers']"),
        ("cluster: LocalCluster\njobs: two\n", "'jobs' must be a positive integer"),
        ("- LocalCluster\n", "a cluster file is a mapping"),
        ("cluster: [unclosed\n", "cannot be read as YAML"),
    ],
)
def test_wrong_cluster_file_is_refused_with_the_file_named(text, message, tmp_path):
    pytest.importorskip("distributed")
    config = tmp_path / "cluster.yaml"
    config.write_text(text)
    with pytest.raises(SchedulerError) as error:
        parse_scheduler(str(config))
    assert str(error.value).startswith(f"{config}: ") and message in str(error.value)
    with pytest.raises(SchedulerError, match="no such cluster file"):
        parse_scheduler(str(tmp_path / "missing.yaml"))


def test_readme_slurm_example_makes_a_slurm_job_script():
    """The cluster file of README "Running on a cluster" is valid for dask-jobqueue's SLURMCluster."""
    pytest.importorskip("dask_jobqueue")
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Running on a cluster"):]
    text = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "slurm.yaml"
        config.write_text(text)
        spec = parse_scheduler(str(config))
    assert spec.cluster_class == "dask_jobqueue.slurm.SLURMCluster" and spec.jobs >= 1
    from dask_jobqueue import SLURMCluster

    with SLURMCluster(**spec.kwargs) as cluster:  # not submitted: scale() is what submits jobs
        script = cluster.job_script()
    assert "#SBATCH" in script and f"--nworkers {spec.kwargs['processes']}" in script



def test_readme_merge_script_stores_each_run_of_the_parts_once(campaign, tmp_path, monkeypatch):
    """The merge script of README "Running on a cluster" (per-task files of a job array)."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Running on a cluster"):]
    script = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    runs = [campaign / f"run_{i:03d}" for i in range(4)]
    (tmp_path / "parts").mkdir()
    gap_batch(runs[:3], tmp_path / "parts" / "gap_0.h5")
    gap_batch(runs[2:], tmp_path / "parts" / "gap_1.h5")  # run 2 in both parts
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # merging again adds nothing
        exec(compile(script, "README merge script", "exec"), {})
    table = read_table(tmp_path / "results.h5", "gap")
    assert sorted(table["run"]) == sorted(map(str, runs))
    part = read_table(tmp_path / "parts" / "gap_1.h5", "gap")
    i, j = list(table["run"]).index(str(runs[3])), list(part["run"]).index(str(runs[3]))
    for column in GAP_SCHEMA.columns:
        np.testing.assert_array_equal(table[column][i], part[column][j], err_msg=column)
    for name, array in read_arrays(tmp_path / "parts" / "gap_1.h5", "gap", j).items():
        np.testing.assert_array_equal(read_arrays(tmp_path / "results.h5", "gap", i)[name], array)

