"""A CP2K run directory (log, input, ``.pdos`` files, cubes) → one :class:`~dftpost.run.Run`.

Energies eV, lengths Å, dipoles e·Å, fields V/Å (the readers of :mod:`dftpost.io.cp2k` convert).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import cast

from ase import Atoms

from ...dos import ProjectedDos
from ...errors import ParseError
from ...run import DipoleCorrection, Run
from ..rundir import cube_headers, logs_by_code, newest
from .input import read_input
from .log import read_log
from .pdos import parse_pdos_name, read_pdos_files


def read_cp2k_run(directory: Path) -> Run:
    """Read a CP2K run directory (see :func:`dftpost.io.rundir.read_run`)."""
    warnings: list[str] = []
    missing: list[str] = []
    files: dict[str, tuple[Path, ...]] = {}
    log_path = newest(logs_by_code(directory)["cp2k"], "CP2K log", warnings)
    log = read_log(log_path) if log_path else None
    if log is None or log_path is None:
        missing.append("log (CP2K output)")
    else:
        files["log"] = (log_path,)
        warnings.extend(log.warnings)
        if not log.finished:
            warnings.append(f"{log_path}: CP2K did not end normally (no 'PROGRAM ENDED AT'): truncated or still running")
    input_path = None
    if log is not None and log.input_file and (directory / Path(log.input_file).name).exists():
        input_path = directory / Path(log.input_file).name
    else:
        input_path = newest(sorted(directory.glob("*.inp")), "CP2K input", warnings)
    inp = read_input(input_path) if input_path else None
    if inp is None or input_path is None:
        missing.append("input (.inp)")
    else:
        files["input"] = (input_path,)
        warnings.extend(inp.warnings)
    project = (log.project if log else None) or (inp.project if inp else None)
    named = [(p, n) for p in sorted(directory.glob("*.pdos*")) if (n := parse_pdos_name(p)) is not None]
    # the project's own files, else those of a PDOS print key with a FILENAME (<project>-<name>-k1-1.pdos)
    pdos_paths = [p for p, n in named if project is None or n.project == project]
    if not pdos_paths and project is not None:
        prefixed = [(p, n) for p, n in named if n.project.startswith(project + "-")]
        if len({n.project for _, n in prefixed}) > 1:
            raise ParseError(directory, f"the .pdos files of project {project} come under several names: "
                                        + ", ".join(sorted({n.project for _, n in prefixed})))
        pdos_paths = [p for p, _ in prefixed]
    pdos = None
    if pdos_paths:
        pdos = read_pdos_files(pdos_paths)
        pdos = _cp2k_atom_indices(pdos, log, inp, warnings)
        files["pdos"] = pdos.sources
    else:
        missing.append("pdos (.pdos files)")
    cubes = cube_headers(directory, warnings)
    if cubes:
        files["cube"] = tuple(c.path for c in cubes)

    atoms = inp.atoms if inp and inp.atoms is not None else (log.atoms if log else None)
    if atoms is not None and project is not None:
        atoms = _last_trajectory_geometry(directory / f"{project}-pos-1.xyz", atoms, warnings)
    if atoms is None and cubes:
        from ..cube import read_cube  # the atoms of a cube need its header only, but read_cube is simplest

        atoms = read_cube(cubes[0].path).atoms
        warnings.append(f"structure taken from {cubes[0].path.name}")
    if atoms is None:
        missing.append("structure")
    elif log is not None and log_path is not None and log.n_atoms is not None and len(atoms) != log.n_atoms:
        wrong = input_path if inp is not None and inp.atoms is not None else (log_path if log.atoms is not None else cubes[0].path)
        raise ParseError(
            wrong,
            f"gives {len(atoms)} atoms, the log {log_path.name} counts {log.n_atoms} ('- Atoms:'): "
            "not the structure of this run",
        )

    fermi, source = None, None
    if pdos is not None:
        fermi, source = pdos.fermi_level_eV, "E(Fermi) of the .pdos header"
        if log and log.fermi_level_eV is not None and not log.uses_ot:
            if abs(log.fermi_level_eV - fermi) > 1e-3:
                warnings.append(
                    f"log E(Fermi) {log.fermi_level_eV:.4f} eV differs from the .pdos header {fermi:.4f} eV"
                )
    elif log and log.fermi_level_eV is not None:
        fermi, source = log.fermi_level_eV, "log"

    axis = inp.surface_dipole_axis if inp and inp.surface_dipole_axis is not None else 2
    dipole = cp2k_dipole(log, axis)
    if dipole is None and inp and inp.surface_dipole_correction:
        warnings.append("SURFACE_DIPOLE_CORRECTION is on but the log prints no slab dipole")
    field = None
    if log and log.periodic_efield_V_per_A is not None:
        field = log.periodic_efield_V_per_A
    elif inp and inp.applied_field_V_per_A is not None:
        field = inp.applied_field_V_per_A
    return Run(
        path=directory,
        code="cp2k",
        program_version=log.program_version if log else None,
        atoms=atoms,
        fermi_level_eV=fermi,
        fermi_level_source=source,
        pdos=pdos,
        cubes=cubes,
        dipole_correction=dipole,
        applied_field_V_per_A=field,
        finished=bool(log and log.finished),
        files=files,
        missing=tuple(missing),
        warnings=tuple(warnings),
        core_charges_e=log.core_charges_e if log else None,
        density_cube_stride=inp.density_cube_stride if inp else None,
    )


def _last_trajectory_geometry(path: Path, atoms, warnings: list[str]):
    """The structure at the last frame of a CP2K MD or GEO_OPT trajectory (``<project>-pos-1.xyz``,
    positions in Å) with the input's cell, when that file is there: the geometry the last PDoS
    and cubes were written for, where the input holds the first. Said in ``warnings``."""
    if not path.is_file():
        return atoms
    from ase.io import read as ase_read

    try:
        last = cast(Atoms, ase_read(path, index=-1, format="xyz"))  # one frame: index is an int
    except Exception as exc:  # noqa: BLE001  (ASE raises many kinds for a damaged file)
        warnings.append(f"{path.name} cannot be read ({' '.join(str(exc).split())[:120]}): structure from the input")
        return atoms
    if len(last) != len(atoms) or list(last.numbers) != list(atoms.numbers):
        warnings.append(f"{path.name} holds other atoms than the input: structure from the input")
        return atoms
    moved = atoms.copy()
    moved.positions = last.positions
    warnings.append(f"structure: the last geometry of {path.name} (MD or GEO_OPT), not the input's first")
    return moved


def _cp2k_atom_indices(pdos: ProjectedDos, log, inp, warnings: list[str]) -> ProjectedDos:
    """Fill in which atoms each kind and LDOS list covers, from the log and the input."""
    projections = []
    for p in pdos.projections:
        indices = None
        if p.kind == "species" and log is not None and log.atom_kinds:
            kind_index = next((k for k, name in log.kind_names.items() if name == p.label), None)
            if kind_index is not None:
                indices = tuple(i for i, k in enumerate(log.atom_kinds) if k == kind_index)
        elif p.kind == "list" and inp is not None:
            number = int(p.label[len("list") :])
            if number <= len(inp.ldos_lists):
                indices = inp.ldos_lists[number - 1]
                if p.n_atoms is not None and len(indices) != p.n_atoms:
                    warnings.append(
                        f"{p.label}: the input lists {len(indices)} atoms, the .pdos header {p.n_atoms}"
                    )
                    indices = None
        projections.append(replace(p, atom_indices=indices, n_atoms=len(indices) if indices else p.n_atoms))
    return replace(pdos, projections=tuple(projections))




def cp2k_dipole(log, axis: int = 2) -> DipoleCorrection | None:
    """The slab dipole a CP2K log prints (e·Å, physical sign), or None."""
    if log is None or log.slab_dipole_e_A is None:
        return None
    return DipoleCorrection(
        axis=axis,
        dipole_e_A=log.slab_dipole_e_A,
        source="CP2K 'Total dipole moment perpendicular to the slab' with the sign flipped "
        "(CP2K counts electrons as positive)",
    )
