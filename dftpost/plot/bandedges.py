"""Band edges and the water gap of many runs against their dipole, from ``gap`` rows (paper Fig. 2c)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..analysis.water_gap import gap_by_dipole
from ..errors import MissingInputError
from .style import COLOURS, STYLE, _integer_ticks, _panels, _root, _styled, _value

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with this module
    from matplotlib.figure import Figure, SubFigure


def _bin_edges(values: np.ndarray, width: float) -> np.ndarray:
    """Edges of bins of ``width`` centred on its multiples (as :func:`gap_by_dipole` bins)."""
    index = np.rint(values / width)
    return (np.arange(index.min(), index.max() + 2) - 0.5) * width


@_styled
def draw_band_edges(rows: Sequence[dict], bin_width_e_per_A: float = 0.005, *,
                    fig: Figure | SubFigure | None = None) -> Figure:
    """Water VBM and CBM (eV vs E_F) of every run against its total dipole μ_z (e/Å), metallized
    runs ringed, the μ_z histogram behind (runs, right axis); below, the gap per run and its mean
    ± std in μ_z bins of ``bin_width_e_per_A`` (by :func:`~dftpost.analysis.water_gap.gap_by_dipole`,
    as ``dftpost summary``) (paper Fig. 2c).

    ``rows``: ``gap`` rows with ``dipole_e_per_A``, ``vbm_eV``, ``cbm_eV``, ``gap_eV`` and
    ``metallized`` (scalars only; each run once, see :func:`read_rows`); ``reference_eV``, where
    it is not E_F (water alone: the middle of the gap), is marked too. Rows with
    ``vbm_vs_vacuum_eV``/``cbm_vs_vacuum_eV`` add a third panel: the edges against the vacuum level.

    ``fig``: an empty Figure or SubFigure to lay the panels out in (default: a new figure); returns the Figure it is in.
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
    fig, axes = _panels(fig, 3 if vacuum else 2, 1, (4.8, 7.2 if vacuum else 5.2), sharex=True)
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
    if metallized.any():  # a ring around each edge, which stays visible inside it
        ax_e.plot(np.r_[mu[metallized], mu[metallized]], np.r_[vbm[metallized], cbm[metallized]], "o", mfc="none",
                  color=COLOURS["metallized"], ms=9, mew=0.8, label="metallized")
    ax_e.margins(y=0.1)  # markers whole inside the axes
    ax_e.axhline(0.0, color=COLOURS["fermi"], ls="--", lw=0.8, label="E_F")
    reference = np.array([r.get("reference_eV", np.nan) for r in rows], float)
    if np.any(np.isfinite(reference) & (reference != 0.0)):  # water alone: metallized is judged by mid-gap
        ax_e.plot(mu, reference, "_", color=COLOURS["fermi"], ms=8, label="reference")
    ax_e.set_ylabel("band edge − E_F (eV)")
    fig.suptitle(f"{len(rows)} run{'' if len(rows) == 1 else 's'}, {int(metallized.sum())} metallized", fontsize=STYLE["axes.titlesize"])
    handles, labels = ax_e.get_legend_handles_labels()
    ax_e.legend(handles + [bars], labels + [bars.get_label()], loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3,
                fontsize=7, handletextpad=0.3, columnspacing=1.0)
    bins = gap_by_dipole(mu, gap, metallized, bin_width_e_per_A)
    ax_g.plot(mu, gap, "o", mfc="none", mec="0.45", zorder=3, label="runs")  # hollow, over the bin means: both show
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
    return _root(fig)
