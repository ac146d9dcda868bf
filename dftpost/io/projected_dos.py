"""Projected DoS files of either program, by name: one entry point for a notebook."""

from __future__ import annotations

from pathlib import Path

from ..dos import ProjectedDos
from ..errors import DftpostError, ParseError
from . import aims, cp2k


def read_pdos(
    *paths: str | Path, fermi_level_eV: float | None = None, program_version: str | None = None
) -> ProjectedDos:
    """The projected DoS of one run from its files, whichever program wrote them.

    CP2K ``.pdos`` files (kinds, LDOS lists, ALPHA/BETA; the 2026 layouts too) or FHI-aims DoS
    files (species, atom-projected, spin and raw variants), named as the programs name them.
    Energies are eV relative to the Fermi level; ``fermi_level_eV`` is needed only for FHI-aims
    ``_raw`` files, whose header holds no chemical potential. Raises
    :class:`~dftpost.errors.DftpostError` naming the file for a name neither program writes,
    a mix of the two programs, or damaged content.
    """
    if not paths:
        raise DftpostError(None, "no files given: name the .pdos (CP2K) or *_proj_dos*.dat (FHI-aims) files")
    files = [Path(p) for p in paths]
    codes = {}
    for path in files:
        if cp2k.parse_pdos_name(path) is not None:
            codes[path] = "cp2k"
        elif aims.parse_dos_name(path) is not None:
            codes[path] = "fhi-aims"
        else:
            raise ParseError(path, "not a projected-DoS file name of CP2K (<project>-k1-1.pdos) or FHI-aims "
                                   "(<Sp>_l_proj_dos.dat, atom_proj_dos_<Sp><N>.dat)")
    if len(set(codes.values())) > 1:
        raise DftpostError(files[0].parent, "the files mix CP2K and FHI-aims projected DoS: give one run's files")
    if set(codes.values()) == {"cp2k"}:
        return cp2k.read_pdos_files(files)
    return aims.read_dos_files(files, fermi_level_eV, program_version)
