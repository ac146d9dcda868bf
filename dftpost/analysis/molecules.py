"""Water molecules from bare coordinates: H → nearest O, species census, unwrapping.

Pure functions: arrays in, results out. Lengths in Å. Each H belongs to the O nearest to it
under the minimum-image convention if that distance is below ``r_OH`` (default 1.2 Å, a choice
of dftpost); H with no O within ``r_OH`` are free. The neighbour search is a
``scipy.spatial.cKDTree`` (O(N log N)) built, for any cell (orthorhombic, skewed, partly
periodic), on the O atoms wrapped into the cell plus the periodic images of those within the
search radius of a face.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import defaults
from ..errors import DftpostError
from .geometry import cell_widths, check_molecule_cell

#: Default O–H bond cut-off, Å (:mod:`dftpost.defaults`).
DEFAULT_R_OH = defaults.R_OH_A


@dataclass(frozen=True, eq=False)
class Molecules:
    """The assignment of each H to an O of one frame.

    ``oxygen`` and ``hydrogen`` are atom indices (into the frame) of the O and H atoms;
    ``owner[j]`` is the position in ``oxygen`` of the O that H ``hydrogen[j]`` belongs to, or −1
    for a free H. ``h_positions_A`` are the H positions moved to the periodic image nearest their
    O (so every molecule is whole); ``o_positions_A`` the O positions as given.
    """

    oxygen: np.ndarray
    hydrogen: np.ndarray
    owner: np.ndarray
    o_positions_A: np.ndarray
    h_positions_A: np.ndarray

    @property
    def hydrogens_per_oxygen(self) -> np.ndarray:
        """Number of H bonded to each O (0 = O, 1 = OH, 2 = H2O, 3 = H3O ...)."""
        return np.bincount(self.owner[self.owner >= 0], minlength=self.oxygen.size)

    def census(self) -> dict[str, int]:
        """Counts of O, OH, H2O, H3O (3 or more H) and free H in the frame."""
        n = self.hydrogens_per_oxygen
        return {
            "O": int((n == 0).sum()),
            "OH": int((n == 1).sum()),
            "H2O": int((n == 2).sum()),
            "H3O": int((n >= 3).sum()),
            "free_H": int((self.owner < 0).sum()),
        }


class _Lattice:
    """A full-rank cell (3, 3, Å) with its periodic directions ``pbc``: reduces vectors by whole
    lattice vectors along the periodic directions (rounding of fractional coordinates). The result
    is the minimum image for every vector whose minimum image is shorter than half the smallest
    face-to-face width; for longer ones it is some periodic image."""

    def __init__(self, cell: np.ndarray, pbc: np.ndarray):
        self.cell, self.inverse, self.pbc = cell, np.linalg.inv(cell), pbc
        self.widths = cell_widths(cell)  #: face-to-face widths, Å
        self.orthorhombic = not np.any(cell - np.diag(np.diag(cell)))
        if self.orthorhombic:  # lattice vectors to subtract: round(x / length) · length, periodic only
            self.lengths = np.diag(cell)[:, None]
            self.scales = np.where(pbc[:, None], 1.0 / self.lengths, 0.0)

    def reduce(self, columns: np.ndarray) -> np.ndarray:
        """Vectors stored as columns (shape (..., 3, n): x, y, z along the second-to-last axis),
        reduced in place and returned. Columns keep every pass over long contiguous rows (numpy
        loops slowly over a trailing axis of 3)."""
        if self.orthorhombic:
            lattice = columns * self.scales
            np.rint(lattice, out=lattice)
            lattice *= self.lengths
            columns -= lattice
        else:
            fractions = self.inverse.T @ columns
            fractions -= np.rint(fractions) * self.pbc[:, None]
            np.matmul(self.cell.T, fractions, out=columns)
        return columns

    def minimum_image(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors stored as rows (shape (..., 3)), reduced into a new array."""
        return self.reduce(np.array(vectors.reshape(-1, 3).T)).T.reshape(vectors.shape)


