"""The z-resolved water PDoS with its local band edges, from a ``gap`` row (paper Fig. 2a)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import MissingInputError
from .style import COLOURS, _array, _panels, _root, _run_label, _styled

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with this module
    from matplotlib.figure import Figure, SubFigure


@_styled
def draw_pdos_map(row: dict, *, fig: Figure | SubFigure | None = None) -> Figure:
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

    ``fig``: an empty Figure or SubFigure to lay the panels out in (default: a new figure); returns the Figure it is in.
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
    fig, axes = _panels(fig, 1, ncols, (6.8 if has_substrate else 5.8, 3.9), sharey=True,
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
    return _root(fig)
