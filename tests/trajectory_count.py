"""A new trajectory observable written as a user would add one, for tests/test_trajectory_command.py:
the number of atoms of one element per frame whose height, wrapped into the cell along z, lies in
[z_min, z_max) Å (:class:`LayerCount`). This file and one registration line make its command."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from ase.data import atomic_numbers

from dftpost.analyses.base import ParameterError, now, one_panel, scalar
from dftpost.analyses.frames import TRAJECTORY_COLUMNS, FrameAnalysis, FrameWork, TrajectoryCommand
from dftpost.analysis.geometry import repeat_distance_z
from dftpost.errors import printable
from dftpost.store import Column, TableSchema

if TYPE_CHECKING:
    from ase import Atoms
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

LAYER_COUNT_SCHEMA = TableSchema(
    "layer_count",
    {
        **TRAJECTORY_COLUMNS,
        "element": Column("str", "", "chemical symbol of the atoms counted"),
        "z_min_A": Column("f8", "Å", "bottom of the layer"),
        "z_max_A": Column("f8", "Å", "top of the layer"),
        "mean_count": Column("f8", "", "mean number of atoms in the layer per frame"),
        "parameters": Column("str", "", "JSON of the parameters"),
        "analysed_at": Column("str", "", "ISO time the row was made"),
    },
    arrays={
        "frame_index": Column("i8", "", "frame numbers in the file"),
        "count": Column("i8", "", "atoms in the layer, per frame"),
    },
)


@dataclass(frozen=True)
class LayerCountWork(FrameWork):
    """Counting the atoms of atomic number ``number`` with wrapped heights in [z_min_A, z_max_A)."""

    number: int
    z_min_A: float
    z_max_A: float
    timestep_ps: float | None = None

    def start(self) -> dict:
        return {"frames": [], "counts": []}

    def add(self, acc: dict, number: int, atoms: Atoms, time_ps: float) -> None:
        heights = np.mod(atoms.positions[atoms.numbers == self.number, 2], repeat_distance_z(atoms.cell[:]))
        acc["frames"].append(number)
        acc["counts"].append(int(np.count_nonzero((heights >= self.z_min_A) & (heights < self.z_max_A))))

    def finish(self, acc: dict) -> dict:
        return {"frames": np.array(acc["frames"], dtype=np.int64), "counts": np.array(acc["counts"], dtype=np.int64)}


class LayerCount(FrameAnalysis):
    """Atoms of ``element`` per frame with heights (Å, wrapped into the cell) in [z_min_A, z_max_A)."""

    schema = LAYER_COUNT_SCHEMA
    parallel_bytes_default = 80 << 20
    command: ClassVar[TrajectoryCommand] = {
        "help": """Atoms of one element in a layer, per frame.

            Heights wrapped into the cell along z; stored in --out.""",
        "options": (
            {"keyword": "element", "flag": "--element", "default": "H", "metavar": "SYMBOL",
             "help": "Chemical symbol of the atoms counted."},
            {"keyword": "z_min_A", "flag": "--z-min", "default": 0.0, "unit": "Å", "lo": 0, "hi": 1000,
             "help": "Bottom of the layer."},
            {"keyword": "z_max_A", "flag": "--z-max", "default": 1000.0, "unit": "Å", "lo": 0, "hi": 1000,
             "lo_open": True, "help": "Top of the layer."},
            "index",
        ),
        "plot": "the count per frame",
        "quantities": {"mean_count": ("atoms in the layer per frame", "")},
    }

    def __init__(self, path: str | Path, index: str | None = None, element: str = "H", z_min_A: float = 0.0,
                 z_max_A: float = 1000.0, on_frames=None, parallel_bytes: int | None = None):
        self.check_parameters({"element": element, "z_min_A": z_min_A, "z_max_A": z_max_A})
        parameters = {"element": element, "z_min_A": z_min_A, "z_max_A": z_max_A, "index": index or ":"}
        super().__init__(path, index, parameters, on_frames, parallel_bytes)
        self.element, self.z_min_A, self.z_max_A = element, z_min_A, z_max_A

    @classmethod
    def check_parameters(cls, parameters: Mapping[str, Any]) -> None:
        if parameters["element"] not in atomic_numbers:
            raise ParameterError("element", f"no element {parameters['element']!r}")
        if not parameters["z_max_A"] > parameters["z_min_A"]:
            raise ParameterError("z_max_A", "the top of the layer must be above its bottom")

    def _work(self, first: Atoms) -> LayerCountWork:
        return LayerCountWork(atomic_numbers[self.element], self.z_min_A, self.z_max_A)

    def _combine(self, parts: list[dict]) -> dict:
        return {key: np.concatenate([part[key] for part in parts]) for key in ("frames", "counts")}

    def _row(self, result: dict, fingerprint: str) -> dict:
        return {
            "run": printable(str(self.path)), "input_hash": fingerprint, "status": "ok", "index": self.index or ":",
            "n_frames": len(result["counts"]), "element": self.element, "z_min_A": self.z_min_A,
            "z_max_A": self.z_max_A, "mean_count": float(result["counts"].mean()),
            "parameters": json.dumps(self.parameters), "analysed_at": now(),
            "frame_index": result["frames"], "count": result["counts"],
        }

    def to_json(self, out: str | Path = "", **context: Any) -> dict:
        row = self.to_row()
        return {"trajectory": str(row["run"]), "out": str(out), "n_frames": scalar(row["n_frames"]),
                "index": str(row["index"]), "element": str(row["element"]), "mean_count": scalar(row["mean_count"]),
                "frame_index": np.asarray(row["frame_index"]).tolist(), "count": np.asarray(row["count"]).tolist()}

    def plot(self, ax: Axes | None = None, *, fig: Figure | SubFigure | None = None) -> Figure:
        row = self.to_row()
        ax = one_panel(ax, fig)
        if ax is None:
            from matplotlib.figure import Figure

            ax = Figure().subplots()
        ax.plot(row["frame_index"], row["count"], label=str(row["element"]))
        figure = ax.get_figure()
        assert figure is not None
        return figure  # type: ignore[return-value]
