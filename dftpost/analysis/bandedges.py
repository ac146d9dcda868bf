"""The band-edge search: the water's VBM and CBM in its projected DoS by the paper's thresholded
scan (paper SM S1.0.5, METHODS §4), its parameters, its threshold and the level it starts from.

1. μ_z < 0 (bands tilt up): scan down from E_F + s for the first energy whose water PDoS exceeds
   T: the VBM; then up from VBM + δ for the first energy above T: the CBM.
2. μ_z ≥ 0 (bands tilt down): scan up from E_F − s: the CBM; then down from CBM − δ: the VBM.
3. Gap = CBM − VBM; the water is metallized when VBM ≥ E_F or CBM ≤ E_F.

Energies are eV relative to E_F as the program printed it. The scans start from a reference
level (:func:`reference_level`): E_F when a metal pins it; without occupations (FHI-aims'
broadened DoS) and nothing pinning E_F, the middle of the water's gap around E_F in the
broadened DoS. Where the occupations locate the water's gap, the scans start in its middle
(:mod:`dftpost.analysis.metallization`, which also says how the verdict is reached). A first
scan that starts inside a band which reaches the reference has met a band crossing it: the edge
is the starting point, as in the paper's literal rule. A scan that starts inside any other band
(the other band's tail) first leaves it in the direction of the scan and records it
(``started_in_band``), so it is not mistaken for the edge sought.

Defaults are choices of dftpost (the paper's values were lost from its text): ``d_cut`` 3.5 Å,
T = 0.01 states/eV per water atom, s = 1.0 eV, δ = 0.5 eV, Gaussian broadening σ = 0.1 eV on a
0.02 eV grid for programs that print eigenvalues (CP2K).

The analysis of a run (water selection, dipole, this search, the verdict, z-resolved edges, the
vacuum scale) is :func:`dftpost.analysis.water_gap.water_gap`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import defaults
from ..dos import DEFAULT_SIGMA_EV, DEFAULT_SPACING_EV
from ..errors import DftpostError
from .dipole import DEFAULT_Q_O
from .molecules import DEFAULT_R_OH


@dataclass(frozen=True)
class BandEdgeParameters:
    """Parameters of the band-edge search, recorded with every result.

    ``threshold_mode``: ``"per_atom"`` (T = threshold × number of water atoms, states/eV),
    ``"absolute"`` (T = threshold, states/eV) or ``"relative"`` (T = threshold × the maximum
    of the water PDoS). ``start_offset_eV`` is s, ``separation_eV`` is δ; ``sigma_eV`` and
    ``spacing_eV`` apply to eigenvalue DoS (CP2K); ``q_o_e`` and ``r_oh_A`` to the fixed-charge
    dipole; ``axis`` is the surface normal (0, 1, 2); ``z_bin_A`` the width of the z bins of the
    z-resolved PDoS and ``local_threshold_fraction`` f the floor of a bin's own threshold (a bin's
    local edges use max(T of the bin's atoms, f × the bin's own PDoS maximum), so that the tail
    a neighbouring layer's states leave in the bin's projection cannot set its edges; see
    :mod:`dftpost.analysis.water_gap`); ``occupation_tolerance`` the fraction of a state's
    capacity below which it counts as empty (and short of which as full) when the occupations
    decide the verdict of water alone.
    """

    d_cut_A: float = defaults.D_CUT_A
    threshold: float = defaults.THRESHOLD
    threshold_mode: str = defaults.THRESHOLD_MODE
    start_offset_eV: float = defaults.START_OFFSET_EV
    separation_eV: float = defaults.SEPARATION_EV
    sigma_eV: float = DEFAULT_SIGMA_EV
    spacing_eV: float = DEFAULT_SPACING_EV
    q_o_e: float = DEFAULT_Q_O
    r_oh_A: float = DEFAULT_R_OH
    axis: int = 2
    z_bin_A: float = 3.0
    local_threshold_fraction: float = 0.02
    occupation_tolerance: float = 1e-3

    def __post_init__(self):
        if self.threshold_mode not in ("per_atom", "absolute", "relative"):
            raise DftpostError(None, f"threshold mode must be per_atom, absolute or relative, not {self.threshold_mode!r}")
        for name in ("d_cut_A", "threshold", "start_offset_eV", "separation_eV", "sigma_eV", "spacing_eV", "q_o_e", "r_oh_A", "z_bin_A"):
            if not math.isfinite(getattr(self, name)):
                raise DftpostError(None, f"{name} must be a finite number, got {getattr(self, name)}")
        for name in ("threshold", "sigma_eV", "spacing_eV", "z_bin_A", "r_oh_A"):
            if not getattr(self, name) > 0:
                raise DftpostError(None, f"{name} must be positive, got {getattr(self, name)}")
        if self.start_offset_eV < 0 or self.separation_eV <= 0 or self.d_cut_A < 0:
            raise DftpostError(None, "start offset and d_cut must be >= 0 and the separation > 0")
        if not 0 <= self.local_threshold_fraction < 1:
            raise DftpostError(None, f"local_threshold_fraction must lie in [0, 1), got {self.local_threshold_fraction}")
        if not 0 < self.occupation_tolerance < 0.5:
            raise DftpostError(None, f"occupation_tolerance must lie between 0 and 0.5, got {self.occupation_tolerance}")
        if self.axis not in (0, 1, 2):
            raise DftpostError(None, f"axis must be 0, 1 or 2 (x, y, z), got {self.axis}")


@dataclass(frozen=True)
class BandEdges:
    """Result of the search on one DoS. Energies in eV relative to E_F; ``threshold_states_per_eV``
    is the T actually used, ``start_offset_eV`` the s; ``branch`` says which edge was searched
    first."""

    vbm_eV: float
    cbm_eV: float
    threshold_states_per_eV: float
    branch: str
    started_in_band: bool
    reference_eV: float = 0.0
    notes: tuple[str, ...] = ()
    start_offset_eV: float = 1.0
    band_crosses_reference: bool = False

    @property
    def gap_eV(self) -> float:
        return self.cbm_eV - self.vbm_eV

    @property
    def metallized(self) -> bool:
        """VBM at or above the reference level, CBM at or below it, or the first scan started in
        a band that reaches the reference (its edge, taken where the scan began, may then lie a
        grid step on the near side of the reference)."""
        return self.band_crosses_reference or self.vbm_eV >= self.reference_eV or self.cbm_eV <= self.reference_eV


def _check_search_input(energies, dos, dipole, threshold, start_offset, separation, reference) -> None:
    if energies.ndim != 1 or dos.shape != energies.shape:
        raise DftpostError(
            None, f"energies {energies.shape} and DoS {dos.shape} must be 1-D arrays of the same length"
        )
    if energies.size == 0:
        raise DftpostError(None, "no energies: the DoS is empty")
    if not np.isfinite(energies).all():
        raise DftpostError(None, "the energies are not finite numbers")
    if np.any(np.diff(energies) <= 0):
        raise DftpostError(None, "the energies must be increasing")
    if not np.isfinite(dos).all():
        raise DftpostError(None, "the DoS values are not finite numbers")
    for name, value in (("threshold", threshold), ("dipole", dipole), ("reference level", reference)):
        if not math.isfinite(value):
            raise DftpostError(None, f"the {name} must be a finite number, got {value}")
    if not threshold > 0:
        raise DftpostError(None, f"the threshold must be positive, got {threshold} states/eV")
    if not (math.isfinite(start_offset) and start_offset >= 0):
        raise DftpostError(None, f"the start offset must be a finite number >= 0, got {start_offset} eV")
    if not (math.isfinite(separation) and separation > 0):
        raise DftpostError(None, f"the separation must be a finite number > 0, got {separation} eV")


def _scan(above: np.ndarray, start: int, step: int) -> tuple[int | None, bool, int | None]:
    """First index at or beyond ``start`` (moving by ``step``) where ``above`` is True, after
    leaving the band ``start`` may be inside. Returns (index, started in a band, last index of
    that band, or None if it runs to the end of the grid)."""
    n = above.size
    i = start
    in_band = bool(above[i]) if 0 <= i < n else False
    band_edge = None
    if in_band:
        while 0 <= i < n and above[i]:
            i += step
        band_edge = i - step if 0 <= i < n else None
    while 0 <= i < n and not above[i]:
        i += step
    return (i if 0 <= i < n else None), in_band, band_edge


def find_band_edges(
    energies_eV: np.ndarray,
    dos: np.ndarray,
    dipole_e_per_A: float,
    threshold_states_per_eV: float,
    start_offset_eV: float = 1.0,
    separation_eV: float = 0.5,
    reference_eV: float = 0.0,
    second_from_reference: bool = False,
) -> BandEdges:
    """VBM and CBM of a DoS on an increasing grid (eV vs E_F), by the paper's thresholded scan.

    The scans start at ``reference_eV ± s`` (the reference is E_F, 0, unless the caller knows
    better) and the water is metallized when an edge reaches the reference. The second scan
    starts δ beyond the first edge, or, with ``second_from_reference`` (for a reference known to
    lie in the gap, where δ could step over a narrow gap's other edge), at the reference itself.

    Raises :class:`~dftpost.errors.DftpostError` when the DoS never exceeds the threshold on the
    side searched (no band found within the grid), and for input the search cannot use: energies
    that are not finite and increasing, a DoS of another length or with NaN/Inf, a threshold,
    dipole, offset, separation or reference that is not a finite number (or out of its range).
    """
    energies_eV = np.asarray(energies_eV, dtype=float)
    dos = np.asarray(dos, dtype=float)
    _check_search_input(energies_eV, dos, dipole_e_per_A, threshold_states_per_eV, start_offset_eV, separation_eV, reference_eV)
    above = dos > threshold_states_per_eV
    if not above.any():
        raise DftpostError(
            None, f"the water PDoS never exceeds the threshold {threshold_states_per_eV:.4g} states/eV"
        )
    notes: list[str] = []
    crossing: list[bool] = []  # set when the first scan starts in a band reaching the reference

    def index_at(energy: float, side: str) -> int:
        i = int(np.searchsorted(energies_eV, energy, side="right")) - 1 if side == "below" else int(
            np.searchsorted(energies_eV, energy, side="left")
        )
        return min(max(i, 0), energies_eV.size - 1)

    def search(start_energy: float, step: int, what: str, first: bool) -> tuple[int, bool]:
        start = index_at(start_energy, "below" if step < 0 else "above")
        found, in_band, band_edge = _scan(above, start, step)
        if in_band:
            beyond = band_edge is None or energies_eV[band_edge] * step >= reference_eV * step
            if found is None or (first and beyond):
                # the band holding the start reaches the reference (or never ends): it crosses
                # the reference, the water is metallic, and the edge is where the scan began
                notes.append(
                    f"the {what} scan started at {start_energy:+.3f} eV inside a band that reaches "
                    f"the reference level: edge taken at the start"
                )
                crossing.append(first and beyond)
                return start, True
            notes.append(
                f"the {what} scan started at {start_energy:+.3f} eV inside a band; left it at "
                f"{energies_eV[band_edge]:+.3f} eV before searching"
            )
        if found is None:
            raise DftpostError(
                None,
                f"no {what}: the water PDoS stays below {threshold_states_per_eV:.4g} states/eV "
                f"{'below' if step < 0 else 'above'} {start_energy:+.3f} eV",
            )
        return found, in_band

    if dipole_e_per_A < 0:
        vbm, in_band = search(reference_eV + start_offset_eV, -1, "VBM", first=True)
        second = reference_eV if second_from_reference else energies_eV[vbm] + separation_eV
        cbm, _ = search(second, +1, "CBM", first=False)
        branch = "dipole<0: VBM searched down from reference+s, then CBM up from " + (
            "the reference" if second_from_reference else "VBM+δ"
        )
    else:
        cbm, in_band = search(reference_eV - start_offset_eV, +1, "CBM", first=True)
        second = reference_eV if second_from_reference else energies_eV[cbm] - separation_eV
        vbm, _ = search(second, -1, "VBM", first=False)
        branch = "dipole>=0: CBM searched up from reference-s, then VBM down from " + (
            "the reference" if second_from_reference else "CBM-δ"
        )
    return BandEdges(
        vbm_eV=float(energies_eV[vbm]),
        cbm_eV=float(energies_eV[cbm]),
        threshold_states_per_eV=float(threshold_states_per_eV),
        branch=branch,
        started_in_band=in_band,
        reference_eV=float(reference_eV),
        notes=tuple(notes),
        start_offset_eV=float(start_offset_eV),
        band_crosses_reference=any(crossing),
    )


def threshold_states_per_eV(params: BandEdgeParameters, dos: np.ndarray, n_atoms: int) -> float:
    """The threshold T (states/eV) of a DoS ``dos`` (states/eV) summed over ``n_atoms`` water
    atoms, by ``params.threshold_mode`` (see :class:`BandEdgeParameters`)."""
    if params.threshold_mode == "per_atom":
        return params.threshold * n_atoms
    if params.threshold_mode == "relative":
        return params.threshold * float(np.max(dos))
    return params.threshold


def reference_level(energies: np.ndarray, dos: np.ndarray, threshold: float, separation_eV: float, metal: bool) -> tuple[float, str]:
    """The level (eV vs the printed E_F) the scans start from and metallization is judged by.

    With a metal, E_F is pinned by the metal: the printed E_F. Water alone has no such pin: CP2K
    puts E_F at the HOMO (the valence-band top) and FHI-aims' smeared μ may sit at either band
    edge. The reference is then the middle of the interval around E_F where the water PDoS
    stays below T (the water's gap); when that interval is narrower than δ (no gap near E_F)
    the printed E_F is kept, and the search will report metallized water.
    """
    if metal:
        return 0.0, "Fermi level as printed (pinned by the metal)"
    below = dos <= threshold
    k = int(np.clip(np.searchsorted(energies, 0.0), 0, energies.size - 1))
    if not below[k]:  # E_F on a band: take the gap just above or below, whichever is nearer
        up = np.flatnonzero(below[k:])
        down = np.flatnonzero(below[: k + 1][::-1])
        steps = [(up[0], +1)] if up.size else []
        steps += [(down[0], -1)] if down.size else []
        if not steps:
            return 0.0, "Fermi level as printed (no gap in the water PDoS)"
        distance, direction = min(steps)
        k += direction * int(distance)
    lo = hi = k
    while lo > 0 and below[lo - 1]:
        lo -= 1
    while hi < below.size - 1 and below[hi + 1]:
        hi += 1
    if energies[hi] - energies[lo] < separation_eV:
        return 0.0, "Fermi level as printed (no gap wider than δ near it)"
    middle = 0.5 * (energies[lo] + energies[hi])
    return float(middle), f"middle of the water gap around E_F ({middle:+.3f} eV; no metal pins E_F)"

