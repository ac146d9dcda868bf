"""Gaussian-charge potential in periodic cells (dftpost.analysis.electrostatics, METHODS §2).

References, written here independently of the module:

- the plain Fourier series of the Gaussian charges, φ_i = (4π k_e/V) Σ_{k≠0} e^{−k²σ²/2}/k²
  Σ_j q_j cos(k·(r_i − r_j)), summed up to kσ = 9 with no Ewald splitting (it converges on its
  own for σ > 0), minus the atom's own Gaussian k_e q_i √(2/π)/σ;
- pymatgen's EwaldSummation for point charges (σ = 0);
- the intramolecular pair terms and the planar average by hand.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.integrate import cumulative_trapezoid
from scipy.spatial.transform import Rotation

from dftpost.analysis.electrostatics import (
    COULOMB_V_A_PER_E,
    choose_parameters,
    gaussian_charge_potential,
    planar_average_potential,
    potential_spread,
)
from dftpost.errors import DftpostError

KE = COULOMB_V_A_PER_E
ORTHO = np.diag([9.0, 10.0, 11.0])
TRICLINIC = np.array([[9.0, 0.0, 0.0], [3.0, 9.5, 0.0], [-2.0, 1.5, 10.5]])


def fourier_reference(positions, charges, cell, sigma, k_sigma=9.0):
    """φ_i (V) from the Fourier series of the Gaussians alone, own Gaussian removed."""
    volume = abs(np.linalg.det(cell))
    reciprocal = 2 * np.pi * np.linalg.inv(cell).T
    k_max = k_sigma / sigma
    n = [int(k_max * np.linalg.norm(a) / (2 * np.pi)) + 1 for a in cell]
    m = np.array(list(itertools.product(*(range(-i, i + 1) for i in n))), dtype=float)
    k = m @ reciprocal
    k2 = (k**2).sum(axis=1)
    keep = (k2 > 0) & (k2 < k_max**2)
    k, k2 = k[keep], k2[keep]
    weight = 4 * np.pi / volume * np.exp(-k2 * sigma**2 / 2) / k2
    phi = np.zeros(len(charges))
    for start in range(0, len(k), 20000):
        phase = positions @ k[start : start + 20000].T
        cos, sin = np.cos(phase), np.sin(phase)
        w = weight[start : start + 20000]
        phi += cos @ (w * (charges @ cos)) + sin @ (w * (charges @ sin))
    return KE * (phi - charges * np.sqrt(2 / np.pi) / sigma)


def random_cell(cell, n=24, seed=0, neutral=True):
    rng = np.random.default_rng(seed)
    positions = rng.uniform(0, 1, (n, 3)) @ cell
    charges = rng.normal(size=n)
    if neutral:
        charges -= charges.mean()
    return positions, charges


def water_box(n_side, cell, seed=0):
    """n_side³ water molecules (O, H, H; O–H 0.97 Å, 104.5°) on a jittered lattice in ``cell``,
    random orientations, atoms wrapped one by one (molecules broken at the faces)."""
    rng = np.random.default_rng(seed)
    grid = (np.array(list(itertools.product(range(n_side), repeat=3))) + 0.95) / n_side  # O near the faces
    o = (grid + rng.uniform(-0.03, 0.03, grid.shape)) @ cell
    half = np.radians(104.5) / 2
    template = 0.97 * np.array([[np.sin(half), 0, np.cos(half)], [-np.sin(half), 0, np.cos(half)]])
    rotation = Rotation.from_quat(rng.normal(size=(len(o), 4)))
    h = o[:, None, :] + np.stack([rotation.apply(template[0]), rotation.apply(template[1])], axis=1)
    positions = np.concatenate([o[:, None, :], h], axis=1).reshape(-1, 3)
    frac = positions @ np.linalg.inv(cell)
    positions = (frac - np.floor(frac)) @ cell
    numbers = np.tile([8, 1, 1], len(o))
    return numbers, positions, np.where(numbers == 8, -0.5562, 0.2781)


@pytest.fixture(scope="module")
def water():
    cell = np.array([[12.4, 0.0, 0.0], [1.5, 12.2, 0.0], [-1.0, 0.8, 12.3]])
    numbers, positions, charges = water_box(4, cell)
    return numbers, positions, charges, cell, fourier_reference(positions, charges, cell, 0.5)


@pytest.mark.parametrize("cell", [ORTHO, TRICLINIC], ids=["orthorhombic", "triclinic"])
@pytest.mark.parametrize("method", ["pme", "ewald"])
@pytest.mark.parametrize("tolerance", [1e-4, 1e-6])
def test_random_charges_match_fourier_series(cell, method, tolerance):
    """Every atom within the requested tolerance; at 1e-6 V that is < 1e-7 of max |φ| (~15 V)."""
    positions, charges = random_cell(cell)
    reference = fourier_reference(positions, charges, cell, 0.5)
    phi = gaussian_charge_potential(positions, charges, cell, 0.5, tolerance_V=tolerance, method=method)
    assert np.abs(reference).max() > 5.0
    assert np.abs(phi - reference).max() < tolerance


@pytest.mark.parametrize("method", ["pme", "ewald"])
@pytest.mark.parametrize("tolerance", [1e-4, 1e-6])
def test_water_tolerance_honoured(water, method, tolerance):
    _, positions, charges, cell, reference = water
    parameters = choose_parameters(cell, charges, 0.5, tolerance, method)
    phi = gaussian_charge_potential(positions, charges, cell, 0.5, parameters=parameters)
    error = np.abs(phi - reference).max()
    assert error < tolerance
    assert parameters.estimated_error_V < tolerance / 2  # the estimate is an RMS, kept below the target
    # and the sum is not trivially exact: a coarser tolerance gives a larger error
    coarse = gaussian_charge_potential(positions, charges, cell, 0.5, tolerance_V=100 * tolerance, method=method)
    assert np.abs(coarse - reference).max() > error


@pytest.mark.parametrize("cell", [ORTHO, TRICLINIC], ids=["orthorhombic", "triclinic"])
def test_point_charges_match_pymatgen(cell):
    pymatgen = pytest.importorskip("pymatgen.analysis.ewald")
    from pymatgen.core import Lattice, Structure

    positions, charges = random_cell(cell, n=16, seed=3)
    structure = Structure(Lattice(cell), ["H"] * 16, positions, coords_are_cartesian=True, site_properties={"charge": charges})
    ewald = pymatgen.EwaldSummation(structure, acc_factor=14)
    # site energy e_i = Σ_j ½ q_i q_j ψ_ij (+ the self term), so φ_i = 2 e_i / q_i; pymatgen's
    # 1/(4πε0) is CODATA 2018 (scipy), dftpost's ASE's: they differ by 8e-9 relative
    reference = 2 * ewald.total_energy_matrix.sum(axis=1) / charges * KE / ewald.CONV_FACT
    for method in ("pme", "ewald"):
        phi = gaussian_charge_potential(positions, charges, cell, 0.0, tolerance_V=1e-7, method=method)
        assert np.abs(phi - reference).max() < 1e-7


def test_charged_cell_has_neutralising_background():
    positions, charges = random_cell(TRICLINIC, seed=5, neutral=False)
    assert abs(charges.sum()) > 1
    reference = fourier_reference(positions, charges, TRICLINIC, 0.5)
    for method in ("pme", "ewald"):
        phi = gaussian_charge_potential(positions, charges, TRICLINIC, 0.5, tolerance_V=1e-6, method=method)
        assert np.abs(phi - reference).max() < 1e-6


def test_wider_screening_gives_the_same_potential():
    """The Ewald split is exact for any η: two very different splits agree."""
    positions, charges = random_cell(TRICLINIC, seed=6)
    base = choose_parameters(TRICLINIC, charges, 0.3, 1e-7, "ewald")
    narrow = gaussian_charge_potential(positions, charges, TRICLINIC, 0.3, parameters=replace(base, eta_A=0.6, r_cut_A=5.0, k_cut_per_A=11.0))
    wide = gaussian_charge_potential(positions, charges, TRICLINIC, 0.3, parameters=replace(base, eta_A=2.0, r_cut_A=16.0, k_cut_per_A=3.5))
    assert np.abs(narrow - wide).max() < 1e-6


@pytest.mark.parametrize("intermolecular", [False, True])
def test_translation_and_rewrapping(water, intermolecular):
    """Atoms moved by whole lattice vectors (up to 3 cells): the same to rounding; all atoms
    translated as well: the same within the tolerance (the mesh is fixed to the cell)."""
    _, positions, charges, cell, _ = water
    parameters = choose_parameters(cell, charges, 0.5, 1e-6)
    molecules = np.arange(len(charges)) // 3 if intermolecular else None
    phi = gaussian_charge_potential(positions, charges, cell, 0.5, molecule_ids=molecules, parameters=parameters)
    rng = np.random.default_rng(7)
    rewrapped = positions + rng.integers(-3, 4, (len(positions), 3)) @ cell
    assert np.abs(gaussian_charge_potential(rewrapped, charges, cell, 0.5, molecule_ids=molecules, parameters=parameters) - phi).max() < 1e-10
    moved = positions + np.array([3.7, -11.2, 5.3]) + rng.integers(-2, 3, (len(positions), 3)) @ cell
    assert np.abs(gaussian_charge_potential(moved, charges, cell, 0.5, molecule_ids=molecules, parameters=parameters) - phi).max() < 1e-6


def test_self_term_adds_the_own_gaussian(water):
    _, positions, charges, cell, _ = water
    parameters = choose_parameters(cell, charges, 0.5, 1e-4)
    without = gaussian_charge_potential(positions, charges, cell, 0.5, parameters=parameters)
    with_self = gaussian_charge_potential(positions, charges, cell, 0.5, self_term=True, parameters=parameters)
    np.testing.assert_allclose(with_self - without, KE * charges * math.sqrt(2 / math.pi) / 0.5, rtol=0, atol=1e-11)


def test_molecule_excluded_is_full_minus_intramolecular_pairs(water):
    numbers, positions, charges, cell, _ = water
    molecule = np.arange(len(numbers)) // 3
    parameters = choose_parameters(cell, charges, 0.5, 1e-4)
    full = gaussian_charge_potential(positions, charges, cell, 0.5, parameters=parameters)
    excluded = gaussian_charge_potential(positions, charges, cell, 0.5, molecule_ids=molecule, parameters=parameters)
    by_hand = np.zeros(len(charges))
    images = [np.array(s) @ cell for s in itertools.product((-1, 0, 1), repeat=3)]
    for i, j in itertools.permutations(range(len(charges)), 2):
        if molecule[i] == molecule[j]:
            r = min(np.linalg.norm(positions[i] - positions[j] + n) for n in images)
            assert r < 1.6  # molecules are broken across the faces, their nearest image is whole
            by_hand[i] += KE * charges[j] * math.erf(r / (math.sqrt(2) * 0.5)) / r
    np.testing.assert_allclose(excluded, full - by_hand, rtol=0, atol=1e-10)
    # the molecules really are broken in the input
    assert np.abs(positions[1::3] - positions[::3]).max() > 2


def test_potential_spread_of_a_water_frame(water):
    numbers, positions, charges, cell, reference = water
    result = potential_spread(numbers, positions, cell, 0.5, self_term=False, tolerance_V=1e-5)
    np.testing.assert_allclose(result.potential_V, reference, rtol=0, atol=1e-5)
    assert result.delta_v_V == pytest.approx(np.ptp(reference), abs=2e-5)
    default = potential_spread(numbers, positions, cell, 0.5, parameters=result.parameters)  # with the self term
    np.testing.assert_allclose(default.potential_V, reference + KE * charges * math.sqrt(2 / math.pi) / 0.5, rtol=0, atol=1e-5)
    inter = potential_spread(numbers, positions, cell, 0.5, self_term=False, intermolecular=True, parameters=result.parameters)
    by_ids = gaussian_charge_potential(positions, charges, cell, 0.5, molecule_ids=np.arange(len(numbers)) // 3, parameters=result.parameters)
    np.testing.assert_allclose(inter.potential_V, by_ids, rtol=0, atol=1e-12)
    assert inter.delta_v_V < result.delta_v_V


def test_planar_average_by_direct_integration():
    """A slab of random charges in 10 × 10 × 30 Å: φ̄ from integrating the planar-averaged
    density twice on a fine grid (periodic: the field averages to zero)."""
    cell = np.diag([10.0, 10.0, 30.0])
    rng = np.random.default_rng(8)
    positions = np.column_stack([rng.uniform(0, 10, 40), rng.uniform(0, 10, 40), rng.uniform(10, 20, 40)])
    charges = rng.normal(size=40)
    charges -= charges.mean()
    heights, profile = planar_average_potential(positions, charges, cell, 0.6, spacing_A=0.25)
    z = np.linspace(0.0, 30.0, 30001)
    rho = np.zeros_like(z)  # e/Å³
    for zj, qj in zip(positions[:, 2], charges):
        for n in (-1, 0, 1):
            rho += qj * np.exp(-((z - zj - 30 * n) ** 2) / (2 * 0.36)) / math.sqrt(2 * math.pi * 0.36) / 100.0
    field = 4 * math.pi * KE * cumulative_trapezoid(rho, z, initial=0)  # dE/dz = ρ/ε0
    field -= np.trapezoid(field, z) / 30.0
    phi = -cumulative_trapezoid(field, z, initial=0)
    phi -= np.trapezoid(phi, z) / 30.0
    np.testing.assert_allclose(profile, np.interp(heights, z, phi), rtol=0, atol=1e-6)
    assert np.ptp(profile) > 1.0


def test_planar_average_matches_the_3d_potential_in_planes():
    """The 3D potential at zero-charge probes on a 24 × 24 grid of a plane, averaged, is φ̄ there
    (triclinic cell, heights along the normal of the a–b plane)."""
    cell = np.array([[10.0, 0.0, 0.0], [4.0, 9.0, 0.0], [1.0, -2.0, 24.0]])
    positions, charges = random_cell(cell, n=30, seed=9)
    heights, profile = planar_average_potential(positions, charges, cell, 0.6, spacing_A=24.0 / 8)
    grid = (np.array(list(itertools.product(range(24), range(24)))) + 0.5) / 24
    probes = [np.column_stack([grid, np.full(len(grid), h / 24.0)]) @ cell for h in heights[[1, 4, 6]]]
    all_positions = np.concatenate([positions, *probes])
    all_charges = np.concatenate([charges, np.zeros(len(all_positions) - len(charges))])
    phi = gaussian_charge_potential(all_positions, all_charges, cell, 0.6, tolerance_V=1e-7)
    averages = phi[len(charges) :].reshape(3, -1).mean(axis=1)
    np.testing.assert_allclose(averages, profile[[1, 4, 6]], rtol=0, atol=1e-6)


def test_bad_input():
    positions, charges = random_cell(ORTHO)
    with pytest.raises(DftpostError, match="sigma"):
        gaussian_charge_potential(positions, charges, ORTHO, 0.0, self_term=True)
    with pytest.raises(DftpostError, match="cell"):
        gaussian_charge_potential(positions, charges, np.diag([9.0, 10.0, 0.0]), 0.5)
    with pytest.raises(DftpostError, match="method"):
        gaussian_charge_potential(positions, charges, ORTHO, 0.5, method="p3m")
    with pytest.raises(DftpostError, match="molecule_ids"):
        gaussian_charge_potential(positions, charges, ORTHO, 0.5, molecule_ids=[0, 1])
    with pytest.raises(DftpostError, match="sigma > 0"):
        planar_average_potential(positions, charges, ORTHO, 0.0)
    pme = choose_parameters(ORTHO, charges, 0.5, 1e-4, "pme")
    with pytest.raises(DftpostError, match="mesh"):
        gaussian_charge_potential(positions, charges, ORTHO, 0.5, parameters=replace(pme, mesh=None))
    ewald = choose_parameters(ORTHO, charges, 0.5, 1e-4, "ewald")
    with pytest.raises(DftpostError, match="k cut-off"):
        gaussian_charge_potential(positions, charges, ORTHO, 0.5, parameters=replace(ewald, k_cut_per_A=None))
