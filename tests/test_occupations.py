"""HOMO/LUMO from occupations: fractional occupations mean a metal, not a gap (both programs)."""

from __future__ import annotations

import numpy as np

from dftpost.dos import FRACTIONAL_OCCUPATION, ProjectedDos, Projection


def _discrete(eigenvalues_eV, occupations, spin_degeneracy):
    eigenvalues = np.atleast_2d(np.asarray(eigenvalues_eV, dtype=float))
    return ProjectedDos(
        fermi_level_eV=0.0,
        projections=(Projection(label="Pt", kind="species"),),
        values=np.ones((eigenvalues.shape[0], 1, eigenvalues.shape[1])),
        eigenvalues_eV=eigenvalues,
        occupations=np.atleast_2d(np.asarray(occupations, dtype=float)),
        spin_degeneracy=spin_degeneracy,
    )


def test_fermi_dirac_smearing_over_a_metal_is_no_gap():
    """Spin-polarised metal with Fermi-Dirac smearing (kT = 0.1 eV): states just above E_F hold
    a few hundredths of an electron, so the 'HOMO' lies above E_F too; the summary says the
    occupations are fractional, which is what inspect reports instead of a gap."""
    eigenvalues = np.array([[-1.0, -0.05, 0.02, 0.15, 0.9], [-0.8, -0.02, 0.04, 0.3, 1.1]])
    occupations = 1.0 / (1.0 + np.exp(eigenvalues / 0.1))
    summary = _discrete(eigenvalues, occupations, 1).summary()
    assert summary["homo_eV"] > 0.0 and summary["lumo_eV"] > summary["homo_eV"]
    assert summary["fractional_occupations"] is True


def test_integer_occupations_keep_the_gap():
    summary = _discrete([[-2.0, -1.0, 3.0, 4.0]], [[2.0, 2.0, 0.0, 0.0]], 2).summary()
    assert (summary["homo_eV"], summary["lumo_eV"], summary["fractional_occupations"]) == (-1.0, 3.0, False)
    # FHI-aims' threshold: a LUMO with just under 0.05 electrons is still empty
    tail = _discrete([[-1.0, 3.0]], [[2.0 - FRACTIONAL_OCCUPATION / 2, FRACTIONAL_OCCUPATION / 2]], 2).summary()
    assert tail["fractional_occupations"] is False
