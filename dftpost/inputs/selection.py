"""Which frames of an MLIP trajectory go to DFT: by index, by stride, or by total dipole.

The total dipole is the fixed-charge μ_z of :func:`~dftpost.analysis.dipole.fixed_charge_dipole`
(e/Å, q_H = −q_O/2), the number ``dftpost gap`` computes for the generated run. Frames are
streamed with :func:`~dftpost.io.trajectory.iter_frames` (never the whole file in memory): a
selection by dipole reads the file twice, once for every frame's μ_z and once for the chosen
frames; a selection by index or stride reads it once.

Selection specs (``--select``), frame numbers counting from 0 in the file:

``all``                   every frame (of ``--index``)
``indices:0,5,9``         these frames (negative numbers count from the end)
``stride:N``              every N-th frame, from the first
``dipole-extremes:N``     the N most negative and the N most positive μ_z
``dipole-quantiles:K``    the frames at the quantiles (k + ½)/K, k = 0 … K−1, of μ_z: the
                          medians of K groups of equal size
``dipole-bins:K[:M]``     K bins of equal width between the lowest and highest μ_z; from each
                          non-empty bin the M (default 1) frames nearest its centre
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from ..analysis.dipole import DEFAULT_Q_O, FixedChargeDipole, fixed_charge_dipole
from ..analysis.molecules import DEFAULT_R_OH
from ..errors import DftpostError
from ..io.trajectory import iter_frames, parse_index

#: The kinds of selection and the argument each takes (for messages and the CLI help).
SELECTION_KINDS = {
    "all": "",
    "indices": "I,J,...",
    "stride": "N",
    "dipole-extremes": "N",
    "dipole-quantiles": "K",
    "dipole-bins": "K[:M]",
}


@dataclass(frozen=True)
class Selection:
    """A parsed ``--select`` spec: ``kind`` (a key of :data:`SELECTION_KINDS`) and its integer
    arguments; ``text`` is the spec as given."""

    kind: str
    values: tuple[int, ...] = ()
    text: str = "all"

    @property
    def by_dipole(self) -> bool:
        """True when the choice needs the dipole of every frame (two passes over the file)."""
        return self.kind.startswith("dipole-")


def parse_selection(text: str | None) -> Selection:
    """``"stride:100"`` → :class:`Selection`. Raises :class:`DftpostError` (no path) for a spec
    that is not one of :data:`SELECTION_KINDS` with valid arguments."""
    text = "all" if text is None else text.strip()
    kind, _, argument = text.partition(":")
    kind = kind.strip().lower()
    usage = "--select takes " + ", ".join(f"{k}:{a}" if a else k for k, a in SELECTION_KINDS.items())
    if kind not in SELECTION_KINDS:
        raise DftpostError(None, f"unknown selection {text!r}: {usage}")
    if kind == "all":
        if argument.strip():
            raise DftpostError(None, f"'all' takes no argument, got {text!r}")
        return Selection("all", (), "all")
    separator = "," if kind == "indices" else ":"
    try:
        values = tuple(int(v) for v in argument.split(separator))
    except ValueError:
        raise DftpostError(None, f"{text!r}: {kind} takes {SELECTION_KINDS[kind]} (integers)") from None
    if kind == "indices":
        if len(set(values)) != len(values):
            raise DftpostError(None, f"{text!r}: a frame is listed twice")
    elif kind == "dipole-bins":
        if len(values) not in (1, 2) or min(values) < 1:
            raise DftpostError(None, f"{text!r}: dipole-bins takes K[:M], K bins and M frames per bin, both >= 1")
    elif len(values) != 1 or values[0] < 1:
        raise DftpostError(None, f"{text!r}: {kind} takes one integer >= 1")
    return Selection(kind, values, f"{kind}:{argument.strip()}")


@dataclass(frozen=True)
class Choice:
    """A frame chosen: its number in the file, its total dipole μ_z (e/Å) and why it was chosen."""

    number: int
    dipole_e_per_A: float
    reason: str


def choose(selection: Selection, numbers: np.ndarray, dipoles_e_per_A: np.ndarray | None) -> list[Choice]:
    """The frames a selection picks among frames ``numbers`` (in file order) with total dipoles
    ``dipoles_e_per_A`` (e/Å; needed for the dipole selections, else may be None).

    Returns the choices in increasing frame number. Raises :class:`DftpostError` (no path) when
    the frames cannot satisfy the selection (a listed frame absent, fewer frames than asked).
    """
    numbers = np.asarray(numbers, dtype=int)
    n = numbers.size
    dip = None if dipoles_e_per_A is None else np.asarray(dipoles_e_per_A, dtype=float)
    if n == 0:
        raise DftpostError(None, "no frames to choose from")

    def value(k: int) -> float:
        return float("nan") if dip is None else float(dip[k])

    kind, values = selection.kind, selection.values
    picked: dict[int, str] = {}
    if kind == "all":
        picked = {k: "all" for k in range(n)}
    elif kind == "indices":
        position = {int(f): k for k, f in enumerate(numbers)}
        for wanted in values:
            k = n + wanted if wanted < 0 else position.get(wanted, -1)
            if wanted < 0 and not 0 <= k < n:
                k = -1
            if k < 0:
                raise DftpostError(
                    None, f"frame {wanted} requested, but the frames read are {_span(numbers)} ({n} frames)"
                )
            picked[k] = f"index {wanted}"
    elif kind == "stride":
        picked = {k: f"stride {values[0]}" for k in range(0, n, values[0])}
    else:
        if dip is None:
            raise DftpostError(None, f"{selection.text} needs the dipole of every frame")
        order = np.lexsort((numbers, dip))  # by μ, ties by frame number: deterministic
        if kind == "dipole-extremes":
            want = values[0]
            negative = [k for k in order if dip[k] < 0]
            positive = [k for k in order[::-1] if dip[k] > 0]
            for sign, group in (("negative", negative), ("positive", positive)):
                if len(group) < want:
                    raise DftpostError(
                        None,
                        f"{selection.text}: only {len(group)} of the {n} frames have a {sign} μ_z "
                        f"({want} requested)",
                    )
                for rank, k in enumerate(group[:want], 1):
                    picked[int(k)] = f"most {sign} μ_z #{rank}"
        elif kind == "dipole-quantiles":
            want = values[0]
            if want > n:
                raise DftpostError(None, f"{selection.text}: {want} quantiles requested of {n} frames")
            for q in range(want):
                level = (q + 0.5) / want
                # rank floor(level·n): distinct for distinct levels since n/K >= 1
                k = int(order[min(n - 1, int(math.floor(level * n)))])
                picked[k] = f"quantile {level:.4g} of μ_z"
        elif kind == "dipole-bins":
            n_bins, per_bin = values[0], values[1] if len(values) > 1 else 1
            lo, hi = float(dip.min()), float(dip.max())
            width = (hi - lo) / n_bins if hi > lo else 1.0
            which = np.minimum(((dip - lo) / width).astype(int), n_bins - 1) if hi > lo else np.zeros(n, int)
            for b in range(n_bins):
                inside = np.flatnonzero(which == b)
                if inside.size == 0:
                    continue
                centre = lo + (b + 0.5) * width
                nearest = inside[np.lexsort((numbers[inside], np.abs(dip[inside] - centre)))][:per_bin]
                for k in nearest:
                    picked[int(k)] = f"bin {b + 1}/{n_bins}, μ_z {lo + b * width:+.5f} … {lo + (b + 1) * width:+.5f} e/Å"
        else:  # pragma: no cover - parse_selection admits only the kinds above
            raise DftpostError(None, f"unknown selection {kind}")
    return [Choice(int(numbers[k]), value(k), picked[k]) for k in sorted(picked)]


def _span(numbers: np.ndarray) -> str:
    if numbers.size == 1:
        return str(numbers[0])
    step = np.unique(np.diff(numbers))
    if step.size == 1:
        return f"{numbers[0]}–{numbers[-1]}" + (f" (every {step[0]})" if step[0] != 1 else "")
    return f"{numbers[0]}–{numbers[-1]}"


@dataclass(frozen=True, eq=False)
class SelectedFrame:
    """A frame chosen for DFT: its number in the file, the structure as read, its fixed-charge
    dipole and why it was chosen."""

    number: int
    atoms: Atoms
    dipole: FixedChargeDipole
    reason: str


@dataclass(frozen=True, eq=False)
class FrameSelection:
    """The frames chosen from a trajectory and how: ``n_read`` frames were considered (those
    ``index`` selects), ``frames`` the chosen ones in file order."""

    path: Path
    selection: Selection
    index: str
    q_o_e: float
    r_oh_A: float
    n_read: int
    frames: list[SelectedFrame] = field(default_factory=list)


def _dipole(path: Path, number: int, atoms: Atoms, q_o: float, r_oh: float) -> FixedChargeDipole:
    try:
        return fixed_charge_dipole(atoms.numbers, atoms.positions, atoms.cell[:], atoms.pbc, q_o, r_oh)
    except DftpostError as exc:
        raise DftpostError(path, f"frame {number}: {exc.problem}") from None


def select_frames(
    path: str | Path,
    selection: Selection | str | None = None,
    index: str | None = None,
    q_o: float = DEFAULT_Q_O,
    r_oh: float = DEFAULT_R_OH,
) -> FrameSelection:
    """Choose frames of the trajectory ``path`` (any format ASE reads) among those ``index``
    (``start:stop:step``) selects, by ``selection`` (a :class:`Selection` or its text).

    μ_z is in e/Å with oxygen charge ``q_o`` (e) and O–H cut-off ``r_oh`` (Å). Raises
    :class:`DftpostError` naming the file when it cannot be read or lacks the frames asked for.
    """
    path = Path(path)
    if not isinstance(selection, Selection):
        selection = parse_selection(selection)
    frames_slice = parse_index(index)
    # two passes when the choice needs every frame first: the dipoles, or the count of frames
    # (negative indices); else the chosen frames are kept while reading
    two_passes = selection.by_dipole or (selection.kind == "indices" and min(selection.values) < 0)
    wanted = None if two_passes else _wanted_in_one_pass(selection)
    numbers: list[int] = []
    dipoles: list[float] = []
    kept: dict[int, tuple[Atoms, FixedChargeDipole]] = {}
    for number, atoms in iter_frames(path, frames_slice):
        numbers.append(number)
        if selection.by_dipole:
            dipoles.append(_dipole(path, number, atoms, q_o, r_oh).total_e_per_A)
        elif wanted is not None and wanted(number, len(numbers) - 1):
            kept[number] = (atoms, _dipole(path, number, atoms, q_o, r_oh))
    if not numbers:
        raise DftpostError(path, f"no frames (--index {index or ':'})")
    try:
        choices = choose(selection, np.array(numbers), np.array(dipoles) if selection.by_dipole else None)
    except DftpostError as exc:
        raise DftpostError(path, exc.problem) from None
    if two_passes:  # second pass: the chosen frames only
        chosen = {c.number for c in choices}
        for number, atoms in iter_frames(path, frames_slice):
            if number in chosen:
                kept[number] = (atoms, _dipole(path, number, atoms, q_o, r_oh))
    missing = [c.number for c in choices if c.number not in kept]
    if missing:  # the file changed between the passes
        raise DftpostError(path, f"frame {missing[0]} could not be read again (did the file change?)")
    frames = [SelectedFrame(c.number, kept[c.number][0], kept[c.number][1], c.reason) for c in choices]
    return FrameSelection(path, selection, index or ":", q_o, r_oh, len(numbers), frames)


def _wanted_in_one_pass(selection: Selection):
    """For one-pass selections, whether to keep a frame while reading, from its number in the
    file and its position among the frames read."""
    if selection.kind == "indices":
        wanted = set(selection.values)
        return lambda number, _position: number in wanted
    if selection.kind == "stride":
        step = selection.values[0]
        return lambda _number, position: position % step == 0
    return lambda _number, _position: True
