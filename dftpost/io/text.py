"""Plain-text tables shared by the readers: fast, strict, with errors that name the file."""

from __future__ import annotations

import functools
import io
import math
import re
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import ParseError


def finite_float(value: str | None, path: Path, what: str) -> float:
    """``value`` as a finite float, or a ParseError naming the file and ``what`` was read (NaN,
    overflow stars, words, None)."""
    try:
        number = float(value)  # type: ignore[arg-type]  # None raises TypeError, reported below
    except (TypeError, ValueError):
        raise ParseError(path, f"{what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ParseError(path, f"{what} {value!r} is not a finite number")
    return number


def parse_floats(text: bytes) -> np.ndarray | None:
    """All white-space separated numbers of ``text`` (C speed), or None if any is not a number."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            return np.fromstring(text, sep=" ")
        except (ValueError, DeprecationWarning):
            return None


#: below this many bytes of data lines numpy.loadtxt is faster than the decoder's fixed cost
#: (~0.07 ms; benchmarks/README.md, "CP2K .pdos")
_DECODER_MIN_BYTES = 1 << 14
_NOT_BLANK = re.compile(rb"\S")


def numeric_table(blob: bytes, path: Path, integer_columns: int = 0, start: int = 0) -> np.ndarray:
    """The data lines of a text file (from byte ``start`` of ``blob``) as a 2-D float array.

    Comment lines (``#``) at the top are skipped cheaply. Lines of fixed-width ``F`` fields (the
    first ``integer_columns`` of them ``I`` fields), as FHI-aims and CP2K write them, are decoded
    by :func:`fixed_decimal_table`; anything else is parsed by :func:`numpy.loadtxt`'s C reader,
    which also checks that every line has the same number of columns. Any error names the file
    and the data line.
    """
    while blob.startswith(b"#", start) or blob.startswith(b"\n", start):
        end = blob.find(b"\n", start)
        if end < 0:
            start = len(blob)
            break
        start = end + 1
    text = blob
    if blob.find(b"#", start) >= 0:  # comments further down: drop them line by line
        text = b"\n".join(line for line in blob[start:].splitlines() if not line.lstrip().startswith(b"#"))
        start = 0
    if _NOT_BLANK.search(text, start) is None:
        raise ParseError(path, "no data lines")
    data = fixed_decimal_table(text, integer_columns, start) if len(text) - start >= _DECODER_MIN_BYTES else None
    if data is not None:
        return _complete(blob, data, path)
    body = text[start:]
    try:
        data = np.loadtxt(io.BytesIO(body), ndmin=2)
    except ValueError as exc:
        lines = [line for line in body.splitlines() if line.strip()]
        n_columns = len(lines[0].split())
        for i, line in enumerate(lines):
            parts = line.split()
            try:
                [float(p) for p in parts]
            except ValueError:
                raise ParseError(path, f"data line {i + 1} is not numeric: {line[:60].decode(errors='replace')!r}") from None
            if len(parts) != n_columns:
                raise ParseError(path, f"data line {i + 1} has {len(parts)} columns, the first has {n_columns}") from None
        raise ParseError(path, f"the data lines cannot be read as numbers ({' '.join(str(exc).split())})") from None
    if not np.isfinite(data).all():
        raise ParseError(path, "data contain NaN or Inf")
    return _complete(blob, data, path)


def _complete(blob: bytes, data: np.ndarray, path: Path) -> np.ndarray:
    """``data``, once sure that the text ends with a line end: programs end every line they
    write, so a last line without one was cut (its last number may have lost digits)."""
    if not blob.rstrip(b" \t").endswith((b"\n", b"\r")):
        raise ParseError(path, "the last line has no line end: the file is cut short (truncated?)")
    return data


_U = np.uint64
_BLOCK_BYTES = 1 << 16  # per uint64 temporary of the decoder
_HIGH, _ASCII0, _SIX = _U(0xF0F0F0F0F0F0F0F0), _U(0x3030303030303030), _U(0x0606060606060606)
_TOP3, _BLANKS = _U(0xE0E0E0E0E0E0E0E0), _U(0x2020202020202020)
_ONES, _FF, _LOW = _U(0x0101010101010101), _U(0xFF), _U(0x0F0F0F0F0F0F0F0F)
_MINUS = _U(0x0D)  # "-" (0x2D) once the blank bits are cleared
_PAIRS, _QUADS, _WORD = _U(0x00FF00FF00FF00FF), _U(0x0000FFFF0000FFFF), _U(0x00000000FFFFFFFF)


def _swar8(digits: np.ndarray) -> np.ndarray:
    """Eight decimal digits per little-endian uint64 (values 0-9 in each byte, most significant
    first) → their integer value."""
    v = (digits * _U(10) + (digits >> _U(8))) & _PAIRS
    v = (v * _U(100) + (v >> _U(16))) & _QUADS
    return (v * _U(10000) + (v >> _U(32))) & _WORD


@functools.lru_cache(maxsize=64)
def _layout(line: bytes, integer_columns: int) -> _Layout | None:
    """Where the numbers of a data line are, as :func:`fixed_decimal_table` reads them: each field
    runs from the end of the previous number to the end of its own and starts with a blank; the
    first ``integer_columns`` fields hold integers, the others up to eight decimals. None for
    another shape."""
    fields: list[tuple[int, int, int]] = []  # (start, decimal point or end of an integer, end)
    start = 0
    for match in re.finditer(rb"\S+", line):
        dot = match.group().find(b".")
        point = match.end() if dot < 0 else match.start() + dot
        integer = len(fields) < integer_columns
        if (dot < 0) != integer or (not integer and not 1 <= match.end() - point - 1 <= 8):
            return None
        if match.start() == start or point < 8:  # no blank before the number, or too near the start
            return None
        fields.append((start, point, match.end()))
        start = match.end()
    if not fields or start != len(line):
        return None
    runs: list[tuple[int, int, int]] = []  # fields of one width in a row: (first, count, width)
    for i, (start, point, stop) in enumerate(fields):
        shape = (stop - start, point - start)
        if runs and shape == (runs[-1][2], fields[runs[-1][0]][1] - fields[runs[-1][0]][0]):
            runs[-1] = (runs[-1][0], runs[-1][1] + 1, runs[-1][2])
        else:
            runs.append((i, 1, stop - start))
    return _Layout(
        runs=tuple((fields[i][1] - 8, count, width) for i, count, width in runs),
        before=np.array([_byte_mask(max(start - point + 8, 0)) for start, point, _ in fields], dtype=_U),
        after=np.array([~_byte_mask(stop - point - 1 if stop > point else 0) for _, point, stop in fields], dtype=_U),
        blanks=np.array([j for start, point, _ in fields for j in range(start, max(point - 8, start + 1))]),
        points=np.array([point for _, point, stop in fields if stop > point], dtype=int),
        reach=max(point + 9 for _, point, _ in fields),
    )


class _Layout(NamedTuple):
    runs: tuple[tuple[int, int, int], ...]  # fields of one width in a row: (places of the first, count, width)
    before: np.ndarray  # per field: bytes of its eight places that belong to the field before
    after: np.ndarray  # per field: bytes of the eight after its point beyond its decimals
    blanks: np.ndarray  # byte positions that hold blanks
    points: np.ndarray  # byte positions of the decimal points
    reach: int  # byte after the last window, from the line start


def fixed_decimal_table(text: bytes, integer_columns: int = 0, start: int = 0) -> np.ndarray | None:
    """Decode lines of fixed-width fields ``[blanks][-]d…d.ddd`` (Fortran ``F``, up to eight
    decimals; FHI-aims' DoS files are ``F18.8`` throughout, CP2K's ``.pdos`` files ``I8, F18.6,
    F16.6, F18.8…``) without Python-level float parsing; None if the text has any other shape
    (the caller then uses a general parser). The lines are those of ``text`` from byte
    ``start`` on; their layout is that of the first line; the first ``integer_columns`` fields
    hold integers (``I`` fields, read as floats).

    Each field's eight places before the point (blanks where they belong to the field before)
    and its decimals (zeros after the last) are gathered as two little-endian integers, checked
    byte by byte (digits, blanks, one minus) and combined eight digits at a time. Overflow
    stars, exponents or NaN fail the checks.
    """
    end = text.find(b"\n", start)
    line = text[start : end if end >= 0 else len(text)]
    if not line or line.endswith(b"\r"):
        return None
    layout = _layout(line, integer_columns)
    if layout is None:
        return None
    stride = len(line) + 1
    size = len(text) - start
    n_lines = (size + 1) // stride
    if n_lines * stride - (0 if text.endswith(b"\n") else 1) != size:
        return None
    # the window after the last point may reach past the end of the text: bytes added (the
    # text copied only then)
    if not text.endswith(b"\n") or layout.reach > stride:
        text, start = text[start:] + (b"" if text.endswith(b"\n") else b"\n") + bytes(8), 0
    raw = np.frombuffer(text, dtype=np.uint8, offset=start)
    table = raw[: n_lines * stride].reshape(n_lines, stride)
    out = np.empty((n_lines, len(layout.before)))
    # blocks of lines whose temporaries stay small: fresh large arrays cost page faults
    rows = max(64, _BLOCK_BYTES // (8 * len(layout.before)))
    for first in range(0, n_lines, rows):
        k = min(rows, n_lines - first)
        block = table[first : first + k]
        if not (np.all(block[:, -1] == 0x0A) and np.all(block[:, layout.blanks] == 0x20)
                and np.all(block[:, layout.points] == 0x2E)):
            return None
        whole = _windows(raw, first * stride, (k, stride), layout.runs)  # the eight places before each point
        whole &= ~layout.before
        whole |= _BLANKS & layout.before
        frac = _windows(raw, first * stride + 9, (k, stride), layout.runs)  # the eight after it
        frac &= ~layout.after
        frac |= _ASCII0 & layout.after
        if not _decode(whole, frac, out[first : first + k]):
            return None
    return out


def _windows(raw: np.ndarray, offset: int, lines: tuple[int, int], runs: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """Eight bytes at each field of ``lines`` (count, stride) lines from ``offset``, as
    little-endian uint64 (lines, fields): one strided view per run of fields of one width."""
    n, stride = lines
    return np.concatenate([
        np.ndarray((n, count), dtype="<u8", buffer=raw, offset=offset + at, strides=(stride, width))
        for at, count, width in runs
    ], axis=1)


def _byte_mask(n: int) -> np.uint64:
    """0xFF in the ``n`` low bytes (the first ``n`` characters of a little-endian window)."""
    return _U((1 << (8 * n)) - 1) if n < 8 else _U(0xFFFFFFFFFFFFFFFF)


def _decode(whole: np.ndarray, frac: np.ndarray, out: np.ndarray) -> bool:
    """The numbers of fields given as their eight places before the point (``whole``) and
    eight decimals (``frac``), little-endian uint64 each, into ``out``; False unless ``whole``
    is ``[blanks][-]digits`` ending in a digit and ``frac`` eight digits."""
    # every check below leaves non-zero bits in ``bad`` where a field is not of the form
    # [blanks][-]digits.dddddddd (in place, one pass per operation)
    bad = frac & _HIGH  # the decimals: bytes 0x30-0x39
    bad ^= _ASCII0
    t = frac + _SIX
    t &= _HIGH
    t ^= _ASCII0
    bad |= t
    t = whole & _TOP3  # the eight places: bytes 0x20-0x3F ...
    t ^= _BLANKS
    bad |= t
    digit = whole >> _U(4)  # ... 0xFF in the bytes that are digits (0x30-0x39) ...
    digit &= _ONES
    digit *= _FF
    t = whole & digit
    t += _SIX
    t &= _HIGH
    t ^= _ASCII0
    t &= digit
    bad |= t
    not_digit = ~digit  # ... the others: a blank (0x00 here) or a minus (0x0D) ...
    other = whole ^ _BLANKS
    other &= not_digit
    minus = other & _ONES  # 0x01 in the byte of the minus
    t = minus * _MINUS
    t ^= other
    bad |= t
    t = digit | other  # ... and after a digit or the minus (one byte lower) only digits
    t <<= _U(8)
    t &= not_digit
    bad |= t
    bad |= not_digit & _U(0xFF << 56)  # a digit right before the point
    if bad.any():
        return False
    # the field as an integer count of 1e-8, divided once by the exact 1e8: below 2**53 the count
    # is exact and the quotient is the correctly rounded double, as numpy's and Python's parsers
    # give (beyond, |x| > 9e7, whole part plus fraction: within an ulp)
    integer, fraction = _swar8(whole & _LOW & digit), _swar8(frac - _ASCII0)
    units = integer * _U(100_000_000) + fraction
    value = units.astype(np.float64) / 1e8
    big = units >= _U(1 << 53)
    if big.any():
        value[big] = integer[big].astype(np.float64) + fraction[big].astype(np.float64) * 1e-8
    np.negative(value, out=value, where=minus != 0)
    out[...] = value
    return True
