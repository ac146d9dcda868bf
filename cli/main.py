"""``dftpost``: the command line. Parses arguments, calls the API, prints; no science here.

Exit codes: 0 success, 1 bad or missing input (a one-line message on stderr naming the file),
2 wrong usage (typer's own).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from enum import Enum
from inspect import cleandoc
from pathlib import Path

import numpy as np
import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from dftpost import __version__
from dftpost.errors import DftpostError
from dftpost.analysis.bandedges import BandEdgeParameters
from dftpost.analysis.dipole import CENSUS_SPECIES, DEFAULT_Q_O
from dftpost.analysis.molecules import DEFAULT_R_OH
from dftpost.analysis.charge_fit import DEFAULT_MAX_DIPOLE
from dftpost.analysis.electrostatics import DEFAULT_SIGMA_A, DEFAULT_TOLERANCE_V
from dftpost.parallel import default_workers, stop_on_signals
from dftpost.plot import FIGURES, FORMATS, plot_results  # matplotlib itself loads when drawing

app = typer.Typer(
    name="dftpost",
    help="Water band edges, false metallization and field response from FHI-aims and CP2K outputs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Messages and tables are plain text: no markup, no emoji codes (``dipole-extremes:100``), no
# highlighting, one line per message however narrow the terminal.
err = Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)
stdout = Console(markup=False, emoji=False, highlight=False)


# ----------------------------------------------------------------------------- checked options
def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool, unit: str) -> str:
    """``"0.01 ≤ x ≤ 5 Å"``, ``"x ≥ 1"``, ``"x > 0 e/Å"``, ..."""

    def text(x: float) -> str:
        return str(int(x)) if float(x).is_integer() and abs(x) < 1e7 else f"{x:g}"

    if lo is not None and hi is not None:
        bounds = f"{text(lo)} {'<' if lo_open else '≤'} x {'<' if hi_open else '≤'} {text(hi)}"
    elif lo is not None:
        bounds = f"x {'>' if lo_open else '≥'} {text(lo)}"
    elif hi is not None:
        bounds = f"x {'<' if hi_open else '≤'} {text(hi)}"
    else:
        bounds = "any finite number"
    return f"{bounds} {unit}".rstrip()


def _number(default, *flags: str, help: str, unit: str = "", lo: float | None = None, hi: float | None = None,
            lo_open: bool = False, hi_open: bool = False, metavar: str | None = None):
    """An option taking one finite number within [lo, hi] (``lo_open``/``hi_open``: the bound
    itself excluded). NaN, infinities and values out of range are usage errors (exit 2), found
    while the command line is parsed, before any work. The help ends with the range."""
    allowed = _range_text(lo, hi, lo_open, hi_open, unit)

    def check(value):
        if value is None:
            return value
        if (
            not math.isfinite(value)
            or (lo is not None and (value < lo or (lo_open and value == lo)))
            or (hi is not None and (value > hi or (hi_open and value == hi)))
        ):
            raise typer.BadParameter(f"{value:g} is out of range: {allowed}")
        return value

    return typer.Option(default, *flags, help=f"{help} Range: {allowed}.", metavar=metavar or unit or "NUMBER", callback=check)


def _check_index(value: str | None) -> str | None:
    from dftpost.io.trajectory import parse_index

    try:
        parse_index(value)
    except DftpostError as exc:
        raise typer.BadParameter(exc.problem) from None
    return value


class ThresholdMode(str, Enum):
    per_atom = "per_atom"
    absolute = "absolute"
    relative = "relative"


class Axis(str, Enum):
    x = "x"
    y = "y"
    z = "z"


class IncludeApplied(str, Enum):
    auto = "auto"
    yes = "yes"
    no = "no"


class DipoleSource(str, Enum):
    auto = "auto"
    log = "log"
    cube = "cube"


class Code(str, Enum):
    cp2k = "cp2k"
    aims = "aims"


FigureFormat = Enum("FigureFormat", {f: f for f in FORMATS}, type=str)


# Options several commands share (one declaration: the same flags, wording and range everywhere).
_OUT = typer.Option(Path("results.h5"), "--out", "-o", metavar="FILE", help="HDF5 results file (created, or appended to).")
_JSON = typer.Option(False, "--json", help="Print JSON (strict: a missing number is null) instead of a table.")
_FRAMES = typer.Option(None, "--index", metavar="START:STOP:STEP", callback=_check_index,
                       help="Frames to read, as a Python slice of the frames in the file (default: all).")
_TIMESTEP = _number(None, "--timestep-ps", unit="ps", lo=0, hi=1e4, lo_open=True,
                    help="Time between consecutive frames of the file (default: each frame's time_ps or time_fs, if any).")
_WORKERS = _number(None, "--workers", "-w", "-j", lo=1, metavar="N",
                   help="Worker processes (default: the cores available).")
_SCHEDULER = typer.Option(
    None, "--scheduler", metavar="local|URL|FILE",
    help="Run on Dask instead of local processes: 'local' (a Dask cluster of --workers processes on this machine), "
    "the address of a running scheduler, or a cluster file (YAML, e.g. a dask-jobqueue SLURMCluster; see the README). "
    "Needs dftpost\\[dask].",
)
_Q_O = _number(DEFAULT_Q_O, "--q-o", unit="e", lo=-2, hi=0, hi_open=True, help="Oxygen charge of the fixed-charge dipole (q_H = −q_O/2).")
_GAP = _number(4.45, "--gap", unit="eV", lo=0, hi=20, lo_open=True, help="Band gap the potential step of a frame is compared with.")
_D_CUT = _number(BandEdgeParameters.d_cut_A, "--d-cut", unit="Å", lo=0, hi=50,
                 help="Water atoms are those more than this above the top metal atom (all of them without metal).")
_WAIT = _number(0.0, "--wait", unit="s", lo=0, hi=86400, help="How long to wait for another writer of --out to finish (jobs ending together).")


def _check_figure_file(value: Path | None) -> Path | None:
    """--plot names a figure file by its suffix (a usage error before any work otherwise)."""
    if value is not None and (value.suffix.lower().lstrip(".") not in FigureFormat.__members__ or value.is_dir()):
        raise typer.BadParameter(f"{value} is not a figure file: name one ending in .png, .pdf or .svg")
    return value


def _plot_option(what: str):
    return typer.Option(None, "--plot", metavar="FILE.png|.pdf|.svg", callback=_check_figure_file, help=f"Draw {what} to this file.")


def _reflow(command):
    """Join the lines of each paragraph of a command's docstring, so that the help wraps them at
    the terminal's width (typer keeps single line breaks); paragraphs with indented lines
    (examples) stay as written."""
    paragraphs = cleandoc(command.__doc__ or "").split("\n\n")
    command.__doc__ = "\n\n".join(
        p if any(line.startswith(" ") for line in p.splitlines()) else " ".join(p.split()) for p in paragraphs
    )
    return command


def _say(label: str, text: str, style: str = "") -> None:
    """One line on stderr: a styled label and the text as it is (no markup, no emoji)."""
    err.print(Text.assemble((label, style), " ", text) if label else Text(text))


def _fail(error: Exception) -> None:
    _say("error:", str(error), "bold red")
    raise typer.Exit(code=1)


def _usage(message: str) -> None:
    _say("usage error:", message, "bold red")
    raise typer.Exit(code=2)


def _input_file(path: Path, what: str, missing: str = "no such file") -> None:
    """Anything but a readable regular file where ``what`` is expected is bad input (exit 1),
    checked before any work and said in its own words (:func:`dftpost.io.files.regular_file`):
    missing, a symbolic-link loop or a link to nothing, a directory, a FIFO, a device, a socket,
    no permission to read."""
    from dftpost.io.files import regular_file

    try:
        regular_file(path)
    except DftpostError as exc:
        _fail(DftpostError(path, missing) if exc.problem == "no such file" else exc)
    if not os.access(path, os.R_OK):
        _fail(DftpostError(path, f"permission denied: cannot read {what}"))


def _strict_json(value):
    """NaN and infinities → null, numpy scalars and arrays → Python, recursively."""
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return _strict_json(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _print_json(data, indent: int | None = None) -> None:
    """Print one strict JSON value (never NaN or Infinity) and flush (a pipe gets it at once)."""
    print(json.dumps(_strict_json(data), ensure_ascii=False, allow_nan=False, indent=indent), flush=True)


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
@_reflow
def inspect(
    path: Path = typer.Argument(..., metavar="PATH", help="A run directory, or one file (log, .pdos, DoS .dat, cube, .inp)."),
    as_json: bool = _JSON,
) -> None:
    """Show what dftpost finds in a run directory or a single file.

    Units: energies eV (the Fermi level on the program's own zero, DoS energies relative to it),
    dipoles e·Å, fields V/Å.
    """
    from dftpost.io.rundir import describe_file, read_run

    try:
        summary = read_run(path).summary() if path.is_dir() else describe_file(path)
    except DftpostError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(DftpostError(path, exc.strerror or str(exc)))
    for warning in summary.get("warnings", []):
        _say("warning:", warning, "yellow")
    if as_json:
        _print_json(summary, indent=2)
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
        "vacuum_level_eV",
        "vacuum_level_upper_eV",
        "vacuum_level_lower_eV",
        "vacuum_side",
        "work_function_eV",
        "vbm_vs_vacuum_eV",
        "cbm_vs_vacuum_eV",
        "z_resolved_note",
        "code",
        "input_hash",
    )
    out = {k: row.get(k) for k in keys}
    for key in ("vbm_by_spin_eV", "cbm_by_spin_eV"):  # null for a closed shell
        value = row.get(key)
        out[key] = None if value is None or len(value) == 0 else [float(v) for v in value]
    out["metallized"] = None if row.get("metallized") in (None, -1) else bool(row["metallized"])
    if row.get("status") != "ok":
        out["error"] = row.get("error", "")
    return out


def _interrupted(exc: KeyboardInterrupt, what: str) -> None:
    """One line on stderr, exit 130 after Ctrl-C (SIGINT), 143 after SIGTERM (a batch system
    ending the job, ``kill``), as shells report those signals."""
    terminated = getattr(exc, "signum", signal.SIGINT) == signal.SIGTERM
    _say("terminated:" if terminated else "interrupted:", what)
    raise typer.Exit(code=143 if terminated else 130)


@app.command()
@_reflow
def gap(
    paths: list[Path] = typer.Argument(..., metavar="PATH", help="Run directories, or parents holding many (searched recursively)."),
    out: Path = _OUT,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per run per line (strict JSON: a missing number is null)."),
    workers: int = _WORKERS,
    d_cut: float = _D_CUT,
    threshold: float = _number(BandEdgeParameters.threshold, "--threshold", lo=0, hi=100, lo_open=True, metavar="T",
                               help="PDoS threshold T of a band edge, in the units --threshold-mode gives."),
    threshold_mode: ThresholdMode = typer.Option(
        ThresholdMode(BandEdgeParameters.threshold_mode), "--threshold-mode",
        help="per_atom: T states/eV per water atom; absolute: T states/eV; relative: T × the maximum of the water PDoS."),
    start_offset: float = _number(BandEdgeParameters.start_offset_eV, "--start-offset", unit="eV", lo=0, hi=10,
                                  help="s: the first scan starts this far beyond the reference level."),
    separation: float = _number(BandEdgeParameters.separation_eV, "--separation", unit="eV", lo=0, hi=10, lo_open=True,
                                help="δ: the second scan starts this far from the first edge."),
    sigma: float = _number(BandEdgeParameters.sigma_eV, "--sigma", unit="eV", lo=0.02, hi=1.0,
                           help="Gaussian broadening of the eigenvalues (CP2K), on a 0.02 eV grid; wider hides the gap."),
    q_o: float = _Q_O,
    dipole: float = _number(None, "--dipole", unit="e/Å", lo=-1, hi=1, help="Use this total dipole per area instead of the fixed-charge one."),
    force: bool = typer.Option(False, "--force", help="Analyse runs already stored with the same inputs again."),
    wait: float = _WAIT,
    scheduler: str = _SCHEDULER,
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
            threshold_mode=threshold_mode.value,
            start_offset_eV=start_offset,
            separation_eV=separation,
            sigma_eV=sigma,
            q_o_e=q_o,
        )
    except DftpostError as exc:
        _usage(str(exc))
    failed = stored = n_stored_before = 0
    progress = Progress(
        TextColumn("gap"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, disable=as_json or not err.is_terminal
    )
    task = None

    def started(n_todo: int, n_skipped: int) -> None:
        nonlocal task, n_stored_before
        n_stored_before = n_skipped
        if n_skipped:
            _say("", f"{n_skipped} run(s) already stored in {out} with the same inputs: not analysed again (--force redoes them)")
        task = progress.add_task("gap", total=n_todo)

    def finished(row: dict) -> None:
        nonlocal failed, stored
        stored += 1
        if row["status"] != "ok":
            failed += 1
        if as_json:
            _print_json({**_gap_json(row), "stored": False})
        elif row["status"] != "ok":
            _say("failed:", row["error"], "red")
        progress.advance(task)

    from dftpost.batch import gap_batch

    try:
        with stop_on_signals(), progress:
            rows = gap_batch(paths, out, params, dipole, workers or default_workers(), force, finished, started, wait,
                             scheduler)
    except DftpostError as exc:
        _fail(exc)
    except KeyboardInterrupt as exc:
        _interrupted(exc, f"{stored} run(s) stored in {out}; run the same command again to analyse the rest")
    before = _stored_gap_rows(paths, out, {row["run"] for row in rows}) if n_stored_before else []
    if as_json:
        for row in before:
            _print_json({**_gap_json(row), "stored": True})
    elif rows or before:
        _print_gap_table(rows, before, out)
    raise typer.Exit(code=1 if failed else 0)


def _stored_gap_rows(paths: list[Path], out: Path, analysed: set[str]) -> list[dict]:
    """The latest stored row of every run below ``paths`` that was not analysed now (it was
    stored before with the same inputs)."""
    from dftpost.batch import GAP_SCHEMA
    from dftpost.io.rundir import find_run_dirs
    from dftpost.store import read_table

    try:
        table = read_table(out, GAP_SCHEMA.name)
        runs = [str(r) for r in find_run_dirs(paths)]
    except DftpostError as exc:
        _fail(exc)
    latest = {run: i for i, run in enumerate(table["run"])}
    return [{name: column[latest[run]] for name, column in table.items()}
            for run in runs if run not in analysed and run in latest]


def _run_names(runs: list[str]) -> tuple[str, list[str]]:
    """The common parent folder of ``runs`` and each run's path relative to it: the shortest
    names that tell the runs apart (one run: its folder name)."""
    if not runs:
        return "", []
    paths = [Path(r) for r in runs]
    parent = Path(os.path.commonpath(paths)) if len(set(paths)) > 1 else paths[0].parent
    if parent in paths:  # a run holding other runs
        parent = parent.parent
    return str(parent), [os.path.relpath(p, parent) for p in paths]


def _table(*columns: str) -> Table:
    """A table that reads the same on a terminal and in a job log: a rule under the header, no
    vertical lines; numbers right-aligned, the first column never cut (folded when too long)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for i, name in enumerate(columns):
        if i == 0:
            table.add_column(name, overflow="fold")
        else:
            table.add_column(name, justify="right", no_wrap=True)
    return table


def _show(title: str, table: Table, note: str | None = None) -> None:
    """The title on a line of its own (never wrapped into the table's width), the table, a note."""
    stdout.print(title, soft_wrap=True)
    stdout.print(table)
    if note:
        stdout.print(note, soft_wrap=True)


def _vacuum_cell(row: dict) -> str:
    """VBM − E_vac (eV) and the side of the vacuum level, or — without one."""
    value = row.get("vbm_vs_vacuum_eV")
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:+.3f} ({row.get('vacuum_side') or '?'})"


