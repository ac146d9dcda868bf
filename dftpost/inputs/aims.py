"""FHI-aims inputs for slab frames, written with ASE's FHI-aims writers.

``geometry.in`` is :func:`ase.io.aims.write_aims` (Cartesian positions, lattice vectors), plus
``homogeneous_field 0 0 E`` (V/Å, a geometry.in keyword) for the field twin. ``control.in`` is
:func:`ase.io.aims.write_control`, which appends the species blocks read from the species
directory (files named like ``01_H_default``, ``08_O_default``, as in FHI-aims'
``species_defaults/defaults_2020/<level>``); nothing of FHI-aims is shipped with dftpost.
Cube blocks are ASE's :class:`ase.calculators.aims.AimsCube`, one per quantity so that each
gets the full-cell grid (ASE gives the grid only to the first cube of one ``AimsCube``).

Settings after the paper (SM S1.0.5): PBE, the ``intermediate`` species defaults, no
relativistic correction (``relativistic none``), Gaussian occupation smearing, a dipole
correction along z (``use_dipole_correction``) with the vacuum level set explicitly to the
cell boundary z = 0, which :func:`~dftpost.inputs.slab.prepare_slab` put in the middle of the
vacuum (so that field and no-field runs compare; FHI-aims' automatic choice may move). The
atom-projected DoS: the paper used 1001 points from −20 eV up (its upper end, spacing and
smearing were lost); dftpost asks for −20 … +10 eV on FHI-aims' raw energy scale (the window of
``output atom_proj_dos`` applies to raw energies; the files written are shifted by the Fermi
level) with 1501 points, 0.02 eV apart, broadened by 0.1 eV: the paper's window at the paper's
number of points per eV or more. Smearing width, k-grid and DoS broadening are dftpost's
choices (the paper's values were lost).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from ..errors import DftpostError, MissingInputError

#: Species-default levels of FHI-aims (folder names under ``species_defaults/defaults_2020``).
SPECIES_LEVELS = ("light", "intermediate", "tight", "really_tight", "lightdenser")
#: Environment variable ASE reads for the species directory.
SPECIES_ENV = "AIMS_SPECIES_DIR"
#: The aims.out line of a run that ended normally.
FINISHED_LINE = "Have a nice day"


@dataclass(frozen=True)
class AimsSettings:
    """Settings of a generated FHI-aims run. Energies eV; ``k_grid`` None: from
    ``k_spacing_A`` (n_i = ⌈k_spacing / |a_i|⌉ along x and y, 1 along z); ``dos`` is
    (E_min, E_max, points, broadening) of ``output atom_proj_dos`` on the raw energy scale;
    ``cube_spacing_A`` the grid spacing of the cubes (over the whole cell)."""

    xc: str = "pbe"
    basis: str = "intermediate"
    relativistic: str = "none"
    occupation: tuple[str, float] = ("gaussian", 0.01)
    k_grid: tuple[int, int, int] | None = None
    k_spacing_A: float = 25.0
    dos: tuple[float, float, int, float] = (-20.0, 10.0, 1501, 0.1)
    cube_spacing_A: float = 0.1

    def __post_init__(self):
        if not (math.isfinite(self.occupation[1]) and self.occupation[1] > 0):
            raise DftpostError(None, f"the FHI-aims smearing must be a positive width in eV, got {self.occupation[1]}")
        if self.k_grid is not None and (len(self.k_grid) != 3 or min(self.k_grid) < 1):
            raise DftpostError(None, f"the FHI-aims k-grid must be three integers >= 1, got {self.k_grid}")
        e_min, e_max, n_points, broadening = self.dos
        if not (e_max > e_min and n_points >= 2 and broadening > 0):
            raise DftpostError(None, f"the DoS window {self.dos} is not (E_min < E_max, points >= 2, broadening > 0)")
        if not self.cube_spacing_A > 0:
            raise DftpostError(None, "the cube spacing must be positive")

    def k_points(self, atoms: Atoms) -> tuple[int, int, int]:
        if self.k_grid is not None:
            kx, ky, kz = (int(k) for k in self.k_grid)
            return kx, ky, kz
        lengths = np.linalg.norm(atoms.cell[:], axis=1)
        return (max(1, math.ceil(self.k_spacing_A / lengths[0])), max(1, math.ceil(self.k_spacing_A / lengths[1])), 1)

    def as_dict(self) -> dict:
        return asdict(self)


def _species_files(directory: Path, elements: list[str]) -> dict[str, Path]:
    return {el: directory / f"{atomic_numbers[el]:02d}_{el}_default" for el in elements}


def resolve_species_dir(species_dir: str | Path | None, basis: str, elements: list[str]) -> Path:
    """The folder holding the species defaults of ``basis`` for ``elements``.

    ``species_dir`` (else ``$AIMS_SPECIES_DIR``, as ASE) may be the folder of the level itself
    (``…/defaults_2020/intermediate``, ASE's convention) or the folder holding the levels
    (``…/defaults_2020``). A level folder of another known level (``light`` when
    ``intermediate`` is asked for) is an error, not a silent change of basis. Raises
    :class:`DftpostError` naming the folder or the missing species file.
    """
    if species_dir is None:
        species_dir = os.environ.get(SPECIES_ENV)
        if not species_dir:
            raise MissingInputError(
                None, f"FHI-aims needs its species defaults: give --species-dir or set ${SPECIES_ENV} (dftpost ships none)"
            )
    root = Path(species_dir).expanduser()
    if not root.is_dir():
        raise MissingInputError(root, "no such species directory")
    if (root / basis).is_dir():
        folder = root / basis
    elif root.name != basis and root.name in SPECIES_LEVELS:
        raise DftpostError(
            root,
            f"holds the '{root.name}' species defaults, but the basis level asked for is '{basis}': "
            f"give the folder holding {basis}/ (or --basis {root.name})",
        )
    else:
        folder = root
    missing = [p for p in _species_files(folder, elements).values() if not p.is_file()]
    if missing:
        raise MissingInputError(missing[0], f"no species defaults for {missing[0].name.split('_')[1]} (basis level {basis})")
    return folder


class _Cubes:
    """The cube blocks of control.in: one :class:`ase.calculators.aims.AimsCube` per quantity,
    each on the same grid over the whole cell (points at i·a/n, origin = the grid's centre, as
    FHI-aims takes ``cube origin``)."""

    def __init__(self, atoms: Atoms, quantities: tuple[str, ...], spacing_A: float):
        from ase.calculators.aims import AimsCube

        cell = atoms.cell[:]
        points = [max(2, math.ceil(np.linalg.norm(v) / spacing_A)) for v in cell]
        edges = [cell[i] / points[i] for i in range(3)]
        centre = sum((points[i] - 1) / 2 * edges[i] for i in range(3))
        self.cubes = [
            AimsCube(
                origin=tuple(float(x) for x in centre),
                edges=[tuple(float(x) for x in e) for e in edges],
                points=tuple(points),
                plots=(q,),
            )
            for q in quantities
        ]

    def write(self, fd) -> None:
        for cube in self.cubes:
            cube.write(fd)


def control_parameters(atoms: Atoms, settings: AimsSettings) -> dict:
    """The keywords of control.in (before the cube and species blocks), as ASE's writer takes
    them."""
    e_min, e_max, n_points, broadening = settings.dos
    return {
        "xc": settings.xc,
        "relativistic": settings.relativistic,
        "spin": "none",
        "charge": 0.0,
        "occupation_type": f"{settings.occupation[0]} {settings.occupation[1]:g}",
        "k_grid": settings.k_points(atoms),
        "use_dipole_correction": True,
        "set_vacuum_level": 0.0,
        "output": [f"atom_proj_dos {e_min:g} {e_max:g} {int(n_points)} {broadening:g}"],
    }


def write_aims_run(
    directory: Path,
    atoms: Atoms,
    settings: AimsSettings,
    species_folder: Path,
    field_V_per_A: float | None = None,
    comment: str = "",
) -> None:
    """Write ``geometry.in`` and ``control.in`` of one run into ``directory`` (which exists).

    ``species_folder`` is the result of :func:`resolve_species_dir`; ``field_V_per_A`` adds a
    homogeneous field along z (V/Å, FHI-aims' sign convention)."""
    from ase.io.aims import write_aims, write_control

    with warnings.catch_warnings():  # ASE >= 3.24 announces a plugin for its FHI-aims IO
        warnings.simplefilter("ignore", FutureWarning)
        with open(directory / "geometry.in", "w") as fd:
            write_aims(fd, atoms, info_str=comment or None)
            if field_V_per_A is not None:
                fd.write(f"homogeneous_field 0.0 0.0 {field_V_per_A!r}\n")
        parameters = control_parameters(atoms, settings)
        parameters["cubes"] = _Cubes(atoms, ("hartree_potential", "total_density"), settings.cube_spacing_A)
        parameters["species_dir"] = str(species_folder)
        with open(directory / "control.in", "w") as fd:
            write_control(fd, atoms, parameters)


def log_name() -> str:
    return "aims.out"
