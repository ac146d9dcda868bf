"""The H → O assignment carried over frames (BondTracker) against a fresh search of every frame."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dftpost.analysis.molecules import BondTracker, as_columns, assign_hydrogens, checked_cell

HEXAGONAL = np.array([[12.0, 0.0, 0.0], [6.0, 10.392, 0.0], [0.0, 0.0, 30.0]])


def random_walk(n_frames: int, cell: np.ndarray, pbc, seed: int, step_A: float = 0.05, jump_every: int = 40):
    """Frames of 40 water molecules: every atom walks by ``step_A`` (Å, per component) per frame,
    so bonds break and re-form (free H, OH, H3O appear); every ``jump_every`` frames the whole
    frame is moved by a random vector and re-wrapped atom by atom along the periodic directions,
    or left unwrapped far outside the cell. Atoms ordered O, H, H per molecule."""
    rng = np.random.default_rng(seed)
    n = 40
    o = rng.random((n, 3)) @ np.where(np.array(pbc)[:, None], cell, 0.0) + np.where(pbc, 0.0, 12.0)
    bond = rng.normal(size=(n, 2, 3))
    h = o[:, None, :] + 0.97 * bond / np.linalg.norm(bond, axis=2, keepdims=True)
    positions = np.concatenate([o[:, None, :], h], axis=1).reshape(-1, 3)
    numbers = np.tile([8, 1, 1], n)
    inverse = np.linalg.inv(checked_cell(cell, np.array(pbc)))
    frames = []
    for f in range(n_frames):
        positions = positions + rng.normal(scale=step_A, size=positions.shape)
        shown = positions
        if f % jump_every == jump_every - 1:
            shown = positions + rng.uniform(-40, 40, 3)
            if f % (2 * jump_every) == 2 * jump_every - 1:  # wrapped atom by atom
                frac = shown @ inverse
                frac[:, pbc] -= np.floor(frac[:, pbc])
                shown = frac @ checked_cell(cell, np.array(pbc))
        frames.append(shown)
    return numbers, np.array(frames)


def tracked(numbers, frames, cells, pbc, batch: int = 16, **options):
    tracker = BondTracker(**options)
    oxygen, hydrogen = np.flatnonzero(numbers == 8), np.flatnonzero(numbers == 1)
    full = np.array([checked_cell(c, np.array(pbc)) for c in cells])
    columns = as_columns(frames, np.concatenate([oxygen, hydrogen]))
    owners = [tracker.assign(columns[part], oxygen.size, full[part], pbc)
              for part in (slice(start, start + batch) for start in range(0, len(frames), batch))]
    return tracker, np.concatenate(owners)


def assert_equals_fresh_searches(numbers, frames, cell, pbc, owner):
    """Owners equal those of :func:`assign_hydrogens` on every frame."""
    for f, positions in enumerate(frames):
        np.testing.assert_array_equal(owner[f], assign_hydrogens(numbers, positions, cell, pbc).owner, err_msg=f"frame {f}")


@pytest.mark.parametrize(
    "cell, pbc",
    [
        (np.diag([11.0, 11.0, 11.0]), (True, True, True)),
        (HEXAGONAL, (True, True, True)),
        (np.array([[11.0, 0.0, 0.0], [0.0, 11.0, 0.0], [0.0, 0.0, 0.0]]), (True, True, False)),
    ],
    ids=["orthorhombic", "hexagonal", "slab-without-z-vector"],
)
def test_tracked_assignment_equals_a_fresh_search_of_every_frame(cell, pbc):
    numbers, frames = random_walk(240, cell, pbc, seed=3)
    cells = np.repeat(cell[None], len(frames), axis=0)
    tracker, owner = tracked(numbers, frames, cells, pbc)
    assert_equals_fresh_searches(numbers, frames, cell, pbc, owner)
    changed = sum(not np.array_equal(owner[f], owner[f - 1]) for f in range(1, len(frames)))
    assert changed > 10  # bonds did break and re-form along the walk
    assert tracker.full_searches < len(frames) / 2  # and most frames were not searched afresh


@pytest.mark.parametrize("cell", [np.diag([11.0, 11.0, 11.0]), HEXAGONAL], ids=["orthorhombic", "hexagonal"])
def test_frames_wrapped_atom_by_atom_every_frame_stay_exact(cell):
    numbers, frames = random_walk(120, cell, (True, True, True), seed=7)
    frac = frames @ np.linalg.inv(cell)
    frames = (frac - np.floor(frac)) @ cell  # every atom crossing a face jumps to the other side
    tracker, owner = tracked(numbers, frames, np.repeat(cell[None], len(frames), axis=0), (True, True, True))
    assert_equals_fresh_searches(numbers, frames, cell, (True, True, True), owner)
    assert tracker.full_searches < len(frames) / 2


@pytest.mark.parametrize(
    "h_from_o, mover, speed_A",
    [(1.0, 1, 0.5), (3.0, 1, 0.5), (1.0, 2, 0.2), (1.0, 3, 0.15)],
    ids=["unlisted-O-takes-a-bonded-H", "unlisted-O-takes-a-free-H", "listed-O-takes-the-H", "H-moves-to-a-listed-O"],
)
def test_atoms_from_beyond_what_is_followed_are_caught(h_from_o, mover, speed_A):
    """O 0 holds (or, 3 Å away, leaves free) the H; O 1 starts 9 Å from the H, beyond the
    reference radius (6 Å), and O 2 2.5 Å from O 0; eight more O stay 17 Å away. O 1 or O 2 moves straight at the H, or the
    H moves to O 2, until the H changes hands: O 1 is not followed, only the bounds
    ρ_i − |Δ_i| − max |Δ_O| (bonded H) and d_j − |Δ_j| − max |Δ_O| (free H) see it coming.
    Without the max |Δ_O| term some frame keeps the old answer. (The mover stops 0.9 Å from the
    H, or the H 0.9 Å from O 2.)"""
    cell, pbc = np.diag([30.0, 30.0, 30.0]), (True, True, True)
    h = np.array([15.0, 15.0, 15.0])
    o = h + np.array([[-h_from_o, 0.0, 0.0], [9.0, 0.0, 0.0], [-h_from_o, 2.5, 0.0]])
    far = h + 10.0 * np.array(list(itertools.product((-1.0, 1.0), repeat=3)))  # still: the common translation stays small
    o = np.vstack([o, far])
    numbers = np.array([8] * len(o) + [1])
    target = {1: o[1], 2: o[2], 3: o[2]}[mover]
    direction = (h - target) / np.linalg.norm(h - target) * (-1 if mover == 3 else 1)
    travel = np.minimum(speed_A * np.arange(40), np.linalg.norm(h - target) - 0.9)  # it stops 0.9 Å from the H
    frames = np.repeat(np.vstack([o, h])[None], 40, axis=0)
    frames[:, mover if mover < 3 else -1] += travel[:, None] * direction  # (3: the H)
    tracker, owner = tracked(numbers, frames, np.repeat(cell[None], len(frames), axis=0), pbc)
    assert_equals_fresh_searches(numbers, frames, cell, pbc, owner)
    assert owner[0, 0] == (0 if h_from_o < 1.2 else -1) and owner[-1, 0] == {1: 1, 2: 2, 3: 2}[mover]  # changed hands
    assert tracker.full_searches < len(frames) / 4


@pytest.mark.parametrize("m, radius_A", [(1, 3.0), (2, 2.5), (6, 6.0)])
def test_weak_references_stay_exact(m, radius_A):
    """Few O listed, within a short radius: the bounds of O not followed decide most H."""
    cell = np.diag([11.0, 11.0, 11.0])
    numbers, frames = random_walk(160, cell, (True, True, True), seed=11)
    _, owner = tracked(numbers, frames, np.repeat(cell[None], len(frames), axis=0), (True, True, True), m=m, radius_A=radius_A)
    assert_equals_fresh_searches(numbers, frames, cell, (True, True, True), owner)


def test_two_o_on_the_same_spot():
    cell = np.diag([10.0, 10.0, 10.0])
    frames = np.repeat(np.array([[5.0, 5.0, 5.0], [5.0, 5.0, 5.0], [6.0, 5.0, 5.0], [2.0, 2.0, 2.0]])[None], 6, axis=0)
    frames[:, 2, 1] += 0.05 * np.arange(6)
    _, owner = tracked(np.array([8, 8, 1, 8]), frames, np.repeat(cell[None], 6, axis=0), (True, True, True))
    assert np.isin(owner[:, 0], [0, 1]).all()


@pytest.mark.parametrize("cell", [np.diag([11.0, 11.0, 11.0]), HEXAGONAL], ids=["orthorhombic", "hexagonal"])
def test_a_cell_changing_every_frame_is_followed_without_new_searches(cell):
    """NPT-like: the cell breathes (±3 %) and shears a little every frame, the atoms with it;
    frames are mapped into the reference cell and the bounds scaled by the strain."""
    numbers, frames = random_walk(160, cell, (True, True, False), seed=13, step_A=0.03)
    cells, moved = [], []
    for f, positions in enumerate(frames):
        strain = np.eye(3) + np.array([[0.03 * np.sin(f / 7), 0.01 * np.sin(f / 5), 0.0],
                                       [0.0, -0.02 * np.sin(f / 9), 0.0], [0.0, 0.0, 0.0]])
        cells.append(cell @ strain)
        moved.append(positions @ strain)
    frames, cells = np.array(moved), np.array(cells)
    tracker, owner = tracked(numbers, frames, cells, (True, True, False))
    for f, positions in enumerate(frames):
        np.testing.assert_array_equal(owner[f], assign_hydrogens(numbers, positions, cells[f], (True, True, False)).owner,
                                      err_msg=f"frame {f}")
    assert tracker.full_searches < len(frames) / 4


def test_a_shrunk_cell_does_not_certify_what_only_the_reference_cell_would():
    """The cell shrinks by 10 % along x after the first frame, O with it; the H does not follow:
    1.1 Å from its O, 1.06 Å from the next O (2.39 Å away in the reference cell, 2.15 Å now).
    The O–O bound must shrink with the cell, or the H stays with the wrong O."""
    cell = np.diag([20.0, 20.0, 20.0])
    first = np.array([[10.0, 10.0, 10.0], [12.39, 10.0, 10.0], [11.0, 10.0, 10.0]])
    frames, cells = [first, first], [cell, cell]  # (the second frame becomes the reference)
    for _ in range(4):
        shrunk = first * [0.9, 1.0, 1.0]
        shrunk[2, 0] = shrunk[0, 0] + 1.1
        frames.append(shrunk)
        cells.append(cell * [[0.9], [1.0], [1.0]])
    frames, cells = np.array(frames), np.array(cells)
    _, owner = tracked(np.array([8, 8, 1]), frames, cells, (True, True, True))
    assert owner[:, 0].tolist() == [0, 0, 1, 1, 1, 1]


def test_a_shrunk_cell_brings_an_unlisted_o_nearer():
    """Only each O's nearest other O is listed (m = 1): O 1, 2 Å from O 0; O 2, 2.5 Å away along
    x, is not. The cell shrinks by 20 % along x; the H stays 1.05 Å from O 0 and is then 0.95 Å
    from O 2. The bound on O not listed must shrink with the cell too."""
    cell = np.diag([20.0, 20.0, 20.0])
    first = np.array([[10.0, 10.0, 10.0], [10.0, 12.0, 10.0], [12.5, 10.0, 10.0], [11.0, 10.0, 10.0]])
    shrunk = first * [0.8, 1.0, 1.0]
    shrunk[3, 0] = shrunk[0, 0] + 1.05
    frames = np.array([first, first, shrunk, shrunk, shrunk])
    cells = np.array([cell, cell] + [cell * [[0.8], [1.0], [1.0]]] * 3)
    _, owner = tracked(np.array([8, 8, 8, 1]), frames, cells, (True, True, True), m=1)
    assert owner[:, 0].tolist() == [0, 0, 2, 2, 2]


def test_a_shrunk_cell_binds_a_free_h():
    """A free H 1.4 Å from its nearest O; the cell shrinks by 20 % along x, atoms with it, so
    the H is then 1.12 Å from the O: the bound that kept it free must shrink with the cell."""
    cell = np.diag([20.0, 20.0, 20.0])
    first = np.array([[10.0, 10.0, 10.0], [10.0, 13.0, 10.0], [11.4, 10.0, 10.0]])
    frames = np.array([first, first] + [first * [0.8, 1.0, 1.0]] * 3)
    cells = np.array([cell, cell] + [cell * [[0.8], [1.0], [1.0]]] * 3)
    _, owner = tracked(np.array([8, 8, 1]), frames, cells, (True, True, True))
    assert owner[:, 0].tolist() == [-1, -1, 0, 0, 0]


def test_uncorrelated_frames_and_changing_cells_stay_exact():
    cell = np.diag([11.0, 11.0, 11.0])
    numbers, frames = random_walk(64, cell, (True, True, True), seed=5, step_A=0.6)  # ~1 Å per frame
    cells = np.array([cell * (1 + 0.01 * np.sin(f)) for f in range(len(frames))])  # NPT-like
    _, owner = tracked(numbers, frames, cells, (True, True, True))
    for f, positions in enumerate(frames):
        np.testing.assert_array_equal(owner[f], assign_hydrogens(numbers, positions, cells[f]).owner, err_msg=f"frame {f}")
