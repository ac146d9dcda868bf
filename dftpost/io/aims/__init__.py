"""FHI-aims: projected DoS files (:mod:`.dos`), ``aims.out`` (:mod:`.output`), structures
(:mod:`.geometry`: ``geometry.in`` and the last structure aims.out prints) and a whole run
directory (:mod:`.run`).

Energies eV, lengths Å, dipoles e·Å, fields V/Å; the DoS is states/eV. The names below are
imported on first use: reading one DoS file loads the DoS reader only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...lazy import lazy_names

if TYPE_CHECKING:
    from .dos import BOTH_SPINS_SINCE, AimsDosName, parse_dos_name, read_dos, read_dos_files, version_date
    from .geometry import read_geometry, read_output_structure
    from .output import FRACTIONAL_OCCUPATION, AimsOutput, read_output
    from .run import read_aims_run

#: public name -> (submodule, attribute)
_EXPORTS = {
    "BOTH_SPINS_SINCE": (".dos", "BOTH_SPINS_SINCE"),
    "AimsDosName": (".dos", "AimsDosName"),
    "parse_dos_name": (".dos", "parse_dos_name"),
    "read_dos": (".dos", "read_dos"),
    "read_dos_files": (".dos", "read_dos_files"),
    "version_date": (".dos", "version_date"),
    "read_geometry": (".geometry", "read_geometry"),
    "read_output_structure": (".geometry", "read_output_structure"),
    "FRACTIONAL_OCCUPATION": (".output", "FRACTIONAL_OCCUPATION"),
    "AimsOutput": (".output", "AimsOutput"),
    "read_output": (".output", "read_output"),
    "read_aims_run": (".run", "read_aims_run"),
}

__all__ = [
    "BOTH_SPINS_SINCE",
    "FRACTIONAL_OCCUPATION",
    "AimsDosName",
    "AimsOutput",
    "parse_dos_name",
    "read_aims_run",
    "read_dos",
    "read_dos_files",
    "read_geometry",
    "read_output",
    "read_output_structure",
    "version_date",
]


__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())
