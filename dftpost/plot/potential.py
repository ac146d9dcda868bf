"""Potential figures: ΔV over atoms against the cell length, from ``potential`` rows (paper
Fig. 3c), and the response to an applied field, from a ``field_profile`` row (Fig. 2b)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np

from ..errors import MissingInputError
from .style import COLOURS, _array, _figure_and_axes, _panels, _root, _styled, _value

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with this module
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

_REGION_COLOURS = {"vacuum_below": "#dde8f5", "vacuum_above": "#dde8f5", "water": "#d9f0d9", "metal": "#eeeeee"}


@_styled
def draw_potential_vs_cell(rows: Sequence[dict], *, ax: Axes | None = None) -> Figure:
    """Distribution of the per-frame potential difference ΔV (V, max − min over atoms of the
    Gaussian-charge potential) against the cell length (Å, cube root of the cell volume): one
    violin and mean ± std per cell length, trajectories of equal length (to 0.01 Å) pooled
    (paper Fig. 3c).

    ``rows``: ``potential`` rows with ``cell_length_A`` and ``delta_v`` (``sigma_A``,
    ``self_term`` for the title; ``gap_eV``, when all rows share it, as a dashed line: the ΔV
    that closes the gap). The error-bar line holds the means in order of cell length.

    ``ax``: the Axes to draw into (default: a new figure); returns the Figure it is in.
    """
    if not rows:
        raise MissingInputError(None, "no potential rows to draw")
    groups: dict[float, list[np.ndarray]] = {}
    for r in rows:
        groups.setdefault(round(float(_value(r, "cell_length_A")), 2), []).append(_array(r, "delta_v"))
    positions = np.array(sorted(groups))
    data = [np.concatenate(groups[p]) for p in positions]
    width = 0.7 * float(np.diff(positions).min()) if positions.size > 1 else max(0.1 * positions[0], 0.5)
    fig, ax = _figure_and_axes(ax)
    spread = [i for i, d in enumerate(data) if d.size > 1 and np.ptp(d) > 0]  # a violin needs a spread
    if spread:
        parts = ax.violinplot([data[i] for i in spread], positions[spread], widths=width, showextrema=False)
        for k, (body, i) in enumerate(zip(cast(list, parts["bodies"]), spread)):  # matplotlib types the bodies as one Collection
            body.set(facecolor=COLOURS["potential"], edgecolor="none", alpha=0.35, gid=f"violin {positions[i]:g}",
                     label="distribution over frames" if k == 0 else None)
    ax.errorbar(positions, np.array([d.mean() for d in data]), np.array([d.std() for d in data]), fmt="o", color=COLOURS["potential"],
                capsize=3, label="mean ± std")
    gaps = {float(r.get("gap_eV", np.nan)) for r in rows}
    if len(gaps) == 1 and math.isfinite(gap := gaps.pop()):
        ax.axhline(gap, color=COLOURS["breakdown_line"], ls="--", lw=0.8, label=f"ΔV = E_gap/e = {gap:g} V")
    ax.set_xlabel("cell length Ω^(1/3) (Å)")
    ax.set_ylabel("ΔV over atoms (V)")
    sigmas = sorted({float(r.get("sigma_A", np.nan)) for r in rows})
    self_terms = sorted({int(r.get("self_term", -1)) for r in rows})
    self_texts: dict[tuple[int, ...], str] = {(0,): "without", (1,): "with"}
    self_text = self_texts.get(tuple(self_terms), "with and without")
    ax.set_title(f"Gaussian σ = {', '.join(f'{s:g}' for s in sigmas)} Å, {self_text} self term; "
                 f"{sum(d.size for d in data)} frames")
    ax.legend()
    return _root(fig)


@_styled
def draw_field_response(row: dict, *, fig: Figure | SubFigure | None = None) -> Figure:
    """ΔV(z) (V) and Δρ(z) (e/Å³) of a field/no-field pair against z (Å) with the fitted regions
    shaded (paper Fig. 2b). ``row``: a ``field_profile`` row with its arrays.

    ``fig``: an empty Figure or SubFigure to lay the panels out in (default: a new figure); returns the Figure it is in.
    """
    regions = json.loads(_value(row, "parameters"))["regions"]
    fig, (ax_v, ax_rho) = _panels(fig, 2, 1, (5.5, 5.0), sharex=True)
    named = set()
    for ax in (ax_v, ax_rho):
        for r in regions:
            kind = r["name"].split("_")[0]  # vacuum_below and vacuum_above: one legend entry
            label = None
            if ax is ax_rho and kind not in named:
                label = f"{kind}: fitted region"
                named.add(kind)
            ax.axvspan(r["low_A"], r["high_A"], color=_REGION_COLOURS.get(r["name"], "#f5f5f5"), lw=0, label=label)
    ax_v.plot(_array(row, "z"), _array(row, "delta_v"), color=COLOURS["planar"], label="ΔV (planar)")
    ax_v.plot(row["z"], _array(row, "macroscopic_delta_v"), color=COLOURS["macroscopic"], ls="--", label="ΔV (macroscopic)")
    ax_v.set_ylabel("ΔV (V)")
    ax_v.set_title(
        f"E = {row['applied_field_V_per_A']:.3g} V/Å; water {row['field_water_V_per_A']:.3g} V/Å, "
        f"screening {row['screening']:.2f}"
    )
    ax_v.legend(loc="best")
    ax_rho.plot(row["z"], _array(row, "delta_rho"), color=COLOURS["charge"], label="Δρ (planar)")
    ax_rho.axhline(0.0, color="0.5", lw=0.5)  # grey: not mistaken for Δρ
    ax_rho.set_ylabel("Δρ (e/Å³)")
    ax_rho.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3), useMathText=True)  # 2×10⁻⁴, not 0.0002
    ax_rho.set_xlabel(f"{row['axis']} (Å)")
    ax_rho.legend(loc="best", fontsize=8)
    return _root(fig)
