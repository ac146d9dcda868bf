"""A DFT run directory → which program, which files → one :class:`~dftpost.run.Run`."""

from __future__ import annotations

import os
import re
import stat
import warnings as warnings_module
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
from ase import Atoms

from ..dos import ProjectedDos
from ..errors import DftpostError, MissingInputError, ParseError, UnreadableFileError
from ..run import DipoleCorrection, FrontierStates, Run
from . import aims, cp2k
from .cube import read_cube_header
from .files import HDF5_SIGNATURE, new_digest, open_regular, regular_file, update_digest

_LOG_SUFFIXES = {".out", ".log", ".stdout", ".txt"}
#: Read size of :func:`sniff_log`, and the text the programs' logs are recognised by (their
#: banners; a job scheduler may print any amount of text before them).
_SNIFF_BLOCK = 1 << 20
_LOG_MARKERS = ((b"Invoking FHI-aims", "fhi-aims"), (b"FHI-aims version", "fhi-aims"),
                (b"CP2K|", "cp2k"), (b"PROGRAM STARTED AT", "cp2k"))


def sniff_log(path: Path) -> str | None:
    """``"fhi-aims"`` or ``"cp2k"`` if the file is that program's log: the program whose banner
    comes first, wherever it is (after a scheduler's preamble of any length). The file is read
    block by block up to the banner only; None for a file without one or with NUL bytes."""
    overlap = max(len(marker) for marker, _ in _LOG_MARKERS) - 1
    tail = b""
    try:
        with open_regular(path) as f:
            while block := f.read(_SNIFF_BLOCK):
                if b"\0" in block:
                    return None  # binary data, not a log
                text = tail + block
                hits = [(at, code) for marker, code in _LOG_MARKERS if (at := text.find(marker)) >= 0]
                if hits:
                    return min(hits)[1]
                tail = text[-overlap:]
    except (OSError, DftpostError):
        return None
    return None


def _entries(directory: Path) -> list[Path]:
    """The entries of a run directory, sorted; a directory that is gone or cannot be listed is
    an error naming it."""
    try:
        return sorted(directory.iterdir())
    except FileNotFoundError:
        raise MissingInputError(directory, "the run directory disappeared while it was being read") from None
    except NotADirectoryError:
        raise MissingInputError(directory, "no longer a directory (replaced while it was being read)") from None
    except PermissionError:
        raise UnreadableFileError(directory, "permission denied (the directory cannot be listed)") from None


def _is_input_name(path: Path) -> bool:
    """True if dftpost would read a file of this name in a run directory."""
    name = path.name
    return (path.suffix in _LOG_SUFFIXES or path.suffix in (".cube", ".inp") or name in _AIMS_INPUTS
            or cp2k.parse_pdos_name(path) is not None or aims.parse_dos_name(path) is not None)


_AIMS_INPUTS = ("aims.out", "control.in", "geometry.in")


def _check_inputs(directory: Path) -> None:
    """Raise the error of the first entry with the name of an input dftpost reads that is not
    a regular file (a FIFO, a device, a symbolic-link loop, a dangling link, a directory): the
    run is not read around it."""
    for p in _entries(directory):
        if _is_input_name(p) and not p.is_dir():
            try:
                regular_file(p)
            except MissingInputError:
                if os.path.islink(p):  # a dangling link (a file removed since the listing is no input)
                    raise


def _may_be_log(path: Path) -> bool:
    """A name a log may have: ``*.out``, ``*.log``, ``*.stdout``, ``*.txt``, ``aims.out``, a
    batch system's ``<job>.o<id>``, or no suffix at all (``cp2k.psmp -i run.inp -o output``)."""
    return (path.suffix in _LOG_SUFFIXES or path.name == "aims.out" or not path.suffix
            or re.fullmatch(r"\.o\d+", path.suffix) is not None)


