"""``dftpost``: the command line. Parses arguments, calls the API, prints; no science here.

Exit codes: 0 success, 1 bad or missing input (a one-line message on stderr naming the file),
2 wrong usage (typer's own).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from dftpost import __version__
from dftpost.errors import DftpostError
from dftpost.analysis.bandedges import BandEdgeParameters
from dftpost.analysis.dipole import CENSUS_SPECIES, DEFAULT_Q_O
from dftpost.analysis.molecules import DEFAULT_R_OH
from dftpost.analysis.charge_fit import DEFAULT_MAX_DIPOLE
from dftpost.batch import (
    CHARGE_FIT_SCHEMA,
    DIPOLE_SCHEMA,
    FIELD_SCHEMA,
    dipole_trajectory,
    field_profile,
    fit_charge,
    gap_batch,
    gap_summary,
)
from dftpost.store import ResultStore
from dftpost.io.rundir import describe_file, read_run
from dftpost.parallel import default_workers

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


def _json_value(value):
    """NaN → null, numpy scalars → Python, so every line is strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    return value.item() if hasattr(value, "item") else value


def _gap_json(row: dict) -> dict:
    keys = (
        "run",
        "status",
        "vbm_eV",
        "cbm_eV",
        "gap_eV",
        "metallized",
        "dipole_e_per_A",
        "dipole_source",
        "fermi_level_eV",
        "reference_eV",
        "reference",
        "n_water_atoms",
        "code",
        "input_hash",
    )
    out = {k: _json_value(row.get(k)) for k in keys}
    out["metallized"] = None if row.get("metallized") in (None, -1) else bool(row["metallized"])
    if row.get("status") != "ok":
        out["error"] = row.get("error", "")
    return out


