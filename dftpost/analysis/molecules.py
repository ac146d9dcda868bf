"""Water molecules from bare coordinates: H → nearest O, species census, unwrapping.

Pure functions: arrays in, results out. Lengths in Å. Each H belongs to the O nearest to it
under the minimum-image convention if that distance is below ``r_OH`` (default 1.2 Å, a choice
of dftpost); H with no O within ``r_OH`` are free. The neighbour search is a
``scipy.spatial.cKDTree`` (O(N log N)): periodic for orthorhombic cells, and for any other
(skewed or partly periodic) cell built on the O atoms wrapped into the cell plus the periodic
images of those within ``r_OH`` of a face.
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


def _face_widths(cell: np.ndarray) -> np.ndarray:
    """Distances (Å) between opposite faces of a full-rank cell."""
    area = np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    return abs(np.linalg.det(cell)) / area


def minimum_image(vectors: np.ndarray, cell: np.ndarray, inverse: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Vectors (Å, shape (..., 3)) reduced by whole lattice vectors along the periodic
    directions (rounding of fractional coordinates). The result is the minimum image for every
    vector whose minimum image is shorter than half the smallest face-to-face width; for longer
    ones it is some periodic image. ``cell``/``inverse`` are (3, 3), or (B, 3, 3) for vectors of
    shape (B, ..., 3)."""
    batched = cell.ndim == 3
    if not batched:
        cell, inverse, vectors = cell[None], inverse[None], vectors[None]
    shape = vectors.shape
    v = vectors.reshape(shape[0], -1, 3)
    if not np.any(cell - cell * np.eye(3)):  # orthorhombic: elementwise
        box = np.diagonal(cell, axis1=1, axis2=2)[:, None, :]
        reduced = v - np.where(pbc, box * np.round(v / box), 0.0)
    else:  # frac = v · inverse and back, written out: numpy's batched 3 x 3 matmul is slow
        frac = v[..., :1] * inverse[:, None, 0] + v[..., 1:2] * inverse[:, None, 1] + v[..., 2:] * inverse[:, None, 2]
        frac[..., pbc] -= np.round(frac[..., pbc])
        reduced = frac[..., :1] * cell[:, None, 0] + frac[..., 1:2] * cell[:, None, 1] + frac[..., 2:] * cell[:, None, 2]
    reduced = reduced.reshape(shape)
    return reduced if batched else reduced[0]


def _oxygen_candidates(o_pos: np.ndarray, h_pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray, radius: float, k: int):
    """For each H the ``k`` nearest O (periodic images included) within ``radius`` Å: indices
    into ``o_pos`` (−1 where fewer were found) and distances (inf there), shape (n_H, k).
    Orthorhombic periodic cells use scipy's periodic cKDTree; any other cell wraps O and H into it
    and builds a cKDTree on the O plus the periodic images of the O within ``radius`` of a face
    (so ``radius`` must not exceed any periodic face-to-face width)."""
    n_o = len(o_pos)
    if pbc.all() and not np.any(cell - np.diag(np.diag(cell))):  # orthorhombic: a periodic tree
        box = np.diag(cell)
        o_w, h_w = o_pos - box * np.floor(o_pos / box), h_pos - box * np.floor(h_pos / box)
        o_w, h_w = np.where(o_w >= box, 0.0, o_w), np.where(h_w >= box, 0.0, h_w)  # -1e-17 → box
        distance, nearest = cKDTree(o_w, boxsize=box).query(h_w, k=k, distance_upper_bound=radius)
        ids = nearest
    else:
        inverse = np.linalg.inv(cell)
        width = _face_widths(cell)

        def wrapped_fractions(xyz: np.ndarray) -> np.ndarray:
            frac = xyz @ inverse
            frac[:, pbc] -= np.floor(frac[:, pbc])
            frac[:, pbc] = np.where(frac[:, pbc] >= 1.0, 0.0, frac[:, pbc])  # -1e-17 wraps to exactly 1
            return frac

        o_frac, h_frac = wrapped_fractions(o_pos), wrapped_fractions(h_pos)
        reach = np.where(pbc, radius / width, 0.0)
        points, image_of = [o_frac @ cell], [np.arange(n_o)]
        for shift in np.array(np.meshgrid(*[(-1, 0, 1) if p else (0,) for p in pbc], indexing="ij")).reshape(3, -1).T:
            if not shift.any():
                continue
            near = np.all((shift == 0) | ((shift == 1) & (o_frac < reach)) | ((shift == -1) & (o_frac > 1 - reach)), axis=1)
            if near.any():
                points.append((o_frac[near] + shift) @ cell)
                image_of.append(np.flatnonzero(near))
        points_a, image_a = np.concatenate(points), np.append(np.concatenate(image_of), -1)
        distance, nearest = cKDTree(points_a).query(h_frac @ cell, k=k, distance_upper_bound=radius)
        ids = image_a[np.minimum(nearest, len(points_a))]
    distance, ids = distance.reshape(len(h_pos), k), ids.reshape(len(h_pos), k)
    return np.where(np.isfinite(distance), ids, -1), distance


