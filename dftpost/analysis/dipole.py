"""Fixed-charge dipoles of water (paper eq. 1, METHODS §1).

Charges q_O on O and q_H = −q_O/2 on H; molecules made whole by
:func:`~dftpost.analysis.molecules.assign_hydrogens`. The total dipole per unit area along the
surface normal is

    μ_z = (1/A) Σ_{O i} [ q_O z_i + q_H Σ_{j ∈ H(i)} z_j ]          (e/Å)

with A the cell area normal to z. It equals q_O·s with s = Σ_i [z_O,i − ½ Σ_j z_j] / A (Å⁻¹·Å),
so it is linear in q_O. For neutral molecules it does not depend on the origin of z; a frame with
OH⁻ or H3O⁺ has a charged sum (see the census).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..units import DIPOLE_SHEET_V_A_PER_E
from .molecules import DEFAULT_R_OH, Molecules, assign_hydrogens

#: Default oxygen charge, e: the value the paper's authors use for revPBE-D3 water (ml-peg).
DEFAULT_Q_O = -0.5562


@dataclass(frozen=True)
class FixedChargeDipole:
    """Fixed-charge dipole of one frame along ``axis``.

    ``total_e_per_A`` is μ (e/Å) for ``q_o_e``; ``charge_lever_per_A`` is s (1/Å·Å, i.e. μ/q_O);
    ``potential_step_V`` is μ/ε0; ``census`` the species counts of the frame.
    """

    total_e_per_A: float
    charge_lever_per_A: float
    potential_step_V: float
    q_o_e: float
    r_oh_A: float
    axis: int
    area_A2: float
    census: dict[str, int]

    @property
    def dissociated(self) -> bool:
        """True when the frame holds O, OH, H3O or free H besides whole H2O."""
        c = self.census
        return c["O"] + c["OH"] + c["H3O"] + c["free_H"] > 0


def area_normal_to(cell_A: np.ndarray, axis: int) -> float:
    """Area (Å²) of the cell face spanned by the two cell vectors other than ``axis``."""
    a, b = (np.asarray(cell_A, dtype=float)[i] for i in range(3) if i != axis)
    return float(np.linalg.norm(np.cross(a, b)))


def charge_lever(molecules: Molecules, area_A2: float, axis: int = 2) -> float:
    """s = Σ_i [x_O,i − ½ Σ_{j∈H(i)} x_j] / A along ``axis``, in Å/Å² = 1/Å (μ = q_O·s)."""
    bonded = molecules.owner >= 0
    o_sum = molecules.o_positions_A[:, axis].sum()
    h_sum = molecules.h_positions_A[bonded, axis].sum()
    return float((o_sum - 0.5 * h_sum) / area_A2)


def fixed_charge_dipole(
    numbers: np.ndarray,
    positions_A: np.ndarray,
    cell_A: np.ndarray,
    pbc=(True, True, True),
    q_o: float = DEFAULT_Q_O,
    r_oh: float = DEFAULT_R_OH,
    axis: int = 2,
) -> FixedChargeDipole:
    """The fixed-charge total dipole per area of one frame (atoms other than O and H ignored)."""
    molecules = assign_hydrogens(numbers, positions_A, cell_A, pbc, r_oh)
    area = area_normal_to(cell_A, axis)
    lever = charge_lever(molecules, area, axis)
    total = q_o * lever
    return FixedChargeDipole(
        total_e_per_A=total,
        charge_lever_per_A=lever,
        potential_step_V=total * DIPOLE_SHEET_V_A_PER_E,
        q_o_e=q_o,
        r_oh_A=r_oh,
        axis=axis,
        area_A2=area,
        census=molecules.census(),
    )
