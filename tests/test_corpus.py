"""Bad-input corpus: every reader of dftpost on damaged copies of the real files of its format.

Each case copies a real FHI-aims or CP2K file (``../shared/realdata``, or ``fixtures/cp2k``) into
tmp_path with one damage and states what the reader must do with it:

* ``error``   – raise a :class:`~dftpost.errors.DftpostError` whose one-line message names the
  damaged file;
* ``same``    – return exactly what the undamaged file gives, because the damage is harmless
  (a part the reader does not need, Windows line ends, trailing blank lines);
* ``flagged`` – return, and say so in the result (a log cut short has ``finished`` False; a run
  directory names the damaged file in ``warnings`` or lists what is ``missing``);
* a ``Limit`` – a damage the reader cannot see in the file alone (a table cut exactly at a line
  end, a count in a header read without its data): a strict xfail of ``error``, with the reason.

Never another exception type, never a different number without a flag. The tables below are
the whole corpus: formats (which files, which readers), damages (what is done to the bytes) and
the expected outcome of each (reader, damage). The existing tests already check damaged
synthetic files (tests/test_cube.py, test_cp2k.py, test_aims.py, test_rundir.py, test_cli.py);
this corpus applies the same kinds of damage systematically to the real files: one file of each
variant (writer, program version, header and columns, values printed), cubes up to 1 MB.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from conftest import CP2K_FIXTURE, FIXTURES, REALDATA, REPO, realdata_files

from dftpost.errors import DftpostError
from dftpost.io import aims, cp2k, cube, rundir, trajectory

# cases of the real files exist only when the folder does; those of fixtures/cp2k always
needs_realdata = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real output files not found at {REALDATA}")

ERROR, SAME, FLAGGED = "error", "same", "flagged"


@dataclass(frozen=True)
class Limit:
    """The reader cannot see this damage from the file alone (strict xfail of ``error``)."""

    reason: str


# ============================================================================ exact results
def canon(x, root: str):
    """A hashable, exactly comparable form of a reader's result (paths relative to ``root``)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__,) + tuple((f.name, canon(getattr(x, f.name), root)) for f in dataclasses.fields(x))
    if isinstance(x, Atoms):
        return ("Atoms", canon(x.numbers, root), canon(x.positions, root), canon(x.cell[:], root), tuple(x.pbc))
    if isinstance(x, np.ndarray):
        return ("array", x.shape, x.dtype.str, x.tobytes())
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    if isinstance(x, Path):
        return str(x).replace(root, "<root>")
    if isinstance(x, str):
        return x.replace(root, "<root>")
    if isinstance(x, (list, tuple)):
        return tuple(canon(v, root) for v in x)
    if isinstance(x, dict):
        return tuple(sorted((str(k), canon(v, root)) for k, v in x.items()))
    return x


# ============================================================================ formats
MU_FROM_AIMS_OUT = -5.0  # what read_run passes to the FHI-aims DoS reader (needed by _raw files)


