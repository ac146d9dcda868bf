"""Figures from stored results (never from raw program files): the paper's figures, headless.

Every figure comes in two functions: ``draw_<figure>(...)`` builds a :class:`matplotlib.figure.Figure`
from table rows (nothing saved, nothing shown: inspect its artists, tweak it, or display it in a
notebook), and ``<figure>_figure(..., path)`` draws and saves it, returning the path. A row is a
dict of a table row's columns and per-row arrays, as :func:`read_rows` (or the analyses in
:mod:`dftpost.batch`) give it. The format follows the file suffix: ``.png``, ``.pdf`` or ``.svg``.

====================  ====================================================  ==========  =============
figure                what                                                  paper       table(s)
====================  ====================================================  ==========  =============
density               water O and H number densities along z                Fig. 1a     dipole
dipole-profile        mean cumulative dipole μ_z(z) ± its std over frames   Fig. 1b     dipole
dipole-distribution   total-dipole histogram, breakdown region |μ/ε0| > gap Fig. 1c     dipole
pdos-map              z-resolved water PDoS, E_F and local band edges       Fig. 2a     gap
field-response        ΔV(z) and Δρ(z) under an applied field                Fig. 2b     field_profile
band-edges            VBM, CBM and binned gap against μ_z, μ_z histogram    Fig. 2c     gap (all runs)
sigma-vs-thickness    σ of the total dipole against water thickness         Fig. 3a     dipole (all)
potential-vs-cell     ΔV distributions against cell length                  Fig. 3c     potential (all)
acf                   autocorrelation of μ_z and of ΔV, frames or ps        Fig. 3d, S4 dipole, potential
census                O, OH, H2O, H3O and free H per frame                  Fig. S3     dipole
parity                fixed-charge against DFT dipoles, fitted q_O          Fig. S1     charge_fit
====================  ====================================================  ==========  =============

:data:`FIGURES` registers them with the tables and datasets each needs; :func:`plot_results` draws
the requested ones (or every one the files have data for) from result files, and says which
dataset of which file is missing. One style for all: :data:`STYLE` (matplotlib rc parameters) and
:data:`COLOURS`, applied by every ``draw_`` function; matplotlib is imported on first use.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from .analysis.bandedges import gap_by_dipole
from .analysis.dipole import CENSUS_SPECIES
from .errors import DftpostError, MissingInputError
from .units import EPSILON0_E_PER_V_A

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with this module
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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

#: One colour per quantity, the same in every figure.
COLOURS: dict[str, str] = {
    "O": "C3",
    "H": "C0",
    "vbm": "C0",
    "cbm": "C3",
    "gap": "0.2",
    "dipole": "C2",
    "potential": "C4",
    "band": "#bfe3bf",
    "breakdown": "#f5dada",
    "breakdown_line": "C3",
    "histogram": "0.85",
    "metallized": "k",
    "fermi": "k",
}

_REGION_COLOURS = {"vacuum_below": "#dde8f5", "vacuum_above": "#dde8f5", "water": "#d9f0d9", "metal": "#eeeeee"}
# a shaded range's outline, so that it shows in the legend and its bounds in the plot
_BREAKDOWN_EDGE = {"ec": "#d08a8a", "lw": 0.8}
_SPECIES_LABELS = {"O": "O (no H)", "OH": "OH⁻", "H2O": "H₂O", "H3O": "H₃O⁺", "free_H": "free H"}
_SPECIES_STYLES = {"O": ":", "OH": "-", "H2O": "-", "H3O": "--", "free_H": "-."}
FORMATS = ("png", "pdf", "svg")
"""File formats of the figures (the suffix of the path decides)."""
_METADATA = {"png": {"Software": "dftpost"}, "pdf": {"Creator": "dftpost", "CreationDate": None}, "svg": {"Date": None}}


# ----------------------------------------------------------------------------- style and saving
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


# ----------------------------------------------------------------------------- dipole table (Fig. 1, S3)
@_styled
def draw_density(row: dict) -> Figure:
    """O and H number densities (1/Å³) against the height above the origin (Å) (paper Fig. 1a).

    ``row``: a ``dipole`` row with ``z``, ``o_density`` and ``h_density``. The x range is cut to
    the occupied heights (3 Å margin); the lines hold the whole profile.
    """
    z, o, h = _array(row, "z"), _array(row, "o_density"), _array(row, "h_density")
    fig, ax = _new_figure()
    ax.plot(z, o, color=COLOURS["O"], label="O")
    ax.plot(z, h, color=COLOURS["H"], label="H")
    ax.set_xlim(*_occupied_window(z, o + h))
    ax.set_xlabel("z above the origin (Å)")
    ax.set_ylabel("number density (1/Å³)")
    ax.set_title(f"{_run_label(row['run'])}: {row['n_frames']} frames")
    ax.legend()
    return fig


@_styled
def draw_dipole_profile(row: dict) -> Figure:
    """Mean cumulative dipole per area μ_z(z) (e/Å) with a ± one standard deviation band over
    frames, and the potential step it makes (V, right axis) (paper Fig. 1b).

    ``row``: a ``dipole`` row with ``z``, ``mean_cumulative_dipole``, ``std_cumulative_dipole``
    (and ``o_density``/``h_density`` to cut the x range to the water).
    """
    z = _array(row, "z")
    mean, std = _array(row, "mean_cumulative_dipole"), _array(row, "std_cumulative_dipole")
    fig, ax = _new_figure()
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
    return fig


@_styled
def draw_dipole_distribution(row: dict) -> Figure:
    """Histogram of the total dipole per area (e/Å; top axis: ΔV = μ/ε0 in V) over frames, with
    the breakdown region |μ|/ε0 > gap shaded (paper Fig. 1c).

    ``row``: a ``dipole`` row with ``histogram_counts``, ``histogram_edges`` and ``gap_eV``.
    """
    counts, edges = _array(row, "histogram_counts"), _array(row, "histogram_edges")
    gap = float(_value(row, "gap_eV"))
    threshold = gap * EPSILON0_E_PER_V_A  # |μ| (e/Å) whose potential step equals the gap
    fig, ax = _new_figure()
    ax.stairs(counts, edges, fill=True, color=COLOURS["dipole"], alpha=0.8, label=f"{int(counts.sum())} frames")
    low, high = min(edges[0], -1.15 * threshold), max(edges[-1], 1.15 * threshold)
    ax.axvspan(low, -threshold, fc=COLOURS["breakdown"], **_BREAKDOWN_EDGE, zorder=0, label=f"|μ_z|/ε0 > {gap:g} eV")
    ax.axvspan(threshold, high, fc=COLOURS["breakdown"], **_BREAKDOWN_EDGE, zorder=0)
    ax.set_xlim(low, high)
    ax.set_xlabel("total dipole μ_z (e/Å)")
    ax.set_ylabel("frames (count)")
    _integer_ticks(ax.yaxis)
    _potential_axis(ax, "x", "ΔV = μ_z/ε0 (V)")
    fraction = row.get("breakdown_fraction", float("nan"))
    ax.set_title(f"{_run_label(row['run'])}: breakdown fraction {fraction:.3g}")
    ax.legend(loc="upper left")
    return fig


def _frame_times_ps(row: dict) -> np.ndarray | None:
    """The times (ps) of a row's frames when every one is known, else None."""
    times = np.asarray(row.get("time_ps", []), dtype=float)
    frames = np.asarray(row.get("frame_index", []))
    if times.size == 0 or times.size != frames.size or not np.all(np.isfinite(times)):
        return None
    return times