def _print_gap_table(rows: list[dict], before: list[dict], out: Path) -> None:
    """Band edges of the runs analysed now and (``*``) of those stored before, by run path
    relative to their common parent."""
    all_rows = rows + before
    parent, names = _run_names([row["run"] for row in all_rows])
    order = sorted(range(len(all_rows)), key=lambda i: names[i])
    cells = []
    for i in order:
        row, ok = all_rows[i], all_rows[i]["status"] == "ok"
        cells.append([
            names[i],
            row["status"] + ("*" if i >= len(rows) else ""),
            f"{row['vbm_eV']:+.3f}" if ok else "—",
            f"{row['cbm_eV']:+.3f}" if ok else "—",
            f"{row['gap_eV']:.3f}" if ok else "—",
            Text("yes", style="bold red") if ok and row.get("metallized") == 1 else ("no" if ok else "—"),
            f"{row['dipole_e_per_A']:+.4f}" if ok else "—",
            _vacuum_cell(row) if ok else "—",
        ])
    header = ["run", "status", "VBM", "CBM", "gap", "metallized", "μ_z (e/Å)", "VBM−E_vac"]
    widths = [max(len(str(c[k])) for c in [header, *cells]) for k in range(len(header))]
    # the vacuum column only where a run has a vacuum level, and only while the run names fit
    # unfolded: they tell the runs apart (the values stay in --json and the store)
    vacuum = any(c[-1] != "—" for c in cells)
    dropped = vacuum and sum(widths) + 2 * (len(widths) - 1) > stdout.width
    if dropped or not vacuum:
        header, cells = header[:-1], [c[:-1] for c in cells]
    table = _table(*header)
    for c in cells:
        table.add_row(*c)
    title = "water band edges (eV vs E_F" + ("; VBM−E_vac against the vacuum level on the side named" if vacuum and not dropped else "")
    note = "VBM−E_vac (vacuum scale) left out to fit the terminal: see --json" if dropped else None
    if before:
        note = "\n".join(filter(None, ["* stored before with the same inputs (--force analyses them again)", note]))
    _show(f"{title}) of the runs in {parent} → {out}", table, note)


