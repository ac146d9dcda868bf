"""The registry of figures (:data:`FIGURES`: what draws each and what it reads) and the drawing of
the registered figures from result files (:func:`plot_results`, :func:`available_figures`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DftpostError, MissingInputError
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
from .query import Need, _ResultFile
from .style import FORMATS, save_figure

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with this module
    from matplotlib.figure import Figure


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


def _collect(spec: FigureSpec, files: Sequence[_ResultFile], run: str | None, strict: bool) -> list[tuple[_ResultFile | None, tuple]]:
    """The calls of ``spec.draw`` for these files: (file, arguments) per figure to make.

    ``strict``: a file without the data is an error (the figure was asked for); otherwise it
    is left out (and the figure too when no file has its data)."""
    if spec.one_row:
        calls: list[tuple[_ResultFile | None, tuple]] = []
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
    names = [n for n in FIGURES if n in which] if which else list(FIGURES)
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
