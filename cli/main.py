"""``dftpost``: the command line. Parses arguments, calls the API, prints; no science here.

Exit codes: 0 success, 1 bad or missing input (a one-line message on stderr naming the file),
2 wrong usage (typer's own).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from dftpost import __version__
from dftpost.errors import DftpostError
from dftpost.analysis.bandedges import BandEdgeParameters
from dftpost.analysis.dipole import CENSUS_SPECIES, DEFAULT_Q_O
from dftpost.analysis.molecules import DEFAULT_R_OH
from dftpost.analysis.charge_fit import DEFAULT_MAX_DIPOLE
from dftpost.analysis.electrostatics import DEFAULT_SIGMA_A, DEFAULT_TOLERANCE_V
from dftpost.batch import (
    CHARGE_FIT_SCHEMA,
    DIPOLE_SCHEMA,
    FIELD_SCHEMA,
    POTENTIAL_SCHEMA,
    dipole_trajectory,
    field_profile,
    fit_charge,
    gap_batch,
    gap_summary,
    potential_trajectory,
)
from dftpost.store import ResultStore
from dftpost.io.rundir import describe_file, read_run
from dftpost.parallel import default_workers, stop_on_signals

app = typer.Typer(
    name="dftpost",
    help="Water band edges, false metallization and field response from FHI-aims and CP2K outputs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


# Options several commands share (one declaration, the same flags and help everywhere).
_OUT = typer.Option(Path("results.h5"), "--out", "-o", help="HDF5 results file (appended to).")
_JSON = typer.Option(False, "--json", help="Print one JSON object.")
_FRAMES = typer.Option(None, "--index", help="Frames start:stop:step (Python slice; default all).")
_TIMESTEP = typer.Option(
    None, "--timestep-ps", help="Time between consecutive frames of the file, ps (default: the frames' time_ps/time_fs, if any)."
)
_TRAJECTORY_WORKERS = typer.Option(
    None, "--workers", "-w", "-j", help="Processes to use (default: the cores available; a plain xyz/extxyz file is cut into chunks of frames)."
)
_TRAJECTORY_SCHEDULER = typer.Option(None, "--scheduler", help="Analyse on Dask instead: 'local', tcp://host:port or a cluster file (as for gap).")


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
        "verdict_basis",
        "water_homo_eV",
        "water_lumo_eV",
        "n_water_atoms",
        "n_water_atoms_above_substrate",
        "n_water_atoms_below_substrate",
        "n_substrate_atoms",
        "code",
        "input_hash",
    )
    out = {k: _json_value(row.get(k)) for k in keys}
    for key in ("vbm_by_spin_eV", "cbm_by_spin_eV"):  # null for a closed shell
        value = row.get(key)
        out[key] = None if value is None or len(value) == 0 else [_json_value(float(v)) for v in value]
    out["metallized"] = None if row.get("metallized") in (None, -1) else bool(row["metallized"])
    if row.get("status") != "ok":
        out["error"] = row.get("error", "")
    return out


def _interrupted(exc: KeyboardInterrupt, what: str) -> None:
    """One line on stderr, exit 130 after Ctrl-C (SIGINT), 143 after SIGTERM (a batch system
    ending the job, ``kill``), as shells report those signals."""
    terminated = getattr(exc, "signum", signal.SIGINT) == signal.SIGTERM
    err.print(f"{'terminated' if terminated else 'interrupted'}: {escape(what)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=143 if terminated else 130)


@app.command()
def gap(
    paths: list[Path] = typer.Argument(..., help="Run directories, or parents holding many (searched recursively)."),
    out: Path = _OUT,
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
    scheduler: str = typer.Option(None, "--scheduler", help="Analyse on Dask instead of local processes: 'local' (a LocalCluster of --workers processes), a scheduler address tcp://host:port, or a cluster file (YAML, e.g. a dask-jobqueue SLURMCluster; see the README). Needs dftpost\\[dask] (pip install 'dftpost\\[dask]')."),
) -> None:
    """Water band edges and false metallization of FHI-aims and CP2K runs, stored in HDF5.

    Energies are eV relative to the Fermi level the program printed; the dipole is e/Å. Exit
    status 0 when every run succeeded, 1 when some failed (the others are stored), 2 on usage
    errors, 130 after Ctrl-C and 143 after SIGTERM (the runs finished are stored; run the same
    command again for the rest).
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
    failed = stored = 0
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
        nonlocal failed, stored
        stored += 1
        if row["status"] != "ok":
            failed += 1
        if as_json:
            print(json.dumps(_gap_json(row), ensure_ascii=False), flush=True)
        elif row["status"] != "ok":
            err.print(f"[red]failed:[/] {escape(row['error'])}", highlight=False, soft_wrap=True)
        progress.advance(task)

    try:
        with stop_on_signals(), progress:
            rows = gap_batch(paths, out, params, dipole, workers or default_workers(), force, finished, started, wait,
                             scheduler)
    except DftpostError as exc:
        _fail(exc)
    except KeyboardInterrupt as exc:
        _interrupted(exc, f"{stored} run(s) stored in {out}; run the same command again to analyse the rest")
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
    as_json: bool = _JSON,
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
    out: Path = _OUT,
    as_json: bool = _JSON,
    q_o: float = typer.Option(DEFAULT_Q_O, "--q-o", help="Oxygen charge, e (q_H = -q_O/2)."),
    r_oh: float = typer.Option(DEFAULT_R_OH, "--r-oh", help="O-H bond cut-off, Å."),
    gap_ev: float = typer.Option(4.45, "--gap", help="Band gap (eV) a breakdown candidate's |μ|/ε0 exceeds."),
    index: str = _FRAMES,
    dz: float = typer.Option(0.1, "--dz", help="Bin width of the z profiles, Å."),
    origin: float = typer.Option(None, "--origin", help="z origin of the profiles, Å (default: top metal atom, else the vacuum gap)."),
    timestep_ps: float = _TIMESTEP,
    workers: int = _TRAJECTORY_WORKERS,
    scheduler: str = _TRAJECTORY_SCHEDULER,
) -> None:
    """Fixed-charge dipoles of water along a trajectory: cumulative profile μ_z(z), total-dipole
    distribution and autocorrelation, densities and the species census (METHODS §1).

    Dipoles are e/Å (per area), potential steps V; correlation times in ps when the frames have
    times (--timestep-ps, or time_ps/time_fs in each frame's info), else in frames.
    """
    result, row = _trajectory_analysis("dipole", DIPOLE_SCHEMA, out, as_json, lambda on_frames: dipole_trajectory(
        trajectory, index, q_o, r_oh, gap_ev, dz, origin, on_frames=on_frames, timestep_ps=timestep_ps,
        workers=workers or default_workers(), scheduler=scheduler))
    summary_ = {
        **_trajectory_summary(row, out),
        "q_o_e": q_o,
        "mean_total_dipole_e_per_A": row["mean_total_dipole_e_per_A"],
        "std_total_dipole_e_per_A": row["std_total_dipole_e_per_A"],
        "sem_total_dipole_e_per_A": _json_value(row["sem_total_dipole_e_per_A"]),
        "mean_potential_step_V": float(result.potential_step_V.mean()),
        "breakdown_gap_eV": gap_ev,
        "breakdown_fraction": row["breakdown_fraction"],
        **_correlation_time(row),
        "acf_integrated_time_frames": row["acf_integrated_time_frames"],
        "water_thickness_A": row["water_thickness_A"],
        "species_counts": {s: float(result.census[:, k].mean()) for k, s in enumerate(CENSUS_SPECIES)},
    }
    _print_trajectory_summary(summary_, row, out, as_json)


