"""``dftpost field-profile``: the response of a frame to an applied field."""

from __future__ import annotations

from pathlib import Path

import typer

from dftpost.errors import DftpostError

from .options import JSON, OUT, Axis, IncludeApplied, number, plot_option, reflow
from .render import fail, print_json, print_quantities
from .trajectory import store_once


@reflow
def field_profile_command(
    run_no_field: Path = typer.Argument(..., metavar="RUN_NO_FIELD", help="Run directory without the field."),
    run_field: Path = typer.Argument(..., metavar="RUN_FIELD", help="Run directory of the same frame with the field."),
    axis: Axis = typer.Option(Axis.z, "--axis", help="Surface normal: the lattice direction of the field, averaged along."),
    out: Path = OUT,
    as_json: bool = JSON,
    plot: Path = plot_option("ΔV(z) and Δρ(z)"),
    include_applied: IncludeApplied = typer.Option(
        IncludeApplied.auto, "--include-applied", help="Add −E·z to ΔV: yes, no, or auto (decided from the vacuum slope)."),
    margin: float = number(3.0, "--margin", unit="Å", lo=1, hi=10, help="The vacuum and water regions keep this far from the atoms."),
    window: float = number(3.0, "--window", unit="Å", lo=0, hi=20, help="Window of the macroscopic average (0: none)."),
) -> None:
    """Response of a frame to an applied field (METHODS §5).

    ΔV(z) and Δρ(z) between the runs without and with the field, the field in vacuum and in the
    water, the water's screening, metallic water and the induced dipole. Fields V/Å, dipole e·Å.
    """
    from dftpost.analyses import FieldResponse

    try:
        analysis = FieldResponse(run_no_field, run_field, "xyz".index(axis.value), include_applied.value, margin, window).run()
        store_once(out, analysis.schema, analysis.to_row())
        if plot is not None:
            from dftpost.plot import save_figure

            save_figure(analysis.plot(), plot)
    except DftpostError as exc:
        fail(exc)
    data = analysis.to_json(out=out, plot=plot)
    if as_json:
        print_json(data)
        return
    print_quantities(f"field response of {data['run']} (without the field: {data['run_no_field']}) → {out}",
                     {k: v for k, v in data.items() if v is not None or k != "plot"})
