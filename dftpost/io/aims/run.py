"""An FHI-aims run directory (aims.out, geometry.in, DoS files, cubes) → one
:class:`~dftpost.run.Run`.

Energies eV, lengths Å, dipoles e·Å, fields V/Å (the readers of :mod:`dftpost.io.aims` convert).
"""

from __future__ import annotations

import warnings as warnings_module
from pathlib import Path

import numpy as np

from ...errors import DftpostError
from ...run import DipoleCorrection, FrontierStates, Run
from ..rundir import cube_headers, entries, logs_by_code, newest
from .dos import parse_dos_name, read_dos_files
from .geometry import read_geometry, read_output_structure
from .output import read_output


def _aims_dos_paths(directory: Path) -> list[Path]:
    """The DoS files dftpost uses: per atom if written, else per species, else the total.

    Shifted (not ``_raw``) files are preferred, Gaussian-broadened over tetrahedron, and the
    spin–orbit set over ``.no_soc``; both spin channels are kept.
    """
    parsed = [(parse_dos_name(p), p) for p in entries(directory) if p.is_file()]
    named = [(n, p) for n, p in parsed if n is not None]
    for what in ("atom", "species", "total"):
        for raw in (False, True):
            for tetrahedron in (False, True):
                for no_soc in (False, True):
                    chosen = [
                        p
                        for n, p in named
                        if n.what == what and n.raw == raw and n.tetrahedron == tetrahedron and n.no_soc == no_soc
                    ]
                    if chosen:
                        return chosen
    return []


def aims_dos_mu(out, path: Path) -> float | None:
    """The chemical potential (eV) aims.out printed for a DoS file: the one it names the file
    with, else that of the spin–orbit run (SOC set) or of the scalar one (``.no_soc`` or no SOC)."""
    if out is None:
        return None
    if path.name in out.dos_fermi_levels_eV:
        return out.dos_fermi_levels_eV[path.name]
    name = parse_dos_name(path)
    if out.fermi_level_soc_eV is not None and name is not None and not name.no_soc:
        return out.fermi_level_soc_eV
    return out.fermi_level_eV


def _ase_read(path: Path, format: str):
    """ase.io.read (the last image) without the FutureWarning ASE ≥ 3.24 prints for its built-in
    FHI-aims IO."""
    from ase.io import read

    with warnings_module.catch_warnings():
        warnings_module.simplefilter("ignore", FutureWarning)
        return read(path, format=format)


def _aims_structure(directory: Path, log_path: Path | None, out, warnings: list[str]):
    """The structure of an FHI-aims run (Å) and the file it came from, or (None, None).

    A relaxation or molecular dynamics (several SCF cycles) ends on another geometry than its
    ``geometry.in``: the structure is the last one aims.out prints
    (:func:`dftpost.io.aims.geometry.read_output_structure`). Otherwise ``geometry.in``, read
    by ASE or, where ASE refuses it (Cartesian and fractional atoms mixed), by
    :func:`dftpost.io.aims.geometry.read_geometry`. A ``geometry.in`` that cannot be used or that disagrees
    with the atom count of aims.out gives way to aims.out's structure. Each choice other than a
    plain ``geometry.in`` is a warning naming the source.
    """
    geometry = directory / "geometry.in"
    n_expected = out.n_atoms if out is not None else None

    def from_log(reason: str):
        if log_path is None:
            warnings.append(f"{reason}; no aims.out to take the structure from")
            return None, None
        try:
            atoms = read_output_structure(log_path)
            where = "the last structure it prints"
            if atoms is None:  # a single point prints its input geometry only: ASE reads that
                atoms, where = _ase_read(log_path, format="aims-output"), "its geometry echo"
        except Exception as exc:  # dftpost's ParseError, or any of the many kinds ASE raises
            warnings.append(f"{reason}; no structure could be read from {log_path.name} either ({' '.join(str(exc).split())[:120]})")
            return None, None
        if n_expected is not None and len(atoms) != n_expected:
            warnings.append(f"{reason}; {log_path.name} gives {len(atoms)} atoms where it says {n_expected}: no structure")
            return None, None
        warnings.append(f"{reason}: structure taken from {log_path.name} ({where})")
        return atoms, log_path

    if out is not None and out.n_scf_cycles > 1:
        return from_log(f"{out.n_scf_cycles} geometries (relaxation or molecular dynamics), geometry.in holds the first")
    if not geometry.exists():
        return from_log("no geometry.in")
    try:
        atoms = _ase_read(geometry, format="aims")
    except Exception as exc:  # ase raises many kinds for files it refuses
        try:
            atoms = read_geometry(geometry)
        except DftpostError as own:
            return from_log(f"{geometry}: cannot read the structure ({own.problem})")
        warnings.append(f"{geometry}: ASE refuses it ({' '.join(str(exc).split())[:120]}); read by dftpost's own geometry.in reader")
    if not (np.isfinite(atoms.positions).all() and np.isfinite(atoms.cell[:]).all()):
        return from_log(f"{geometry}: positions or lattice vectors that are not finite numbers (NaN or Inf)")
    if n_expected is not None and len(atoms) != n_expected:
        return from_log(f"{geometry}: {len(atoms)} atoms, but aims.out says {n_expected}")
    return atoms, geometry


