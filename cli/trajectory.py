"""What the trajectory commands (``dipole``, ``potential``, ``density``) share: a frame counter while the
analysis runs, its row stored once (as ``field-profile`` stores its own), and the summary printed
as JSON or a table."""

from __future__ import annotations

from pathlib import Path

from dftpost.errors import DftpostError

from .render import err, fail, interrupted, number_text, print_json, print_quantities, say


def analyse_and_store(label: str, make, out: Path, as_json: bool, workers: int, scheduler: str | None):
    """Run the frame analysis ``make(on_frames)`` on the backend of ``workers`` and ``scheduler``
    with a frame counter on a terminal, store its row in ``out`` once
    (:meth:`dftpost.store.ResultStore.append_once`: an identical analysis is not stored again);
    a one-line error (exit 1) for bad input, exit 130/143 on Ctrl-C/SIGTERM (nothing stored).
    Returns the analysis, run."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from dftpost.backends import backend_for, stop_on_signals

    progress = Progress(
        TextColumn(label), SpinnerColumn(), TextColumn("{task.completed} frames"), TimeElapsedColumn(),
        console=err, disable=as_json or not err.is_terminal,
    )
    task = progress.add_task(label, total=None)
    try:
        backend = backend_for(workers, scheduler)  # a wrong scheduler fails before any work
        with stop_on_signals(), progress:
            analysis = make(lambda n: progress.advance(task, n)).run(backend)
        store_once(out, analysis.schema, analysis.to_row())
    except KeyboardInterrupt as exc:
        interrupted(exc, "nothing stored; run the same command again")
    except DftpostError as exc:
        fail(exc)
    return analysis


def store_once(out: Path, schema, row: dict) -> None:
    """Store ``row`` in ``out`` unless a row of the same inputs and parameters is there; say so then."""
    from dftpost.store import ResultStore

    with ResultStore(out) as store:
        if not store.append_once(schema, row):
            say("", f"already stored in {out} (same inputs and parameters): not stored again")


def print_trajectory_summary(summary: dict, out: Path, as_json: bool) -> None:
    """The analysis's ``--json`` object ``summary``, or a table of its quantities (see
    :data:`render.QUANTITIES`)."""
    if as_json:
        print_json(summary)
        return
    data = dict(summary)
    units = data.get("acf_integrated_time_units")
    if units is not None:
        data["acf_integrated_time"] = f"{number_text(data['acf_integrated_time'])} {units}" + (
            f" ({number_text(data['acf_integrated_time_frames'])} frames)"
            if units != "frames" and "acf_integrated_time_frames" in data else "")
    print_quantities(f"{summary['trajectory']} → {out}", data)