def _trajectory_analysis(label: str, schema, out: Path, as_json: bool, analyse):
    """Run ``analyse(on_frames)`` with a frame counter on a terminal, store its row in ``out``;
    a one-line error (exit 1) for bad input, exit 130/143 on Ctrl-C/SIGTERM (nothing stored).
    Returns the result and the row."""
    progress = Progress(
        TextColumn(label), SpinnerColumn(), TextColumn("{task.completed} frames"), TimeElapsedColumn(),
        console=err, disable=as_json or not err.is_terminal,
    )
    task = progress.add_task(label, total=None)
    try:
        with stop_on_signals(), progress:
            result, row = analyse(lambda n: progress.advance(task, n))
        _store_once(out, schema, row)
    except KeyboardInterrupt as exc:
        _interrupted(exc, "nothing stored; run the same command again")
    except DftpostError as exc:
        _fail(exc)
    return result, row


def _store_once(out: Path, schema, row: dict) -> None:
    """Append ``row`` to its table in ``out`` unless a row of the same inputs and parameters
    (run and input_hash) is stored there already: the analysis is deterministic, so a second
    identical row would only count twice. Says so on stderr."""
    with ResultStore(out) as store:
        if (row["run"], row["input_hash"]) in store.stored_keys(schema.name):
            err.print(f"already stored in {escape(str(out))} (same inputs and parameters): not stored again",
                      highlight=False, soft_wrap=True)
            return
        store.append(schema, [row])


