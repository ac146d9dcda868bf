"""Analyses over many inputs, stored in HDF5: ``gap`` over run directories, ``dipole`` over a
trajectory, ``field_profile`` over a pair of runs, ``charge_fit`` over a set of runs.

For ``gap``: one function per item (:func:`analyse_gap`, run in worker processes; it never
raises) and one writer (:func:`gap_batch`, in the calling process), which appends each result as
it arrives, skips runs already stored with the same inputs, and never loses finished results to
a bad run. For ``dipole`` and ``potential``: :func:`dipole_trajectory` and
:func:`potential_trajectory` stream the frames through the analysis, or hand chunks of frames to
worker processes (:func:`dipole_chunk`, :func:`potential_chunk`) and merge their results in frame
order.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .analysis.bandedges import BandEdgeParameters, gap_by_dipole, water_gap
from .analysis.charge_fit import DEFAULT_MAX_DIPOLE, ChargeFit, density_dipole, fit_oxygen_charge, potential_step_dipole
from .analysis.correlation import autocorrelation, block_average, integrated_correlation_time
from .analysis.electrostatics import DEFAULT_SIGMA_A, DEFAULT_TOLERANCE_V, choose_parameters, potential_spread
from .analysis.dipole import DEFAULT_Q_O, DipoleAccumulator, DipoleTrajectory, fixed_charge_dipole, repeat_distance_z
from .analysis.molecules import DEFAULT_R_OH, water_indices, water_molecules
from .analysis.profiles import FieldResponse, field_response
from .errors import DftpostError, printable
from .grid import Grid
from .io.cube import read_cube
from .io.files import open_regular, regular_file
from .io.rundir import find_run_dirs, input_hash, read_run
from .io.trajectory import FrameChunk, frame_chunks, iter_chunk, iter_frames, parse_index
from .parallel import map_unordered, parse_scheduler, usable_workers
from .run import Run
from .units import EPSILON0_E_PER_V_A
from .store import Column, ResultStore, TableSchema, read_table

#: The ``gap`` table: one row per analysed run. Energies relative to the printed Fermi level.
GAP_SCHEMA = TableSchema(
    "gap",
    {
        "run": Column("str", "", "absolute path of the run directory"),
        "input_hash": Column("str", "", "fingerprint of the run's input files (dftpost.io.rundir.input_hash)"),
        "status": Column("str", "", "ok or error"),
        "error": Column("str", "", "why the analysis failed (empty when ok)"),
        "code": Column("str", "", "fhi-aims or cp2k"),
        "program_version": Column("str", "", "version string the program printed"),
        "fermi_level_eV": Column("f8", "eV", "Fermi level as the program printed it (its own energy zero)"),
        "vbm_eV": Column("f8", "eV", "water valence-band maximum, relative to the Fermi level"),
        "cbm_eV": Column("f8", "eV", "water conduction-band minimum, relative to the Fermi level"),
        "gap_eV": Column("f8", "eV", "cbm_eV - vbm_eV (negative: occupied and unoccupied water states overlap)"),
        "metallized": Column("i1", "", "1 if the water is metallized (see verdict_basis), 0 if not, -1 unknown"),
        "verdict_basis": Column("str", "", "how the verdict was reached (occupations, or edges against a reference)"),
        "water_homo_eV": Column("f8", "eV", "highest occupied water state, from the occupations (NaN without)"),
        "water_lumo_eV": Column("f8", "eV", "lowest unoccupied water state, from the occupations (NaN without)"),
        "start_offset_used_eV": Column("f8", "eV", "start offset s the first scan used (0 when the occupations locate the gap)"),
        "reference_eV": Column("f8", "eV", "level the scans start from and metallization is judged by"),
        "reference": Column("str", "", "what the reference level is"),
        "dipole_e_per_A": Column("f8", "e/Å", "total dipole per area along the surface normal"),
        "dipole_source": Column("str", "", "where the dipole came from"),
        "n_water_atoms": Column("i8", "", "water atoms in the PDoS (beyond d_cut)"),
        "n_water_atoms_above_substrate": Column("i8", "", "of those, atoms above their nearest substrate atom (-1: no substrate)"),
        "n_water_atoms_below_substrate": Column("i8", "", "of those, atoms below their nearest substrate atom (-1: no substrate)"),
        "n_substrate_atoms": Column("i8", "", "atoms not in a water molecule (metal, oxide, hydroxyl, free H)"),
        "threshold_states_per_eV": Column("f8", "states/eV", "threshold T used"),
        "started_in_band": Column("i1", "", "1 if a scan started inside a band"),
        "parameters": Column("str", "", "JSON of the BandEdgeParameters"),
        "notes": Column("str", "", "JSON list of remarks of the search"),
        "z_resolved_note": Column("str", "", "why there is no z-resolved PDoS (empty when there is)"),
        "vacuum_level_eV": Column("f8", "eV", "vacuum level on the side vacuum_side, relative to the Fermi level (NaN: none)"),
        "vacuum_level_upper_eV": Column("f8", "eV", "vacuum level above the slab, relative to the Fermi level (NaN: none)"),
        "vacuum_level_lower_eV": Column("f8", "eV", "vacuum level below the slab, relative to the Fermi level (NaN: none)"),
        "vacuum_side": Column("str", "", "upper or lower: the side vacuum_level_eV and the edges vs vacuum are taken on"),
        "vacuum_spread_eV": Column("f8", "eV", "max - min of the potential over that vacuum plateau (NaN: printed level or none)"),
        "vacuum_note": Column("str", "", "where the vacuum levels come from, or why there are none"),
        "work_function_eV": Column("f8", "eV", "vacuum_level_eV with a substrate: Φ = E_vac - E_F (NaN without)"),
        "vbm_vs_vacuum_eV": Column("f8", "eV", "vbm_eV - vacuum_level_eV (NaN without a vacuum level)"),
        "cbm_vs_vacuum_eV": Column("f8", "eV", "cbm_eV - vacuum_level_eV (NaN without a vacuum level)"),
        "elapsed_s": Column("f8", "s", "wall time of the analysis of this run"),
        "analysed_at": Column("str", "", "ISO time the row was made"),
    },
    arrays={
        "energies_eV": Column("f8", "eV", "energy grid of the PDoS arrays, relative to the Fermi level"),
        "water_dos": Column("f8", "states/eV", "water PDoS on energies_eV (spins summed)"),
        "substrate_dos": Column("f8", "states/eV", "substrate DoS on energies_eV (spins summed; empty without substrate)"),
        "z_bin_edges_A": Column("f8", "Å", "edges of the z bins of the z-resolved PDoS"),
        "z_bin_centres_A": Column("f8", "Å", "centre of each z bin: the mean height of its atoms"),
        "z_resolved_dos": Column("f8", "states/eV", "water PDoS per z bin (n_bins x n_energies)"),
        "local_vbm_eV": Column("f8", "eV", "VBM of each z bin (NaN where none was found)"),
        "local_cbm_eV": Column("f8", "eV", "CBM of each z bin (NaN where none was found)"),
        "vbm_by_spin_eV": Column("f8", "eV", "VBM of spin up and down (empty for a closed shell; NaN: none found)"),
        "cbm_by_spin_eV": Column("f8", "eV", "CBM of spin up and down (empty for a closed shell; NaN: none found)"),
        "water_atoms": Column("i8", "", "0-based indices of the water atoms in the PDoS"),
        "water_side": Column("i1", "", "per water atom: +1 above, -1 below its nearest substrate atom, 0 no substrate"),
    },
)


@dataclass(frozen=True)
class GapTask:
    """One run to analyse: its directory, the parameters and an optional user dipole (e/Å)."""

    run: Path
    parameters: BandEdgeParameters
    dipole_e_per_A: float | None = None


def analyse_gap(task: GapTask) -> dict:
    """The ``gap`` row of one run, its PDoS arrays included; a failure is a row with
    ``status="error"`` and the message, never an exception. A run whose path is not valid UTF-8
    is such a row: its path is stored printable (:func:`~dftpost.errors.printable`), which is
    not the path of the run."""
    start = time.perf_counter()
    row: dict = {
        "run": printable(str(task.run)),
        "parameters": json.dumps(asdict(task.parameters)),
        "analysed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        row["input_hash"] = input_hash(task.run)  # first: a re-run skips the error row as any other
        if row["run"] != str(task.run):
            raise DftpostError(task.run, "the path is not valid UTF-8 (its odd bytes shown as \\xNN): "
                                         "rename the directory to store its results")
        run = read_run(task.run)
        row.update(code=run.code, program_version=run.program_version or "")
        if run.fermi_level_eV is not None:
            row["fermi_level_eV"] = run.fermi_level_eV
        result = water_gap(run, task.parameters, task.dipole_e_per_A)
        values = result.row()
        values.pop("parameters")
        values["notes"] = json.dumps(values["notes"])
        values["metallized"] = int(values["metallized"])
        values["started_in_band"] = int(values["started_in_band"])
        for key in ("vbm_by_spin_eV", "cbm_by_spin_eV"):  # per-row arrays: NaN where a channel has none
            values[key] = None if values[key] is None else np.array([np.nan if v is None else v for v in values[key]])
        values.pop("branch")
        row.update(values, status="ok", error="")
        row.update(
            energies_eV=result.energies_eV,
            water_dos=result.water_dos,
            substrate_dos=result.substrate_dos,
            z_bin_edges_A=result.z_bin_edges_A,
            z_bin_centres_A=result.z_bin_centres_A,
            z_resolved_dos=result.z_resolved_dos,
            local_vbm_eV=result.local_vbm_eV,
            local_cbm_eV=result.local_cbm_eV,
            water_atoms=result.selection.indices,
            water_side=result.selection.side,
        )
    except DftpostError as exc:
        row.update(status="error", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen file must not stop a batch
        row.update(status="error", error=printable(f"{task.run}: internal error {type(exc).__name__}: {exc}"))
    row["elapsed_s"] = time.perf_counter() - start
    return row


def gap_batch(
    paths: Iterable[Path],
    out: Path,
    parameters: BandEdgeParameters = BandEdgeParameters(),
    dipole_e_per_A: float | None = None,
    workers: int = 1,
    force: bool = False,
    on_result: Callable[[dict], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    wait_s: float = 0.0,
    scheduler: str | None = None,
) -> list[dict]:
    """Analyse every run directory at or below ``paths`` and append one row per run to ``out``.

    Runs already stored with the same input fingerprint are skipped unless ``force``.
    ``on_start(n_to_do, n_skipped)`` is called once, ``on_result(row)`` after each row is stored.
    ``wait_s``: how long to wait for another writer of ``out`` to finish before giving up.
    ``workers`` local processes analyse the runs, or a Dask cluster with ``scheduler`` ("local",
    "tcp://host:port" or a cluster file; see :mod:`dftpost.parallel`); this process writes.
    A run whose worker died is stored as an error row without input hash, so a re-run retries it.
    An exception (KeyboardInterrupt included) stops the workers; the rows stored stay.
    Returns the rows made (scalar columns only).
    """
    spec = parse_scheduler(scheduler) if scheduler is not None else None  # a wrong one fails before any work
    runs = find_run_dirs(list(paths))
    rows = []
    with ResultStore(out, wait_s=wait_s) as store:
        stored = set() if force else store.stored_keys(GAP_SCHEMA.name)
        todo = [r for r in runs if force or not _is_stored(r, stored)]
        if on_start is not None:
            on_start(len(todo), len(runs) - len(todo))
        tasks = [GapTask(r, parameters, dipole_e_per_A) for r in todo]
        results = map_unordered(analyse_gap, tasks, workers, on_crash=_crash_row, scheduler=spec)
        with closing(results):  # an interrupt stops the workers before the store closes
            for task, row in results:
                store.append(GAP_SCHEMA, [row])
                scalars = {k: v for k, v in row.items() if k not in GAP_SCHEMA.arrays}
                rows.append(scalars)
                if on_result is not None:
                    on_result(scalars)
    return rows


def _is_stored(run: Path, stored: set) -> bool:
    """True if the run is stored with its current input fingerprint (hashing only when the
    run path is stored at all); False when it cannot be fingerprinted (its analysis then
    stores the error)."""
    key = printable(str(run))
    if not any(k[0] == key for k in stored):
        return False
    try:
        return (key, input_hash(run)) in stored
    except DftpostError:
        return False


def _crash_row(task: GapTask, exc: BaseException) -> dict:
    return {
        "run": printable(str(task.run)),
        "status": "error",
        "error": printable(f"{task.run}: worker failed: {type(exc).__name__}: {exc}"),
        "parameters": json.dumps(asdict(task.parameters)),
        "analysed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def gap_summary(path: Path, bin_width_e_per_A: float = 0.005) -> dict:
    """Counts, metallized fraction and gaps binned by dipole from a results file.

    Each run counts once, with its latest row. ``metallized_fraction`` is over the runs that
    succeeded; ``gap_by_dipole`` bins those by dipole (see
    :func:`dftpost.analysis.bandedges.gap_by_dipole`).
    """
    table = read_table(path, GAP_SCHEMA.name)
    runs = table["run"]
    latest: dict[str, int] = {}
    for i, run in enumerate(runs):
        latest[run] = i
    index = np.array(sorted(latest.values()), dtype=int)
    ok = index[np.asarray(table["status"], dtype=object)[index] == "ok"] if index.size else index
    # rows without a dipole or a gap (a file written before that column existed) are not binned
    binned = ok[np.isfinite(table["dipole_e_per_A"][ok]) & np.isfinite(table["gap_eV"][ok])]
    out = {
        "file": str(path),
        "n_runs": int(index.size),
        "n_ok": int(ok.size),
        "n_failed": int(index.size - ok.size),
        "metallized_fraction": float(np.mean(table["metallized"][ok] == 1)) if ok.size else None,
        "bin_width_e_per_A": bin_width_e_per_A,
        "n_not_binned": int(ok.size - binned.size),
        "gap_by_dipole": gap_by_dipole(table["dipole_e_per_A"][binned], table["gap_eV"][binned],
                                       table["metallized"][binned] == 1, bin_width_e_per_A)
        if binned.size
        else [],
    }
    if ok.size:
        out["mean_gap_eV"] = float(np.mean(table["gap_eV"][ok]))
    return out


# ----------------------------------------------------------------------------- dipole
#: The ``dipole`` table: one row per analysed trajectory (and selection of frames).
DIPOLE_SCHEMA = TableSchema(
    "dipole",
    {
        "run": Column("str", "", "absolute path of the trajectory"),
        "input_hash": Column("str", "", "fingerprint of the trajectory file and the parameters"),
        "status": Column("str", "", "ok"),
        "index": Column("str", "", "frames analysed, start:stop:step"),
        "n_frames": Column("i8", "", "frames analysed"),
        "q_o_e": Column("f8", "e", "oxygen charge (q_H = -q_O/2)"),
        "r_oh_A": Column("f8", "Å", "O-H bond cut-off of the molecule assignment"),
        "gap_eV": Column("f8", "eV", "band gap a breakdown candidate's |ΔV| exceeds"),
        "mean_total_dipole_e_per_A": Column("f8", "e/Å", "mean total dipole per area"),
        "std_total_dipole_e_per_A": Column("f8", "e/Å", "standard deviation of the total dipole per area"),
        "sem_total_dipole_e_per_A": Column("f8", "e/Å", "standard error of the mean (blocking)"),
        "breakdown_fraction": Column("f8", "", "fraction of frames with |μ|/ε0 above gap_eV"),
        "acf_integrated_time_frames": Column("f8", "frames", "integrated correlation time of the total dipole"),
        "acf_integrated_time_ps": Column("f8", "ps", "the same in ps (NaN when the frames carry no evenly spaced times)"),
        "water_thickness_A": Column("f8", "Å", "mean over frames of the highest minus the lowest O height"),
        "parameters": Column("str", "", "JSON of the parameters"),
        "analysed_at": Column("str", "", "ISO time the row was made"),
    },
    arrays={
        "frame_index": Column("i8", "", "frame numbers in the file"),
        "time_ps": Column("f8", "ps", "time of each frame (NaN when unknown)"),
        "total_dipole": Column("f8", "e/Å", "total dipole per area of each frame"),
        "potential_step": Column("f8", "V", "μ/ε0 of each frame"),
        "census": Column("i8", "", "per frame counts of O, OH, H2O, H3O, free H"),
        "water_thickness": Column("f8", "Å", "per frame the highest minus the lowest O height"),
        "z": Column("f8", "Å", "bin centres above each frame's origin"),
        "mean_cumulative_dipole": Column("f8", "e/Å", "mean cumulative dipole μ_z(z)"),
        "std_cumulative_dipole": Column("f8", "e/Å", "standard deviation of μ_z(z) over frames"),
        "o_density": Column("f8", "1/Å^3", "mean O number density"),
        "h_density": Column("f8", "1/Å^3", "mean H number density"),
        "histogram_counts": Column("i8", "", "histogram of the total dipole"),
        "histogram_edges": Column("f8", "e/Å", "bin edges of the histogram"),
        "acf": Column("f8", "", "autocorrelation of the total dipole, lag 0, 1, ... frames"),
        "block_sizes": Column("i8", "frames", "block sizes of the blocking analysis"),
        "block_sem": Column("f8", "e/Å", "standard error of the mean at each block size"),
    },
)


#: Trajectory text (bytes) worth cutting into chunks for worker processes, whose start-up
#: (about a second each: they import numpy, scipy, ase) must pay off: ~3 s of dipole analysis of
#: 576-atom frames in one process, ~5 s of the potential of 16,200-atom frames. Less is analysed
#: in the calling process. Chunks: 4 per worker.
DIPOLE_PARALLEL_BYTES = 80 << 20
POTENTIAL_PARALLEL_BYTES = 16 << 20


def dipole_trajectory(
    path: Path,
    index: str | None = None,
    q_o: float = DEFAULT_Q_O,
    r_oh: float = DEFAULT_R_OH,
    gap_eV: float = 4.45,
    dz_A: float = 0.1,
    origin_A: float | None = None,
    on_frames: Callable[[int], None] | None = None,
    timestep_ps: float | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    parallel_bytes: int = DIPOLE_PARALLEL_BYTES,
) -> tuple[DipoleTrajectory, dict]:
    """Stream a trajectory through the dipole analysis; return the result and its table row
    (arrays included). ``on_frames(n)`` is called as each n frames are done.

    Frame times (ps): ``timestep_ps`` × the frame number in the file when given, else the frame's
    own ``time_ps`` or ``time_fs`` (ASE ``info`` key, e.g. an extxyz comment-line entry), else
    unknown (NaN; correlation times then in frames only).

    With ``workers`` > 1 or a Dask ``scheduler`` (see :mod:`dftpost.parallel`), a plain
    xyz/extxyz selection of at least ``parallel_bytes`` is cut into chunks of consecutive frames
    (:func:`~dftpost.io.trajectory.frame_chunks`) analysed by separate processes and merged in
    frame order: the result is that of one process, to rounding. Anything else is
    streamed in this process.
    """
    regular_file(path)  # named as given (a link to /dev/zero is the link's error), before resolving
    path = Path(path).resolve()
    selection = parse_index(index)
    parameters = {"q_o_e": q_o, "r_oh_A": r_oh, "gap_eV": gap_eV, "dz_A": dz_A, "origin_A": origin_A,
                  "index": index or ":", "timestep_ps": timestep_ps}
    with ThreadPoolExecutor(1) as hashing:  # the fingerprint is read while the frames are parsed
        fingerprint = hashing.submit(_file_hash, path, json.dumps(parameters, sort_keys=True))
        chunks, first = _worker_chunks(path, selection, workers, scheduler, parallel_bytes)
        if chunks is None:
            frames = iter_frames(path, selection)
            first = next(frames, None)
            if first is None:
                raise DftpostError(path, f"no frames (selection {index or ':'})")
            frames = itertools.chain([first], frames)
        task = DipoleChunkTask(None, _z_edges(path, first[1], dz_A), q_o, r_oh, gap_eV, origin_A, timestep_ps)
        if chunks is None:
            accumulator = _dipole_frames(task, path, frames, on_frames)
        else:
            tasks = [replace(task, chunk=chunk) for chunk in chunks]
            accumulator, *later = _map_chunks(dipole_chunk, tasks, workers, scheduler, on_frames)
            for part in later:
                accumulator.merge(part)
        result = accumulator.result()
        input_fingerprint = fingerprint.result()
    totals = result.total_dipole_e_per_A
    acf, tau, blocks = _series_statistics(totals)
    counts, edges = result.histogram()
    row = {
        "run": printable(str(path)),
        "input_hash": input_fingerprint,
        "status": "ok",
        "index": index or ":",
        "n_frames": result.n_frames,
        "q_o_e": q_o,
        "r_oh_A": r_oh,
        "gap_eV": gap_eV,
        "mean_total_dipole_e_per_A": float(totals.mean()),
        "std_total_dipole_e_per_A": float(totals.std()),
        "sem_total_dipole_e_per_A": blocks.sem_estimate if blocks else float("nan"),
        "breakdown_fraction": result.breakdown_fraction,
        "acf_integrated_time_frames": tau,
        "acf_integrated_time_ps": tau * _frame_spacing_ps(result.time_ps),
        "water_thickness_A": float(result.water_thickness_A.mean()),
        "parameters": json.dumps(parameters),
        "analysed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "frame_index": result.frame_index,
        "time_ps": result.time_ps,
        "total_dipole": totals,
        "potential_step": result.potential_step_V,
        "census": result.census,
        "water_thickness": result.water_thickness_A,
        "z": result.z_A,
        "mean_cumulative_dipole": result.mean_cumulative_dipole_e_per_A,
        "std_cumulative_dipole": result.std_cumulative_dipole_e_per_A,
        "o_density": result.o_density_per_A3,
        "h_density": result.h_density_per_A3,
        "histogram_counts": counts,
        "histogram_edges": edges,
        "acf": acf,
        "block_sizes": blocks.block_sizes if blocks else np.zeros(0, dtype=int),
        "block_sem": blocks.sem if blocks else np.zeros(0),
    }
    return result, row


@dataclass(frozen=True, eq=False)
class DipoleChunkTask:
    """A chunk of frames (:class:`~dftpost.io.trajectory.FrameChunk`) and the settings of the
    dipole analysis, for :func:`dipole_chunk` in a worker: the z grid (Å) above each frame's
    origin, q_O (e), r_OH (Å), the gap (eV), the origin (Å, None: automatic) and the timestep (ps)."""

    chunk: FrameChunk | None
    z_edges_A: np.ndarray
    q_o: float
    r_oh: float
    gap_eV: float
    origin_A: float | None
    timestep_ps: float | None


def dipole_chunk(task: DipoleChunkTask) -> DipoleAccumulator:
    """The dipole analysis of one chunk of frames: an accumulator to merge in frame order."""
    return _dipole_frames(task, task.chunk.path, iter_chunk(task.chunk), None)


def _dipole_frames(task: DipoleChunkTask, path: Path, frames, on_frames) -> DipoleAccumulator:
    accumulator = DipoleAccumulator(task.z_edges_A, task.q_o, task.r_oh, task.gap_eV, task.origin_A)
    for number, atoms in frames:
        try:
            accumulator.add(number, atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc,
                            _frame_time_ps(atoms.info, number, task.timestep_ps))
        except DftpostError as exc:
            raise DftpostError(path, f"frame {number}: {exc.problem}") from None
        if on_frames is not None:
            on_frames(1)
    accumulator.flush()
    return accumulator


def _z_edges(path: Path, atoms, dz_A: float) -> np.ndarray:
    """Bin edges (Å) from 0 to the repeat distance along z of the first frame's cell."""
    length = repeat_distance_z(atoms.cell[:]) if atoms.cell[2].any() else 0.0
    if not length > 0:
        raise DftpostError(path, "the cell has no z vector: heights cannot be wrapped")
    return np.arange(0.0, length + dz_A, dz_A)


