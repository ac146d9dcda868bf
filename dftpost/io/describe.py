"""One file → what it is and holds (``dftpost inspect FILE``), reading that file only.

Each branch imports its own reader, so that describing a ``.pdos`` file does not load the
readers of logs, inputs and FHI-aims files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ParseError
from .files import regular_file

if TYPE_CHECKING:
    import numpy as np


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
        from .cube import read_cube_header

        header = read_cube_header(path)
        out.update(format="cube", code=header.program, n_atoms=header.n_atoms, cubes=[header.summary()])
        return out
    from .cp2k.pdos import parse_pdos_name, read_pdos

    if parse_pdos_name(path) or path.suffix in (".pdos", ".pdos_raw"):
        dos = read_pdos(path)
        out.update(format="cp2k-pdos", code="cp2k", fermi_level_eV=dos.fermi_level_eV, pdos=dos.summary())
        return out
    from .aims.dos import parse_dos_name

    if parse_dos_name(path) is not None:
        from .aims.dos import read_dos
        from .aims.output import read_output
        from .aims.run import aims_dos_mu
        from .rundir import sniff_log

        # the aims.out beside it gives μ of a _raw file and the version (for the DoS normalisation)
        mu, version = None, None
        logs = [p for p in sorted(path.parent.iterdir()) if p.is_file() and sniff_log(p) == "fhi-aims"]
        if logs:
            o = read_output(logs[0])
            mu, version = aims_dos_mu(o, path), o.program_version
        dos = read_dos(path, fermi_level_eV=mu, program_version=version)
        out.update(format="fhi-aims-dos", code="fhi-aims", fermi_level_eV=dos.fermi_level_eV, pdos=dos.summary())
        return out
    from .rundir import sniff_log

    code = sniff_log(path)
    if code == "cp2k":
        from .cp2k.log import read_log
        from .cp2k.run import cp2k_dipole

        log = read_log(path)
        out.update(
            format="cp2k-log",
            code="cp2k",
            program_version=log.program_version,
            finished=log.finished,
            fermi_level_eV=log.fermi_level_eV,
            n_atoms=log.n_atoms,
            dipole_correction=None if (d := cp2k_dipole(log)) is None else d.summary(),
            applied_field_V_per_A=_vector(log.periodic_efield_V_per_A),
            warnings=list(log.warnings),
        )
        return out
    if code == "fhi-aims":
        from .aims.output import read_output
        from .aims.run import aims_dipole

        o = read_output(path)
        out.update(
            format="fhi-aims-log",
            code="fhi-aims",
            program_version=o.program_version,
            finished=o.finished,
            fermi_level_eV=o.fermi_level_eV,
            n_atoms=o.n_atoms,
            applied_field_V_per_A=_vector(o.homogeneous_field_V_per_A),
            dipole_correction=None if (d := aims_dipole(o)) is None else d.summary(),
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
        from .cp2k.input import read_input

        inp = read_input(path)
        out.update(
            format="cp2k-input",
            code="cp2k",
            n_atoms=None if inp.atoms is None else len(inp.atoms),
            applied_field_V_per_A=_vector(inp.applied_field_V_per_A),
        )
        return out
    raise ParseError(path, "not a file dftpost knows (cube, .pdos, FHI-aims DoS .dat, CP2K or FHI-aims log, .inp)")



def _vector(v: np.ndarray | None) -> list[float] | None:
    """A vector as a JSON list, or None."""
    return None if v is None else [float(x) for x in v]
