"""Plain-text tables shared by the readers: fast, strict, with errors that name the file."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

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


def numeric_table(blob: bytes, path: Path) -> np.ndarray:
    """The data lines of a text file as a 2-D float array.

    Comment lines (``#``) at the top are skipped cheaply. Lines of equal-width ``F*.8`` fields
    (FHI-aims' DoS files) are decoded by :func:`fixed_decimal_table`; anything else is parsed by
    :func:`numpy.loadtxt`'s C reader, which also checks that every line has the same number of
    columns. Any error names the file and the data line.
    """
    start = 0
    while blob.startswith(b"#", start) or blob.startswith(b"\n", start):
        end = blob.find(b"\n", start)
        if end < 0:
            start = len(blob)
            break
        start = end + 1
    body = blob[start:]
    if b"#" in body:  # comments further down: drop them line by line
        body = b"\n".join(line for line in body.splitlines() if not line.lstrip().startswith(b"#"))
    if not body.strip():
        raise ParseError(path, "no data lines")
    data = fixed_decimal_table(body)
    if data is not None:
        return _complete(blob, data, path)
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


def fixed_decimal_table(body: bytes) -> np.ndarray | None:
    """Decode lines of equal-width fields ``[blanks][-]d…d.dddddddd`` (Fortran ``F18.8`` or wider,
    as FHI-aims writes its projected DoS files) without Python-level float parsing; None if the
    text has any other shape (the caller then uses a general parser).

    Each field's eight decimals and the eight characters before its point are gathered as two
    little-endian integers by strided views, checked byte by byte (digits, blanks, one minus)
    and combined eight digits at a time. Overflow stars, exponents or NaN fail the checks.
    """
    end = body.find(b"\n")
    line = body[: end if end >= 0 else len(body)]
    if not line or line.endswith(b"\r"):
        return None
    first_dot = line.find(b".")
    width = first_dot + 9  # fields of at least 18 characters: eight places before the point
    n_cols = len(line) // width if first_dot >= 9 else 0
    if n_cols == 0 or n_cols * width != len(line):
        return None
    if [i for i, c in enumerate(line) if c == 0x2E] != [first_dot + k * width for k in range(n_cols)]:
        return None
    stride = len(line) + 1
    n_lines = (len(body) + 1) // stride
    if n_lines * stride - (0 if body.endswith(b"\n") else 1) != len(body):
        return None
    raw = np.frombuffer(body + (b"" if body.endswith(b"\n") else b"\n"), dtype=np.uint8)

    def window(at: int, dtype: str) -> np.ndarray:
        return np.ndarray((n_lines, n_cols), dtype=dtype, buffer=raw, offset=at, strides=(stride, width))

    dots = window(first_dot, "u1")
    before = np.ndarray((n_lines, n_cols, width - 17), dtype="u1", buffer=raw, offset=0, strides=(stride, width, 1))
    frac, whole = window(first_dot + 1, "<u8").copy(), window(first_dot - 8, "<u8").copy()
    if not (np.all(raw[stride - 1 :: stride] == 0x0A) and np.all(dots == 0x2E) and np.all(before == 0x20)):
        return None  # line ends, points, and blanks before the eight places
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
    if bad.any():
        return None
    # the field as an integer count of 1e-8, divided once by the exact 1e8: below 2**53 the count
    # is exact and the quotient is the correctly rounded double, as numpy's and Python's parsers
    # give (beyond, |x| > 9e7, whole part plus fraction: within an ulp)
    integer, fraction = _swar8(whole & _LOW & digit), _swar8(frac - _ASCII0)
    units = integer * _U(100_000_000) + fraction
    value = units.astype(np.float64) / 1e8
    big = units >= _U(1 << 53)
    if big.any():
        value[big] = integer[big].astype(np.float64) + fraction[big].astype(np.float64) * 1e-8
    return np.where(minus != 0, -value, value)
