"""The style of every dftpost figure and what the figures share: matplotlib rc parameters
(:data:`STYLE`), one colour per quantity (:data:`COLOURS`), new figures, saving by file suffix
(:func:`save_figure`), reading a row's columns, and the axes' common furniture. matplotlib is
imported when a figure is drawn, not with this module."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DftpostError, MissingInputError
from ..units import EPSILON0_E_PER_V_A

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with this module
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

#: matplotlib rc parameters of every dftpost figure (column-width figures; PNG at 300 dpi, print quality).
STYLE: dict = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "image.cmap": "Greys",
    "savefig.dpi": 300,
    "svg.hashsalt": "dftpost",  # reproducible SVG ids
}

#: One colour per quantity, the same in every figure. The lines drawn over shaded regions (ΔV and
#: Δρ over the fitted regions, μ_z(z) over its ± std band) keep a contrast ratio of at least 3
#: (WCAG, graphics) against the shade; lines that share an axes also differ in line style or
#: marker, for readers who do not tell their colours apart.
COLOURS: dict[str, str] = {
    "O": "C3",
    "H": "C0",
    "vbm": "C0",
    "cbm": "C3",
    "gap": "0.2",
    "dipole": "#1b7837",  # dark green: a contrast of 4 against the ± std band ("band") behind it
    "potential": "C4",
    "planar": "C0",
    "macroscopic": "C3",
    "charge": "k",
    "band": "#bfe3bf",
    "breakdown": "#f5dada",
    "breakdown_line": "C3",
    "histogram": "0.85",
    "metallized": "k",
    "fermi": "k",
}

# a shaded range's outline, so that it shows in the legend and its bounds in the plot
_BREAKDOWN_EDGE: dict[str, Any] = {"ec": "#d08a8a", "lw": 0.8}

FORMATS = ("png", "pdf", "svg")
"""File formats of the figures (the suffix of the path decides)."""
_METADATA = {"png": {"Software": "dftpost"}, "pdf": {"Creator": "dftpost", "CreationDate": None}, "svg": {"Date": None}}


def _styled(draw: Callable) -> Callable:
    """Run a ``draw_`` function under :data:`STYLE` (matplotlib reads rc parameters as artists are made)."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper


def _new_figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (4.8, 3.4), **subplots):
    """A Figure (not registered with pyplot: no GUI, nothing to close) and its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **subplots)


def _figure_and_axes(ax: Axes | None, size: tuple[float, float] = (4.8, 3.4)):
    """The figure to draw a one-panel figure in and its Axes: ``ax`` (the caller's) and the
    (sub)figure it is in, or a new figure of ``size`` (inches)."""
    return _new_figure(size=size) if ax is None else (ax.figure, ax)


def _panels(fig: Figure | SubFigure | None, nrows: int, ncols: int, size: tuple[float, float], **subplots):
    """The (sub)figure to draw a figure of several panels in and its axes: the panels laid out in
    ``fig`` (the caller's, which must be empty), or in a new figure of ``size`` (inches)."""
    if fig is None:
        return _new_figure(nrows, ncols, size, **subplots)
    if fig.axes:
        raise DftpostError(None, f"the figure to draw into has {len(fig.axes)} axes already: give an empty "
                                 "Figure or SubFigure (fig.subfigures(...)) to draw a figure of several panels")
    return fig, fig.subplots(nrows, ncols, **subplots)


def _root(fig: Figure | SubFigure) -> Figure:
    """The Figure a (sub)figure belongs to: what a ``draw_`` function returns, for :func:`save_figure`."""
    return fig.figure


def save_figure(fig: Figure, path: str | Path, dpi: float | None = None) -> Path:
    """Save ``fig`` to ``path`` in the format of its suffix (png, pdf, svg); return the path.

    ``dpi`` (raster resolution of png) defaults to ``STYLE["savefig.dpi"]``. Dates are left out
    of pdf and svg files so that the same results give the same file.
    """
    import matplotlib

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise DftpostError(path, f"unknown figure format {path.suffix or '(no suffix)'}: use .png, .pdf or .svg")
    try:
        with matplotlib.rc_context(STYLE):
            fig.savefig(path, format=fmt, dpi=dpi or STYLE["savefig.dpi"], metadata=_METADATA[fmt])
    except OSError as exc:
        raise DftpostError(path, f"cannot write the figure ({exc.strerror or exc})") from None
    return path


def draw_and_save(draw: Callable[..., Figure]) -> Callable[..., Path]:
    """``draw`` then :func:`save_figure`: ``draw_and_save(draw_parity)(row, path)`` draws the
    figure of ``row`` (keyword options go to ``draw``), saves it to ``path`` in the format of its
    suffix and returns the path."""

    def drawn_and_saved(data, path: str | Path, **options) -> Path:
        return save_figure(draw(data, **options), path)

    drawn_and_saved.__name__ = drawn_and_saved.__qualname__ = draw.__name__.removeprefix("draw_") + "_figure"
    drawn_and_saved.__doc__ = f":func:`{draw.__name__}` saved to ``path`` (png, pdf or svg by its suffix); returns the path."
    return drawn_and_saved


def _value(row: dict, key: str):
    """A column or array of a row; a row without it is an input error naming the run."""
    if key not in row:
        raise MissingInputError(row.get("run") or None, f"the row has no {key!r} (results written by an older dftpost?)")
    return row[key]


def _array(row: dict, key: str, dtype=float) -> np.ndarray:
    return np.asarray(_value(row, key), dtype=dtype)


def _run_label(run: str) -> str:
    """The last two parts of a run path (``water4_slab/field``, ``md/traj.extxyz``)."""
    if run.startswith("["):  # charge_fit: a JSON list of runs
        return f"{len(json.loads(run))} runs"
    return "/".join(Path(run).parts[-2:])


def _potential_axis(ax: Axes, which: str = "y", label: str = "μ/ε0 (V)") -> None:
    """A secondary axis showing a dipole per area (e/Å) as the potential step μ/ε0 (V)."""
    functions = (lambda m: m / EPSILON0_E_PER_V_A, lambda v: v * EPSILON0_E_PER_V_A)
    if which == "y":
        ax.secondary_yaxis("right", functions=functions).set_ylabel(label)
    else:
        ax.secondary_xaxis("top", functions=functions).set_xlabel(label)


def _integer_ticks(axis) -> None:
    """Integer ticks on an axis of counts."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _occupied_window(z: np.ndarray, density: np.ndarray, pad_A: float = 3.0) -> tuple[float, float]:
    """The z range where the density is non-zero, padded; the whole range if it is zero everywhere."""
    occupied = np.flatnonzero(density > 0)
    if occupied.size == 0:
        return float(z[0]), float(z[-1])
    return max(float(z[0]), float(z[occupied[0]]) - pad_A), min(float(z[-1]), float(z[occupied[-1]]) + pad_A)