def read_aims_run(directory: Path) -> Run:
    """Read an FHI-aims run directory (see :func:`dftpost.io.rundir.read_run`)."""
    warnings: list[str] = []
    missing: list[str] = []
    files: dict[str, tuple[Path, ...]] = {}
    logs = logs_by_code(directory)["fhi-aims"]
    preferred = [p for p in logs if p.name == "aims.out"] or logs
    log_path = newest(preferred, "FHI-aims log", warnings)
    out = read_output(log_path) if log_path else None
    if out is None or log_path is None:
        missing.append("log (aims.out)")
    else:
        files["log"] = (log_path,)
        warnings.extend(out.warnings)
        if not out.finished:
            warnings.append(f"{log_path}: FHI-aims did not end normally (no 'Have a nice day.'): truncated or still running")
    if out is not None and not out.scf_converged:
        warnings.append(f"{log_path}: no SCF cycle converged: the values are those of the last, unconverged one")
    atoms, structure_file = _aims_structure(directory, log_path, out, warnings)
    if atoms is None:
        missing.append("structure (geometry.in)")
    else:
        files["geometry"] = (structure_file,)

    dos_paths = _aims_dos_paths(directory)
    pdos = None
    if dos_paths:
        mu = aims_dos_mu(out, dos_paths[0])
        pdos = read_dos_files(dos_paths, fermi_level_eV=mu, program_version=out.program_version if out else None)
        files["pdos"] = pdos.sources
        if mu is not None and abs(pdos.fermi_level_eV - mu) > 1e-3:
            warnings.append(
                f"{dos_paths[0].name}: its header's mu {pdos.fermi_level_eV:.6f} eV is not the chemical potential aims.out "
                f"printed for it ({mu:.6f} eV); the header's is used (FHI-aims' tetrahedron DoS of a spin-orbit run has its own)"
            )
    else:
        missing.append("pdos (atom_proj_dos*.dat)")
    cubes = cube_headers(directory, warnings)
    if cubes:
        files["cube"] = tuple(c.path for c in cubes)

    fermi, source = None, None
    if pdos is not None:
        fermi, source = pdos.fermi_level_eV, "mu of the DoS file header"
    elif out is not None and out.fermi_level_eV is not None:
        fermi, source = out.fermi_level_eV, "aims.out chemical potential"
    dipole = aims_dipole(out)
    field = out.homogeneous_field_V_per_A if out is not None else None
    return Run(
        path=directory,
        code="fhi-aims",
        program_version=out.program_version if out else None,
        atoms=atoms,
        fermi_level_eV=fermi,
        fermi_level_source=source,
        pdos=pdos,
        cubes=cubes,
        dipole_correction=dipole,
        applied_field_V_per_A=field,
        finished=bool(out and out.finished),
        files=files,
        missing=tuple(missing),
        warnings=tuple(warnings),
        core_charges_e=None if atoms is None else atoms.numbers.astype(float),
        frontier_states=_aims_frontier(out),
    )


def _aims_frontier(out) -> FrontierStates | None:
    """aims.out's highest occupied and lowest unoccupied state of the last converged SCF cycle."""
    if out is None or None in (out.homo_eV, out.lumo_eV, out.homo_occupation, out.lumo_occupation):
        return None
    return FrontierStates(out.homo_eV, out.lumo_eV, out.homo_occupation, out.lumo_occupation,
                          1.0 if out.n_spin == 2 else 2.0,
                          "aims.out 'Highest occupied state' / 'Lowest unoccupied state' of the last SCF cycle")




def aims_dipole(out) -> DipoleCorrection | None:
    """The dipole correction aims.out reports (along z), or None."""
    if out is None or (out.dipole_correction_gradient_eV_per_A is None and not out.dipole_correction):
        return None
    return DipoleCorrection(
        axis=2,
        dipole_e_A=out.dipole_z_e_A,
        gradient_eV_per_A=out.dipole_correction_gradient_eV_per_A,
        potential_jump_eV=out.dipole_correction_jump_eV,
        vacuum_levels_eV=out.vacuum_levels_eV,
        work_functions_eV=out.work_functions_eV,
        source="aims.out 'Dipole correction gradient / potential jump' (FHI-aims applies it along z)"
        + ("; 'Total dipole moment in z-direction'" if out.dipole_z_e_A is not None else ""),
    )
