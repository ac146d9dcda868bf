"""``dftpost summary``: counts, metallized fraction and gaps binned by dipole from a results file."""

from __future__ import annotations

from pathlib import Path

import typer

from dftpost.errors import DftpostError

from .options import JSON, number, reflow
from .render import fail, print_json, say, show, stdout, table


@reflow
def summary(
    results: Path = typer.Argument(..., metavar="FILE", help="HDF5 results file written by dftpost gap."),
    as_json: bool = JSON,
    bin_width: float = number(0.005, "--bin-width", unit="e/Å", lo=1e-4, hi=1.0, help="Width of the dipole bins."),
) -> None:
    """Counts, metallized fraction and water gaps binned by the total dipole (paper Fig. 2c)."""
    from dftpost.analyses import GapAnalysis

    try:
        data = GapAnalysis.summary(results, bin_width)
    except DftpostError as exc:
        fail(exc)
    if as_json:
        print_json(data)
        return
    frac = data["metallized_fraction"]
    stdout.print(
        f"{data['n_runs']} runs in {results}: {data['n_ok']} ok, {data['n_failed']} failed; "
        f"metallized: {'—' if frac is None else f'{frac:.1%}'} of the runs that succeeded"
    )
    rows = table("μ_z centre (e/Å)", "runs", "mean gap (eV)", "std (eV)", "metallized")
    for b in data["gap_by_dipole"]:
        rows.add_row(
            f"{b['centre_e_per_A']:+.4f}",
            str(b["count"]),
            f"{b['mean_gap_eV']:.3f}",
            f"{b['std_gap_eV']:.3f}",
            f"{b['metallized_fraction']:.0%}",
        )
    show(f"water gap by total dipole μ_z (bins of {bin_width:g} e/Å)", rows)
    if data["n_not_binned"]:
        say("note:", f"{data['n_not_binned']} run(s) that succeeded have no dipole or gap stored "
                     "(written by an older dftpost): counted above, left out of the bins")
