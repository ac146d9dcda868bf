"""Gaussian cube files as written by CP2K and FHI-aims: fast, streaming, unit-converting.

Geometry is converted from Bohr to Å; values are converted to the units of the quantity the
file holds (see :data:`dftpost.grid.QUANTITY_UNITS`): densities e/Bohr³ → e/Å³, CP2K's
``V_HARTREE`` (the electron's potential energy in Hartree) → the physical electrostatic potential
in V (sign flipped: φ = −V_H·27.211 V), wavefunctions Bohr^-3/2 → Å^-3/2.

The data block is read in chunks into one preallocated array, so the peak memory is the array
plus a few MB. Files written with a fixed-width ``E`` format (CP2K up to 2026.1, FHI-aims and
Gaussian write ``E13.5``) are decoded without Python-level float parsing: the bytes of each field
are gathered with strided views and the digits combined eight at a time (see ``benchmarks/`` for
the figures against ASE and pymatgen); any other layout (CP2K 2026.2's ``E13.5E3``, whose negative
values fill the field with no blank between them, and the ``1X,ES12.4E3`` of later CP2K) is read
with :func:`numpy.fromstring`. The second column of an atom line (0, or the effective nuclear
charge CP2K writes from 2026.1 on) is not used.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from ..errors import ParseError
from ..grid import QUANTITY_UNITS, CubeHeader, Grid
from ..units import BOHR_A, HARTREE_EV
from .files import open_regular
from .text import parse_floats

_CHUNK_BYTES = 1 << 21  # text read per chunk; bounds the memory above the output array
_MIN_ATOM_LINE = 10  # bytes of the shortest atom line ("1 0 0 0 0" and its line end)

# (pattern searched in the title lines and file name, quantity); first match wins
_QUANTITY_PATTERNS = (
    (re.compile(r"hartree[ _]?potential|v_hartree|electrostatic", re.I), "electrostatic_potential"),
    (re.compile(r"spin[ _]?density", re.I), "spin_density"),
    (re.compile(r"electron[ _]?density|total[ _]?density|(?<![a-z])density", re.I), "electron_density"),
    (re.compile(r"wave ?function|wfn|eigenstate|orbital", re.I), "wavefunction"),
)


@dataclass
class _RawHeader:
    title: tuple[str, str]
    n_atoms: int
    origin_bohr: np.ndarray
    shape: tuple[int, int, int]
    voxel_bohr: np.ndarray
    numbers: np.ndarray
    positions_bohr: np.ndarray
    values_per_point: int
    data_offset: int


def detect_program(title: tuple[str, str]) -> str | None:
    """``"cp2k"`` for Quickstep titles, ``"fhi-aims"`` for FHI-aims ones, else ``None``."""
    text = " ".join(title).lower()
    if "quickstep" in text or "cp2k" in text:
        return "cp2k"
    if "aims" in text:
        return "fhi-aims"
    return None


def detect_quantity(title: tuple[str, str], path: str | Path) -> str:
    """The quantity a cube holds, from its title lines and then its file name."""
    for text in (" ".join(title), Path(path).name):
        for pattern, quantity in _QUANTITY_PATTERNS:
            if pattern.search(text):
                return quantity
    return "unknown"


def _conversion(quantity: str, program: str | None, content_unit: str | None = None) -> tuple[float, str]:
    """Factor from file values to dftpost units, and what it means in words.

    Densities and wavefunctions: CP2K and the Gaussian standard write per Bohr³; FHI-aims
    writes per Å³ unless ``cube_content_unit bohr`` was set in control.in (its default
    ``legacy``, stated in aims.out's warning block) — pass ``content_unit="bohr"`` then.
    Potentials: CP2K's ``V_HARTREE`` is the electron's potential energy in Hartree (its manual:
    "opposite sign than the expected physical one"); FHI-aims' ``hartree_potential`` is, from
    its source, the same quantity in Hartree (no real FHI-aims cube was available to confirm).
    """
    per_angstrom = program == "fhi-aims" and (content_unit or "legacy") == "legacy"
    if quantity in ("electron_density", "spin_density"):
        if per_angstrom:
            return 1.0, "FHI-aims legacy cube content: already e/Å^3"
        return 1.0 / BOHR_A**3, "e/Bohr^3 -> e/Å^3"
    if quantity == "wavefunction":
        if per_angstrom:
            return 1.0, "FHI-aims legacy cube content: already Å^-3/2"
        return BOHR_A**-1.5, "Bohr^-3/2 -> Å^-3/2"
    if quantity == "electrostatic_potential":
        return -HARTREE_EV, "electron potential energy (Hartree) -> physical potential φ = -27.211·V_H, V"
    return 1.0, "values as in the file"


def _floats(path: Path, line_no: int, line: str, n: int, what: str) -> list[float]:
    parts = line.split()
    try:
        values = [float(p) for p in parts[:n]]
    except ValueError:
        values = []
    if len(values) < n or not all(math.isfinite(v) for v in values):
        raise ParseError(path, f"line {line_no}: expected {what}, found {line.strip()[:60]!r}")
    return values


def _read_raw_header(f, path: Path) -> _RawHeader:
    lines: list[str] = []

    def next_line() -> str:
        raw = f.readline()
        if not raw:
            raise ParseError(path, f"ends after {len(lines)} lines, inside the cube header")
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            raise ParseError(path, f"line {len(lines) + 1}: not text (is this a cube file?)") from None
        lines.append(line)
        return line

    title = (next_line().strip(), next_line().strip())
    head = _floats(path, 3, next_line(), 4, "natoms and the origin")
    if head[0] != int(head[0]):
        raise ParseError(path, f"line 3: the number of atoms {head[0]} is not an integer")
    n_atoms_signed = int(head[0])
    extra = lines[-1].split()
    values_per_point = 1
    if len(extra) >= 5:  # Gaussian's optional number of values per point
        try:
            count = float(extra[4])
        except ValueError:
            count = math.nan
        if not (math.isfinite(count) and count == int(count)):
            raise ParseError(path, f"line 3: the number of values per point {extra[4]!r} is not an integer")
        values_per_point = int(count)
    origin = np.array(head[1:4])
    shape = []
    voxel = np.empty((3, 3))
    angstrom = False
    for i in range(3):
        n, *vec = _floats(path, 4 + i, next_line(), 4, "a voxel count and vector")
        if n == 0 or n != int(n):
            raise ParseError(path, f"line {4 + i}: voxel count {n} is not a non-zero integer")
        angstrom |= n < 0
        shape.append(abs(int(n)))
        voxel[i] = vec
    n_atoms = abs(n_atoms_signed)
    size = os.fstat(f.fileno()).st_size
    if n_atoms * _MIN_ATOM_LINE > size:
        raise ParseError(path, f"line 3: {n_atoms} atoms announced, more than the file ({size} bytes) can hold")
    numbers = np.empty(n_atoms, dtype=int)
    positions = np.empty((n_atoms, 3))
    for i in range(n_atoms):
        z, _charge, *xyz = _floats(path, 7 + i, next_line(), 5, "an atom line: Z, charge, x, y, z")
        if z != int(z) or not 0 <= z <= 118:
            raise ParseError(path, f"line {7 + i}: atomic number {z:g} is not an integer from 0 to 118 (fewer atoms than announced?)")
        numbers[i] = int(z)
        positions[i] = xyz
    if n_atoms_signed < 0:  # a line of dataset ids follows the atoms
        ids = next_line().split()
        try:
            values_per_point = int(ids[0])
        except (IndexError, ValueError):
            raise ParseError(path, f"line {len(lines)}: expected the number of datasets") from None
    if angstrom:  # negative voxel counts: lengths are in Å (Gaussian convention)
        origin, voxel, positions = origin / BOHR_A, voxel / BOHR_A, positions / BOHR_A
    if values_per_point != 1:
        raise ParseError(path, f"holds {values_per_point} values per grid point; dftpost reads cubes with one")
    return _RawHeader(
        title=title,
        n_atoms=n_atoms,
        origin_bohr=origin,
        shape=(shape[0], shape[1], shape[2]),
        voxel_bohr=voxel,
        numbers=numbers,
        positions_bohr=positions,
        values_per_point=values_per_point,
        data_offset=f.tell(),
    )


def read_cube_header(path: str | Path) -> CubeHeader:
    """The header of a cube file (shape, origin, voxel vectors, quantity), without its data.

    The file must be long enough for the values the header announces, as its first data lines
    are written (:func:`_check_data_size`: a cube cut short is an error here, not only when its
    data are read)."""
    path = Path(path)
    with open_regular(path) as f:
        raw = _read_raw_header(f, path)
        _check_data_size(f, path, raw)
    return _header(raw, path)


#: A free-format data block (fields of varying width) is taken as cut short when it is shorter
#: than this fraction of the size its first lines' bytes per value predict.
_FREE_FORMAT_SLACK = 0.9


def _check_data_size(f, path: Path, raw: _RawHeader) -> None:
    """Raise :class:`ParseError` if the data block after the header is too short for the values
    the header announces. Cheap: the file size and the first 64 kB (or 40 lines of z-columns) of
    data. Fixed-width fields (CP2K's, FHI-aims') give the exact size; free-format data the
    size their first whole lines' bytes per value predict, less 10 %."""
    n1, n2, n3 = raw.shape
    n_total = n1 * n2 * n3
    data_bytes = os.fstat(f.fileno()).st_size - raw.data_offset
    f.seek(raw.data_offset)
    sample = f.read(max(1 << 16, 40 * n3))
    layout = _detect_layout(sample, n3)
    if layout is not None:
        needed = layout.block_bytes * (n_total // layout.per_block)
    elif len(sample) < data_bytes and (n_sampled := len((whole := sample[: sample.rfind(b"\n") + 1]).split())):
        needed = int(_FREE_FORMAT_SLACK * n_total * len(whole) / n_sampled)
    else:
        return  # the whole data block is in the sample: reading it counts the values
    if data_bytes < needed:
        raise ParseError(path, f"cut short (truncated?): the header announces {n1}x{n2}x{n3} = {n_total} values, "
                               f"{needed} bytes as the data lines are written; the file holds {data_bytes} after the header")


def _header(raw: _RawHeader, path: Path) -> CubeHeader:
    program = detect_program(raw.title)
    quantity = detect_quantity(raw.title, path)
    return CubeHeader(
        path=path,
        title=" / ".join(raw.title),
        shape=raw.shape,
        origin_A=raw.origin_bohr * BOHR_A,
        voxel_A=raw.voxel_bohr * BOHR_A,
        quantity=quantity,
        units=QUANTITY_UNITS[quantity],
        program=program,
        n_atoms=raw.n_atoms,
    )


def read_cube(
    path: str | Path, quantity: str | None = None, program: str | None = None, content_unit: str | None = None
) -> Grid:
    """Read a cube file into a :class:`~dftpost.grid.Grid` in dftpost units.

    ``quantity`` (a key of :data:`~dftpost.grid.QUANTITY_UNITS`) and ``program`` (``"cp2k"`` or
    ``"fhi-aims"``) override what is detected from the title lines and the file name;
    ``content_unit`` is FHI-aims' ``cube_content_unit`` (``"legacy"``, its default, or ``"bohr"``).
    Raises :class:`~dftpost.errors.ParseError` naming the file for a malformed header, a
    truncated data block, extra values or values that are not finite numbers.
    """
    path = Path(path)
    with open_regular(path) as f:
        raw = _read_raw_header(f, path)
        header = _header(raw, path)
        quantity = quantity or header.quantity
        if quantity not in QUANTITY_UNITS:
            raise ValueError(f"unknown quantity {quantity!r}; known: {', '.join(QUANTITY_UNITS)}")
        program = program or header.program
        n1, n2, n3 = raw.shape
        data_bytes = os.fstat(f.fileno()).st_size - raw.data_offset
        if n1 * n2 * n3 > (data_bytes + 1) // 2:  # a value takes a digit and a separator at least
            raise ParseError(
                path, f"truncated: the header announces {n1 * n2 * n3} values, the file has room for {(data_bytes + 1) // 2}"
            )
        values = _read_values(f, path, n1 * n2 * n3, n3, data_bytes)
        f.seek(max(raw.data_offset, f.seek(0, os.SEEK_END) - 64))
        if not f.read().rstrip(b" \t").endswith((b"\n", b"\r")):
            raise ParseError(path, "the last line has no line end: the file is cut short (truncated?)")
    factor, conversion = _conversion(quantity, program, content_unit)
    if factor != 1.0:
        values *= factor
    atoms = Atoms(
        numbers=raw.numbers,
        positions=raw.positions_bohr * BOHR_A,
        cell=header.voxel_A * np.array(raw.shape)[:, None],
        pbc=True,
    )
    return Grid(
        values=values.reshape(raw.shape),
        origin_A=header.origin_A,
        voxel_A=header.voxel_A,
        atoms=atoms,
        quantity=quantity,
        units=QUANTITY_UNITS[quantity],
        source=path,
        conversion=conversion,
    )


_TITLES = {
    "electrostatic_potential": "HARTREE POTENTIAL",
    "electron_density": "ELECTRON DENSITY",
    "spin_density": "SPIN DENSITY",
    "wavefunction": "WAVEFUNCTION",
    "unknown": "VALUES",
}


def write_cube(path: str | Path, grid: Grid, program: str = "cp2k") -> None:
    """Write a :class:`~dftpost.grid.Grid` as a Gaussian cube in the layout CP2K writes.

    Values are converted back to the file's atomic units (the inverse of :func:`read_cube`, with
    ``program``'s sign convention for potentials) and written as Fortran's ``E13.5`` does
    (``  0.12346E-01``, three-digit exponents without the letter), six to a line, every z-column
    starting a new line; lengths in Bohr. Reading the file back gives ``grid`` to the five
    significant digits of the format.
    """
    path = Path(path)
    factor, _ = _conversion(grid.quantity, program)
    first_line = {"cp2k": "-Quickstep-", "fhi-aims": " CUBE FILE written by FHI-AIMS"}.get(program, "dftpost")
    n1, n2, n3 = grid.values.shape
    origin = np.asarray(grid.origin_A) / BOHR_A
    voxel = np.asarray(grid.voxel_A) / BOHR_A
    n_full, rest = divmod(n3, 6)
    block = ("%9.5fE%+03d" * 6 + "\n") * n_full + ("%9.5fE%+03d" * rest + "\n" if rest else "")
    columns = (grid.values / factor).reshape(n1 * n2, n3)
    per_chunk = max(1, 200_000 // n3)
    with open(path, "w") as f:
        f.write(f"{first_line}\n {_TITLES[grid.quantity]}\n")
        f.write(f"{len(grid.atoms):5d}{origin[0]:12.6f}{origin[1]:12.6f}{origin[2]:12.6f}\n")
        for n, v in zip((n1, n2, n3), voxel):
            f.write(f"{n:5d}{v[0]:12.6f}{v[1]:12.6f}{v[2]:12.6f}\n")
        for z, pos in zip(grid.atoms.numbers, grid.atoms.positions / BOHR_A):
            f.write(f"{z:5d}{0.0:12.6f}{pos[0]:12.6f}{pos[1]:12.6f}{pos[2]:12.6f}\n")
        for start in range(0, n1 * n2, per_chunk):
            chunk = columns[start : start + per_chunk].ravel()
            mantissa, exponent = _fortran_mantissa(chunk)
            if np.any(np.abs(exponent) > 99):
                f.write((block.replace("%9.5fE%+03d", "%13s") * (chunk.size // n3)) % tuple(map(_fortran_e13_5, chunk)))
            else:
                pairs = np.empty(2 * chunk.size, dtype=object)
                pairs[0::2], pairs[1::2] = mantissa.tolist(), exponent.tolist()
                f.write((block * (chunk.size // n3)) % tuple(pairs))


def _fortran_mantissa(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mantissas in [0.1, 1) rounded to five decimals and exponents, as Fortran's ``E13.5``."""
    magnitude = np.abs(x)
    exponent = np.where(magnitude > 0, np.floor(np.log10(np.where(magnitude > 0, magnitude, 1.0))) + 1, 0).astype(int)
    mantissa = np.round(x / 10.0**exponent, 5)
    carry = np.abs(mantissa) >= 1.0
    exponent = exponent + carry
    mantissa = np.where(carry, np.round(x / 10.0**exponent, 5), mantissa)
    return mantissa, exponent


def _fortran_e13_5(x: float) -> str:
    """``x`` as Fortran's ``E13.5`` writes it: ``-0.12346E-01``, or ``0.12346-100`` (no letter)
    when the exponent needs three digits."""
    (mantissa,), (exponent,) = _fortran_mantissa(np.array([x]))
    tail = f"E{exponent:+03d}" if abs(exponent) < 100 else f"{exponent:+04d}"
    return f"{mantissa:9.5f}{tail}".rjust(13)


# ----------------------------------------------------------------------------- data block
_FIELD = re.compile(rb" *[-+]?\d\.(\d{1,5})[Ee][-+]\d\d")


@dataclass
class _FixedLayout:
    """A data block of fixed-width ``E`` fields: lines of ``per_line`` fields of ``width`` bytes,
    grouped into blocks of ``n_full`` full lines and one line of ``rest`` fields."""

    width: int
    decimals: int
    per_line: int
    eol: int
    n_full: int
    rest: int

    @property
    def per_block(self) -> int:
        return self.n_full * self.per_line + self.rest

    @property
    def line_bytes(self) -> int:
        return self.per_line * self.width + self.eol

    @property
    def block_bytes(self) -> int:
        return self.n_full * self.line_bytes + (self.rest * self.width + self.eol if self.rest else 0)


def _detect_layout(sample: bytes, n_inner: int) -> _FixedLayout | None:
    """The fixed-width layout of the data block, from its first bytes; None if it has none."""
    end = sample.find(b"\n")
    if end <= 0:
        return None
    eol = 2 if sample[end - 1 : end] == b"\r" else 1
    first = sample[: end + 1 - eol]
    fields = list(_FIELD.finditer(first))
    if not fields:
        return None
    width, decimals = fields[0].end(), len(fields[0].group(1))
    per_line = len(fields)
    if per_line * width != len(first) or any(
        m.start() != i * width or m.end() != (i + 1) * width or len(m.group(1)) != decimals
        for i, m in enumerate(fields)
    ):
        return None
    n_full, rest = divmod(n_inner, per_line)
    column = _FixedLayout(width, decimals, per_line, eol, n_full, rest)
    if rest:
        # Does every z-column start on a new line (CP2K, Gaussian), or do the values run on?
        short_end = n_full * column.line_bytes + rest * width
        if sample[short_end : short_end + eol] != b"\r\n"[2 - eol :]:
            return _FixedLayout(width, decimals, per_line, eol, 1, 0)
    return column


def _read_values(f, path: Path, n_total: int, n_inner: int, data_bytes: int) -> np.ndarray:
    out = np.empty(n_total)
    start = f.tell()
    sample = f.read(max(1 << 16, 40 * n_inner))
    f.seek(start)
    layout = _detect_layout(sample, n_inner)
    done = 0
    if layout is not None and layout.block_bytes * (n_total // layout.per_block) <= data_bytes:
        n_blocks = n_total // layout.per_block
        blocks_per_chunk = min(max(1, _CHUNK_BYTES // layout.block_bytes), max(1, n_blocks))
        buffer = bytearray(blocks_per_chunk * layout.block_bytes)
        for first_block in range(0, n_blocks, blocks_per_chunk):
            nb = min(blocks_per_chunk, n_blocks - first_block)
            view = memoryview(buffer)[: nb * layout.block_bytes]
            f.readinto(view)
            chunk = out[done : done + nb * layout.per_block]
            if not _decode_fixed(view, nb, layout, chunk):
                _decode_text(bytes(view), path, chunk, done)
            done += chunk.size
    _read_rest(f, path, out, done)
    if not np.isfinite(out).all():
        bad = int(np.flatnonzero(~np.isfinite(out))[0])
        raise ParseError(path, f"value {bad + 1} of the data block is not a finite number")
    return out


def _u64(value: int) -> np.uint64:
    return np.uint64(value)


# Masks over the eight bytes "d.dddddE" of a field, read as a little-endian integer
_FRACTION = _u64(0x00FFFFFFFFFF0000)  # the five decimals (bytes 2-6)
_LEAD = _u64(0xFF)  # the digit before the point (byte 0)
_DIGITS_ASCII = _u64(0x0030303030303000)  # "0" in bytes 1-6, once the lead digit moved to byte 1
_CHECK_MASK = _u64(0xDFF0F0F0F0F0FFF0)  # high nibbles of the digits, the point, the letter E/e
_CHECK_VALUE = _u64(0x4530303030302E30)  # "0.00000E" under that mask
_SIX = _u64(0x0006060606060006)  # +6 keeps a digit's high nibble at 3, pushes ":"-"?" to 4
_HIGH = _u64(0x00F0F0F0F0F000F0)
_HIGH_ASCII = _u64(0x0030303030300030)
# Masks over the four bytes "E±dd" (read as little-endian uint32) and the two bytes "pad, sign"
_EXP_MASK, _EXP_VALUE = np.uint32(0xF0F0F9DF), np.uint32(0x30302945)
_EXP_SIX, _EXP_HIGH, _EXP_ASCII = np.uint32(0x06060000), np.uint32(0xF0F00000), np.uint32(0x30300000)
# 10**(±e - 6) for |e| <= 99: index 2·(e + 100·[exponent negative]) + [value negative]
_SCALE = np.empty(400)
_SCALE[0:200:2] = 10.0 ** (np.arange(100) - 6.0)
_SCALE[200:400:2] = 10.0 ** (-np.arange(100) - 6.0)
_SCALE[1::2] = -_SCALE[0::2]


def _decode_fixed(buf, n_blocks: int, layout: _FixedLayout, out: np.ndarray) -> bool:
    """Decode ``n_blocks`` blocks of fixed-width ``E`` fields into ``out``.

    A field is ``[blanks] [sign] d.ddddd E ±dd`` (five decimals, as Fortran's ``E13.5``). The
    eight bytes ``d.dddddE`` are gathered with a strided view as one little-endian integer; the
    six digits are validated and combined with three multiply-shift steps (SWAR), the exponent
    and signs come from two more small gathers. No Python-level float parsing happens. Returns
    False when the format differs or any byte is out of place; the caller then parses the text.
    """
    w = layout.width
    if layout.decimals != 5 or w < 13:
        return False
    raw = np.frombuffer(buf, dtype=np.uint8)
    groups: list[tuple[tuple[int, ...], tuple[int, ...], int, int]] = []  # (view shape, strides, byte offset, first value)
    if layout.n_full:
        groups.append(
            ((n_blocks, layout.n_full, layout.per_line), (layout.block_bytes, layout.line_bytes, w), 0, 0)
        )
    if layout.rest:
        groups.append(
            (
                (n_blocks, layout.rest),
                (layout.block_bytes, w),
                layout.n_full * layout.line_bytes,
                layout.n_full * layout.per_line,
            )
        )
    out_blocks = out.reshape(n_blocks, layout.per_block)
    for shape, strides, offset, first in groups:

        def field(at: int, dtype, shape=shape, strides=strides, offset=offset) -> np.ndarray:
            view = np.ndarray(shape, dtype=dtype, buffer=raw, offset=offset + at, strides=strides)
            return view.ravel()

        u = field(w - 11, "<u8")  # d.dddddE
        x = field(w - 4, "<u4")  # E±dd
        y = field(w - 13, "<u2")  # blank, sign
        bad = (u & _CHECK_MASK) ^ _CHECK_VALUE
        t = u + _SIX
        t &= _HIGH
        t ^= _HIGH_ASCII
        bad |= t
        if bad.any():
            return False
        ex = x & _EXP_MASK
        ex ^= _EXP_VALUE
        t32 = x + _EXP_SIX
        t32 &= _EXP_HIGH
        t32 ^= _EXP_ASCII
        ex |= t32
        if ex.any() or np.any((y & np.uint16(0xF0FF)) != np.uint16(0x2020)):
            return False
        # digits: move the lead digit over the point, drop the letter, subtract "0"
        v = u & _FRACTION
        t = u & _LEAD
        t <<= _u64(8)
        v |= t
        v -= _DIGITS_ASCII
        t = v * _u64(10)
        v >>= _u64(8)
        v += t
        v &= _u64(0x00FF00FF00FF00FF)
        t = v * _u64(100)
        v >>= _u64(16)
        v += t
        v &= _u64(0x0000FFFF0000FFFF)
        t = v * _u64(10000)
        v >>= _u64(32)
        v += t
        v &= _u64(0x00000000FFFFFFFF)  # ten times the six-digit mantissa
        # exponent and signs -> one index into the scale table
        e = (x >> np.uint32(16)) & np.uint32(0xF)
        e *= np.uint32(10)
        e += x >> np.uint32(24)
        e -= np.uint32(48)  # the last digit still had its "0"
        e += ((x >> np.uint32(10)) & np.uint32(1)) * np.uint32(100)
        e <<= np.uint32(1)
        e += (y >> np.uint16(10)) & np.uint16(1)
        values = v.astype(np.float64)
        values *= _SCALE[e]
        out_blocks[:, first : first + values.size // n_blocks] = values.reshape(n_blocks, -1)
    return True


def _decode_text(text: bytes, path: Path, out: np.ndarray, offset: int) -> None:
    """Parse free-format numbers of ``text`` into ``out`` (exactly ``out.size`` of them)."""
    values = _parse_numbers(text, path, offset)
    if values.size != out.size:
        raise ParseError(
            path, f"data block: expected {out.size} values at value {offset + 1}, found {values.size}"
        )
    out[:] = values


def _parse_numbers(text: bytes, path: Path, offset: int) -> np.ndarray:
    values = parse_floats(text)
    if values is not None:
        return values
    # CP2K 2026.2's E13.5E3 fills all 13 places of a negative value (-0.12345E-001), with no
    # blank before it: a blank before every "-0." (no exponent has a point) splits them
    fixed = text.replace(b"-0.", b" -0.")
    values = parse_floats(fixed)
    if values is not None:
        return values
    # Fortran drops the exponent letter for three-digit exponents (0.12345-100); put it back.
    fixed = re.sub(rb"(\d)([-+]\d{3})(?=\s|$)", rb"\1E\2", fixed)
    values = parse_floats(fixed)
    if values is not None:
        return values
    for i, token in enumerate(fixed.split()):
        try:
            float(token)
        except ValueError:
            raise ParseError(
                path, f"data block: value {offset + i + 1} is not a number: {token[:30].decode(errors='replace')!r}"
            ) from None
    raise ParseError(path, f"data block near value {offset + 1} cannot be read")


def _read_rest(f, path: Path, out: np.ndarray, done: int) -> None:
    """Read the values after ``done`` as free text, in chunks cut at white space."""
    carry = b""
    while True:
        chunk = f.read(_CHUNK_BYTES)
        text = carry + chunk
        if not chunk:
            carry = b""
        else:
            cut = max(text.rfind(b" "), text.rfind(b"\n"))
            if cut < 0:
                carry = text
                continue
            text, carry = text[:cut], text[cut:]
        if text.strip():
            values = _parse_numbers(text, path, done)
            if done + values.size > out.size:
                raise ParseError(
                    path, f"data block holds more than the {out.size} values the header announces"
                )
            out[done : done + values.size] = values
            done += values.size
        if not chunk:
            break
    if done < out.size:
        raise ParseError(
            path, f"truncated: the header announces {out.size} values, the file holds {done}"
        )
