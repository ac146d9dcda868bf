"""What the trajectory commands (``dipole``, ``potential``) share: a frame counter while the
analysis runs, its row stored once (as ``field-profile`` stores its own), and the summary printed
as JSON or a table."""

from __future__ import annotations

import math
from pathlib import Path

from dftpost.errors import DftpostError

from .render import err, fail, interrupted, number_text, print_json, print_quantities, say


def analyse_and_store(label: str, schema, out: Path, as_json: bool, analyse):
    """Run ``analyse(on_frames)`` with a frame counter on a terminal, store its row in ``out``
    once (:meth:`dftpost.store.ResultStore.append_once`: an identical analysis is not stored
    again); a one-line error (exit 1) for bad input, exit 130/143 on Ctrl-C/SIGTERM (nothing
    stored). Returns the result and the row."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from dftpost.parallel import stop_on_signals

    progress = Progress(
        TextColumn(label), SpinnerColumn(), TextColumn("{task.completed} frames"), TimeElapsedColumn(),
        console=err, disable=as_json or not err.is_terminal,
    )
    task = progress.add_task(label, total=None)
    try:
        with stop_on_signals(), progress:
            result, row = analyse(lambda n: progress.advance(task, n))
        store_once(out, schema, row)
    except KeyboardInterrupt as exc:
        interrupted(exc, "nothing stored; run the same command again")
    except DftpostError as exc:
        fail(exc)
    return result, row


def store_once(out: Path, schema, row: dict) -> None:
    """Store ``row`` in ``out`` unless a row of the same inputs and parameters is there; say so then."""
    from dftpost.store import ResultStore

    with ResultStore(out) as store:
        if not store.append_once(schema, row):
            say("", f"already stored in {out} (same inputs and parameters): not stored again")


def trajectory_summary(row: dict, out: Path) -> dict:
    """The keys every trajectory summary starts with."""
    return {"trajectory": row["run"], "out": str(out), "n_frames": row["n_frames"], "index": row["index"]}


def correlation_time(row: dict) -> dict:
    """The integrated correlation time in ps when the frames had times, else in frames."""
    in_frames = not math.isfinite(row["acf_integrated_time_ps"])
    return {
        "acf_integrated_time": row["acf_integrated_time_frames"] if in_frames else row["acf_integrated_time_ps"],
        "acf_integrated_time_units": "frames" if in_frames else "ps",
    }


def print_trajectory_summary(summary: dict, row: dict, out: Path, as_json: bool) -> None:
    """One JSON object, or a table of the summary's quantities (see :data:`render.QUANTITIES`)."""
    if as_json:
        print_json(summary)
        return
    data = dict(summary)
    units = data["acf_integrated_time_units"]
    data["acf_integrated_time"] = f"{number_text(data['acf_integrated_time'])} {units}" + (
        f" ({number_text(data['acf_integrated_time_frames'])} frames)" if units != "frames" and "acf_integrated_time_frames" in data else "")
    print_quantities(f"{row['run']} → {out}", data)
