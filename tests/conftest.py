"""Shared test fixtures: where the real program outputs are, and small helpers."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
CP2K_FIXTURE = FIXTURES / "cp2k" / "water4_slab"
REALDATA = Path(os.environ.get("DFTPOST_REALDATA", REPO.parent / "shared" / "realdata"))
#: real outputs of public repositories that are not committed (licence, size); tests skip without them
CORPUS = Path(os.environ.get("DFTPOST_CORPUS", REPO.parent / "shared" / "corpus"))
REAL_FILES = REPO / "tests" / "data" / "real"


@dataclass(frozen=True)
class CorpusCase:
    """One real run of a corpus: ``log`` is its log below ``tests/data/real/<code>`` (committed:
    the licence allows it) or ``$DFTPOST_CORPUS/<code>`` (read when present); ``version`` the
    program's version as the log prints it, ``kind`` what the run is."""

    code: str
    log: str
    version: str
    kind: str
    committed: bool = False

    @property
    def path(self) -> Path:
        return (REAL_FILES if self.committed else CORPUS) / self.code / self.log


def examples(n: int) -> settings:
    """Hypothesis settings for ``n`` examples, times ``DFTPOST_FUZZ_SCALE``: 50 runs fifty times as
    many (a longer hunt). The fast tier (``-m "not slow"``) runs a quarter of them unless the
    variable is set; the full run (CI) runs all."""
    scale = float(os.environ.get("DFTPOST_FUZZ_SCALE", "1"))
    return settings(max_examples=max(1, int(n * scale)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def pytest_configure(config):
    """The tests run against the installed dftpost (pytest, in importlib mode, puts no folder of
    the checkout before it). ``python -m pytest`` does: Python puts the current folder first, and
    the checkout's dftpost/ lacks dftpost.cli (installed from cli/) unless the install is editable."""
    if importlib.util.find_spec("dftpost.cli") is None:
        raise pytest.UsageError(f"dftpost.cli is not importable: {REPO / 'dftpost'} stands in for the installed dftpost "
                                "(python -m puts the current folder first on sys.path); run pytest, or (Python 3.11+) "
                                "python -P -m pytest")
    if "not slow" in (config.option.markexpr or ""):
        os.environ.setdefault("DFTPOST_FUZZ_SCALE", "0.25")


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The folder of real FHI-aims and CP2K outputs beside the repository (skip if absent)."""
    if not REALDATA.is_dir():
        pytest.skip(f"real output files not found at {REALDATA}")
    return REALDATA


def realdata_files(pattern: str) -> list[Path]:
    """Files below the real-data folder matching a glob pattern (empty when it is absent)."""
    return sorted(REALDATA.glob(pattern)) if REALDATA.is_dir() else []


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REALDATA)) if REALDATA in p.parents else p.name for p in paths]


@pytest.fixture
def copy_dir(tmp_path):
    """Copy a directory into tmp_path (to damage files without touching the originals)."""

    def _copy(src: Path, name: str | None = None) -> Path:
        dst = tmp_path / (name or src.name)
        shutil.copytree(src, dst)
        for p in dst.rglob("*"):
            p.chmod(0o644 if p.is_file() else 0o755)
        return dst

    return _copy


@pytest.fixture(scope="module")
def dask_address():
    """A Dask LocalCluster on the loopback interface: 2 single-threaded worker processes, no
    dashboard. A worker that dies fails the tasks it held at once (allowed-failures 0, to save the
    time of 3 more deaths; map_unordered then runs each of them again alone)."""
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    from dftpost.dask_cluster import _NO_FIXED_PORT

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
        scheduler_kwargs=_NO_FIXED_PORT, silence_logs=40,
    ) as cluster:
        yield cluster.scheduler_address


# Test tiers: ``pytest -m "not slow"`` answers in under two minutes; CI runs everything. Slow are
# the groups that start other programs or many processes: live CP2K runs, package installs,
# worker pools and Dask clusters, and generated campaigns.
SLOW_MODULES = {"test_parallel.py", "test_cp2k_live.py",
                "test_store_faults.py", "test_store_fuzz.py"}  # many command-line runs, writers killed
SLOW_TESTS = {
    "test_install_gives_the_console_script_and_no_top_level_cli",
    "test_dipole_in_chunks_on_processes_and_dask_equals_one_process",
    "test_potential_in_chunks_on_processes_equals_one_process",
    "test_fit_reads_runs_in_parallel_with_the_same_result",
    "test_worker_processes_started_from_the_source_checkout",
    "test_waiting_writer_takes_its_turn",
    # command-line runs that draw every figure or analyse a campaign several times
    "test_cli_draws_every_available_figure",
    "test_registry_and_plot_results",
    "test_cli_figure_names_several_files_and_formats",
    "test_cli_json_and_plot",
    "test_a_second_identical_analysis_is_not_stored_twice",
    "test_rerun_skips_stored_runs_and_force_redoes_them",
    # command-line runs in fresh processes over copied run folders and trajectories (a second or
    # more each on two cores; the same code paths keep in-process tests in the fast tier)
    "test_bad_trajectories",
    "test_results_in_the_run_folder_store_the_run_once",
    "test_names_that_are_not_utf8_store_the_good_runs",
    "test_a_file_that_is_not_a_run_is_one_line_and_a_log_stands_for_its_run",
    "test_a_run_deleted_while_the_batch_runs_is_an_error_row",
    "test_workers_far_beyond_the_cores_are_capped",
    "test_summary_json",
    "test_frames_read_backwards_give_the_forward_correlation_time",
    "test_fit_over_real_runs_and_cli",
    "test_cli_json_and_hdf5",
    "test_formats_by_suffix_and_bad_suffix",
    "test_special_files_among_a_runs_files_fail_that_run_only",
    "test_gap_json_lines_exit_code_and_store",
    "test_a_cube_cut_short_in_a_run_is_a_warning_and_the_gap_stands",
    "test_serial_and_parallel_batches_store_the_same_numbers",
    "test_rerun_over_a_stored_failure_still_exits_1",
    "test_gap_table_tells_the_runs_apart",
    "test_dftpost_gap_json_on_the_real_run",
    "test_dftpost_gap_json_counts_the_water_on_both_faces",
    "test_inspect_json_on_fhi_aims_and_single_files",
    "test_inspect_json_on_the_cp2k_fixture",
    "test_inspect_table",
    "test_unfinished_run_warns_on_stderr",
    "test_fit_charge_says_which_frames_were_left_out_and_why",
    "test_summaries_have_units_and_four_digits",
    "test_a_path_that_is_not_a_regular_file_is_one_line_in_its_own_words",
    "test_the_python_examples_run",
    # worker pools and killed writers (a process or more each)
    "test_a_frame_analysis_on_processes_is_the_serial_one",
    "test_a_bad_frame_in_a_later_chunk_gives_the_error_of_one_process",
    "test_processes_give_the_serial_profile_bit_for_bit",
    "test_writer_killed_while_appending_loses_no_flushed_row",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if (
            item.get_closest_marker("cp2k")
            or item.path.name in SLOW_MODULES
            or item.originalname in SLOW_TESTS
        ):
            item.add_marker(pytest.mark.slow)