@_styled
def draw_census(row: dict) -> Figure:
    """Species per frame (count): H2O above; O, OH, H3O and free H below (paper Fig. S3),
    against the time (ps) when the trajectory has times, else the frame number.

    ``row``: a ``dipole`` row with ``census`` (frames × :data:`~dftpost.analysis.dipole.CENSUS_SPECIES`)
    and ``frame_index`` (``time_ps`` optional). Each line's gid is its species name.
    """
    census = _array(row, "census", int).reshape(-1, len(CENSUS_SPECIES))
    times = _frame_times_ps(row)
    x, xlabel = (times, "time (ps)") if times is not None else (_array(row, "frame_index", int), "frame")
    fig, (ax_water, ax_ions) = _new_figure(2, 1, size=(4.8, 4.2), sharex=True, height_ratios=(1, 1.4))
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
    return fig


# ----------------------------------------------------------------------------- gap table (Fig. 2a, 2c)
@_styled
def draw_pdos_map(row: dict) -> Figure:
    """z-resolved water PDoS against height (Å) and energy relative to E_F (eV), with the water
    and the substrate DoS beside it on the same energy axis (paper Fig. 2a).

    The map's grey scale is the square root of the PDoS (states/eV; the colour bar is labelled
    so): a layer's band tails and its peaks both show. The local VBM and CBM of each z bin are
    marked at the bin's centre (the mean height of its atoms, ``z_bin_centres_A`` where stored),
    the water's band edges as dotted lines, E_F dashed and, for water alone, the reference level
    the search starts from (the middle of the water's gap) dash-dotted. The legend sits below
    the panels, off the map. The energy window is cut to the band edges (−4/+3 eV).

    ``row``: a ``gap`` row with ``energies_eV``, ``z_bin_edges_A``, ``z_resolved_dos``
    (bins × energies), ``local_vbm_eV``, ``local_cbm_eV`` and ``water_dos``; ``substrate_dos``
    (a metal run) adds the substrate panel.
    """
    from matplotlib.colors import PowerNorm

    energies, edges = _array(row, "energies_eV"), _array(row, "z_bin_edges_A")
    dos = _array(row, "z_resolved_dos").reshape(max(edges.size - 1, 0), energies.size)
    local_vbm, local_cbm = _array(row, "local_vbm_eV"), _array(row, "local_cbm_eV")
    if dos.size == 0:
        raise MissingInputError(row.get("run") or None, "the row has no z-resolved PDoS"
                                + (f" ({row['z_resolved_note']})" if row.get("z_resolved_note") else ""))
    stored_centres = row.get("z_bin_centres_A")
    centres = (np.asarray(stored_centres, float) if stored_centres is not None and np.size(stored_centres) == dos.shape[0]
               else 0.5 * (edges[1:] + edges[:-1]))
    water = row.get("water_dos")
    substrate = row.get("substrate_dos")
    has_substrate = substrate is not None and np.size(substrate) == energies.size
    spacing = np.diff(energies)
    energy_edges = np.concatenate([[energies[0] - spacing[0] / 2], energies[:-1] + spacing / 2, [energies[-1] + spacing[-1] / 2]])
    ncols = 3 if has_substrate else 2
    widths = [3.2, 1.0, 1.0][:ncols]
    fig, axes = _new_figure(1, ncols, size=(6.8 if has_substrate else 5.8, 3.9), sharey=True,
                            gridspec_kw={"width_ratios": widths})
    ax = axes[0]
    mesh = ax.pcolormesh(edges, energy_edges, dos.T, shading="flat", norm=PowerNorm(0.5, vmin=0.0, vmax=max(dos.max(), 1e-12)))
    ax.plot(centres, local_vbm, "v-", color=COLOURS["vbm"], label="local VBM (at layer centre)", gid="local VBM")
    ax.plot(centres, local_cbm, "^-", color=COLOURS["cbm"], label="local CBM (at layer centre)", gid="local CBM")
    vbm, cbm = float(row.get("vbm_eV", np.nan)), float(row.get("cbm_eV", np.nan))
    reference = float(row.get("reference_eV", 0.0) if row.get("reference_eV") is not None else 0.0)
    lines = [(0.0, COLOURS["fermi"], "--", "E_F")]
    if np.isfinite(reference) and reference != 0.0:  # water alone: the search starts mid-gap
        lines.append((reference, COLOURS["fermi"], "-.", "reference (search start)"))
    lines += [(vbm, COLOURS["vbm"], ":", "VBM of the water PDoS"), (cbm, COLOURS["cbm"], ":", "CBM of the water PDoS")]
    for k, panel in enumerate(axes):
        for level, colour, style, label in lines:
            if np.isfinite(level):
                panel.axhline(level, color=colour, ls=style, lw=0.8, label=label if k == 0 else None,
                              gid=label.split(" (")[0] if k == 0 else None)
    levels = np.concatenate([local_vbm, local_cbm, [vbm, cbm, 0.0]])
    low, high = np.nanmin(levels) - 4.0, np.nanmax(levels) + 3.0
    window = (energies >= max(low, energy_edges[0])) & (energies <= min(high, energy_edges[-1]))
    ax.set_ylim(max(low, energy_edges[0]), min(high, energy_edges[-1]))
    ax.set_xlabel("z (Å)")
    ax.set_ylabel("E − E_F (eV)")
    fig.colorbar(mesh, ax=ax, location="top", shrink=0.8, label="water PDoS (states/eV), square-root scale")
    if water is not None and np.size(water) == energies.size:
        w = np.asarray(water, float)
        axes[1].fill_betweenx(energies, 0.0, w, color=COLOURS["histogram"], ec="0.3", lw=0.6)
        axes[1].set_xlim(0.0, 1.05 * max(w[window].max(), 1e-12))
    axes[1].set_xlabel("water\n(states/eV)")
    if has_substrate:
        m = np.asarray(substrate, float)
        axes[2].fill_betweenx(energies, 0.0, m, color="#e8c9a0", ec="0.3", lw=0.6)
        axes[2].set_xlim(0.0, 1.05 * max(m[window].max(), 1e-12))
        axes[2].set_xlabel("substrate\n(states/eV)")
    for panel in axes[1:]:
        panel.tick_params(labelleft=False)
    gap = row.get("gap_eV", float("nan"))
    metallized = {1: ", metallized", 0: ""}.get(int(row.get("metallized", -1)), "")
    fig.suptitle(f"{_run_label(row['run'])}: water gap {gap:.2f} eV{metallized}")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=7)
    return fig