def _oxygen_candidates(o_pos: np.ndarray, h_pos: np.ndarray, lattice: _Lattice, radius: float, k: int):
    """For each H the ``k`` nearest O (periodic images included) within ``radius`` Å: indices
    into ``o_pos`` (−1 where fewer were found) and distances (inf there), shape (n_H, k). O and H
    are wrapped into the cell and a cKDTree is built on the O plus the periodic images of the O
    within ``radius`` of a face, added one periodic direction at a time (images of images give
    the edges and corners), so ``radius`` must not exceed any periodic face-to-face width."""
    pbc = lattice.pbc

    def wrapped_fractions(xyz: np.ndarray) -> np.ndarray:
        frac = xyz @ lattice.inverse
        frac -= np.floor(frac) * pbc
        return np.where(pbc & (frac >= 1.0), 0.0, frac)  # -1e-17 wraps to exactly 1

    points, image_of = wrapped_fractions(o_pos), np.arange(len(o_pos))
    reach = radius / lattice.widths
    for axis in np.flatnonzero(pbc):
        low, high = points[:, axis] < reach[axis], points[:, axis] > 1.0 - reach[axis]
        shift = np.eye(3)[axis]
        points = np.concatenate([points, points[low] + shift, points[high] - shift])
        image_of = np.concatenate([image_of, image_of[low], image_of[high]])
    from scipy.spatial import cKDTree

    tree = cKDTree(points @ lattice.cell)
    distance, nearest = tree.query(wrapped_fractions(h_pos) @ lattice.cell, k=k, distance_upper_bound=radius)
    distance, nearest = distance.reshape(len(h_pos), k), nearest.reshape(len(h_pos), k)
    return np.append(image_of, -1)[nearest], distance


def checked_cell(cell: np.ndarray, pbc: np.ndarray, r_oh: float = DEFAULT_R_OH) -> np.ndarray:
    """The cell (Å) made full rank for the H → O assignment
    (:func:`~dftpost.analysis.geometry.check_molecule_cell` with the width 2 ``r_oh``, so that an
    O–H bond has one minimum image)."""
    return check_molecule_cell(cell, pbc, 2 * r_oh, f"2 r_OH = {2 * r_oh} Å")


