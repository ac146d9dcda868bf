"""Molecules and the fixed-charge dipole against a brute-force loop, and their invariances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from dftpost.analysis.dipole import ZGrid, fixed_charge_dipole
from dftpost.analysis.molecules import assign_hydrogens
from dftpost.errors import DftpostError


def water_box(n: int, cell: np.ndarray, seed: int) -> Atoms:
    """n randomly oriented water molecules at random places (overlaps do not matter here)."""
    rng = np.random.default_rng(seed)
    atoms = Atoms(cell=cell, pbc=True)
    for _ in range(n):
        w = molecule("H2O")
        w.rotate(rng.uniform(0, 360), rng.normal(size=3))
        w.translate(rng.random(3) @ cell)
        atoms += w
    return atoms


def brute_force_dipole(atoms: Atoms, q_o: float, r_oh: float = 1.2) -> float:
    """Every H against every O and 27 images; μ = Σ_O [q_O z_O + q_H Σ z_H(unwrapped)] / A."""
    cell = atoms.cell[:]
    images = [np.array(s) @ cell for s in itertools.product((-1, 0, 1), repeat=3)]
    pos, sym = atoms.positions, atoms.get_chemical_symbols()
    total = 0.0
    for i in (k for k, s in enumerate(sym) if s == "O"):
        total += q_o * pos[i, 2]
    for j in (k for k, s in enumerate(sym) if s == "H"):
        best = min(
            ((np.linalg.norm(pos[j] + img - pos[i]), pos[j, 2] + img[2]) for i, s in enumerate(sym) if s == "O" for img in images),
            key=lambda t: t[0],
        )
        if best[0] < r_oh:
            total += -q_o / 2 * best[1]
    area = np.linalg.norm(np.cross(cell[0], cell[1]))
    return total / area


@pytest.mark.parametrize(
    "cell",
    [np.diag([9.0, 8.0, 25.0]), np.array([[9.0, 0, 0], [4.5, 7.8, 0], [0, 0, 25.0]])],
    ids=["orthorhombic", "hexagonal"],
)
def test_total_dipole_equals_brute_force(cell):
    atoms = water_box(12, cell, seed=3)
    atoms.wrap()
    result = fixed_charge_dipole(atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc, q_o=-0.5562)
    assert result.total_e_per_A == pytest.approx(brute_force_dipole(atoms, -0.5562), abs=1e-12)
    assert result.total_e_per_A == pytest.approx(-0.5562 * result.charge_lever_per_A)


def test_translation_and_rewrapping_do_not_change_the_dipole():
    atoms = water_box(20, np.diag([10.0, 10.0, 30.0]), seed=7)
    reference = fixed_charge_dipole(atoms.numbers, atoms.positions, atoms.cell[:]).total_e_per_A
    moved = atoms.copy()
    moved.translate([3.3, -7.1, 12.9])
    for positions in (moved.positions, moved.get_positions(wrap=True), moved.positions + [40.0, -20.0, 60.0]):
        value = fixed_charge_dipole(moved.numbers, positions, moved.cell[:]).total_e_per_A
        assert value == pytest.approx(reference, abs=1e-12)


def test_slab_not_crossing_the_boundary_equals_the_plain_charge_sum():
    """ml-peg's formula for a whole slab: Σ q z over O and H divided by the area."""
    atoms = water_box(10, np.diag([12.0, 12.0, 40.0]), seed=11)
    atoms.positions[:, 2] = atoms.positions[:, 2] % 10 + 15  # a slab at z = 15–26 Å
    for w in range(10):  # keep each molecule whole: H next to its O
        o = atoms.positions[3 * w]
        atoms.positions[3 * w + 1 : 3 * w + 3] = o + molecule("H2O").positions[1:] - molecule("H2O").positions[0]
    charges = np.where(atoms.numbers == 8, -0.5562, 0.2781)
    plain = (charges * atoms.positions[:, 2]).sum() / 144.0
    assert fixed_charge_dipole(atoms.numbers, atoms.positions, atoms.cell[:]).total_e_per_A == pytest.approx(plain, abs=1e-12)


def test_census_counts_hydroxide_and_hydronium():
    atoms = Atoms(
        "OHOH2OH3H",
        positions=[[0, 0, 0], [0.97, 0, 0], [5, 5, 5], [5.97, 5, 5], [5, 5.97, 5], [2, 8, 2], [2.97, 8, 2], [2, 8.97, 2], [2, 8, 2.97], [8, 2, 8]],
        cell=[10, 10, 10],
        pbc=True,
    )
    molecules = assign_hydrogens(atoms.numbers, atoms.positions, atoms.cell[:])
    assert molecules.census() == {"O": 0, "OH": 1, "H2O": 1, "H3O": 1, "free_H": 1}
    assert fixed_charge_dipole(atoms.numbers, atoms.positions, atoms.cell[:]).dissociated


def test_no_water_is_an_error():
    with pytest.raises(DftpostError, match="no water"):
        assign_hydrogens(np.array([78, 78]), np.zeros((2, 3)), np.eye(3) * 5)


def test_tiny_negative_coordinates_do_not_break_the_periodic_search():
    """-1e-17 wraps to exactly the box length in floating point; binary trajectories have such."""
    atoms = Atoms("OH2", positions=[[0.0, 0.0, 1.0], [-1e-17, 0.96, 1.0], [0.93, -0.24, 1.0]], cell=[5, 5, 5], pbc=True)
    molecules = assign_hydrogens(atoms.numbers, atoms.positions, atoms.cell[:])
    assert molecules.census()["H2O"] == 1


def test_partly_periodic_slab_without_a_z_vector():
    atoms = water_box(10, np.diag([9.0, 9.0, 20.0]), seed=5)
    atoms.wrap()
    reference = brute_force_dipole(atoms, -0.5562)  # z images are far: same as no z periodicity
    cell = atoms.cell[:].copy()
    cell[2] = 0.0
    result = fixed_charge_dipole(atoms.numbers, atoms.positions, cell, (True, True, False), q_o=-0.5562)
    assert result.total_e_per_A == pytest.approx(reference, abs=1e-12)


def test_cell_too_thin_for_the_bond_cut_off():
    with pytest.raises(DftpostError, match="thinner than"):
        assign_hydrogens(np.array([8, 1]), np.array([[0, 0, 0], [0.9, 0, 0]]), np.array([[2.0, 0, 0], [1.0, 5.0, 0], [0, 0, 5.0]]))


@pytest.mark.parametrize("edges", [np.arange(0, 60.1, 0.1), np.arange(-3, 17.3, 0.37), np.linspace(0, 1, 11), np.array([0, 1, 3, 7.0])])
def test_bins_equal_a_binary_search_also_at_the_edges(edges):
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.uniform(edges[0] - 1, edges[-1] + 1, 100_000), edges,
                             np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)])
    expected = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, edges.size - 2)
    np.testing.assert_array_equal(ZGrid(edges).bins(values), expected)
