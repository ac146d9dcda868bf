"""MLIP trajectories, streamed frame by frame (never all in memory), and cut into chunks of
consecutive frames that separate processes read on their own.

Plain extxyz text whose frames hold only species and positions (``Properties=species:S:1:pos:R:3``,
a ``Lattice``, ``pbc`` and numbers in the comment line) is scanned once for where its frames
start (vectorised) and, when libAtoms' ``extxyz`` package is installed (``pip install
dftpost[fast]``), parsed by its C parser; from the first frame that parser refuses, ASE reads on.
Other formats, other extxyz frames and text that breaks the format go through
:func:`ase.io.iread`."""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import all_properties
from ase.data import atomic_numbers

from ..errors import DftpostError, ParseError
from .files import open_regular, regular_file


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
    if len(parts) == 1:  # a single frame (a blank one is all, above)
        frame = int(parts[0])
        return slice(frame, frame + 1 if frame != -1 else None)
    if values[2] == 0:
        raise DftpostError(None, "--index step cannot be 0")
    return slice(*values)


class _EndOfFileGuard(io.BufferedReader):
    """A file that raises once it has been read at its end a thousand times in a row.

    ASE's xyz reader skips as many lines as a frame's atom count says, even past the end of the
    file: one damaged count (a long number) would keep it reading nothing for hours. Only the
    buffer is watched (once per 8 kB chunk); a text file over it loses the fast checks of a
    plain file, which costs a few per cent."""

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


def _c_parser():
    """libAtoms' ``extxyz`` package (its C parser of the format), or None when not installed."""
    try:
        import extxyz
    except ImportError:
        return None
    return extxyz


_NUMBER = rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
#: a comment line both parsers read alike: a lattice, species and positions only, pbc, and
#: numbers under lower-case names that ASE keeps in ``Atoms.info``
_PLAIN_COMMENT = re.compile(
    rb'\s*(?:(?:Lattice="\s*(?:%s\s+){8}%s\s*"|Properties=species:S:1:pos:R:3|pbc="[TF] [TF] [TF]"'
    rb"|[a-z_][a-z0-9_]*=%s)(?:[ \t]+|\Z))+" % (_NUMBER, _NUMBER, _NUMBER)
)
_CALCULATOR_KEY = re.compile(rb"(?:^|\s)(?:%s)=" % b"|".join(p.encode() for p in all_properties))


def _plain_comment(line: bytes) -> bool:
    """Whether an extxyz comment line is of the plain form of :data:`_PLAIN_COMMENT`: one
    lattice, the species and positions, at most one pbc, and no result ASE would give a calculator."""
    return (_PLAIN_COMMENT.fullmatch(line) is not None and line.count(b"Lattice=") == 1
            and line.count(b"Properties=") == 1 and line.count(b"pbc=") <= 1 and _CALCULATOR_KEY.search(line) is None)


def _fast_frames(path: Path, numbers: range) -> Iterator[Atoms]:
    """The frames ``numbers`` (a forward range) of plain extxyz text, parsed by the C parser; from
    the first frame it refuses (or whose species ASE does not know) on, read by
    :func:`ase.io.iread`, so that a damaged frame gives ASE's frames or ASE's error."""
    number = numbers.start
    try:
        for frame in _c_parser().iread_dicts(str(path), index=slice(numbers.start, numbers.stop, numbers.step)):
            species, inverse = np.unique(frame.arrays["species"], return_inverse=True)
            z = np.array([atomic_numbers[str(x)] for x in species], dtype=int)[inverse.ravel()]
            # the C parser gives the cell vectors as columns, ASE as rows
            atoms = Atoms(numbers=z, positions=frame.arrays["pos"], cell=frame.cell.T, pbc=frame.pbc, info=frame.info)
            number += numbers.step
            yield atoms
    except Exception:  # noqa: BLE001 - ASE reads on: its frames, or its error
        from ase.io import iread

        if number < numbers.stop:
            yield from iread(str(path), index=slice(number, numbers.stop, numbers.step), format="extxyz")


