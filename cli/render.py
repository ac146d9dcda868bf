"""Everything the command line prints: messages on stderr with their exit codes, strict JSON,
tables and numbers on stdout.

Messages and tables are plain text: no markup, no emoji codes (``dipole-extremes:100``), no
highlighting, one line per message however narrow the terminal.
"""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path
from typing import NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dftpost.errors import DftpostError

err = Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)
stdout = Console(markup=False, emoji=False, highlight=False)


# ----------------------------------------------------------------------------- messages, exit codes
def say(label: str, text: str, style: str = "") -> None:
    """One line on stderr: a styled label and the text as it is (no markup, no emoji)."""
    err.print(Text.assemble((label, style), " ", text) if label else Text(text))


def fail(error: Exception) -> NoReturn:
    """Bad or missing input: the error in one line, exit 1."""
    say("error:", str(error), "bold red")
    raise typer.Exit(code=1)


def usage(message: str) -> NoReturn:
    """A usage error found after parsing (values that only make sense together): exit 2."""
    say("usage error:", message, "bold red")
    raise typer.Exit(code=2)


def interrupted(exc: KeyboardInterrupt, what: str) -> NoReturn:
    """One line on stderr, exit 130 after Ctrl-C (SIGINT), 143 after SIGTERM (a batch system
    ending the job, ``kill``), as shells report those signals."""
    terminated = getattr(exc, "signum", signal.SIGINT) == signal.SIGTERM
    say("terminated:" if terminated else "interrupted:", what)
    raise typer.Exit(code=143 if terminated else 130)


def input_file(path: Path, what: str, missing: str = "no such file") -> None:
    """Anything but a readable regular file where ``what`` is expected is bad input (exit 1),
    checked before any work and said in its own words (:func:`dftpost.io.files.regular_file`):
    missing, a symbolic-link loop or a link to nothing, a directory, a FIFO, a device, a socket,
    no permission to read."""
    from dftpost.io.files import regular_file

    try:
        regular_file(path)
    except DftpostError as exc:
        fail(DftpostError(path, missing) if exc.problem == "no such file" else exc)
    if not os.access(path, os.R_OK):
        fail(DftpostError(path, f"permission denied: cannot read {what}"))


# ----------------------------------------------------------------------------- JSON
def strict_json(value):
    """NaN and infinities → null, numpy scalars and arrays → Python, recursively."""
    import numpy as np  # loaded already: the numbers come from an analysis or the store
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return strict_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(data, indent: int | None = None) -> None:
    """Print one strict JSON value (never NaN or Infinity) and flush (a pipe gets it at once)."""
    print(json.dumps(strict_json(data), ensure_ascii=False, allow_nan=False, indent=indent), flush=True)


# ----------------------------------------------------------------------------- tables, numbers
def table(*columns: str) -> Table:
    """A table that reads the same on a terminal and in a job log: a rule under the header, no
    vertical lines; numbers right-aligned, the first column never cut (folded when too long)."""
    made = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for i, name in enumerate(columns):
        if i == 0:
            made.add_column(name, overflow="fold")
        else:
            made.add_column(name, justify="right", no_wrap=True)
    return made


def show(title: str, rows: Table, note: str | None = None) -> None:
    """The title on a line of its own (never wrapped into the table's width), the table, a note."""
    stdout.print(title, soft_wrap=True)
    stdout.print(rows)
    if note:
        stdout.print(note, soft_wrap=True)


def run_names(runs: list[str]) -> tuple[str, list[str]]:
    """The common parent folder of ``runs`` and each run's path relative to it: the shortest
    names that tell the runs apart (one run: its folder name)."""
    if not runs:
        return "", []
    paths = [Path(r) for r in runs]
    parent = Path(os.path.commonpath(paths)) if len(set(paths)) > 1 else paths[0].parent
    if parent in paths:  # a run holding other runs
        parent = parent.parent
    return str(parent), [os.path.relpath(p, parent) for p in paths]


def number_text(x, percent: bool = False) -> str:
    """Four significant digits; integers as integers; yes/no; — for a missing number."""
    import numpy as np  # loaded already: the numbers come from an analysis or the store
    if isinstance(x, np.generic):
        x = x.item()
    if x is None or isinstance(x, float) and not math.isfinite(x):
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if percent:
        return f"{x:.1%}"
    if isinstance(x, int) or float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.4g}"


# Rows of the summary tables: JSON key → (label, unit); a fraction prints as a percentage.
QUANTITIES = {
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


def print_quantities(title: str, data: dict, quantities: dict[str, tuple[str, str]] | None = None) -> None:
    """The keys of ``data`` listed in :data:`QUANTITIES` or ``quantities`` (key → (label, unit),
    a command's own) as a table of labelled values with units."""
    labels = {**QUANTITIES, **(quantities or {})}
    rows = table("quantity", "value")
    label_column, value_column = rows.columns
    label_column.no_wrap, label_column.min_width = True, max((len(labels[k][0]) for k in data if k in labels), default=0)
    value_column.justify, value_column.no_wrap = "left", False  # long values wrap, labels never
    for key, value in data.items():
        if key not in labels:
            continue
        label, unit = labels[key]
        percent = key.endswith("_fraction")
        if isinstance(value, dict):
            text = ", ".join(f"{k} {number_text(v)}" for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            text = ", ".join(number_text(v) for v in value)
        elif isinstance(value, str) or value is None:
            text = value or "—"
        else:
            text = number_text(value, percent)
        rows.add_row(label, f"{text} {unit}" if unit and text != "—" else text)
    show(title, rows)
