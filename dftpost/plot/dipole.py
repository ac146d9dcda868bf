"""Figures of the ``dipole`` table (and the ``potential`` table's autocorrelation): water
densities, the cumulative dipole and its distribution (paper Fig. 1), the species census
(Fig. S3), σ of the dipole against the water thickness (Fig. 3a), autocorrelations (Fig. 3d, S4)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..analysis.dipole import CENSUS_SPECIES
from ..errors import MissingInputError
from ..units import EPSILON0_E_PER_V_A
from .style import (
    _BREAKDOWN_EDGE,
    COLOURS,
    _array,
    _figure_and_axes,
    _integer_ticks,
    _occupied_window,
    _panels,
    _potential_axis,
    _root,
    _run_label,
    _styled,
    _value,
)

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with this module
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

_SPECIES_LABELS = {"O": "O (no H)", "OH": "OH⁻", "H2O": "H₂O", "H3O": "H₃O⁺", "free_H": "free H"}
_SPECIES_STYLES = {"O": ":", "OH": "-", "H2O": "-", "H3O": "--", "free_H": "-."}


@_styled
def draw_density(row: dict, *, ax: Axes | None = None) -> Figure:
    """O and H number densities (1/Å³) against the height above the origin (Å) (paper Fig. 1a).

    ``row``: a ``dipole`` row with ``z``, ``o_density`` and ``h_density``. The x range is cut to
    the occupied heights (3 Å margin); the lines hold the whole profile.

    ``ax``: the Axes to draw into (default: a new figure); returns the Figure it is in.
    """
    z, o, h = _array(row, "z"), _array(row, "o_density"), _array(row, "h_density")
    fig, ax = _figure_and_axes(ax)
    ax.plot(z, o, color=COLOURS["O"], label="O")
    ax.plot(z, h, color=COLOURS["H"], label="H")
    ax.set_xlim(*_occupied_window(z, o + h))
    ax.set_xlabel("z above the origin (Å)")
    ax.set_ylabel("number density (1/Å³)")
    ax.set_title(f"{_run_label(row['run'])}: {row['n_frames']} frames")
    ax.legend()
    return _root(fig)


@_styled
def draw_dipole_profile(row: dict, *, ax: Axes | None = None) -> Figure:
    """Mean cumulative dipole per area μ_z(z) (e/Å) with a ± one standard deviation band over
    frames, and the potential step it makes (V, right axis) (paper Fig. 1b).

    ``row``: a ``dipole`` row with ``z``, ``mean_cumulative_dipole``, ``std_cumulative_dipole``
    (and ``o_density``/``h_density`` to cut the x range to the water).

    ``ax``: the Axes to draw into (default: a new figure); returns the Figure it is in.
    """
    z = _array(row, "z")
    mean, std = _array(row, "mean_cumulative_dipole"), _array(row, "std_cumulative_dipole")
    fig, ax = _figure_and_axes(ax)
    ax.fill_between(z, mean - std, mean + std, color=COLOURS["band"], lw=0, label="± std over frames")
    ax.plot(z, mean, color=COLOURS["dipole"], label="mean")
    ax.axhline(0.0, color="k", lw=0.5)
    if "o_density" in row and "h_density" in row:
        ax.set_xlim(*_occupied_window(z, _array(row, "o_density") + _array(row, "h_density")))
    ax.set_xlabel("z above the origin (Å)")
    ax.set_ylabel("cumulative dipole μ_z(z) (e/Å)")
    _potential_axis(ax, "y", "μ_z(z)/ε0 (V)")
    ax.set_title(f"{_run_label(row['run'])}: {row['n_frames']} frames, q_O = {row['q_o_e']:.4g} e")
    ax.legend()
    return _root(fig)


@_styled
def draw_dipole_distribution(row: dict, *, ax: Axes | None = None) -> Figure:
    """Histogram of the total dipole per area (e/Å; top axis: ΔV = μ/ε0 in V) over frames, with
    the breakdown region |μ|/ε0 > gap shaded (paper Fig. 1c).

    ``row``: a ``dipole`` row with ``histogram_counts``, ``histogram_edges`` and ``gap_eV``.

    ``ax``: the Axes to draw into (default: a new figure); returns the Figure it is in.
    """
    counts, edges = _array(row, "histogram_counts"), _array(row, "histogram_edges")
    gap = float(_value(row, "gap_eV"))
    threshold = gap * EPSILON0_E_PER_V_A  # |μ| (e/Å) whose potential step equals the gap
    fig, ax = _figure_and_axes(ax)
    ax.stairs(counts, edges, fill=True, color=COLOURS["dipole"], alpha=0.8, label=f"{int(counts.sum())} frames")
    low, high = min(edges[0], -1.15 * threshold), max(edges[-1], 1.15 * threshold)
    ax.axvspan(low, -threshold, fc=COLOURS["breakdown"], **_BREAKDOWN_EDGE, zorder=0, label=f"|μ_z|/ε0 > E_gap/e = {gap:g} V")
    ax.axvspan(threshold, high, fc=COLOURS["breakdown"], **_BREAKDOWN_EDGE, zorder=0)
    ax.set_xlim(low, high)
    ax.set_xlabel("total dipole μ_z (e/Å)")
    ax.set_ylabel("frames (count)")
    _integer_ticks(ax.yaxis)
    _potential_axis(ax, "x", "ΔV = μ_z/ε0 (V)")
    fraction = row.get("breakdown_fraction", float("nan"))
    ax.set_title(f"{_run_label(row['run'])}: breakdown fraction {fraction:.3g}")
    ax.legend(loc="upper left")
    return _root(fig)


def _frame_times_ps(row: dict) -> np.ndarray | None:
    """The times (ps) of a row's frames when every one is known, else None."""
    times = np.asarray(row.get("time_ps", []), dtype=float)
    frames = np.asarray(row.get("frame_index", []))
    if times.size == 0 or times.size != frames.size or not np.all(np.isfinite(times)):
        return None
    return times


