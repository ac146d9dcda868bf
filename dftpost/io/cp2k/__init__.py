"""CP2K: ``.pdos`` files (:mod:`.pdos`), the output log (:mod:`.log`), the input file
(:mod:`.input`) and a whole run directory (:mod:`.run`).

Units on the way in: CP2K writes Hartree and Bohr; everything here is converted to eV, Å,
V/Å and e·Å. The slab dipole CP2K prints (``Total dipole moment perpendicular to the slab``)
counts electrons as positive charge; :class:`Cp2kLog` stores it with the physical sign.

The names below are imported on first use: reading one ``.pdos`` file loads the ``.pdos``
reader only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...lazy import lazy_names

if TYPE_CHECKING:
    from .input import Cp2kInput, Cp2kSection, read_input, read_input_sections
    from .log import Cp2kLog, read_log
    from .pdos import PDOS_NAME, PdosName, parse_pdos_name, read_pdos, read_pdos_files

#: public name -> (submodule, attribute)
_EXPORTS = {
    "Cp2kInput": (".input", "Cp2kInput"),
    "Cp2kSection": (".input", "Cp2kSection"),
    "read_input": (".input", "read_input"),
    "read_input_sections": (".input", "read_input_sections"),
    "Cp2kLog": (".log", "Cp2kLog"),
    "read_log": (".log", "read_log"),
    "PDOS_NAME": (".pdos", "PDOS_NAME"),
    "PdosName": (".pdos", "PdosName"),
    "parse_pdos_name": (".pdos", "parse_pdos_name"),
    "read_pdos": (".pdos", "read_pdos"),
    "read_pdos_files": (".pdos", "read_pdos_files"),
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


__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())
