"""One DFT run, whichever program wrote it: the facts dftpost's analyses need."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from .dos import ProjectedDos
from .grid import CubeHeader


@dataclass(frozen=True)
class DipoleCorrection:
    """The slab dipole correction of a run, as the program reported it.

    ``axis`` is 0, 1 or 2 (x, y, z). ``dipole_e_A`` is the cell's dipole along the axis in e·Å
    with the physical sign (positive when the positive end points along +axis), or ``None`` if
    the program does not print it (FHI-aims prints the correction's gradient and jump instead:
    ``gradient_eV_per_A`` and ``potential_jump_eV`` as printed, sign convention of FHI-aims).
    ``work_functions_eV`` and ``vacuum_levels_eV`` are (upper, lower) surface values when printed.
    """

    axis: int
    dipole_e_A: float | None = None
    gradient_eV_per_A: float | None = None
    potential_jump_eV: float | None = None
    vacuum_levels_eV: tuple[float | None, float | None] = (None, None)
    work_functions_eV: tuple[float | None, float | None] = (None, None)
    source: str = ""

    def summary(self) -> dict:
        return {
            "axis": "xyz"[self.axis],
            "dipole_e_A": self.dipole_e_A,
            "gradient_eV_per_A": self.gradient_eV_per_A,
            "potential_jump_eV": self.potential_jump_eV,
            "vacuum_levels_eV": list(self.vacuum_levels_eV),
            "work_functions_eV": list(self.work_functions_eV),
            "source": self.source,
        }


@dataclass(frozen=True)
class FrontierStates:
    """The highest occupied and lowest unoccupied state of the whole system as the program printed
    them (eV, on the program's own zero, as ``Run.fermi_level_eV``), with their occupation numbers
    (electrons) and the capacity of one state (2 closed shell, 1 per spin channel); ``source`` says
    where they were read."""

    highest_occupied_eV: float
    lowest_unoccupied_eV: float
    highest_occupied_occupation: float
    lowest_unoccupied_occupation: float
    capacity: float
    source: str


@dataclass(frozen=True, eq=False)
class Run:
    """A DFT run directory read into one object.

    ``code`` is ``"fhi-aims"`` or ``"cp2k"``. ``atoms`` is the structure in Å. ``fermi_level_eV``
    is on the program's own energy zero and ``fermi_level_source`` says where it came from; the
    ``pdos`` energies are relative to it. ``cubes`` are headers only (read one with
    :func:`dftpost.io.cube.read_cube`). ``applied_field_V_per_A`` is the homogeneous field the
    input applied (None if none). ``finished`` is True when the program ended normally.
    ``files`` maps a role (``log``, ``input``, ``pdos``, ``cube`` ...) to the files used;
    ``missing`` names what a complete run would have and this one lacks. ``core_charges_e`` is
    the charge of each atom's core as the density cube's complement (CP2K: Z(eff) of the
    pseudopotential; FHI-aims, all-electron: the nuclear charge); ``density_cube_stride`` the
    STRIDE of the density cube when the input says (1 = the full grid). ``frontier_states`` are the
    highest occupied and lowest unoccupied states the program printed (FHI-aims' aims.out, of the
    last converged SCF cycle), None when it printed none.
    """

    path: Path
    code: str
    program_version: str | None
    atoms: Atoms | None
    fermi_level_eV: float | None
    fermi_level_source: str | None
    pdos: ProjectedDos | None
    cubes: tuple[CubeHeader, ...]
    dipole_correction: DipoleCorrection | None
    applied_field_V_per_A: np.ndarray | None
    finished: bool
    files: dict[str, tuple[Path, ...]] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    core_charges_e: np.ndarray | None = None
    density_cube_stride: tuple[int, ...] | None = None
    frontier_states: FrontierStates | None = None

    def __repr__(self) -> str:
        """A few lines: program, path, structure, Fermi level, PDoS, cubes, field (no arrays)."""
        lines = [f"Run({self.code} {self.program_version or ''}".rstrip() + f", {self.path}, "
                 f"{'finished' if self.finished else 'did not end normally'})"]
        if self.atoms is not None:
            cell = " × ".join(f"{x:.4g}" for x in self.atoms.cell.lengths()) + " Å" if self.atoms.cell.any() else "no cell"
            lines.append(f"  atoms: {len(self.atoms)} ({self.atoms.get_chemical_formula()}), cell {cell}")
        if self.fermi_level_eV is not None:
            lines.append(f"  Fermi level: {self.fermi_level_eV:.4f} eV ({self.fermi_level_source or 'file'})")
        if self.pdos is not None:
            lines.append(f"  pdos: {self.pdos!r}")
        for cube in self.cubes:
            lines.append(f"  cube: {cube.path.name}: {cube.quantity} [{cube.units}] {'×'.join(map(str, cube.shape))}")
        if self.dipole_correction is not None:
            dipole = self.dipole_correction.dipole_e_A
            lines.append(f"  dipole correction along {'xyz'[self.dipole_correction.axis]}"
                         + ("" if dipole is None else f", dipole {dipole:+.4f} e·Å"))
        if self.applied_field_V_per_A is not None:
            lines.append("  applied field: (" + ", ".join(f"{x:.4g}" for x in self.applied_field_V_per_A) + ") V/Å")
        if self.missing:
            lines.append(f"  missing: {', '.join(self.missing)}")
        return "\n".join(lines)

    def summary(self) -> dict:
        """JSON-ready description (the ``dftpost inspect --json`` object)."""
        return {
            "path": str(self.path),
            "code": self.code,
            "program_version": self.program_version,
            "finished": self.finished,
            "fermi_level_eV": self.fermi_level_eV,
            "fermi_level_source": self.fermi_level_source,
            "n_atoms": None if self.atoms is None else len(self.atoms),
            "formula": None if self.atoms is None else self.atoms.get_chemical_formula(),
            "cell_A": None if self.atoms is None or not self.atoms.cell.any() else self.atoms.cell.tolist(),
            "pdos": None if self.pdos is None else self.pdos.summary(),
            "dipole_correction": None if self.dipole_correction is None else self.dipole_correction.summary(),
            "applied_field_V_per_A": None
            if self.applied_field_V_per_A is None
            else [float(x) for x in self.applied_field_V_per_A],
            "cubes": [c.summary() for c in self.cubes],
            "files": {role: [str(p) for p in paths] for role, paths in self.files.items()},
            "missing": list(self.missing),
            "warnings": list(self.warnings),
        }
