"""Cells and heights: the one place for cell checks, areas, periods, minimum images and the
widest vacuum gap of a slab. Arrays in (Å), numbers out; no file I/O.
"""

from __future__ import annotations

import numpy as np

from ..errors import DftpostError


def repeat_distance_z(cell_A: np.ndarray) -> float:
    """Period of the cell along z (Å) when its first two vectors lie in the xy plane: the
    volume over the area of the a–b face (c_z, also for a tilted c vector)."""
    cell = np.asarray(cell_A, dtype=float)
    return float(abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(cell[0], cell[1])))


def area_normal_to(cell_A: np.ndarray, axis: int) -> float:
    """Area (Å²) of the cell face spanned by the two cell vectors other than ``axis``."""
    a, b = (np.asarray(cell_A, dtype=float)[i] for i in range(3) if i != axis)
    return float(np.linalg.norm(np.cross(a, b)))


def check_slab_cell(cell_A: np.ndarray) -> None:
    """Profiles along z need the cell vectors a and b in the xy plane (z the surface normal, to
    1e-6 Å) and a c vector along z (the period of the heights); a
    :class:`~dftpost.errors.DftpostError` says which is missing."""
    cell = np.asarray(cell_A, dtype=float)
    if np.abs(cell[:2, 2]).max() > 1e-6:
        raise DftpostError(None, f"the cell vectors a and b must lie in the xy plane (z is the surface normal), "
                                 f"their z components are {cell[0, 2]:g} and {cell[1, 2]:g} Å")
    if not abs(cell[2, 2]) > 0:
        raise DftpostError(None, "the cell has no z vector: heights cannot be wrapped")


def cell_widths(cell_A: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of the cell (Å), one per cell vector: the volume over
    the area of the face the other two vectors span."""
    cell = np.asarray(cell_A, dtype=float)
    return abs(np.linalg.det(cell)) / np.array([area_normal_to(cell, d) for d in range(3)])


#: Smallest |det| (Å³) of a cell taken as three independent vectors
MIN_VOLUME_A3 = 1e-9


def full_rank_cell(cell_A: np.ndarray) -> np.ndarray:
    """The cell (Å) with any zero vector (a non-periodic direction) replaced by a unit vector
    orthogonal to the others (any length serves: nothing is wrapped along it)."""
    cell = np.array(cell_A, dtype=float)
    for i in np.flatnonzero(~cell.any(axis=1)):
        others = [cell[j] for j in range(3) if j != i and cell[j].any()]
        direction = np.cross(*others) if len(others) == 2 else np.eye(3)[i]
        cell[i] = direction / np.linalg.norm(direction)
    return cell


def check_molecule_cell(cell_A: np.ndarray, pbc: np.ndarray, min_width_A: float, what: str) -> np.ndarray:
    """The cell (Å) made full rank (:func:`full_rank_cell`), after checking that every periodic
    direction (``pbc``) has a cell vector and is wider than ``min_width_A`` (``what`` names that
    width in the error), as molecules made whole by minimum images need."""
    cell = np.asarray(cell_A, dtype=float)
    pbc = np.asarray(pbc, dtype=bool)
    if np.any(pbc & ~cell.any(axis=1)):
        raise DftpostError(None, "the frame is periodic along a direction without a cell vector")
    full = full_rank_cell(cell)
    if np.any(pbc & (cell_widths(full) <= min_width_A)):
        raise DftpostError(None, f"the cell is thinner than {what} along a periodic direction")
    return full


def check_periodic_cell(cell_A: np.ndarray, why: str) -> np.ndarray:
    """The cell (3 × 3, Å) as floats, after checking it has three linearly independent vectors
    (|det| ≥ :data:`MIN_VOLUME_A3`), which a sum periodic in 3D needs; ``why`` ends the error."""
    cell = np.asarray(cell_A, dtype=float)
    if cell.shape != (3, 3) or abs(np.linalg.det(cell)) < MIN_VOLUME_A3:
        raise DftpostError(None, f"the cell has fewer than three vectors (linearly independent): {why}")
    return cell


_SHIFTS = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=float)


def minimum_image_distance(delta_A: np.ndarray, cell_A: np.ndarray) -> np.ndarray:
    """|d| (Å) of the nearest periodic image of each difference vector (rows of ``delta_A``) in a
    cell periodic in 3D: exact for vectors shorter than half the smallest face-to-face width
    (molecules are), for tilted cells too (the 27 neighbouring images are compared)."""
    frac = np.asarray(delta_A, dtype=float) @ np.linalg.inv(cell_A)
    frac -= np.round(frac)
    return np.linalg.norm((frac[:, None, :] + _SHIFTS) @ cell_A, axis=2).min(axis=1)


def widest_gap(heights_A: np.ndarray, length_A: float) -> tuple[float, float]:
    """The widest gap between heights on a period ``length_A`` (Å): the height where it starts
    (wrapped into [0, length); for a slab, its top) and its width (Å). For a slab in vacuum it
    is the vacuum; heights taken from an origin ``o`` give the gap from ``o`` + start."""
    starts, widths = widest_gaps(np.asarray(heights_A, dtype=float)[None, :], np.array([length_A]))
    return float(starts[0]), float(widths[0])


def widest_gaps(heights_A: np.ndarray, length_A: np.ndarray, wrapped: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:func:`widest_gap` of each row of ``heights_A`` (B, M) with periods ``length_A`` (B,) or
    (1,): starts and widths (B,), Å. ``wrapped``: the heights already lie in [0, length]."""
    length = np.broadcast_to(np.asarray(length_A, dtype=float), heights_A.shape[:1])[:, None]
    z = np.sort(heights_A if wrapped else np.mod(heights_A, length), axis=1)
    gaps = np.diff(np.concatenate([z, z[:, :1] + length], axis=1), axis=1)
    k = np.argmax(gaps, axis=1)
    rows = np.arange(len(z))
    return z[rows, k], gaps[rows, k]
