"""Whether the water is metallized, and how that was decided (paper SM S1.2.2, METHODS §4).

A metal pins E_F: a run with partly filled states (a smeared metal, :func:`fermi_level_pinned`)
judges the band edges against the printed E_F. Water alone has no such pin (CP2K puts E_F at the
HOMO, FHI-aims' smeared μ may sit at a band edge), but the program knows which states are
occupied: where the DoS carries occupations (CP2K), the water is metallized when its occupied
and unoccupied states overlap or touch (electrons moved from one end of the slab to the other),
and the scans start at the middle between the highest occupied and the lowest unoccupied water
state (:class:`WaterLevels`), with no offset s (s steps over bands crossing a pinned E_F; here
the occupations already say where the gap is: :func:`edges_in_known_gap`). Beside a gapped
substrate (an oxide: every state full or empty, E_F its valence top) the occupations decide as
for water alone, on the water's own states (more than :data:`WATER_STATE_WEIGHT` of their weight
on the selected water: every state there has a Mulliken tail on it). Without occupations
(FHI-aims' broadened DoS) the edges are judged against the middle of the water's gap around E_F
(:func:`dftpost.analysis.bandedges.reference_level`). :func:`verdict` says how the verdict was
reached (``verdict_basis``); :func:`tails_caution` flags a metallized verdict against a pinned
E_F that only the substrate's tails on the water reached. Energies in eV relative to the printed
E_F.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dos import ProjectedDos
from ..run import FrontierStates
from .bandedges import BandEdgeParameters, BandEdges, find_band_edges

#: Least weight (0–1) a state of a run with a substrate must have on the selected water atoms to
#: count as a water state for the occupation rule (:func:`water_levels`): most of it. On the real
#: MgO(100)–water run the water's highest occupied state holds 0.99 there, the oxide's valence
#: top 0.0000–0.0006, its conduction bottom 0.07, the water's lowest unoccupied state 0.67.
WATER_STATE_WEIGHT = 0.5


def fermi_level_pinned(dos: ProjectedDos, tolerance: float = BandEdgeParameters.occupation_tolerance) -> bool | None:
    """Whether the run's E_F lies inside a band: True when some state (any projection, any spin)
    is partly filled (more than ``tolerance`` of its capacity and short of full by more), as a
    metal's states at E_F are under smearing; False when every state is full or empty (a gapped
    system: CP2K's E_F is then its highest occupied state, e.g. an oxide's valence top); None
    without occupations (a DoS on a grid)."""
    if not dos.is_discrete or dos.occupations is None:
        return None
    capacity = dos.spin_degeneracy
    partly = (dos.occupations > tolerance * capacity) & (dos.occupations < (1.0 - tolerance) * capacity)
    return bool(partly.any())


@dataclass(frozen=True)
class WaterLevels:
    """The highest occupied and the lowest unoccupied water state (eV vs E_F), read from the
    occupations of a discrete DoS (every spin channel together). A partly filled state is both."""

    highest_occupied_eV: float
    lowest_unoccupied_eV: float

    @property
    def metallized(self) -> bool:
        """Occupied and unoccupied water states overlap or touch."""
        return self.highest_occupied_eV >= self.lowest_unoccupied_eV

    @property
    def middle_eV(self) -> float:
        return 0.5 * (self.highest_occupied_eV + self.lowest_unoccupied_eV)


def water_levels(
    dos: ProjectedDos, tolerance: float = BandEdgeParameters.occupation_tolerance, min_weight: float = 0.0
) -> WaterLevels | None:
    """The :class:`WaterLevels` of the states with more than ``min_weight`` (0–1) of their weight
    on the projections of ``dos`` (the water PDoS), or None when ``dos`` has no occupations (a
    DoS on a grid) or lacks occupied or unoccupied such states (a run that printed no virtual
    states). A state holding less than ``tolerance`` of its capacity is empty, one short of less
    than ``tolerance`` full (CP2K prints occupations to 1e-6; a smeared insulator's tails are far
    smaller). Water alone: every state (``min_weight`` 0); beside a substrate every state has a
    Mulliken tail on the water, and :data:`WATER_STATE_WEIGHT` keeps the water's own states."""
    if dos.eigenvalues_eV is None or dos.occupations is None:  # a DoS on a grid: no states
        return None
    on_water = dos.values.sum(axis=1) > min_weight  # (spin, state)
    capacity = dos.spin_degeneracy
    occupied = on_water & (dos.occupations > tolerance * capacity)
    vacant = on_water & (dos.occupations < (1.0 - tolerance) * capacity)
    if not occupied.any() or not vacant.any():
        return None
    return WaterLevels(float(dos.eigenvalues_eV[occupied].max()), float(dos.eigenvalues_eV[vacant].min()))


