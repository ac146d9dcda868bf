"""CP2K: ``.pdos`` files (:mod:`.pdos`), the output log (:mod:`.log`) and the input file
(:mod:`.input`).

Units on the way in: CP2K writes Hartree and Bohr; everything here is converted to eV, Å,
V/Å and e·Å. The slab dipole CP2K prints (``Total dipole moment perpendicular to the slab``)
counts electrons as positive charge; :class:`Cp2kLog` stores it with the physical sign.
"""

from .input import Cp2kInput, Cp2kSection, read_input, read_input_sections
from .log import Cp2kLog, read_log
from .pdos import PDOS_NAME, PdosName, parse_pdos_name, read_pdos, read_pdos_files

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
