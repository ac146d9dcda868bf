"""Physical constants and unit conversions, all derived from :mod:`ase.units`.

Internal units of dftpost: energy eV, length Å, charge e, dipole e·Å, dipole per area e/Å,
potential V, field V/Å, density e/Å³. Every conversion in the package takes its factor from here.
"""

import math

from ase import units as _u

#: One Hartree in eV (also: 1 Hartree/e in V).
HARTREE_EV: float = _u.Hartree
#: One Bohr radius in Å.
BOHR_A: float = _u.Bohr
#: Atomic unit of electric field (Hartree/(e·Bohr)) in V/Å, ≈ 51.42 V/Å.
FIELD_AU_V_PER_A: float = _u.Hartree / _u.Bohr
#: Vacuum permittivity in e/(V·Å).
EPSILON0_E_PER_V_A: float = 1.0 / (4.0 * math.pi * _u.Bohr * _u.Hartree)
#: Potential step across a dipole sheet per unit dipole-per-area: ΔV = m/ε0, in V·Å/e (≈ 180.95).
DIPOLE_SHEET_V_A_PER_E: float = 1.0 / EPSILON0_E_PER_V_A
#: One Debye in e·Å.
DEBYE_E_A: float = _u.Debye