def _xyz_text(path: Path) -> str | None:
    """"xyz" or "extxyz" when ASE reads ``path`` as uncompressed text of that format, else None
    (also for files ASE does not know: :func:`iter_frames` reports those)."""
    from ase.io.formats import filetype, get_compression

    try:
        fmt = filetype(str(path))
    except Exception:  # noqa: BLE001 - ase raises several kinds for files it does not know
        return None
    return fmt if fmt in ("xyz", "extxyz") and get_compression(str(path))[1] is None else None


def _open_frames(path: Path, index: slice):
    """The frames ``index`` selects: an iterator of their numbers in the file, an iterator that
    reads them (Atoms), and the file to close (or None). Plain extxyz text is scanned for its
    frames (:func:`xyz_frames`) and parsed frame by frame by ASE's parser; other files and
    damaged text go through :func:`~ase.io.iread` (xyz text guarded), whose frame numbers follow
    from the index."""
    # ASE reads .xyz and .extxyz files as extxyz; plain frames need no more of ASE (ase.io, whose
    # import takes longer than reading many frames, stays unloaded)
    if path.suffix in (".xyz", ".extxyz") and (index.step or 1) > 0 and _c_parser() is not None:
        forward = index.stop is not None and index.stop >= 0 and (index.start or 0) >= 0
        found = xyz_frames(path, max_frames=index.stop + 1 if forward else None)  # as far as ASE looks
        if found is not None and found.plain:
            selected = range(len(found.offsets) - 1)[index]
            return iter(selected), _fast_frames(path, selected), None
    from ase.io import iread
    from ase.io.formats import filetype

    text = _xyz_text(path)
    fmt, guarded = text, text is not None
    if fmt is None:
        try:
            fmt = filetype(str(path))
        except Exception as exc:  # ase raises several kinds for files it does not know
            raise ParseError(path, f"not a trajectory ASE can read ({type(exc).__name__}: {' '.join(str(exc).split())})") from None

    def frames(selection: slice):
        if not guarded:
            return iread(str(path), index=selection, format=fmt), None
        handle = io.TextIOWrapper(_EndOfFileGuard(path))
        return iread(handle, index=selection, format=fmt), handle

    if (index.start or 0) >= 0 and (index.stop is None or index.stop >= 0) and (index.step or 1) > 0:
        numbers: Iterator[int] = itertools.count(index.start or 0, index.step or 1)
    else:  # counted from the end: the frames are counted first (text by its frame starts)
        found = xyz_frames(path) if guarded else None
        if found is not None:
            total = len(found.offsets) - 1
        else:
            counted, handle = frames(slice(None))
            try:
                total = sum(1 for _ in counted)
            except Exception:  # noqa: BLE001 - those read before an error; the reading below reports it
                total = 0
            finally:
                if handle is not None:
                    handle.close()
        numbers = itertools.chain(range(total)[index], itertools.count(total))
    return (numbers, *frames(index))


def iter_frames(path: str | Path, index: slice = slice(None)) -> Iterator[tuple[int, Atoms]]:
    """Yield (frame number in the file, Atoms) for the frames ``index`` selects, checking each.

    A frame must have finite positions, a finite cell with non-zero x and y vectors and the same
    number of atoms as the first; a damaged frame raises :class:`~dftpost.errors.ParseError`
    naming the file and frame. A text file that does not end with a line end was cut inside its
    last frame: reading to its end raises the error after the frames before.
    """
    path = Path(path)
    size = regular_file(path).st_size  # a FIFO or a device would never end
    if size == 0:
        raise ParseError(path, "empty file: no frames")
    with open_regular(path) as f:
        head = f.read(4096)
        f.seek(max(0, size - 64))
        tail = f.read()
    cut = b"\0" not in head and not tail.rstrip(b" \t").endswith((b"\n", b"\r"))
    step = index.step or 1
    numbers, frames, handle = _open_frames(path, index)
    try:
        yield from _checked(path, numbers, frames, cut and index.stop is None and step > 0)
    finally:
        if handle is not None:
            handle.close()


