"""FHI-aims: projected DoS files (:mod:`.dos`), ``aims.out`` (:mod:`.output`), structures
(:mod:`.geometry`: ``geometry.in`` and the last structure aims.out prints) and a whole run
directory (:mod:`.run`).

Energies eV, lengths Å, dipoles e·Å, fields V/Å; the DoS is states/eV. The names below are
imported on first use: reading one DoS file loads the DoS reader only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .dos import BOTH_SPINS_SINCE, AimsDosName, parse_dos_name, read_dos, read_dos_files, version_date
    from .geometry import read_geometry, read_output_structure
    from .output import FRACTIONAL_OCCUPATION, AimsOutput, read_output
    from .run import read_aims_run

#: public name -> submodule
_EXPORTS = {
    "BOTH_SPINS_SINCE": "dos",
    "AimsDosName": "dos",
    "parse_dos_name": "dos",
    "read_dos": "dos",
    "read_dos_files": "dos",
    "version_date": "dos",
    "read_geometry": "geometry",
    "read_output_structure": "geometry",
    "FRACTIONAL_OCCUPATION": "output",
    "AimsOutput": "output",
    "read_output": "output",
    "read_aims_run": "run",
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


def __getattr__(name: str):
    try:
        submodule = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{submodule}", __name__), name)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