def printed_levels(states: FrontierStates, fermi_level_eV: float, tolerance: float) -> WaterLevels:
    """The :class:`WaterLevels` (eV vs E_F) of the highest occupied and lowest unoccupied state
    a program printed for the whole system, which for water alone are the water's. A printed
    lowest unoccupied state holding more than ``tolerance`` of its capacity is also occupied, a
    highest occupied one short of more than that also empty (as :func:`water_levels` counts a
    partly filled state as both), so partial filling reads as occupied and empty states that touch."""
    homo, lumo = states.highest_occupied_eV - fermi_level_eV, states.lowest_unoccupied_eV - fermi_level_eV
    highest = max(homo, lumo) if states.lowest_unoccupied_occupation > tolerance * states.capacity else homo
    lowest = min(homo, lumo) if states.highest_occupied_occupation < (1.0 - tolerance) * states.capacity else lumo
    return WaterLevels(float(highest), float(lowest))


def edges_in_known_gap(energies: np.ndarray, dos: np.ndarray, dipole: float, threshold: float, separation_eV: float,
                       levels: WaterLevels) -> BandEdges:
    """Edges of water alone whose occupations locate its gap (eV vs E_F), in the water PDoS
    ``dos`` (states/eV) on ``energies`` (eV vs E_F) with the threshold T (states/eV), the dipole
    (e/Å) choosing which edge is sought first (:func:`~dftpost.analysis.bandedges.find_band_edges`).

    With the occupied and unoccupied states apart and the water PDoS below T in the middle
    between them, both thresholded scans start there (s = 0, the second scan not δ beyond the
    first edge, which would step over the other edge of a gap narrower than 2 × tail + δ).
    Otherwise no threshold crossing separates the bands at the reference: a gap narrower than the
    broadening, or occupied and unoccupied states that overlap (metallized water, where a scan
    leaving the band at the reference would take a deeper band for the edge). The edges are then
    the highest occupied and the lowest unoccupied water state, and a negative gap is their overlap.
    """
    middle = levels.middle_eV
    if not levels.metallized and np.interp(middle, energies, dos) <= threshold:
        return find_band_edges(energies, dos, dipole, threshold, 0.0, separation_eV, middle, second_from_reference=True)
    why = (
        "occupied and unoccupied water states overlap"
        if levels.metallized
        else "the water PDoS exceeds T across the "
        f"{levels.lowest_unoccupied_eV - levels.highest_occupied_eV:.3f} eV between the highest occupied and lowest "
        "unoccupied water states (a gap narrower than the broadening)"
    )
    return BandEdges(
        vbm_eV=levels.highest_occupied_eV,
        cbm_eV=levels.lowest_unoccupied_eV,
        threshold_states_per_eV=float(threshold),
        branch="occupations: edges are the highest occupied and lowest unoccupied water states",
        started_in_band=False,
        reference_eV=middle,
        notes=(f"{why}: edges taken from the occupations",),
        start_offset_eV=0.0,
    )


def verdict(edges: BandEdges, levels: WaterLevels | None, pinned: bool) -> tuple[bool, str]:
    """Whether the water is metallized and how that was decided (``pinned``: a substrate's
    partly filled states pin E_F)."""
    if pinned:
        return edges.metallized, "band edges against the Fermi level pinned by the substrate"
    if levels is None:
        return edges.metallized, "band edges against the middle of the water gap in the broadened DoS (no occupations in the run)"
    return levels.metallized, (
        f"occupations: highest occupied water state {levels.highest_occupied_eV:+.3f} eV, lowest unoccupied "
        f"{levels.lowest_unoccupied_eV:+.3f} eV ({'overlap or touch: metallized' if levels.metallized else 'apart'})"
    )


def tails_caution(selected: ProjectedDos, params: BandEdgeParameters) -> str:
    """A caution for a metallized verdict against a pinned E_F that no state of the water's own
    reached: every state within 3σ of E_F has less than :data:`WATER_STATE_WEIGHT` of its weight
    on the selected water (its PDoS there is the substrate's tails), while the water's own
    occupied (more than half full) and empty (less than half) states lie apart. The verdict stays the paper's rule; "" when it does
    not apply (states of the water's own at E_F, or a DoS without occupations)."""
    # occupied: more than half full (a smeared run's thermal holes and tails are not partial filling here)
    own = water_levels(selected, 0.5, WATER_STATE_WEIGHT)
    window = 3 * params.sigma_eV
    if own is None or own.highest_occupied_eV >= -window or own.lowest_unoccupied_eV <= window:
        return ""
    return (f"; caution: the edge reached E_F on states with less than {WATER_STATE_WEIGHT:g} of their weight on "
            f"the water (the substrate's tails); the water's own states lie apart, highest occupied "
            f"{own.highest_occupied_eV:+.3f} eV, lowest unoccupied {own.lowest_unoccupied_eV:+.3f} eV: see the local edges")