def _trajectory_summary(row: dict, out: Path) -> dict:
    return {"trajectory": row["run"], "out": str(out), "n_frames": row["n_frames"], "index": row["index"]}


def _correlation_time(row: dict) -> dict:
    """The integrated correlation time in ps when the frames had times, else in frames."""
    in_frames = not np.isfinite(row["acf_integrated_time_ps"])
    return {
        "acf_integrated_time": row["acf_integrated_time_frames"] if in_frames else row["acf_integrated_time_ps"],
        "acf_integrated_time_units": "frames" if in_frames else "ps",
    }


def _print_trajectory_summary(summary: dict, row: dict, out: Path, as_json: bool, hidden: tuple = ()) -> None:
    """One JSON object, or a table of the summary without the paths (and ``hidden`` keys)."""
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    table = Table(title=f"{row['run']} → {out}", show_header=False, title_justify="left")
    for key, value in summary.items():
        if key not in ("trajectory", "out", *hidden):
            table.add_row(key, escape(str(value)))
    Console().print(table)


@app.command()
def potential(
    trajectory: Path = typer.Argument(..., help="A trajectory of periodic water boxes any ASE reader reads (extxyz, ...)."),
    out: Path = _OUT,
    as_json: bool = _JSON,
    q_o: float = typer.Option(DEFAULT_Q_O, "--q-o", help="Oxygen charge, e (q_H = -q_O/2)."),
    sigma: float = typer.Option(DEFAULT_SIGMA_A, "--sigma", help="Width of the Gaussian charges, Å (0 = point charges)."),
    tolerance: float = typer.Option(DEFAULT_TOLERANCE_V, "--tolerance", help="Accuracy wanted on the potential of every atom, V."),
    self_term: bool = typer.Option(True, "--self-term/--no-self-term", help="Count an atom's own Gaussian at its centre (the potential of the whole smooth charge)."),
    intermolecular: bool = typer.Option(False, "--intermolecular", help="Leave out the atoms of the atom's own molecule."),
    gap_ev: float = typer.Option(4.45, "--gap", help="Band gap (eV) ΔV is compared with."),
    index: str = _FRAMES,
    timestep_ps: float = _TIMESTEP,
    workers: int = _TRAJECTORY_WORKERS,
    scheduler: str = _TRAJECTORY_SCHEDULER,
) -> None:
    """Potential-difference proxy of periodic water boxes (METHODS §2): Gaussian charges on O and
    H, the periodic (tin-foil Ewald, PME) potential at every atom, ΔV = max − min per frame, its
    distribution and autocorrelation. Potentials V, lengths Å; correlation times in ps when the
    frames have times, else in frames.
    """
    result, row = _trajectory_analysis("potential", POTENTIAL_SCHEMA, out, as_json, lambda on_frames: potential_trajectory(
        trajectory, index, q_o, sigma, tolerance, self_term, intermolecular, gap_ev, on_frames=on_frames,
        timestep_ps=timestep_ps, workers=workers or default_workers(), scheduler=scheduler))
    summary_ = {
        **_trajectory_summary(row, out),
        "q_o_e": q_o,
        "sigma_A": sigma,
        "self_term": self_term,
        "intermolecular": intermolecular,
        "tolerance_V": tolerance,
        "cell_length_A": row["cell_length_A"],
        "delta_v_V": result.delta_v_V.tolist(),
        "mean_delta_v_V": row["mean_delta_v_V"],
        "std_delta_v_V": row["std_delta_v_V"],
        "sem_delta_v_V": _json_value(row["sem_delta_v_V"]),
        "gap_eV": gap_ev,
        "exceeds_gap_fraction": row["exceeds_gap_fraction"],
        **_correlation_time(row),
    }
    _print_trajectory_summary(summary_, row, out, as_json, hidden=("delta_v_V",))


