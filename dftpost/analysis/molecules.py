"""Water molecules from bare coordinates: H → nearest O, species census, unwrapping.

Pure functions: arrays in, results out. Lengths in Å. Each H belongs to the O nearest to it
under the minimum-image convention if that distance is below ``r_OH`` (default 1.2 Å, a choice
of dftpost); H with no O within ``r_OH`` are free. The neighbour search is a periodic
``scipy.spatial.cKDTree`` for orthorhombic periodic cells (O(N log N)) and ASE's
linear-scaling ``primitive_neighbor_list`` for skewed or partly periodic ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.neighborlist import primitive_neighbor_list
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
    owner = np.full(hydrogen.size, -1, dtype=np.int64)
    h_to_o = np.zeros((hydrogen.size, 3))  # vector from each bonded H to its O, minimum image
    if pbc.all() and np.allclose(cell, np.diag(np.diag(cell))):
        box = np.diag(cell)
        tree = cKDTree(np.mod(o_pos, box), boxsize=box)
        distance, nearest = tree.query(np.mod(h_pos, box), k=1, distance_upper_bound=r_oh)
        bonded = distance < r_oh
        owner[bonded] = nearest[bonded]
        delta = o_pos[owner[bonded]] - h_pos[bonded]
        h_to_o[bonded] = delta - box * np.round(delta / box)
    else:  # skewed or partly periodic cell: ASE's linear-scaling neighbour list
        both = np.concatenate([h_pos, o_pos])
        i, j, d, vec = primitive_neighbor_list("ijdD", pbc, cell, both, r_oh, self_interaction=False)
        pairs = (i < hydrogen.size) & (j >= hydrogen.size)
        i, j, d, vec = i[pairs], j[pairs] - hydrogen.size, d[pairs], vec[pairs]
        order = np.lexsort((d, i))  # per H, the nearest O first
        first = order[np.r_[True, i[order][1:] != i[order][:-1]]] if order.size else order
        owner[i[first]] = j[first]
        h_to_o[i[first]] = vec[first]
    bonded = owner >= 0
    unwrapped = h_pos.copy()
    unwrapped[bonded] = o_pos[owner[bonded]] - h_to_o[bonded]
    return Molecules(oxygen=oxygen, hydrogen=hydrogen, owner=owner, o_positions_A=o_pos, h_positions_A=unwrapped)
