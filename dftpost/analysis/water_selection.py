"""Which atoms are the water, and which the substrate it faces, for the band-edge analysis
(:mod:`dftpost.analysis.bandedges`), and the projected DoS of each (lengths Å, DoS states/eV).

Water is molecules (each O with two or more H within r_OH, as the dipole analysis assigns them);
every other atom (metal, an oxide's O, a hydroxyl) is the substrate. Distances to the substrate
are taken along the surface normal with the minimum image, so water on either side of a slab, or
between two slabs, is judged by the interface it faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.data import chemical_symbols

from ..dos import ProjectedDos
from ..errors import DftpostError
from .molecules import DEFAULT_R_OH, water_molecules


@dataclass(frozen=True, eq=False)
class WaterSelection:
    """The water atoms whose PDoS is summed, and the substrate they face.

    Water is molecules (:func:`~dftpost.analysis.molecules.water_molecules`: each O with two or
    more H within ``r_OH``, as the dipole analysis assigns them, and those H); every other atom (a metal, an oxide's O, a surface
    hydroxyl, a free H) is the substrate. A structure of H and O alone is all water (no
    substrate). ``indices`` (sorted) are the atoms of the molecules whose every atom lies farther
    than ``d_cut`` from the nearest substrate atom, measured along the surface normal with the
    minimum image along it; ``side[k]`` is +1 when atom ``indices[k]`` lies above that nearest
    substrate atom, −1 below (0 without a substrate); ``distance_A[k]`` is that distance (Å,
    inf without a substrate). ``molecule_atoms`` are all water-molecule atoms, selected or not;
    ``top_substrate_A`` is the height of the highest substrate atom (None without).
    """

    indices: np.ndarray
    side: np.ndarray
    distance_A: np.ndarray
    molecule_atoms: np.ndarray
    substrate: np.ndarray
    top_substrate_A: float | None


def select_water(
    numbers: np.ndarray,
    positions_A: np.ndarray,
    cell_A: np.ndarray,
    d_cut_A: float,
    axis: int = 2,
    pbc=(True, True, True),
    r_oh_A: float = DEFAULT_R_OH,
) -> WaterSelection:
    """The :class:`WaterSelection` of one structure (lengths in Å).

    The distance along the normal ``axis`` is |Δh| with Δh the height difference folded into
    (−L/2, L/2] when the cell is periodic along ``axis`` (L: the cell vector's component along
    the normal; slab cells have their other two vectors in the plane). So water under the bottom
    layer, next to it through the periodic boundary, is near the substrate, and water between
    two substrate slabs faces each. Raises :class:`~dftpost.errors.DftpostError` when there is no
    water molecule or none beyond ``d_cut``.
    """
    numbers = np.asarray(numbers)
    positions = np.asarray(positions_A, dtype=float)
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    if not np.any((numbers == 1) | (numbers == 8)):
        raise DftpostError(None, "the structure holds no H or O atoms")
    if np.all((numbers == 1) | (numbers == 8)):
        water = np.flatnonzero((numbers == 1) | (numbers == 8))
        zeros = np.zeros(water.size, dtype=int)
        return WaterSelection(water, zeros, np.full(water.size, np.inf), water, np.zeros(0, dtype=int), None)
    molecule_of, label = water_molecules(numbers, positions, cell_A, pbc, r_oh_A)  # label: the molecule's O
    substrate = np.setdiff1d(np.arange(numbers.size), molecule_of)
    height = positions[:, axis]
    length = abs(float(np.asarray(cell_A, dtype=float)[axis][axis])) if pbc[axis] else 0.0
    distance, side = _normal_distance(height[molecule_of], height[substrate], length)
    far = np.ones(numbers.size, dtype=bool)  # per molecule (indexed by its O)
    np.logical_and.at(far, label, distance > d_cut_A)
    chosen = far[label]
    order = np.argsort(molecule_of[chosen])
    indices = molecule_of[chosen][order]
    if indices.size == 0:
        raise DftpostError(
            None, f"no water molecule lies wholly more than d_cut = {d_cut_A} Å from the substrate (along the normal)"
        )
    return WaterSelection(
        indices=indices,
        side=side[chosen][order],
        distance_A=distance[chosen][order],
        molecule_atoms=np.sort(molecule_of),
        substrate=substrate,
        top_substrate_A=float(height[substrate].max()),
    )


def _normal_distance(heights_A: np.ndarray, substrate_A: np.ndarray, length_A: float) -> tuple[np.ndarray, np.ndarray]:
    """For each height, the distance (Å) to the nearest substrate height and the side (+1 above
    it, −1 below), with the minimum image along a period ``length_A`` (0: not periodic).
    O(N log N): each height is compared with its two neighbours among the sorted substrate."""
    ref = np.sort(substrate_A if length_A <= 0 else np.mod(substrate_A, length_A))
    h = heights_A if length_A <= 0 else np.mod(heights_A, length_A)
    k = np.searchsorted(ref, h)
    candidates = np.stack([ref[(k - 1) % ref.size], ref[k % ref.size]])
    delta = h[None, :] - candidates
    if length_A > 0:
        delta -= length_A * np.round(delta / length_A)
    nearest = np.argmin(np.abs(delta), axis=0)
    picked = delta[nearest, np.arange(h.size)]
    return np.abs(picked), np.where(picked >= 0, 1, -1)


def water_atoms(
    numbers: np.ndarray,
    positions_A: np.ndarray,
    cell_A: np.ndarray,
    d_cut_A: float,
    axis: int = 2,
    pbc=(True, True, True),
    r_oh_A: float = DEFAULT_R_OH,
):
    """Indices of the water atoms beyond ``d_cut_A`` from the substrate and the height of the
    highest substrate atom (None without one): :func:`select_water` in short."""
    selection = select_water(numbers, positions_A, cell_A, d_cut_A, axis, pbc, r_oh_A)
    return selection.indices, selection.top_substrate_A


def water_pdos(pdos: ProjectedDos, atom_indices: np.ndarray, water_only_structure: bool) -> ProjectedDos:
    """One projection holding the DoS of exactly the atoms ``atom_indices``.

    Per-atom projections (FHI-aims) are summed over those atoms. Otherwise (CP2K) a list holding
    exactly those atoms is used, or lists that together hold exactly them (layer lists), or — for
    a structure of water alone — the O and H kinds. Anything else is an error that says which
    lists exist.
    """
    wanted = set(int(i) for i in atom_indices)
    by_atom = {p.atom_indices[0]: k for k, p in enumerate(pdos.projections) if p.kind == "atom" and p.atom_indices}
    if by_atom:
        missing = wanted - set(by_atom)
        if missing:
            raise DftpostError(
                None, f"no per-atom DoS for {len(missing)} of the {len(wanted)} water atoms (e.g. atom {min(missing) + 1})"
            )
        return pdos.summed([by_atom[i] for i in sorted(wanted)], label="water")
    lists = [(k, set(p.atom_indices)) for k, p in enumerate(pdos.projections)
             if p.kind == "list" and p.atom_indices is not None]
    exact = [k for k, atoms in lists if atoms == wanted]
    if exact:
        return pdos.summed([exact[0]], label="water")
    inside = [(k, atoms) for k, atoms in lists if atoms and atoms <= wanted]
    union: set[int] = set()
    chosen = []
    for k, atoms in inside:
        if not union & atoms:
            union |= atoms
            chosen.append(k)
    if union == wanted and chosen:
        return pdos.summed(chosen, label="water")
    kinds = [k for k, p in enumerate(pdos.projections) if p.kind == "species" and p.species in ("H", "O")]
    if water_only_structure and len(kinds) == 2:
        return pdos.summed(kinds, label="water")
    available = ", ".join(f"{p.label} ({len(p.atom_indices) if p.atom_indices else '?'} atoms)" for p in pdos.projections)
    raise DftpostError(
        None,
        f"no projection (or set of LDOS lists) covers exactly the {len(wanted)} water atoms beyond d_cut; "
        f"available: {available}",
    )


def substrate_pdos(pdos: ProjectedDos, numbers: np.ndarray, selection: WaterSelection) -> ProjectedDos | None:
    """The DoS of the substrate (every atom not in a water molecule), or None without one or
    when the projections cannot give it. Per-atom projections (FHI-aims) are summed over the
    substrate atoms; CP2K's kinds are summed over the elements none of whose atoms is in a water
    molecule (Cu; an oxide's O, whose kind holds the water's O too, is then left out)."""
    if selection.substrate.size == 0:
        return None
    by_atom = {p.atom_indices[0]: k for k, p in enumerate(pdos.projections) if p.kind == "atom" and p.atom_indices}
    if by_atom:
        chosen = [by_atom[i] for i in selection.substrate.tolist() if i in by_atom]
        return pdos.summed(chosen, label="substrate") if chosen else None
    water_elements = {int(z) for z in numbers[selection.molecule_atoms]}
    substrate_elements = {int(z) for z in numbers[selection.substrate]} - water_elements
    symbols = {chemical_symbols[z] for z in substrate_elements}
    kinds = [k for k, p in enumerate(pdos.projections) if p.kind == "species" and p.species in symbols]
    return pdos.summed(kinds, label="substrate") if kinds else None
