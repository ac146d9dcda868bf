"""MLIP trajectories, streamed frame by frame with :func:`ase.io.iread` (never all in memory)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator

import numpy as np
from ase import Atoms
from ase.io import iread
from ase.io.formats import filetype, get_compression

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


class _EndOfFileGuard(io.BufferedReader):
    """A file that raises once it has been read at its end a thousand times in a row.

    ASE's xyz reader skips as many lines as a frame's atom count says, even past the end of the
    file: one damaged count (a long number) would keep it reading nothing for hours. Only the
    buffer is watched (once per 8 kB chunk), so reading costs what it did."""

    def __init__(self, path: Path):
        super().__init__(io.FileIO(path, "r"))
        self._at_end = 0

    def _watch(self, data: bytes) -> bytes:
        if data:
            self._at_end = 0
        else:
            self._at_end += 1
            if self._at_end > 1000:
                raise EOFError("the file ends long before the atoms a frame announces")
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._watch(super().read(size))

    def read1(self, size: int = -1) -> bytes:
        return self._watch(super().read1(size))


def _open_frames(path: Path, index: slice):
    """ASE's frame iterator of ``path`` and the file it reads (to close), xyz files guarded."""
    try:
        fmt = filetype(str(path))
    except Exception as exc:  # ase raises several kinds for files it does not know
        raise ParseError(path, f"not a trajectory ASE can read ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    if fmt in ("xyz", "extxyz") and get_compression(str(path))[1] is None:
        handle = io.TextIOWrapper(_EndOfFileGuard(path))
        return iread(handle, index=index, format=fmt), handle
    return iread(str(path), index=index, format=fmt), None


def iter_frames(path: str | Path, index: slice = slice(None)) -> Iterator[tuple[int, Atoms]]:
    """Yield (frame number in the file, Atoms) for the frames ``index`` selects, checking each.

    A frame must have finite positions, a finite cell with non-zero x and y vectors and the same
    number of atoms as the first; a damaged frame raises :class:`~dftpost.errors.ParseError`
    naming the file and frame. A text file that does not end with a line end was cut inside its
    last frame: reading to its end raises the error after the frames before.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, "no such file")
    size = path.stat().st_size
    if size == 0:
        raise ParseError(path, "empty file: no frames")
    with open(path, "rb") as f:
        head = f.read(4096)
        f.seek(max(0, size - 64))
        tail = f.read()
    cut = b"\0" not in head and not tail.rstrip(b" \t").endswith((b"\n", b"\r"))
    start, step = index.start or 0, index.step or 1
    number = start - step
    frames, handle = _open_frames(path, index)
    try:
        yield from _checked(path, frames, number, step, cut and index.stop is None and step > 0)
    finally:
        if handle is not None:
            handle.close()


def _checked(path: Path, frames, number: int, step: int, cut: bool) -> Iterator[tuple[int, Atoms]]:
    n_atoms = None
    while True:
        number += step
        try:
            atoms = next(frames)
        except StopIteration:
            if cut:
                raise ParseError(
                    path, f"frame {number - step}: the file ends inside it (no line end after its last line: truncated?)"
                ) from None
            return
        except Exception as exc:  # ase raises many kinds for damaged files
            raise ParseError(path, f"frame {number}: cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
        cell = atoms.cell[:]
        if not (np.isfinite(cell).all() and np.isfinite(atoms.positions).all()):
            raise ParseError(path, f"frame {number}: positions or cell are not finite numbers (NaN or Inf)")
        if not (cell[0].any() and cell[1].any()):
            raise ParseError(path, f"frame {number}: no cell along x and y (a slab needs its area)")
        if n_atoms is None:
            n_atoms = len(atoms)
        elif len(atoms) != n_atoms:
            raise ParseError(path, f"frame {number}: {len(atoms)} atoms, the first frame had {n_atoms}")
        yield number, atoms