def _logs(directory: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {"fhi-aims": [], "cp2k": []}
    for p in _entries(directory):
        if _may_be_log(p) and p.is_file():
            code = sniff_log(p)
            if code:
                found[code].append(p)
    return found


def detect_code(directory: Path) -> str:
    """The program that wrote a run directory, from its logs or, lacking one, its file names."""
    logs = _logs(directory)
    if logs["fhi-aims"] and logs["cp2k"]:
        log_names = lambda code: ", ".join(p.name for p in logs[code])  # noqa: E731
        raise ParseError(
            directory,
            f"holds both an FHI-aims log ({log_names('fhi-aims')}) and a CP2K log ({log_names('cp2k')}): one run per directory",
        )
    for code, paths in logs.items():
        if paths:
            return code
    names = [p.name for p in _entries(directory)]
    if any(cp2k.parse_pdos_name(n) for n in names) or any(n.endswith(".inp") for n in names):
        return "cp2k"
    if any(aims.parse_dos_name(n) for n in names) or "control.in" in names:
        return "fhi-aims"
    raise MissingInputError(
        directory,
        "nothing recognisable: no FHI-aims or CP2K log (*.out), no .pdos, no *_proj_dos*.dat, no control.in or .inp",
    )


def looks_like_run(directory: Path) -> bool:
    """True if a directory holds a DFT run that dftpost reads (cheap: names and log headers).
    A directory with the logs of both programs is one (reading it is then an error that
    names both logs)."""
    try:
        detect_code(directory)
    except MissingInputError:
        return False
    except ParseError:
        pass  # the logs of both programs: a run, whose reading is an error naming both logs
    return True


def is_run_file(path: Path) -> bool:
    """True if ``path`` names a file of a run that dftpost recognises: a CP2K or FHI-aims log
    (by its banner), a CP2K .pdos or .inp, an FHI-aims DoS file, control.in or geometry.in, or
    a cube."""
    path = Path(path)
    return (path.suffix in (".cube", ".inp") or path.name in _AIMS_INPUTS or cp2k.parse_pdos_name(path) is not None
            or aims.parse_dos_name(path) is not None or sniff_log(path) is not None)


def _run_directory(path: Path) -> Path:
    """``path`` if it is a directory, the directory of a file of a run (:func:`is_run_file`),
    else the error that says what ``path`` is (missing, a FIFO, a device, a loop, no
    permission: :func:`dftpost.io.files.open_regular`) or that it is not a file of a run."""
    if path.is_dir():
        return path
    open_regular(path).close()
    if not is_run_file(path):
        raise ParseError(path, "not a run: give a run directory, or one of its logs or outputs "
                               "(CP2K or FHI-aims log, .pdos, FHI-aims DoS .dat, .inp, control.in, geometry.in, cube)")
    return path.parent


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Every run directory at or below the given paths (a file of a run, see
    :func:`is_run_file`, stands for its directory), sorted and without duplicates; a folder
    below them that cannot be listed (permission denied) is among them, so that a batch reports
    it instead of passing it over. Raises
    :class:`MissingInputError` if a path does not exist or holds no run at all,
    :class:`ParseError` for a file that is not one of a run, and
    :class:`~dftpost.errors.UnreadableFileError` for a path that is neither a directory nor a
    regular file (see :func:`dftpost.io.files.regular_file`)."""
    found: set[Path] = set()
    for path in map(Path, paths):
        path = _run_directory(path)
        refused: list[OSError] = []
        here = [Path(root) for root, _dirs, _files in os.walk(path, onerror=refused.append)]
        runs = [d for d in here if looks_like_run(d)]
        # a folder that cannot be listed may hold a run: reading it is then the error that says so
        runs += [Path(error.filename) for error in refused if isinstance(error, PermissionError) and error.filename]
        if not runs:
            raise MissingInputError(path, "no FHI-aims or CP2K run directory in or below it")
        found.update(d.resolve() for d in runs)
    return sorted(found)


#: What a results store's ``<file>.lock`` holds: its writer (see :mod:`dftpost.store`).
_LOCK_TEXT = re.compile(rb"(pid \d+ on .*)?")


def input_hash(directory: Path) -> str:
    """A fingerprint of the inputs dftpost reads from a run directory: names and contents of
    every regular file in it (symbolic links followed) except cubes, HDF5 files (a results
    store and its ``.tmp``) and a store's ``.lock`` (hex, 32 characters). Changes when any
    such file changes; a results file written into the run directory leaves it as it was.
    Other entries (subdirectories, FIFOs, devices, links that lead nowhere) are not inputs, nor
    is a file without read permission unless its name is that of an input (:func:`read_run`
    would read it: then its error). Raises :class:`MissingInputError` when the directory has
    disappeared."""
    directory = Path(directory)
    digest = new_digest()
    for p in _entries(directory):
        if p.suffix == ".cube" or not _regular(p):
            continue
        try:
            f = open_regular(p)
        except MissingInputError:  # removed since the listing
            continue
        except UnreadableFileError:
            if _is_input_name(p):
                raise
            continue
        with f:
            head = f.read(8)
            if head == HDF5_SIGNATURE or (p.name.endswith(".lock") and _LOCK_TEXT.fullmatch(head + f.read(300))):
                continue
            f.seek(0)
            digest.update(os.fsencode(p.name) + b"\0")
            update_digest(digest, f)
        digest.update(b"\0")
    if not directory.is_dir():
        raise MissingInputError(directory, "the run directory disappeared while it was being read")
    return digest.hexdigest()


def _regular(path: Path) -> bool:
    """True for a regular file (links followed), False for anything else, a path gone, or one
    that cannot be looked at (a symbolic-link loop)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def read_run(path: str | Path) -> Run:
    """Read a run directory (or the directory of a given file of a run, see
    :func:`is_run_file`) into a :class:`Run`.

    Raises :class:`~dftpost.errors.DftpostError` naming the file when something present is
    malformed; what is merely absent is listed in ``Run.missing``.
    """
    directory = _run_directory(Path(path))
    _check_inputs(directory)
    code = detect_code(directory)
    return _read_cp2k(directory) if code == "cp2k" else _read_aims(directory)


def _pick(paths: list[Path], what: str, directory: Path, warnings: list[str]) -> Path | None:
    if not paths:
        return None
    if len(paths) > 1:
        newest = max(paths, key=lambda p: p.stat().st_mtime)
        warnings.append(f"{len(paths)} {what} files; used the newest, {newest.name}")
        return newest
    return paths[0]


def _cube_headers(directory: Path, warnings: list[str]) -> tuple:
    headers = []
    for p in sorted(directory.glob("*.cube")):
        try:
            headers.append(read_cube_header(p))
        except DftpostError as exc:
            warnings.append(str(exc))
    return tuple(headers)


def _cp2k_dipole(log, axis: int = 2) -> DipoleCorrection | None:
    if log is None or log.slab_dipole_e_A is None:
        return None
    return DipoleCorrection(
        axis=axis,
        dipole_e_A=log.slab_dipole_e_A,
        source="CP2K 'Total dipole moment perpendicular to the slab' with the sign flipped "
        "(CP2K counts electrons as positive)",
    )


def _aims_dipole(out) -> DipoleCorrection | None:
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


def _vector(v: np.ndarray | None) -> list[float] | None:
    return None if v is None else [float(x) for x in v]


# ----------------------------------------------------------------------------- CP2K
def _read_cp2k(directory: Path) -> Run:
    warnings: list[str] = []
    missing: list[str] = []
    files: dict[str, tuple[Path, ...]] = {}
    log_path = _pick(_logs(directory)["cp2k"], "CP2K log", directory, warnings)
    log = cp2k.read_log(log_path) if log_path else None
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
        input_path = _pick(sorted(directory.glob("*.inp")), "CP2K input", directory, warnings)
    inp = cp2k.read_input(input_path) if input_path else None
    if inp is None or input_path is None:
        missing.append("input (.inp)")
    else:
        files["input"] = (input_path,)
        warnings.extend(inp.warnings)
    project = (log.project if log else None) or (inp.project if inp else None)
    named = [(p, n) for p in sorted(directory.glob("*.pdos*")) if (n := cp2k.parse_pdos_name(p)) is not None]
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
        pdos = cp2k.read_pdos_files(pdos_paths)
        pdos = _cp2k_atom_indices(pdos, log, inp, warnings)
        files["pdos"] = pdos.sources
    else:
        missing.append("pdos (.pdos files)")
    cubes = _cube_headers(directory, warnings)
    if cubes:
        files["cube"] = tuple(c.path for c in cubes)

    atoms = inp.atoms if inp and inp.atoms is not None else (log.atoms if log else None)
    if atoms is not None and project is not None:
        atoms = _last_trajectory_geometry(directory / f"{project}-pos-1.xyz", atoms, warnings)
    if atoms is None and cubes:
        from .cube import read_cube  # the atoms of a cube need its header only, but read_cube is simplest

        atoms = read_cube(cubes[0].path).atoms
        warnings.append(f"structure taken from {cubes[0].path.name}")
    if atoms is None:
        missing.append("structure")
    elif log is not None and log_path is not None and log.n_atoms is not None and len(atoms) != log.n_atoms:
        source = input_path if inp is not None and inp.atoms is not None else (log_path if log.atoms is not None else cubes[0].path)
        raise ParseError(
            source,
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
    dipole = _cp2k_dipole(log, axis)
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


# ----------------------------------------------------------------------------- FHI-aims
def _aims_dos_paths(directory: Path) -> list[Path]:
    """The DoS files dftpost uses: per atom if written, else per species, else the total.

    Shifted (not ``_raw``) files are preferred, Gaussian-broadened over tetrahedron, and the
    spin–orbit set over ``.no_soc``; both spin channels are kept.
    """
    parsed = [(aims.parse_dos_name(p), p) for p in _entries(directory) if p.is_file()]
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


def _aims_dos_mu(out, path: Path) -> float | None:
    """The chemical potential (eV) aims.out printed for a DoS file: the one it names the file
    with, else that of the spin–orbit run (SOC set) or of the scalar one (``.no_soc`` or no SOC)."""
    if out is None:
        return None
    if path.name in out.dos_fermi_levels_eV:
        return out.dos_fermi_levels_eV[path.name]
    name = aims.parse_dos_name(path)
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
    (:func:`dftpost.io.aims.read_output_structure`). Otherwise ``geometry.in``, read
    by ASE or, where ASE refuses it (Cartesian and fractional atoms mixed), by
    :func:`dftpost.io.aims.read_geometry`. A ``geometry.in`` that cannot be used or that disagrees
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
            atoms = aims.read_output_structure(log_path)
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
            atoms = aims.read_geometry(geometry)
        except DftpostError as own:
            return from_log(f"{geometry}: cannot read the structure ({own.problem})")
        warnings.append(f"{geometry}: ASE refuses it ({' '.join(str(exc).split())[:120]}); read by dftpost's own geometry.in reader")
    if not (np.isfinite(atoms.positions).all() and np.isfinite(atoms.cell[:]).all()):
        return from_log(f"{geometry}: positions or lattice vectors that are not finite numbers (NaN or Inf)")
    if n_expected is not None and len(atoms) != n_expected:
        return from_log(f"{geometry}: {len(atoms)} atoms, but aims.out says {n_expected}")
    return atoms, geometry


def _read_aims(directory: Path) -> Run:
    warnings: list[str] = []
    missing: list[str] = []
    files: dict[str, tuple[Path, ...]] = {}
    logs = _logs(directory)["fhi-aims"]
    preferred = [p for p in logs if p.name == "aims.out"] or logs
    log_path = _pick(preferred, "FHI-aims log", directory, warnings)
    out = aims.read_output(log_path) if log_path else None
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
        mu = _aims_dos_mu(out, dos_paths[0])
        pdos = aims.read_dos_files(dos_paths, fermi_level_eV=mu, program_version=out.program_version if out else None)
        files["pdos"] = pdos.sources
        if mu is not None and abs(pdos.fermi_level_eV - mu) > 1e-3:
            warnings.append(
                f"{dos_paths[0].name}: its header's mu {pdos.fermi_level_eV:.6f} eV is not the chemical potential aims.out "
                f"printed for it ({mu:.6f} eV); the header's is used (FHI-aims' tetrahedron DoS of a spin-orbit run has its own)"
            )
    else:
        missing.append("pdos (atom_proj_dos*.dat)")
    cubes = _cube_headers(directory, warnings)
    if cubes:
        files["cube"] = tuple(c.path for c in cubes)

    fermi, source = None, None
    if pdos is not None:
        fermi, source = pdos.fermi_level_eV, "mu of the DoS file header"
    elif out is not None and out.fermi_level_eV is not None:
        fermi, source = out.fermi_level_eV, "aims.out chemical potential"
    dipole = _aims_dipole(out)
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


def describe_file(path: str | Path) -> dict:
    """What one file is and holds, as a JSON-ready dict with the keys of :meth:`Run.summary`
    (null where the file cannot say)."""
    path = Path(path)
    regular_file(path)
    out: dict[str, Any] = {
        "path": str(path),
        "code": None,
        "program_version": None,
        "finished": None,
        "fermi_level_eV": None,
        "n_atoms": None,
        "pdos": None,
        "dipole_correction": None,
        "applied_field_V_per_A": None,
        "cubes": [],
        "format": None,
    }
    if path.name.endswith(".cube"):
        header = read_cube_header(path)
        out.update(format="cube", code=header.program, n_atoms=header.n_atoms, cubes=[header.summary()])
        return out
    if cp2k.parse_pdos_name(path) or path.suffix in (".pdos", ".pdos_raw"):
        dos = cp2k.read_pdos(path)
        out.update(format="cp2k-pdos", code="cp2k", fermi_level_eV=dos.fermi_level_eV, pdos=dos.summary())
        return out
    if aims.parse_dos_name(path) is not None:
        # the aims.out beside it gives μ of a _raw file and the version (for the DoS normalisation)
        mu, version = None, None
        logs = [p for p in sorted(path.parent.iterdir()) if p.is_file() and sniff_log(p) == "fhi-aims"]
        if logs:
            o = aims.read_output(logs[0])
            mu, version = _aims_dos_mu(o, path), o.program_version
        dos = aims.read_dos(path, fermi_level_eV=mu, program_version=version)
        out.update(format="fhi-aims-dos", code="fhi-aims", fermi_level_eV=dos.fermi_level_eV, pdos=dos.summary())
        return out
    code = sniff_log(path)
    if code == "cp2k":
        log = cp2k.read_log(path)
        out.update(
            format="cp2k-log",
            code="cp2k",
            program_version=log.program_version,
            finished=log.finished,
            fermi_level_eV=log.fermi_level_eV,
            n_atoms=log.n_atoms,
            dipole_correction=None if (d := _cp2k_dipole(log)) is None else d.summary(),
            applied_field_V_per_A=_vector(log.periodic_efield_V_per_A),
            warnings=list(log.warnings),
        )
        return out
    if code == "fhi-aims":
        o = aims.read_output(path)
        out.update(
            format="fhi-aims-log",
            code="fhi-aims",
            program_version=o.program_version,
            finished=o.finished,
            fermi_level_eV=o.fermi_level_eV,
            n_atoms=o.n_atoms,
            applied_field_V_per_A=_vector(o.homogeneous_field_V_per_A),
            dipole_correction=None if (d := _aims_dipole(o)) is None else d.summary(),
            scf_fermi_levels_eV=list(o.scf_fermi_levels_eV),
            fermi_levels_spin_eV=None if o.fermi_levels_spin_eV is None else list(o.fermi_levels_spin_eV),
            homo_eV=o.homo_eV,
            lumo_eV=o.lumo_eV,
            homo_lumo_gap_eV=o.homo_lumo_gap_eV,
            fractional_occupations=o.fractional_occupations,
            warnings=list(o.warnings),
        )
        return out
    if path.suffix == ".inp":
        inp = cp2k.read_input(path)
        out.update(
            format="cp2k-input",
            code="cp2k",
            n_atoms=None if inp.atoms is None else len(inp.atoms),
            applied_field_V_per_A=_vector(inp.applied_field_V_per_A),
        )
        return out
    raise ParseError(path, "not a file dftpost knows (cube, .pdos, FHI-aims DoS .dat, CP2K or FHI-aims log, .inp)")

