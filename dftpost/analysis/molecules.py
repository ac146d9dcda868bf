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

import numpy as np
from scipy.spatial import cKDTree

from ..errors import DftpostError

#: Default O–H bond cut-off, Å (a choice: O–H bonds are ~1.0 Å, hydrogen bonds ~1.8 Å).
DEFAULT_R_OH = 1.2


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


def _full_rank(cell: np.ndarray) -> np.ndarray:
    """The cell with any zero vector (a non-periodic direction) replaced by a unit vector
    orthogonal to the others (any length serves: nothing is wrapped along it)."""
    cell = cell.copy()
    for i in np.flatnonzero(~cell.any(axis=1)):
        others = [cell[j] for j in range(3) if j != i and cell[j].any()]
        direction = np.cross(*others) if len(others) == 2 else np.eye(3)[i]
        cell[i] = direction / np.linalg.norm(direction)
    return cell


class _Lattice:
    """A full-rank cell (3, 3, Å) with its periodic directions ``pbc``: reduces vectors by whole
    lattice vectors along the periodic directions (rounding of fractional coordinates). The result
    is the minimum image for every vector whose minimum image is shorter than half the smallest
    face-to-face width; for longer ones it is some periodic image."""

    def __init__(self, cell: np.ndarray, pbc: np.ndarray):
        self.cell, self.inverse, self.pbc = cell, np.linalg.inv(cell), pbc
        self.widths = 1.0 / np.linalg.norm(self.inverse, axis=0)  #: face-to-face widths, Å
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
    tree = cKDTree(points @ lattice.cell)
    distance, nearest = tree.query(wrapped_fractions(h_pos) @ lattice.cell, k=k, distance_upper_bound=radius)
    distance, nearest = distance.reshape(len(h_pos), k), nearest.reshape(len(h_pos), k)
    return np.append(image_of, -1)[nearest], distance


def checked_cell(cell: np.ndarray, pbc: np.ndarray, r_oh: float = DEFAULT_R_OH) -> np.ndarray:
    """The cell (Å) made full rank (a non-periodic direction without a vector gets a unit
    orthogonal one), after checking that every periodic direction has a cell vector and is wider
    than 2 ``r_oh``; a :class:`~dftpost.errors.DftpostError` says what is wrong otherwise."""
    if np.any(pbc & ~cell.any(axis=1)):
        raise DftpostError(None, "the frame is periodic along a direction without a cell vector")
    full = _full_rank(cell)
    if np.any(pbc & (_Lattice(full, pbc).widths <= 2 * r_oh)):
        raise DftpostError(None, f"the cell is thinner than 2 r_OH = {2 * r_oh} Å along a periodic direction")
    return full