@_styled
def draw_census(row: dict, *, fig: Figure | SubFigure | None = None) -> Figure:
    """Species per frame (count): H2O above; O, OH, H3O and free H below (paper Fig. S3),
    against the time (ps) when the trajectory has times, else the frame number.

    ``row``: a ``dipole`` row with ``census`` (frames × :data:`~dftpost.analysis.dipole.CENSUS_SPECIES`)
    and ``frame_index`` (``time_ps`` optional). Each line's gid is its species name.

    ``fig``: an empty Figure or SubFigure to lay the panels out in (default: a new figure); returns the Figure it is in.
    """
    census = _array(row, "census", int).reshape(-1, len(CENSUS_SPECIES))
    times = _frame_times_ps(row)
    x, xlabel = (times, "time (ps)") if times is not None else (_array(row, "frame_index", int), "frame")
    fig, (ax_water, ax_ions) = _panels(fig, 2, 1, (4.8, 4.2), sharex=True, height_ratios=(1, 1.4))
    for k, species in enumerate(CENSUS_SPECIES):
        ax = ax_water if species == "H2O" else ax_ions
        never = not census[:, k].any()  # lines at zero lie on each other: the legend says which
        label = _SPECIES_LABELS[species] + (": 0 in every frame" if never else "")
        (line,) = ax.plot(x, census[:, k], drawstyle="steps-mid", ls=_SPECIES_STYLES[species], label=label)
        line.set_gid(species)
    for ax in (ax_water, ax_ions):
        _integer_ticks(ax.yaxis)
        low, high = ax.get_ylim()
        if high - low < 2:  # a constant count: whole numbers around it, not ±0.05
            middle = round((low + high) / 2)
            ax.set_ylim(max(middle - 1.5, -0.5), middle + 1.5)  # counts are never negative
    ax_water.set_ylabel("H₂O (count)")
    ax_ions.set_ylabel("per frame (count)")
    ax_ions.set_xlabel(xlabel)
    ax_ions.legend(ncols=2 if census[:, [k for k, s in enumerate(CENSUS_SPECIES) if s != "H2O"]].any() else 1, fontsize=8)
    ax_water.set_title(f"{_run_label(row['run'])}\nspecies census (r_OH = {row.get('r_oh_A', float('nan')):g} Å)", fontsize=9)
    return _root(fig)


@_styled
def draw_sigma_vs_thickness(rows: Sequence[dict], *, ax: Axes | None = None) -> Figure:
    """Standard deviation of the total dipole per area over frames (e/Å; right axis σ/ε0 in V)
    against the water slab's thickness (Å), one point per trajectory (paper Fig. 3a).

    ``rows``: ``dipole`` rows with ``water_thickness_A`` and ``std_total_dipole_e_per_A``; the
    points are drawn in order of thickness.

    ``ax``: the Axes to draw into (default: a new figure); returns the Figure it is in.
    """
    if not rows:
        raise MissingInputError(None, "no dipole rows to draw")
    thickness = np.array([_value(r, "water_thickness_A") for r in rows], float)
    sigma = np.array([_value(r, "std_total_dipole_e_per_A") for r in rows], float)
    order = np.argsort(thickness, kind="stable")
    fig, ax = _figure_and_axes(ax)
    ax.plot(thickness[order], sigma[order], "o-", color=COLOURS["dipole"])
    middle = 0.5 * (thickness.min() + thickness.max()), 0.5 * (sigma.min() + sigma.max())
    for i in order:  # labels towards the middle, so that none runs off the axes
        right, up = thickness[i] > middle[0], sigma[i] > middle[1]
        ax.annotate(_run_label(rows[i]["run"]), (thickness[i], sigma[i]), textcoords="offset points",
                    xytext=(-4 if right else 4, -4 if up else 4), ha="right" if right else "left",
                    va="top" if up else "bottom", fontsize=7)
    ax.set_xlabel("water thickness (Å)")
    ax.set_ylabel("σ of the total dipole μ_z (e/Å)")
    _potential_axis(ax, "y", "σ/ε0 (V)")
    ax.set_title(f"{len(rows)} trajector{'y' if len(rows) == 1 else 'ies'}")
    return _root(fig)


