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
