"""Fixed-charge dipoles of water (paper eq. 1, METHODS §1).

Charges q_O on O and q_H = −q_O/2 on H; molecules made whole by
:func:`~dftpost.analysis.molecules.assign_hydrogens`. The total dipole per unit area along the
surface normal is

    μ_z = (1/A) Σ_{O i} [ q_O z_i + q_H Σ_{j ∈ H(i)} z_j ]          (e/Å)

with A the cell area normal to z. It equals q_O·s with s = Σ_i [z_O,i − ½ Σ_j z_j] / A (Å⁻¹·Å),
so it is linear in q_O. For neutral molecules it does not depend on the origin of z; a frame with
OH⁻ or H3O⁺ has a charged sum (see the census).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DftpostError
from ..units import DIPOLE_SHEET_V_A_PER_E
from .molecules import DEFAULT_R_OH, Molecules, assign_hydrogens

#: Default oxygen charge, e: the value the paper's authors use for revPBE-D3 water (ml-peg).
DEFAULT_Q_O = -0.5562


@dataclass(frozen=True)
class FixedChargeDipole:
    """Fixed-charge dipole of one frame along ``axis``.

    ``total_e_per_A`` is μ (e/Å) for ``q_o_e``; ``charge_lever_per_A`` is s (1/Å·Å, i.e. μ/q_O);
    ``potential_step_V`` is μ/ε0; ``census`` the species counts of the frame.
    """

    total_e_per_A: float
    charge_lever_per_A: float
    potential_step_V: float
    q_o_e: float
    r_oh_A: float
    axis: int
    area_A2: float
    census: dict[str, int]

    @property
    def dissociated(self) -> bool:
        """True when the frame holds O, OH, H3O or free H besides whole H2O."""
        c = self.census
        return c["O"] + c["OH"] + c["H3O"] + c["free_H"] > 0


def repeat_distance_z(cell_A: np.ndarray) -> float:
    """Period of the cell along z (Å) when its first two vectors lie in the xy plane: the
    volume over the area of the a–b face (c_z, also for a tilted c vector)."""
    cell = np.asarray(cell_A, dtype=float)
    return float(abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(cell[0], cell[1])))


def area_normal_to(cell_A: np.ndarray, axis: int) -> float:
    """Area (Å²) of the cell face spanned by the two cell vectors other than ``axis``."""
    a, b = (np.asarray(cell_A, dtype=float)[i] for i in range(3) if i != axis)
    return float(np.linalg.norm(np.cross(a, b)))


def charge_lever(molecules: Molecules, area_A2: float, axis: int = 2) -> float:
    """s = Σ_i [x_O,i − ½ Σ_{j∈H(i)} x_j] / A along ``axis``, in Å/Å² = 1/Å (μ = q_O·s)."""
    bonded = molecules.owner >= 0
    o_sum = molecules.o_positions_A[:, axis].sum()
    h_sum = molecules.h_positions_A[bonded, axis].sum()
    return float((o_sum - 0.5 * h_sum) / area_A2)


def fixed_charge_dipole(
    numbers: np.ndarray,
    positions_A: np.ndarray,
    cell_A: np.ndarray,
    pbc=(True, True, True),
    q_o: float = DEFAULT_Q_O,
    r_oh: float = DEFAULT_R_OH,
    axis: int = 2,
) -> FixedChargeDipole:
    """The fixed-charge total dipole per area of one frame (atoms other than O and H ignored)."""
    molecules = assign_hydrogens(numbers, positions_A, cell_A, pbc, r_oh)
    area = area_normal_to(cell_A, axis)
    lever = charge_lever(molecules, area, axis)
    total = q_o * lever
    return FixedChargeDipole(
        total_e_per_A=total,
        charge_lever_per_A=lever,
        potential_step_V=total * DIPOLE_SHEET_V_A_PER_E,
        q_o_e=q_o,
        r_oh_A=r_oh,
        axis=axis,
        area_A2=area,
        census=molecules.census(),
    )


def slab_origin(heights_A: np.ndarray, length_A: float) -> float:
    """A z origin in the vacuum: the middle of the widest periodic gap between the heights (Å).

    A slab that crosses the periodic boundary then lies whole above the origin. For a periodic
    water box with no gap the widest spacing between atoms is used, which is harmless: for
    neutral molecules the dipole does not depend on the origin.
    """
    z = np.sort(np.mod(np.asarray(heights_A, dtype=float), length_A))
    gaps = np.diff(np.concatenate([z, [z[0] + length_A]]))
    k = int(np.argmax(gaps))
    return float(np.mod(z[k] + 0.5 * gaps[k], length_A))


@dataclass(frozen=True, eq=False)
class FrameProfile:
    """One frame on a z grid relative to its origin (Å): the cumulative dipole μ_z(z) at the bin
    upper edges (e/Å), O and H number densities per bin (Å⁻³), the total dipole (e/Å) and the
    species census."""

    origin_A: float
    cumulative_dipole_e_per_A: np.ndarray
    o_density_per_A3: np.ndarray
    h_density_per_A3: np.ndarray
    total_e_per_A: float
    census: dict[str, int]


def frame_profile(
    numbers: np.ndarray,
    positions_A: np.ndarray,
    cell_A: np.ndarray,
    z_edges_A: np.ndarray,
    pbc=(True, True, True),
    q_o: float = DEFAULT_Q_O,
    r_oh: float = DEFAULT_R_OH,
    origin_A: float | None = None,
) -> FrameProfile:
    """Cumulative fixed-charge dipole and densities of one frame along z (METHODS §1).

    Heights are measured from ``origin_A``: by default the top metal atom when there is one
    (atoms other than H and O), else the middle of the vacuum gap (:func:`slab_origin`); they
    are wrapped into [0, L_z). Each molecule sits in the bin of its O; its H are unwrapped next to
    it. Free H are left out of the dipole but counted in the H density.
    """
    numbers = np.asarray(numbers)
    positions = np.asarray(positions_A, dtype=float)
    cell = np.asarray(cell_A, dtype=float)
    length = repeat_distance_z(cell)
    if origin_A is None:
        metal = (numbers != 1) & (numbers != 8)
        origin_A = float(positions[metal, 2].max()) if metal.any() else slab_origin(positions[(numbers == 1) | (numbers == 8), 2], length)
    molecules = assign_hydrogens(numbers, positions, cell, pbc, r_oh)
    area = area_normal_to(cell, 2)
    z_o = np.mod(molecules.o_positions_A[:, 2] - origin_A, length)
    bonded = molecules.owner >= 0
    # H heights relative to their O's height in the same (unwrapped) frame
    z_h = z_o[molecules.owner[bonded]] + (
        molecules.h_positions_A[bonded, 2] - molecules.o_positions_A[molecules.owner[bonded], 2]
    )
    q_h = -q_o / 2
    contribution = q_o * z_o + q_h * np.bincount(molecules.owner[bonded], weights=z_h, minlength=z_o.size)
    n_bins = z_edges_A.size - 1
    o_bin = np.clip(np.searchsorted(z_edges_A, z_o, side="right") - 1, 0, n_bins - 1)
    per_bin = np.bincount(o_bin, weights=contribution, minlength=n_bins) / area
    z_h_all = np.mod(molecules.h_positions_A[:, 2] - origin_A, length)
    h_bin = np.clip(np.searchsorted(z_edges_A, z_h_all, side="right") - 1, 0, n_bins - 1)
    volume = area * np.diff(z_edges_A)
    return FrameProfile(
        origin_A=float(origin_A),
        cumulative_dipole_e_per_A=np.cumsum(per_bin),
        o_density_per_A3=np.bincount(o_bin, minlength=n_bins) / volume,
        h_density_per_A3=np.bincount(h_bin, minlength=n_bins) / volume,
        total_e_per_A=float(contribution.sum() / area),
        census=molecules.census(),
    )


#: Species labels of the census, in the order of the census arrays.
CENSUS_SPECIES = ("O", "OH", "H2O", "H3O", "free_H")


@dataclass(frozen=True, eq=False)
class DipoleTrajectory:
    """The dipole analysis of a trajectory (METHODS §1). Units: e/Å for dipoles per area, V for
    potential steps, Å for heights, Å⁻³ for densities, frames for times.

    ``z_A`` are the bin centres above the origin; profiles are means (and standard deviations)
    over frames; ``census`` holds per frame the counts of :data:`CENSUS_SPECIES`.
    """

    frame_index: np.ndarray
    total_dipole_e_per_A: np.ndarray
    potential_step_V: np.ndarray
    census: np.ndarray
    z_A: np.ndarray
    mean_cumulative_dipole_e_per_A: np.ndarray
    std_cumulative_dipole_e_per_A: np.ndarray
    o_density_per_A3: np.ndarray
    h_density_per_A3: np.ndarray
    breakdown_gap_eV: float
    q_o_e: float
    r_oh_A: float

    @property
    def n_frames(self) -> int:
        return int(self.frame_index.size)

    @property
    def breakdown_fraction(self) -> float:
        """Fraction of frames whose |ΔV| = |μ|/ε0 exceeds the band gap (breakdown candidates)."""
        return float(np.mean(np.abs(self.potential_step_V) > self.breakdown_gap_eV))

    def histogram(self, bins: int = 50) -> tuple[np.ndarray, np.ndarray]:
        """Counts and bin edges (e/Å) of the total dipole."""
        counts, edges = np.histogram(self.total_dipole_e_per_A, bins=bins)
        return counts, edges


class DipoleAccumulator:
    """Streams frames into a :class:`DipoleTrajectory` without keeping them.

    ``z_edges_A`` is the grid of heights above each frame's origin (Å). Profiles are summed
    frame by frame (mean and variance from running sums of x and x², in float64).
    """

    def __init__(self, z_edges_A: np.ndarray, q_o: float = DEFAULT_Q_O, r_oh: float = DEFAULT_R_OH, gap_eV: float = 4.45, origin_A: float | None = None):
        self.z_edges_A = np.asarray(z_edges_A, dtype=float)
        self.q_o, self.r_oh, self.gap_eV, self.origin_A = q_o, r_oh, gap_eV, origin_A
        n = self.z_edges_A.size - 1
        self._sum = np.zeros(n)
        self._sum2 = np.zeros(n)
        self._o = np.zeros(n)
        self._h = np.zeros(n)
        self._frames: list[int] = []
        self._totals: list[float] = []
        self._census: list[list[int]] = []

    def add(self, frame_index: int, numbers, positions_A, cell_A, pbc=(True, True, True)) -> FrameProfile:
        """Analyse one frame and add it to the sums."""
        profile = frame_profile(numbers, positions_A, cell_A, self.z_edges_A, pbc, self.q_o, self.r_oh, self.origin_A)
        self._sum += profile.cumulative_dipole_e_per_A
        self._sum2 += profile.cumulative_dipole_e_per_A**2
        self._o += profile.o_density_per_A3
        self._h += profile.h_density_per_A3
        self._frames.append(int(frame_index))
        self._totals.append(profile.total_e_per_A)
        self._census.append([profile.census[s] for s in CENSUS_SPECIES])
        return profile

    def result(self) -> DipoleTrajectory:
        n = len(self._frames)
        if n == 0:
            raise DftpostError(None, "no frame was analysed")
        mean = self._sum / n
        totals = np.array(self._totals)
        return DipoleTrajectory(
            frame_index=np.array(self._frames),
            total_dipole_e_per_A=totals,
            potential_step_V=totals * DIPOLE_SHEET_V_A_PER_E,
            census=np.array(self._census, dtype=np.int64),
            z_A=0.5 * (self.z_edges_A[1:] + self.z_edges_A[:-1]),
            mean_cumulative_dipole_e_per_A=mean,
            std_cumulative_dipole_e_per_A=np.sqrt(np.maximum(self._sum2 / n - mean**2, 0.0)),
            o_density_per_A3=self._o / n,
            h_density_per_A3=self._h / n,
            breakdown_gap_eV=self.gap_eV,
            q_o_e=self.q_o,
            r_oh_A=self.r_oh,
        )