def _bin_edges(values: np.ndarray, width: float) -> np.ndarray:
    """Edges of bins of ``width`` centred on its multiples (as :func:`gap_by_dipole` bins)."""
    index = np.rint(values / width)
    return (np.arange(index.min(), index.max() + 2) - 0.5) * width


@_styled
def draw_band_edges(rows: Sequence[dict], bin_width_e_per_A: float = 0.005) -> Figure:
    """Water VBM and CBM (eV vs E_F) of every run against its total dipole μ_z (e/Å), metallized
    runs marked, the μ_z histogram behind (runs, right axis); below, the gap per run and its mean
    ± std in μ_z bins of ``bin_width_e_per_A`` (by :func:`~dftpost.analysis.bandedges.gap_by_dipole`,
    as ``dftpost summary``) (paper Fig. 2c).

    ``rows``: ``gap`` rows with ``dipole_e_per_A``, ``vbm_eV``, ``cbm_eV``, ``gap_eV`` and
    ``metallized`` (scalars only; each run once, see :func:`read_rows`); ``reference_eV``, where
    it is not E_F (water alone: the middle of the gap), is marked too. Rows with
    ``vbm_vs_vacuum_eV``/``cbm_vs_vacuum_eV`` add a third panel: the edges against the vacuum level.
    """
    if not rows:
        raise MissingInputError(None, "no gap rows to draw")
    mu = np.array([_value(r, "dipole_e_per_A") for r in rows], float)
    vbm = np.array([_value(r, "vbm_eV") for r in rows], float)
    cbm = np.array([_value(r, "cbm_eV") for r in rows], float)
    gap = np.array([_value(r, "gap_eV") for r in rows], float)
    metallized = np.array([_value(r, "metallized") for r in rows]) == 1
    on_vacuum = {k: np.array([np.nan if r.get(k) is None else float(r[k]) for r in rows], float)
                 for k in ("vbm_vs_vacuum_eV", "cbm_vs_vacuum_eV")}
    vacuum = bool(np.isfinite(on_vacuum["vbm_vs_vacuum_eV"]).any())
    fig, axes = _new_figure(3 if vacuum else 2, 1, size=(4.8, 7.2 if vacuum else 5.2), sharex=True)
    ax_e, ax_g = axes[0], axes[1]
    ax_h = ax_e.twinx()
    counts, edges = np.histogram(mu, _bin_edges(mu, bin_width_e_per_A))
    bars = ax_h.stairs(counts, edges, fill=True, color=COLOURS["histogram"], label="runs per bin (right axis)")
    ax_h.set_ylabel("runs per bin (count)")
    _integer_ticks(ax_h.yaxis)
    ax_e.set_zorder(ax_h.get_zorder() + 1)  # the histogram behind the points
    ax_e.patch.set_visible(False)
    ax_e.plot(mu, vbm, "v", color=COLOURS["vbm"], label="VBM")
    ax_e.plot(mu, cbm, "^", color=COLOURS["cbm"], label="CBM")
    if metallized.any():
        ax_e.plot(np.r_[mu[metallized], mu[metallized]], np.r_[vbm[metallized], cbm[metallized]], "x",
                  color=COLOURS["metallized"], ms=7, label="metallized")
    ax_e.axhline(0.0, color=COLOURS["fermi"], ls="--", lw=0.8, label="E_F")
    reference = np.array([r.get("reference_eV", np.nan) for r in rows], float)
    if np.any(np.isfinite(reference) & (reference != 0.0)):  # water alone: metallized is judged by mid-gap
        ax_e.plot(mu, reference, "_", color=COLOURS["fermi"], ms=8, label="reference")
    ax_e.set_ylabel("band edge − E_F (eV)")
    fig.suptitle(f"{len(rows)} runs, {int(metallized.sum())} metallized", fontsize=STYLE["axes.titlesize"])
    handles, labels = ax_e.get_legend_handles_labels()
    ax_e.legend(handles + [bars], labels + [bars.get_label()], loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3,
                fontsize=7, handletextpad=0.3, columnspacing=1.0)
    bins = gap_by_dipole(mu, gap, metallized, bin_width_e_per_A)
    ax_g.plot(mu, gap, "o", color=COLOURS["histogram"], mec="0.5", label="runs")
    centre, mean, std = (np.array([b[k] for b in bins]) for k in ("centre_e_per_A", "mean_gap_eV", "std_gap_eV"))
    ax_g.errorbar(centre, mean, std,
                  fmt="s-", color=COLOURS["gap"], capsize=2, label=f"mean ± std per {bin_width_e_per_A:g} e/Å")
    ax_g.set_ylabel("water gap (eV)")
    ax_g.legend(fontsize=7)
    if vacuum:  # the edges against the vacuum level, where a potential cube gave one
        ax_v = axes[2]
        ax_v.plot(mu, on_vacuum["vbm_vs_vacuum_eV"], "v", color=COLOURS["vbm"], label="VBM − E_vac")
        ax_v.plot(mu, on_vacuum["cbm_vs_vacuum_eV"], "^", color=COLOURS["cbm"], label="CBM − E_vac")
        ax_v.set_ylabel("band edge − E_vac (eV)")
        ax_v.legend(fontsize=7)
    axes[-1].set_xlabel("total dipole μ_z (e/Å)")
    return fig


