"""``potential``: the potential-difference proxy of periodic water boxes along a trajectory
(METHODS §2), as one analysis (:class:`PotentialAnalysis`): ΔV of every frame by
:func:`~dftpost.analysis.electrostatics.potential_spread`, its distribution and autocorrelation."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .. import defaults
from ..analysis.correlation import frame_spacing_ps, series_statistics
from ..analysis.dipole import DEFAULT_Q_O
from ..analysis.electrostatics import DEFAULT_SIGMA_A, DEFAULT_TOLERANCE_V, choose_parameters, potential_spread
from ..analysis.geometry import check_periodic_cell
from ..analysis.molecules import water_indices
from ..errors import printable
from ..store import Column, TableSchema
from .base import now, one_panel, scalar
from .dipole import correlation_time, trajectory_summary
from .frames import TRAJECTORY_COLUMNS, FrameAnalysis, FrameWork, TrajectoryCommand

if TYPE_CHECKING:
    from ase import Atoms
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

#: The ``potential`` table: one row per trajectory analysed.
POTENTIAL_SCHEMA = TableSchema(
    "potential",
    {
        **TRAJECTORY_COLUMNS,
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

#: Trajectory text (bytes) worth cutting into chunks for worker processes: ~5 s of the potential
#: of 16,200-atom frames in one process (see :data:`~dftpost.analyses.dipole.DIPOLE_PARALLEL_BYTES`).
POTENTIAL_PARALLEL_BYTES = 16 << 20


@dataclass(frozen=True, eq=False)
class PotentialTrajectory:
    """ΔV (V) of every analysed frame, with the frame numbers and times (ps, NaN if unknown) and
    the lengths of the three cell vectors (Å) of each frame."""

    frame_index: np.ndarray
    time_ps: np.ndarray
    delta_v_V: np.ndarray
    cell_lengths_A: np.ndarray


@dataclass(frozen=True)
class PotentialWork(FrameWork):
    """The potential proxy of frames: q_O (e), σ (Å), the tolerance (V), the self-term and
    intermolecular choices and the timestep (ps). Its part: per frame the number, time (ps), ΔV
    (V), cell lengths (Å) and volume (Å³), as arrays, and the Ewald/PME settings of its first
    frame ("settings"). The settings are chosen once per cell (they depend on the cell and the
    charges only)."""

    q_o: float
    sigma_A: float
    tolerance_V: float
    self_term: bool
    intermolecular: bool
    timestep_ps: float | None

    def start(self) -> dict:
        return {"frames": [], "times": [], "spreads": [], "lengths": [], "volumes": [], "ewald": None, "settings": None}

    def add(self, acc: dict, number: int, atoms: Atoms, time_ps: float) -> None:
        cell = check_periodic_cell(atoms.cell[:], "the periodic potential needs all three")
        water_indices(atoms.numbers)  # a frame without O or H: no water, no ΔV
        charges = np.where(atoms.numbers == 8, self.q_o, np.where(atoms.numbers == 1, -self.q_o / 2, 0.0))
        ewald = acc["ewald"]
        if ewald is None or not (np.array_equal(cell, ewald[0]) and np.array_equal(charges, ewald[1])):
            ewald = acc["ewald"] = (cell.copy(), charges, choose_parameters(cell, charges, self.sigma_A, self.tolerance_V))
        result = potential_spread(atoms.numbers, atoms.positions, cell, self.sigma_A, self.q_o, self_term=self.self_term,
                                  intermolecular=self.intermolecular, parameters=ewald[2])
        acc["settings"] = acc["settings"] or asdict(result.parameters)
        acc["frames"].append(number)
        acc["times"].append(time_ps)
        acc["spreads"].append(result.delta_v_V)
        acc["lengths"].append(np.linalg.norm(cell, axis=1))
        acc["volumes"].append(abs(np.linalg.det(cell)))

    def finish(self, acc: dict) -> dict:
        return {"frames": np.array(acc["frames"], dtype=np.int64), "times": np.array(acc["times"], dtype=float),
                "spreads": np.array(acc["spreads"], dtype=float), "lengths": np.array(acc["lengths"], dtype=float).reshape(-1, 3),
                "volumes": np.array(acc["volumes"], dtype=float), "settings": acc["settings"]}


class PotentialAnalysis(FrameAnalysis):
    """The potential-difference proxy of the frames ``index`` of the trajectory ``path``: q_O (e),
    the width σ (Å) of the Gaussian charges, the tolerance (V) of the potential at each atom, the
    self-term and intermolecular choices and the band gap (eV) ΔV is compared with. Every frame is
    periodic in three dimensions (tin-foil Ewald sum), so it needs three cell vectors. Frame
    times, ``on_frames`` and ``parallel_bytes`` as in :class:`~dftpost.analyses.dipole.DipoleAnalysis`.
    ``results.trajectory`` is the :class:`PotentialTrajectory` (fresh results only),
    ``results.rows`` the ``potential`` row."""

    schema = POTENTIAL_SCHEMA
    parallel_bytes_default = POTENTIAL_PARALLEL_BYTES
    command: ClassVar[TrajectoryCommand] = {
        "help": """Potential-difference proxy of periodic water boxes (METHODS §2).

            Gaussian charges on O and H, the periodic (tin-foil Ewald, PME) potential at every atom,
            ΔV = max − min per frame, its distribution and autocorrelation. Potentials V, lengths Å;
            correlation times in ps when the frames have times, else in frames.""",
        "options": (
            "q_o",
            {"keyword": "sigma_A", "flag": "--sigma", "default": defaults.SIGMA_A, "unit": "Å", "lo": 0, "hi": 3,
             "help": "Width of the Gaussian charges (0: point charges, with --no-self-term)."},
            {"keyword": "tolerance_V", "flag": "--tolerance", "default": defaults.TOLERANCE_V, "unit": "V", "lo": 1e-8,
             "hi": 0.1, "help": "Largest error wanted on the potential of any atom."},
            {"keyword": "self_term", "flag": "--self-term/--no-self-term", "default": True,
             "help": "Count an atom's own Gaussian at its centre (the potential of the whole smooth charge)."},
            {"keyword": "intermolecular", "flag": "--intermolecular", "default": False,
             "help": "Leave out the atoms of the atom's own molecule."},
            "gap_eV",
            "index",
            "timestep_ps",
        ),
        "file_help": "A trajectory of periodic water boxes any ASE reader reads (extxyz, ...).",
    }

    def __init__(self, path: str | Path, index: str | None = None, q_o: float = DEFAULT_Q_O, sigma_A: float = DEFAULT_SIGMA_A,
                 tolerance_V: float = DEFAULT_TOLERANCE_V, self_term: bool = True, intermolecular: bool = False,
                 gap_eV: float = 4.45, timestep_ps: float | None = None, on_frames: Callable[[int], None] | None = None,
                 parallel_bytes: int | None = None):
        parameters = {"q_o_e": q_o, "sigma_A": sigma_A, "tolerance_V": tolerance_V, "self_term": self_term,
                      "intermolecular": intermolecular, "gap_eV": gap_eV, "index": index or ":", "timestep_ps": timestep_ps}
        super().__init__(path, index, parameters, on_frames, parallel_bytes)
        self.work_settings = PotentialWork(q_o, sigma_A, tolerance_V, self_term, intermolecular, timestep_ps)
        self.gap_eV = gap_eV

    def _work(self, first: Atoms) -> PotentialWork:
        return self.work_settings

    def _combine(self, parts: list[dict]) -> PotentialTrajectory:
        frames, times, spreads, lengths, volumes = (np.concatenate([part[key] for part in parts]) for key in
                                                    ("frames", "times", "spreads", "lengths", "volumes"))
        self._settings, self._volumes = parts[0]["settings"], volumes
        return PotentialTrajectory(frames, times, spreads, lengths)

    def _row(self, trajectory: PotentialTrajectory, fingerprint: str) -> dict:
        delta_v = trajectory.delta_v_V
        acf, tau, blocks = series_statistics(delta_v)
        work = self.work_settings
        return {
            "run": printable(str(self.path)),
            "input_hash": fingerprint,
            "status": "ok",
            "index": self.index or ":",
            "n_frames": int(delta_v.size),
            "q_o_e": work.q_o,
            "sigma_A": work.sigma_A,
            "self_term": int(work.self_term),
            "intermolecular": int(work.intermolecular),
            "tolerance_V": work.tolerance_V,
            "cell_length_A": float(np.mean(self._volumes) ** (1 / 3)),
            "gap_eV": self.gap_eV,
            "mean_delta_v_V": float(delta_v.mean()),
            "std_delta_v_V": float(delta_v.std()),
            "sem_delta_v_V": blocks.sem_estimate if blocks else float("nan"),
            "exceeds_gap_fraction": float(np.mean(delta_v > self.gap_eV)),
            "acf_integrated_time_frames": tau,
            "acf_integrated_time_ps": tau * frame_spacing_ps(trajectory.time_ps),
            "parameters": json.dumps({**self.parameters, "ewald": self._settings}),
            "analysed_at": now(),
            "frame_index": trajectory.frame_index,
            "time_ps": trajectory.time_ps,
            "delta_v": delta_v,
            "cell_lengths": trajectory.cell_lengths_A,
            "acf": acf,
        }

    def to_json(self, out: str | Path = "", **context: Any) -> dict:
        """The object ``dftpost potential --json --out OUT`` prints."""
        row = self.to_row()
        return {
            **trajectory_summary(row, out),
            "q_o_e": scalar(row["q_o_e"]),
            "sigma_A": scalar(row["sigma_A"]),
            "self_term": bool(row["self_term"]),
            "intermolecular": bool(row["intermolecular"]),
            "tolerance_V": scalar(row["tolerance_V"]),
            "cell_length_A": scalar(row["cell_length_A"]),
            "delta_v_V": np.asarray(row["delta_v"], dtype=float).tolist(),
            "mean_delta_v_V": scalar(row["mean_delta_v_V"]),
            "std_delta_v_V": scalar(row["std_delta_v_V"]),
            "sem_delta_v_V": scalar(row["sem_delta_v_V"]),
            "gap_eV": scalar(row["gap_eV"]),
            "exceeds_gap_fraction": scalar(row["exceeds_gap_fraction"]),
            **correlation_time(row),
        }

    def plot(self, ax: Axes | None = None, *, fig: Figure | SubFigure | None = None) -> Figure:
        """ΔV against the cell length (:func:`dftpost.plot.draw_potential_vs_cell`), on ``ax``."""
        from ..plot import draw_potential_vs_cell

        return draw_potential_vs_cell([self.to_row()], ax=one_panel(ax, fig))
