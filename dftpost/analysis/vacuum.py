"""Vacuum levels of a slab from its electrostatic-potential cube (METHODS §4, band alignment).

A dipole-corrected slab has a flat potential in the vacuum on each side, the two plateaus apart
by the slab's dipole step ΔV = μ/(ε0 A), with the correction's jump between them in the vacuum.
The planar average of the potential along the normal is taken, the vacuum is the widest gap
between atoms (heights folded into the cell), and its two parts on either side of the jump
(the steepest step of the profile between planes farther than ``margin_A`` from the atoms; the
middle of the vacuum, where dftpost's CP2K inputs put the correction plane, when no step exceeds
the flatness tolerance: a dipole too small for its jump to stand out of the profile's tails) are the lower vacuum (just below the lowest
atom, through the periodic boundary) and the upper vacuum (above the highest atom). A plateau is
the mean over the points farther than ``margin_A`` from every atom and ``jump_margin_A`` from the
jump; its spread (max − min over those points) says how flat it is.

Energy zero: the vacuum level is the electron's potential energy −e·φ in eV, on the program's
energy zero when the cube's potential and the eigenvalues share it. CP2K (checked in v2023.1
``src/surface_dipole.F``: ``calc_dipsurf_potential``, and ``src/qs_scf_post_gpw.F``, the
V_HARTREE_CUBE print key) writes ``v_hartree_rspace``: the periodic Hartree potential of
electrons and Gaussian cores (zero average) plus the dipole correction's linear term
4πμ(h/L − ½)/A (zero average), the same array the Kohn–Sham matrix is built from; exchange and
correlation and the local pseudopotential vanish in the vacuum. So −e·φ in the vacuum is the
vacuum level on the eigenvalues' zero. An applied field's potential is not in CP2K 2023.1's cube
(the vacuum is then not flat in reality): such runs get no vacuum level.

The vacuum scale of a run (:func:`vacuum_scale`) puts those levels, or the ones FHI-aims printed,
on the band edges' energy scale (eV relative to E_F) and says which side the edges are read
against; a cell without vacuum (water between two slabs) has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..errors import DftpostError
from ..grid import CubeHeader, Grid
from ..run import Run
from .geometry import cell_widths, full_rank_cell, widest_gap
from .profiles import planar_average, plane_spacing_A
from .water_selection import WaterSelection

#: Distance from every atom beyond which the vacuum counts as a plateau (Å).
DEFAULT_MARGIN_A = 3.0
#: Distance kept from the dipole correction's jump (Å).
DEFAULT_JUMP_MARGIN_A = 1.0
#: Largest spread (max − min, eV) of a plateau that counts as a vacuum level: a slab without the
#: dipole correction has a sloped vacuum (2.3 eV across it on a real CP2K water slab), a
#: corrected one is flat to 3e-4 eV.
DEFAULT_MAX_SPREAD_EV = 0.05
#: Narrowest gap between atoms along the normal (Å) that counts as a vacuum: twice the margin a
#: plateau keeps from the atoms, the least in which :func:`vacuum_levels` can find a level. Slabs
#: and water hold no such gap: 2.6 Å at most in the metal/water/metal fixture, against 13–15 Å of
#: vacuum in the slab fixtures.
MIN_VACUUM_GAP_A = 2 * DEFAULT_MARGIN_A


@dataclass(frozen=True)
class VacuumLevels:
    """The two vacuum levels of a slab: the electron's potential energy (eV, program zero) in the
    vacuum above the highest atom (``upper``) and below the lowest (``lower``), each with its
    spread (max − min over the plateau, eV) and number of planes; the level is NaN where a side
    has no plane far enough from the atoms and the jump, or its spread exceeds the maximum (no
    plateau: a vacuum without the dipole correction slopes). ``jump_A`` is the height of the jump (Å)."""

    upper_eV: float
    lower_eV: float
    upper_spread_eV: float
    lower_spread_eV: float
    upper_planes: int
    lower_planes: int
    jump_A: float

    @property
    def step_eV(self) -> float:
        """Lower minus upper vacuum level (eV): the slab dipole's potential step, e·μ/(ε0 A) for a
        dipole μ along +z."""
        return self.lower_eV - self.upper_eV


def vacuum_levels(
    potential: Grid,
    axis: int = 2,
    margin_A: float = DEFAULT_MARGIN_A,
    jump_margin_A: float = DEFAULT_JUMP_MARGIN_A,
    max_spread_eV: float = DEFAULT_MAX_SPREAD_EV,
) -> VacuumLevels:
    """The :class:`VacuumLevels` of an electrostatic-potential grid (values: φ in V, as
    :func:`dftpost.io.cube.read_cube` returns them), with the atoms of the grid.

    Raises :class:`~dftpost.errors.DftpostError` (naming the cube) when the grid holds no atoms
    or the vacuum gap is narrower than twice ``margin_A``.
    """
    if potential.quantity != "electrostatic_potential":
        raise DftpostError(potential.source, f"not a potential cube ({potential.quantity})")
    if potential.atoms is None or len(potential.atoms) == 0:
        raise DftpostError(potential.source, "the cube lists no atoms: cannot tell the vacuum")
    z, phi = planar_average(potential, axis)
    energy = -phi  # electron potential energy, eV
    spacing = plane_spacing_A(potential, axis)
    length = spacing * z.size
    normal = np.cross(*[potential.voxel_A[i] for i in range(3) if i != axis])
    normal /= np.linalg.norm(normal)
    top, gap = widest_gap(potential.atoms.positions @ normal - z[0], length)  # the vacuum: highest atom up to the lowest (+L)
    if gap < 2 * margin_A:
        raise DftpostError(potential.source, f"the vacuum gap is {gap:.2f} Å, narrower than twice the {margin_A} Å margin")
    rel = np.mod(z - z[0] - top, length)  # height above the highest atom, through the boundary
    inside = rel < gap
    order = np.argsort(rel[inside])
    r, e = rel[inside][order], energy[inside][order]
    far = (r > margin_A) & (r < gap - margin_A)
    f = np.flatnonzero(far)
    if f.size < 3:
        raise DftpostError(potential.source, f"fewer than 3 grid planes lie {margin_A} Å away from the atoms")
    steps = np.abs(np.diff(e[f]))
    if steps.max() > max_spread_eV:  # the jump: steepest step between far planes
        j = f[int(np.argmax(steps))]
        jump = 0.5 * (r[j] + r[j + 1])
    else:  # a step within the flatness tolerance: no jump to find; split in the middle of the vacuum
        jump = 0.5 * gap
    upper = far & (r < jump - jump_margin_A)
    lower = far & (r > jump + jump_margin_A)

    def plateau(mask):
        if not mask.any():
            return float("nan"), float("nan"), 0
        spread = float(e[mask].max() - e[mask].min())
        return (float(e[mask].mean()) if spread <= max_spread_eV else float("nan")), spread, int(mask.sum())

    up, up_spread, n_up = plateau(upper)
    lo, lo_spread, n_lo = plateau(lower)
    return VacuumLevels(up, lo, up_spread, lo_spread, n_up, n_lo, float(np.mod(top + jump + z[0], length)))


@dataclass(frozen=True)
class VacuumScale:
    """The vacuum levels of a run in eV relative to E_F (the energy scale of the band edges):
    ``upper_eV`` above the slab, ``lower_eV`` below it (NaN where a side has no flat vacuum),
    ``side`` the one the main value is taken from (``"upper"`` or ``"lower"``; None when the cell
    has no vacuum), ``spread_eV`` the flatness of that plateau (max − min, eV; NaN when the
    program printed the level), ``source`` where the levels come from, ``note`` why there are
    none (then both NaN)."""

    upper_eV: float
    lower_eV: float
    side: str | None
    spread_eV: float
    source: str
    note: str = ""

    @property
    def level_eV(self) -> float:
        """The vacuum level on ``side`` (eV vs E_F; NaN without one)."""
        return {"upper": self.upper_eV, "lower": self.lower_eV}.get(self.side or "", float("nan"))


def vacuum_gap_A(atoms: Atoms, axis: int = 2) -> float:
    """Width (Å) of the widest gap between the atoms' heights along the normal to the two cell
    vectors other than ``axis``, through the periodic boundary; infinite when the structure is
    not periodic along ``axis``."""
    if not atoms.pbc[axis] or not atoms.cell[axis].any():
        return float("inf")
    cell = full_rank_cell(atoms.cell[:])
    normal = np.cross(*[cell[i] for i in range(3) if i != axis])
    normal /= np.linalg.norm(normal)
    return widest_gap(atoms.positions @ normal, float(cell_widths(cell)[axis]))[1]


def _no_vacuum(run: Run, axis: int) -> str:
    """Why the run's cell has no vacuum ("" when it has, or without a structure to tell)."""
    if run.atoms is not None and (gap := vacuum_gap_A(run.atoms, axis)) < MIN_VACUUM_GAP_A:
        return f"the cell has no vacuum (widest gap between atoms along the normal {gap:.2f} Å, under {MIN_VACUUM_GAP_A:g} Å)"
    return ""