@dataclass(frozen=True)
class FrameChunk:
    """Frames ``first``, ``first + step``, … (``count`` of them) of a trajectory file, to be read
    on their own (:func:`iter_chunk`). ``byte_range`` (start, stop) is the plain xyz/extxyz text
    from the first frame to the end of the last; None means ASE reads the frames by index.
    ``fast``: plain extxyz frames, parsed by the C parser (:func:`_fast_frames`; else
    :func:`~ase.io.iread` reads the text). ``n_atoms`` is the atom count every frame must
    have (None: that of the chunk's first)."""

    path: Path
    first: int
    step: int
    count: int
    byte_range: tuple[int, int] | None = None
    n_atoms: int | None = None
    fast: bool = False


def frame_chunks(path: str | Path, index: slice, n_chunks: int, min_bytes: int, max_bytes: int = 1 << 26) -> list[FrameChunk] | None:
    """Cut the frames ``index`` selects into ``n_chunks`` chunks of consecutive frames of about
    equal size (more where a chunk would span over ``max_bytes``, its reader's memory); frames are
    never split. Only selections spanning at least ``min_bytes`` of the file are cut, so that the
    start-up of worker processes pays off.

    Only plain (uncompressed) xyz/extxyz text with a forward selection is cut: its frame starts are
    found by one scan of the line ends. None when the file is anything else, is damaged (its
    errors then come from :func:`iter_frames`), or is too small.
    """
    path = Path(path)
    if n_chunks < 2 or (index.step or 1) < 0 or not path.is_file() or path.stat().st_size < min_bytes:
        return None  # (too small: not even scanned)
    fmt = _xyz_text(path)
    if fmt is None:
        return None
    found = xyz_frames(path)
    if found is None:
        return None
    offsets = found.offsets
    numbers = range(len(offsets) - 1)[index]
    if len(numbers) < 2:
        return None
    if offsets[numbers[-1] + 1] - offsets[numbers[0]] < min_bytes:  # the bytes the workers would read
        return None
    fast = fmt == "extxyz" and found.plain and _c_parser() is not None
    per_chunk = math.ceil(len(numbers) / n_chunks)
    step = numbers.step
    chunks = []
    first = 0
    while first < len(numbers):
        count = min(per_chunk, len(numbers) - first)
        while count > 1 and offsets[numbers[first + count - 1] + 1] - offsets[numbers[first]] > max_bytes:
            count = max(1, count // 2)
        start, last = numbers[first], numbers[first + count - 1]
        chunks.append(FrameChunk(path, start, step, count, (int(offsets[start]), int(offsets[last + 1])), fast=fast))
        first += count
    return chunks if len(chunks) > 1 else None


@dataclass(frozen=True)
class XyzFrames:
    """Where the frames of plain xyz/extxyz text lie: byte offsets of the frame starts and of the
    end of the last frame (n_frames + 1 values), whether any frame has ``VEC`` lines, and whether
    every frame is plain extxyz (no ``VEC`` lines, a comment line of :func:`_plain_comment`)."""

    offsets: np.ndarray
    vec_lines: bool
    plain: bool = False


def xyz_frames(path: Path, block: int = 1 << 24, max_frames: int | None = None) -> XyzFrames | None:
    """The frames of an xyz/extxyz file (the first ``max_frames`` at most), found as ASE's reader
    finds them: a count line, a comment line, that many atom lines and any ``VEC`` lines; a blank
    count line or the end of the file ends the trajectory. The line ends are located in blocks of
    ``block`` bytes, vectorised. None if the file breaks those rules (a count that is not an
    integer, a frame cut short)."""
    offsets, vec_lines, plain = [0], False, True
    with open_regular(path) as f:
        data, base, line = b"", 0, 0  # data[line:] is the unread text, at file offset base + line
        ends = np.zeros(0, dtype=np.int64)  # line ends in data at or after ``line``
        cursor = 0  # index into ends of the line starting at ``line``
        while max_frames is None or len(offsets) <= max_frames:
            if cursor + 2 > len(ends):  # the count and comment lines must be in the buffer
                more = f.read(block)
                data, base = data[line:] + more, base + line
                ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
                line, cursor = 0, 0
                if len(ends) < 2:
                    if more and len(data) <= 2 * block:
                        continue  # read on (a longer count and comment are no xyz)
                    rest = data.strip()
                    return XyzFrames(np.array(offsets), vec_lines, plain) if not rest and len(offsets) > 1 else None
            head = data[line:ends[cursor]]
            if not head.strip():
                return XyzFrames(np.array(offsets), vec_lines, plain) if len(offsets) > 1 else None
            try:
                n_atoms = int(head)
            except ValueError:
                return None
            if n_atoms < 0:
                return None
            plain = plain and _plain_comment(data[ends[cursor] + 1:ends[cursor + 1]])
            last = cursor + 1 + n_atoms  # index of the frame's last line end
            while last >= len(ends):
                more = f.read(block)
                if not more:
                    return None
                start = len(data)
                data += more
                ends = np.concatenate([ends, start + np.flatnonzero(np.frombuffer(more, dtype=np.uint8) == 10)])
            cursor = last + 1
            line = int(ends[last]) + 1
            while cursor < len(ends) and data[line:ends[cursor]].lstrip().startswith(b"VEC"):
                line, cursor, vec_lines, plain = int(ends[cursor]) + 1, cursor + 1, True, False
            offsets.append(base + line)
    return XyzFrames(np.array(offsets), vec_lines, plain)


def iter_chunk(chunk: FrameChunk) -> Generator[tuple[int, Atoms], None, None]:
    """Yield (frame number in the file, Atoms) of the frames of ``chunk``, checked as
    :func:`iter_frames` checks them (same errors)."""
    if chunk.byte_range is None:
        stop = chunk.first + chunk.count * chunk.step
        yield from iter_frames(chunk.path, slice(chunk.first, stop if stop >= 0 else None, chunk.step))
        return
    numbers = range(chunk.first, chunk.first + chunk.count * chunk.step, chunk.step)
    if chunk.fast:
        yield from _checked(chunk.path, iter(numbers), _fast_frames(chunk.path, numbers), False, chunk.n_atoms)
        return
    start, stop = chunk.byte_range
    with open(chunk.path, "rb") as f:
        f.seek(start)
        text = f.read(stop - start)
    if len(text) != stop - start:
        raise ParseError(chunk.path, f"frame {chunk.first}: the file is shorter than when it was scanned (changed while being read?)")
    from ase.io import iread
    from ase.io.formats import filetype

    frames = iread(io.TextIOWrapper(io.BytesIO(text)), index=slice(None, None, chunk.step), format=filetype(str(chunk.path)))
    yield from _checked(chunk.path, iter(numbers), frames, False, chunk.n_atoms)


def _checked(path: Path, numbers, frames, cut: bool, n_atoms: int | None = None) -> Iterator[tuple[int, Atoms]]:
    """(number, Atoms) of the frames read from the iterator ``frames``, numbered by the iterator
    ``numbers``, each checked; errors name the frame. ``cut``: the text ends inside its last
    frame (an error once the frames before are out)."""
    last, cell_key = None, None
    for number in numbers:
        try:
            atoms = next(frames)
        except StopIteration:
            if cut:
                raise ParseError(
                    path, f"frame {last}: the file ends inside it (no line end after its last line: truncated?)"
                ) from None
            return
        except Exception as exc:  # ase raises many kinds for damaged files
            raise ParseError(path, f"frame {number}: cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
        last = number
        cell = atoms.cell.array
        key = cell.tobytes()
        if key != cell_key:  # (most frames repeat the cell)
            if not np.isfinite(cell).all():
                raise ParseError(path, f"frame {number}: positions or cell are not finite numbers (NaN or Inf)")
            if not (cell[0].any() and cell[1].any()):
                raise ParseError(path, f"frame {number}: no cell along x and y (a slab needs its area)")
            cell_key = key
        if not np.isfinite(atoms.positions).all():
            raise ParseError(path, f"frame {number}: positions or cell are not finite numbers (NaN or Inf)")
        if n_atoms is None:
            n_atoms = len(atoms)
        elif len(atoms) != n_atoms:
            raise ParseError(path, f"frame {number}: {len(atoms)} atoms, the first frame had {n_atoms}")
        yield number, atoms
