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

from .. import defaults
from ..errors import DftpostError
from ..units import DIPOLE_SHEET_V_A_PER_E
from .geometry import area_normal_to, check_slab_cell, repeat_distance_z, widest_gaps  # noqa: F401 - named here too
from .molecules import DEFAULT_R_OH, BondTracker, Molecules, as_columns, assign_hydrogens, checked_cell, water_first

#: Default oxygen charge, e (:mod:`dftpost.defaults`).
DEFAULT_Q_O = defaults.Q_O_E


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
    return float(_slab_origins(np.asarray(heights_A, dtype=float)[None, :], np.array([length_A]))[0][0])


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


def _slab_origins(heights_A: np.ndarray, length_A: np.ndarray, guess_A: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`slab_origin` of each row of ``heights_A`` (B, M) with periods ``length_A`` (B,) or
    (1,), and whether each row's widest gap spans more than half the period (a slab in vacuum).

    With ``guess_A``, a height in the vacuum of a frame before (the slab moves little), rows
    whose atoms all lie within half a period above it take the gap around it, which is then the
    widest (the other gaps lie within the other half): a minimum and a maximum per row instead of
    a sort. Other rows, and all without a guess, are sorted."""
    length = np.broadcast_to(length_A, heights_A.shape[:1])
    origin, wide = np.empty(len(heights_A)), np.zeros(len(heights_A), dtype=bool)
    rest = np.arange(len(heights_A))
    if guess_A is not None:
        above = _wrap(heights_A - guess_A, length[:, None])
        high = above.max(axis=1)
        gap = length - (high - above.min(axis=1))
        wide = gap > 0.5 * length
        origin = _wrap(guess_A + high + 0.5 * gap, length)
        rest = np.flatnonzero(~wide)
    if rest.size:
        start, width = widest_gaps(_wrap(heights_A[rest], length[rest, None]), length[rest], wrapped=True)
        origin[rest] = np.mod(start + 0.5 * width, length[rest])
        wide[rest] = width > 0.5 * length[rest]
    return origin, wide


class ZGrid:
    """Bin edges along z (Å, increasing), with what binning needs precomputed: the spacing
    when the edges are evenly spaced (to 1e-9 relative; 0 otherwise)."""

    def __init__(self, edges_A: np.ndarray):
        self.edges = np.asarray(edges_A, dtype=float)
        self.n_bins = self.edges.size - 1
        width = (self.edges[-1] - self.edges[0]) / self.n_bins if self.n_bins > 0 else 0.0
        even = width > 0 and np.allclose(np.diff(self.edges), width, rtol=1e-9, atol=0.0)
        self.width = width if even else 0.0
        self.widths = np.diff(self.edges)

    def bins(self, values: np.ndarray) -> np.ndarray:
        """The bin of each value: i with edges[i] <= value < edges[i + 1], clipped to the first
        and last bin (``np.searchsorted(edges, values, "right") - 1``). On an evenly spaced grid
        the bin comes from a division, corrected by one where rounding put it next door (a
        binary search per value costs ~20× more)."""
        edges, n_bins = self.edges, self.n_bins
        if not self.width:
            return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n_bins - 1)
        index = np.clip(np.floor((values - edges[0]) / self.width), 0, n_bins - 1).astype(np.intp)
        index -= (edges[index] > values) & (index > 0)
        index += (edges[index + 1] <= values) & (index < n_bins - 1)
        return index


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
    """:class:`FrameProfile` of B frames: arrays with a leading frame axis, except the densities,
    which are summed over the frames; ``wide`` tells whether each frame's origin lies in a vacuum
    gap wider than half the period (see :func:`_slab_origins`)."""

    origin_A: np.ndarray
    wide: np.ndarray
    cumulative_dipole_e_per_A: np.ndarray
    o_density_sum_per_A3: np.ndarray
    h_density_sum_per_A3: np.ndarray
    total_e_per_A: np.ndarray
    census: np.ndarray
    water_thickness_A: np.ndarray


def _profiles(z, n_o: int, n_h: int, cells, pbc_z: bool, owner, grid: ZGrid, q_o, origin_A, guess_A=None) -> _Profiles:
    """Cumulative dipoles, densities, totals and census of B frames of the same atoms: heights
    z (B, N) Å of the ``n_o`` O, then the ``n_h`` H, then any other atoms; cells (B, 3, 3) Å that
    :func:`check_slab_cell` accepts, periodic along z or not; the owner of each H (B, n_H) of
    :func:`~dftpost.analysis.molecules.assign_hydrogens` or
    :class:`~dftpost.analysis.molecules.BondTracker`. ``guess_A``: see :func:`_slab_origins`."""
    n_frames, n_bins = len(z), grid.n_bins
    if not (n_frames > 1 and (cells[1:] != cells[0]).any()):
        cells = cells[:1]  # one cell for the batch: area and length of shape (1,) broadcast
    area = np.abs(cells[:, 0, 0] * cells[:, 1, 1] - cells[:, 0, 1] * cells[:, 1, 0])
    length = np.abs(cells[:, 2, 2])
    wide = np.zeros(n_frames, dtype=bool)
    if origin_A is not None:
        origin = np.full(n_frames, float(origin_A))
    elif z.shape[1] > n_o + n_h:  # the top atom that is neither O nor H (a metal)
        origin = z[:, n_o + n_h:].max(axis=1)
    else:
        origin, wide = _slab_origins(z, length, guess_A)
    z_o_raw = z[:, :n_o]
    z_o = _wrap(z_o_raw - origin[:, None], length[:, None])
    bonded = owner >= 0
    slot = (owner + (np.arange(n_frames) * n_o)[:, None])[bonded]  # the owner's place in the flattened (B, n_O)
    # each H at its O's height less the z part of the minimum-image H → O vector (whole molecules;
    # with a and b in the xy plane the lattice moves z only by multiples of c_z)
    z_h_raw = z[:, n_o:n_o + n_h]
    offset = z_o_raw.ravel()[slot] - z_h_raw[bonded]
    if pbc_z:
        period = np.broadcast_to(length[:, None], owner.shape)[bonded]
        offset -= np.rint(offset / period) * period
    h_sum = np.bincount(slot, weights=z_o.ravel()[slot] - offset, minlength=n_frames * n_o).reshape(n_frames, n_o)
    contribution = q_o * z_o - 0.5 * q_o * h_sum
    o_bin = grid.bins(z_o)
    per_bin: np.ndarray = np.bincount((o_bin + (np.arange(n_frames) * n_bins)[:, None]).ravel(), weights=contribution.ravel(),
                          minlength=n_frames * n_bins).reshape(n_frames, n_bins)
    per_bin /= area[:, None]
    h_bin = grid.bins(_wrap(z_h_raw - origin[:, None], length[:, None]))
    if area.size == 1:  # densities summed over the frames: counts / bin volume
        o_density = np.bincount(o_bin.ravel(), minlength=n_bins) / (area[0] * grid.widths)
        h_density = np.bincount(h_bin.ravel(), minlength=n_bins) / (area[0] * grid.widths)
    else:
        o_density = np.bincount(o_bin.ravel(), weights=np.repeat(1.0 / area, n_o), minlength=n_bins) / grid.widths
        h_density = np.bincount(h_bin.ravel(), weights=np.repeat(1.0 / area, owner.shape[1]), minlength=n_bins) / grid.widths
    h_per_o = np.bincount(slot, minlength=n_frames * n_o).reshape(n_frames, n_o)
    census = np.stack(
        [(h_per_o == 0).sum(1), (h_per_o == 1).sum(1), (h_per_o == 2).sum(1), (h_per_o >= 3).sum(1), (~bonded).sum(1)], axis=1
    )
    return _Profiles(
        origin_A=origin,
        wide=wide,
        cumulative_dipole_e_per_A=np.cumsum(per_bin, axis=1),
        o_density_sum_per_A3=o_density,
        h_density_sum_per_A3=h_density,
        total_e_per_A=contribution.sum(axis=1) / area,
        census=census,
        water_thickness_A=z_o.max(axis=1) - z_o.min(axis=1),
    )


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
    it. Free H are left out of the dipole but counted in the H density. The cell's a and b must
    lie in the xy plane.
    """
    numbers = np.asarray(numbers)
    positions = np.asarray(positions_A, dtype=float)
    cell = np.asarray(cell_A, dtype=float)
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    check_slab_cell(cell)
    molecules = assign_hydrogens(numbers, positions, cell, pbc, r_oh)
    order, n_o, n_h = water_first(numbers)
    p = _profiles(positions[order, 2][None], n_o, n_h, cell[None], bool(pbc[2]), molecules.owner[None], ZGrid(z_edges_A),
                  q_o, origin_A)
    return FrameProfile(
        origin_A=float(p.origin_A[0]),
        cumulative_dipole_e_per_A=p.cumulative_dipole_e_per_A[0],
        o_density_per_A3=p.o_density_sum_per_A3,
        h_density_per_A3=p.h_density_sum_per_A3,
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
        self.grid = ZGrid(z_edges_A)
        self.z_edges_A = self.grid.edges
        self.q_o, self.r_oh, self.gap_eV, self.origin_A, self.batch = q_o, r_oh, gap_eV, origin_A, batch
        self.tracker = BondTracker(r_oh)
        self._guess = None  # a height in the vacuum of the last frame analysed (Å)
        n = self.grid.n_bins
        self._sum, self._sum2, self._o, self._h = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        self._frames: list[int] = []
        self._times: list[float] = []
        self._totals: list[np.ndarray] = []
        self._census: list[np.ndarray] = []
        self._thickness: list[np.ndarray] = []
        self._queued = 0  # frames waiting in the buffers below
        # (batch, N, 3) positions, (batch, 3, 3) cells, Å; made for the atoms of the first frame
        self._rows, self._cells, self._full_cells = np.empty((0, 0, 3)), np.empty((0, 3, 3)), np.empty((0, 3, 3))
        self._pbc, self._order = np.ones(3, dtype=bool), np.arange(0)
        self._atoms: tuple | None = None
        self._cell: bytes | None = None
        self._full_cell: np.ndarray | None = None
        self._n_o = self._n_h = 0

    def add(self, frame_index: int, numbers, positions_A, cell_A, pbc=(True, True, True), time_ps: float = float("nan")) -> None:
        """Check one frame and queue it; raises :class:`~dftpost.errors.DftpostError` for a frame
        without water or with an unusable cell (see also :func:`check_slab_cell`)."""
        numbers = np.asarray(numbers)
        pbc = np.asarray(pbc, dtype=bool)
        positions = np.asarray(positions_A, dtype=float)
        cell = np.asarray(cell_A, dtype=float)
        atoms = (numbers.shape, numbers.tobytes(), pbc.tobytes())  # compared as bytes: cheaper than array_equal
        if atoms != self._atoms:  # new atoms: new buffers, and nothing carried over
            order, n_o, n_h = water_first(numbers)
            self.flush()
            self._order, self._n_o, self._n_h = order, n_o, n_h
            self._rows = np.empty((self.batch, numbers.size, 3))
            self._cells, self._full_cells = np.empty((self.batch, 3, 3)), np.empty((self.batch, 3, 3))
            self._pbc, self._atoms, self._cell = pbc, atoms, None
            self.tracker.reset()
            self._guess = None
        if positions.shape != self._rows.shape[1:]:
            raise DftpostError(None, f"positions of shape {positions.shape} for {numbers.size} atoms")
        if cell.tobytes() != self._cell:
            check_slab_cell(cell)
            self._full_cell = checked_cell(cell, pbc, self.r_oh)
            self._cell = cell.tobytes()
        k = self._queued
        self._rows[k], self._cells[k], self._full_cells[k] = positions, cell, self._full_cell
        self._queued += 1
        self._frames.append(int(frame_index))
        self._times.append(float(time_ps))
        if self._queued == self.batch:
            self.flush()

    def flush(self) -> None:
        """Analyse the queued frames."""
        if self._queued:
            self._analyse(self._queued)
            self._queued = 0

    def _analyse(self, n: int) -> None:
        """Analyse the first ``n`` frames in the buffers."""
        n_o, n_h = self._n_o, self._n_h
        columns = as_columns(self._rows[:n], self._order)  # O, H, other atoms
        owner = self.tracker.assign(columns[:, :, :n_o + n_h], n_o, self._full_cells[:n], self._pbc)
        p = _profiles(columns[:, 2], n_o, n_h, self._cells[:n], bool(self._pbc[2]), owner, self.grid, self.q_o,
                      self.origin_A, self._guess)
        self._guess = p.origin_A[-1] if p.wide[-1] else None
        cumulative = p.cumulative_dipole_e_per_A
        self._sum += cumulative.sum(axis=0)
        self._sum2 += np.einsum("fz,fz->z", cumulative, cumulative)
        self._o += p.o_density_sum_per_A3
        self._h += p.h_density_sum_per_A3
        self._totals.append(p.total_e_per_A)
        self._census.append(p.census)
        self._thickness.append(p.water_thickness_A)

    def merge(self, later: DipoleAccumulator) -> None:
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
        series: tuple[tuple[list, list], ...] = (
            (self._frames, later._frames), (self._times, later._times), (self._totals, later._totals),
            (self._census, later._census), (self._thickness, later._thickness))
        for mine, theirs in series:
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