def _worker_chunks(path: Path, selection: slice, workers: int, scheduler: str | None, parallel_bytes: int):
    """Chunks of the selected frames for worker processes (:func:`~dftpost.io.trajectory.frame_chunks`,
    four per worker), each held to the atom count of the first frame, and that first frame
    (number, Atoms); (None, None) when the frames are streamed in this process instead."""
    if scheduler is None:
        workers = usable_workers(workers)  # more processes than cores would not go faster
    chunks = frame_chunks(path, selection, 4 * workers, parallel_bytes) if workers > 1 or scheduler else None
    if chunks is None:
        return None, None
    with closing(iter_chunk(chunks[0])) as frames:
        first = next(frames)
    return [replace(chunk, n_atoms=len(first[1])) for chunk in chunks], first


def _map_chunks(func, tasks: list, workers: int, scheduler: str | None, on_frames) -> list:
    """``func`` of every chunk task, on local processes or Dask, in the order of the tasks.
    A chunk that fails raises its error, the earliest frames' first (as one process would)."""
    results = {}
    for task, result in map_unordered(func, tasks, workers, on_crash=lambda _task, exc: exc, scheduler=scheduler):
        results[task.chunk.first] = result
        if on_frames is not None and not isinstance(result, BaseException):
            on_frames(task.chunk.count)
    ordered = [results[task.chunk.first] for task in tasks]
    for task, result in zip(tasks, ordered):
        if isinstance(result, DftpostError):
            raise result
        if isinstance(result, BaseException):
            chunk = task.chunk
            raise DftpostError(chunk.path, f"frames {chunk.first}-{chunk.first + (chunk.count - 1) * chunk.step}: "
                                           f"the worker failed ({type(result).__name__}: {result})")
    return ordered


