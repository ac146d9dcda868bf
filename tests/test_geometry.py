"""dftpost.analysis.geometry: cells, areas, widths, minimum images and the widest gap, against
independent constructions (ASE's cell, brute force over images, a dense scan of the circle)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.cell import Cell
from conftest import examples
from hypothesis import given
from hypothesis import strategies as st

from dftpost.analysis.geometry import (
    area_normal_to,
    cell_widths,
    check_molecule_cell,
    check_periodic_cell,
    check_slab_cell,
    full_rank_cell,
    minimum_image_distance,
    repeat_distance_z,
    widest_gap,
    widest_gaps,
)
from dftpost.errors import DftpostError

TILTED = np.array([[10.0, 0.0, 0.0], [3.0, 9.0, 0.0], [1.0, -2.0, 20.0]])


def test_areas_widths_and_period_of_a_tilted_cell():
    cell = Cell(TILTED)
    # ASE: the face-to-face widths are the reciprocal vectors' inverse lengths
    np.testing.assert_allclose(cell_widths(TILTED), 1.0 / np.linalg.norm(cell.reciprocal(), axis=1), rtol=1e-12)
    assert area_normal_to(TILTED, 2) == pytest.approx(90.0)  # |a × b| = 10 · 9
    assert repeat_distance_z(TILTED) == pytest.approx(20.0)  # c_z, whatever the tilt of c
    assert cell_widths(TILTED)[2] == pytest.approx(20.0)


def test_cell_checks_say_what_is_wrong():
    check_slab_cell(TILTED)
    with pytest.raises(DftpostError, match="must lie in the xy plane"):
        check_slab_cell(np.array([[10.0, 0, 0.5], [0, 10.0, 0], [0, 0, 20.0]]))
    with pytest.raises(DftpostError, match="no z vector"):
        check_slab_cell(np.diag([10.0, 10.0, 0.0]))
    assert check_periodic_cell(TILTED.tolist(), "x").dtype == float
    with pytest.raises(DftpostError, match="fewer than three vectors .*: the sum needs them"):
        check_periodic_cell(np.diag([10.0, 10.0, 0.0]), "the sum needs them")


@examples(50)
@given(st.lists(st.tuples(*[st.floats(-40, 40)] * 3), min_size=1, max_size=8))
def test_minimum_image_is_the_nearest_of_all_images(deltas):
    """Against brute force over images −3…3 along each vector, for vectors that fit in half the
    smallest width (the function's promise)."""
    delta = np.array(deltas)
    frac = delta @ np.linalg.inv(TILTED)
    delta = (frac - np.round(frac)) @ TILTED * (0.45 * cell_widths(TILTED).min() / 30.0)  # short vectors
    shifts = np.array([(i, j, k) for i in range(-3, 4) for j in range(-3, 4) for k in range(-3, 4)]) @ TILTED
    brute = np.linalg.norm(delta[:, None, :] + shifts[None], axis=2).min(axis=1)
    np.testing.assert_allclose(minimum_image_distance(delta, TILTED), brute, rtol=1e-12, atol=1e-12)


@examples(100)
@given(st.lists(st.floats(-100, 100), min_size=1, max_size=20), st.floats(5, 50))
def test_widest_gap_is_the_largest_empty_arc(heights, length):
    """The gap found is empty, as wide as said, and no point of a dense scan of the circle lies
    farther from every height than half of it."""
    h = np.array(heights)
    start, width = widest_gap(h, length)
    wrapped = np.mod(h, length)
    assert 0 <= start <= length and 0 < width <= length + 1e-9
    inside = np.mod(wrapped - start, length)
    assert np.all((inside <= 1e-9) | (inside >= width - 1e-9))  # no height strictly inside
    scan = np.linspace(0, length, 2001)
    distance = np.abs(np.mod(scan[:, None] - wrapped[None, :] + length / 2, length) - length / 2).min(axis=1)
    assert distance.max() <= width / 2 + 1e-6


def test_rows_are_the_single_gaps():
    rng = np.random.default_rng(1)
    heights, lengths = rng.uniform(-30, 30, (5, 7)), rng.uniform(10, 40, 5)
    starts, widths = widest_gaps(heights, lengths)
    for row, length, s, w in zip(heights, lengths, starts, widths):
        assert (s, w) == pytest.approx(widest_gap(row, length))


def test_a_slab_cell_without_c_is_made_full_rank_and_thin_cells_are_refused():
    slab = np.array([[10.0, 0, 0], [2.0, 8.0, 0], [0, 0, 0]])
    full = check_molecule_cell(slab, np.array([True, True, False]), 2.4, "2 r_OH")
    assert np.array_equal(full[:2], slab[:2]) and np.allclose(full[2], [0, 0, 1])  # unit, normal to a and b
    assert np.array_equal(full_rank_cell(np.zeros((3, 3))), np.eye(3))
    with pytest.raises(DftpostError, match="periodic along a direction without a cell vector"):
        check_molecule_cell(slab, np.array([True, True, True]), 2.4, "2 r_OH")
    with pytest.raises(DftpostError, match="thinner than 2 r_OH along a periodic direction"):
        check_molecule_cell(np.diag([10.0, 2.0, 10.0]), np.array([True, True, True]), 2.4, "2 r_OH")