def _lag_step(row: dict, times_of: dict[str, tuple[np.ndarray, np.ndarray]]) -> float | None:
    """ps per lag of a row's autocorrelation: the time per frame of the trajectory (from the row's
    own ``time_ps``, else from another row of the same trajectory with times) times the stride of
    the analysed frames; None if unknown."""
    frames = np.asarray(row.get("frame_index", []), float)
    own = _frame_times_ps(row)
    if own is not None:
        source_frames, times = frames, own
    elif row["run"] in times_of:
        source_frames, times = times_of[row["run"]]
    else:
        return None
    if frames.size < 2 or source_frames.size < 2:
        return None
    ps_per_frame = float(np.median(np.diff(times) / np.diff(source_frames)))
    step = ps_per_frame * float(np.median(np.diff(frames)))
    return step if math.isfinite(step) and step > 0 else None


@_styled
def draw_acf(dipole_rows: Sequence[dict] = (), potential_rows: Sequence[dict] = (), *, ax: Axes | None = None) -> Figure:
    """Autocorrelation C(τ) (dimensionless) of the total dipole (solid) and of the potential
    difference ΔV (dashed) of each trajectory, against the lag in ps when the frames of every
    curve have times (``time_ps`` of the row, or of another row of the same trajectory), else in
    analysed frames (paper Fig. 3d, S4).

    ``dipole_rows``, ``potential_rows``: ``dipole`` and ``potential`` rows with ``acf`` and
    ``frame_index`` (``time_ps`` optional). Each curve is drawn over the lags that carry
    information: up to ten integrated correlation times (at least 10 lags), at most a quarter of
    its series (beyond, few pairs of frames enter each lag). Its integrated time τ_int is a dotted
    vertical line; the grey band ±2/√N is the noise of an uncorrelated series of the same length.
    With more than two curves the legend stands beside the axes (a 6.8 inch wide figure).

    ``ax``: the Axes to draw into (default: a new figure); returns the Figure it is in.
    """
    if not dipole_rows and not potential_rows:
        raise MissingInputError(None, "no dipole or potential rows to draw")
    times_of = {}
    for r in (*dipole_rows, *potential_rows):
        if (times := _frame_times_ps(r)) is not None:
            times_of[r["run"]] = (np.asarray(r["frame_index"], float), times)
    curves = [(r, "μ_z", "-", COLOURS["dipole"]) for r in dipole_rows]
    curves += [(r, "ΔV", "--", COLOURS["potential"]) for r in potential_rows]
    steps = [_lag_step(r, times_of) for r, *_ in curves]
    in_ps = all(s is not None for s in steps)
    runs = list(dict.fromkeys(r["run"] for r, *_ in curves))  # one colour per trajectory when there are several
    beside = len(curves) > 2  # the legend of more curves goes beside the axes, off the curves (a wider figure)
    fig, ax = _figure_and_axes(ax, (6.8, 3.4) if beside else (4.8, 3.4))
    longest, noise = 0.0, 0.0
    for (r, what, style, colour), step in zip(curves, steps):
        acf = _array(r, "acf")
        scale = step if in_ps and step is not None else 1.0
        tau_frames = float(r.get("acf_integrated_time_frames", np.nan))
        shown = min(acf.size, max(10, acf.size // 4 if not math.isfinite(tau_frames) else min(acf.size // 4, math.ceil(10 * tau_frames))))
        shown = max(shown, 2)
        colour = colour if len(runs) == 1 else f"C{runs.index(r['run']) % 10}"
        unit = "ps" if in_ps else "frames"
        ax.plot(np.arange(shown) * scale, acf[:shown], ls=style, color=colour, zorder=3,
                label=f"{what}, {_run_label(r['run'])}")
        if math.isfinite(tau_frames):
            ax.axvline(tau_frames * scale, color=colour, ls=":", lw=1.2, zorder=2,
                       label=f"  τ_int = {tau_frames * scale:.3g} {unit}")
        longest = max(longest, (shown - 1) * scale)
        noise = max(noise, 2 / math.sqrt(acf.size))
    ax.axhspan(-noise, noise, color="0.9", lw=0, zorder=0, label="±2/√N: noise of an uncorrelated series")
    ax.axhline(0.0, color="k", lw=0.5, zorder=1)
    ax.set_xlim(0.0, longest or 1.0)
    ax.set_xlabel("lag τ (ps)" if in_ps else "lag τ (frames)")
    ax.set_ylabel("autocorrelation C(τ) (dimensionless)")
    if beside:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    else:
        ax.legend(fontsize=7)
    return _root(fig)
