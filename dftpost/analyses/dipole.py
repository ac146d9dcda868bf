"""``dipole``: fixed-charge dipoles of water along a trajectory (METHODS §1), as one analysis:
the cumulative profile μ_z(z), the total-dipole distribution and autocorrelation, the O and H
densities and the species census (:class:`DipoleAnalysis`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .. import defaults
from ..analysis.correlation import frame_spacing_ps, series_statistics
from ..analysis.dipole import CENSUS_SPECIES, DEFAULT_Q_O, DipoleAccumulator, DipoleTrajectory
from ..analysis.geometry import repeat_distance_z
from ..analysis.molecules import DEFAULT_R_OH
from ..errors import DftpostError, printable
from ..store import Column, TableSchema
from .base import now, one_panel, scalar
from .frames import TRAJECTORY_COLUMNS, FrameAnalysis, FrameWork, TrajectoryCommand

if TYPE_CHECKING:
    from ase import Atoms
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

#: The ``dipole`` table: one row per trajectory analysed.
DIPOLE_SCHEMA = TableSchema(
    "dipole",
    {
        **TRAJECTORY_COLUMNS,
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
#: 576-atom frames in one process. Less is analysed in the calling process.
DIPOLE_PARALLEL_BYTES = 80 << 20


@dataclass(frozen=True, eq=False)
class DipoleWork(FrameWork):
    """The dipole analysis of frames: the z grid (Å) above each frame's origin, q_O (e), r_OH (Å),
    the gap (eV), the origin (Å, None: automatic) and the timestep (ps)."""

    z_edges_A: np.ndarray
    q_o: float
    r_oh: float
    gap_eV: float
    origin_A: float | None
    timestep_ps: float | None

    def start(self) -> DipoleAccumulator:
        return DipoleAccumulator(self.z_edges_A, self.q_o, self.r_oh, self.gap_eV, self.origin_A)

    def add(self, accumulator: DipoleAccumulator, number: int, atoms: Atoms, time_ps: float) -> None:
        accumulator.add(number, atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc, time_ps)

    def finish(self, accumulator: DipoleAccumulator) -> DipoleAccumulator:
        accumulator.flush()
        return accumulator


class DipoleAnalysis(FrameAnalysis):
    """Fixed-charge dipoles of the frames ``index`` of the trajectory ``path``: q_O (e; q_H =
    −q_O/2), the O–H cut-off r_OH (Å), the band gap (eV) a breakdown candidate's |ΔV| exceeds,
    the bin width ``dz_A`` (Å) of the z profiles and their origin (Å; None: the top metal atom,
    else the middle of the vacuum gap). Frame times (ps): ``timestep_ps`` × the frame number
    when given, else the frames' own (:func:`~dftpost.analysis.correlation.frame_time_ps`).
    ``results.trajectory`` is the :class:`~dftpost.analysis.dipole.DipoleTrajectory` (fresh
    results only), ``results.rows`` the ``dipole`` row."""

    schema = DIPOLE_SCHEMA
    parallel_bytes_default = DIPOLE_PARALLEL_BYTES
    command: ClassVar[TrajectoryCommand] = {
        "help": """Fixed-charge dipoles of water along an MLIP trajectory (METHODS §1).

            The cumulative profile μ_z(z), the total-dipole distribution and autocorrelation, the O and H
            densities and the species census, stored in --out.

            Dipoles are e/Å (per area), potential steps V; correlation times in ps when the frames have
            times (--timestep-ps, or time_ps/time_fs in each frame's info), else in frames.""",
        "options": (
            "q_o",
            {"keyword": "r_oh", "flag": "--r-oh", "default": defaults.R_OH_A, "unit": "Å", "lo": 0.8, "hi": 2.0,
             "help": "O–H bond cut-off: an H belongs to the nearest O within it."},
            "gap_eV",
            "index",
            {"keyword": "dz_A", "flag": "--dz", "default": 0.1, "unit": "Å", "lo": 0.01, "hi": 5.0,
             "help": "Bin width of the z profiles."},
            {"keyword": "origin_A", "flag": "--origin", "default": None, "unit": "Å", "lo": -1000, "hi": 1000,
             "help": "z origin of the profiles (default: the top metal atom, else the middle of the vacuum gap)."},
            "timestep_ps",
        ),
    }

    def __init__(self, path: str | Path, index: str | None = None, q_o: float = DEFAULT_Q_O, r_oh: float = DEFAULT_R_OH,
                 gap_eV: float = 4.45, dz_A: float = 0.1, origin_A: float | None = None, timestep_ps: float | None = None,
                 on_frames: Callable[[int], None] | None = None, parallel_bytes: int | None = None):
        parameters = {"q_o_e": q_o, "r_oh_A": r_oh, "gap_eV": gap_eV, "dz_A": dz_A, "origin_A": origin_A,
                      "index": index or ":", "timestep_ps": timestep_ps}
        super().__init__(path, index, parameters, on_frames, parallel_bytes)
        self.q_o, self.r_oh, self.gap_eV, self.dz_A, self.origin_A, self.timestep_ps = q_o, r_oh, gap_eV, dz_A, origin_A, timestep_ps

    def _work(self, first: Atoms) -> DipoleWork:
        length = repeat_distance_z(first.cell[:]) if first.cell[2].any() else 0.0
        if not length > 0:
            raise DftpostError(self.path, "the cell has no z vector: heights cannot be wrapped")
        edges = np.arange(0.0, length + self.dz_A, self.dz_A)  # from 0 to the first frame's repeat distance
        return DipoleWork(edges, self.q_o, self.r_oh, self.gap_eV, self.origin_A, self.timestep_ps)

    def _combine(self, parts: list[DipoleAccumulator]) -> DipoleTrajectory:
        accumulator, *later = parts
        for part in later:
            accumulator.merge(part)
        return accumulator.result()

    def _row(self, result: DipoleTrajectory, fingerprint: str) -> dict:
        totals = result.total_dipole_e_per_A
        acf, tau, blocks = series_statistics(totals)
        counts, edges = result.histogram()
        return {
            "run": printable(str(self.path)),
            "input_hash": fingerprint,
            "status": "ok",
            "index": self.index or ":",
            "n_frames": result.n_frames,
            "q_o_e": self.q_o,
            "r_oh_A": self.r_oh,
            "gap_eV": self.gap_eV,
            "mean_total_dipole_e_per_A": float(totals.mean()),
            "std_total_dipole_e_per_A": float(totals.std()),
            "sem_total_dipole_e_per_A": blocks.sem_estimate if blocks else float("nan"),
            "breakdown_fraction": result.breakdown_fraction,
            "acf_integrated_time_frames": tau,
            "acf_integrated_time_ps": tau * frame_spacing_ps(result.time_ps),
            "water_thickness_A": float(result.water_thickness_A.mean()),
            "parameters": json.dumps(self.parameters),
            "analysed_at": now(),
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

    def to_json(self, out: str | Path = "", **context: Any) -> dict:
        """The object ``dftpost dipole --json --out OUT`` prints."""
        row = self.to_row()
        census = np.asarray(row["census"]).reshape(-1, len(CENSUS_SPECIES))
        return {
            **trajectory_summary(row, out),
            "q_o_e": scalar(row["q_o_e"]),
            "mean_total_dipole_e_per_A": scalar(row["mean_total_dipole_e_per_A"]),
            "std_total_dipole_e_per_A": scalar(row["std_total_dipole_e_per_A"]),
            "sem_total_dipole_e_per_A": scalar(row["sem_total_dipole_e_per_A"]),
            "mean_potential_step_V": float(np.mean(row["potential_step"])),
            "breakdown_gap_eV": scalar(row["gap_eV"]),
            "breakdown_fraction": scalar(row["breakdown_fraction"]),
            **correlation_time(row),
            "acf_integrated_time_frames": scalar(row["acf_integrated_time_frames"]),
            "water_thickness_A": scalar(row["water_thickness_A"]),
            "species_counts": {s: float(census[:, k].mean()) for k, s in enumerate(CENSUS_SPECIES)},
        }

    def plot(self, ax: Axes | None = None, *, fig: Figure | SubFigure | None = None) -> Figure:
        """The mean cumulative dipole μ_z(z) (:func:`dftpost.plot.draw_dipole_profile`), on ``ax``."""
        from ..plot import draw_dipole_profile

        return draw_dipole_profile(self.to_row(), ax=one_panel(ax, fig))


def trajectory_summary(row: dict, out: str | Path) -> dict:
    """The keys every trajectory command's ``--json`` starts with."""
    return {"trajectory": str(row["run"]), "out": str(out), "n_frames": scalar(row["n_frames"]), "index": str(row["index"])}


def correlation_time(row: dict) -> dict:
    """The integrated correlation time in ps when the frames had times, else in frames."""
    in_frames = not np.isfinite(row["acf_integrated_time_ps"])
    return {
        "acf_integrated_time": scalar(row["acf_integrated_time_frames"] if in_frames else row["acf_integrated_time_ps"]),
        "acf_integrated_time_units": "frames" if in_frames else "ps",
    }
