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


def _full_rank(cell: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The cell with any zero vector (a non-periodic direction) replaced by a long orthogonal one."""
    cell = cell.copy()
    for i in np.flatnonzero(~cell.any(axis=1)):
        others = [cell[j] for j in range(3) if j != i and cell[j].any()]
        direction = np.cross(*others) if len(others) == 2 else np.eye(3)[i]
        span = np.ptp(positions, axis=0).max() if positions.size else 0.0
        cell[i] = direction / np.linalg.norm(direction) * (span + 100.0)
    return cell


def _nearest_oxygen(o_pos: np.ndarray, h_pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray, r_oh: float):
    """For each H, the index of the nearest O within ``r_oh`` (−1 if none) and the minimum-image
    vector from the H to it. Orthorhombic periodic cells use scipy's periodic cKDTree; any other
    cell wraps O and H into it and builds a cKDTree on the O plus the periodic images of the O
    lying within ``r_oh`` of a face."""
    if pbc.all() and not np.any(cell - np.diag(np.diag(cell))):  # orthorhombic: a periodic tree
        box = np.diag(cell)
        o_w, h_w = o_pos - box * np.floor(o_pos / box), h_pos - box * np.floor(h_pos / box)
        o_w, h_w = np.where(o_w >= box, 0.0, o_w), np.where(h_w >= box, 0.0, h_w)  # -1e-17 → box
        distance, nearest = cKDTree(o_w, boxsize=box).query(h_w, k=1, distance_upper_bound=r_oh)
        bonded = distance < r_oh
        owner = np.where(bonded, nearest, -1).astype(np.int64)
        h_to_o = np.zeros((len(h_pos), 3))
        delta = o_w[nearest[bonded]] - h_w[bonded]
        h_to_o[bonded] = delta - box * np.round(delta / box)
        return owner, h_to_o
    cell = _full_rank(cell, np.concatenate([o_pos, h_pos]))
    inverse = np.linalg.inv(cell)
    area = np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    width = abs(np.linalg.det(cell)) / area  # distance between opposite faces
    if np.any(pbc & (width <= 2 * r_oh)):
        raise DftpostError(None, f"the cell is thinner than 2 r_OH = {2 * r_oh} Å along a periodic direction")

    def wrapped_fractions(xyz: np.ndarray) -> np.ndarray:
        frac = xyz @ inverse
        frac[:, pbc] -= np.floor(frac[:, pbc])
        frac[:, pbc] = np.where(frac[:, pbc] >= 1.0, 0.0, frac[:, pbc])  # -1e-17 wraps to exactly 1
        return frac

    o_frac, h_frac = wrapped_fractions(o_pos), wrapped_fractions(h_pos)
    reach = np.where(pbc, r_oh / width, 0.0)
    points, ids = [o_frac @ cell], [np.arange(len(o_pos))]
    for shift in np.array(np.meshgrid(*[(-1, 0, 1) if p else (0,) for p in pbc], indexing="ij")).reshape(3, -1).T:
        if not shift.any():
            continue
        near = np.all((shift == 0) | ((shift == 1) & (o_frac < reach)) | ((shift == -1) & (o_frac > 1 - reach)), axis=1)
        if near.any():
            points.append((o_frac[near] + shift) @ cell)
            ids.append(np.flatnonzero(near))
    points_a, ids_a = np.concatenate(points), np.concatenate(ids)
    h_wrapped = h_frac @ cell
    distance, nearest = cKDTree(points_a).query(h_wrapped, k=1, distance_upper_bound=r_oh)
    bonded = distance < r_oh
    owner = np.full(len(h_pos), -1, dtype=np.int64)
    owner[bonded] = ids_a[nearest[bonded]]
    h_to_o = np.zeros((len(h_pos), 3))
    h_to_o[bonded] = points_a[nearest[bonded]] - h_wrapped[bonded]
    return owner, h_to_o


def assign_hydrogens(
    numbers: np.ndarray, positions_A: np.ndarray, cell_A: np.ndarray, pbc=(True, True, True), r_oh: float = DEFAULT_R_OH
) -> Molecules:
    """Assign every H to its nearest O within ``r_oh`` (Å) under the minimum image.

    ``numbers`` are atomic numbers; atoms that are neither O nor H (a metal) are ignored.
    Raises :class:`~dftpost.errors.DftpostError` if the frame has no O or no H, or periodic
    directions without a cell vector.
    """
    numbers = np.asarray(numbers)
    positions = np.asarray(positions_A, dtype=float)
    cell = np.asarray(cell_A, dtype=float)
    pbc = np.asarray(pbc, dtype=bool)
    oxygen = np.flatnonzero(numbers == 8)
    hydrogen = np.flatnonzero(numbers == 1)
    if oxygen.size == 0 or hydrogen.size == 0:
        raise DftpostError(None, f"the frame has {oxygen.size} O and {hydrogen.size} H atoms: no water")
    lengths = np.linalg.norm(cell, axis=1)
    if np.any(pbc & (lengths == 0)):
        raise DftpostError(None, "the frame is periodic along a direction without a cell vector")
    o_pos, h_pos = positions[oxygen], positions[hydrogen]
    owner, h_to_o = _nearest_oxygen(o_pos, h_pos, cell, pbc, r_oh)
    bonded = owner >= 0
    unwrapped = h_pos.copy()
    unwrapped[bonded] = o_pos[owner[bonded]] - h_to_o[bonded]
    return Molecules(oxygen=oxygen, hydrogen=hydrogen, owner=owner, o_positions_A=o_pos, h_positions_A=unwrapped)
