"""Volumetric data on a periodic grid (potentials, densities), as read from cube files;
:meth:`Grid.to_pymatgen` gives pymatgen's VolumetricData (optional extra ``dftpost[pymatgen]``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms

if TYPE_CHECKING:  # pymatgen is an optional extra, imported by to_pymatgen only
    from pymatgen.io.common import VolumetricData

#: Quantities dftpost knows, with the units their values are converted to.
QUANTITY_UNITS = {
    "electrostatic_potential": "V",  # physical potential φ: positive near nuclei
    "electron_density": "e/Å^3",  # electrons counted as a positive number density
    "spin_density": "e/Å^3",
    "wavefunction": "Å^-3/2",
    "unknown": "as in file",
}


@dataclass(frozen=True, eq=False)
class CubeHeader:
    """What a cube file holds, read from its header only (cheap for large files).

    ``shape`` is the number of grid points along each voxel vector; ``origin_A`` the position of
    the first grid point (Å); ``voxel_A`` the three voxel vectors as rows (Å). ``quantity`` and
    ``units`` are what :func:`dftpost.io.cube.read_cube` converts the values to.
    ``program`` is ``"cp2k"``, ``"fhi-aims"`` or ``None`` when the header does not say.
    """

    path: Path
    title: str
    shape: tuple[int, int, int]
    origin_A: np.ndarray
    voxel_A: np.ndarray
    quantity: str
    units: str
    program: str | None
    n_atoms: int

    def summary(self) -> dict:
        """JSON-ready: path, quantity, units, shape."""
        return {
            "path": str(self.path),
            "quantity": self.quantity,
            "units": self.units,
            "shape": list(self.shape),
            "program": self.program,
        }


@dataclass(frozen=True, eq=False)
class Grid:
    """Values on a grid of points ``origin_A + i·voxel_A[0] + j·voxel_A[1] + k·voxel_A[2]``.

    ``values`` has shape (n1, n2, n3) in ``units``; ``quantity`` names what they are (see
    :data:`QUANTITY_UNITS`). ``atoms`` carries the structure (Å) with the cell spanned by the
    grid. ``conversion`` says in words what was done to the numbers in the file.
    """

    values: np.ndarray
    origin_A: np.ndarray
    voxel_A: np.ndarray
    atoms: Atoms
    quantity: str
    units: str
    source: Path | None = None
    conversion: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.values.shape)

    def __repr__(self) -> str:
        """A few lines: quantity, units, shape, cell, atoms, the range of the values (no arrays)."""
        cell = " × ".join(f"{x:.4g}" for x in np.linalg.norm(self.cell_A, axis=1))
        values = self.values
        return (f"Grid({self.quantity} [{self.units}], {'×'.join(map(str, self.shape))} points, cell {cell} Å, "
                f"{len(self.atoms)} atoms ({self.atoms.get_chemical_formula()})"
                + (f", from {self.source.name}" if self.source is not None else "") + ")\n"
                f"  values {float(values.min()):.4g} to {float(values.max()):.4g}, mean {float(values.mean(dtype=np.float64)):.4g} {self.units}")

    @property
    def cell_A(self) -> np.ndarray:
        """The periodic cell spanned by the grid, rows in Å."""
        return self.voxel_A * np.array(self.values.shape)[:, None]

    @property
    def voxel_volume_A3(self) -> float:
        return float(abs(np.linalg.det(self.voxel_A)))

    def integral(self) -> float:
        """∫ values dV over the cell (e.g. the number of electrons of a density), in units·Å³."""
        return float(self.values.sum(dtype=np.float64) * self.voxel_volume_A3)

    def to_pymatgen(self) -> VolumetricData:
        """The grid as a pymatgen :class:`~pymatgen.io.common.VolumetricData` (``data["total"]``).

        Needs the optional extra ``dftpost[pymatgen]``. Laid out as
        :meth:`VolumetricData.from_cube` lays out a cube: the lattice is the cell spanned by the
        grid (Å), the sites are the atoms' Cartesian positions less ``origin_A`` (pymatgen puts
        grid point (0, 0, 0) at the lattice origin), and the data are the values at the points,
        not multiplied by the cell volume (the CHGCAR convention; multiply by
        ``structure.volume`` for that). Unlike ``from_cube``, which keeps the file's atomic units,
        the data are in :attr:`units` (V, e/Å³, ...). An atom of atomic number 0 (a ghost atom)
        becomes a pymatgen ``DummySpecies``.
        """
        from pymatgen.core import DummySpecies, Element, Lattice, Structure
        from pymatgen.io.common import VolumetricData

        species = [DummySpecies() if z == 0 else Element.from_Z(int(z)) for z in self.atoms.numbers]
        structure = Structure(
            Lattice(self.cell_A),
            species,
            self.atoms.positions - np.asarray(self.origin_A),
            coords_are_cartesian=True,
        )
        return VolumetricData(structure, {"total": self.values})