@app.command()
@_reflow
def summary(
    results: Path = typer.Argument(..., metavar="FILE", help="HDF5 results file written by dftpost gap."),
    as_json: bool = _JSON,
    bin_width: float = _number(0.005, "--bin-width", unit="e/Å", lo=1e-4, hi=1.0, help="Width of the dipole bins."),
) -> None:
    """Counts, metallized fraction and water gaps binned by the total dipole (paper Fig. 2c)."""
    from dftpost.batch import gap_summary

    try:
        data = gap_summary(results, bin_width)
    except DftpostError as exc:
        _fail(exc)
    if as_json:
        _print_json(data)
        return
    frac = data["metallized_fraction"]
    stdout.print(
        f"{data['n_runs']} runs in {results}: {data['n_ok']} ok, {data['n_failed']} failed; "
        f"metallized: {'—' if frac is None else f'{frac:.1%}'} of the runs that succeeded"
    )
    table = _table("μ_z centre (e/Å)", "runs", "mean gap (eV)", "std (eV)", "metallized")
    for b in data["gap_by_dipole"]:
        table.add_row(
            f"{b['centre_e_per_A']:+.4f}",
            str(b["count"]),
            f"{b['mean_gap_eV']:.3f}",
            f"{b['std_gap_eV']:.3f}",
            f"{b['metallized_fraction']:.0%}",
        )
    _show(f"water gap by total dipole μ_z (bins of {bin_width:g} e/Å)", table)
    if data["n_not_binned"]:
        _say("note:", f"{data['n_not_binned']} run(s) that succeeded have no dipole or gap stored "
                      "(written by an older dftpost): counted above, left out of the bins")


