"""The fit of the oxygen charge: fixed-charge against DFT dipoles, from a ``charge_fit`` row (paper Fig. S1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .style import _BREAKDOWN_EDGE, COLOURS, _figure_and_axes, _root, _styled, _value

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with this module
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@_styled
def draw_parity(row: dict, *, ax: Axes | None = None) -> Figure:
    """Fixed-charge against DFT dipole per area (e/Å), one point per frame, the frames left out
    hollow, the excluded range |μ_DFT| ≥ ``max_dipole_e_per_A`` shaded (paper Fig. S1).
    ``row``: a ``charge_fit`` row.

    The axes reach past the excluded range's edge when it lies within twice the largest dipole,
    so that the cut shows; otherwise the title names the cut. Only
    what is drawn is in the legend.

    ``ax``: the Axes to draw into (default: a new figure); returns the Figure it is in.
    """
    lever, dft, used = (np.asarray(_value(row, k)) for k in ("lever", "dft_dipole", "used"))
    fitted = row["q_o_e"] * lever + row["intercept_e_per_A"]
    cut = float(row["max_dipole_e_per_A"])
    fig, ax = _figure_and_axes(ax, (4.2, 4.2))
    ok = np.isfinite(lever)
    left_out = ok & (used == 0)
    # the points above the shaded range and the line, the left-out frames on top of all
    ax.scatter(dft[ok & (used == 1)], fitted[ok & (used == 1)], color="C0", zorder=3, label="used in the fit")
    if left_out.any():
        ax.scatter(dft[left_out], fitted[left_out], facecolors="white", edgecolors="C3", linewidths=1.5,
                   zorder=4, label="left out")
    span = np.nanmax(np.abs(np.concatenate([dft[ok], fitted[ok]]))) * 1.1
    shown = cut < 2 * span
    if shown:
        span = max(span, 1.15 * cut)
    ax.plot([-span, span], [-span, span], color="k", lw=0.8, zorder=2, label="fixed-charge = DFT")
    if shown:
        ax.axvspan(-span, -cut, fc=COLOURS["breakdown"], **_BREAKDOWN_EDGE, zorder=0, label=f"|μ_DFT| ≥ {cut:g} e/Å: left out")
        ax.axvspan(cut, span, fc=COLOURS["breakdown"], **_BREAKDOWN_EDGE, zorder=0)
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_xlabel("DFT dipole per area (e/Å)")
    ax.set_ylabel("fixed-charge dipole per area (e/Å)")
    cut_text = "" if shown else f"\nthe cut |μ_DFT| ≥ {cut:g} e/Å lies beyond the axes"
    ax.set_title(f"q_O = {row['q_o_e']:.4f} ± {row['q_o_stderr_e']:.4f} e, R² = {row['r2']:.3f}{cut_text}")
    ax.legend(loc="upper left", fontsize=8)
    return _root(fig)
