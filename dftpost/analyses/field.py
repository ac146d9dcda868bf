"""``field-profile``: the response of a frame to an applied field (METHODS §5), from a pair of
runs without and with the field, as one analysis (:class:`FieldResponse`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..analysis import profiles
from ..backends import Backend
from ..errors import DftpostError
from ..grid import Grid
from ..io.cube import read_cube
from ..io.rundir import input_hash, read_run
from ..run import Run
from ..store import Column, TableSchema
from .base import AnalysisBase, now, scalar, several_panels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

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



@dataclass(frozen=True)
class FieldPair:
    """A pair of runs of one frame, without and with the field, and the parameters of
    :func:`~dftpost.analysis.profiles.field_response`: the axis (0, 1, 2), whether to add −E·z
    ("auto", "yes", "no"), the margin (Å) and the window of the macroscopic average (Å)."""

    run_no_field: Path
    run_field: Path
    axis: int = 2
    include_applied: str = "auto"
    margin_A: float = 3.0
    window_A: float = 3.0


def field_pair(pair: FieldPair) -> tuple[profiles.FieldResponse, dict]:
    """The field response of a pair of runs; the result and its ``field_profile`` row."""
    run_no_field, run_field, axis = pair.run_no_field, pair.run_field, pair.axis
    include_applied, margin_A, window_A = pair.include_applied, pair.margin_A, pair.window_A
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
    result = profiles.field_response(v0, v1, rho0, rho1, float(r1.applied_field_V_per_A[axis]), axis, include_applied, margin_A, window_A=window_A)
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
        "analysed_at": now(),
        "z": result.z_A,
        "delta_v": result.delta_v_V,
        "delta_v_hartree": result.delta_v_hartree_V,
        "macroscopic_delta_v": result.macroscopic_delta_v_V,
        "delta_rho": result.delta_rho_e_per_A3,
    }
    return result, row


class FieldResponse(AnalysisBase):
    """The field response of the runs ``run_no_field`` and ``run_field`` (the same frame without
    and with the applied field) along ``axis`` (0, 1, 2); see :class:`FieldPair`. One task, run
    by the backend like any other. ``results.response`` is the
    :class:`~dftpost.analysis.profiles.FieldResponse` (fresh results only), ``results.rows``
    the ``field_profile`` row."""

    schema = FIELD_SCHEMA

    def __init__(self, run_no_field: str | Path, run_field: str | Path, axis: int = 2, include_applied: str = "auto",
                 margin_A: float = 3.0, window_A: float = 3.0):
        super().__init__()
        self.pair = FieldPair(Path(run_no_field), Path(run_field), axis, include_applied, margin_A, window_A)

    def _prepare(self, backend: Backend) -> list[FieldPair]:
        return [self.pair]

    @staticmethod
    def work(task: FieldPair) -> tuple[profiles.FieldResponse, dict]:
        """The field response of the pair (:func:`field_pair`)."""
        return field_pair(task)

    def _merge(self, task: FieldPair, part: tuple[profiles.FieldResponse, dict]) -> None:
        self.results.response, row = part
        self.results.rows = [row]

    def _conclude(self) -> None:
        pass

    def to_json(self, out: str | Path = "", plot: str | Path | None = None, **context: Any) -> dict:
        """The object ``dftpost field-profile --json --out OUT [--plot PLOT]`` prints."""
        row = self.to_row()
        return {
            "run": str(row["run"]),
            "run_no_field": str(row["run_no_field"]),
            "applied_field_V_per_A": scalar(row["applied_field_V_per_A"]),
            "applied_added": bool(row["applied_added"]),
            "applied_detected": str(row["applied_detected"]),
            "field_vacuum_V_per_A": [scalar(row["field_vacuum_below_V_per_A"]), scalar(row["field_vacuum_above_V_per_A"])],
            "field_water_V_per_A": scalar(row["field_water_V_per_A"]),
            "field_metal_V_per_A": scalar(row["field_metal_V_per_A"]),
            "screening": scalar(row["screening"]),
            "metallic_water": bool(row["metallic_water"]),
            "induced_dipole_e_A": scalar(row["induced_dipole_e_A"]),
            "potential_step_V": scalar(row["potential_step_V"]),
            "dipole_step_V": scalar(row["dipole_step_V"]),
            "out": str(out),
            "plot": None if plot is None else str(plot),
        }

    def plot(self, ax: Axes | None = None, *, fig: Figure | SubFigure | None = None) -> Figure:
        """ΔV(z) and Δρ(z) (:func:`dftpost.plot.draw_field_response`), into ``fig``."""
        from ..plot import draw_field_response

        return draw_field_response(self.to_row(), fig=several_panels(ax, fig, "the field response"))