# ----------------------------------------------------------------------------- across trajectories (Fig. 3)
@_styled
def draw_sigma_vs_thickness(rows: Sequence[dict]) -> Figure:
    """Standard deviation of the total dipole per area over frames (e/Å; right axis σ/ε0 in V)
    against the water slab's thickness (Å), one point per trajectory (paper Fig. 3a).

    ``rows``: ``dipole`` rows with ``water_thickness_A`` and ``std_total_dipole_e_per_A``; the
    points are drawn in order of thickness.
    """
    if not rows:
        raise MissingInputError(None, "no dipole rows to draw")
    thickness = np.array([_value(r, "water_thickness_A") for r in rows], float)
    sigma = np.array([_value(r, "std_total_dipole_e_per_A") for r in rows], float)
    order = np.argsort(thickness, kind="stable")
    fig, ax = _new_figure()
    ax.plot(thickness[order], sigma[order], "o-", color=COLOURS["dipole"])
    for i in order:
        ax.annotate(_run_label(rows[i]["run"]), (thickness[i], sigma[i]), textcoords="offset points", xytext=(4, 4), fontsize=6)
    ax.set_xlabel("water thickness (Å)")
    ax.set_ylabel("σ of the total dipole μ_z (e/Å)")
    _potential_axis(ax, "y", "σ/ε0 (V)")
    ax.set_title(f"{len(rows)} trajector{'y' if len(rows) == 1 else 'ies'}")
    return fig


