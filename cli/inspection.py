"""``dftpost inspect``: what dftpost finds in a run directory or one file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.table import Table

from dftpost.errors import DftpostError

from .options import JSON, reflow
from .render import fail, print_json, say, stdout


@reflow
def inspect(
    path: Path = typer.Argument(..., metavar="PATH", help="A run directory, or one file (log, .pdos, DoS .dat, cube, .inp)."),
    as_json: bool = JSON,
) -> None:
    """Show what dftpost finds in a run directory or a single file.

    Units: energies eV (the Fermi level on the program's own zero, DoS energies relative to it),
    dipoles e·Å, fields V/Å.
    """
    try:
        if path.is_dir():
            from dftpost.io.rundir import read_run

            summary = read_run(path).summary()
        else:
            from dftpost.io.describe import describe_file

            summary = describe_file(path)
    except DftpostError as exc:
        fail(exc)
    except OSError as exc:
        fail(DftpostError(path, exc.strerror or str(exc)))
    for warning in summary.get("warnings", []):
        say("warning:", warning, "yellow")
    if as_json:
        print_json(summary, indent=2)
        return
    _print_summary(summary)


def _print_summary(s: dict) -> None:
    table = Table(title=s["path"], show_header=False, title_justify="left", box=box.SIMPLE, pad_edge=False, show_edge=False)
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")

    def row(name: str, value) -> None:
        table.add_row(name, "—" if value is None else "yes" if value is True else "no" if value is False else str(value))

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
        if pdos.get("fractional_occupations"):
            text += "; fractional occupations: metallic within the smearing, no HOMO–LUMO gap"
        elif pdos.get("homo_eV") is not None and pdos.get("lumo_eV") is not None:
            text += f"; HOMO–LUMO gap {pdos['lumo_eV'] - pdos['homo_eV']:.3f} eV"
        row("projected DoS", text)
    else:
        row("projected DoS", None)
    if s.get("fractional_occupations"):
        row("HOMO–LUMO gap", "none: fractional occupations (metallic within the smearing)")
    elif s.get("homo_lumo_gap_eV") is not None:
        row("HOMO–LUMO gap (eV)", f"{s['homo_lumo_gap_eV']:.4f}")
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
    stdout.print(table)