def _no_level(run: Run) -> str:
    """Why a run with vacuum has no vacuum level ("" when it can have one)."""
    if run.fermi_level_eV is None:
        return "no Fermi level"
    if run.dipole_correction is None:
        return "no dipole correction: the vacuum potential slopes, no vacuum level"
    field = run.applied_field_V_per_A
    if field is not None and np.any(np.asarray(field) != 0):
        return "applied field: the vacuum potential slopes, no vacuum level"
    return ""


def potential_cube(run: Run, axis: int = 2) -> CubeHeader | None:
    """The electrostatic-potential cube whose grid :func:`vacuum_scale` needs for the run's vacuum
    levels (the first by name): None when it needs none, because the program printed the levels
    (FHI-aims) or the run can have none (no vacuum, no E_F, no dipole correction, an applied
    field) or lists no such cube."""
    if run.code == "fhi-aims" or _no_vacuum(run, axis) or _no_level(run):
        return None
    return min((c for c in run.cubes if c.quantity == "electrostatic_potential"), key=lambda c: c.path.name, default=None)


def vacuum_scale(run: Run, selection: WaterSelection, dipole_e_per_A: float, potential: Grid | None = None,
                 axis: int = 2) -> VacuumScale:
    """The vacuum levels of a run, relative to its printed E_F, and the side to read edges against.

    Side: with a substrate, the vacuum the selected water faces (beyond the water, where the
    water's outer surface meets the vacuum): upper when most selected water atoms lie above their
    nearest substrate atom. Water alone: the side of the layer whose states lie highest, which
    holds the VBM: below for a dipole μ ≥ 0 (e/Å) along the normal (the electron's potential
    energy is highest at the lower end), above for μ < 0. None when the cell has no vacuum (its
    widest gap between atoms along the normal is under :data:`MIN_VACUUM_GAP_A`).

    Sources: FHI-aims' printed vacuum levels of the dipole correction (internal zero, as its
    chemical potential); otherwise ``potential``, the electrostatic potential (V) of the cube
    :func:`potential_cube` names (CP2K's V_HARTREE cube, read by the caller:
    :func:`vacuum_levels`; its zero is the eigenvalues' zero). No level (NaN, with the note)
    without vacuum, a Fermi level or a dipole correction, with an applied field (CP2K's cube
    lacks its potential), or without the potential. Raises
    :class:`~dftpost.errors.DftpostError` naming the cube when its grid has no vacuum plateau to
    measure (:func:`vacuum_levels`).
    """
    nan = float("nan")
    if why := _no_vacuum(run, axis):
        return VacuumScale(nan, nan, None, nan, "", why)
    if selection.top_substrate_A is not None:
        side = "upper" if (selection.side > 0).sum() >= (selection.side < 0).sum() else "lower"
    else:
        side = "lower" if dipole_e_per_A >= 0 else "upper"
    fermi, correction = run.fermi_level_eV, run.dipole_correction
    if (why := _no_level(run)) or fermi is None or correction is None:
        return VacuumScale(nan, nan, side, nan, "", why)
    if run.code == "fhi-aims":
        upper, lower = correction.vacuum_levels_eV
        if upper is None or lower is None:
            return VacuumScale(nan, nan, side, nan, "", "FHI-aims printed no vacuum levels")
        return VacuumScale(upper - fermi, lower - fermi, side, nan, "vacuum levels printed by FHI-aims' dipole correction")
    if potential is None:
        cube = potential_cube(run, axis)
        why = "no electrostatic-potential cube" if cube is None else f"the potential of {cube.path.name} was not given"
        return VacuumScale(nan, nan, side, nan, "", why)
    levels = vacuum_levels(potential, axis)
    spread = levels.upper_spread_eV if side == "upper" else levels.lower_spread_eV
    name = potential.source.name if potential.source is not None else "the potential grid"
    return VacuumScale(levels.upper_eV - fermi, levels.lower_eV - fermi, side, spread,
                       f"plateaus of the planar average of {name}")
