"""``dftpost``: the command line. Parses arguments, calls the API, prints; no science here.

Exit codes: 0 success, 1 bad or missing input (a one-line message on stderr naming the file),
2 wrong usage (typer's own).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dftpost import __version__
from dftpost.errors import DftpostError
from dftpost.io.rundir import describe_file, read_run

app = typer.Typer(
    name="dftpost",
    help="Water band edges, false metallization and field response from FHI-aims and CP2K outputs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


def _fail(error: Exception) -> None:
    err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


def _version(value: bool) -> None:
    if value:
        print(f"dftpost {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """dftpost: post-processing of FHI-aims and CP2K runs of water and water/metal interfaces."""


@app.command()
def inspect(
    path: Path = typer.Argument(..., help="A run directory, or one file (log, .pdos, DoS .dat, cube, .inp)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Show what dftpost finds in a run directory or a single file.

    Units: energies eV (the Fermi level on the program's own zero, DoS energies relative to it),
    dipoles e·Å, fields V/Å.
    """
    try:
        summary = read_run(path).summary() if path.is_dir() else describe_file(path)
    except DftpostError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(DftpostError(path, exc.strerror or str(exc)))
    for warning in summary.get("warnings", []):
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if as_json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    _print_summary(summary)


def _print_summary(s: dict) -> None:
    console = Console()
    table = Table(title=s["path"], show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")

    def row(name: str, value) -> None:
        table.add_row(name, "—" if value is None else escape(str(value)))

    row("program", f"{s['code']} {s.get('program_version') or ''}".strip() if s.get("code") else None)
    row("finished normally", s.get("finished"))
    row("atoms", s.get("n_atoms") if not s.get("formula") else f"{s['n_atoms']} ({s['formula']})")
    fermi = s.get("fermi_level_eV")
    row("Fermi level (eV)", None if fermi is None else f"{fermi:.4f}  [{s.get('fermi_level_source') or 'file'}]")
    pdos = s.get("pdos")
    if pdos:
        text = (
            f"{pdos['form']}, {pdos['n_spin']} spin, {pdos['n_projections']} projections "
            f"({', '.join(pdos['projections'][:6])}{' …' if pdos['n_projections'] > 6 else ''}), "
            f"{pdos['energy_min_eV']:.2f} to {pdos['energy_max_eV']:.2f} eV vs E_F"
        )
        if pdos.get("homo_eV") is not None and pdos.get("lumo_eV") is not None:
            text += f"; HOMO–LUMO gap {pdos['lumo_eV'] - pdos['homo_eV']:.3f} eV"
        row("projected DoS", text)
    else:
        row("projected DoS", None)
    dip = s.get("dipole_correction")
    if dip:
        parts = [f"along {dip['axis']}"]
        if dip.get("dipole_e_A") is not None:
            parts.append(f"dipole {dip['dipole_e_A']:+.4f} e·Å")
        if dip.get("gradient_eV_per_A") is not None:
            parts.append(f"gradient {dip['gradient_eV_per_A']:+.5f} eV/Å")
        if dip.get("potential_jump_eV") is not None:
            parts.append(f"jump {dip['potential_jump_eV']:+.4f} eV")
        row("dipole correction", ", ".join(parts))
    else:
        row("dipole correction", None)
    field = s.get("applied_field_V_per_A")
    row("applied field (V/Å)", None if field is None else "(" + ", ".join(f"{x:.4g}" for x in field) + ")")
    for cube in s.get("cubes", []):
        row("cube", f"{Path(cube['path']).name}: {cube['quantity']} [{cube['units']}] {'×'.join(map(str, cube['shape']))}")
    for item in s.get("missing", []):
        row("missing", item)
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    app()
