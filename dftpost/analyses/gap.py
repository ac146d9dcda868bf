"""``gap``: water band edges and metallization of many run directories, as one analysis
(:class:`GapAnalysis`): one row per run, each analysed where the backend puts it and appended
to the results file as it arrives, in this process (the one writer)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..analysis import water_gap as one_run
from ..analysis.bandedges import BandEdgeParameters
from ..analysis.vacuum import potential_cube
from ..analysis.water_gap import WaterGap, gap_by_dipole
from ..backends import Backend
from ..errors import DftpostError, printable
from ..grid import Grid
from ..io.cube import read_cube
from ..io.rundir import find_run_dirs, input_hash, read_run
from ..run import Run
from ..store import Column, ResultStore, TableSchema, read_table
from .base import AnalysisBase, now, several_panels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

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
        "vacuum_side": Column("str", "", "upper or lower: the side vacuum_level_eV and the edges vs vacuum are taken on "
                                         "(empty: the cell has no vacuum)"),
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


#: The keys of a run's ``dftpost gap --json`` object, in order (then the spin edges, and the
#: error of a failed run)
#: the per-row arrays of the ``gap`` table that a run's printed row keeps (eV, one per spin channel)
SPIN_EDGES = ("vbm_by_spin_eV", "cbm_by_spin_eV")

GAP_JSON_KEYS = (
    "run", "status", "vbm_eV", "cbm_eV", "gap_eV", "metallized", "dipole_e_per_A", "dipole_source", "fermi_level_eV",
    "reference_eV", "reference", "verdict_basis", "water_homo_eV", "water_lumo_eV", "n_water_atoms",
    "n_water_atoms_above_substrate", "n_water_atoms_below_substrate", "n_substrate_atoms", "vacuum_level_eV",
    "vacuum_level_upper_eV", "vacuum_level_lower_eV", "vacuum_side", "work_function_eV", "vbm_vs_vacuum_eV",
    "cbm_vs_vacuum_eV", "z_resolved_note", "code", "input_hash",
)


class GapAnalysis(AnalysisBase):
    """Band edges of every run directory at or below ``paths`` (:func:`~dftpost.io.rundir.find_run_dirs`)
    with the :class:`~dftpost.analysis.bandedges.BandEdgeParameters` and an optional user dipole
    (e/Å). With a results file ``out``, each row (PDoS arrays included) is appended as it arrives;
    runs already stored with the same input fingerprint are skipped unless ``force``, and ``wait_s``
    is how long to wait for another writer of ``out``. ``on_start(n_to_do, n_skipped)`` is called
    once, ``on_result(row)`` after each row is stored. A run whose worker died is an error row
    without input hash, so a re-run retries it; an exception (KeyboardInterrupt included) stops the
    workers and the rows stored stay. ``results.rows``: the rows made (scalar columns only) in
    order of completion."""

    schema = GAP_SCHEMA

    def __init__(self, paths: Iterable[str | Path], parameters: BandEdgeParameters = BandEdgeParameters(),
                 dipole_e_per_A: float | None = None, out: str | Path | None = None, force: bool = False,
                 on_result: Callable[[dict], None] | None = None, on_start: Callable[[int, int], None] | None = None,
                 wait_s: float = 0.0):
        super().__init__()
        self.paths = [Path(p) for p in paths]
        self.parameters, self.dipole_e_per_A = parameters, dipole_e_per_A
        self.out, self.force, self.on_result, self.on_start, self.wait_s = out, force, on_result, on_start, wait_s

    def run(self, backend: Backend | None = None) -> GapAnalysis:
        """See :meth:`AnalysisBase.run`; with ``out`` the results file is held open meanwhile."""
        self._store: ResultStore | None = None
        try:
            return super().run(backend)
        finally:
            if self._store is not None:
                self._store.close()

    def _prepare(self, backend: Backend) -> list[GapTask]:
        runs = find_run_dirs(self.paths)
        if self.out is not None:
            self._store = ResultStore(self.out, wait_s=self.wait_s)
        stored = set() if self.force or self._store is None else self._store.stored_keys(GAP_SCHEMA.name)
        todo = [r for r in runs if self.force or not _is_stored(r, stored)]
        if self.on_start is not None:
            self.on_start(len(todo), len(runs) - len(todo))
        return [GapTask(r, self.parameters, self.dipole_e_per_A) for r in todo]

    @staticmethod
    def work(task: GapTask) -> dict:
        """The ``gap`` row of one run, its PDoS arrays included; a failure is a row with
        ``status="error"`` and the message, never an exception. A run whose path is not valid UTF-8
        is such a row: its path is stored printable (:func:`~dftpost.errors.printable`), which is
        not the path of the run."""
        start = time.perf_counter()
        row: dict = {
            "run": printable(str(task.run)),
            "parameters": json.dumps(asdict(task.parameters)),
            "analysed_at": now(),
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

    def _crash(self, task: GapTask, exc: BaseException) -> dict:
        return {
            "run": printable(str(task.run)),
            "status": "error",
            "error": printable(f"{task.run}: worker failed: {type(exc).__name__}: {exc}"),
            "parameters": json.dumps(asdict(task.parameters)),
            "analysed_at": now(),
        }

    def _merge(self, task: GapTask, row: dict) -> None:
        if self._store is not None:
            self._store.append(GAP_SCHEMA, [row])
        # the scalar columns and the per-spin edges (two numbers): what is printed of a run
        scalars = {k: v for k, v in row.items() if k not in GAP_SCHEMA.arrays or k in SPIN_EDGES}
        self.results.rows.append(scalars)
        if self.on_result is not None:
            self.on_result(scalars)

    def _conclude(self) -> None:
        pass

    @staticmethod
    def run_json(row: dict) -> dict:
        """The object ``dftpost gap --json`` prints for one run (before it adds ``stored``), from a
        fresh row or a stored one alike: the store's -1 of the substrate counts ("no substrate")
        and its empty ``vacuum_side`` (no vacuum) are null, as in a fresh row."""
        out = {k: row.get(k) for k in GAP_JSON_KEYS}
        for key in ("n_water_atoms_above_substrate", "n_water_atoms_below_substrate"):
            if out[key] == -1:  # the store's "no substrate": null, as in a fresh row
                out[key] = None
        out["vacuum_side"] = out["vacuum_side"] or None
        for key in SPIN_EDGES:  # null for a closed shell
            value = row.get(key)
            out[key] = None if value is None or len(value) == 0 else [float(v) for v in value]
        out["metallized"] = None if row.get("metallized") in (None, -1) else bool(row["metallized"])
        if row.get("status") != "ok":
            out["error"] = row.get("error", "")
        return out

    def to_json(self, **context: Any) -> list[dict]:
        """One :meth:`run_json` object per row, as ``dftpost gap --json`` prints them line by line."""
        return [self.run_json(row) for row in self.to_rows()]

    def plot(self, ax: Axes | None = None, *, fig: Figure | SubFigure | None = None) -> Figure:
        """Band edges against the dipole (:func:`dftpost.plot.draw_band_edges`), into ``fig``."""
        from ..plot import draw_band_edges

        return draw_band_edges(self.to_rows(), fig=several_panels(ax, fig, "the band-edge figure"))

    @staticmethod
    def summary(path: Path, bin_width_e_per_A: float = 0.005) -> dict:
        """Counts, metallized fraction and gaps binned by dipole from a results file.

        Each run counts once, with its latest row. ``metallized_fraction`` is over the runs that
        succeeded; ``gap_by_dipole`` bins those by dipole (see
        :func:`dftpost.analysis.water_gap.gap_by_dipole`).
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


def water_gap(run: Run, params: BandEdgeParameters = BandEdgeParameters(), dipole_e_per_A: float | None = None) -> WaterGap:
    """Band edges of the water of one run as ``dftpost gap`` finds them (eV vs E_F), with the
    vacuum levels from the potential cube the run holds (:func:`read_potential`): the pure
    :func:`dftpost.analysis.water_gap.water_gap` with its input read. ``dipole_e_per_A``
    overrides the fixed-charge dipole (e/Å)."""
    return one_run.water_gap(run, params, dipole_e_per_A, read_potential(run, params.axis))


def read_potential(run: Run, axis: int = 2) -> Grid | None:
    """The electrostatic potential (V) the vacuum levels of ``run`` are measured on, read from the
    cube :func:`~dftpost.analysis.vacuum.potential_cube` names; None when they need none (printed
    levels, no vacuum or no level to find, no such cube). A bad cube raises
    :class:`~dftpost.errors.DftpostError` naming it."""
    cube = potential_cube(run, axis)
    return None if cube is None else read_cube(cube.path)


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
