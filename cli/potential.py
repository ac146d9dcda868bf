"""``dftpost potential``: the potential-difference proxy of periodic water boxes."""

from __future__ import annotations

from pathlib import Path

import typer

from .options import (
    FRAMES,
    GAP,
    JSON,
    OUT,
    Q_O,
    SCHEDULER,
    SIGMA_A,
    TIMESTEP,
    TOLERANCE_V,
    WORKERS,
    number,
    reflow,
    workers_or_all,
)
from .render import input_file
from .trajectory import analyse_and_store, print_trajectory_summary


@reflow
def potential(
    trajectory: Path = typer.Argument(..., metavar="FILE", help="A trajectory of periodic water boxes any ASE reader reads (extxyz, ...)."),
    out: Path = OUT,
    as_json: bool = JSON,
    q_o: float = Q_O,
    sigma: float = number(SIGMA_A, "--sigma", unit="Å", lo=0, hi=3, help="Width of the Gaussian charges (0: point charges, with --no-self-term)."),
    tolerance: float = number(TOLERANCE_V, "--tolerance", unit="V", lo=1e-8, hi=0.1, help="Largest error wanted on the potential of any atom."),
    self_term: bool = typer.Option(True, "--self-term/--no-self-term", help="Count an atom's own Gaussian at its centre (the potential of the whole smooth charge)."),
    intermolecular: bool = typer.Option(False, "--intermolecular", help="Leave out the atoms of the atom's own molecule."),
    gap_ev: float = GAP,
    index: str = FRAMES,
    timestep_ps: float = TIMESTEP,
    workers: int = WORKERS,
    scheduler: str = SCHEDULER,
) -> None:
    """Potential-difference proxy of periodic water boxes (METHODS §2).

    Gaussian charges on O and H, the periodic (tin-foil Ewald, PME) potential at every atom,
    ΔV = max − min per frame, its distribution and autocorrelation. Potentials V, lengths Å;
    correlation times in ps when the frames have times, else in frames.
    """
    from dftpost.analyses import PotentialAnalysis

    input_file(trajectory, "a trajectory file")
    analysis = analyse_and_store("potential", lambda on_frames: PotentialAnalysis(
        trajectory, index, q_o, sigma, tolerance, self_term, intermolecular, gap_ev, timestep_ps, on_frames),
        out, as_json, workers_or_all(workers), scheduler)
    print_trajectory_summary(analysis.to_json(out=out), out, as_json)