def _frames(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # ASE's notice about its FHI-aims IO
        return list(trajectory.iter_frames(path))


@dataclass(frozen=True)
class Format:
    """A file format: its real files, the readers of one such file, and where its data starts.

    ``kind`` is ``table`` (a header, then lines of numbers), ``log`` or ``input``;
    ``header_lines`` counts the lines before the data of a table; ``siblings`` makes the
    reader see the other files of the original folder (an input names its coordinate file).
    ``values`` are patterns (group 1 = a number the reader uses) for targeted damage.
    """

    name: str
    files: tuple[Path, ...]
    readers: dict[str, Callable[[Path], object]]
    kind: str
    header_lines: Callable[[list[bytes]], int] | None = None
    values: dict[str, tuple[bytes, ...]] = dataclasses.field(default_factory=dict)
    siblings: bool = False


def _cube_header_lines(lines: list[bytes]) -> int:
    n_atoms = int(float(lines[2].split()[0]))
    return 6 + abs(n_atoms) + (n_atoms < 0)


def _comment_lines(lines: list[bytes]) -> int:
    n = 0
    while n < len(lines) and lines[n].startswith(b"#"):
        n += 1
    return n


FIXTURE_RUNS = [CP2K_FIXTURE / "nofield", CP2K_FIXTURE / "field", FIXTURES / "cp2k" / "water4_frames" / "frame_0"]

ALL_FORMATS = {
    f.name: f
    for f in [
        Format(
            "cube",
            # every real cube up to 1 MB (the 1.3-2.8 MB ones have the same layout as these)
            tuple(p for p in realdata_files("**/*.cube") if p.stat().st_size < 1_000_000),
            {"cube.read_cube": cube.read_cube, "cube.read_cube_header": cube.read_cube_header},
            "table",
            _cube_header_lines,
            {"origin": (rb"\A[^\n]*\n[^\n]*\n\s*\S+\s+(\S+)",), "voxel": (rb"\A(?:[^\n]*\n){3}\s*\S+\s+(\S+)",)},
        ),
        Format(
            "aims-dos",
            tuple(p for p in realdata_files("fhiaims/**/*") if aims.parse_dos_name(p)),
            {"aims.read_dos": lambda p: aims.read_dos(p, fermi_level_eV=MU_FROM_AIMS_OUT)},
            "table",
            _comment_lines,
            {"mu": (rb"mu =\s*(\S+)",)},
        ),
        Format(
            "cp2k-pdos",
            tuple(realdata_files("cp2k/**/*.pdos") + [p for d in FIXTURE_RUNS for p in sorted(d.glob("*.pdos"))]),
            {"cp2k.read_pdos": cp2k.read_pdos},
            "table",
            lambda lines: 2,
            {"E(Fermi)": (rb"E\(Fermi\) =\s*(\S+)",)},
        ),
        Format(
            "xyz",
            tuple(realdata_files("cp2k/water8_slab_field/water_slab.xyz") + [d / "water4.xyz" for d in FIXTURE_RUNS]),
            {"trajectory.iter_frames": _frames},
            "table",
            lambda lines: 2,
            {"Lattice": (rb'Lattice="(\S+)',)},
        ),
        Format(
            "aims-out",
            tuple(p for p in realdata_files("fhiaims/**/*.out") if rundir.sniff_log(p) == "fhi-aims"),
            {"aims.read_output": aims.read_output},
            "log",
            values={
                "chemical-potential": (
                    rb"Chemical potential \(Fermi level\)(?: in eV)?\s*:\s*(\S+)",
                    rb"\|\s*Chemical Potential\s*:\s*(\S+)",
                    rb"Chemical potential is\s+(\S+)",
                ),
                "homogeneous-field": (rb"Homogeneous electric field specified\. Values:\s+(\S+)",),
            },
        ),
        Format(
            "cp2k-log",
            tuple(
                [p for p in realdata_files("cp2k/**/*.out") if rundir.sniff_log(p) == "cp2k"]
                + [d / "water4.out" for d in FIXTURE_RUNS]
            ),
            {"cp2k.read_log": cp2k.read_log},
            "log",
            values={
                "E(Fermi)": (
                    rb"MO\|\s*E\(Fermi\):\s+(\S+)",
                    rb"(?m)^\s*Fermi energy:\s+(\S+)\s*$",
                    rb"Fermi Energy \[eV\]\s*:\s*(\S+)",
                ),
                "band-gap": (rb"HOMO - LUMO gap \[eV\]\s*:\s+(\S+)", rb"MO\|\s*Band gap:\s+(\S+)"),
                "slab-dipole": (rb"the slab \[electrons-Angstroem\]:\s+(\S+)",),
                "density-integral": (rb"Electronic density on regular grids:\s+(\S+)",),
                "cell": (rb"CELL\|\s+Vector a \[angstrom\]:?\s+(\S+)",),
                "efield": (rb"PERIODIC_EFIELD\|\s+Intensity \[a\.u\.\]:\s+(\S+)",),
                "coordinate": (rb"(?m)^\s+1\s+\d+\s+[A-Z][a-z]?\s+\d+\s+(\S+)\s+\S+\s+\S+\s+\S+\s+\S+\s*$",),
            },
        ),
        Format(
            "cp2k-inp",
            tuple(realdata_files("cp2k/**/*.inp") + [d / "water4.inp" for d in FIXTURE_RUNS]),
            {"cp2k.read_input": cp2k.read_input},
            "input",
            values={
                "ABC": (rb"(?m)^\s*ABC\s+(\S+)",),
                "COORD": (rb"(?m)&COORD\s*\n\s*[A-Z][a-z]?\w*\s+(\S+)",),
                "INTENSITY": (rb"(?m)^\s*INTENSITY\s+(\S+)",),
                "VALUES": (rb"(?m)^\s*VALUES\s+(\S+)",),
                "E_DENSITY_CUBE-STRIDE": (rb"(?s)&E_DENSITY_CUBE\s*\n\s*STRIDE\s+(\S+)",),
                "SURF_DIP_POS": (rb"(?m)^\s*SURF_DIP_POS\s+(\S+)",),
                "LIST": (rb"(?m)^\s*LIST\s+(\S+)",),
            },
            siblings=True,
        ),
    ]
}


def _rel(p: Path) -> str:
    for base in (REALDATA, REPO):
        if base in p.parents:
            return str(p.relative_to(base))
    return p.name


def _variant(fmt: Format, path: Path) -> tuple:
    """What makes a file a different case for its reader: where it comes from (program
    version, writer) and what it holds (header and columns, values a log or input prints).
    Files alike in all that (the same run type in several folders) are represented once."""
    group = tuple(_rel(path).split("/")[:2])
    if fmt.kind == "table":
        lines = path.read_bytes().splitlines()
        header = lines[: fmt.header_lines([x + b"\n" for x in lines])]
        if fmt.name == "cube":
            return group, cube.read_cube_header(path).quantity
        if fmt.name == "xyz":
            return group
        folder = path.parent.name if fmt.name == "aims-dos" else ""  # FHI-aims: one run per folder
        return group, folder, b" ".join(header[-1].split()), b"vacuum" in b" ".join(header)
    blob = path.read_bytes()
    return group, tuple(label for label, patterns in fmt.values.items() if any(re.search(p, blob) for p in patterns))


def _variants(fmt: Format) -> Format:
    chosen: dict[tuple, Path] = {}
    for path in fmt.files:
        chosen.setdefault(_variant(fmt, path), path)
    return dataclasses.replace(fmt, files=tuple(chosen.values()))


FORMATS = {name: _variants(fmt) for name, fmt in ALL_FORMATS.items()}


# ============================================================================ damages
@dataclass(frozen=True)
class Damaged:
    """Damaged bytes; ``header`` is False when the damage leaves the header of a table intact."""

    blob: bytes
    header: bool = True


def _split(blob: bytes) -> list[bytes]:
    return blob.splitlines(keepends=True)


def _offsets(lines: list[bytes]) -> list[int]:
    return [0] + list(np.cumsum([len(x) for x in lines]))


def _cut_mid_line(blob: bytes, at: int, header_bytes: int) -> Damaged:
    """Cut in the middle of the (non-blank) line holding byte ``at``."""
    lines = _split(blob)
    starts = _offsets(lines)
    i = max(0, int(np.searchsorted(starts, at, side="right")) - 1)
    while i < len(lines) - 1 and len(lines[i].strip()) < 2:
        i += 1
    cut = starts[i] + len(lines[i].rstrip(b"\r\n")) // 2
    return Damaged(blob[:cut], header=cut <= header_bytes)


def _table(blob: bytes, fmt: Format) -> tuple[list[bytes], int, int]:
    """Lines, number of header lines, index of the middle data line."""
    lines = _split(blob)
    h = fmt.header_lines(lines)
    data = [i for i in range(h, len(lines)) if lines[i].strip()]
    return lines, h, data[len(data) // 2]


def _numeric_tokens(line: bytes) -> list[re.Match]:
    out = []
    for m in re.finditer(rb"\S+", line):
        try:
            float(m.group())
        except ValueError:
            continue
        out.append(m)
    return out


def _replace(line: bytes, m: re.Match, new: bytes) -> bytes:
    return line[: m.start()] + new.rjust(m.end() - m.start()) + line[m.end() :]


def _on_data_line(transform: Callable[[bytes], bytes]):
    """A damage that changes the middle data line of a table."""

    def damage(blob: bytes, fmt: Format) -> Damaged | None:
        if fmt.kind != "table":
            return None
        lines, h, m = _table(blob, fmt)
        lines[m] = transform(lines[m])
        return Damaged(b"".join(lines), header=False)

    return damage


def _token(which: int, new: bytes):
    return _on_data_line(lambda line: _replace(line, _numeric_tokens(line)[which], new))


def _stars(line: bytes) -> bytes:
    m = _numeric_tokens(line)[-1]
    return _replace(line, m, b"*" * (m.end() - m.start()))


def _drop_last(line: bytes) -> bytes:
    m = _numeric_tokens(line)[-1]
    start = len(line[: m.start()].rstrip(b" \t"))
    return line[:start] + line[m.end() :]


def _truncate(fraction: float):
    def damage(blob: bytes, fmt: Format) -> Damaged:
        header_bytes = _offsets(_split(blob))[fmt.header_lines(_split(blob))] if fmt.kind == "table" else 0
        return _cut_mid_line(blob, int(len(blob) * fraction), header_bytes)

    return damage


def _mid_header(blob: bytes, fmt: Format) -> Damaged:
    lines = _split(blob)
    line = 2 if fmt.name == "cube" else 1  # the cube's natoms/origin line, else the second line
    return _cut_mid_line(blob, _offsets(lines)[line], len(blob))


def _cut_in_last_field(blob: bytes, fmt: Format) -> Damaged | None:
    """The file ends inside the last number of a data line: the line keeps its columns."""
    if fmt.kind != "table":
        return None
    lines, h, m = _table(blob, fmt)
    token = _numeric_tokens(lines[m])[-1]
    keep = token.start() + max(2, (token.end() - token.start()) // 2)
    return Damaged(b"".join(lines[:m]) + lines[m][:keep], header=False)


def _line_boundary(blob: bytes, fmt: Format) -> Damaged | None:
    """The file ends after a complete data line in the middle of the table."""
    if fmt.kind == "log":
        return None
    if fmt.kind == "input":
        lines = _split(blob)
        return Damaged(b"".join(lines[: len(lines) // 2]))
    lines, h, m = _table(blob, fmt)
    return Damaged(b"".join(lines[: m + 1]), header=False)


def _every_data_line(transform: Callable[[bytes], bytes]):
    def damage(blob: bytes, fmt: Format) -> Damaged | None:
        if fmt.kind != "table":
            return None
        lines, h, _ = _table(blob, fmt)
        return Damaged(b"".join(lines[:h] + [transform(x) if _numeric_tokens(x) else x for x in lines[h:]]), False)

    return damage


def _extra_line(blob: bytes, fmt: Format) -> Damaged | None:
    """The last data line once more (an appended duplicate: extra values)."""
    if fmt.kind != "table":
        return None
    lines = _split(blob)
    last = next(x for x in reversed(lines) if x.strip())
    return Damaged(blob + (b"" if blob.endswith(b"\n") else b"\n") + last, header=False)


def _missing_line(blob: bytes, fmt: Format) -> Damaged | None:
    if fmt.kind != "table":
        return None
    lines, h, m = _table(blob, fmt)
    return Damaged(b"".join(lines[:m] + lines[m + 1 :]), header=False)


def _swap_lines(blob: bytes, fmt: Format) -> Damaged | None:
    """Two data lines in the wrong order (only for tables whose order is checkable)."""
    if fmt.name not in ("aims-dos", "cp2k-pdos"):
        return None
    lines, h, m = _table(blob, fmt)
    lines[m], lines[m + 1] = lines[m + 1], lines[m]
    return Damaged(b"".join(lines), header=False)


def _garbage(blob: bytes, fmt: Format) -> Damaged:
    return Damaged(np.random.default_rng(20240607).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def _header_then_garbage(blob: bytes, fmt: Format) -> Damaged:
    lines = _split(blob)
    h = fmt.header_lines(lines) if fmt.kind == "table" else min(40, len(lines) // 2)
    return Damaged(b"".join(lines[:h]) + _garbage(blob, fmt).blob, header=False)


def _count(name: str, line: int, delta: int):
    """The count on a header line (cube natoms / voxel count, xyz atoms) changed by ``delta``."""

    def damage(blob: bytes, fmt: Format) -> Damaged | None:
        if fmt.name != name:
            return None
        lines = _split(blob)
        m = re.match(rb"\s*(-?\d+)", lines[line])
        lines[line] = _replace(lines[line], m, b"%d" % (int(m.group(1)) + delta))
        return Damaged(b"".join(lines))

    return damage


def _log_atoms(delta: int):
    """CP2K's '- Atoms:' count changed (only where the log also prints the coordinates)."""

    def damage(blob: bytes, fmt: Format) -> Damaged | None:
        if fmt.name != "cp2k-log" or not re.search(rb"ATOMIC COORDINATES IN ANGSTROM", blob, re.I):
            return None
        m = re.search(rb"- Atoms:\s+(\d+)", blob)
        return Damaged(blob[: m.start(1)] + b"%d" % (int(m.group(1)) + delta) + blob[m.end(1) :])

    return damage


def _coordinate_row_short(blob: bytes, fmt: Format) -> Damaged | None:
    """One row of CP2K's coordinate table (or of an input's &COORD) loses its last number."""
    pattern = {
        "cp2k-log": rb"(?m)^\s+3\s+\d+\s+[A-Z][a-z]?\s+\d+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+[ \t]*$",
        "cp2k-inp": rb"(?m)&COORD\s*\n\s*[A-Z][a-z]?\w*\s+\S+\s+\S+\s+\S+[ \t]*$",
    }.get(fmt.name)
    m = re.search(pattern, blob) if pattern else None
    if m is None:
        return None
    row = m.group()
    return Damaged(blob[: m.start()] + row[: len(row.rstrip().rsplit(None, 1)[0])] + blob[m.end() :])


def _value(label: str, new: bytes | None):
    """Every occurrence of a number the reader uses (``Format.values``) replaced by ``new``
    (None: Fortran's overflow stars of the same width)."""

    def damage(blob: bytes, fmt: Format) -> Damaged | None:
        patterns = fmt.values.get(label)
        if not patterns:
            return None
        spans = [m.span(1) for p in patterns for m in re.finditer(p, blob)]
        if not spans:
            return None
        out = bytearray(blob)
        for start, end in sorted(spans, reverse=True):
            out[start:end] = (b"*" * (end - start)) if new is None else new.rjust(end - start)
        return Damaged(bytes(out))

    return damage


def _shift_value(label: str, delta: float):
    """A number the reader uses moved by ``delta`` (a file from another run, for sets)."""

    def damage(blob: bytes, fmt: Format) -> Damaged | None:
        (pattern, *_) = fmt.values[label]
        m = re.search(pattern, blob)
        text = m.group(1).decode()
        decimals = len(text.split(".")[1]) if "." in text else 0
        new = f"{float(text) + delta:.{decimals}f}".encode()
        return Damaged(blob[: m.start(1)] + new.rjust(len(text)) + blob[m.end(1) :])

    return damage


def _end_marker_cut(blob: bytes, fmt: Format) -> Damaged | None:
    """A log cut right after the line that says the program ended (the rest is not needed)."""
    if fmt.kind != "log":
        return None
    marker = rb"PROGRAM ENDED AT" if fmt.name == "cp2k-log" else rb"Have a nice day"
    m = re.search(marker + rb"[^\n]*\n", blob)
    return None if m is None or m.end() == len(blob) else Damaged(blob[: m.end()])


DAMAGES: dict[str, Callable[[bytes, Format], Damaged | None]] = {
    "empty": lambda blob, fmt: Damaged(b""),
    "one-byte": lambda blob, fmt: Damaged(blob[:1]),
    "cut-mid-header": _mid_header,
    "cut-10%": _truncate(0.1),
    "cut-50%": _truncate(0.5),
    "cut-90%": _truncate(0.9),
    "cut-in-last-number": _cut_in_last_field,
    "cut-at-line-end": _line_boundary,
    "column-dropped-everywhere": _every_data_line(_drop_last),
    "column-dropped-on-one-line": _on_data_line(_drop_last),
    "extra-column-on-one-line": _on_data_line(lambda line: line.rstrip(b"\r\n") + b"    0.12345678\n"),
    "extra-line": _extra_line,
    "missing-line": _missing_line,
    "swapped-lines": _swap_lines,
    "nan-first-number": _token(0, b"NaN"),
    "nan-last-number": _token(-1, b"nan"),
    "inf-last-number": _token(-1, b"Inf"),
    "minus-inf-first-number": _token(0, b"-inf"),
    "overflow-stars": _on_data_line(_stars),
    "random-bytes": _garbage,
    "header-then-random-bytes": _header_then_garbage,
    "natoms+1": _count("cube", 2, +1),
    "natoms-1": _count("cube", 2, -1),
    "nx+1": _count("cube", 3, +1),
    "nz-1": _count("cube", 5, -1),
    "xyz-count+1": _count("xyz", 0, +1),
    "xyz-count-1": _count("xyz", 0, -1),
    "log-atoms+1": _log_atoms(+1),
    "log-atoms-1": _log_atoms(-1),
    "coordinate-row-short": _coordinate_row_short,
    "atom-0-in-LIST": _value("LIST", b"0"),  # LDOS lists count atoms from 1
    **{
        f"{what}-in-{label}": _value(label, new)
        for label in sorted({k for f in ALL_FORMATS.values() for k in f.values})
        for what, new in (("nan", b"NaN"), ("inf", b"Inf"), ("stars", None), ("word", b"abc"))
    },
    # harmless
    "crlf-line-ends": lambda blob, fmt: Damaged(blob.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), header=False),
    "trailing-blank-lines": lambda blob, fmt: Damaged(blob + b"\n\n  \n", header=False),
    "cut-after-end-marker": _end_marker_cut,
}

HARMLESS = {"crlf-line-ends", "trailing-blank-lines", "cut-after-end-marker"}
TRUNCATIONS = {"cut-10%", "cut-50%", "cut-90%", "cut-in-last-number", "cut-at-line-end"}
COUNTS = {"natoms-1", "nx+1", "nz-1"}

LINE_END_LIMIT = Limit(
    "a table cut exactly at a line end is a shorter valid table; only the other files of the run "
    "(read_dos_files, read_pdos_files, read_run) show that it is short"
)
SIZE_CHANGES = {"missing-line", "column-dropped-everywhere", "column-dropped-on-one-line"}
HEADER_ONLY_LIMIT = Limit("read_cube_header checks only that the data block is not shorter than the counts "
                          "say; a longer one is read_cube's to refuse")


def expected(fmt: Format, reader: str, damage: str, damaged: Damaged):
    """The outcome the rule of the project asks for."""
    if damage in HARMLESS:
        return SAME
    if reader == "cube.read_cube_header":
        # the header reader checks the length of the data block against the counts, from the
        # file's size: damage that changes the size or the counts is an error, other damage of
        # the data block is for read_cube to find
        if damage in ("natoms-1", "nz-1"):
            return HEADER_ONLY_LIMIT  # the data block is then longer than the counts say
        if damage in TRUNCATIONS or damage in COUNTS or damage in SIZE_CHANGES:
            return ERROR
        if not damaged.header:
            return SAME
    if fmt.kind == "log" and damage in TRUNCATIONS:
        return FLAGGED
    if fmt.name == "xyz" and damage == "extra-column-on-one-line":
        return SAME  # ASE reads the columns the comment line declares (species, x, y, z) and no more
    if damage == "cut-at-line-end" and fmt.name in ("aims-dos", "cp2k-pdos"):
        return LINE_END_LIMIT
    return ERROR


def _stage(root: Path, src: Path, blob: bytes, name: str | None = None, siblings: bool = False) -> Path:
    """``blob`` written as ``root/<folder of src>/<name>``, beside links to the other files of
    src's folder when ``siblings``."""
    name = name or src.name
    folder = root / src.parent.name
    folder.mkdir(parents=True, exist_ok=True)
    if siblings:
        for s in src.parent.iterdir():
            if s.is_file() and s.name not in (src.name, name) and not (folder / s.name).exists():
                (folder / s.name).symlink_to(s)
    path = folder / name
    path.write_bytes(blob)
    return path


_REFERENCES: dict = {}


def reference(read: Callable, src: Path, tmp_root: Path, siblings: bool, key) -> object:
    """The canonical result of the undamaged file (read once per reader and file)."""
    if key not in _REFERENCES:
        root = tmp_root / "reference"
        _REFERENCES[key] = canon(read(_stage(root, src, src.read_bytes(), siblings=siblings)), str(root))
    return _REFERENCES[key]


def check(outcome, read: Callable, path: Path, root: Path, ref: Callable[[], object], flagged=None, name=None):
    """Assert ``outcome`` for ``read(path)``; ``name`` is what an error must mention."""
    name = name or path.name
    if outcome == ERROR or isinstance(outcome, Limit):
        with pytest.raises(DftpostError) as info:
            read(path)
        message = str(info.value)
        assert name in message, f"the error does not name {name}: {message}"
        assert "\n" not in message
        return
    result = read(path)
    if outcome == SAME:
        assert canon(result, str(root)) == ref(), "the result differs from the undamaged file's"
    else:
        assert flagged(result), "the damage is not reported in the result"


def _param(outcome, *values, id: str):
    marks = [pytest.mark.xfail(strict=True, raises=pytest.fail.Exception, reason=outcome.reason)] if isinstance(outcome, Limit) else []
    return pytest.param(outcome, *values, id=id, marks=marks)


FLAGS = {
    "aims.read_output": lambda out: not out.finished,
    "cp2k.read_log": lambda log: not log.finished,
}


def _single_file_cases():
    cases = []
    for fmt in FORMATS.values():
        for src in fmt.files:
            blob = src.read_bytes()
            for damage, make in DAMAGES.items():
                damaged = make(blob, fmt)
                if damaged is None:
                    continue
                for reader in fmt.readers:
                    outcome = expected(fmt, reader, damage, damaged)
                    cases.append(_param(outcome, fmt.name, reader, src, damage, id=f"{reader}:{_rel(src)}:{damage}={_label(outcome)}"))
    return cases


def _label(outcome) -> str:
    return "limit" if isinstance(outcome, Limit) else outcome


# the damaged bytes are rebuilt in the test (cheap) rather than held in memory by the parameters
@pytest.mark.parametrize("outcome, fmt_name, reader, src, damage", _single_file_cases())
def test_damaged_real_file(tmp_path, outcome, fmt_name, reader, src, damage):
    fmt = FORMATS[fmt_name]
    read = fmt.readers[reader]
    damaged = DAMAGES[damage](src.read_bytes(), fmt)
    root = tmp_path / "damaged"
    path = _stage(root, src, damaged.blob, siblings=fmt.siblings)
    check(
        outcome,
        read,
        path,
        root,
        lambda: reference(read, src, tmp_path, fmt.siblings, (reader, src)),
        flagged=FLAGS.get(reader),
    )


@needs_realdata
def test_input_in_other_length_units_gives_the_same_structure(tmp_path):
    """The structure of a CP2K input is the same whether its cell and &COORD are written in Å or
    in bohr (``ABC [bohr] ...``, ``UNIT bohr``): a unit is never dropped silently."""
    from dftpost.units import BOHR_A

    src = REALDATA / "cp2k/generated_cp2k2023.1/water_dipcor/water_dipcor.inp"
    text = src.read_text()
    abc = re.search(r"ABC\s+(\S+)\s+(\S+)\s+(\S+)", text)
    bohr = text.replace(abc.group(0), "ABC [bohr] " + " ".join(f"{float(x) / BOHR_A!r}" for x in abc.groups()))

    def coord_in_bohr(m):
        symbol, *xyz = m.group(0).split()
        return f"      {symbol} " + " ".join(f"{float(x) / BOHR_A!r}" for x in xyz)

    block = re.search(r"&COORD\n(.*?)\n\s*&END COORD", text, re.S)
    rows = re.sub(r"(?m)^\s*[A-Z][a-z]?\s+\S+\s+\S+\s+\S+\s*$", coord_in_bohr, block.group(1))
    bohr = bohr.replace(block.group(1), "      UNIT bohr\n" + rows)
    path = _stage(tmp_path, src, bohr.encode())
    angstrom, converted = cp2k.read_input(src).atoms, cp2k.read_input(path).atoms
    np.testing.assert_allclose(converted.cell[:], angstrom.cell[:], rtol=1e-14)
    np.testing.assert_allclose(converted.positions, angstrom.positions, rtol=1e-14)
    path.write_text(bohr.replace("UNIT bohr", "UNIT furlong"))
    with pytest.raises(DftpostError, match="furlong"):
        cp2k.read_input(path)


# ============================================================================ mixed-up files
# one real file of each format, given to every other format's reader under that reader's name
def _first(fmt_name: str, name_contains: str = "") -> Path | None:
    files = [p for p in ALL_FORMATS[fmt_name].files if name_contains in str(p)]
    return files[0] if files else None


REPRESENTATIVE = {
    "cube": _first("cube", "polyphenylene"),
    "aims-dos": _first("aims-dos", "atom_proj_dos_Si0001.dat"),
    "cp2k-pdos": _first("cp2k-pdos", "water_dipcor-k1"),
    "xyz": _first("xyz", "water8"),
    "aims-out": _first("aims-out", "hBN"),
    "cp2k-log": _first("cp2k-log", "water_dipcor"),
    "cp2k-inp": _first("cp2k-inp", "water_dipcor"),
}


def _mixed_cases():
    cases = []
    for fmt in FORMATS.values():
        target = REPRESENTATIVE[fmt.name]
        for other, content in REPRESENTATIVE.items():
            if other == fmt.name or target is None or content is None:
                continue
            for reader in fmt.readers:
                cases.append(pytest.param(fmt.name, reader, target, content, id=f"{reader}:{other}-named-{target.name}"))
    return cases


# ASE recognises an FHI-aims output by its content, whatever its name: the trajectory reader
# then reads the structures it holds (as it would under its own name), which is no damage
AS_ITSELF = {("trajectory.iter_frames", "aims-out")}


@pytest.mark.parametrize("fmt_name, reader, target, content", _mixed_cases())
def test_file_of_another_format_under_this_name(tmp_path, fmt_name, reader, target, content):
    fmt = FORMATS[fmt_name]
    read = fmt.readers[reader]
    path = _stage(tmp_path / "mixed", target, content.read_bytes(), siblings=fmt.siblings)
    other = next(name for name, p in REPRESENTATIVE.items() if p == content)
    if (reader, other) not in AS_ITSELF:
        check(ERROR, read, path, tmp_path, None)
        return
    itself = _stage(tmp_path / "itself", content, content.read_bytes())
    assert canon(read(path), str(path)) == canon(read(itself), str(itself))


# ============================================================================ sets of files
@dataclass(frozen=True)
class FileSet:
    """Several files one reader joins (DoS files of one run); the last one is damaged."""

    name: str
    fmt: str
    files: tuple[Path, ...]
    read: Callable[[list[Path]], object]


def _aims_set(*names: str) -> tuple[Path, ...]:
    return tuple(REALDATA / "fhiaims" / n for n in names)


SETS = [
    FileSet(
        "aims-Si-atoms",
        "aims-dos",
        _aims_set("aimstools/Si_closed_shell_soc/atom_proj_dos_Si0001.dat", "aimstools/Si_closed_shell_soc/atom_proj_dos_Si0002.dat"),
        lambda paths: aims.read_dos_files(paths, fermi_level_eV=MU_FROM_AIMS_OUT),
    ),
    FileSet(
        "aims-Fe-spins",
        "aims-dos",
        _aims_set(
            "aimstools/Fe_open_shell_no_soc/atom_proj_dos_spin_upFe0001.dat",
            "aimstools/Fe_open_shell_no_soc/atom_proj_dos_spin_dnFe0001.dat",
        ),
        lambda paths: aims.read_dos_files(paths, fermi_level_eV=MU_FROM_AIMS_OUT),
    ),
    FileSet(
        "aims-Fe151211-spins",
        "aims-dos",
        _aims_set(
            "nomad_electronic_parsers/Fe_band_spinpol/atom_proj_dos_spin_upFe0001.dat",
            "nomad_electronic_parsers/Fe_band_spinpol/atom_proj_dos_spin_dnFe0001.dat",
        ),
        lambda paths: aims.read_dos_files(paths, fermi_level_eV=MU_FROM_AIMS_OUT),
    ),
    FileSet("cp2k-water4", "cp2k-pdos", tuple(sorted((CP2K_FIXTURE / "nofield").glob("*.pdos"))), cp2k.read_pdos_files),
    FileSet(
        "cp2k-water8",
        "cp2k-pdos",
        tuple(realdata_files("cp2k/water8_slab_field/run_a_nofield/*.pdos")),
        cp2k.read_pdos_files,
    ),
    FileSet(
        "cp2k-graphene-alpha-beta",
        "cp2k-pdos",
        tuple(realdata_files("cp2k/nomad_electronic_parsers/graphene_15x15_pdos/*.pdos")),
        cp2k.read_pdos_files,
    ),
]

SET_DAMAGES = {
    "empty": DAMAGES["empty"],
    "random-bytes": DAMAGES["random-bytes"],
    "cut-50%": DAMAGES["cut-50%"],
    "cut-at-line-end": DAMAGES["cut-at-line-end"],
    "nan-last-number": DAMAGES["nan-last-number"],
    "column-dropped-everywhere": DAMAGES["column-dropped-everywhere"],
    "missing-line": DAMAGES["missing-line"],
    "fermi-level-of-another-run": lambda blob, fmt: _shift_value("mu" if fmt.name == "aims-dos" else "E(Fermi)", 0.1)(blob, fmt),
}


def _set_expected(file_set: FileSet, damage: str):
    if file_set.name == "cp2k-graphene-alpha-beta" and damage == "cut-at-line-end":
        return Limit("ALPHA and BETA files may hold different numbers of states (padded): a BETA file cut at a line end looks complete")
    return ERROR


def _set_cases():
    return [
        _param(_set_expected(s, d), s, d, id=f"{s.name}:{d}={_label(_set_expected(s, d))}")
        for s in SETS
        if s.files and all(p.exists() for p in s.files)
        for d in SET_DAMAGES
    ]


@pytest.mark.parametrize("outcome, file_set, damage", _set_cases())
def test_damaged_file_in_a_set(tmp_path, outcome, file_set, damage):
    *good, bad = file_set.files
    damaged = SET_DAMAGES[damage](bad.read_bytes(), FORMATS[file_set.fmt])
    paths = [_stage(tmp_path, p, p.read_bytes()) for p in good] + [_stage(tmp_path, bad, damaged.blob)]
    check(outcome, lambda _: file_set.read(paths), paths[-1], tmp_path, None)


@needs_realdata
def test_files_of_two_runs_in_one_set(tmp_path):
    """An atom file of another run (other energies) joined to this run's: an error naming them."""
    si = REALDATA / "fhiaims/aimstools/Si_closed_shell_soc/atom_proj_dos_Si0001.dat"
    fe = REALDATA / "fhiaims/nomad_electronic_parsers/Fe_band_spinpol/atom_proj_dos_spin_upFe0001.dat"
    paths = [_stage(tmp_path, si, si.read_bytes()), _stage(tmp_path, si, fe.read_bytes(), name="atom_proj_dos_Si0002.dat")]
    with pytest.raises(DftpostError, match="atom_proj_dos_Si0002.dat"):
        aims.read_dos_files(paths, fermi_level_eV=MU_FROM_AIMS_OUT)
    water4 = sorted((CP2K_FIXTURE / "nofield").glob("*.pdos"))
    water8 = REALDATA / "cp2k/water8_slab_field/run_a_nofield/water_slab-k2-1.pdos"
    paths = [_stage(tmp_path, p, p.read_bytes()) for p in water4[:-1]]
    paths.append(_stage(tmp_path, water4[-1], water8.read_bytes()))
    with pytest.raises(DftpostError, match=water4[-1].name):
        cp2k.read_pdos_files(paths)


# ============================================================================ run directories
RUN_DIRS = {"cp2k": CP2K_FIXTURE / "nofield", "fhi-aims": REALDATA / "fhiaims/aimstools/hBN_mlk_no_soc"}
FORMAT_OF = {
    ".pdos": "cp2k-pdos",
    ".out": "cp2k-log",
    ".inp": "cp2k-inp",
    ".xyz": "xyz",
    ".cube": "cube",
    ".dat": "aims-dos",
}


def _in_warnings(name: str):
    return lambda run: any(name in w for w in run.warnings)


def _in_missing(role: str):
    return lambda run: any(m.startswith(role) for m in run.missing)


# (run, damaged file, damage or "content of <format>", outcome, how a flagged result says it)
RUN_CASES = [
    ("cp2k", "water4-k1-1.pdos", "empty", ERROR, None),
    ("cp2k", "water4-k1-1.pdos", "cut-50%", ERROR, None),
    ("cp2k", "water4-k1-1.pdos", "cut-at-line-end", ERROR, None),  # the kinds no longer share their states
    ("cp2k", "water4-list2-1.pdos", "nan-last-number", ERROR, None),
    ("cp2k", "water4-list2-1.pdos", "random-bytes", ERROR, None),
    ("cp2k", "water4-k2-1.pdos", "content of aims-dos", ERROR, None),
    ("cp2k", "water4-k2-1.pdos", "content of cube", ERROR, None),
    ("cp2k", "water4.out", "cut-50%", FLAGGED, _in_warnings("water4.out")),
    ("cp2k", "water4.out", "cut-after-end-marker", SAME, None),
    ("cp2k", "water4.out", "empty", FLAGGED, _in_missing("log")),  # not recognisable as a log
    ("cp2k", "water4.out", "nan-in-slab-dipole", ERROR, None),
    ("cp2k", "water4.out", "stars-in-E(Fermi)", ERROR, None),
    ("cp2k", "water4.inp", "cut-50%", ERROR, None),
    ("cp2k", "water4.inp", "empty", ERROR, None),
    ("cp2k", "water4.xyz", "nan-last-number", ERROR, None),  # the input's COORD_FILE_NAME
    ("cp2k", "water4.xyz", "random-bytes", ERROR, None),
    ("cp2k", "water4-v_hartree-1_0.cube", "cut-50%", FLAGGED, _in_warnings("water4-v_hartree-1_0.cube")),  # cut short: a warning
    ("cp2k", "water4-v_hartree-1_0.cube", "random-bytes", FLAGGED, _in_warnings("water4-v_hartree-1_0.cube")),
    ("cp2k", "water4-v_hartree-1_0.cube", "nan-in-origin", FLAGGED, _in_warnings("water4-v_hartree-1_0.cube")),
    ("fhi-aims", "atom_proj_dos_tetrahedron_N0001.dat", "empty", ERROR, None),
    ("fhi-aims", "atom_proj_dos_tetrahedron_N0001.dat", "cut-50%", ERROR, None),
    ("fhi-aims", "atom_proj_dos_tetrahedron_N0001.dat", "cut-at-line-end", ERROR, None),
    ("fhi-aims", "atom_proj_dos_tetrahedron_N0001.dat", "nan-first-number", ERROR, None),
    ("fhi-aims", "atom_proj_dos_tetrahedron_N0001.dat", "nan-in-mu", ERROR, None),
    ("fhi-aims", "atom_proj_dos_tetrahedron_B0002.dat", "fermi-level-of-another-run", ERROR, None),
    ("fhi-aims", "atom_proj_dos_tetrahedron_B0002.dat", "content of cp2k-pdos", ERROR, None),
    ("fhi-aims", "aims.out", "cut-50%", FLAGGED, _in_warnings("aims.out")),
    ("fhi-aims", "aims.out", "nan-in-chemical-potential", ERROR, None),
    ("fhi-aims", "aims.out", "cut-after-end-marker", SAME, None),
    # an unusable geometry.in gives way to the structure aims.out prints, with a warning naming it
    ("fhi-aims", "geometry.in", "random-bytes", FLAGGED, _in_warnings("geometry.in")),
    ("fhi-aims", "geometry.in", "nan-in-geometry", FLAGGED, _in_warnings("geometry.in")),
]

RUN_DAMAGES = {
    **DAMAGES,
    "fermi-level-of-another-run": SET_DAMAGES["fermi-level-of-another-run"],
    "nan-in-geometry": lambda blob, fmt: Damaged(re.sub(rb"(?m)^(\s*atom\s+)\S+", rb"\g<1>NaN", blob, count=1)),
}


def _run_format(name: str) -> Format:
    if name == "aims.out":
        return FORMATS["aims-out"]
    if name == "geometry.in":
        return Format("geometry.in", (), {}, "input")
    return FORMATS[FORMAT_OF[Path(name).suffix]]


@pytest.mark.parametrize(
    "run, name, damage, outcome, flagged",
    [pytest.param(*c, id=f"{c[0]}:{c[1]}:{c[2]}={c[3]}") for c in RUN_CASES],
)
def test_damaged_file_in_a_run_directory(tmp_path, run, name, damage, outcome, flagged):
    folder = RUN_DIRS[run]
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    src = folder / name
    if damage.startswith("content of "):
        content = REPRESENTATIVE[damage[len("content of ") :]]
        if content is None:
            pytest.skip(f"real output files not found at {REALDATA}")
        blob = content.read_bytes()
    else:
        blob = RUN_DAMAGES[damage](src.read_bytes(), _run_format(name)).blob
    root = tmp_path / "damaged"
    path = _stage(root, src, blob, siblings=True)
    check(
        outcome,
        rundir.read_run,
        path.parent,
        root,
        lambda: reference(rundir.read_run, src, tmp_path, True, ("read_run", folder)),
        flagged=flagged,
        name=name,
    )
