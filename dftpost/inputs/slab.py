"""A frame made ready for a slab calculation with a dipole correction along z, and the atom
lists its projected DoS needs.

Both programs put the dipole-correction plane (and, for a CP2K field run, the jump of the
sawtooth potential −E·z) at the cell boundary z = 0 = L_z; that plane must lie in the vacuum in
every frame. An MLIP frame may have its slab anywhere, even across the boundary, so the frame is
shifted along z (and wrapped along z only) to put the middle of its widest vacuum gap at z = 0.
The shift is recorded; it changes no distance, no fixed-charge dipole of whole molecules, and no
electronic property.

The water atoms are chosen by the rule of ``dftpost gap``
(:func:`~dftpost.analysis.water_selection.select_water`): the water molecules whose atoms all lie
farther than ``d_cut`` from the nearest substrate atom (metal, oxide) along z, minimum image,
all O and H without a substrate. Layer lists split them by height into bins of
``layer_width`` starting at the lowest of them, as ``dftpost gap`` bins per-atom DoS, for the
z-resolved PDoS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..analysis.dipole import slab_origin
from ..analysis.water_selection import water_atoms
from ..errors import DftpostError

#: Default minimum width of the vacuum gap along z (Å): the field response is fitted 3 Å away
#: from the atoms and 1 Å away from the boundary on each side (``dftpost field-profile``).
DEFAULT_MIN_VACUUM_A = 10.0
#: Default width of the layer lists (Å), the z bins ``dftpost gap`` uses for per-atom DoS.
DEFAULT_LAYER_WIDTH_A = 3.0


@dataclass(frozen=True)
class AtomList:
    """A named list of atoms (0-based indices) whose projected DoS is written."""

    name: str
    what: str
    indices: tuple[int, ...]

    def one_based(self) -> list[int]:
        return [i + 1 for i in self.indices]


@dataclass(frozen=True, eq=False)
class PreparedSlab:
    """A frame ready for a slab calculation: ``atoms`` shifted along z by ``z_shift_A`` and
    wrapped along z so that the middle of the widest vacuum gap (``vacuum_A`` wide) is at
    z = 0; ``water`` the 0-based indices of the water atoms ``dftpost gap`` selects,
    ``top_metal_A`` the height of the highest metal atom (None without metal), ``layers`` the
    water atoms by height (empty when they fit in one layer)."""

    atoms: Atoms
    z_shift_A: float
    vacuum_A: float
    water: np.ndarray
    top_metal_A: float | None
    layers: tuple[np.ndarray, ...]

    @property
    def has_metal(self) -> bool:
        return self.top_metal_A is not None

    def pdos_lists(self) -> list[AtomList]:
        """The water list first, then the layer lists bottom to top (``list1``, ``list2`` …)."""
        lists = [AtomList("list1", "water atoms beyond d_cut (the water PDoS of dftpost gap)", tuple(int(i) for i in self.water))]
        for k, layer in enumerate(self.layers, 1):
            z = self.atoms.positions[layer, 2]
            lists.append(
                AtomList(f"list{k + 1}", f"water layer {k}: z = {z.min():.2f}-{z.max():.2f} A", tuple(int(i) for i in layer))
            )
        return lists


def check_cell(atoms: Atoms) -> float:
    """The cell's length along z (Å), after checking that a and b lie in the xy plane and c is
    along z (what a dipole correction along z needs). Raises :class:`DftpostError`."""
    cell = atoms.cell[:]
    if not (atoms.pbc[:2].all() and cell[0].any() and cell[1].any() and cell[2].any()):
        raise DftpostError(None, "a slab needs a cell periodic along x and y with three cell vectors")
    scale = max(float(np.abs(cell).max()), 1.0)
    if abs(cell[0, 2]) > 1e-8 * scale or abs(cell[1, 2]) > 1e-8 * scale:
        raise DftpostError(None, "the cell vectors a and b must lie in the xy plane (surface normal z)")
    if abs(cell[2, 0]) > 1e-8 * scale or abs(cell[2, 1]) > 1e-8 * scale or cell[2, 2] <= 0:
        raise DftpostError(None, "the cell vector c must point along +z")
    return float(cell[2, 2])


def vacuum_gap(heights_A: np.ndarray, length_A: float) -> float:
    """Width (Å) of the widest periodic gap between the heights."""
    z = np.sort(np.mod(np.asarray(heights_A, dtype=float), length_A))
    gaps = np.diff(np.concatenate([z, z[:1] + length_A]))
    return float(gaps.max())


def prepare_slab(
    atoms: Atoms,
    d_cut_A: float = 3.5,
    min_vacuum_A: float = DEFAULT_MIN_VACUUM_A,
    layer_width_A: float = DEFAULT_LAYER_WIDTH_A,
) -> PreparedSlab:
    """Shift a frame so that its vacuum is centred on z = 0, and choose its PDoS atom lists.

    Raises :class:`DftpostError` (no path) when the cell is not a slab cell along z, the
    vacuum gap is narrower than ``min_vacuum_A`` or no water atom lies beyond ``d_cut_A``.
    """
    length = check_cell(atoms)
    z = atoms.positions[:, 2]
    gap = vacuum_gap(z, length)
    if gap < min_vacuum_A:
        raise DftpostError(
            None,
            f"the widest vacuum gap along z is {gap:.2f} Å, less than {min_vacuum_A:g} Å "
            "(a dipole correction needs vacuum; --min-vacuum sets the limit)",
        )
    origin = slab_origin(z, length)
    shifted = atoms.copy()
    shifted.calc = None
    positions = shifted.positions
    positions[:, 2] = np.mod(z - origin, length)
    shifted.positions = positions
    water, top = water_atoms(shifted.numbers, shifted.positions, shifted.cell[:], d_cut_A)
    return PreparedSlab(
        atoms=shifted,
        z_shift_A=-origin,
        vacuum_A=gap,
        water=np.asarray(water),
        top_metal_A=top,
        layers=tuple(layers(shifted.positions[:, 2], water, layer_width_A)),
    )


def layers(heights_A: np.ndarray, indices: np.ndarray, width_A: float) -> list[np.ndarray]:
    """``indices`` split by height into bins of ``width_A`` from the lowest of them (the binning
    of ``dftpost gap`` for per-atom DoS); empty bins dropped, nothing when one bin holds all."""
    if not width_A > 0:
        raise DftpostError(None, f"the layer width must be positive, got {width_A}")
    indices = np.asarray(indices)
    h = np.asarray(heights_A)[indices]
    lo = h.min()
    n_bins = max(1, int(np.ceil((h.max() - lo) / width_A + 1e-9)))
    edges = lo + width_A * np.arange(n_bins + 1)
    edges[-1] = max(edges[-1], h.max() + 1e-6)
    which = np.digitize(h, edges) - 1
    groups = [indices[which == b] for b in range(n_bins)]
    groups = [g for g in groups if g.size]
    return groups if len(groups) > 1 else []