@app.command()
@_reflow
def dipole(
    trajectory: Path = typer.Argument(..., metavar="FILE", help="An MLIP trajectory any ASE reader reads (extxyz, ...)."),
    out: Path = _OUT,
    as_json: bool = _JSON,
    q_o: float = _Q_O,
    r_oh: float = _number(DEFAULT_R_OH, "--r-oh", unit="Å", lo=0.8, hi=2.0, help="O–H bond cut-off: an H belongs to the nearest O within it."),
    gap_ev: float = _GAP,
    index: str = _FRAMES,
    dz: float = _number(0.1, "--dz", unit="Å", lo=0.01, hi=5.0, help="Bin width of the z profiles."),
    origin: float = _number(None, "--origin", unit="Å", lo=-1000, hi=1000,
                            help="z origin of the profiles (default: the top metal atom, else the middle of the vacuum gap)."),
    timestep_ps: float = _TIMESTEP,
    workers: int = _WORKERS,
    scheduler: str = _SCHEDULER,
) -> None:
    """Fixed-charge dipoles of water along an MLIP trajectory (METHODS §1).

    The cumulative profile μ_z(z), the total-dipole distribution and autocorrelation, the O and H
    densities and the species census, stored in --out.

    Dipoles are e/Å (per area), potential steps V; correlation times in ps when the frames have
    times (--timestep-ps, or time_ps/time_fs in each frame's info), else in frames.
    """
    from dftpost.batch import DIPOLE_SCHEMA, dipole_trajectory

    _input_file(trajectory, "a trajectory file")
    result, row = _trajectory_analysis("dipole", DIPOLE_SCHEMA, out, as_json, lambda on_frames: dipole_trajectory(
        trajectory, index, q_o, r_oh, gap_ev, dz, origin, on_frames=on_frames, timestep_ps=timestep_ps,
        workers=workers or default_workers(), scheduler=scheduler))
    summary_ = {
        **_trajectory_summary(row, out),
        "q_o_e": q_o,
        "mean_total_dipole_e_per_A": row["mean_total_dipole_e_per_A"],
        "std_total_dipole_e_per_A": row["std_total_dipole_e_per_A"],
        "sem_total_dipole_e_per_A": row["sem_total_dipole_e_per_A"],
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
    from dftpost.store import ResultStore

    with ResultStore(out) as store:
        if (row["run"], row["input_hash"]) in store.stored_keys(schema.name):
            _say("", f"already stored in {out} (same inputs and parameters): not stored again")
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


# Rows of the summary tables: JSON key → (label, unit); a fraction prints as a percentage.
_QUANTITIES = {
    "n_frames": ("frames", ""),
    "index": ("frames read (--index)", ""),
    "q_o_e": ("q_O", "e"),
    "mean_total_dipole_e_per_A": ("mean total dipole μ_z", "e/Å"),
    "std_total_dipole_e_per_A": ("  standard deviation", "e/Å"),
    "sem_total_dipole_e_per_A": ("  standard error of the mean", "e/Å"),
    "mean_potential_step_V": ("mean ΔV = μ_z/ε0", "V"),
    "breakdown_gap_eV": ("band gap compared with", "eV"),
    "breakdown_fraction": ("frames with |ΔV| above it", ""),
    "acf_integrated_time": ("integrated correlation time", ""),
    "water_thickness_A": ("water thickness (O to O)", "Å"),
    "species_counts": ("species per frame", ""),
    "sigma_A": ("σ of the Gaussian charges", "Å"),
    "self_term": ("self term", ""),
    "intermolecular": ("intermolecular only", ""),
    "tolerance_V": ("tolerance", "V"),
    "cell_length_A": ("cell length", "Å"),
    "mean_delta_v_V": ("mean ΔV", "V"),
    "std_delta_v_V": ("  standard deviation", "V"),
    "sem_delta_v_V": ("  standard error of the mean", "V"),
    "gap_eV": ("band gap compared with", "eV"),
    "exceeds_gap_fraction": ("frames with ΔV above it", ""),
    "applied_field_V_per_A": ("applied field", "V/Å"),
    "applied_added": ("−E·z added to ΔV", ""),
    "applied_detected": ("because", ""),
    "field_vacuum_V_per_A": ("field in vacuum (below, above)", "V/Å"),
    "field_water_V_per_A": ("field in water", "V/Å"),
    "field_metal_V_per_A": ("field in metal", "V/Å"),
    "screening": ("screening (vacuum / water field)", ""),
    "metallic_water": ("metallic water", ""),
    "induced_dipole_e_A": ("induced dipole", "e·Å"),
    "potential_step_V": ("step of ΔV across the slab", "V"),
    "dipole_step_V": ("  from the induced dipole", "V"),
    "plot": ("figure", ""),
}


def _number_text(x, percent: bool = False) -> str:
    """Four significant digits; integers as integers; yes/no; — for a missing number."""
    if x is None or isinstance(x, float) and not math.isfinite(x):
        return "—"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if percent:
        return f"{x:.1%}"
    if isinstance(x, (int, np.integer)) or float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.4g}"