def _series_statistics(series: np.ndarray):
    """Autocorrelation, integrated correlation time (frames) and blocking analysis of a per-frame
    series; a constant series has the ACF [1] and time 0, a single frame no blocking (None)."""
    if series.size > 1 and np.ptp(series) > 0:
        acf = autocorrelation(series)
        tau = integrated_correlation_time(acf)
    else:
        acf, tau = np.ones(1), 0.0
    return acf, tau, block_average(series) if series.size > 1 else None


def _frame_time_ps(info: dict, number: int, timestep_ps: float | None) -> float:
    """The time of a frame, ps (NaN when unknown): see :func:`dipole_trajectory`."""
    if timestep_ps is not None:
        return number * timestep_ps
    for key, scale in (("time_ps", 1.0), ("time_fs", 1e-3)):
        if key in info:
            try:
                return float(info[key]) * scale
            except (TypeError, ValueError):
                return float("nan")
    return float("nan")


def _frame_spacing_ps(times_ps: np.ndarray) -> float:
    """The time between consecutive analysed frames (ps, positive) when they are evenly spaced,
    else NaN. Frames read backwards (``--index ::-1``) are spaced by the same time: the
    autocorrelation of a series read backwards is that of the series, so a correlation time
    in frames times this spacing is the same as read forwards."""
    steps = np.diff(times_ps)
    if steps.size == 0 or not np.all(np.isfinite(steps)) or not np.allclose(steps, steps[0], rtol=1e-6, atol=1e-9) or steps[0] == 0:
        return float("nan")
    return abs(float(steps[0]))


