"""The analyses under their former names, for code written before :mod:`dftpost.analyses`:
each name is the analysis's own object or a call of it (see the classes for the details)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from .analyses.charge_fit import CHARGE_FIT_SCHEMA, ChargeFit, ChargeFitTask, charge_fit_frame, dft_dipole
from .analyses.dipole import DIPOLE_PARALLEL_BYTES, DIPOLE_SCHEMA, DipoleAnalysis
from .analyses.field import FIELD_SCHEMA, FieldResponse
from .analyses.gap import GAP_SCHEMA, GapAnalysis, GapTask
from .analyses.potential import POTENTIAL_PARALLEL_BYTES, POTENTIAL_SCHEMA, PotentialAnalysis, PotentialTrajectory
from .analysis.bandedges import BandEdgeParameters
from .analysis.charge_fit import DEFAULT_MAX_DIPOLE
from .analysis.charge_fit import ChargeFit as ChargeFitResult
from .analysis.dipole import DEFAULT_Q_O, DipoleTrajectory
from .analysis.electrostatics import DEFAULT_SIGMA_A, DEFAULT_TOLERANCE_V
from .analysis.molecules import DEFAULT_R_OH
from .analysis.profiles import FieldResponse as FieldResponseResult
from .backends import backend_for

__all__ = [
    "GAP_SCHEMA", "GapTask", "analyse_gap", "gap_batch", "gap_summary",
    "DIPOLE_SCHEMA", "DIPOLE_PARALLEL_BYTES", "dipole_trajectory",
    "POTENTIAL_SCHEMA", "POTENTIAL_PARALLEL_BYTES", "PotentialTrajectory", "potential_trajectory",
    "FIELD_SCHEMA", "field_profile",
    "CHARGE_FIT_SCHEMA", "ChargeFitTask", "charge_fit_frame", "dft_dipole", "fit_charge",
]

analyse_gap = GapAnalysis.work
gap_summary = GapAnalysis.summary


def gap_batch(paths: Iterable[Path], out: Path, parameters: BandEdgeParameters = BandEdgeParameters(),
              dipole_e_per_A: float | None = None, workers: int = 1, force: bool = False,
              on_result: Callable[[dict], None] | None = None, on_start: Callable[[int, int], None] | None = None,
              wait_s: float = 0.0, scheduler: str | None = None) -> list[dict]:
    """:class:`~dftpost.analyses.gap.GapAnalysis` stored in ``out``, on ``workers`` processes or
    a Dask ``scheduler``; the rows made (scalar columns only)."""
    backend = backend_for(workers, scheduler)  # a wrong scheduler fails before any work
    return GapAnalysis(paths, parameters, dipole_e_per_A, out, force, on_result, on_start, wait_s).run(backend).to_rows()


def dipole_trajectory(path: Path, index: str | None = None, q_o: float = DEFAULT_Q_O, r_oh: float = DEFAULT_R_OH,
                      gap_eV: float = 4.45, dz_A: float = 0.1, origin_A: float | None = None,
                      on_frames: Callable[[int], None] | None = None, timestep_ps: float | None = None, workers: int = 1,
                      scheduler: str | None = None, parallel_bytes: int = DIPOLE_PARALLEL_BYTES) -> tuple[DipoleTrajectory, dict]:
    """:class:`~dftpost.analyses.dipole.DipoleAnalysis` on ``workers`` processes or a Dask
    ``scheduler``: the result and its row (arrays included)."""
    analysis = DipoleAnalysis(path, index, q_o, r_oh, gap_eV, dz_A, origin_A, timestep_ps, on_frames, parallel_bytes)
    analysis.run(backend_for(workers, scheduler))
    return analysis.results.trajectory, analysis.to_row()


def potential_trajectory(path: Path, index: str | None = None, q_o: float = DEFAULT_Q_O, sigma_A: float = DEFAULT_SIGMA_A,
                         tolerance_V: float = DEFAULT_TOLERANCE_V, self_term: bool = True, intermolecular: bool = False,
                         gap_eV: float = 4.45, on_frames: Callable[[int], None] | None = None, timestep_ps: float | None = None,
                         workers: int = 1, scheduler: str | None = None,
                         parallel_bytes: int = POTENTIAL_PARALLEL_BYTES) -> tuple[PotentialTrajectory, dict]:
    """:class:`~dftpost.analyses.potential.PotentialAnalysis` on ``workers`` processes or a Dask
    ``scheduler``: the result and its row (arrays included)."""
    analysis = PotentialAnalysis(path, index, q_o, sigma_A, tolerance_V, self_term, intermolecular, gap_eV, timestep_ps,
                                 on_frames, parallel_bytes)
    analysis.run(backend_for(workers, scheduler))
    return analysis.results.trajectory, analysis.to_row()


def field_profile(run_no_field: Path, run_field: Path, axis: int = 2, include_applied: str = "auto", margin_A: float = 3.0,
                  window_A: float = 3.0) -> tuple[FieldResponseResult, dict]:
    """:class:`~dftpost.analyses.field.FieldResponse` of a pair of runs: the result and its row."""
    analysis = FieldResponse(run_no_field, run_field, axis, include_applied, margin_A, window_A).run()
    return analysis.results.response, analysis.to_row()


def fit_charge(paths: Iterable[Path], source: str = "auto", max_dipole_e_per_A: float = DEFAULT_MAX_DIPOLE,
               intercept: bool = False, r_oh: float = DEFAULT_R_OH, workers: int = 1, scheduler: str | None = None,
               include_substrate: bool = False) -> tuple[ChargeFitResult, dict]:
    """:class:`~dftpost.analyses.charge_fit.ChargeFit` on ``workers`` processes or a Dask
    ``scheduler``: the fit and its row (arrays included)."""
    backend = backend_for(workers, scheduler)  # a wrong scheduler fails before any work
    analysis = ChargeFit(paths, source, max_dipole_e_per_A, intercept, r_oh, include_substrate).run(backend)
    return analysis.results.fit, analysis.to_row()