def _print_quantities(title: str, data: dict) -> None:
    """The keys of ``data`` listed in :data:`_QUANTITIES` as a table of labelled values with units."""
    table = _table("quantity", "value")
    label_column, value_column = table.columns
    label_column.no_wrap, label_column.min_width = True, max(len(_QUANTITIES[k][0]) for k in data if k in _QUANTITIES)
    value_column.justify, value_column.no_wrap = "left", False  # long values wrap, labels never
    for key, value in data.items():
        if key not in _QUANTITIES:
            continue
        label, unit = _QUANTITIES[key]
        percent = key.endswith("_fraction")
        if isinstance(value, dict):
            text = ", ".join(f"{k} {_number_text(v)}" for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            text = ", ".join(_number_text(v) for v in value)
        elif isinstance(value, str) or value is None:
            text = value or "—"
        else:
            text = _number_text(value, percent)
        table.add_row(label, f"{text} {unit}" if unit and text != "—" else text)
    _show(title, table)


def _print_trajectory_summary(summary: dict, row: dict, out: Path, as_json: bool) -> None:
    """One JSON object, or a table of the summary's quantities (see :data:`_QUANTITIES`)."""
    if as_json:
        _print_json(summary)
        return
    data = dict(summary)
    units = data["acf_integrated_time_units"]
    data["acf_integrated_time"] = f"{_number_text(data['acf_integrated_time'])} {units}" + (
        f" ({_number_text(data['acf_integrated_time_frames'])} frames)" if units != "frames" and "acf_integrated_time_frames" in data else "")
    _print_quantities(f"{row['run']} → {out}", data)


@app.command()
@_reflow
def potential(
    trajectory: Path = typer.Argument(..., metavar="FILE", help="A trajectory of periodic water boxes any ASE reader reads (extxyz, ...)."),
    out: Path = _OUT,
    as_json: bool = _JSON,
    q_o: float = _Q_O,
    sigma: float = _number(DEFAULT_SIGMA_A, "--sigma", unit="Å", lo=0, hi=3, help="Width of the Gaussian charges (0: point charges, with --no-self-term)."),
    tolerance: float = _number(DEFAULT_TOLERANCE_V, "--tolerance", unit="V", lo=1e-8, hi=0.1, help="Largest error wanted on the potential of any atom."),
    self_term: bool = typer.Option(True, "--self-term/--no-self-term", help="Count an atom's own Gaussian at its centre (the potential of the whole smooth charge)."),
    intermolecular: bool = typer.Option(False, "--intermolecular", help="Leave out the atoms of the atom's own molecule."),
    gap_ev: float = _GAP,
    index: str = _FRAMES,
    timestep_ps: float = _TIMESTEP,
    workers: int = _WORKERS,
    scheduler: str = _SCHEDULER,
) -> None:
    """Potential-difference proxy of periodic water boxes (METHODS §2).

    Gaussian charges on O and H, the periodic (tin-foil Ewald, PME) potential at every atom,
    ΔV = max − min per frame, its distribution and autocorrelation. Potentials V, lengths Å;
    correlation times in ps when the frames have times, else in frames.
    """
    from dftpost.batch import POTENTIAL_SCHEMA, potential_trajectory

    _input_file(trajectory, "a trajectory file")
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
        "sem_delta_v_V": row["sem_delta_v_V"],
        "gap_eV": gap_ev,
        "exceeds_gap_fraction": row["exceeds_gap_fraction"],
        **_correlation_time(row),
    }
    _print_trajectory_summary(summary_, row, out, as_json)


