"""CP2K: ``.pdos`` files (:mod:`.pdos`), the output log (:mod:`.log`), the input file
(:mod:`.input`) and a whole run directory (:mod:`.run`).

Units on the way in: CP2K writes Hartree and Bohr; everything here is converted to eV, Å,
V/Å and e·Å. The slab dipole CP2K prints (``Total dipole moment perpendicular to the slab``)
counts electrons as positive charge; :class:`Cp2kLog` stores it with the physical sign.

The names below are imported on first use: reading one ``.pdos`` file loads the ``.pdos``
reader only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .input import Cp2kInput, Cp2kSection, read_input, read_input_sections
    from .log import Cp2kLog, read_log
    from .pdos import PDOS_NAME, PdosName, parse_pdos_name, read_pdos, read_pdos_files

#: public name -> submodule
_EXPORTS = {
    "Cp2kInput": "input",
    "Cp2kSection": "input",
    "read_input": "input",
    "read_input_sections": "input",
    "Cp2kLog": "log",
    "read_log": "log",
    "PDOS_NAME": "pdos",
    "PdosName": "pdos",
    "parse_pdos_name": "pdos",
    "read_pdos": "pdos",
    "read_pdos_files": "pdos",
}

__all__ = [
    "PDOS_NAME",
    "Cp2kInput",
    "Cp2kLog",
    "Cp2kSection",
    "PdosName",
    "parse_pdos_name",
    "read_input",
    "read_input_sections",
    "read_log",
    "read_pdos",
    "read_pdos_files",
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
