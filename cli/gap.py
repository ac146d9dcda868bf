"""``dftpost gap``: water band edges and false metallization of many runs, stored in HDF5."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.text import Text

from dftpost.errors import DftpostError

from .options import (
    BAND_EDGES,
    D_CUT,
    OUT,
    Q_O,
    SCHEDULER,
    WAIT,
    WORKERS,
    ThresholdMode,
    number,
    reflow,
    workers_or_all,
)
from .render import err, fail, interrupted, print_json, run_names, say, show, stdout, table, usage


@reflow
def gap(
    paths: list[Path] = typer.Argument(..., metavar="PATH", help="Run directories, or parents holding many (searched recursively)."),
    out: Path = OUT,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per run per line (strict JSON: a missing number is null)."),
    workers: int = WORKERS,
    d_cut: float = D_CUT,
    threshold: float = number(BAND_EDGES["threshold"], "--threshold", lo=0, hi=100, lo_open=True, metavar="T",
                              help="PDoS threshold T of a band edge, in the units --threshold-mode gives."),
    threshold_mode: ThresholdMode = typer.Option(
        ThresholdMode(BAND_EDGES["threshold_mode"]), "--threshold-mode",
        help="per_atom: T states/eV per water atom; absolute: T states/eV; relative: T × the maximum of the water PDoS."),
    start_offset: float = number(BAND_EDGES["start_offset_eV"], "--start-offset", unit="eV", lo=0, hi=10,
                                 help="s: the first scan starts this far beyond the reference level."),
    separation: float = number(BAND_EDGES["separation_eV"], "--separation", unit="eV", lo=0, hi=10, lo_open=True,
                               help="δ: the second scan starts this far from the first edge."),
    sigma: float = number(BAND_EDGES["sigma_eV"], "--sigma", unit="eV", lo=0.02, hi=1.0,
                          help="Gaussian broadening of the eigenvalues (CP2K), on a 0.02 eV grid; wider hides the gap."),
    q_o: float = Q_O,
    dipole: float = number(None, "--dipole", unit="e/Å", lo=-1, hi=1, help="Use this total dipole per area instead of the fixed-charge one."),
    force: bool = typer.Option(False, "--force", help="Analyse runs already stored with the same inputs again."),
    wait: float = WAIT,
    scheduler: str = SCHEDULER,
) -> None:
    """Water band edges and false metallization of FHI-aims and CP2K runs, stored in HDF5.

    Energies are eV relative to the Fermi level the program printed; the dipole is e/Å. Exit
    status 0 when every run succeeded, 1 when some failed (the others are stored; a failure
    stored before with the same inputs counts too), 2 on usage errors, 130 after Ctrl-C and 143
    after SIGTERM (the runs finished are stored; run the same command again for the rest).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from dftpost.analyses import GapAnalysis
    from dftpost.analysis.bandedges import BandEdgeParameters
    from dftpost.backends import backend_for, stop_on_signals

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
        usage(str(exc))
    failed = stored = n_stored_before = 0
    progress = Progress(
        TextColumn("gap"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, disable=as_json or not err.is_terminal
    )
    task = None

    def started(n_todo: int, n_skipped: int) -> None:
        nonlocal task, n_stored_before
        n_stored_before = n_skipped
        if n_skipped:
            say("", f"{n_skipped} run(s) already stored in {out} with the same inputs: not analysed again (--force redoes them)")
        task = progress.add_task("gap", total=n_todo)

    def finished(row: dict) -> None:
        nonlocal failed, stored
        stored += 1
        if row["status"] != "ok":
            failed += 1
        if as_json:
            print_json({**GapAnalysis.run_json(row), "stored": False})
        elif row["status"] != "ok":
            say("failed:", row["error"], "red")
        if task is not None:
            progress.advance(task)

    try:
        backend = backend_for(workers_or_all(workers), scheduler)  # a wrong scheduler fails before any work
        with stop_on_signals(), progress:
            rows = GapAnalysis(paths, params, dipole, out, force, finished, started, wait).run(backend).to_rows()
    except DftpostError as exc:
        fail(exc)
    except KeyboardInterrupt as exc:
        interrupted(exc, f"{stored} run(s) stored in {out}; run the same command again to analyse the rest")
    before = _stored_before(paths, out, {row["run"] for row in rows}) if n_stored_before else []
    if as_json:
        for row in before:
            print_json({**GapAnalysis.run_json(row), "stored": True})
    elif rows or before:
        _print_gap_table(rows, before, out)
    failed += sum(row["status"] != "ok" for row in before)  # stored failures are not silent on a re-run
    raise typer.Exit(code=1 if failed else 0)


def _stored_before(paths: list[Path], out: Path, analysed: set[str]) -> list[dict]:
    """The newest stored row of every run below ``paths`` not analysed now: the batch left
    those out because they are stored with the same inputs."""
    from dftpost.analyses.gap import GAP_SCHEMA, SPIN_EDGES
    from dftpost.io.rundir import find_run_dirs
    from dftpost.store import latest_rows

    try:
        runs = [str(r) for r in find_run_dirs(paths)]
        wanted = [run for run in runs if run not in analysed]
        return list(latest_rows(out, GAP_SCHEMA.name, wanted, arrays=SPIN_EDGES).values())
    except DftpostError as exc:
        fail(exc)


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
    parent, names = run_names([row["run"] for row in all_rows])
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
            Text("yes" + ("†" if _on_tails(row) else ""), style="bold red") if ok and row.get("metallized") == 1
            else ("no" if ok else "—"),
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
    shown = table(*header)
    for c in cells:
        shown.add_row(*c)
    title = "water band edges (eV vs E_F" + ("; VBM−E_vac against the vacuum level on the side named" if vacuum and not dropped else "")
    note = "VBM−E_vac (vacuum scale) left out to fit the terminal: see --json" if dropped else None
    if any(_on_tails(row) for row in all_rows):
        note = "\n".join(filter(None, ["† the edge reached E_F on the substrate's tails, the water's own states lie apart "
                                        "(verdict_basis in --json; the local edges)", note]))
    if before:
        note = "\n".join(filter(None, ["* stored before with the same inputs (--force analyses them again)", note]))
    show(f"{title}) of the runs in {parent} → {out}", shown, note)


def _on_tails(row: dict) -> bool:
    """A metallized verdict that the substrate's tails set (the band-edge analysis's caution)."""
    return row.get("status") == "ok" and "substrate's tails" in (row.get("verdict_basis") or "")