@app.command("field-profile")
@_reflow
def field_profile_command(
    run_no_field: Path = typer.Argument(..., metavar="RUN_NO_FIELD", help="Run directory without the field."),
    run_field: Path = typer.Argument(..., metavar="RUN_FIELD", help="Run directory of the same frame with the field."),
    axis: Axis = typer.Option(Axis.z, "--axis", help="Surface normal: the lattice direction of the field, averaged along."),
    out: Path = _OUT,
    as_json: bool = _JSON,
    plot: Path = _plot_option("ΔV(z) and Δρ(z)"),
    include_applied: IncludeApplied = typer.Option(
        IncludeApplied.auto, "--include-applied", help="Add −E·z to ΔV: yes, no, or auto (decided from the vacuum slope)."),
    margin: float = _number(3.0, "--margin", unit="Å", lo=1, hi=10, help="The vacuum and water regions keep this far from the atoms."),
    window: float = _number(3.0, "--window", unit="Å", lo=0, hi=20, help="Window of the macroscopic average (0: none)."),
) -> None:
    """Response of a frame to an applied field (METHODS §5).

    ΔV(z) and Δρ(z) between the runs without and with the field, the field in vacuum and in the
    water, the water's screening, metallic water and the induced dipole. Fields V/Å, dipole e·Å.
    """
    from dftpost.batch import FIELD_SCHEMA, field_profile

    try:
        result, row = field_profile(run_no_field, run_field, "xyz".index(axis.value), include_applied.value, margin, window)
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
        "field_vacuum_V_per_A": [row["field_vacuum_below_V_per_A"], row["field_vacuum_above_V_per_A"]],
        "field_water_V_per_A": row["field_water_V_per_A"],
        "field_metal_V_per_A": row["field_metal_V_per_A"],
        "screening": row["screening"],
        "metallic_water": bool(row["metallic_water"]),
        "induced_dipole_e_A": row["induced_dipole_e_A"],
        "potential_step_V": row["potential_step_V"],
        "dipole_step_V": row["dipole_step_V"],
        "out": str(out),
        "plot": None if plot is None else str(plot),
    }
    if as_json:
        _print_json(data)
        return
    _print_quantities(f"field response of {row['run']} (without the field: {row['run_no_field']}) → {out}",
                      {k: v for k, v in data.items() if v is not None or k != "plot"})


