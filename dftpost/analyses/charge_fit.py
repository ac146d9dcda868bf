"""``fit-charge``: the fixed oxygen charge that reproduces the DFT dipoles of water frames
(METHODS §3), as one analysis (:class:`ChargeFit`): each run read (and its cubes integrated)
where the backend puts it, the fit made of them all in the runs' order."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..analysis import charge_fit as fit
from ..analysis.dipole import fixed_charge_dipole
from ..analysis.molecules import DEFAULT_R_OH, water_molecules
from ..backends import Backend
from ..errors import DftpostError
from ..io.cube import read_cube
from ..io.files import new_digest
from ..io.rundir import find_run_dirs, input_hash, read_run
from ..run import Run
from ..store import Column, TableSchema
from .base import AnalysisBase, now, scalar

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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
    """The DFT dipole of a run along ``axis`` (e·Å) from the log and/or the cubes
    (:func:`~dftpost.analysis.charge_fit.choose_dft_dipole` picks it).

    The candidates: the log's (CP2K prints it; FHI-aims prints the correction gradient,
    :func:`~dftpost.analysis.charge_fit.gradient_dipole`); the vacuum step of the
    electrostatic-potential cube of a dipole-corrected run
    (:func:`~dftpost.analysis.charge_fit.potential_step_dipole`); the integral of the density
    cube with the core charges (:func:`~dftpost.analysis.charge_fit.density_dipole`; a strided
    cube loses charge). Returns ``dipole_e_A`` with its ``source`` ("log", "potential_step" or
    "cube"), ``log_e_A``, ``potential_step_e_A`` and ``cube_e_A`` (None where there is none),
    ``cube_vs_log_relative`` when there are both, and ``warnings``.
    """
    if source not in ("auto", "log", "cube"):
        raise DftpostError(None, f"source must be log, cube or auto, not {source!r}")
    warnings: list[str] = []
    log = step = cube = None
    dc = run.dipole_correction
    if dc is not None and dc.dipole_e_A is not None:
        log = dc.dipole_e_A
    elif dc is not None and dc.gradient_eV_per_A is not None and run.atoms is not None:
        log = fit.gradient_dipole(run.atoms.get_volume(), dc.gradient_eV_per_A)
        warnings.append("FHI-aims dipole from the correction gradient: sign convention not verified")
    potential = [c for c in run.cubes if c.quantity == "electrostatic_potential"]
    if potential and dc is not None and source in ("auto", "cube"):
        try:
            step, _ = fit.potential_step_dipole(read_cube(potential[0].path, program=run.code), axis)
        except DftpostError as exc:  # no plateaus to read: the density cube may still serve
            warnings.append(f"no dipole from the potential cube's vacuum step: {exc.problem}")
    density = [c for c in run.cubes if c.quantity == "electron_density"]
    if density and run.core_charges_e is not None and source in ("auto", "cube"):
        cube = fit.density_dipole(read_cube(density[0].path, program=run.code), run.core_charges_e, axis)
    d = fit.choose_dft_dipole(source, log, step, cube, run.density_cube_stride, tuple(warnings), run.path)
    out: dict = {"log_e_A": d.log_e_A, "potential_step_e_A": d.potential_step_e_A, "cube_e_A": d.cube_e_A,
                 "warnings": list(d.warnings)}
    if d.cube_vs_log_relative is not None:
        out["cube_vs_log_relative"] = d.cube_vs_log_relative
    out["dipole_e_A"], out["source"] = d.dipole_e_A, d.source
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


def _crash_frame(task: ChargeFitTask, exc: BaseException) -> dict:
    return {"run": str(task.directory), "error": f"{task.directory}: analysis failed ({type(exc).__name__}: {exc})", "keep": False}


class ChargeFit(AnalysisBase):
    """Fit q_O (e) over every run at or below ``paths``: the DFT dipole from ``source`` ("log",
    "cube", "auto"), frames with |μ_DFT| at or above ``max_dipole_e_per_A`` (e/Å) left out, an
    intercept fitted or not, the O–H cut-off ``r_oh`` (Å). Only runs of water alone enter unless
    ``include_substrate``; every frame left out says why. The frames keep the runs' order.
    ``results.fit`` is the :class:`~dftpost.analysis.charge_fit.ChargeFit` (fresh results
    only), ``results.rows`` the ``charge_fit`` row."""

    schema = CHARGE_FIT_SCHEMA

    def __init__(self, paths: Iterable[str | Path], source: str = "auto", max_dipole_e_per_A: float = fit.DEFAULT_MAX_DIPOLE,
                 intercept: bool = False, r_oh: float = DEFAULT_R_OH, include_substrate: bool = False):
        super().__init__()
        self.paths = [Path(p) for p in paths]
        self.source, self.max_dipole_e_per_A, self.intercept = source, max_dipole_e_per_A, intercept
        self.r_oh, self.include_substrate = r_oh, include_substrate

    def _prepare(self, backend: Backend) -> list[ChargeFitTask]:
        self._runs = find_run_dirs(self.paths)
        self._tasks = [ChargeFitTask(d, self.source, self.r_oh, self.include_substrate) for d in self._runs]
        self._frames: dict[ChargeFitTask, dict] = {}
        return self._tasks

    @staticmethod
    def work(task: ChargeFitTask) -> dict:
        """One run's entry of the fit (:func:`charge_fit_frame`)."""
        return charge_fit_frame(task)

    def _crash(self, task: ChargeFitTask, exc: BaseException) -> dict:
        return _crash_frame(task, exc)

    def _merge(self, task: ChargeFitTask, frame: dict) -> None:
        self._frames[task] = frame

    def _conclude(self) -> None:
        frames = [self._frames[task] for task in self._tasks]
        max_dipole = self.max_dipole_e_per_A
        lever = np.array([f.get("lever_per_A", np.nan) for f in frames])
        dipole = np.array([f.get("dft_dipole_e_per_A", np.nan) for f in frames])
        keep = [f.pop("keep", False) for f in frames]
        ok = np.isfinite(lever)
        result = fit.fit_oxygen_charge(np.where(ok, lever, 0.0), np.where(ok, dipole, np.inf), max_dipole, np.array(keep),
                                       self.intercept)
        for frame, used, value in zip(frames, result.used, dipole):
            frame["used"] = bool(used)
            if not used and "error" not in frame and "rejected" not in frame:
                frame["rejected"] = f"|μ_DFT| = {abs(value):.4g} e/Å ≥ {max_dipole} e/Å"
        fingerprint = new_digest()
        fingerprint.update(("".join(input_hash(r) for r in self._runs)
                            + f"{self.source}{max_dipole}{self.intercept}{self.r_oh}{self.include_substrate}").encode())
        self.results.fit = result
        self.results.rows = [{
            "run": json.dumps([f["run"] for f in frames]),
            "input_hash": fingerprint.hexdigest(),
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
            "max_dipole_e_per_A": max_dipole,
            "source": self.source,
            "include_substrate": int(self.include_substrate),
            "interval_note": result.interval_note,
            "frames": json.dumps(frames, ensure_ascii=False, default=float),
            "analysed_at": now(),
            "lever": lever,
            "dft_dipole": dipole,
            "used": result.used.astype(np.int8),
        }]

    def to_json(self, out: str | Path = "", **context: Any) -> dict:
        """The object ``dftpost fit-charge --json --out OUT`` prints."""
        row = self.to_row()
        return {
            "q_O_e": scalar(row["q_o_e"]),
            "q_O_stderr_e": scalar(row["q_o_stderr_e"]),
            "q_O_ci95_e": [scalar(row["q_o_ci95_low_e"]), scalar(row["q_o_ci95_high_e"])],
            "intercept_e_per_A": scalar(row["intercept_e_per_A"]),
            "r2": scalar(row["r2"]),
            "rmse_e_per_A": scalar(row["rmse_e_per_A"]),
            "n_used": scalar(row["n_used"]),
            "n_rejected": scalar(row["n_rejected"]),
            "max_dipole_e_per_A": scalar(row["max_dipole_e_per_A"]),
            "source": str(row["source"]),
            "include_substrate": bool(row["include_substrate"]),
            "interval_note": str(row["interval_note"]) or None,
            "frames": json.loads(row["frames"]),
            "out": str(out),
        }

    def plot(self, ax: Axes | None = None) -> Figure:
        """The parity plot of μ_DFT against q_O·s (:func:`dftpost.plot.draw_parity`)."""
        if ax is not None:
            raise DftpostError(None, "the parity figure draws its own axes: call plot() without ax")
        from ..plot import draw_parity

        return draw_parity(self.to_row())