@_styled
def draw_potential_vs_cell(rows: Sequence[dict]) -> Figure:
    """Distribution of the per-frame potential difference ΔV (V, max − min over atoms of the
    Gaussian-charge potential) against the cell length (Å, cube root of the cell volume): one
    violin and mean ± std per cell length, trajectories of equal length (to 0.01 Å) pooled
    (paper Fig. 3c).

    ``rows``: ``potential`` rows with ``cell_length_A`` and ``delta_v`` (``sigma_A``,
    ``self_term`` for the title; ``gap_eV``, when all rows share it, as a dashed line: the ΔV
    that closes the gap). The error-bar line holds the means in order of cell length.
    """
    if not rows:
        raise MissingInputError(None, "no potential rows to draw")
    groups: dict[float, list[np.ndarray]] = {}
    for r in rows:
        groups.setdefault(round(float(_value(r, "cell_length_A")), 2), []).append(_array(r, "delta_v"))
    positions = np.array(sorted(groups))
    data = [np.concatenate(groups[p]) for p in positions]
    width = 0.7 * float(np.diff(positions).min()) if positions.size > 1 else max(0.1 * positions[0], 0.5)
    fig, ax = _new_figure()
    spread = [i for i, d in enumerate(data) if d.size > 1 and np.ptp(d) > 0]  # a violin needs a spread
    if spread:
        parts = ax.violinplot([data[i] for i in spread], positions[spread], widths=width, showextrema=False)
        for body, i in zip(parts["bodies"], spread):
            body.set(facecolor=COLOURS["potential"], edgecolor="none", alpha=0.35, gid=f"violin {positions[i]:g}")
    ax.errorbar(positions, np.array([d.mean() for d in data]), np.array([d.std() for d in data]), fmt="o", color=COLOURS["potential"],
                capsize=3, label="mean ± std")
    gaps = {float(r.get("gap_eV", np.nan)) for r in rows}
    if len(gaps) == 1 and math.isfinite(gap := gaps.pop()):
        ax.axhline(gap, color=COLOURS["breakdown_line"], ls="--", lw=0.8, label=f"gap {gap:g} eV")
    ax.set_xlabel("cell length Ω^(1/3) (Å)")
    ax.set_ylabel("ΔV over atoms (V)")
    sigmas = sorted({float(r.get("sigma_A", np.nan)) for r in rows})
    self_terms = sorted({int(r.get("self_term", -1)) for r in rows})
    self_text = {(0,): "without", (1,): "with"}.get(tuple(self_terms), "with and without")
    ax.set_title(f"Gaussian σ = {', '.join(f'{s:g}' for s in sigmas)} Å, {self_text} self term; "
                 f"{sum(d.size for d in data)} frames")
    ax.legend()
    return fig


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
def draw_acf(dipole_rows: Sequence[dict] = (), potential_rows: Sequence[dict] = ()) -> Figure:
    """Autocorrelation C(τ) (dimensionless) of the total dipole (solid) and of the potential
    difference ΔV (dashed) of each trajectory, against the lag in ps when the frames of every
    curve have times (``time_ps`` of the row, or of another row of the same trajectory), else in
    analysed frames (paper Fig. 3d, S4).

    ``dipole_rows``, ``potential_rows``: ``dipole`` and ``potential`` rows with ``acf`` and
    ``frame_index`` (``time_ps`` optional). Each curve is drawn over the lags that carry
    information: up to ten integrated correlation times (at least 10 lags), at most a quarter of
    its series (beyond, few pairs of frames enter each lag). Its integrated time τ_int is a dotted
    vertical line; the grey band ±2/√N is the noise of an uncorrelated series of the same length.
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
    fig, ax = _new_figure()
    longest, noise = 0.0, 0.0
    for (r, what, style, colour), step in zip(curves, steps):
        acf = _array(r, "acf")
        scale = step if in_ps else 1.0
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
    ax.legend(fontsize=7)
    return fig


# ----------------------------------------------------------------------------- field profile, charge fit (Fig. 2b, S1)
@_styled
def draw_field_response(row: dict) -> Figure:
    """ΔV(z) (V) and Δρ(z) (e/Å³) of a field/no-field pair against z (Å) with the fitted regions
    shaded (paper Fig. 2b). ``row``: a ``field_profile`` row with its arrays."""
    regions = json.loads(_value(row, "parameters"))["regions"]
    fig, (ax_v, ax_rho) = _new_figure(2, 1, size=(5.5, 5.0), sharex=True)
    named = set()
    for ax in (ax_v, ax_rho):
        for r in regions:
            kind = r["name"].split("_")[0]  # vacuum_below and vacuum_above: one legend entry
            label = None
            if ax is ax_rho and kind not in named:
                label = f"{kind}: fitted region"
                named.add(kind)
            ax.axvspan(r["low_A"], r["high_A"], color=_REGION_COLOURS.get(r["name"], "#f5f5f5"), lw=0, label=label)
    ax_v.plot(_array(row, "z"), _array(row, "delta_v"), color="C0", label="ΔV (planar)")
    ax_v.plot(row["z"], _array(row, "macroscopic_delta_v"), color="C1", ls="--", label="ΔV (macroscopic)")
    ax_v.set_ylabel("ΔV (V)")
    ax_v.set_title(
        f"E = {row['applied_field_V_per_A']:.3g} V/Å; water {row['field_water_V_per_A']:.3g} V/Å, "
        f"screening {row['screening']:.2f}"
    )
    ax_v.legend(loc="best")
    ax_rho.plot(row["z"], _array(row, "delta_rho"), color="C2", label="Δρ (planar)")
    ax_rho.axhline(0.0, color="k", lw=0.5)
    ax_rho.set_ylabel("Δρ (e/Å³)")
    ax_rho.set_xlabel(f"{row['axis']} (Å)")
    ax_rho.legend(loc="best", fontsize=8)
    return fig


@_styled
def draw_parity(row: dict) -> Figure:
    """Fixed-charge against DFT dipole per area (e/Å), one point per frame, the frames left out
    hollow, the excluded |μ_DFT| range shaded (paper Fig. S1). ``row``: a ``charge_fit`` row."""
    lever, dft, used = (np.asarray(_value(row, k)) for k in ("lever", "dft_dipole", "used"))
    fitted = row["q_o_e"] * lever + row["intercept_e_per_A"]
    fig, ax = _new_figure(size=(4.2, 4.2))
    ok = np.isfinite(lever)
    # the points above the shaded range and the line, the left-out frames on top of all
    ax.scatter(dft[ok & (used == 1)], fitted[ok & (used == 1)], color="C0", zorder=3, label="used in the fit")
    ax.scatter(dft[ok & (used == 0)], fitted[ok & (used == 0)], facecolors="white", edgecolors="C3", linewidths=1.5,
               zorder=4, label="left out")
    span = np.nanmax(np.abs(np.concatenate([dft[ok], fitted[ok]]))) * 1.1
    ax.plot([-span, span], [-span, span], color="k", lw=0.8, zorder=2, label="fixed-charge = DFT")
    ax.axvspan(-span, -row["max_dipole_e_per_A"], fc=COLOURS["breakdown"], **_BREAKDOWN_EDGE, zorder=0,
               label=f"|μ_DFT| ≥ {row['max_dipole_e_per_A']:g} e/Å: left out")
    ax.axvspan(row["max_dipole_e_per_A"], span, fc=COLOURS["breakdown"], **_BREAKDOWN_EDGE, zorder=0)
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_xlabel("DFT dipole per area (e/Å)")
    ax.set_ylabel("fixed-charge dipole per area (e/Å)")
    ax.set_title(f"q_O = {row['q_o_e']:.4f} ± {row['q_o_stderr_e']:.4f} e, R² = {row['r2']:.3f}")
    ax.legend(loc="upper left", fontsize=8)
    return fig


# ----------------------------------------------------------------------------- draw and save
def density_figure(row: dict, path: str | Path) -> Path:
    """:func:`draw_density` saved to ``path`` (paper Fig. 1a)."""
    return save_figure(draw_density(row), path)


def dipole_profile_figure(row: dict, path: str | Path) -> Path:
    """:func:`draw_dipole_profile` saved to ``path`` (paper Fig. 1b)."""
    return save_figure(draw_dipole_profile(row), path)


def dipole_distribution_figure(row: dict, path: str | Path) -> Path:
    """:func:`draw_dipole_distribution` saved to ``path`` (paper Fig. 1c)."""
    return save_figure(draw_dipole_distribution(row), path)


def census_figure(row: dict, path: str | Path) -> Path:
    """:func:`draw_census` saved to ``path`` (paper Fig. S3)."""
    return save_figure(draw_census(row), path)


def pdos_map_figure(row: dict, path: str | Path) -> Path:
    """:func:`draw_pdos_map` saved to ``path`` (paper Fig. 2a)."""
    return save_figure(draw_pdos_map(row), path)


def band_edges_figure(rows: Sequence[dict], path: str | Path, bin_width_e_per_A: float = 0.005) -> Path:
    """:func:`draw_band_edges` saved to ``path`` (paper Fig. 2c)."""
    return save_figure(draw_band_edges(rows, bin_width_e_per_A), path)


def sigma_vs_thickness_figure(rows: Sequence[dict], path: str | Path) -> Path:
    """:func:`draw_sigma_vs_thickness` saved to ``path`` (paper Fig. 3a)."""
    return save_figure(draw_sigma_vs_thickness(rows), path)


def potential_vs_cell_figure(rows: Sequence[dict], path: str | Path) -> Path:
    """:func:`draw_potential_vs_cell` saved to ``path`` (paper Fig. 3c)."""
    return save_figure(draw_potential_vs_cell(rows), path)


def acf_figure(dipole_rows: Sequence[dict], potential_rows: Sequence[dict], path: str | Path) -> Path:
    """:func:`draw_acf` saved to ``path`` (paper Fig. 3d, S4)."""
    return save_figure(draw_acf(dipole_rows, potential_rows), path)


def field_response_figure(row: dict, path: str | Path) -> Path:
    """:func:`draw_field_response` saved to ``path`` (paper Fig. 2b).

    ``row`` is a ``field_profile`` table row with its arrays (as :func:`read_rows` gives it, or as
    :func:`dftpost.batch.field_profile` returns it). The format follows the file suffix (png, pdf, svg).
    """
    return save_figure(draw_field_response(row), path)


def parity_figure(row: dict, path: str | Path) -> Path:
    """:func:`draw_parity` saved to ``path`` (paper Fig. S1). ``row`` is a ``charge_fit`` row."""
    return save_figure(draw_parity(row), path)


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Need:
    """What a figure reads from one table: scalar ``columns`` (finite in the rows drawn) and
    per-row ``arrays`` (non-empty in the rows drawn)."""

    table: str
    columns: tuple[str, ...] = ()
    arrays: tuple[str, ...] = ()


@dataclass(frozen=True)
class FigureSpec:
    """A figure of the registry.

    ``draw`` makes the Figure. With ``one_row`` it takes one row of ``needs[0].table`` (the latest
    ok one that has the data: one figure per result file); otherwise it takes one list of rows per
    :class:`Need`, pooled over all files (one figure for all files). With ``any_of`` one of the
    needs is enough (the others' lists may be empty).
    """

    name: str
    draw: Callable[..., Figure]
    needs: tuple[Need, ...]
    one_row: bool
    caption: str
    any_of: bool = False


_DIPOLE_ROW = ("n_frames",)
FIGURES: dict[str, FigureSpec] = {
    spec.name: spec
    for spec in (
        FigureSpec("density", draw_density, (Need("dipole", _DIPOLE_ROW, ("z", "o_density", "h_density")),), True,
                   "water O and H density profiles (Fig. 1a)"),
        FigureSpec("dipole-profile", draw_dipole_profile,
                   (Need("dipole", _DIPOLE_ROW, ("z", "mean_cumulative_dipole", "std_cumulative_dipole")),), True,
                   "mean cumulative dipole μ_z(z) ± std (Fig. 1b)"),
        FigureSpec("dipole-distribution", draw_dipole_distribution,
                   (Need("dipole", ("gap_eV",), ("histogram_counts", "histogram_edges")),), True,
                   "total-dipole distribution and breakdown region (Fig. 1c)"),
        FigureSpec("pdos-map", draw_pdos_map,
                   (Need("gap", (), ("energies_eV", "z_bin_edges_A", "z_resolved_dos", "local_vbm_eV", "local_cbm_eV")),),
                   True, "z-resolved water PDoS with local band edges (Fig. 2a)"),
        FigureSpec("field-response", draw_field_response,
                   (Need("field_profile", ("applied_field_V_per_A",), ("z", "delta_v", "macroscopic_delta_v", "delta_rho")),),
                   True, "ΔV(z) and Δρ(z) under an applied field (Fig. 2b)"),
        FigureSpec("band-edges", draw_band_edges,
                   (Need("gap", ("dipole_e_per_A", "vbm_eV", "cbm_eV", "gap_eV", "metallized")),), False,
                   "band edges and binned gap against μ_z (Fig. 2c)"),
        FigureSpec("sigma-vs-thickness", draw_sigma_vs_thickness,
                   (Need("dipole", ("water_thickness_A", "std_total_dipole_e_per_A")),), False,
                   "σ of the total dipole against water thickness (Fig. 3a)"),
        FigureSpec("potential-vs-cell", draw_potential_vs_cell,
                   (Need("potential", ("cell_length_A",), ("delta_v",)),), False,
                   "ΔV distributions against cell length (Fig. 3c)"),
        FigureSpec("acf", draw_acf,
                   (Need("dipole", (), ("acf", "frame_index")), Need("potential", (), ("acf", "frame_index"))), False,
                   "autocorrelation of μ_z and ΔV (Fig. 3d, S4)", any_of=True),
        FigureSpec("census", draw_census, (Need("dipole", (), ("census", "frame_index")),), True,
                   "species census per frame (Fig. S3)"),
        FigureSpec("parity", draw_parity,
                   (Need("charge_fit", ("q_o_e", "intercept_e_per_A"), ("lever", "dft_dipole", "used")),), True,
                   "q_O parity of fixed-charge and DFT dipoles (Fig. S1)"),
    )
}
"""The figures by name (in drawing order): what draws them and what they read."""


# ----------------------------------------------------------------------------- reading result files
class _ResultFile:
    """The tables of one result file, read once each."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise MissingInputError(self.path, "no such file")
        self._tables: dict[str, dict | None] = {}
        self._arrays: dict[tuple[str, int], dict] = {}

    def table(self, name: str) -> dict | None:
        if name not in self._tables:
            from .store import read_table

            try:
                self._tables[name] = read_table(self.path, name)
            except MissingInputError:  # the file exists, so: no such table
                self._tables[name] = None
        return self._tables[name]

    def arrays(self, table: str, index: int) -> dict:
        if (table, index) not in self._arrays:
            from .store import read_arrays

            self._arrays[(table, index)] = read_arrays(self.path, table, index)
        return self._arrays[(table, index)]

    def rows(self, need: Need, figure: str | None = None, run: str | None = None, latest_only: bool = False,
             all_arrays: bool = False) -> list[dict]:
        """The latest ok row of each run with the data ``need`` says, with its per-row arrays when
        ``need`` names some or ``all_arrays`` (only the last such row with ``latest_only``; only
        runs whose path contains ``run``). Raises MissingInputError naming the table or dataset
        missing and the figure that needs it."""

        def missing(problem: str) -> MissingInputError:
            return MissingInputError(self.path, problem + (f" (figure {figure} needs it)" if figure else ""))

        table = self.table(need.table)
        if table is None:
            raise missing(f"no table {need.table!r}")
        for column in ("run", "status", *need.columns):
            if column not in table:
                raise missing(f"table {need.table!r} has no column {column!r}")
        latest = {run_: i for i, run_ in enumerate(table["run"])}  # each run once: its latest row
        candidates = [i for i in sorted(latest.values()) if table["status"][i] == "ok" and (run is None or run in table["run"][i])]
        if not candidates:
            where = f" whose run contains {run!r}" if run is not None else ""
            raise missing(f"table {need.table!r} has no row with status ok{where}")
        if need.arrays and (absent := [a for a in need.arrays if a not in self.arrays(need.table, candidates[-1])]):
            raise missing(f"table {need.table!r} has no dataset {absent[0]!r}")
        rows = []
        for i in reversed(candidates):
            row = {k: v[i] for k, v in table.items()}
            if not all(_finite(row[c]) for c in need.columns):
                continue
            if need.arrays or all_arrays:
                arrays = self.arrays(need.table, i)
                if any(arrays[a].size == 0 for a in need.arrays):
                    continue
                row.update(arrays)
            rows.append(row)
            if latest_only:
                break
        if not rows:
            what = ", ".join(f"{c!r}" for c in (*need.columns, *need.arrays))
            raise missing(f"table {need.table!r} has no ok row with {what} (all empty or NaN)")
        return rows[::-1]


def _finite(value) -> bool:
    return not isinstance(value, (float, np.floating)) or math.isfinite(value)


def read_rows(path: str | Path, table: str, run: str | None = None) -> list[dict]:
    """The rows of ``table`` in a result file for drawing: each run once (its latest row), status
    ok only, each row a dict of its columns and per-row arrays; ``run`` keeps the rows whose run
    path contains it. Raises MissingInputError when there is no such file, table or row."""
    return _ResultFile(path).rows(Need(table), None, run, all_arrays=True)


def _collect(spec: FigureSpec, files: Sequence[_ResultFile], run: str | None, strict: bool) -> list[tuple[_ResultFile | None, tuple]]:
    """The calls of ``spec.draw`` for these files: (file, arguments) per figure to make.

    ``strict``: a file without the data is an error (the figure was asked for); otherwise it
    is left out (and the figure too when no file has its data)."""
    if spec.one_row:
        calls = []
        for f in files:
            try:
                calls.append((f, (f.rows(spec.needs[0], spec.name, run, latest_only=True)[0],)))
            except MissingInputError:
                if strict:
                    raise
        return calls
    pooled: list[list[dict]] = [[] for _ in spec.needs]
    for f in files:
        errors = []
        for k, need in enumerate(spec.needs):
            try:
                pooled[k] += f.rows(need, spec.name)
            except MissingInputError as exc:
                errors.append(exc)
        if strict and errors and (not spec.any_of or len(errors) == len(spec.needs)):
            raise errors[0]
    if not any(pooled):
        return []
    pooled = [list({r["run"]: r for r in rows}.values()) for rows in pooled]  # a run in several files: its last row
    return [(None, tuple(pooled))]


def available_figures(paths: str | Path | Iterable[str | Path]) -> list[str]:
    """Names of the figures of :data:`FIGURES` that these result files have the data for."""
    files = [_ResultFile(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    return [name for name, spec in FIGURES.items() if _collect(spec, files, None, strict=False)]


def plot_results(
    paths: Sequence[str | Path],
    which: Sequence[str] | None = None,
    out_dir: str | Path = ".",
    fmt: str = "png",
    run: str | None = None,
) -> list[tuple[str, Path]]:
    """Draw figures of :data:`FIGURES` from result files into ``out_dir``; return (name, path) pairs.

    ``which``: figure names; every file must have the data of each (MissingInputError names the
    file, the table or dataset and the figure, before anything is drawn). None or empty: every
    figure that any file has the data for. Figures of one run are made per file from its latest
    row with the data (``run``: the latest whose run path contains it), named ``<figure>.<fmt>``,
    or ``<file stem>-<figure>.<fmt>`` when there are several files; figures over many rows pool
    the rows of all files into one ``<figure>.<fmt>``.
    """
    if fmt not in FORMATS:
        raise DftpostError(None, f"unknown figure format {fmt!r}: use {', '.join(FORMATS)}")
    if unknown := [w for w in which or () if w not in FIGURES]:
        raise DftpostError(None, f"unknown figure {unknown[0]!r} (figures: {', '.join(FIGURES)})")
    files = [_ResultFile(p) for p in paths]
    if not files:
        raise DftpostError(None, "no result files given")
    strict = bool(which)
    names = [n for n in FIGURES if n in which] if strict else list(FIGURES)
    calls = [(name, f, args) for name in names for f, args in _collect(FIGURES[name], files, run, strict)]
    if not calls:
        listed = ", ".join(str(f.path) for f in files)
        raise MissingInputError(listed, "no data for any figure (tables read: gap, dipole, potential, field_profile, charge_fit)")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DftpostError(out_dir, f"cannot create the folder ({exc.strerror or exc})") from None
    stems = _unique_stems([f.path for f in files])
    made = []
    for name, f, args in calls:
        prefix = f"{stems[f.path]}-" if f is not None and len(files) > 1 else ""
        made.append((name, save_figure(FIGURES[name].draw(*args), out_dir / f"{prefix}{name}.{fmt}")))
    return made


def _unique_stems(paths: Sequence[Path]) -> dict[Path, str]:
    """File stems, numbered where two files share one."""
    stems = [p.stem for p in paths]
    return {p: s if stems.count(s) == 1 else f"{s}{k + 1}" for k, (p, s) in enumerate(zip(paths, stems))}
