"""``density``: the number density of one element (O by default) in z bins, averaged over the
frames of a trajectory, with its standard error (:class:`DensityAnalysis`).

The definition is MAICoS' ``DensityPlanar`` with ``dens="number"``, atoms binned by their own
height: per frame, the heights wrapped into [0, L_z) (L_z the period along z of the frame's
cell, whose a and b lie in the xy plane) are counted in ``n_bins`` = ⌈L_z/dz⌉ equal bins of that
frame's cell (dz adjusted to L_z/n_bins), divided by the bin volume A·L_z/n_bins (A the area of
the a–b face): ρ_k in atoms/Å³. The profile is the mean of ρ_k over frames; its standard error
is sqrt(Σ_f (ρ_k,f − ρ̄_k)²)/N (N frames taken as independent, as MAICoS' ``dprofile``: frames
correlated over τ frames make it too small by about sqrt(2τ)). The
bin centres ``z`` are those of the first frame (Å above z = 0 of the cell).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from ase.data import atomic_numbers

from ..analysis.geometry import area_normal_to, check_slab_cell, repeat_distance_z
from ..errors import DftpostError, printable
from ..store import Column, TableSchema
from .base import ParameterError, now, one_panel, scalar
from .frames import TRAJECTORY_COLUMNS, FrameAnalysis, FrameWork, TrajectoryCommand

if TYPE_CHECKING:
    from ase import Atoms
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

#: The ``density`` table: one row per trajectory and element.
DENSITY_SCHEMA = TableSchema(
    "density",
    {
        **TRAJECTORY_COLUMNS,
        "element": Column("str", "", "chemical symbol of the atoms counted"),
        "dz_A": Column("f8", "Å", "bin width asked for (each frame's is L_z / n_bins)"),
        "mean_atoms": Column("f8", "", "mean number of atoms of the element per frame"),
        "parameters": Column("str", "", "JSON of the parameters"),
        "analysed_at": Column("str", "", "ISO time the row was made"),
    },
    arrays={
        "z": Column("f8", "Å", "bin centres of the first frame, above z = 0 of the cell"),
        "density": Column("f8", "1/Å^3", "mean number density of the element per bin"),
        "density_sem": Column("f8", "1/Å^3", "standard error of the mean over frames (frames independent)"),
        "frame_index": Column("i8", "", "frame numbers in the file"),
    },
)

#: Trajectory text (bytes) worth cutting into chunks for worker processes: binning is cheap,
#: so only long trajectories pay for the workers' start-up (as the dipole analysis).
DENSITY_PARALLEL_BYTES = 80 << 20


@dataclass(frozen=True)
class DensityWork(FrameWork):
    """Counting one element (atomic number ``number``) in ``n_bins`` bins along z per frame.
    Its part: the frame numbers, per frame the counts per bin (int) and the bin volume (Å³)."""

    number: int
    n_bins: int
    timestep_ps: float | None = None

    def start(self) -> dict:
        return {"frames": [], "counts": [], "volumes": []}

    def add(self, acc: dict, number: int, atoms: Atoms, time_ps: float) -> None:
        cell = atoms.cell[:]
        check_slab_cell(cell)
        length = repeat_distance_z(cell)
        heights = np.mod(atoms.positions[atoms.numbers == self.number, 2], length)
        bins = np.minimum((heights * (self.n_bins / length)).astype(np.int64), self.n_bins - 1)
        acc["frames"].append(number)
        acc["counts"].append(np.bincount(bins, minlength=self.n_bins).astype(np.int32))
        acc["volumes"].append(area_normal_to(cell, 2) * length / self.n_bins)

    def finish(self, acc: dict) -> dict:
        return {"frames": np.array(acc["frames"], dtype=np.int64),
                "counts": np.array(acc["counts"], dtype=np.int32).reshape(-1, self.n_bins),
                "volumes": np.array(acc["volumes"], dtype=float)}


class DensityAnalysis(FrameAnalysis):
    """The number density (atoms/Å³) of ``element`` in z bins of width about ``dz_A`` (Å),
    averaged over the frames ``index`` of the trajectory ``path`` (see the module docstring).
    ``on_frames`` and ``parallel_bytes`` as in :class:`~dftpost.analyses.dipole.DipoleAnalysis`.
    The per-frame counts are kept until the end (4 bytes per bin and frame) so that the mean
    and its error are the same, bit for bit, on every backend. ``results.rows``: the
    ``density`` row."""

    schema = DENSITY_SCHEMA
    parallel_bytes_default = DENSITY_PARALLEL_BYTES
    command: ClassVar[TrajectoryCommand] = {
        "help": """Number density of one element in z bins, averaged over the frames, with its standard error.

            Atoms per Å³ in bins of the frame's cell along z (MAICoS' DensityPlanar, number density),
            stored in --out; the error treats frames as independent.""",
        "options": (
            {"keyword": "element", "flag": "--element", "default": "O", "metavar": "SYMBOL",
             "help": "Chemical symbol of the atoms counted."},
            {"keyword": "dz_A", "flag": "--dz", "default": 0.1, "unit": "Å", "lo": 0.01, "hi": 5.0,
             "help": "Bin width along z (each frame's is L_z / ⌈L_z/dz⌉)."},
            "index",
        ),
        "plot": "the density profile",
        "quantities": {"element": ("element", ""), "dz_A": ("bin width asked for", "Å"),
                       "mean_atoms": ("atoms of the element per frame", "")},
    }

    def __init__(self, path: str | Path, index: str | None = None, element: str = "O", dz_A: float = 0.1,
                 on_frames: Callable[[int], None] | None = None, parallel_bytes: int | None = None):
        self.check_parameters({"element": element, "dz_A": dz_A})
        super().__init__(path, index, {"element": element, "dz_A": dz_A, "index": index or ":"}, on_frames, parallel_bytes)
        self.element, self.dz_A = element, dz_A

    @classmethod
    def check_parameters(cls, parameters: Mapping[str, Any]) -> None:
        """A chemical symbol and a positive bin width (Å)."""
        element, dz_A = parameters["element"], parameters["dz_A"]
        if element not in atomic_numbers:
            raise ParameterError("element", f"no element {element!r} (a chemical symbol such as O or H)")
        if not dz_A > 0:
            raise ParameterError("dz_A", f"the bin width must be positive, not {dz_A} Å")

    def _work(self, first: Atoms) -> DensityWork:
        try:
            check_slab_cell(first.cell[:])
        except DftpostError as exc:
            raise DftpostError(self.path, f"first frame: {exc.problem}") from None
        length = repeat_distance_z(first.cell[:])
        self._length = length
        return DensityWork(atomic_numbers[self.element], int(np.ceil(length / self.dz_A)))

    def _combine(self, parts: list[dict]) -> dict:
        return {key: np.concatenate([part[key] for part in parts]) for key in ("frames", "counts", "volumes")}

    def _row(self, result: dict, fingerprint: str) -> dict:
        counts, volumes = result["counts"], result["volumes"]
        per_frame = counts / volumes[:, None]
        mean = per_frame.mean(axis=0)
        sem = np.sqrt(((per_frame - mean) ** 2).sum(axis=0)) / len(per_frame)
        n_bins = counts.shape[1]
        return {
            "run": printable(str(self.path)),
            "input_hash": fingerprint,
            "status": "ok",
            "index": self.index or ":",
            "n_frames": int(len(counts)),
            "element": self.element,
            "dz_A": self.dz_A,
            "mean_atoms": float(counts.sum(axis=1).mean()),
            "parameters": json.dumps(self.parameters),
            "analysed_at": now(),
            "z": (np.arange(n_bins) + 0.5) * (self._length / n_bins),
            "density": mean,
            "density_sem": sem,
            "frame_index": result["frames"],
        }

    def to_json(self, out: str | Path = "", **context: Any) -> dict:
        """The object a ``dftpost density --json --out OUT`` command would print: the summary
        keys of every trajectory command and the profile."""
        row = self.to_row()
        return {
            "trajectory": str(row["run"]),
            "out": str(out),
            "n_frames": scalar(row["n_frames"]),
            "index": str(row["index"]),
            "element": str(row["element"]),
            "dz_A": scalar(row["dz_A"]),
            "mean_atoms": scalar(row["mean_atoms"]),
            "z_A": np.asarray(row["z"], dtype=float).tolist(),
            "density_per_A3": np.asarray(row["density"], dtype=float).tolist(),
            "density_sem_per_A3": np.asarray(row["density_sem"], dtype=float).tolist(),
        }

    def plot(self, ax: Axes | None = None, *, fig: Figure | SubFigure | None = None) -> Figure:
        """The profile with a ± one standard error band against z, on ``ax`` or a new figure."""
        import matplotlib

        from ..plot import COLOURS, STYLE

        row = self.to_row()
        z, rho, sem = (np.asarray(row[k], dtype=float) for k in ("z", "density", "density_sem"))
        with matplotlib.rc_context(STYLE):
            ax = one_panel(ax, fig)
            if ax is None:
                from matplotlib.figure import Figure

                ax = Figure(figsize=(4.8, 3.4), layout="constrained").subplots()
            colour = COLOURS.get(str(row["element"]), COLOURS["O"])
            ax.fill_between(z, rho - sem, rho + sem, color=colour, alpha=0.3, lw=0, label="± standard error")
            ax.plot(z, rho, color=colour, label=str(row["element"]))
            ax.set_xlabel("z (Å)")
            ax.set_ylabel("number density (1/Å³)")
            ax.set_title(f"{Path(str(row['run'])).name}: {row['n_frames']} frames")
            ax.legend()
        figure = ax.get_figure()
        assert figure is not None
        return figure  # type: ignore[return-value]