@app.command()
def gap(
    paths: list[Path] = typer.Argument(..., help="Run directories, or parents holding many (searched recursively)."),
    out: Path = typer.Option(Path("results.h5"), "--out", "-o", help="HDF5 results file (appended to)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per run per line."),
    workers: int = typer.Option(0, "--workers", "-w", help="Processes to use (0 = all cores)."),
    d_cut: float = typer.Option(BandEdgeParameters.d_cut_A, "--d-cut", help="Water atoms counted only beyond this height above the top metal atom, Å."),
    threshold: float = typer.Option(BandEdgeParameters.threshold, "--threshold", help="PDoS threshold T (see --threshold-mode)."),
    threshold_mode: str = typer.Option(BandEdgeParameters.threshold_mode, "--threshold-mode", help="per_atom: T × water atoms (states/eV); absolute: states/eV; relative: × max of the water PDoS."),
    start_offset: float = typer.Option(BandEdgeParameters.start_offset_eV, "--start-offset", help="s: scans start this far beyond the reference level, eV."),
    separation: float = typer.Option(BandEdgeParameters.separation_eV, "--separation", help="δ: the second scan starts this far from the first edge, eV."),
    sigma: float = typer.Option(BandEdgeParameters.sigma_eV, "--sigma", help="Gaussian broadening of eigenvalues (CP2K), eV."),
    q_o: float = typer.Option(BandEdgeParameters.q_o_e, "--q-o", help="Oxygen charge of the fixed-charge dipole, e (q_H = -q_O/2)."),
    dipole: float = typer.Option(None, "--dipole", help="Use this total dipole (e/Å) instead of the fixed-charge one."),
    force: bool = typer.Option(False, "--force", help="Analyse runs already stored with the same inputs again."),
    wait: float = typer.Option(0.0, "--wait", help="Seconds to wait for another writer of --out to finish (jobs ending together)."),
) -> None:
    """Water band edges and false metallization of FHI-aims and CP2K runs, stored in HDF5.

    Energies are eV relative to the Fermi level the program printed; the dipole is e/Å. Exit
    status 0 when every run succeeded, 1 when some failed (the others are stored), 2 on usage
    errors.
    """
    try:
        params = BandEdgeParameters(
            d_cut_A=d_cut,
            threshold=threshold,
            threshold_mode=threshold_mode,
            start_offset_eV=start_offset,
            separation_eV=separation,
            sigma_eV=sigma,
            q_o_e=q_o,
        )
    except DftpostError as exc:
        err.print(f"[bold red]usage error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2)
    failed = 0
    progress = Progress(
        TextColumn("gap"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, disable=as_json or not err.is_terminal
    )
    task = None

    def started(n_todo: int, n_skipped: int) -> None:
        nonlocal task
        if n_skipped and not as_json:
            err.print(f"{n_skipped} run(s) already stored with the same inputs: skipped (use --force to redo)")
        task = progress.add_task("gap", total=n_todo)

    def finished(row: dict) -> None:
        nonlocal failed
        if row["status"] != "ok":
            failed += 1
        if as_json:
            print(json.dumps(_gap_json(row), ensure_ascii=False), flush=True)
        elif row["status"] != "ok":
            err.print(f"[red]failed:[/] {escape(row['error'])}", highlight=False, soft_wrap=True)
        progress.advance(task)

    try:
        with progress:
            rows = gap_batch(paths, out, params, dipole, workers or default_workers(), force, finished, started, wait)
    except DftpostError as exc:
        _fail(exc)
    if not as_json and rows:
        _print_gap_table(rows, out)
    raise typer.Exit(code=1 if failed else 0)


def _print_gap_table(rows: list[dict], out: Path) -> None:
    console = Console()
    table = Table(title=f"water band edges (eV vs E_F) → {out}", title_justify="left")
    for name in ("run", "status", "VBM", "CBM", "gap", "metallized", "μ_z (e/Å)"):
        table.add_column(name)
    for row in rows:
        ok = row["status"] == "ok"
        table.add_row(
            escape(row["run"]),
            row["status"],
            f"{row['vbm_eV']:+.3f}" if ok else "—",
            f"{row['cbm_eV']:+.3f}" if ok else "—",
            f"{row['gap_eV']:.3f}" if ok else "—",
            ("[red]yes[/]" if row["metallized"] else "no") if ok else "—",
            f"{row['dipole_e_per_A']:+.4f}" if ok else "—",
        )
    console.print(table)


@app.command()
def summary(
    results: Path = typer.Argument(..., help="HDF5 results file written by dftpost gap."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    bin_width: float = typer.Option(0.005, "--bin-width", help="Width of the dipole bins, e/Å."),
) -> None:
    """Counts, metallized fraction and water gaps binned by the total dipole (paper Fig. 2c)."""
    try:
        data = gap_summary(results, bin_width)
    except DftpostError as exc:
        _fail(exc)
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    console = Console()
    frac = data["metallized_fraction"]
    console.print(
        f"{data['n_runs']} runs: {data['n_ok']} ok, {data['n_failed']} failed; "
        f"metallized fraction {'—' if frac is None else f'{frac:.3f}'}"
    )
    table = Table(title="gap by total dipole", title_justify="left")
    for name in ("μ_z centre (e/Å)", "runs", "mean gap (eV)", "std (eV)", "metallized"):
        table.add_column(name)
    for b in data["gap_by_dipole"]:
        table.add_row(
            f"{b['centre_e_per_A']:+.4f}",
            str(b["count"]),
            f"{b['mean_gap_eV']:.3f}",
            f"{b['std_gap_eV']:.3f}",
            f"{b['metallized_fraction']:.2f}",
        )
    console.print(table)


@app.command()
def dipole(
    trajectory: Path = typer.Argument(..., help="An MLIP trajectory any ASE reader reads (extxyz, ...)."),
    out: Path = typer.Option(Path("results.h5"), "--out", "-o", help="HDF5 results file (appended to)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    q_o: float = typer.Option(DEFAULT_Q_O, "--q-o", help="Oxygen charge, e (q_H = -q_O/2)."),
    r_oh: float = typer.Option(DEFAULT_R_OH, "--r-oh", help="O-H bond cut-off, Å."),
    gap_ev: float = typer.Option(4.45, "--gap", help="Band gap (eV) a breakdown candidate's |μ|/ε0 exceeds."),
    index: str = typer.Option(None, "--index", help="Frames start:stop:step (Python slice; default all)."),
    dz: float = typer.Option(0.1, "--dz", help="Bin width of the z profiles, Å."),
    origin: float = typer.Option(None, "--origin", help="z origin of the profiles, Å (default: top metal atom, else the vacuum gap)."),
    timestep_ps: float = typer.Option(
        None, "--timestep-ps", help="Time between consecutive frames of the file, ps (default: the frames' time_ps/time_fs, if any)."
    ),
) -> None:
    """Fixed-charge dipoles of water along a trajectory: cumulative profile μ_z(z), total-dipole
    distribution and autocorrelation, densities and the species census (METHODS §1).

    Dipoles are e/Å (per area), potential steps V; correlation times in ps when the frames have
    times (--timestep-ps, or time_ps/time_fs in each frame's info), else in frames.
    """
    progress = Progress(
        TextColumn("dipole"), SpinnerColumn(), TextColumn("{task.completed} frames"), console=err, disable=as_json or not err.is_terminal
    )
    task = progress.add_task("dipole", total=None)
    try:
        with progress:
            result, row = dipole_trajectory(
                trajectory, index, q_o, r_oh, gap_ev, dz, origin, on_frame=lambda _n: progress.advance(task), timestep_ps=timestep_ps
            )
        with ResultStore(out) as store:
            store.append(DIPOLE_SCHEMA, [row])
    except DftpostError as exc:
        _fail(exc)
    in_frames = not np.isfinite(row["acf_integrated_time_ps"])
    summary_ = {
        "trajectory": row["run"],
        "out": str(out),
        "n_frames": row["n_frames"],
        "index": row["index"],
        "q_o_e": q_o,
        "mean_total_dipole_e_per_A": row["mean_total_dipole_e_per_A"],
        "std_total_dipole_e_per_A": row["std_total_dipole_e_per_A"],
        "sem_total_dipole_e_per_A": _json_value(row["sem_total_dipole_e_per_A"]),
        "mean_potential_step_V": float(result.potential_step_V.mean()),
        "breakdown_gap_eV": gap_ev,
        "breakdown_fraction": row["breakdown_fraction"],
        "acf_integrated_time": row["acf_integrated_time_frames"] if in_frames else row["acf_integrated_time_ps"],
        "acf_integrated_time_units": "frames" if in_frames else "ps",
        "acf_integrated_time_frames": row["acf_integrated_time_frames"],
        "water_thickness_A": row["water_thickness_A"],
        "species_counts": {s: float(result.census[:, k].mean()) for k, s in enumerate(CENSUS_SPECIES)},
    }
    if as_json:
        print(json.dumps(summary_, ensure_ascii=False))
        return
    console = Console()
    table = Table(title=f"{row['run']} → {out}", show_header=False, title_justify="left")
    for key, value in summary_.items():
        if key not in ("trajectory", "out"):
            table.add_row(key, escape(str(value)))
    console.print(table)


@app.command("field-profile")
def field_profile_command(
    run_no_field: Path = typer.Argument(..., help="Run directory without the field."),
    run_field: Path = typer.Argument(..., help="Run directory of the same frame with the field."),
    axis: str = typer.Option("z", "--axis", help="Surface normal: x, y or z (the lattice direction averaged along)."),
    out: Path = typer.Option(Path("results.h5"), "--out", "-o", help="HDF5 results file (appended to)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Path = typer.Option(None, "--plot", help="Draw ΔV(z) and Δρ(z) to this file (png, pdf, svg)."),
    include_applied: str = typer.Option("auto", "--include-applied", help="Add −E·z to ΔV: auto (decide from the vacuum slope), yes or no."),
    margin: float = typer.Option(3.0, "--margin", help="Regions stay this far from the atoms, Å."),
    window: float = typer.Option(3.0, "--window", help="Window of the macroscopic average, Å."),
) -> None:
    """Response to an applied field: ΔV(z), Δρ(z), the field in vacuum and water, the water's
    screening, metallic water, and the induced dipole (METHODS §5). Fields V/Å, dipole e·Å."""
    if axis not in ("x", "y", "z"):
        err.print(f"[bold red]usage error:[/] --axis must be x, y or z, not {escape(axis)}")
        raise typer.Exit(code=2)
    try:
        result, row = field_profile(run_no_field, run_field, "xyz".index(axis), include_applied, margin, window)
        with ResultStore(out) as store:
            store.append(FIELD_SCHEMA, [row])
        if plot is not None:
            from dftpost.plot import field_response_figure

            field_response_figure(row, plot)
    except DftpostError as exc:
        _fail(exc)
    data = {
        "run": row["run"],
        "run_no_field": row["run_no_field"],
        "applied_field_V_per_A": row["applied_field_V_per_A"],
        "applied_added": bool(row["applied_added"]),
        "applied_detected": row["applied_detected"],
        "field_vacuum_V_per_A": [_json_value(row["field_vacuum_below_V_per_A"]), _json_value(row["field_vacuum_above_V_per_A"])],
        "field_water_V_per_A": _json_value(row["field_water_V_per_A"]),
        "field_metal_V_per_A": _json_value(row["field_metal_V_per_A"]),
        "screening": _json_value(row["screening"]),
        "metallic_water": bool(row["metallic_water"]),
        "induced_dipole_e_A": row["induced_dipole_e_A"],
        "potential_step_V": row["potential_step_V"],
        "dipole_step_V": row["dipole_step_V"],
        "out": str(out),
        "plot": None if plot is None else str(plot),
    }
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    table = Table(title=f"field response → {out}", show_header=False, title_justify="left")
    for key, value in data.items():
        table.add_row(key, escape(str(value)))
    Console().print(table)


@app.command("fit-charge")
def fit_charge_command(
    paths: list[Path] = typer.Argument(..., help="Run directories (or parents holding many) of water frames."),
    max_dipole: float = typer.Option(DEFAULT_MAX_DIPOLE, "--max-dipole", help="Leave out frames with |μ_DFT| at or above this, e/Å."),
    source: str = typer.Option("auto", "--source", help="DFT dipole from the log, the density cube, or auto (log if printed)."),
    intercept: bool = typer.Option(False, "--intercept", help="Fit μ_DFT = q_O·s + b instead of q_O·s."),
    out: Path = typer.Option(Path("results.h5"), "--out", "-o", help="HDF5 results file (appended to)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Path = typer.Option(None, "--plot", help="Draw the parity plot to this file (png, pdf, svg)."),
) -> None:
    """Fit the fixed oxygen charge q_O (q_H = −q_O/2) to the DFT dipoles of water frames
    (METHODS §3). Charges e, dipoles per area e/Å. Exit status 1 when some run had no usable
    dipole (the fit uses the others), 2 for usage errors."""
    if source not in ("auto", "log", "cube"):
        err.print(f"[bold red]usage error:[/] --source must be log, cube or auto, not {escape(source)}")
        raise typer.Exit(code=2)
    try:
        result, row = fit_charge(paths, source, max_dipole, intercept)
        with ResultStore(out) as store:
            store.append(CHARGE_FIT_SCHEMA, [row])
        if plot is not None:
            from dftpost.plot import parity_figure

            parity_figure(row, plot)
    except DftpostError as exc:
        _fail(exc)
    frames = json.loads(row["frames"])
    failed = 0
    for frame in frames:
        for warning in frame.get("warnings", []):
            err.print(f"[yellow]warning:[/] {escape(frame['run'])}: {escape(warning)}", highlight=False, soft_wrap=True)
        if "error" in frame:
            failed += 1
            err.print(f"[red]failed:[/] {escape(frame['error'])}", highlight=False, soft_wrap=True)
    data = {
        "q_O_e": result.q_o_e,
        "q_O_stderr_e": result.q_o_stderr_e,
        "q_O_ci95_e": list(result.q_o_ci95_e),
        "intercept_e_per_A": result.intercept_e_per_A,
        "r2": _json_value(result.r2),
        "rmse_e_per_A": result.rmse_e_per_A,
        "n_used": result.n_used,
        "n_rejected": result.n_rejected,
        "max_dipole_e_per_A": max_dipole,
        "source": source,
        "frames": frames,
        "out": str(out),
    }
    if as_json:
        print(json.dumps(data, ensure_ascii=False, default=float))
    else:
        Console().print(
            f"q_O = {result.q_o_e:.4f} ± {result.q_o_stderr_e:.4f} e (95 % bootstrap {result.q_o_ci95_e[0]:.4f} … "
            f"{result.q_o_ci95_e[1]:.4f}), R² = {result.r2:.4f}, RMSE = {result.rmse_e_per_A:.2e} e/Å; "
            f"{result.n_used} frames used, {result.n_rejected} left out → {out}"
        )
    raise typer.Exit(code=1 if failed else 0)


if __name__ == "__main__":  # pragma: no cover
    app()