def _file_hash(path: Path, extra: str) -> str:
    """Fingerprint (hex, 32 characters) of a regular file's content and ``extra``."""
    digest = hashlib.blake2b(digest_size=16)
    with open_regular(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    digest.update(extra.encode())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- potential proxy
#: The ``potential`` table: one row per trajectory analysed by :func:`potential_trajectory`.
POTENTIAL_SCHEMA = TableSchema(
    "potential",
    {
        "run": Column("str", "", "absolute path of the trajectory"),
        "input_hash": Column("str", "", "fingerprint of the trajectory file and the parameters"),
        "status": Column("str", "", "ok"),
        "index": Column("str", "", "frames analysed, start:stop:step"),
        "n_frames": Column("i8", "", "frames analysed"),
        "q_o_e": Column("f8", "e", "oxygen charge (q_H = -q_O/2)"),
        "sigma_A": Column("f8", "Å", "width of the Gaussian charges"),
        "self_term": Column("i1", "", "1 if an atom's own Gaussian counts at its centre"),
        "intermolecular": Column("i1", "", "1 if the atoms of the same molecule are left out"),
        "tolerance_V": Column("f8", "V", "requested accuracy of the potential at each atom"),
        "cell_length_A": Column("f8", "Å", "cube root of the mean cell volume"),
        "gap_eV": Column("f8", "eV", "band gap ΔV is compared with"),
        "mean_delta_v_V": Column("f8", "V", "mean over frames of ΔV = max - min of the potential over atoms"),
        "std_delta_v_V": Column("f8", "V", "standard deviation of ΔV over frames"),
        "sem_delta_v_V": Column("f8", "V", "standard error of the mean ΔV (blocking)"),
        "exceeds_gap_fraction": Column("f8", "", "fraction of frames with ΔV above gap_eV"),
        "acf_integrated_time_frames": Column("f8", "frames", "integrated correlation time of ΔV"),
        "acf_integrated_time_ps": Column("f8", "ps", "the same in ps (NaN when the frames carry no evenly spaced times)"),
        "parameters": Column("str", "", "JSON of the parameters and of the Ewald/PME settings of the first frame"),
        "analysed_at": Column("str", "", "ISO time the row was made"),
    },
    arrays={
        "frame_index": Column("i8", "", "frame numbers in the file"),
        "time_ps": Column("f8", "ps", "time of each frame (NaN when unknown)"),
        "delta_v": Column("f8", "V", "ΔV of each frame"),
        "cell_lengths": Column("f8", "Å", "lengths of the three cell vectors of each frame (n_frames x 3)"),
        "acf": Column("f8", "", "autocorrelation of ΔV, lag 0, 1, ... frames"),
    },
)


@dataclass(frozen=True, eq=False)
class PotentialTrajectory:
    """ΔV (V) of every analysed frame, with the frame numbers and times (ps, NaN if unknown)."""

    frame_index: np.ndarray
    time_ps: np.ndarray
    delta_v_V: np.ndarray
    cell_lengths_A: np.ndarray


def potential_trajectory(
    path: Path,
    index: str | None = None,
    q_o: float = DEFAULT_Q_O,
    sigma_A: float = DEFAULT_SIGMA_A,
    tolerance_V: float = DEFAULT_TOLERANCE_V,
    self_term: bool = True,
    intermolecular: bool = False,
    gap_eV: float = 4.45,
    on_frames: Callable[[int], None] | None = None,
    timestep_ps: float | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    parallel_bytes: int = POTENTIAL_PARALLEL_BYTES,
) -> tuple[PotentialTrajectory, dict]:
    """Stream a trajectory through the potential-difference proxy (METHODS §2): ΔV of every
    frame by :func:`~dftpost.analysis.electrostatics.potential_spread`, its distribution and
    autocorrelation; return the result and its ``potential`` table row (arrays included).

    Every frame is treated as periodic in three dimensions (tin-foil Ewald sum), so it needs
    three cell vectors. The Ewald/PME settings are chosen once per cell (they depend on the cell
    and the charges only). Frame times, ``on_frames``, ``workers``, ``scheduler`` and
    ``parallel_bytes`` as in :func:`dipole_trajectory`.
    """
    regular_file(path)  # named as given (a link to /dev/zero is the link's error), before resolving
    path = Path(path).resolve()
    selection = parse_index(index)
    parameters = {"q_o_e": q_o, "sigma_A": sigma_A, "tolerance_V": tolerance_V, "self_term": self_term,
                  "intermolecular": intermolecular, "gap_eV": gap_eV, "index": index or ":", "timestep_ps": timestep_ps}
    task = PotentialChunkTask(None, q_o, sigma_A, tolerance_V, self_term, intermolecular, timestep_ps)
    with ThreadPoolExecutor(1) as hashing:
        fingerprint = hashing.submit(_file_hash, path, json.dumps(parameters, sort_keys=True))
        chunks, _ = _worker_chunks(path, selection, workers, scheduler, parallel_bytes)
        if chunks is None:
            parts = [_potential_frames(task, path, iter_frames(path, selection), on_frames)]
        else:
            parts = _map_chunks(potential_chunk, [replace(task, chunk=chunk) for chunk in chunks], workers, scheduler, on_frames)
        frames, times, spreads, lengths, volumes = (np.concatenate([part[key] for part in parts]) for key in
                                                    ("frames", "times", "spreads", "lengths", "volumes"))
        if not frames.size:
            raise DftpostError(path, f"no frames (selection {index or ':'})")
        first_settings = parts[0]["settings"]
        input_fingerprint = fingerprint.result()
    trajectory = PotentialTrajectory(frames, times, spreads, lengths)
    delta_v = trajectory.delta_v_V
    acf, tau, blocks = _series_statistics(delta_v)
    row = {
        "run": printable(str(path)),
        "input_hash": input_fingerprint,
        "status": "ok",
        "index": index or ":",
        "n_frames": int(delta_v.size),
        "q_o_e": q_o,
        "sigma_A": sigma_A,
        "self_term": int(self_term),
        "intermolecular": int(intermolecular),
        "tolerance_V": tolerance_V,
        "cell_length_A": float(np.mean(volumes) ** (1 / 3)),
        "gap_eV": gap_eV,
        "mean_delta_v_V": float(delta_v.mean()),
        "std_delta_v_V": float(delta_v.std()),
        "sem_delta_v_V": blocks.sem_estimate if blocks else float("nan"),
        "exceeds_gap_fraction": float(np.mean(delta_v > gap_eV)),
        "acf_integrated_time_frames": tau,
        "acf_integrated_time_ps": tau * _frame_spacing_ps(trajectory.time_ps),
        "parameters": json.dumps({**parameters, "ewald": first_settings}),
        "analysed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "frame_index": trajectory.frame_index,
        "time_ps": trajectory.time_ps,
        "delta_v": delta_v,
        "cell_lengths": trajectory.cell_lengths_A,
        "acf": acf,
    }
    return trajectory, row


@dataclass(frozen=True)
class PotentialChunkTask:
    """A chunk of frames and the settings of the potential proxy, for :func:`potential_chunk` in a
    worker: q_O (e), σ (Å), the tolerance (V), the self-term and intermolecular choices and the
    timestep (ps)."""

    chunk: FrameChunk | None
    q_o: float
    sigma_A: float
    tolerance_V: float
    self_term: bool
    intermolecular: bool
    timestep_ps: float | None


def potential_chunk(task: PotentialChunkTask) -> dict:
    """ΔV of the frames of one chunk (see :func:`_potential_frames`)."""
    return _potential_frames(task, task.chunk.path, iter_chunk(task.chunk), None)


def _potential_frames(task: PotentialChunkTask, path: Path, frames, on_frames) -> dict:
    """Per frame its number, time (ps), ΔV (V), cell lengths (Å) and volume (Å³), as arrays, and
    the Ewald/PME settings of the first frame ("settings")."""
    numbers_, times, spreads, lengths, volumes = [], [], [], [], []
    ewald, first_settings = None, None
    for number, atoms in frames:
        cell = atoms.cell[:]
        try:
            if abs(np.linalg.det(cell)) < 1e-9:
                raise DftpostError(None, "the cell has fewer than three vectors: the periodic potential needs all three")
            water_indices(atoms.numbers)  # a frame without O or H: no water, no ΔV
            charges = np.where(atoms.numbers == 8, task.q_o, np.where(atoms.numbers == 1, -task.q_o / 2, 0.0))
            if ewald is None or not (np.array_equal(cell, ewald[0]) and np.array_equal(charges, ewald[1])):
                ewald = (cell.copy(), charges, choose_parameters(cell, charges, task.sigma_A, task.tolerance_V))
            result = potential_spread(atoms.numbers, atoms.positions, cell, task.sigma_A, task.q_o, self_term=task.self_term,
                                      intermolecular=task.intermolecular, parameters=ewald[2])
        except DftpostError as exc:
            raise DftpostError(path, f"frame {number}: {exc.problem}") from None
        first_settings = first_settings or asdict(result.parameters)
        numbers_.append(number)
        times.append(_frame_time_ps(atoms.info, number, task.timestep_ps))
        spreads.append(result.delta_v_V)
        lengths.append(np.linalg.norm(cell, axis=1))
        volumes.append(abs(np.linalg.det(cell)))
        if on_frames is not None:
            on_frames(1)
    return {"frames": np.array(numbers_, dtype=np.int64), "times": np.array(times, dtype=float),
            "spreads": np.array(spreads, dtype=float), "lengths": np.array(lengths, dtype=float).reshape(-1, 3),
            "volumes": np.array(volumes, dtype=float), "settings": first_settings}


# ----------------------------------------------------------------------------- field profile
#: The ``field_profile`` table: one row per field/no-field pair.
FIELD_SCHEMA = TableSchema(
    "field_profile",
    {
        "run": Column("str", "", "absolute path of the run with the field"),
        "input_hash": Column("str", "", "fingerprints of both runs' inputs and the parameters"),
        "run_no_field": Column("str", "", "absolute path of the run without the field"),
        "status": Column("str", "", "ok"),
        "axis": Column("str", "", "surface normal (x, y or z)"),
        "applied_field_V_per_A": Column("f8", "V/Å", "applied field along the axis"),
        "applied_added": Column("i1", "", "1 if dftpost added −E·z to the potential"),
        "applied_detected": Column("str", "", "how that was decided"),
        "field_vacuum_below_V_per_A": Column("f8", "V/Å", "field in the vacuum below the atoms"),
        "field_vacuum_above_V_per_A": Column("f8", "V/Å", "field in the vacuum above the atoms"),
        "field_water_V_per_A": Column("f8", "V/Å", "field inside the water"),
        "field_metal_V_per_A": Column("f8", "V/Å", "field inside the metal (NaN without one)"),
        "screening": Column("f8", "", "mean vacuum field / water field"),
        "metallic_water": Column("i1", "", "1 if the water keeps less than 10% of the vacuum field"),
        "induced_dipole_e_A": Column("f8", "e·Å", "dipole of the induced electron density (−Δρ)"),
        "potential_step_V": Column("f8", "V", "step of the electrons' ΔV across the slab"),
        "dipole_step_V": Column("f8", "V", "induced dipole / (ε0 A): should equal potential_step_V"),
        "parameters": Column("str", "", "JSON of the parameters and the regions"),
        "analysed_at": Column("str", "", "ISO time the row was made"),
    },
    arrays={
        "z": Column("f8", "Å", "heights of the grid planes"),
        "delta_v": Column("f8", "V", "ΔV(z) with the applied potential"),
        "delta_v_hartree": Column("f8", "V", "ΔV(z) of the electrons alone"),
        "macroscopic_delta_v": Column("f8", "V", "macroscopic (window) average of ΔV"),
        "delta_rho": Column("f8", "e/Å^3", "Δρ(z), electrons counted positive"),
    },
)


def _potential_and_density(run: Run) -> tuple[Grid, Grid]:
    pot = [c for c in run.cubes if c.quantity == "electrostatic_potential"]
    rho = [c for c in run.cubes if c.quantity == "electron_density"]
    if not pot or not rho:
        raise DftpostError(run.path, "needs a Hartree-potential cube and an electron-density cube")
    return read_cube(pot[0].path), read_cube(rho[0].path)


def field_profile(
    run_no_field: Path,
    run_field: Path,
    axis: int = 2,
    include_applied: str = "auto",
    margin_A: float = 3.0,
    window_A: float = 3.0,
) -> tuple[FieldResponse, dict]:
    """The field response of a pair of runs of one frame; the result and its table row."""
    r0, r1 = read_run(run_no_field), read_run(run_field)
    if r1.applied_field_V_per_A is None:
        raise DftpostError(r1.path, "no applied field found in this run (the second run must have the field)")
    if r0.applied_field_V_per_A is not None and np.any(r0.applied_field_V_per_A != 0):
        raise DftpostError(r0.path, "this run has an applied field: give the run without the field first")
    field = np.asarray(r1.applied_field_V_per_A, dtype=float)
    if field[axis] == 0:
        along = "xyz"[int(np.argmax(np.abs(field)))]
        raise DftpostError(r1.path, f"the applied field ({', '.join(f'{x:g}' for x in field)}) V/Å has no component along "
                                    f"{'xyz'[axis]}" + (f": the surface normal is {along} (--axis {along})" if field.any() else ""))
    v0, rho0 = _potential_and_density(r0)
    v1, rho1 = _potential_and_density(r1)
    result = field_response(v0, v1, rho0, rho1, float(r1.applied_field_V_per_A[axis]), axis, include_applied, margin_A, window_A=window_A)
    below, above = result.field_vacuum_V_per_A
    metal = result.region("metal")
    parameters = {
        "axis": "xyz"[axis],
        "include_applied": include_applied,
        "margin_A": margin_A,
        "window_A": window_A,
        "regions": [asdict(r) for r in result.regions],
        "notes": list(result.notes),
    }
    row = {
        "run": str(r1.path.resolve()),
        "input_hash": input_hash(r0.path) + input_hash(r1.path) + hashlib.blake2b(
            json.dumps([parameters["axis"], include_applied, margin_A, window_A]).encode(), digest_size=8).hexdigest(),
        "run_no_field": str(r0.path.resolve()),
        "status": "ok",
        "axis": "xyz"[axis],
        "applied_field_V_per_A": result.applied_field_V_per_A,
        "applied_added": int(result.applied_added),
        "applied_detected": result.applied_detected,
        "field_vacuum_below_V_per_A": below,
        "field_vacuum_above_V_per_A": above,
        "field_water_V_per_A": result.field_water_V_per_A,
        "field_metal_V_per_A": metal.field_V_per_A if metal else float("nan"),
        "screening": result.screening,
        "metallic_water": int(result.metallic_water),
        "induced_dipole_e_A": result.induced_dipole_e_A,
        "potential_step_V": result.potential_step_V,
        "dipole_step_V": result.dipole_step_V,
        "parameters": json.dumps(parameters, ensure_ascii=False),
        "analysed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "z": result.z_A,
        "delta_v": result.delta_v_V,
        "delta_v_hartree": result.delta_v_hartree_V,
        "macroscopic_delta_v": result.macroscopic_delta_v_V,
        "delta_rho": result.delta_rho_e_per_A3,
    }
    return result, row


# ----------------------------------------------------------------------------- charge fit
#: The ``charge_fit`` table: one row per fit of q_O over a set of runs.
CHARGE_FIT_SCHEMA = TableSchema(
    "charge_fit",
    {
        "run": Column("str", "", "JSON list of the run directories, in the order of the arrays"),
        "input_hash": Column("str", "", "fingerprint of all runs' inputs and the parameters"),
        "status": Column("str", "", "ok"),
        "q_o_e": Column("f8", "e", "fitted oxygen charge"),
        "q_o_stderr_e": Column("f8", "e", "least-squares standard error"),
        "q_o_ci95_low_e": Column("f8", "e", "bootstrap 2.5 % quantile"),
        "q_o_ci95_high_e": Column("f8", "e", "bootstrap 97.5 % quantile"),
        "intercept_e_per_A": Column("f8", "e/Å", "intercept (0 unless fitted)"),
        "r2": Column("f8", "", "coefficient of determination over the frames used"),
        "rmse_e_per_A": Column("f8", "e/Å", "root-mean-square residual"),
        "n_used": Column("i8", "", "frames in the fit"),
        "n_rejected": Column("i8", "", "frames left out"),
        "max_dipole_e_per_A": Column("f8", "e/Å", "|μ_DFT| threshold"),
        "source": Column("str", "", "log, cube or auto"),
        "include_substrate": Column("i1", "", "1 if runs with a metal or oxide were let into the fit"),
        "interval_note": Column("str", "", "why there is no confidence interval (empty when there is one)"),
        "frames": Column("str", "", "JSON: per run the lever, dipoles, source, used and why not"),
        "analysed_at": Column("str", "", "ISO time the row was made"),
    },
    arrays={
        "lever": Column("f8", "1/Å", "s = Σ[z_O − ½Σz_H]/A per frame (NaN if the run failed)"),
        "dft_dipole": Column("f8", "e/Å", "DFT dipole per area per frame"),
        "used": Column("i1", "", "1 if the frame is in the fit"),
    },
)


def dft_dipole(run: Run, source: str = "auto", axis: int = 2) -> dict:
    """The DFT dipole of a run along ``axis`` (e·Å) from the log and/or the cubes.

    ``source``: ``"log"``; ``"cube"``: the vacuum step of the electrostatic-potential cube of a
    dipole-corrected run (ΔV = μ/(ε0 A), :func:`~dftpost.analysis.charge_fit.potential_step_dipole`)
    where there is one, else the integral of the density cube (a strided cube loses charge); or
    ``"auto"``: the log when it prints one, else as ``"cube"``. Returns ``dipole_e_A`` with its
    ``source`` ("log", "potential_step" or "cube" for the density), ``log_e_A``,
    ``potential_step_e_A`` and ``cube_e_A`` (density) when available, and ``warnings`` (a strided
    density cube as the source, log and cube more than 2 % apart).
    """
    if source not in ("auto", "log", "cube"):
        raise DftpostError(None, f"source must be log, cube or auto, not {source!r}")
    out: dict = {"log_e_A": None, "potential_step_e_A": None, "cube_e_A": None, "warnings": []}
    dc = run.dipole_correction
    if dc is not None and dc.dipole_e_A is not None:
        out["log_e_A"] = dc.dipole_e_A
    elif dc is not None and dc.gradient_eV_per_A is not None and run.atoms is not None:
        # FHI-aims: μ = ε0 Ω g (sign as printed: not verified on a real dipole-corrected run)
        out["log_e_A"] = EPSILON0_E_PER_V_A * run.atoms.get_volume() * dc.gradient_eV_per_A
        out["warnings"].append("FHI-aims dipole from the correction gradient: sign convention not verified")
    potential = [c for c in run.cubes if c.quantity == "electrostatic_potential"]
    if potential and dc is not None and source in ("auto", "cube"):
        try:
            out["potential_step_e_A"], _ = potential_step_dipole(read_cube(potential[0].path, program=run.code), axis)
        except DftpostError as exc:  # no plateaus to read: the density cube may still serve
            out["warnings"].append(f"no dipole from the potential cube's vacuum step: {exc.problem}")
    density = [c for c in run.cubes if c.quantity == "electron_density"]
    if density and run.core_charges_e is not None and source in ("auto", "cube"):
        grid = read_cube(density[0].path, program=run.code)
        out["cube_e_A"] = density_dipole(grid, run.core_charges_e, axis)
    if source == "log" or (source == "auto" and out["log_e_A"] is not None):
        if out["log_e_A"] is None:
            raise DftpostError(run.path, "the log prints no dipole (no dipole correction?)")
        out["dipole_e_A"], out["source"] = out["log_e_A"], "log"
    elif out["potential_step_e_A"] is not None:
        out["dipole_e_A"], out["source"] = out["potential_step_e_A"], "potential_step"
    else:
        if out["cube_e_A"] is None:
            raise DftpostError(run.path, "no dipole: neither printed in the log nor a cube (dipole-corrected potential, or density with core charges)")
        out["dipole_e_A"], out["source"] = out["cube_e_A"], "cube"
        stride = run.density_cube_stride
        if stride and max(stride) > 1:
            out["warnings"].append(
                f"the density cube is strided ({'x'.join(map(str, stride))}): its dipole can be several % off"
            )
    cube, which = (out["potential_step_e_A"], "potential-step") if out["potential_step_e_A"] is not None else (out["cube_e_A"], "cube")
    if out["log_e_A"] is not None and cube is not None:  # the log against the better cube dipole
        difference = abs(cube - out["log_e_A"]) / max(abs(out["log_e_A"]), 1e-12)
        out["cube_vs_log_relative"] = difference
        if difference > 0.02:
            out["warnings"].append(f"log and {which} dipoles differ by {100 * difference:.1f} %")
    return out


@dataclass(frozen=True)
class ChargeFitTask:
    """One run of a charge fit: where it is, where its DFT dipole comes from, the O–H cut-off."""

    directory: Path
    source: str
    r_oh: float
    include_substrate: bool = False


def charge_fit_frame(task: ChargeFitTask) -> dict:
    """One run's entry of a charge fit: the fixed-charge lever s (1/Å) of its water molecules,
    the DFT dipole per area (e/Å) and where it came from, whether the run may enter the fit
    (``keep``) and why not; an ``error`` instead when the run cannot be used. A run with atoms
    other than H and O (a metal, an oxide) is left out unless ``include_substrate``: its DFT
    dipole holds the substrate's own. Never raises for bad input."""
    frame: dict = {"run": str(task.directory)}
    try:
        run = read_run(task.directory)
        if run.atoms is None:
            raise DftpostError(task.directory, "no structure")
        atoms = run.atoms
        substrate = sorted(set(atoms.get_chemical_symbols()) - {"H", "O"})
        water = water_molecules(atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc, task.r_oh)[0] if substrate else slice(None)
        fc = fixed_charge_dipole(atoms.numbers[water], atoms.positions[water], atoms.cell[:], atoms.pbc, -1.0, task.r_oh)
        d = dft_dipole(run, task.source)
    except DftpostError as exc:
        return {**frame, "error": str(exc), "keep": False}
    frame.update(
        lever_per_A=fc.charge_lever_per_A,
        dft_dipole_e_per_A=d["dipole_e_A"] / fc.area_A2,
        dft_dipole_e_A=d["dipole_e_A"],
        log_dipole_e_A=d["log_e_A"],
        cube_dipole_e_A=d["cube_e_A"],
        source=d["source"],
        warnings=d["warnings"],
        census=fc.census,
    )
    field = run.applied_field_V_per_A is not None and np.any(run.applied_field_V_per_A != 0)
    if substrate:
        frame["substrate"] = "".join(substrate)
    if substrate and not task.include_substrate:
        frame["rejected"] = (
            f"not water alone ({', '.join(substrate)} present): the DFT dipole holds the substrate's own "
            "(include such runs explicitly to fit them)"
        )
    elif fc.dissociated:
        frame["rejected"] = "dissociated water (O, OH, H3O or free H present)"
    elif field:
        frame["rejected"] = "an applied field polarises the water beyond the fixed charges"
    frame["keep"] = "rejected" not in frame
    return frame


def _charge_fit_crash(task: ChargeFitTask, exc: BaseException) -> dict:
    return {"run": str(task.directory), "error": f"{task.directory}: analysis failed ({type(exc).__name__}: {exc})", "keep": False}


def fit_charge(
    paths: Iterable[Path],
    source: str = "auto",
    max_dipole_e_per_A: float = DEFAULT_MAX_DIPOLE,
    intercept: bool = False,
    r_oh: float = DEFAULT_R_OH,
    workers: int = 1,
    scheduler: str | None = None,
    include_substrate: bool = False,
) -> tuple[ChargeFit, dict]:
    """Fit q_O over every run at or below ``paths``; the fit and its table row (arrays in).

    Only runs of water alone enter by default (``include_substrate`` lets metal/oxide runs in);
    every frame left out says why. The runs are read (and their cubes integrated) by ``workers``
    local processes or on a Dask ``scheduler`` (:func:`~dftpost.parallel.map_unordered`); the
    frames keep the runs' order.
    """
    spec = parse_scheduler(scheduler) if scheduler is not None else None  # a wrong one fails before any work
    runs = find_run_dirs(list(paths))
    tasks = [ChargeFitTask(directory, source, r_oh, include_substrate) for directory in runs]
    done = dict(map_unordered(charge_fit_frame, tasks, workers, on_crash=_charge_fit_crash, scheduler=spec))
    frames = [done[task] for task in tasks]
    lever = [f.get("lever_per_A", np.nan) for f in frames]
    dipole = [f.get("dft_dipole_e_per_A", np.nan) for f in frames]
    keep = [f.pop("keep", False) for f in frames]
    lever_a, dipole_a = np.array(lever), np.array(dipole)
    ok = np.isfinite(lever_a)
    result = fit_oxygen_charge(
        np.where(ok, lever_a, 0.0), np.where(ok, dipole_a, np.inf), max_dipole_e_per_A, np.array(keep), intercept
    )
    for frame, used, value in zip(frames, result.used, dipole_a):
        frame["used"] = bool(used)
        if not used and "error" not in frame and "rejected" not in frame:
            frame["rejected"] = f"|μ_DFT| = {abs(value):.4g} e/Å ≥ {max_dipole_e_per_A} e/Å"
    row = {
        "run": json.dumps([f["run"] for f in frames]),
        "input_hash": hashlib.blake2b(
            ("".join(input_hash(r) for r in runs) + f"{source}{max_dipole_e_per_A}{intercept}{r_oh}{include_substrate}").encode(),
            digest_size=16,
        ).hexdigest(),
        "status": "ok",
        "q_o_e": result.q_o_e,
        "q_o_stderr_e": result.q_o_stderr_e,
        "q_o_ci95_low_e": result.q_o_ci95_e[0],
        "q_o_ci95_high_e": result.q_o_ci95_e[1],
        "intercept_e_per_A": result.intercept_e_per_A,
        "r2": result.r2,
        "rmse_e_per_A": result.rmse_e_per_A,
        "n_used": result.n_used,
        "n_rejected": result.n_rejected,
        "max_dipole_e_per_A": max_dipole_e_per_A,
        "source": source,
        "include_substrate": int(include_substrate),
        "interval_note": result.interval_note,
        "frames": json.dumps(frames, ensure_ascii=False, default=float),
        "analysed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "lever": lever_a,
        "dft_dipole": dipole_a,
        "used": result.used.astype(np.int8),
    }
    return result, row