@app.command("field-profile")
def field_profile_command(
    run_no_field: Path = typer.Argument(..., help="Run directory without the field."),
    run_field: Path = typer.Argument(..., help="Run directory of the same frame with the field."),
    axis: str = typer.Option("z", "--axis", help="Surface normal: x, y or z (the lattice direction averaged along)."),
    out: Path = _OUT,
    as_json: bool = _JSON,
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
        _store_once(out, FIELD_SCHEMA, row)
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
    include_substrate: bool = typer.Option(
        False, "--include-substrate", help="Let runs with a metal or oxide into the fit (their DFT dipole holds the substrate's own)."
    ),
    out: Path = _OUT,
    as_json: bool = _JSON,
    plot: Path = typer.Option(None, "--plot", help="Draw the parity plot to this file (png, pdf, svg)."),
    workers: int = typer.Option(None, "--workers", "-w", "-j", help="Processes reading the runs (default: the cores available)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Read the runs on Dask instead: 'local', tcp://host:port or a cluster file (as for gap)."),
) -> None:
    """Fit the fixed oxygen charge q_O (q_H = −q_O/2) to the DFT dipoles of water frames
    (METHODS §3). Charges e, dipoles per area e/Å. Exit status 1 when some run had no usable
    dipole (the fit uses the others), 2 for usage errors."""
    if source not in ("auto", "log", "cube"):
        err.print(f"[bold red]usage error:[/] --source must be log, cube or auto, not {escape(source)}")
        raise typer.Exit(code=2)
    try:
        with stop_on_signals():
            result, row = fit_charge(
                paths, source, max_dipole, intercept, workers=workers or default_workers(), scheduler=scheduler,
                include_substrate=include_substrate,
            )
        with ResultStore(out) as store:
            store.append(CHARGE_FIT_SCHEMA, [row])
        if plot is not None:
            from dftpost.plot import parity_figure

            parity_figure(row, plot)
    except KeyboardInterrupt as exc:
        _interrupted(exc, "no fit stored; run the same command again")
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
        elif "rejected" in frame:
            err.print(f"left out: {escape(frame['run'])}: {escape(frame['rejected'])}", highlight=False, soft_wrap=True)
    if result.interval_note:
        err.print(f"[yellow]warning:[/] {escape(result.interval_note)}", highlight=False, soft_wrap=True)
    data = {
        "q_O_e": result.q_o_e,
        "q_O_stderr_e": result.q_o_stderr_e,
        "q_O_ci95_e": [_json_value(x) for x in result.q_o_ci95_e],
        "intercept_e_per_A": result.intercept_e_per_A,
        "r2": _json_value(result.r2),
        "rmse_e_per_A": result.rmse_e_per_A,
        "n_used": result.n_used,
        "n_rejected": result.n_rejected,
        "max_dipole_e_per_A": max_dipole,
        "source": source,
        "include_substrate": include_substrate,
        "interval_note": result.interval_note or None,
        "frames": frames,
        "out": str(out),
    }
    if as_json:
        print(json.dumps(data, ensure_ascii=False, default=float))
    else:
        interval = (
            f"95 % bootstrap {result.q_o_ci95_e[0]:.4f} … {result.q_o_ci95_e[1]:.4f}" if not result.interval_note else "no interval"
        )
        Console().print(
            f"q_O = {result.q_o_e:.4f} ± {result.q_o_stderr_e:.4f} e ({interval}), R² = {result.r2:.4f}, "
            f"RMSE = {result.rmse_e_per_A:.2e} e/Å; {result.n_used} frames used, {result.n_rejected} left out → {out}"
        )
    raise typer.Exit(code=1 if failed else 0)


