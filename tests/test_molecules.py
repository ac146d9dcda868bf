"""The H → O assignment carried over frames (BondTracker) against a fresh search of every frame."""

from __future__ import annotations

import numpy as np
import pytest

from dftpost.analysis.molecules import BondTracker, assign_hydrogens, checked_cell

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


def tracked(numbers, frames, cells, pbc, batch: int = 16):
    tracker = BondTracker()
    oxygen, hydrogen = np.flatnonzero(numbers == 8), np.flatnonzero(numbers == 1)
    full = np.array([checked_cell(c, np.array(pbc)) for c in cells])
    owners, vectors = [], []
    for start in range(0, len(frames), batch):
        part = slice(start, start + batch)
        owner, h_to_o = tracker.assign(frames[part][:, oxygen], frames[part][:, hydrogen], full[part], pbc)
        owners.append(owner)
        vectors.append(h_to_o)
    return tracker, np.concatenate(owners), np.concatenate(vectors)


def assert_equals_fresh_searches(numbers, frames, cell, pbc, owner, h_to_o):
    """Owners and H → O vectors equal those of :func:`assign_hydrogens` on every frame."""
    for f, positions in enumerate(frames):
        fresh = assign_hydrogens(numbers, positions, cell, pbc)
        np.testing.assert_array_equal(owner[f], fresh.owner, err_msg=f"frame {f}")
        bonded = fresh.owner >= 0
        expected = fresh.o_positions_A[fresh.owner[bonded]] - fresh.h_positions_A[bonded]
        np.testing.assert_allclose(h_to_o[f][bonded], expected, atol=1e-9, err_msg=f"frame {f}")
        np.testing.assert_array_equal(h_to_o[f][~bonded], 0.0, err_msg=f"frame {f}")


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
    tracker, owner, h_to_o = tracked(numbers, frames, cells, pbc)
    assert_equals_fresh_searches(numbers, frames, cell, pbc, owner, h_to_o)
    changed = sum(not np.array_equal(owner[f], owner[f - 1]) for f in range(1, len(frames)))
    assert changed > 10  # bonds did break and re-form along the walk
    assert tracker.full_searches < len(frames) / 2  # and most frames were not searched afresh


@pytest.mark.parametrize("cell", [np.diag([11.0, 11.0, 11.0]), HEXAGONAL], ids=["orthorhombic", "hexagonal"])
def test_frames_wrapped_atom_by_atom_every_frame_stay_exact(cell):
    numbers, frames = random_walk(120, cell, (True, True, True), seed=7)
    frac = frames @ np.linalg.inv(cell)
    frames = (frac - np.floor(frac)) @ cell  # every atom crossing a face jumps to the other side
    tracker, owner, h_to_o = tracked(numbers, frames, np.repeat(cell[None], len(frames), axis=0), (True, True, True))
    assert_equals_fresh_searches(numbers, frames, cell, (True, True, True), owner, h_to_o)
    assert tracker.full_searches < len(frames) / 2


@pytest.mark.parametrize("mover, speed_A", [(4, 0.25), (3, 0.2), (5, 0.25)], ids=["far-O", "fourth-O", "H"])
def test_atoms_from_beyond_the_followed_o_are_caught(mover, speed_A):
    """One H, its O at 1.05 Å, three more O at 2, 2.5 and 3 Å (the default m = 3 follows the
    nearest three) and one at 4.5 Å, beyond the reference search radius (4.2 Å). The O at 4.5 Å
    or at 3 Å, or the H, moves straight in until the H changes hands: nothing followed sees it
    coming, only the bound D_j = |Δ_H| + max |Δ_O| against ρ_j (3 Å) and R_j (4.2 Å) does.
    Without either term, or with R_j in rule 1, some frame keeps the old answer."""
    cell, pbc = np.diag([20.0, 20.0, 20.0]), (True, True, True)
    h = np.array([10.0, 10.0, 10.0])
    o = h + np.array([[-1.05, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.5], [0.0, -3.0, 0.0], [4.5, 0.0, 0.0]])
    numbers = np.array([8, 8, 8, 8, 8, 1])
    direction = {4: [-1.0, 0.0, 0.0], 3: [0.0, 1.0, 0.0], 5: [1.0, 0.0, 0.0]}[mover]
    frames = np.repeat(np.vstack([o, h])[None], 15, axis=0)
    frames[:, mover] += speed_A * np.arange(15)[:, None] * np.array(direction)
    tracker, owner, h_to_o = tracked(numbers, frames, np.repeat(cell[None], len(frames), axis=0), pbc)
    assert_equals_fresh_searches(numbers, frames, cell, pbc, owner, h_to_o)
    assert owner[0, 0] == 0 and owner[-1, 0] == min(mover, 4)  # the H did change hands
    assert tracker.full_searches < len(frames) / 2


def test_uncorrelated_frames_and_changing_cells_stay_exact():
    cell = np.diag([11.0, 11.0, 11.0])
    numbers, frames = random_walk(64, cell, (True, True, True), seed=5, step_A=0.6)  # ~1 Å per frame
    cells = np.array([cell * (1 + 0.01 * np.sin(f)) for f in range(len(frames))])  # NPT-like
    _, owner, _ = tracked(numbers, frames, cells, (True, True, True))
    for f, positions in enumerate(frames):
        np.testing.assert_array_equal(owner[f], assign_hydrogens(numbers, positions, cells[f]).owner, err_msg=f"frame {f}")
