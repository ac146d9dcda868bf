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
from .molecules import DEFAULT_R_OH, BondTracker, Molecules, assign_hydrogens, checked_cell, water_indices

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
    return float(_slab_origins(np.asarray(heights_A, dtype=float)[None, :], np.array([length_A]))[0])


def _wrap(heights_A: np.ndarray, length_A) -> np.ndarray:
    """Heights wrapped into [0, length] (Å) in a few fast passes (numpy's float ``mod`` costs
    ~7× more): ``np.mod``'s values to rounding (~1e-14 Å), except that a height within rounding
    of a multiple of the length may give 0 where ``np.mod`` gives the length, or the reverse."""
    wrapped = heights_A / length_A
    np.floor(wrapped, out=wrapped)
    wrapped *= length_A
    np.subtract(heights_A, wrapped, out=wrapped)
    wrapped[wrapped < 0] += np.broadcast_to(length_A, wrapped.shape)[wrapped < 0]
    return wrapped


def _slab_origins(heights_A: np.ndarray, length_A: np.ndarray) -> np.ndarray:
    """:func:`slab_origin` of each row of ``heights_A`` (B, M) with periods ``length_A`` (B,)."""
    z = np.sort(_wrap(heights_A, length_A[:, None]), axis=1)
    gaps = np.diff(np.concatenate([z, z[:, :1] + length_A[:, None]], axis=1), axis=1)
    k = np.argmax(gaps, axis=1)
    rows = np.arange(len(z))
    return np.mod(z[rows, k] + 0.5 * gaps[rows, k], length_A)


@dataclass(frozen=True, eq=False)
class FrameProfile:
    """One frame on a z grid relative to its origin (Å): the cumulative dipole μ_z(z) at the bin
    upper edges (e/Å), O and H number densities per bin (Å⁻³), the total dipole (e/Å), the
    species census and the water's extent along z (highest minus lowest O height, Å)."""

    origin_A: float
    cumulative_dipole_e_per_A: np.ndarray
    o_density_per_A3: np.ndarray
    h_density_per_A3: np.ndarray
    total_e_per_A: float
    census: dict[str, int]
    water_thickness_A: float


#: Species labels of the census, in the order of the census arrays.
CENSUS_SPECIES = ("O", "OH", "H2O", "H3O", "free_H")


@dataclass(frozen=True, eq=False)
class _Profiles:
    """:class:`FrameProfile` of B frames as arrays with a leading frame axis."""

    origin_A: np.ndarray
    cumulative_dipole_e_per_A: np.ndarray
    o_density_per_A3: np.ndarray
    h_density_per_A3: np.ndarray
    total_e_per_A: np.ndarray
    census: np.ndarray
    water_thickness_A: np.ndarray


def _profiles(numbers, positions, cells, owner, h_to_o, z_edges_A, q_o, origin_A) -> _Profiles:
    """Cumulative dipoles, densities, totals and census of B frames of the same atoms: positions
    (B, N, 3) Å, cells (B, 3, 3) Å, and the H → O assignment (owner (B, n_H), H → O vectors
    (B, n_H, 3)) of :func:`~dftpost.analysis.molecules.assign_hydrogens` or
    :class:`~dftpost.analysis.molecules.BondTracker`."""
    oxygen, hydrogen = water_indices(numbers)
    n_frames, n_o, n_bins = len(positions), oxygen.size, z_edges_A.size - 1
    a, b = cells[:, 0], cells[:, 1]
    area = np.linalg.norm(np.cross(a, b), axis=1)
    length = np.abs(np.linalg.det(cells)) / area
    z = positions[:, :, 2]
    if origin_A is not None:
        origin = np.full(n_frames, float(origin_A))
    else:
        metal = (numbers != 1) & (numbers != 8)
        origin = z[:, metal].max(axis=1) if metal.any() else _slab_origins(z[:, (numbers == 1) | (numbers == 8)], length)
    z_o = _wrap(z[:, oxygen] - origin[:, None], length[:, None])
    bonded = owner >= 0
    slot = owner + (np.arange(n_frames) * n_o)[:, None]  # the owner's place in the flattened (B, n_O)
    # each H at its O's height plus its own offset from that O (the molecule kept whole)
    z_h = z_o.ravel()[slot[bonded]] - h_to_o[..., 2][bonded]
    h_sum = np.bincount(slot[bonded], weights=z_h, minlength=n_frames * n_o).reshape(n_frames, n_o)
    contribution = q_o * z_o - 0.5 * q_o * h_sum
    frame_bins = (np.arange(n_frames) * n_bins)[:, None]
    o_bin = _bins(z_edges_A, z_o) + frame_bins
    per_bin = np.bincount(o_bin.ravel(), weights=contribution.ravel(), minlength=n_frames * n_bins).reshape(n_frames, n_bins)
    z_h_all = _wrap(z[:, hydrogen] - origin[:, None], length[:, None])
    h_bin = _bins(z_edges_A, z_h_all) + frame_bins
    volume = area[:, None] * np.diff(z_edges_A)[None, :]
    h_per_o = np.bincount(slot[bonded], minlength=n_frames * n_o).reshape(n_frames, n_o)
    census = np.stack(
        [(h_per_o == 0).sum(1), (h_per_o == 1).sum(1), (h_per_o == 2).sum(1), (h_per_o >= 3).sum(1), (~bonded).sum(1)], axis=1
    )
    return _Profiles(
        origin_A=origin,
        cumulative_dipole_e_per_A=np.cumsum(per_bin, axis=1) / area[:, None],
        o_density_per_A3=np.bincount(o_bin.ravel(), minlength=n_frames * n_bins).reshape(n_frames, n_bins) / volume,
        h_density_per_A3=np.bincount(h_bin.ravel(), minlength=n_frames * n_bins).reshape(n_frames, n_bins) / volume,
        total_e_per_A=contribution.sum(axis=1) / area,
        census=census,
        water_thickness_A=z_o.max(axis=1) - z_o.min(axis=1),
    )


