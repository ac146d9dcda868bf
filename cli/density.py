"""``dftpost density``: the number density of one element along z over an MLIP trajectory."""

from __future__ import annotations

from pathlib import Path

import typer

from .options import FRAMES, JSON, OUT, SCHEDULER, WORKERS, number, plot_option, reflow, workers_or_all
from .render import fail, input_file, usage
from .trajectory import analyse_and_store, print_trajectory_summary


@reflow
def density(
    trajectory: Path = typer.Argument(..., metavar="FILE", help="An MLIP trajectory any ASE reader reads (extxyz, ...)."),
    out: Path = OUT,
    as_json: bool = JSON,
    element: str = typer.Option("O", "--element", metavar="SYMBOL", help="Chemical symbol of the atoms counted."),
    dz: float = number(0.1, "--dz", unit="Å", lo=0.01, hi=5.0, help="Bin width along z (each frame's is L_z / ⌈L_z/dz⌉)."),
    index: str = FRAMES,
    workers: int = WORKERS,
    scheduler: str = SCHEDULER,
    plot: Path = plot_option("the density profile"),
) -> None:
    """Number density of one element in z bins, averaged over the frames, with its standard error.

    Atoms per Å³ in bins of the frame's cell along z (MAICoS' DensityPlanar, number density),
    stored in --out; the error treats frames as independent.
    """
    from ase.data import atomic_numbers

    from dftpost.analyses import DensityAnalysis
    from dftpost.errors import DftpostError

    if element not in atomic_numbers:
        usage(f"--element: no element {element!r} (a chemical symbol such as O or H)")
    input_file(trajectory, "a trajectory file")
    analysis = analyse_and_store("density", lambda on_frames: DensityAnalysis(
        trajectory, index, element, dz, on_frames), out, as_json, workers_or_all(workers), scheduler)
    if plot is not None:
        from dftpost.plot import save_figure

        try:
            save_figure(analysis.plot(), plot)
        except DftpostError as exc:
            fail(exc)
    summary = analysis.to_json(out=out)
    if not as_json:  # the profile itself is in --json and the store
        summary = {k: v for k, v in summary.items() if k not in ("z_A", "density_per_A3", "density_sem_per_A3")}
        summary["plot"] = None if plot is None else str(plot)
    print_trajectory_summary(summary, out, as_json)