def checked_cell(cell: np.ndarray, pbc: np.ndarray, r_oh: float = DEFAULT_R_OH) -> np.ndarray:
    """The cell (Å) made full rank (a non-periodic direction without a vector gets a unit
    orthogonal one), after checking that every periodic direction has a cell vector and is wider
    than 2 ``r_oh``; a :class:`~dftpost.errors.DftpostError` says what is wrong otherwise."""
    if np.any(pbc & ~cell.any(axis=1)):
        raise DftpostError(None, "the frame is periodic along a direction without a cell vector")
    full = _full_rank(cell)
    if np.any(pbc & (_face_widths(full) <= 2 * r_oh)):
        raise DftpostError(None, f"the cell is thinner than 2 r_OH = {2 * r_oh} Å along a periodic direction")
    return full


def water_indices(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the O and of the H atoms; an error when either is missing."""
    oxygen, hydrogen = np.flatnonzero(numbers == 8), np.flatnonzero(numbers == 1)
    if oxygen.size == 0 or hydrogen.size == 0:
        raise DftpostError(None, f"the frame has {oxygen.size} O and {hydrogen.size} H atoms: no water")
    return oxygen, hydrogen


def _bonds(o_pos, h_pos, owner, cell, inverse, pbc) -> np.ndarray:
    """Minimum-image vectors from each bonded H to its O (zero for free H), Å."""
    h_to_o = np.zeros(h_pos.shape)
    bonded = owner >= 0
    h_to_o[bonded] = minimum_image(o_pos[owner[bonded]] - h_pos[bonded], cell, inverse, pbc)
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
    ids, distance = _oxygen_candidates(o_pos, h_pos, cell, pbc, r_oh, 1)
    owner = np.where(distance[:, 0] < r_oh, ids[:, 0], -1)
    h_to_o = _bonds(o_pos, h_pos, owner, cell, np.linalg.inv(cell), pbc)
    bonded = owner >= 0
    unwrapped = h_pos.copy()
    unwrapped[bonded] = o_pos[owner[bonded]] - h_to_o[bonded]
    return Molecules(oxygen=oxygen, hydrogen=hydrogen, owner=owner, o_positions_A=o_pos, h_positions_A=unwrapped)


class BondTracker:
    """H → nearest-O assignment over consecutive frames of one trajectory: exact, and cheaper
    than a neighbour search per frame when frames are correlated (a Verlet-list argument).

    A reference frame gets one neighbour search that keeps, for every H j, its ``k`` nearest O
    (periodic images included) within ``r_oh + skin_A``, complete up to a radius R_j (the k-th
    distance when k were found): its owner o_j, the distance d2_j to the nearest other O (R_j if
    none) and, for a free H, the distance d1_j to the nearest O. In a later frame let Δ be each
    atom's displacement since the reference (any periodic image, less a common translation) and
    D_j = |Δ_j| + max_O |Δ_O|: every other O has moved relative to H j by at most D_j. Then

    1. H j keeps its owner if its current distance to it is below r_OH and below d2_j − D_j;
       a free H stays free if d1_j − D_j ≥ r_OH (no arithmetic beyond one distance per H);
    2. otherwise, if D_j < R_j − r_OH, its nearest O within r_OH is among its candidates, whose
       current minimum-image distances decide;
    3. otherwise the frame becomes the new reference.

    Runs of frames decided by 1–2 are assigned together, vectorised. When frames are
    uncorrelated (runs of one frame), plain searches of each frame take over for a while. Lengths
    in Å. The caller passes frames with the same atoms in the same order; :meth:`reset` otherwise.
    """

    def __init__(self, r_oh: float = DEFAULT_R_OH, skin_A: float = 2.0, k: int = 8):
        self.r_oh, self.skin_A, self.k = r_oh, skin_A, k
        self.full_searches = 0  #: neighbour searches made (references and plain searches)
        self.reset()

    def reset(self) -> None:
        """Forget the reference frame (the atoms changed)."""
        self._reference = None
        self._futile = 0

    def assign(self, o_pos: np.ndarray, h_pos: np.ndarray, cells: np.ndarray, pbc) -> tuple[np.ndarray, np.ndarray]:
        """Owners (B, n_H; index into the O, −1 for a free H) and minimum-image vectors from
        each H to its O (B, n_H, 3; zero for a free H) of a batch of B frames: O positions
        (B, n_O, 3), H positions (B, n_H, 3), full-rank cells (B, 3, 3) as :func:`checked_cell`
        gives them, one ``pbc`` for all."""
        pbc = np.asarray(pbc, dtype=bool)
        n_frames = len(o_pos)
        inverse = np.linalg.inv(cells)
        owner = np.full(h_pos.shape[:2], -1, dtype=np.int64)
        h_to_o = np.zeros(h_pos.shape)
        start, window = 0, 4
        while start < n_frames:
            if self._futile >= 3:  # uncorrelated frames: plain searches for a while
                for f in range(start, min(start + 8, n_frames)):
                    owner[f], h_to_o[f] = self._search(o_pos[f], h_pos[f], cells[f], inverse[f], pbc)
                start, self._futile = start + 8, 2
                continue
            part = slice(start, min(start + window, n_frames))
            check = self._check(o_pos[part], h_pos[part], cells[part], inverse[part], pbc)
            if check is None or not check[0][0]:
                self._renew(o_pos[start], h_pos[start], cells[start], pbc)
                check = self._check(o_pos[part], h_pos[part], cells[part], inverse[part], pbc)
            decided, kept, to_owner = check
            run = int(np.argmin(decided)) if not decided.all() else decided.size
            if run == 0:  # the candidates cannot decide even the reference itself (a tiny cell)
                owner[start], h_to_o[start] = self._search(o_pos[start], h_pos[start], cells[start], inverse[start], pbc)
                start += 1
                continue
            done = slice(start, start + run)
            owner[done], h_to_o[done] = self._decide(o_pos[done], h_pos[done], cells[done], inverse[done], pbc,
                                                     kept[:run], to_owner[:run])
            self._futile = self._futile + 1 if run == 1 and decided.size > 1 else 0
            start, window = start + run, min(max(2 * run, 4), 64)
        return owner, h_to_o

    def _search(self, o_pos, h_pos, cell, inverse, pbc) -> tuple[np.ndarray, np.ndarray]:
        """One frame's assignment by a neighbour search."""
        ids, distance = _oxygen_candidates(o_pos, h_pos, cell, pbc, self.r_oh, 1)
        owner = np.where(distance[:, 0] < self.r_oh, ids[:, 0], -1)
        self.full_searches += 1
        return owner, _bonds(o_pos, h_pos, owner, cell, inverse, pbc)

    def _renew(self, o_pos, h_pos, cell, pbc) -> None:
        radius = self.r_oh + self.skin_A
        if pbc.any():
            radius = min(radius, 0.5 * _face_widths(cell)[pbc].min())
        ids, distance = _oxygen_candidates(o_pos, h_pos, cell, pbc, radius, self.k)
        complete_to = np.where(np.isfinite(distance[:, -1]), distance[:, -1], radius)
        bonded = distance[:, 0] < self.r_oh
        owner = np.where(bonded, ids[:, 0], -1)
        # bonded H: the nearest O but the owner (candidates are sorted); free H: the nearest O
        other = np.where(bonded, np.where(ids[:, 1:] == ids[:, :1], np.inf, distance[:, 1:]).min(axis=1, initial=np.inf), distance[:, 0])
        self._reference = {
            "o": o_pos.copy(), "h": h_pos.copy(), "cell": cell.copy(), "owner": owner,
            "ids": np.maximum(ids, 0), "found": ids >= 0, "margin": complete_to - self.r_oh,
            "other": np.minimum(other, complete_to),
        }
        self.full_searches += 1

    def _check(self, o_pos, h_pos, cells, inverse, pbc):
        """For frames (F) against the reference: whether each frame is decided by rules 1–2,
        which H keep their state by rule 1 (F, n_H), and the vectors from each H to its
        reference owner (F, n_H, 3). None without a usable reference."""
        ref = self._reference
        if ref is None or ref["o"].shape != o_pos.shape[1:] or ref["h"].shape != h_pos.shape[1:]:
            return None
        shift = o_pos[:, :1] - ref["o"][:1]  # a common translation: the first O's
        d_o = minimum_image(o_pos - ref["o"] - shift, cells, inverse, pbc)
        common = d_o.mean(axis=1, keepdims=True)
        d_o -= common
        d_h = minimum_image(h_pos - ref["h"] - shift, cells, inverse, pbc) - common
        reach = np.sqrt(np.einsum("fij,fij->fi", d_h, d_h)) + np.sqrt(np.einsum("fij,fij->fi", d_o, d_o).max(axis=1))[:, None]
        bonded = ref["owner"] >= 0
        to_owner = minimum_image(o_pos[:, np.maximum(ref["owner"], 0)] - h_pos, cells, inverse, pbc)
        near = np.sqrt(np.einsum("fij,fij->fi", to_owner, to_owner))
        kept = np.where(bonded, (near < self.r_oh) & (near < ref["other"] - reach), ref["other"] - reach >= self.r_oh)
        same_cell = np.all(cells == ref["cell"], axis=(1, 2))
        decided = same_cell & np.all(kept | (reach < ref["margin"]), axis=1)
        return decided, kept, to_owner

    def _decide(self, o_pos, h_pos, cells, inverse, pbc, kept, to_owner):
        """Owners and H → O vectors of frames decided by rules 1–2."""
        ref = self._reference
        owner = np.where(kept, ref["owner"], -1)
        h_to_o = np.where((kept & (ref["owner"] >= 0))[..., None], to_owner, 0.0)
        frame, h = np.nonzero(~kept)
        if frame.size:
            ids, found = ref["ids"][h], ref["found"][h]  # (n, k)
            vectors = minimum_image(o_pos[frame[:, None], ids] - h_pos[frame, h][:, None, :],
                                    cells[frame], inverse[frame], pbc)  # (n, k, 3), a cell per row
            distance = np.where(found, np.sqrt(np.einsum("nkx,nkx->nk", vectors, vectors)), np.inf)
            best = distance.argmin(axis=1)
            rows = np.arange(frame.size)
            bonded = distance[rows, best] < self.r_oh
            owner[frame, h] = np.where(bonded, ids[rows, best], -1)
            h_to_o[frame, h] = np.where(bonded[:, None], vectors[rows, best], 0.0)
        return owner, h_to_o