_SELECT_HELP = (
    "Frames to run, among those --index picks (frame numbers count from 0 in the file): "
    "'all'; 'indices:0,5,9' (negative from the end); 'stride:N' (every N-th from the first); "
    "'dipole-extremes:N' (the N most negative and the N most positive μ_z); "
    "'dipole-quantiles:K' (the frames at the quantiles (k+½)/K of μ_z); "
    "'dipole-bins:K[:M]' (K equal-width μ_z bins, the M frames nearest each bin centre). "
    "μ_z is the fixed-charge total dipole per area (e/Å, --q-o)."
)


@app.command()
def generate(
    trajectory: Path = typer.Argument(..., help="MLIP trajectory, any format ASE reads (extxyz, ...)."),
    outdir: Path = typer.Argument(..., help="Campaign folder to write: new, empty, or holding this same campaign."),
    code: str = typer.Option(..., "--code", help="DFT program: cp2k or aims."),
    select: str = typer.Option("all", "--select", help=_SELECT_HELP),
    index: str = typer.Option(None, "--index", help="Frames considered: start:stop:step (Python slice; default all)."),
    field: float = typer.Option(None, "--field", help="Also a run with a homogeneous field of this many V/Å along +z: every frame a nofield/field pair."),
    d_cut: float = typer.Option(BandEdgeParameters.d_cut_A, "--d-cut", help="PDoS lists: water atoms beyond this height above the top metal atom, Å (passed on to dftpost gap)."),
    q_o: float = typer.Option(DEFAULT_Q_O, "--q-o", help="Oxygen charge of the fixed-charge μ_z, e (q_H = -q_O/2; passed on to dftpost gap)."),
    min_vacuum: float = typer.Option(10.0, "--min-vacuum", help="Narrowest vacuum gap along z accepted, Å."),
    layer_width: float = typer.Option(3.0, "--layer-width", help="Height of the water layer lists (z-resolved PDoS), Å."),
    xc: str = typer.Option("PBE", "--xc", help="Exchange-correlation functional (CP2K XC_FUNCTIONAL / FHI-aims xc)."),
    cutoff: float = typer.Option(400.0, "--cutoff", help="CP2K: plane-wave cutoff, Ry."),
    rel_cutoff: float = typer.Option(50.0, "--rel-cutoff", help="CP2K: REL_CUTOFF, Ry."),
    eps_scf: float = typer.Option(1e-6, "--eps-scf", help="CP2K: EPS_SCF."),
    mixing: str = typer.Option("auto", "--mixing", help="CP2K: SCF mixing method; auto: DIRECT_P_MIXING without metal (BROYDEN_MIXING aborted on some water frames with the dipole correction), BROYDEN_MIXING (α 0.1, β 1.5) with metal."),
    cube_stride: int = typer.Option(2, "--cube-stride", help="CP2K: STRIDE of the V_HARTREE and density cubes."),
    project: str = typer.Option("frame", "--project", help="CP2K: project name (file names PROJECT.inp, PROJECT.out, ...)."),
    cp2k_version: str = typer.Option(None, "--cp2k-version", help="CP2K: the release the inputs are for, e.g. 2023.1 or 2026.2 (2026.2 moved PDoS/LDOS under &PRINT%DOS); default: what cp2k.psmp --version reports, else the newest layout dftpost knows."),
    kind: list[str] = typer.Option([], "--kind", help="CP2K: EL=BASIS,POTENTIAL for one element (repeatable), e.g. Cu=DZVP-MOLOPT-SR-GTH,GTH-PBE-q11."),
    species_dir: Path = typer.Option(None, "--species-dir", help="FHI-aims: species defaults folder (…/defaults_2020 or …/defaults_2020/intermediate); default $AIMS_SPECIES_DIR."),
    basis: str = typer.Option("intermediate", "--basis", help="FHI-aims: species-default level."),
    k_grid: str = typer.Option(None, "--k-grid", help="FHI-aims: k-grid N1,N2,N3 (default: 25 Å / cell length along x and y, 1 along z)."),
    smearing: float = typer.Option(0.01, "--smearing", help="FHI-aims: Gaussian occupation smearing, eV."),
    dft_command: str = typer.Option(None, "--dft-command", help="How the job scripts start the program (default: cp2k.psmp / aims.x, in SLURM srun ...)."),
    ntasks: int = typer.Option(32, "--ntasks", help="SLURM: MPI ranks per array task (one task per frame)."),
    time_limit: str = typer.Option("12:00:00", "--time", help="SLURM: wall-time limit per task."),
    partition: str = typer.Option(None, "--partition", help="SLURM: partition."),
    account: str = typer.Option(None, "--account", help="SLURM: account."),
    wait: float = typer.Option(600.0, "--wait", help="dftpost gap --wait in each task, s."),
    as_json: bool = _JSON,
) -> None:
    """DFT run directories, job scripts and a manifest for chosen frames of an MLIP trajectory.

    Each frame becomes a run directory (or a nofield/field pair with --field) with the inputs
    for CP2K or FHI-aims: PBE, dipole correction along z, projected DoS of the water (CP2K:
    LDOS lists of the water atoms beyond --d-cut and of water layers), Hartree potential and
    density cubes. The job scripts (run_all.sh, submit.slurm: a SLURM array, one task per
    frame) run the program where it has not ended normally, then dftpost gap into
    OUTDIR/results.h5. Nothing is written unless everything checks out (exit 1, one line naming
    the file or folder); 2 for usage errors.
    """
    from dftpost.inputs import AimsSettings, Cp2kSettings, JobSettings, generate_campaign, parse_selection
    from dftpost.inputs import cp2k as cp2k_inputs
    from dftpost.inputs.jobs import shell_word_list

    def usage(message: str) -> None:
        err.print(f"[bold red]usage error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2)

    if code not in ("cp2k", "aims"):
        usage(f"--code must be cp2k or aims, not {code}")
    try:
        selection = parse_selection(select)
    except DftpostError as exc:
        usage(str(exc))
    kinds = []
    for item in kind:
        element, _, names = item.partition("=")
        parts = [p.strip() for p in names.split(",")]
        if not element.strip() or len(parts) != 2 or not all(parts):
            usage(f"--kind takes EL=BASIS,POTENTIAL, not {item}")
        kinds.append((element.strip(), parts[0], parts[1]))
    grid = None
    if k_grid is not None:
        try:
            grid = tuple(int(k) for k in k_grid.split(","))
        except ValueError:
            grid = ()
        if len(grid) != 3 or min(grid) < 1:
            usage(f"--k-grid takes three positive integers N1,N2,N3, not {k_grid}")
    try:
        if code == "cp2k" and cp2k_version is None:
            cp2k_version = cp2k_inputs.installed_cp2k_version() or cp2k_inputs.NEWEST_CP2K_VERSION
        cp2k_settings = Cp2kSettings(project=project, xc=xc, kinds=tuple(kinds), cutoff_Ry=cutoff, rel_cutoff_Ry=rel_cutoff,
                                     eps_scf=eps_scf, mixing=mixing, cube_stride=cube_stride,
                                     cp2k_version=cp2k_version or cp2k_inputs.NEWEST_CP2K_VERSION)
        aims_settings = AimsSettings(xc=xc.lower(), basis=basis, k_grid=grid, occupation=("gaussian", smearing))
        if dft_command is not None:
            shell_word_list(dft_command, "--dft-command")
    except DftpostError as exc:
        usage(str(exc))
    try:
        campaign = generate_campaign(
            trajectory,
            outdir,
            code,
            selection,
            index,
            field,
            d_cut,
            q_o,
            DEFAULT_R_OH,
            min_vacuum,
            layer_width,
            cp2k=cp2k_settings,
            aims=aims_settings,
            species_dir=species_dir,
            jobs=JobSettings(dft_command=dft_command, ntasks=ntasks, time=time_limit, partition=partition, account=account,
                             wait_s=wait),
            command=["dftpost", *sys.argv[1:]],
        )
    except DftpostError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(DftpostError(exc.filename or outdir, exc.strerror or str(exc)))
    frames = campaign.manifest["frames"]
    if as_json:
        data = {
            "outdir": str(campaign.directory),
            "code": code,
            "existing": campaign.existing,
            "n_frames": len(frames),
            "n_runs": sum(len(f["runs"]) for f in frames),
            "frames": [{"index": f["index"], "dipole_e_per_A": f["dipole_e_per_A"], "reason": f["reason"],
                        "runs": [r["dir"] for r in f["runs"]]} for f in frames],
        }
        if code == "cp2k":
            data["cp2k_version"] = cp2k_settings.cp2k_version
        print(json.dumps(data, ensure_ascii=False))
        return
    console = Console()
    if campaign.existing:
        console.print(f"{escape(str(campaign.directory))} already holds this campaign: nothing written", highlight=False, soft_wrap=True)
        return
    table = Table(title=f"{len(frames)} frame(s) → {campaign.directory}", title_justify="left")
    for name in ("frame", "μ_z (e/Å)", "why", "run directories"):
        table.add_column(name)
    for f in frames:
        table.add_row(str(f["index"]), f"{f['dipole_e_per_A']:+.5f}", escape(f["reason"]), escape(" ".join(r["dir"] for r in f["runs"])))
    console.print(table)
    if code == "cp2k":
        console.print(escape(cp2k_inputs.layout_note(cp2k_settings)), highlight=False, soft_wrap=True)
    console.print(
        f"run: bash {escape(str(campaign.directory / 'run_all.sh'))}  or  sbatch {escape(str(campaign.directory / 'submit.slurm'))}",
        highlight=False, soft_wrap=True,
    )


from dftpost.plot import FIGURES, FORMATS, plot_results  # noqa: E402  (matplotlib itself loads when drawing)


@app.command("plot")
def plot_command(
    items: list[str] = typer.Argument(
        ...,
        metavar="RESULTS.h5|WHICH",
        help=f"HDF5 results files and, in any order, figure names: {', '.join(FIGURES)}. "
        "Without a name: every figure the files have data for.",
        show_default=False,
    ),
    out: Path = typer.Option(Path("figures"), "--out", "-o", help="Folder for the figures (created if needed)."),
    fmt: str = typer.Option("png", "--format", "-f", help="File format: png, pdf or svg."),
    run: str = typer.Option(None, "--run", help="Figures of one run draw the latest row whose run path contains this text (default: the latest row with the data)."),
) -> None:
    """Figures of the paper from stored results: densities, dipole profile and
    distribution, z-resolved PDoS, field response, band edges against μ_z, σ against
    thickness, ΔV against cell length, autocorrelations, species census, q_O parity.

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
    if fmt not in FORMATS:
        err.print(f"[bold red]usage error:[/] --format must be png, pdf or svg, not {escape(fmt)}")
        raise typer.Exit(code=2)
    which = [item for item in items if item in FIGURES]
    files = [Path(item) for item in items if item not in FIGURES]
    if not files:
        err.print("[bold red]usage error:[/] give at least one results file (HDF5 written by dftpost)")
        raise typer.Exit(code=2)
    for path in files:
        if not path.exists():
            _fail(DftpostError(path, f"no such file, nor a figure name ({', '.join(FIGURES)})"))
    try:
        made = plot_results(files, which, out, fmt, run)
    except DftpostError as exc:
        _fail(exc)
    console = Console()
    console.print(f"{len(made)} figure(s) from {escape(', '.join(map(str, files)))} → {escape(str(out))}", highlight=False, soft_wrap=True)
    for name, path in made:
        console.print(f"  {escape(path.name):<28} {escape(FIGURES[name].caption)}", highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    app()
