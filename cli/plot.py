"""``dftpost plot``: the paper's figures from stored results."""

from __future__ import annotations

from pathlib import Path

import typer

from dftpost.errors import DftpostError

from .options import FIGURE_NAMES, FigureFormat, reflow
from .render import fail, input_file, stdout, usage


@reflow
def plot_command(
    items: list[str] = typer.Argument(
        ...,
        metavar="RESULTS.h5|WHICH",
        help=f"HDF5 results files and, in any order, figure names: {', '.join(FIGURE_NAMES)}. "
        "Without a name: every figure the files have data for.",
        show_default=False,
    ),
    out: Path = typer.Option(Path("figures"), "--out", "-o", metavar="DIR", help="Folder for the figures (created if needed)."),
    fmt: FigureFormat = typer.Option(FigureFormat.png, "--format", "-f", help="File format."),
    run: str = typer.Option(None, "--run", metavar="TEXT", help="Figures of one run draw the latest row whose run path contains this text (default: the latest row with the data)."),
) -> None:
    """Figures of the paper from stored results.

    Densities, dipole profile and distribution, z-resolved PDoS, field response, band edges
    against μ_z, σ against thickness, ΔV against cell length, autocorrelations, species census,
    q_O parity.

    Arguments are results files and figure names, in any order:
    a figure name is a figure, anything else a file.
      dftpost plot results.h5 --out figs      every figure the file has data for
      dftpost plot a.h5 b.h5 band-edges acf   these two figures, from both files

    A named figure needs its data in every file given: else exit 1 naming
    the file and the missing table or dataset (nothing is drawn).
    Figures of one run (density, dipole-profile, dipole-distribution,
    pdos-map, field-response, census, parity) are drawn per file from its
    latest row, as FILE-NAME.FORMAT when there are several files. Figures
    over runs (band-edges, sigma-vs-thickness, potential-vs-cell, acf) pool
    the rows of all files (each run once) into NAME.FORMAT.
    Prints the files drawn.
    """
    from dftpost.plot import FIGURES, plot_results  # matplotlib itself loads when drawing

    which = [item for item in items if item in FIGURES]
    files = [Path(item) for item in items if item not in FIGURES]
    if not files:
        usage("give at least one results file (HDF5 written by dftpost)")
    for path in files:
        input_file(path, "a results file (HDF5 written by dftpost)", f"no such file, nor a figure name ({', '.join(FIGURES)})")
    try:
        made = plot_results(files, which, out, fmt.value, run)
    except DftpostError as exc:
        fail(exc)
    stdout.print(f"{len(made)} figure(s) from {', '.join(map(str, files))} → {out}", soft_wrap=True)
    for name, path in made:
        stdout.print(f"  {path.name:<28} {FIGURES[name].caption}", soft_wrap=True)