def water_indices(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the O and of the H atoms; an error when either is missing."""
    oxygen, hydrogen = np.flatnonzero(numbers == 8), np.flatnonzero(numbers == 1)
    if oxygen.size == 0 or hydrogen.size == 0:
        raise DftpostError(None, f"the frame has {oxygen.size} O and {hydrogen.size} H atoms: no water")
    return oxygen, hydrogen


def water_first(numbers: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The atoms reordered O, then H, then any others (a metal), with the numbers of O and of H;
    an error when the frame has no water (:func:`water_indices`)."""
    oxygen, hydrogen = water_indices(numbers)
    return np.concatenate([oxygen, hydrogen, np.flatnonzero((numbers != 8) & (numbers != 1))]), oxygen.size, hydrogen.size


def _bonds(o_pos, h_pos, owner, lattice: _Lattice) -> np.ndarray:
    """Minimum-image vectors from each bonded H to its O (zero for free H), Å."""
    h_to_o = np.zeros(h_pos.shape)
    bonded = owner >= 0
    h_to_o[bonded] = lattice.minimum_image(o_pos[owner[bonded]] - h_pos[bonded])
    return h_to_o


def as_columns(positions_A: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Positions of B frames (B, N, 3) as columns (B, 3, len(order)): x, y, z along axis 1 and
    the atoms ``order`` along axis 2, in one pass (numpy gathers fast along a last axis)."""
    return positions_A.transpose(0, 2, 1)[:, :, order]


def assign_hydrogens(
    numbers: np.ndarray, positions_A: np.ndarray, cell_A: np.ndarray, pbc=(True, True, True), r_oh: float = DEFAULT_R_OH
) -> Molecules:
    """Assign every H to its nearest O within ``r_oh`` (Å) under the minimum image.

    ``numbers`` are atomic numbers; atoms that are neither O nor H (a metal) are ignored.
    Raises :class:`~dftpost.errors.DftpostError` if the frame has no O or no H, periodic
    directions without a cell vector, or a periodic width below 2 ``r_oh``.
    """
    numbers = np.asarray(numbers)
    positions = np.asarray(positions_A, dtype=float)
    pbc = np.asarray(pbc, dtype=bool)
    oxygen, hydrogen = water_indices(numbers)
    cell = checked_cell(np.asarray(cell_A, dtype=float), pbc, r_oh)
    o_pos, h_pos = positions[oxygen], positions[hydrogen]
    lattice = _Lattice(cell, pbc)
    ids, distance = _oxygen_candidates(o_pos, h_pos, lattice, r_oh, 1)
    owner = np.where(distance[:, 0] < r_oh, ids[:, 0], -1)
    h_to_o = _bonds(o_pos, h_pos, owner, lattice)
    bonded = owner >= 0
    unwrapped = h_pos.copy()
    unwrapped[bonded] = o_pos[owner[bonded]] - h_to_o[bonded]
    return Molecules(oxygen=oxygen, hydrogen=hydrogen, owner=owner, o_positions_A=o_pos, h_positions_A=unwrapped)


def water_molecules(
    numbers: np.ndarray, positions_A: np.ndarray, cell_A: np.ndarray, pbc=(True, True, True), r_oh: float = DEFAULT_R_OH
) -> tuple[np.ndarray, np.ndarray]:
    """The atoms of the water molecules of a frame, whatever else it holds (a metal, an oxide):
    each O with two (or more: H3O) H within ``r_oh`` (Å, :func:`assign_hydrogens`) and those H.
    Returns (atom indices, O first then H, and for each the index of its molecule's O). An oxide's
    O (no H), a hydroxyl (one H) and free H are not water. Raises
    :class:`~dftpost.errors.DftpostError` when there is no water molecule."""
    molecules = assign_hydrogens(numbers, positions_A, cell_A, pbc, r_oh)
    whole = np.flatnonzero(molecules.hydrogens_per_oxygen >= 2)
    if whole.size == 0:
        raise DftpostError(None, f"no water molecule: no O has two H within r_OH = {r_oh} Å")
    member = np.isin(molecules.owner, whole)
    atoms = np.concatenate([molecules.oxygen[whole], molecules.hydrogen[member]])
    owner_o = np.concatenate([molecules.oxygen[whole], molecules.oxygen[molecules.owner[member]]])
    return atoms, owner_o


class BondTracker:
    """H → nearest-O assignment over consecutive frames of one trajectory: exact, and much
    cheaper than a neighbour search per frame (certificates from O–O separations).

    If H j lies b_j from O i (minimum image) and every other O, periodic images included, lies
    at least n_i from O i, then every other O lies at least n_i − b_j from H j; so if
    2 b_j < n_i and b_j < r_OH, O i owns H j (images of O i itself are a face width > 2 r_OH
    away). Each frame, every H is tried with its O of the frame before.

    The bounds come from a reference frame. One neighbour search lists for every O i its ``m``
    nearest other O (images included) within r = min(``radius_A``, half the narrowest periodic
    face-to-face width), with the minimum-image vectors v to them, and ρ_i, the (m+1)-th
    distance (r when fewer were found); and for every H free at the time, its distance d_j to
    the nearest O (r when none is nearer). In a later frame with the same cell let Δ be each
    atom's displacement since the reference (reduced by lattice vectors, less a common
    translation): each listed O is followed as the image v + Δ_o − Δ_i, and every O image not
    followed has come closer to O i by at most |Δ_i| + max_o |Δ_o|. So

        n_i = min(followed distances, ρ_i − |Δ_i| − max_o |Δ_o|),

    an H that fails the test but lies within r_OH of its O of the frame before goes to the
    nearest of that O and the O listed for it, by their exact distances, if that one is nearer
    than ρ_i − |Δ_i| − max_o |Δ_o| − b_j (protons passing between neighbours); and an H free at
    the reference stays free while d_j − |Δ_j| − max_o |Δ_o| ≥ r_OH. The H still open are
    compared with every O, or, when a frame has more than :attr:`many` and a neighbour search
    costs less, found by one. A frame in another cell (NPT) is mapped into the reference cell by
    its fractional coordinates, and the bounds found there are scaled by the smallest singular
    value of L_ref⁻¹ L (how much the map can shorten a vector). The reference is renewed when a
    bound grown weak left a bonded H open, when more than :attr:`many` / 4 H of a frame were
    open, and when the cell has shrunk by more than 2 % along some direction. Frames are
    followed in windows of up to :attr:`window`, as columns (numpy runs slowly over a trailing
    axis of 3). Lengths in Å. The caller passes frames with the same atoms in the same order;
    :meth:`reset` otherwise. ``m`` and ``radius_A`` trade the cost of a frame against how long a
    reference lasts.
    """

    window = 16  #: frames followed at once
    many = 32  #: open H in a frame above which (and above 2**15 H–O pairs) a neighbour search replaces comparing with every O

    def __init__(self, r_oh: float = DEFAULT_R_OH, radius_A: float = 6.0, m: int = 8):
        if m < 1:
            raise ValueError("BondTracker needs m >= 1")
        self.r_oh, self.radius_A, self.m = r_oh, radius_A, m
        self.full_searches = 0  #: neighbour searches made (references and frames with many open H)
        self.reset()

    def reset(self) -> None:
        """Forget the reference frame and the owners of the frame before (the atoms changed)."""
        self._reference: dict[str, Any] | None = None  # the frame followed: its atoms, lattice and O neighbours
        self._last: _Lattice | None = None
        self._owner: np.ndarray | None = None  # owners (n_H) in the frame before

    def assign(self, columns: np.ndarray, n_o: int, cells: np.ndarray, pbc) -> np.ndarray:
        """Owners (B, n_H; index into the O, −1 for a free H) of a batch of B frames given as
        columns (B, 3, n_O + n_H): x, y, z along axis 1, the ``n_o`` O and then the H along
        axis 2 (:func:`as_columns`); full-rank cells (B, 3, 3) as :func:`checked_cell` gives
        them, one ``pbc`` for all."""
        pbc = np.asarray(pbc, dtype=bool)
        n_frames, n_h = len(columns), columns.shape[2] - n_o
        owner = np.empty((n_frames, n_h), dtype=np.int64)
        start, stale = 0, False
        while start < n_frames:
            if self._owner is None or self._owner.size != n_h:  # nothing to try: one frame, searched
                owner[start] = self._nearest(columns[start], n_o, np.arange(n_h), self._lattice(cells[start], pbc))
                self._owner, self._reference, start = owner[start], None, start + 1
                continue
            if stale or not self._fits(columns[start], n_o, pbc):
                self._renew(columns[start], n_o, cells[start], pbc)
            stop = min(start + self.window, n_frames)
            stale = self._follow(columns[start:stop], n_o, cells[start:stop], pbc, owner[start:stop])
            self._owner = owner[stop - 1]
            start = stop
        return owner

    def _fits(self, x, n_o, pbc) -> bool:
        """Whether the reference serves a frame of these atoms (columns (3, n_O + n_H)) and pbc."""
        ref = self._reference
        return ref is not None and ref["x"].shape == x.shape and ref["n_o"] == n_o and np.array_equal(ref["lattice"].pbc, pbc)

    def _lattice(self, cell, pbc) -> _Lattice:
        """The lattice of a cell, kept while frames share it."""
        if self._last is None or not (np.array_equal(self._last.cell, cell) and np.array_equal(self._last.pbc, pbc)):
            self._last = _Lattice(cell.copy(), pbc.copy())
        return self._last

    def _renew(self, x, n_o, cell, pbc) -> None:
        """A new reference: one frame of O then H positions as columns (3, n_O + n_H), whose H
        free in the frame before are followed as free."""
        if self._owner is None:
            raise RuntimeError("a reference frame needs the owners of the frame before")
        lattice = self._lattice(cell, pbc)
        radius = self.radius_A
        if pbc.any():
            radius = min(radius, 0.5 * lattice.widths[pbc].min())
        o, free = x[:, :n_o], np.flatnonzero(self._owner < 0)
        ids, distance = _oxygen_candidates(o.T, np.concatenate([o, x[:, n_o + free]], axis=1).T, lattice, radius, self.m + 2)
        # drop each O itself (distance 0; the last one if another O sits on it too)
        itself = ids[:n_o] == np.arange(n_o)[:, None]
        drop = np.where(itself.any(axis=1), np.argmax(itself, axis=1), self.m + 1)
        kept = np.ones((n_o, self.m + 2), dtype=bool)
        kept[np.arange(n_o), drop] = False
        o_ids, o_distance = ids[:n_o][kept].reshape(n_o, self.m + 1), distance[:n_o][kept].reshape(n_o, self.m + 1)
        listed = np.maximum(o_ids[:, :self.m], 0).T  # (m, n_O)
        vectors = lattice.reduce((o[:, listed] - o[:, None, :]).reshape(3, -1))  # (3, m n_O): [first O of every O, second ...]
        slot = np.full(self._owner.size, -1)
        slot[free] = np.arange(free.size)
        self._reference = {
            "x": x.copy(), "n_o": n_o, "lattice": lattice, "ids": listed.ravel(), "vectors": vectors,
            "missing": np.where(o_ids[:, :self.m].T >= 0, 0.0, np.inf), "rho": np.minimum(o_distance[:, self.m], radius),
            "free": slot, "free_reach": np.minimum(distance[n_o:, 0], radius),  # per H: its place among those free, d_j
        }
        self.full_searches += 1

    def _follow(self, columns, n_o, cells, pbc, owner) -> bool:
        """Owners of frames given as O then H positions stored as columns (F, 3, n_O + n_H) with
        their full-rank cells (F, 3, 3), written into ``owner`` (F, n_H); whether the reference
        should be renewed. Frames in another cell than the reference's are mapped into it by
        their fractional coordinates; a vector d̃ there is d = d̃ A, A = L_ref⁻¹ L, in the frame,
        so its length is at least σ_min(A) |d̃| (``stretch``)."""
        ref = self._reference
        if ref is None or self._owner is None:
            raise RuntimeError("frames are followed from a reference frame")
        lattice, r_oh, n_frames = ref["lattice"], self.r_oh, len(columns)
        real = columns
        other = np.flatnonzero(np.any(cells != lattice.cell, axis=(1, 2)))
        if other.size:  # columns x̃ = (A⁻¹)ᵀ x; vectors back with Aᵀ
            back = np.repeat(np.eye(3)[None], n_frames, axis=0)
            back[other] = (lattice.inverse @ cells[other]).transpose(0, 2, 1)
            columns = np.linalg.solve(back, columns)
            stretch = np.linalg.svd(back, compute_uv=False)[:, -1]
        o, h = columns[:, :, :n_o], columns[:, :, n_o:]
        # lower bounds on the O–O distances
        shift = columns[:, :, :1] - ref["x"][:, :1]  # the first O's displacement, then the mean one
        delta = o - ref["x"][:, :n_o]
        delta -= shift
        lattice.reduce(delta)
        mean = delta.mean(axis=2, keepdims=True)
        delta -= mean
        moved = np.sqrt(np.einsum("fcn,fcn->fn", delta, delta))
        most = moved.max(axis=1)
        toward = np.take(delta, ref["ids"], axis=2)  # (F, 3, m n_O): from each O to its listed O, followed
        toward += ref["vectors"]
        toward = toward.reshape(n_frames, 3, self.m, n_o)
        toward -= delta[:, :, None]
        squared = np.einsum("fcmn,fcmn->fmn", toward, toward)
        squared += ref["missing"]
        unfollowed = ref["rho"] - moved  # (F, n_O): how near an O image not followed can be
        unfollowed -= most[:, None]
        separation = np.minimum(np.sqrt(squared.min(axis=1)), unfollowed)
        # each H with its O of the frame before
        guess = np.maximum(self._owner, 0)
        bond = o[:, :, guess]
        bond -= h
        lattice.reduce(bond)
        if other.size:
            bond = back @ bond
            unfollowed *= stretch[:, None]
            separation *= stretch[:, None]
        length = np.sqrt(np.einsum("fcn,fcn->fn", bond, bond))
        certain = (length < r_oh) & (2.0 * length < separation[:, guess]) & (self._owner >= 0)
        np.copyto(owner, guess)
        frame, j = np.nonzero(~certain)
        if frame.size == 0:
            return False
        stale, open_ = False, np.ones(frame.size, dtype=bool)
        # an H near its O: the nearest of that O and the O listed for it
        near = np.flatnonzero((self._owner[j] >= 0) & (length[frame, j] < r_oh))
        if near.size:
            f, i, b = frame[near], guess[j[near]], length[frame[near], j[near]]
            to_listed = toward[f, :, :, i]  # (n, 3, m): the two index arrays go first
            if other.size:
                to_listed = back[f] @ to_listed
            to_listed += bond[f, :, j[near]][:, :, None]  # from the H
            squared = np.einsum("ncm,ncm->nm", to_listed, to_listed)
            squared += ref["missing"][:, i].T
            best = squared.argmin(axis=1)
            distance = np.sqrt(squared[np.arange(near.size), best])
            decided = np.minimum(distance, b) < unfollowed[f, i] - b
            listed = ref["ids"].reshape(self.m, n_o)[best, i]
            owner[f[decided], j[near[decided]]] = np.where(distance < b, listed, i)[decided]
            open_[near[decided]] = False
            stale = not decided.all()  # a bound grown weak left a bonded H open
        # an H free at the reference
        free = np.flatnonzero(open_ & (ref["free"][j] >= 0))
        if free.size:
            f, jf = frame[free], j[free]
            displaced = (h[f, :, jf] - ref["x"][:, n_o + jf].T - shift[f, :, 0])[:, :, None]  # (n, 3, 1)
            lattice.reduce(displaced)
            displaced -= mean[f]
            reach = ref["free_reach"][ref["free"][jf]] - np.sqrt(np.einsum("nc,nc->n", displaced[:, :, 0], displaced[:, :, 0]))
            still = (reach - most[f]) * (stretch[f] if other.size else 1.0) >= r_oh
            owner[f[still], jf[still]] = -1
            open_[free[still]] = False
        frame, j = frame[open_], j[open_]
        if frame.size:
            for f in np.unique(frame):  # in each frame's own cell
                these = np.flatnonzero(frame == f)
                owner[f, j[these]] = self._nearest(real[f], n_o, j[these], self._lattice(cells[f], pbc))
            stale = stale or np.bincount(frame, minlength=n_frames)[-1] > self.many // 4
        return stale or bool(other.size and stretch[-1] < 0.98)  # (a cell grown far from the reference's)

    def _nearest(self, x, n_o, j, lattice) -> np.ndarray:
        """Owners of H ``j`` (indices among the H) of one frame (O then H positions as columns
        (3, n_O + n_H), in ``lattice``): compared with every O (in parts of ~2**16 H–O pairs), or
        found by a neighbour search when more than :attr:`many` are asked and more than 2**15
        H–O pairs would be compared."""
        o, h = x[:, :n_o], x[:, n_o + j]
        if j.size > self.many and j.size * n_o > 1 << 15:
            ids, distance = _oxygen_candidates(o.T, h.T, lattice, self.r_oh, 1)
            self.full_searches += 1
            return np.where(distance[:, 0] < self.r_oh, ids[:, 0], -1)
        result = np.empty(j.size, dtype=np.int64)
        for part in np.array_split(np.arange(j.size), max(1, j.size * n_o // (1 << 16))):
            vectors = o[None] - h[:, part].T[:, :, None]  # (n, 3, n_O)
            squared = np.einsum("ncm,ncm->nm", lattice.reduce(vectors), vectors)
            best = squared.argmin(axis=1)
            result[part] = np.where(squared[np.arange(part.size), best] < self.r_oh * self.r_oh, best, -1)
        return result