def _bins(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bin of each value: i with edges[i] <= value < edges[i + 1], clipped to the first and
    last bin (``np.searchsorted(edges, values, "right") - 1``). On an evenly spaced grid the bin
    comes from a division, corrected by one where rounding put it next door (a binary search
    per value costs ~20× more)."""
    n_bins = edges.size - 1
    width = (edges[-1] - edges[0]) / n_bins if n_bins > 0 else 0.0
    if not (width > 0 and np.allclose(np.diff(edges), width, rtol=1e-9, atol=0.0)):
        return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n_bins - 1)
    index = np.clip(np.floor((values - edges[0]) / width), 0, n_bins - 1).astype(np.intp)
    index -= (edges[index] > values) & (index > 0)
    index += (edges[index + 1] <= values) & (index < n_bins - 1)
    return index


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
    molecules = assign_hydrogens(numbers, positions, cell, pbc, r_oh)
    bonded = molecules.owner >= 0
    h_to_o = np.zeros(molecules.h_positions_A.shape)
    h_to_o[bonded] = molecules.o_positions_A[molecules.owner[bonded]] - molecules.h_positions_A[bonded]
    p = _profiles(numbers, positions[None], cell[None], molecules.owner[None], h_to_o[None], np.asarray(z_edges_A, dtype=float), q_o, origin_A)
    return FrameProfile(
        origin_A=float(p.origin_A[0]),
        cumulative_dipole_e_per_A=p.cumulative_dipole_e_per_A[0],
        o_density_per_A3=p.o_density_per_A3[0],
        h_density_per_A3=p.h_density_per_A3[0],
        total_e_per_A=float(p.total_e_per_A[0]),
        census=dict(zip(CENSUS_SPECIES, p.census[0].tolist())),
        water_thickness_A=float(p.water_thickness_A[0]),
    )


@dataclass(frozen=True, eq=False)
class DipoleTrajectory:
    """The dipole analysis of a trajectory (METHODS §1). Units: e/Å for dipoles per area, V for
    potential steps, Å for heights, Å⁻³ for densities, ps for times.

    ``z_A`` are the bin centres above the origin; profiles are means (and standard deviations)
    over frames; ``census`` holds per frame the counts of :data:`CENSUS_SPECIES`; ``time_ps`` the
    time of each frame (NaN when the trajectory does not give it); ``water_thickness_A`` per
    frame the highest minus the lowest O height.
    """

    frame_index: np.ndarray
    time_ps: np.ndarray
    total_dipole_e_per_A: np.ndarray
    potential_step_V: np.ndarray
    census: np.ndarray
    water_thickness_A: np.ndarray
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

    ``z_edges_A`` is the grid of heights above each frame's origin (Å). Frames are checked as they
    come (:meth:`add` raises for a bad one) and analysed ``batch`` at a time, vectorised, with the
    H → O assignment carried from frame to frame by a
    :class:`~dftpost.analysis.molecules.BondTracker` (exact). Profiles are summed over frames
    (mean and variance from running sums of x and x², in float64).
    """

    def __init__(
        self,
        z_edges_A: np.ndarray,
        q_o: float = DEFAULT_Q_O,
        r_oh: float = DEFAULT_R_OH,
        gap_eV: float = 4.45,
        origin_A: float | None = None,
        batch: int = 64,
    ):
        self.z_edges_A = np.asarray(z_edges_A, dtype=float)
        self.q_o, self.r_oh, self.gap_eV, self.origin_A, self.batch = q_o, r_oh, gap_eV, origin_A, batch
        self.tracker = BondTracker(r_oh)
        n = self.z_edges_A.size - 1
        self._sum, self._sum2, self._o, self._h = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        self._frames: list[int] = []
        self._times: list[float] = []
        self._totals: list[np.ndarray] = []
        self._census: list[np.ndarray] = []
        self._thickness: list[np.ndarray] = []
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._numbers = self._pbc = self._atoms = self._cell = self._full_cell = None
        self._analysed_numbers = None

    def add(self, frame_index: int, numbers, positions_A, cell_A, pbc=(True, True, True), time_ps: float = float("nan")) -> None:
        """Check one frame and queue it; raises :class:`~dftpost.errors.DftpostError` for a frame
        without water or with an unusable cell."""
        numbers = np.asarray(numbers)
        pbc = np.asarray(pbc, dtype=bool)
        positions = np.array(positions_A, dtype=float)
        cell = np.asarray(cell_A, dtype=float)
        atoms = (numbers.shape, numbers.tobytes(), pbc.tobytes())  # compared as bytes: cheaper than array_equal
        if atoms != self._atoms:
            water_indices(numbers)
            self.flush()
            self._numbers, self._pbc, self._atoms, self._cell = numbers.copy(), pbc, atoms, None
        if cell.tobytes() != self._cell:
            self._full_cell = checked_cell(cell, pbc, self.r_oh)
            self._cell = cell.tobytes()
        self._pending.append((positions, cell, self._full_cell))
        self._frames.append(int(frame_index))
        self._times.append(float(time_ps))
        if len(self._pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Analyse the queued frames."""
        if self._pending:
            self._analyse(self._numbers, self._pbc, self._pending)
            self._pending = []

    def _analyse(self, numbers: np.ndarray, pbc: np.ndarray, frames: list) -> None:
        positions, cells, full_cells = (np.stack(x) for x in zip(*frames))
        if self._analysed_numbers is not numbers:  # other atoms than the batch before
            self.tracker.reset()
            self._analysed_numbers = numbers
        oxygen, hydrogen = water_indices(numbers)
        owner, h_to_o = self.tracker.assign(positions[:, oxygen], positions[:, hydrogen], full_cells, pbc)
        p = _profiles(numbers, positions, cells, owner, h_to_o, self.z_edges_A, self.q_o, self.origin_A)
        cumulative = p.cumulative_dipole_e_per_A
        self._sum += cumulative.sum(axis=0)
        self._sum2 += np.einsum("fz,fz->z", cumulative, cumulative)
        self._o += p.o_density_per_A3.sum(axis=0)
        self._h += p.h_density_per_A3.sum(axis=0)
        self._totals.append(p.total_e_per_A)
        self._census.append(p.census)
        self._thickness.append(p.water_thickness_A)

    def merge(self, later: "DipoleAccumulator") -> None:
        """Take in the frames of ``later``, an accumulator of the frames that follow these on the
        same z grid (a chunk of the trajectory analysed elsewhere): series are joined, sums added."""
        if not np.array_equal(later.z_edges_A, self.z_edges_A):
            raise ValueError("accumulators on different z grids cannot be merged")
        self.flush()
        later.flush()
        self._sum += later._sum
        self._sum2 += later._sum2
        self._o += later._o
        self._h += later._h
        for mine, theirs in ((self._frames, later._frames), (self._times, later._times), (self._totals, later._totals),
                             (self._census, later._census), (self._thickness, later._thickness)):
            mine.extend(theirs)

    def result(self) -> DipoleTrajectory:
        """The analysis of every frame added so far."""
        self.flush()
        n = len(self._frames)
        if n == 0:
            raise DftpostError(None, "no frame was analysed")
        mean = self._sum / n
        totals = np.concatenate(self._totals)
        return DipoleTrajectory(
            frame_index=np.array(self._frames),
            time_ps=np.array(self._times),
            total_dipole_e_per_A=totals,
            potential_step_V=totals * DIPOLE_SHEET_V_A_PER_E,
            census=np.concatenate(self._census).astype(np.int64),
            water_thickness_A=np.concatenate(self._thickness),
            z_A=0.5 * (self.z_edges_A[1:] + self.z_edges_A[:-1]),
            mean_cumulative_dipole_e_per_A=mean,
            std_cumulative_dipole_e_per_A=np.sqrt(np.maximum(self._sum2 / n - mean**2, 0.0)),
            o_density_per_A3=self._o / n,
            h_density_per_A3=self._h / n,
            breakdown_gap_eV=self.gap_eV,
            q_o_e=self.q_o,
            r_oh_A=self.r_oh,
        )