@app.command("fit-charge")
@_reflow
def fit_charge_command(
    paths: list[Path] = typer.Argument(..., metavar="PATH", help="Run directories (or parents holding many) of water frames."),
    max_dipole: float = _number(DEFAULT_MAX_DIPOLE, "--max-dipole", unit="e/Å", lo=0, hi=1, lo_open=True,
                                help="Leave out frames with |μ_DFT| at or above this."),
    source: DipoleSource = typer.Option(DipoleSource.auto, "--source", help="DFT dipole from the log, the density cube, or auto (the log if printed)."),
    intercept: bool = typer.Option(False, "--intercept", help="Fit μ_DFT = q_O·s + b instead of q_O·s."),
    include_substrate: bool = typer.Option(
        False, "--include-substrate", help="Let runs with a metal or oxide into the fit (their DFT dipole holds the substrate's own)."
    ),
    out: Path = _OUT,
    as_json: bool = _JSON,
    plot: Path = _plot_option("the parity plot"),
    workers: int = _WORKERS,
    scheduler: str = _SCHEDULER,
) -> None:
    """Fit the fixed oxygen charge q_O to the DFT dipoles of water frames (METHODS §3).

    q_H = −q_O/2. Charges e, dipoles per area e/Å. Says which frames were left out and why. Exit
    status 1 when some run had no usable dipole (the fit uses the others), 2 for usage errors.
    """
    from dftpost.batch import CHARGE_FIT_SCHEMA, fit_charge
    from dftpost.store import ResultStore

    source = source.value
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
            _say("warning:", f"{frame['run']}: {warning}", "yellow")
        if "error" in frame:
            failed += 1
            _say("failed:", frame["error"], "red")
        elif "rejected" in frame:
            _say("left out:", f"{frame['run']}: {frame['rejected']}")
    if result.interval_note:
        _say("warning:", result.interval_note, "yellow")
    data = {
        "q_O_e": result.q_o_e,
        "q_O_stderr_e": result.q_o_stderr_e,
        "q_O_ci95_e": list(result.q_o_ci95_e),
        "intercept_e_per_A": result.intercept_e_per_A,
        "r2": result.r2,
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
        _print_json(data)
    else:
        interval = (
            f"95 % bootstrap {result.q_o_ci95_e[0]:.4f} … {result.q_o_ci95_e[1]:.4f}" if not result.interval_note else "no interval"
        )
        stdout.print(
            f"q_O = {result.q_o_e:.4f} ± {result.q_o_stderr_e:.4f} e ({interval}), R² = {result.r2:.4f}, "
            f"RMSE = {result.rmse_e_per_A:.2e} e/Å → {out}", soft_wrap=True)
        few = (f": with so few frames the bootstrap interval is not meaningful (at least {_FEW_FRAMES} wanted)"
               if result.n_used < _FEW_FRAMES else "")
        stdout.print(f"{result.n_used} frame(s) used, {result.n_rejected} left out{few}", soft_wrap=True)
    raise typer.Exit(code=1 if failed else 0)


# fewer frames than this give a bootstrap of a handful of distinct resamples
_FEW_FRAMES = 5

_SELECT_HELP = (
    "Frames to run, among those --index picks (frame numbers count from 0 in the file): "
    "'all'; 'indices:0,5,9' (negative from the end); 'stride:N' (every N-th from the first); "
    "'dipole-extremes:N' (the N most negative and the N most positive μ_z); "
    "'dipole-quantiles:K' (the frames at the quantiles (k+½)/K of μ_z); "
    "'dipole-bins:K[:M]' (K equal-width μ_z bins, the M frames nearest each bin centre). "
    "μ_z is the fixed-charge total dipole per area (e/Å, --q-o)."
)


@app.command()
@_reflow
def generate(
    trajectory: Path = typer.Argument(..., metavar="FILE", help="MLIP trajectory, any format ASE reads (extxyz, ...)."),
    outdir: Path = typer.Argument(..., metavar="OUTDIR", help="Campaign folder to write: new, empty, or holding this same campaign."),
    code: Code = typer.Option(..., "--code", help="DFT program."),
    select: str = typer.Option("all", "--select", metavar="SELECTION", help=_SELECT_HELP),
    index: str = _FRAMES,
    field: float = _number(None, "--field", unit="V/Å", lo=-1, hi=1,
                           help="Also a run with a homogeneous field of this strength along +z: every frame a nofield/field pair."),
    d_cut: float = _D_CUT,
    q_o: float = _Q_O,
    min_vacuum: float = _number(10.0, "--min-vacuum", unit="Å", lo=0, hi=200, help="Narrowest vacuum gap along z accepted."),
    layer_width: float = _number(3.0, "--layer-width", unit="Å", lo=0.5, hi=20, help="Height of the water layer lists (z-resolved PDoS)."),
    xc: str = typer.Option("PBE", "--xc", metavar="NAME", help="Exchange-correlation functional (CP2K XC_FUNCTIONAL / FHI-aims xc)."),
    cutoff: float = _number(400.0, "--cutoff", unit="Ry", lo=50, hi=5000, help="CP2K: plane-wave cutoff."),
    rel_cutoff: float = _number(50.0, "--rel-cutoff", unit="Ry", lo=10, hi=1000, help="CP2K: REL_CUTOFF."),
    eps_scf: float = _number(1e-6, "--eps-scf", lo=1e-12, hi=1e-3, metavar="NUMBER", help="CP2K: EPS_SCF."),
    mixing: str = typer.Option("auto", "--mixing", metavar="METHOD", help="CP2K: SCF mixing method; auto: DIRECT_P_MIXING without metal (BROYDEN_MIXING aborted on some water frames with the dipole correction), BROYDEN_MIXING (α 0.1, β 1.5) with metal."),
    cube_stride: int = _number(2, "--cube-stride", lo=1, hi=10, metavar="N", help="CP2K: STRIDE of the V_HARTREE and density cubes."),
    project: str = typer.Option("frame", "--project", metavar="NAME", help="CP2K: project name (file names PROJECT.inp, PROJECT.out, ...)."),
    cp2k_version: str = typer.Option(None, "--cp2k-version", metavar="VERSION", help="CP2K: the release the inputs are for, e.g. 2023.1 or 2026.2 (2026.2 moved PDoS/LDOS under &PRINT%DOS); default: what cp2k.psmp --version reports, else the newest layout dftpost knows."),
    kind: list[str] = typer.Option([], "--kind", metavar="EL=BASIS,POTENTIAL", help="CP2K: EL=BASIS,POTENTIAL for one element (repeatable), e.g. Cu=DZVP-MOLOPT-SR-GTH,GTH-PBE-q11."),
    species_dir: Path = typer.Option(None, "--species-dir", metavar="DIR", help="FHI-aims: species defaults folder (…/defaults_2020 or …/defaults_2020/intermediate); default $AIMS_SPECIES_DIR."),
    basis: str = typer.Option("intermediate", "--basis", metavar="LEVEL", help="FHI-aims: species-default level (light, intermediate, tight, ...)."),
    k_grid: str = typer.Option(None, "--k-grid", metavar="N1,N2,N3", help="FHI-aims: k-grid N1,N2,N3 (default: 25 Å / cell length along x and y, 1 along z)."),
    smearing: float = _number(0.01, "--smearing", unit="eV", lo=0, hi=1, lo_open=True, help="FHI-aims: Gaussian occupation smearing."),
    dft_command: str = typer.Option(None, "--dft-command", metavar="COMMAND", help="How the job scripts start the program (default: cp2k.psmp / aims.x, in SLURM srun ...)."),
    ntasks: int = _number(32, "--ntasks", lo=1, hi=1_000_000, metavar="N", help="SLURM: MPI ranks per array task (one task per frame)."),
    time_limit: str = typer.Option("12:00:00", "--time", metavar="HH:MM:SS", help="SLURM: wall-time limit per task."),
    partition: str = typer.Option(None, "--partition", metavar="NAME", help="SLURM: partition."),
    account: str = typer.Option(None, "--account", metavar="NAME", help="SLURM: account."),
    wait: float = _number(600.0, "--wait", unit="s", lo=0, hi=86400, help="dftpost gap --wait in each task."),
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

    code = code.value
    _input_file(trajectory, "a trajectory file")
    try:
        selection = parse_selection(select)
    except DftpostError as exc:
        _usage(str(exc))
    kinds = []
    for item in kind:
        element, _, names = item.partition("=")
        parts = [p.strip() for p in names.split(",")]
        if not element.strip() or len(parts) != 2 or not all(parts):
            _usage(f"--kind takes EL=BASIS,POTENTIAL, not {item}")
        kinds.append((element.strip(), parts[0], parts[1]))
    grid = None
    if k_grid is not None:
        try:
            grid = tuple(int(k) for k in k_grid.split(","))
        except ValueError:
            grid = ()
        if len(grid) != 3 or min(grid) < 1:
            _usage(f"--k-grid takes three positive integers N1,N2,N3, not {k_grid}")
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
        _usage(str(exc))
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
        _print_json(data)
        return
    if campaign.existing:
        stdout.print(f"{campaign.directory} already holds this campaign: nothing written", soft_wrap=True)
        return
    table = _table("run directories", "frame", "μ_z (e/Å)", "why")
    for f in frames:
        table.add_row(" ".join(r["dir"] for r in f["runs"]), str(f["index"]), f"{f['dipole_e_per_A']:+.5f}", f["reason"])
    table.columns[3].justify = "left"
    _show(f"{len(frames)} frame(s) → {campaign.directory}", table)
    if code == "cp2k":
        stdout.print(cp2k_inputs.layout_note(cp2k_settings), soft_wrap=True)
    stdout.print(f"run: bash {campaign.directory / 'run_all.sh'}  or  sbatch {campaign.directory / 'submit.slurm'}", soft_wrap=True)


@app.command("plot")
@_reflow
def plot_command(
    items: list[str] = typer.Argument(
        ...,
        metavar="RESULTS.h5|WHICH",
        help=f"HDF5 results files and, in any order, figure names: {', '.join(FIGURES)}. "
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
    which = [item for item in items if item in FIGURES]
    files = [Path(item) for item in items if item not in FIGURES]
    if not files:
        _usage("give at least one results file (HDF5 written by dftpost)")
    for path in files:
        _input_file(path, "a results file (HDF5 written by dftpost)", f"no such file, nor a figure name ({', '.join(FIGURES)})")
    try:
        made = plot_results(files, which, out, fmt.value, run)
    except DftpostError as exc:
        _fail(exc)
    stdout.print(f"{len(made)} figure(s) from {', '.join(map(str, files))} → {out}", soft_wrap=True)
    for name, path in made:
        stdout.print(f"  {path.name:<28} {FIGURES[name].caption}", soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    app()
