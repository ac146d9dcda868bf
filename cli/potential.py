"""``dftpost potential``: the potential-difference proxy of periodic water boxes."""

from __future__ import annotations

from pathlib import Path

import typer


from .options import FRAMES, GAP, JSON, OUT, Q_O, SCHEDULER, SIGMA_A, TIMESTEP, TOLERANCE_V, WORKERS, number, reflow, workers_or_all
from .render import input_file
from .trajectory import analyse_and_store, correlation_time, print_trajectory_summary, trajectory_summary


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
    from dftpost.batch import POTENTIAL_SCHEMA, potential_trajectory

    input_file(trajectory, "a trajectory file")
    result, row = analyse_and_store("potential", POTENTIAL_SCHEMA, out, as_json, lambda on_frames: potential_trajectory(
        trajectory, index, q_o, sigma, tolerance, self_term, intermolecular, gap_ev, on_frames=on_frames,
        timestep_ps=timestep_ps, workers=workers_or_all(workers), scheduler=scheduler))
    summary_ = {
        **trajectory_summary(row, out),
        "q_o_e": q_o,
        "sigma_A": sigma,
        "self_term": self_term,
        "intermolecular": intermolecular,
        "tolerance_V": tolerance,
        "cell_length_A": row["cell_length_A"],
        "delta_v_V": result.delta_v_V.tolist(),
        "mean_delta_v_V": row["mean_delta_v_V"],
        "std_delta_v_V": row["std_delta_v_V"],
        "sem_delta_v_V": row["sem_delta_v_V"],
        "gap_eV": gap_ev,
        "exceeds_gap_fraction": row["exceeds_gap_fraction"],
        **correlation_time(row),
    }
    print_trajectory_summary(summary_, row, out, as_json)
