"""Options several commands share, declared once (the same flags, wording and range everywhere),
the choices as Enums, and the checks that make a bad value a usage error (exit 2) before any work.

Light on purpose: building the command line (``dftpost --help``) imports this module and typer
only. The analyses' defaults come from :mod:`dftpost.defaults`, which the analyses read too (and
which imports nothing); the figure names are written here (importing the registry would load
matplotlib) and tests/test_cli_interface.py checks them against it.
"""

from __future__ import annotations

import math
from enum import Enum
from inspect import cleandoc
from pathlib import Path

import typer

from dftpost import defaults

# ------------------------------------------------------------- the analyses' defaults, as shown
Q_O_E, R_OH_A, MAX_DIPOLE_E_PER_A = defaults.Q_O_E, defaults.R_OH_A, defaults.MAX_DIPOLE_E_PER_A
SIGMA_A, TOLERANCE_V = defaults.SIGMA_A, defaults.TOLERANCE_V
BAND_EDGES = {"d_cut_A": defaults.D_CUT_A, "threshold": defaults.THRESHOLD, "threshold_mode": defaults.THRESHOLD_MODE,
              "start_offset_eV": defaults.START_OFFSET_EV, "separation_eV": defaults.SEPARATION_EV,
              "sigma_eV": defaults.DOS_SIGMA_EV}
#: the names of dftpost.plot.FIGURES, in its order, and dftpost.plot.FORMATS
FIGURE_NAMES = ("density", "dipole-profile", "dipole-distribution", "pdos-map", "field-response", "band-edges",
                "sigma-vs-thickness", "potential-vs-cell", "acf", "census", "parity")
FIGURE_FORMATS = ("png", "pdf", "svg")


# ----------------------------------------------------------------------------- choices
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


class FigureFormat(str, Enum):
    png = "png"
    pdf = "pdf"
    svg = "svg"


# ----------------------------------------------------------------------------- checked options
def range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool, unit: str) -> str:
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


def number(default, *flags: str, help: str, unit: str = "", lo: float | None = None, hi: float | None = None,
           lo_open: bool = False, hi_open: bool = False, metavar: str | None = None):
    """An option taking one finite number within [lo, hi] (``lo_open``/``hi_open``: the bound
    itself excluded). NaN, infinities and values out of range are usage errors (exit 2), found
    while the command line is parsed, before any work. The help ends with the range."""
    allowed = range_text(lo, hi, lo_open, hi_open, unit)

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
    from dftpost.errors import DftpostError
    from dftpost.io.trajectory import parse_index

    try:
        parse_index(value)
    except DftpostError as exc:
        raise typer.BadParameter(exc.problem) from None
    return value


def _check_figure_file(value: Path | None) -> Path | None:
    """--plot names a figure file by its suffix (a usage error before any work otherwise)."""
    if value is not None and (value.suffix.lower().lstrip(".") not in FIGURE_FORMATS or value.is_dir()):
        raise typer.BadParameter(f"{value} is not a figure file: name one ending in .png, .pdf or .svg")
    return value


def plot_option(what: str):
    """--plot FILE: draw ``what`` to a .png, .pdf or .svg file."""
    return typer.Option(None, "--plot", metavar="FILE.png|.pdf|.svg", callback=_check_figure_file, help=f"Draw {what} to this file.")


def trajectory_argument(help: str | None = None):
    """FILE: the trajectory a trajectory command reads (``help``: which, when not any)."""
    return typer.Argument(..., metavar="FILE", help=help or "An MLIP trajectory any ASE reader reads (extxyz, ...).")


OUT = typer.Option(Path("results.h5"), "--out", "-o", metavar="FILE", help="HDF5 results file (created, or appended to).")
JSON = typer.Option(False, "--json", help="Print JSON (strict: a missing number is null) instead of a table.")
FRAMES = typer.Option(None, "--index", metavar="START:STOP:STEP", callback=_check_index,
                      help="Frames to read, as a Python slice of the frames in the file (default: all).")
TIMESTEP = number(None, "--timestep-ps", unit="ps", lo=0, hi=1e4, lo_open=True,
                  help="Time between consecutive frames of the file (default: each frame's time_ps or time_fs, if any).")
WORKERS = number(None, "--workers", "-w", "-j", lo=1, metavar="N", help="Worker processes (default: the cores available).")
SCHEDULER = typer.Option(
    None, "--scheduler", metavar="local|URL|FILE",
    help="Run on Dask instead of local processes: 'local' (a Dask cluster of --workers processes on this machine), "
    "the address of a running scheduler, or a cluster file (YAML, e.g. a dask-jobqueue SLURMCluster; see the README). "
    "Needs dftpost\\[dask].",
)
Q_O = number(Q_O_E, "--q-o", unit="e", lo=-2, hi=0, hi_open=True, help="Oxygen charge of the fixed-charge dipole (q_H = −q_O/2).")
GAP = number(4.45, "--gap", unit="eV", lo=0, hi=20, lo_open=True, help="Band gap the potential step of a frame is compared with.")
D_CUT = number(BAND_EDGES["d_cut_A"], "--d-cut", unit="Å", lo=0, hi=50,
               help="Water atoms are those more than this above the top metal atom (all of them without metal).")
#: The options trajectory analyses share (see :class:`dftpost.analyses.frames.TrajectoryCommand`), by the
#: keyword argument of the analysis they set: the command's parameter, its type, the option.
TRAJECTORY_OPTIONS = {
    "index": ("index", str, FRAMES),
    "q_o": ("q_o", float, Q_O),
    "gap_eV": ("gap_ev", float, GAP),
    "timestep_ps": ("timestep_ps", float, TIMESTEP),
}
WAIT = number(0.0, "--wait", unit="s", lo=0, hi=86400, help="How long to wait for another writer of --out to finish (jobs ending together).")


def workers_or_all(workers: int | None) -> int:
    """--workers, or every core available to this process when it is not given."""
    from dftpost.backends import default_workers

    return workers or default_workers()


def reflow(command):
    """Join the lines of each paragraph of a command's docstring, so that the help wraps them at
    the terminal's width (typer keeps single line breaks); paragraphs with indented lines
    (examples) stay as written."""
    paragraphs = cleandoc(command.__doc__ or "").split("\n\n")
    command.__doc__ = "\n\n".join(
        p if any(line.startswith(" ") for line in p.splitlines()) else " ".join(p.split()) for p in paragraphs
    )
    return command
