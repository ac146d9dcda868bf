"""Figures from stored results (never from raw program files): the paper's figures, headless.

Every figure is a ``draw_<figure>(...)`` function that builds a :class:`matplotlib.figure.Figure`
from table rows (nothing saved, nothing shown: inspect its artists, tweak it, or display it in a
notebook); :func:`save_figure` saves it in the format of the file suffix (``.png``, ``.pdf`` or
``.svg``): ``save_figure(draw_band_edges(read_rows("results.h5", "gap")), "fig2c.pdf")``. A row is
a dict of a table row's columns and per-row arrays, as :func:`read_rows` (or the analyses in
:mod:`dftpost.batch`) give it.

To draw into a figure of your own, give the figures of one panel an Axes, ``ax=``, and the figures
of several panels (census, pdos-map, band-edges, field-response) an empty Figure or SubFigure,
``fig=``, to lay their panels, colour bar, legend and title out in::

    fig = Figure(layout="constrained")
    left, right = fig.subfigures(1, 2)
    draw_density(row, ax=left.add_subplot())
    draw_pdos_map(gap_row, fig=right)
    save_figure(fig, "fig1.pdf")

A SubFigure rather than a list of Axes because these figures own their layout: shared axes, width
ratios, a twin axis, the colour bar, a legend below the panels and a title over them. Every
``draw_`` function returns the Figure it drew in (the caller's whole Figure when given ``ax`` or
``fig``), so that ``save_figure(draw_...(...), path)`` works either way and a figure of several
panels, which has no one Axes, returns the same kind of thing as the others. Without ``ax`` or
``fig`` each draws a new figure of its own size. :data:`STYLE` applies to what the function draws;
the caller's axes keep their own tick, label and title sizes.

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

Modules: :mod:`~dftpost.plot.style` (style, saving, what the figures share), one per analysis
(:mod:`~dftpost.plot.dipole`, :mod:`~dftpost.plot.pdos_map`, :mod:`~dftpost.plot.bandedges`,
:mod:`~dftpost.plot.potential`, :mod:`~dftpost.plot.parity`), :mod:`~dftpost.plot.query` (the rows
of result files a figure is drawn from) and :mod:`~dftpost.plot.registry` (:data:`FIGURES`,
:func:`plot_results`).
"""

from __future__ import annotations

from .bandedges import draw_band_edges
from .dipole import (
    draw_acf,
    draw_census,
    draw_density,
    draw_dipole_distribution,
    draw_dipole_profile,
    draw_sigma_vs_thickness,
)
from .parity import draw_parity
from .pdos_map import draw_pdos_map
from .potential import draw_field_response, draw_potential_vs_cell
from .query import Need, read_rows
from .registry import FIGURES, FigureSpec, available_figures, plot_results
from .style import COLOURS, FORMATS, STYLE, draw_and_save, save_figure

#: Draw and save in one call, by the names the command line's ``--plot`` (field-profile, fit-charge)
#: and the README use.
field_response_figure = draw_and_save(draw_field_response)
parity_figure = draw_and_save(draw_parity)
band_edges_figure = draw_and_save(draw_band_edges)

__all__ = [
    "COLOURS",
    "FIGURES",
    "FORMATS",
    "STYLE",
    "FigureSpec",
    "Need",
    "available_figures",
    "band_edges_figure",
    "draw_acf",
    "draw_and_save",
    "draw_band_edges",
    "draw_census",
    "draw_density",
    "draw_dipole_distribution",
    "draw_dipole_profile",
    "draw_field_response",
    "draw_parity",
    "draw_pdos_map",
    "draw_potential_vs_cell",
    "draw_sigma_vs_thickness",
    "field_response_figure",
    "parity_figure",
    "plot_results",
    "read_rows",
    "save_figure",
]