def water_indices(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the O and of the H atoms; an error when either is missing."""
    oxygen, hydrogen = np.flatnonzero(numbers == 8), np.flatnonzero(numbers == 1)
    if oxygen.size == 0 or hydrogen.size == 0:
        raise DftpostError(None, f"the frame has {oxygen.size} O and {hydrogen.size} H atoms: no water")
    return oxygen, hydrogen


def _bonds(o_pos, h_pos, owner, lattice: _Lattice) -> np.ndarray:
    """Minimum-image vectors from each bonded H to its O (zero for free H), Å."""
    h_to_o = np.zeros(h_pos.shape)
    bonded = owner >= 0
    h_to_o[bonded] = lattice.minimum_image(o_pos[owner[bonded]] - h_pos[bonded])
    return h_to_o


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


class BondTracker:
    """H → nearest-O assignment over consecutive frames of one trajectory: exact, and cheaper
    than a neighbour search per frame when frames are correlated (a Verlet-list argument).

    A reference frame gets one neighbour search that lists, for every H j, its ``k`` nearest O
    (periodic images included) within the radius r = min(``r_oh + skin_A``, half the narrowest
    periodic face-to-face width) with the minimum-image vectors v from H j to them. O not among
    the ``m`` nearest are at ρ_j or farther from H j (ρ_j: the (m+1)-th distance, or r when fewer
    were found), O not listed at R_j or farther (the k-th distance, or r), and any image of a
    listed O other than the nearest one at r or farther (two images are a lattice vector apart,
    at least one face width ≥ 2r). In a later frame with the same cell let Δ be each atom's
    displacement since the reference (reduced by lattice vectors, less a common translation) and
    D_j = |Δ_j| + max_O |Δ_O|: each listed O is followed as the image v + Δ_O − Δ_j of it, and
    every image not followed has come closer to H j by at most D_j. With a_j the current
    distance from H j to the nearest of its m nearest reference O (a followed image within
    r_OH, less than half a face width, is the minimum image),

    1. if a_j < r_OH and a_j < ρ_j − D_j, that O owns H j; if a_j ≥ r_OH and
       ρ_j − D_j > r_OH, H j is free (m distances per H; protons passing between O included);
    2. otherwise, if D_j < R_j − r_OH, the nearest of its k listed O, if within r_OH, owns H j;
    3. otherwise the frame becomes the new reference.

    Frames are followed in windows of up to :attr:`window` (arrays small enough for the cache),
    as columns (numpy runs slowly over a trailing axis of 3), and the frames before the first one
    that needs rule 3 are assigned together. When frames are uncorrelated (references deciding
    only themselves), plain searches take over for 8, 16, 32, then 64 frames between attempts.
    Lengths in Å. The caller passes frames with the same atoms in the same order; :meth:`reset`
    otherwise. ``skin_A`` and ``k`` trade the cost of a reference against how long it lasts, ``m``
    the cost of rule 1 against how often rule 2 is needed.
    """

    window = 16  #: frames followed at once

    def __init__(self, r_oh: float = DEFAULT_R_OH, skin_A: float = 3.0, k: int = 12, m: int = 3):
        if not 1 <= m < k:
            raise ValueError("BondTracker needs 1 <= m < k")
        self.r_oh, self.skin_A, self.k, self.m = r_oh, skin_A, k, m
        self.full_searches = 0  #: neighbour searches made (references and plain searches)
        self.reset()

    def reset(self) -> None:
        """Forget the reference frame (the atoms changed)."""
        self._reference = self._last = None
        self._futile = 0  # references in a row that decided only themselves
        self._plain = 0  # frames to assign by plain searches before the next reference

    def assign(self, o_pos: np.ndarray, h_pos: np.ndarray, cells: np.ndarray, pbc) -> tuple[np.ndarray, np.ndarray]:
        """Owners (B, n_H; index into the O, −1 for a free H) and minimum-image vectors from
        each H to its O (B, n_H, 3; zero for a free H) of a batch of B frames: O positions
        (B, n_O, 3), H positions (B, n_H, 3), full-rank cells (B, 3, 3) as :func:`checked_cell`
        gives them, one ``pbc`` for all."""
        pbc = np.asarray(pbc, dtype=bool)
        n_frames, n_o = o_pos.shape[:2]
        columns = np.empty((n_frames, 3, n_o + h_pos.shape[1]))  # O then H, x, y, z along axis 1
        columns[:, :, :n_o], columns[:, :, n_o:] = o_pos.transpose(0, 2, 1), h_pos.transpose(0, 2, 1)
        owner = np.full(h_pos.shape[:2], -1, dtype=np.int64)
        h_to_o = np.zeros((n_frames, 3, h_pos.shape[1]))  # as columns until returned
        start, window, stale = 0, 4, False
        while start < n_frames:
            if self._plain:  # uncorrelated frames: plain searches for a while
                stop = min(start + self._plain, n_frames)
                for f in range(start, stop):
                    owner[f], h_to_o[f] = self._search(columns[f], n_o, cells[f], pbc)
                start, self._plain = stop, self._plain - (stop - start)
                continue
            renewed = stale or not self._fits(columns[start], n_o, cells[start], pbc)
            if renewed:
                self._renew(columns[start], n_o, cells[start], pbc)
            stop = min(start + window, n_frames)
            same_cell = np.all(cells[start:stop] == self._reference["lattice"].cell, axis=(1, 2))
            stop = start + (int(np.argmin(same_cell)) if not same_cell.all() else same_cell.size)
            run = self._follow(columns[start:stop], owner[start:stop], h_to_o[start:stop])
            stale = start + run < stop  # frame start + run is undecided: it becomes the reference
            if run == 0 and renewed:  # the candidates cannot decide even the reference itself (a tiny cell)
                owner[start], h_to_o[start] = self._search(columns[start], n_o, cells[start], pbc)
                start, stale = start + 1, False
                continue
            if renewed:  # a reference that decides only itself is futile; in a row, they pause tracking
                self._futile = self._futile + 1 if run == 1 and stale else 0
                self._plain = 8 << min(self._futile - 3, 3) if self._futile >= 3 else 0
            start, window = start + run, min(max(2 * run, 4), self.window)
        return owner, np.ascontiguousarray(h_to_o.transpose(0, 2, 1))

    def _fits(self, columns, n_o, cell, pbc) -> bool:
        """Whether the reference serves a frame of these atoms (columns (3, n_O + n_H)), cell and pbc."""
        ref = self._reference
        return (ref is not None and ref["x"].shape == columns.shape and ref["n_o"] == n_o
                and np.array_equal(ref["lattice"].cell, cell) and np.array_equal(ref["lattice"].pbc, pbc))

    def _lattice(self, cell, pbc) -> _Lattice:
        """The lattice of a cell, kept while frames share it."""
        if self._last is None or not (np.array_equal(self._last.cell, cell) and np.array_equal(self._last.pbc, pbc)):
            self._last = _Lattice(cell.copy(), pbc.copy())
        return self._last

    def _search(self, x, n_o, cell, pbc) -> tuple[np.ndarray, np.ndarray]:
        """The assignment of one frame (O then H positions as columns (3, n_O + n_H)) by a
        neighbour search: owners and H → O vectors as columns."""
        lattice = self._lattice(cell, pbc)
        o, h = x[:, :n_o], x[:, n_o:]
        ids, distance = _oxygen_candidates(o.T, h.T, lattice, self.r_oh, 1)
        owner = np.where(distance[:, 0] < self.r_oh, ids[:, 0], -1)
        self.full_searches += 1
        return owner, lattice.reduce(o[:, owner] - h) * (owner >= 0)

    def _renew(self, x, n_o, cell, pbc) -> None:
        """A new reference: one frame of O then H positions as columns (3, n_O + n_H)."""
        lattice = self._lattice(cell, pbc)
        radius = self.r_oh + self.skin_A
        if pbc.any():
            radius = min(radius, 0.5 * lattice.widths[pbc].min())
        o, h = x[:, :n_o], x[:, n_o:]
        ids, distance = _oxygen_candidates(o.T, h.T, lattice, radius, self.k)
        ids, found = np.maximum(ids, 0).T, (ids >= 0).T  # (k, n_H)
        vectors = lattice.reduce((o[:, ids] - h[:, None, :]).reshape(3, -1)).reshape(3, *ids.shape)  # (3, k, n_H)
        self._reference = {
            "x": x.copy(), "n_o": n_o, "lattice": lattice,
            "ids": ids, "missing": np.where(found, 0.0, np.inf), "vectors": vectors,
            "near": ids[:self.m], "near_missing": np.where(found[:self.m], 0.0, np.inf),
            "near_vectors": vectors[:, :self.m].reshape(3, -1),  # [first O of every H, second ...]
            "rho": np.minimum(distance[:, self.m], radius), "margin": np.minimum(distance[:, -1], radius) - self.r_oh,
        }
        self.full_searches += 1

    def _follow(self, columns, owner, h_to_o) -> int:
        """The number of leading frames, given as O then H positions stored as columns
        (F, 3, n_O + n_H), all in the reference cell, that rules 1–2 decide; their owners and
        H → O vectors are written into ``owner`` (F, n_H) and ``h_to_o`` (F, 3, n_H)."""
        ref = self._reference
        r_oh, n_o, n_frames = self.r_oh, ref["n_o"], len(columns)
        n_h = columns.shape[2] - n_o
        delta = columns - ref["x"]
        delta -= delta[:, :, :1].copy()  # less the first O's displacement, then the mean O displacement's
        ref["lattice"].reduce(delta)
        delta -= delta[:, :, :n_o].mean(axis=2, keepdims=True)
        d_o, d_h = delta[:, :, :n_o], delta[:, :, n_o:]
        squared = np.einsum("fcn,fcn->fn", delta, delta)
        reach = np.sqrt(squared[:, n_o:])
        reach += np.sqrt(squared[:, :n_o].max(axis=1))[:, None]
        # rule 1: the m nearest reference O
        m = len(ref["near"])
        near = np.take(d_o, ref["near"].ravel(), axis=2)  # (F, 3, m n_H)
        near += ref["near_vectors"]
        near = near.reshape(n_frames, 3, m, n_h)
        near -= d_h[:, :, None]
        squared = np.einsum("fcmn,fcmn->fmn", near, near)
        squared += ref["near_missing"]
        low = squared.min(axis=1)
        nearest = np.sqrt(low)
        kept = ref["rho"] - reach > np.minimum(nearest, r_oh)
        decided = np.all(kept | (reach < ref["margin"]), axis=1)
        run = int(np.argmin(decided)) if not decided.all() else n_frames
        bonded = kept[:run] & (nearest[:run] < r_oh)
        owner[:run] = np.where(bonded, ref["near"][0], -1)
        np.multiply(near[:run, :, 0], bonded[:, None], out=h_to_o[:run])
        frame, h = np.divmod(np.flatnonzero(bonded & (squared[:run, 0] > low[:run])), n_h)  # another O is nearer
        if frame.size:
            best = squared[frame, :, h].argmin(axis=1)
            owner[frame, h] = ref["near"][best, h]
            h_to_o[frame, :, h] = near[frame, :, best, h]
        # rule 2: the k nearest reference O, for the H that rule 1 left open
        frame, h = np.divmod(np.flatnonzero(~kept[:run]), n_h)
        if frame.size:
            ids = ref["ids"][:, h]  # (k, n)
            vectors = np.take(d_o.transpose(1, 0, 2).reshape(3, -1), frame * n_o + ids, axis=1)  # (3, k, n)
            vectors += ref["vectors"][:, :, h]
            vectors -= d_h[frame, :, h].T[:, None]
            squared = np.einsum("ckn,ckn->kn", vectors, vectors)
            squared += ref["missing"][:, h]
            best = squared.argmin(axis=0)
            pair = np.arange(frame.size)
            bonded = squared[best, pair] < r_oh * r_oh
            owner[frame, h] = np.where(bonded, ids[best, pair], -1)
            h_to_o[frame, :, h] = np.where(bonded, vectors[:, best, pair], 0.0).T
        return run


