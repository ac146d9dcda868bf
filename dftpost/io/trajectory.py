"""MLIP trajectories, streamed frame by frame with :func:`ase.io.iread` (never all in memory)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ase import Atoms
from ase.io import iread

from ..errors import DftpostError, MissingInputError, ParseError


def parse_index(text: str | None) -> slice:
    """``"start:stop:step"`` (any part may be empty, Python semantics) → a slice; None → all."""
    if text is None or text.strip() in ("", ":", "::"):
        return slice(None)
    parts = text.split(":")
    if len(parts) > 3:
        raise DftpostError(None, f"--index takes start:stop:step, not {text!r}")
    try:
        values = [int(p) if p.strip() else None for p in parts] + [None] * (3 - len(parts))
    except ValueError:
        raise DftpostError(None, f"--index takes integers start:stop:step, not {text!r}") from None
    if len(parts) == 1:  # a single frame
        return slice(values[0], values[0] + 1 if values[0] != -1 else None)
    if values[2] == 0:
        raise DftpostError(None, "--index step cannot be 0")
    return slice(*values)


def iter_frames(path: str | Path, index: slice = slice(None)) -> Iterator[tuple[int, Atoms]]:
    """Yield (frame number in the file, Atoms) for the frames ``index`` selects, checking each.

    A frame must have a cell with non-zero x and y vectors and the same number of atoms as the
    first; a damaged frame raises :class:`~dftpost.errors.ParseError` naming the file and frame.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, "no such file")
    if path.stat().st_size == 0:
        raise ParseError(path, "empty file: no frames")
    start, step = index.start or 0, index.step or 1
    n_atoms = None
    number = start - step
    frames = iread(str(path), index=index)
    while True:
        number += step
        try:
            atoms = next(frames)
        except StopIteration:
            return
        except Exception as exc:  # ase raises many kinds for damaged files
            raise ParseError(path, f"frame {number}: cannot be read ({type(exc).__name__}: {exc})") from None
        cell = atoms.cell[:]
        if not (cell[0].any() and cell[1].any()):
            raise ParseError(path, f"frame {number}: no cell along x and y (a slab needs its area)")
        if n_atoms is None:
            n_atoms = len(atoms)
        elif len(atoms) != n_atoms:
            raise ParseError(path, f"frame {number}: {len(atoms)} atoms, the first frame had {n_atoms}")
        yield number, atoms
