"""``dftpost dipole``: fixed-charge dipoles of water along an MLIP trajectory."""

from __future__ import annotations

from pathlib import Path

import typer

from .options import FRAMES, GAP, JSON, OUT, Q_O, R_OH_A, SCHEDULER, TIMESTEP, WORKERS, number, reflow, workers_or_all
from .render import input_file
from .trajectory import analyse_and_store, print_trajectory_summary


@reflow
def dipole(
    trajectory: Path = typer.Argument(..., metavar="FILE", help="An MLIP trajectory any ASE reader reads (extxyz, ...)."),
    out: Path = OUT,
    as_json: bool = JSON,
    q_o: float = Q_O,
    r_oh: float = number(R_OH_A, "--r-oh", unit="Å", lo=0.8, hi=2.0, help="O–H bond cut-off: an H belongs to the nearest O within it."),
    gap_ev: float = GAP,
    index: str = FRAMES,
    dz: float = number(0.1, "--dz", unit="Å", lo=0.01, hi=5.0, help="Bin width of the z profiles."),
    origin: float = number(None, "--origin", unit="Å", lo=-1000, hi=1000,
                           help="z origin of the profiles (default: the top metal atom, else the middle of the vacuum gap)."),
    timestep_ps: float = TIMESTEP,
    workers: int = WORKERS,
    scheduler: str = SCHEDULER,
) -> None:
    """Fixed-charge dipoles of water along an MLIP trajectory (METHODS §1).

    The cumulative profile μ_z(z), the total-dipole distribution and autocorrelation, the O and H
    densities and the species census, stored in --out.

    Dipoles are e/Å (per area), potential steps V; correlation times in ps when the frames have
    times (--timestep-ps, or time_ps/time_fs in each frame's info), else in frames.
    """
    from dftpost.analyses import DipoleAnalysis

    input_file(trajectory, "a trajectory file")
    analysis = analyse_and_store("dipole", lambda on_frames: DipoleAnalysis(
        trajectory, index, q_o, r_oh, gap_ev, dz, origin, timestep_ps, on_frames), out, as_json, workers_or_all(workers), scheduler)
    print_trajectory_summary(analysis.to_json(out=out), out, as_json)
