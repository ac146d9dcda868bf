"""The CP2K input file: its sections (``@INCLUDE``, ``@SET``) and the few facts dftpost needs.

Structure in Å (``&CELL``, ``&COORD``, ``&TOPOLOGY``, ``MULTIPLE_UNIT_CELL``), ``&LDOS`` lists,
the surface dipole correction and an applied field in V/Å.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from ase.geometry import cellpar_to_cell

from ...errors import ParseError
from ...units import BOHR_A, FIELD_AU_V_PER_A
from ..files import read_text, regular_file
from ..text import finite_float


@dataclass
class Cp2kSection:
    """A section of a CP2K input: its name, parameter text, keywords (in order) and subsections."""

    name: str
    parameter: str = ""
    keywords: list[tuple[str, str]] = field(default_factory=list)
    sections: list[Cp2kSection] = field(default_factory=list)

    def get(self, keyword: str) -> str | None:
        """The last value of a keyword (case-insensitive), or None."""
        values = [v for k, v in self.keywords if k.upper() == keyword.upper()]
        return values[-1] if values else None

    def find(self, *names: str) -> list[Cp2kSection]:
        """All sections at the path ``names`` below this one (case-insensitive)."""
        found = [self]
        for name in names:
            found = [s for parent in found for s in parent.sections if s.name.upper() == name.upper()]
        return found


def _input_lines(path: Path, missing: list[str] | None, including: tuple[Path, ...] = ()) -> list[tuple[Path, int, str]]:
    """(file, line number, text) of an input's lines, each ``@INCLUDE file`` replaced by that
    file's lines (cp_parser_inpp_methods.F: the name may be quoted; it is opened as given, from
    the run directory, here the input's folder). An included file that is absent is noted in
    ``missing`` (or is an error when ``missing`` is None)."""
    try:
        lines = read_text(path).splitlines()
    except UnicodeDecodeError:
        raise ParseError(path, "not a text file (is this a CP2K input?)") from None
    out = []
    for number, raw in enumerate(lines, 1):
        words = raw.split(None, 1)
        if words and words[0].upper() == "@INCLUDE":
            name = words[1].strip().strip("'\"") if len(words) > 1 else ""
            included = (path.parent / name).resolve() if name else None
            if included is None or included in including or included == path.resolve():
                raise ParseError(path, f"line {number}: @INCLUDE {name!r} names no file or includes itself")
            if included.is_file():
                out.extend(_input_lines(included, missing, including + (path.resolve(),)))
            elif missing is None:
                raise ParseError(path, f"line {number}: @INCLUDE {name}: no such file")
            else:
                missing.append(f"{path.name} line {number}: @INCLUDE {name} is absent")
            continue
        out.append((path, number, raw))
    return out


def read_input_sections(path: str | Path, missing: list[str] | None = None) -> Cp2kSection:
    """Parse a CP2K input file into nested :class:`Cp2kSection` (``@INCLUDE`` files read in
    place, ``@SET`` variables expanded). Included files that are absent are listed in
    ``missing`` when a list is given, else they are an error."""
    path = Path(path)
    variables: dict[str, str] = {}
    root = Cp2kSection("ROOT")
    stack = [root]
    for where, number, raw in _input_lines(path, missing):
        line = re.split(r"[!#]", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        if line.upper().startswith("@SET"):
            parts = line.split(None, 2)
            if len(parts) == 3:
                variables[parts[1].upper()] = parts[2]
            continue
        if line.startswith("@"):
            continue  # @IF: not needed for the facts read here
        line = re.sub(
            r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1).upper(), m.group(0)), line
        )
        if line.upper().startswith("&END"):
            if len(stack) == 1:
                raise ParseError(where, f"line {number}: &END without an open section")
            stack.pop()
            continue
        if line.startswith("&"):
            name, _, parameter = line[1:].partition(" ")
            section = Cp2kSection(name.upper(), parameter.strip())
            stack[-1].sections.append(section)
            stack.append(section)
            continue
        key, _, value = line.partition(" ")
        stack[-1].keywords.append((key.upper(), value.strip()))
    if len(stack) != 1:
        raise ParseError(path, f"section &{stack[-1].name} is never closed (truncated input?)")
    return root


@dataclass(frozen=True, eq=False)
class Cp2kInput:
    """Facts from a CP2K input: project, structure (Å), LDOS lists (0-based atom indices),
    dipole correction and applied field settings (V/Å)."""

    path: Path
    project: str | None
    atoms: Atoms | None
    ldos_lists: tuple[tuple[int, ...], ...]
    surface_dipole_correction: bool
    surface_dipole_axis: int | None
    surface_dipole_position_A: float | None
    applied_field_V_per_A: np.ndarray | None
    applied_field_source: str | None
    density_cube_stride: tuple[int, ...] | None = None
    warnings: tuple[str, ...] = ()


def read_input(path: str | Path) -> Cp2kInput:
    """Read a CP2K input file: the structure from ``&CELL`` (ABC or A/B/C) and ``&COORD`` or
    ``&TOPOLOGY COORD_FILE_NAME``; ``&LDOS`` lists; dipole correction; ``&PERIODIC_EFIELD``,
    ``&EFIELD`` and a linear ``&EXTERNAL_POTENTIAL`` (``FUNCTION -A*Z``) as an applied field."""
    path = Path(path)
    warnings: list[str] = []
    root = read_input_sections(path, warnings)
    glob_ = root.find("GLOBAL")
    project = (glob_[0].get("PROJECT") or glob_[0].get("PROJECT_NAME")) if glob_ else None
    force_eval = root.find("FORCE_EVAL")
    if not force_eval:
        raise ParseError(path, "no &FORCE_EVAL section: not a CP2K energy/MD input")
    fe = force_eval[0]
    atoms = _input_structure(fe, path, warnings)
    lists = []
    # &PRINT%PDOS%LDOS up to CP2K 2026.1, &PRINT%DOS%LDOS from 2026.2
    for ldos in fe.find("DFT", "PRINT", "PDOS", "LDOS") + fe.find("DFT", "PRINT", "DOS", "LDOS"):
        indices: list[int] = []
        for key, value in ldos.keywords:
            if key == "LIST":
                indices.extend(_parse_index_list(value, path))
        lists.append(tuple(i - 1 for i in indices))
    dfts = fe.find("DFT")
    dft = dfts[0] if dfts else Cp2kSection("DFT")
    dipcor = _bool(dft.get("SURFACE_DIPOLE_CORRECTION") or dft.get("SURF_DIP"))
    direction = (dft.get("SURF_DIP_DIR") or "Z").strip().upper()
    if dipcor and direction not in ("X", "Y", "Z"):
        raise ParseError(path, f"SURF_DIP_DIR {direction!r} is not X, Y or Z")
    axis = "XYZ".index(direction) if dipcor else None
    position_text = dft.get("SURF_DIP_POS")
    position = finite_float(position_text, path, "SURF_DIP_POS") if position_text else None
    field_vec, field_source = _input_field(dft, path)
    density_cube = dft.find("PRINT", "E_DENSITY_CUBE")
    stride = None
    if density_cube:
        text = density_cube[0].get("STRIDE")
        stride = _stride(text, path) if text else (2, 2, 2)  # CP2K's default STRIDE is 2
    return Cp2kInput(
        path=path,
        project=project,
        atoms=atoms,
        ldos_lists=tuple(lists),
        surface_dipole_correction=dipcor,
        surface_dipole_axis=axis,
        surface_dipole_position_A=position if position is not None and position >= 0 else None,
        applied_field_V_per_A=field_vec,
        applied_field_source=field_source,
        density_cube_stride=stride,
        warnings=tuple(warnings),
    )


def _efield(s: Cp2kSection, path: Path) -> np.ndarray:
    """The field (V/Å) of one ``&EFIELD`` section at the start of a run, as CP2K's Quickstep
    applies it (efield_utils.F, make_field): amplitude E0 = sqrt(INTENSITY / 3.50944e16) a.u.
    with INTENSITY in W/cm², or, from CP2K 2026.2 on, ``AMPLITUDE`` (V/m unless a unit is
    given; both keywords at once abort CP2K); times cos(π·PHASE) along the normalised
    POLARISATION (a zero vector means (1/3, 1/3, 1/3)). The field is the physical one: the
    electrons' Hamiltonian gains +E·r. Several sections add up."""
    intensity, amplitude = s.get("INTENSITY"), s.get("AMPLITUDE")
    if intensity is not None and amplitude is not None:
        raise ParseError(path, "&EFIELD gives both INTENSITY and AMPLITUDE (CP2K stops on this)")
    if amplitude is not None:
        m = re.match(r"\s*\[([^\]]*)\]", amplitude)
        unit = m.group(1).strip().upper() if m else "VM-1"
        if unit not in _FIELD_UNITS:
            raise ParseError(path, f"&EFIELD AMPLITUDE unit [{unit}] is not one CP2K knows ({', '.join(_FIELD_UNITS)})")
        e0_V_per_A = finite_float(amplitude[m.end() :].strip() if m else amplitude.strip(), path, "&EFIELD AMPLITUDE") * _FIELD_UNITS[unit]
    else:
        watts = finite_float(intensity or "0.0", path, "&EFIELD INTENSITY")
        if watts < 0:
            raise ParseError(path, f"&EFIELD INTENSITY {watts:g} W/cm² is negative")
        e0_V_per_A = math.sqrt(watts / _INTENSITY_W_CM2_PER_AU2) * FIELD_AU_V_PER_A
    phase = finite_float(s.get("PHASE") or "0.0", path, "&EFIELD PHASE")
    pol = np.array(_numbers(s.get("POLARISATION") or s.get("POLARIZATION") or "0 0 1", path, "POLARISATION", 3)[:3])
    norm = np.linalg.norm(pol)
    direction = pol / norm if norm > 0 else np.full(3, 1.0 / 3.0)
    return e0_V_per_A * math.cos(math.pi * phase) * direction


def _stride(text: str, path: Path) -> tuple[int, ...]:
    try:
        stride = tuple(int(x) for x in text.split())
    except ValueError:
        stride = ()
    if not 1 <= len(stride) <= 3 or min(stride) < 1:
        raise ParseError(path, f"&E_DENSITY_CUBE STRIDE {text!r} is not one to three positive integers")
    return stride


def _bool(value: str | None) -> bool:
    if value is None:
        return False
    v = value.strip().upper()
    return v in ("", ".TRUE.", "TRUE", "T", "YES", "ON", "1")


def _parse_index_list(value: str, path: Path) -> list[int]:
    """1-based atom indices of an ``&LDOS LIST`` (``3``, ``1..12``)."""
    out: list[int] = []
    for token in value.split():
        try:
            a, _, b = token.partition("..")
            first, last = int(a), int(b or a)
        except ValueError:
            first = last = 0
        if not 1 <= first <= last:
            raise ParseError(path, f"LDOS LIST entry {token!r} is not an atom index (from 1) or a range a..b with a <= b")
        out.extend(range(first, last + 1))
    return out


def _input_structure(fe: Cp2kSection, path: Path, warnings: list[str]) -> Atoms | None:
    """The structure of ``&SUBSYS``: cell, coordinates (``&COORD`` or ``&TOPOLOGY
    COORD_FILE_NAME``), both replicated as ``MULTIPLE_UNIT_CELL`` asks (:func:`_replicate`)."""
    subsystems = fe.find("SUBSYS")
    if not subsystems:
        return None
    subsys = subsystems[0]
    cell_sec = subsys.find("CELL")
    cell = None  # of the unit cell the coordinates are given in, Å (rows a, b, c)
    cell_repeats = topology_repeats = (1, 1, 1)
    if cell_sec:
        c = cell_sec[0]
        abc_text, angles_text = c.get("ABC"), c.get("ALPHA_BETA_GAMMA")
        vectors = [c.get(k) or "" for k in "ABC"]
        if abc_text:
            abc = _lengths(abc_text, path, "&CELL ABC")
            angles = _numbers(angles_text, path, "ALPHA_BETA_GAMMA", 3) if angles_text else [90.0] * 3
            cell = cellpar_to_cell(list(abc[:3]) + list(angles[:3]))
        elif all(vectors):
            cell = np.array([_lengths(text, path, f"&CELL {k}")[:3] for k, text in zip("ABC", vectors)])
        cell_repeats = _repeats(c.get("MULTIPLE_UNIT_CELL"), path, "&CELL MULTIPLE_UNIT_CELL")
    topo = subsys.find("TOPOLOGY")
    if topo:
        topology_repeats = _repeats(topo[0].get("MULTIPLE_UNIT_CELL"), path, "&TOPOLOGY MULTIPLE_UNIT_CELL")
    if topology_repeats != (1, 1, 1) and topology_repeats != cell_repeats:
        # CP2K aborts on this too (topology_multiple_unit_cell.F, topology_muc)
        raise ParseError(path, f"&TOPOLOGY MULTIPLE_UNIT_CELL {topology_repeats} differs from &CELL MULTIPLE_UNIT_CELL {cell_repeats}")
    if cell_repeats != (1, 1, 1) and cell is None:
        raise ParseError(path, "MULTIPLE_UNIT_CELL needs the cell, and &CELL gives none dftpost reads (ABC or A, B, C)")
    atoms = _input_coordinates(subsys, cell, path, warnings)
    if atoms is None:
        return None
    return _replicate(atoms, cell, cell_repeats, topology_repeats)


def _repeats(text: str | None, path: Path, what: str) -> tuple[int, int, int]:
    """Three positive integers of a ``MULTIPLE_UNIT_CELL`` keyword (1 1 1 when absent)."""
    if text is None:
        return (1, 1, 1)
    try:
        repeats = tuple(int(x) for x in text.split())
    except ValueError:
        repeats = ()
    if len(repeats) != 3 or min(repeats) < 1:
        raise ParseError(path, f"{what} {text!r} is not three positive integers")
    return repeats


def _replicate(atoms: Atoms, unit_cell: np.ndarray | None, cell_repeats, topology_repeats) -> Atoms:
    """The structure CP2K builds: the cell is the unit cell times ``&CELL MULTIPLE_UNIT_CELL``
    (cell_methods.F, set_multiple_unit_cell); ``&TOPOLOGY MULTIPLE_UNIT_CELL`` copies all atoms
    once per image, translated by (i-1)a + (j-1)b + (k-1)c of the unit cell, with i running
    fastest and k slowest (topology_multiple_unit_cell.F, topology_muc)."""
    if unit_cell is None:
        return atoms
    if topology_repeats != (1, 1, 1):
        n1, n2, n3 = topology_repeats
        shifts = np.array([[i, j, k] for k in range(n3) for j in range(n2) for i in range(n1)]) @ unit_cell
        positions = (shifts[:, None, :] + atoms.positions[None, :, :]).reshape(-1, 3)
        atoms = Atoms(symbols=list(atoms.get_chemical_symbols()) * len(shifts), positions=positions)
    atoms.set_cell(unit_cell * np.array(cell_repeats)[:, None])
    atoms.pbc = True
    return atoms


def _input_coordinates(subsys: Cp2kSection, cell: np.ndarray | None, path: Path, warnings: list[str]) -> Atoms | None:
    """The atoms of ``&COORD`` (scaled ones against the unit ``cell``) or of the file
    ``&TOPOLOGY COORD_FILE_NAME`` names, in Å, before any replication."""
    coord = subsys.find("COORD")
    if coord:
        symbols: list[str] = []
        positions: list[list[float]] = []
        scaled = _bool(coord[0].get("SCALED")) if coord[0].get("SCALED") is not None else False
        factor = _length_unit(coord[0].get("UNIT") or "angstrom", path, "&COORD UNIT")
        for key, value in coord[0].keywords:
            if key in ("SCALED", "UNIT"):
                continue
            parts = value.split()
            letters = re.match(r"[A-Za-z]+", key)
            symbols.append(letters.group(0).capitalize() if letters else key)
            xyz = _numbers(" ".join(parts[:3]), path, f"&COORD line for {key}", 3)
            positions.append(xyz if scaled else [x * factor for x in xyz])
        if scaled and cell is None:
            raise ParseError(path, "&COORD SCALED needs the cell, and &CELL gives none dftpost reads (ABC or A, B, C)")
        if not symbols:
            return None
        if scaled:
            positions = (np.array(positions) @ cell).tolist()
        return Atoms(symbols=_elements(symbols, path), positions=positions)
    topo = subsys.find("TOPOLOGY")
    name = topo[0].get("COORD_FILE_NAME") if topo else None
    if not name:
        return None
    coord_path = (path.parent / name.strip("'\"")).resolve()
    if not coord_path.exists():
        warnings.append(f"&TOPOLOGY COORD_FILE_NAME {name} does not exist: no structure from the input")
        return None
    regular_file(coord_path)  # a FIFO or a device would never end ASE's read
    from ase.io import read as ase_read

    try:
        loaded = cast(Atoms, ase_read(coord_path, index=-1))  # one index: one structure
    except Exception as exc:  # noqa: BLE001  (ase raises many kinds for bad files)
        raise ParseError(coord_path, f"cannot read the coordinates: {' '.join(str(exc).split())}") from None
    if not np.isfinite(loaded.positions).all():
        raise ParseError(coord_path, "coordinates that are not finite numbers (NaN or Inf)")
    if cell is None:
        return loaded
    return Atoms(symbols=loaded.get_chemical_symbols(), positions=loaded.positions)


def _elements(symbols: list[str], path: Path) -> list[str]:
    out = []
    for s in symbols:
        element = s if s in atomic_numbers else re.match(r"[A-Z][a-z]?", s.capitalize())
        element = element if isinstance(element, str) else (element.group(0) if element else None)
        if element not in atomic_numbers:
            raise ParseError(path, f"&COORD kind {s!r} is not an element symbol")
        out.append(element)
    return out


_LENGTH_UNITS = {"angstrom": 1.0, "bohr": BOHR_A, "nm": 10.0, "pm": 0.01}


def _length_unit(unit: str, path: Path, what: str) -> float:
    """Å per unit of a CP2K length unit name."""
    try:
        return _LENGTH_UNITS[unit.strip().lower()]
    except KeyError:
        raise ParseError(path, f"{what}: unit {unit!r} is not one dftpost reads ({', '.join(_LENGTH_UNITS)})") from None


def _lengths(text: str, path: Path, what: str) -> list[float]:
    """Three lengths in Å from ``[unit] x y z`` (CP2K's default unit for cells: Å)."""
    m = re.match(r"\s*\[([^\]]*)\]", text)
    factor = _length_unit(m.group(1), path, what) if m else 1.0
    return [x * factor for x in _numbers(text[m.end() :] if m else text, path, what, 3)]


def _numbers(text: str, path: Path, what: str, at_least: int = 0) -> list[float]:
    """The finite numbers of ``text`` (unit brackets dropped): at least ``at_least`` of them."""
    text = re.sub(r"\[[^\]]*\]", "", text)
    try:
        numbers = [float(x) for x in text.split()]
    except ValueError:
        raise ParseError(path, f"{what}: {text!r} are not numbers") from None
    if len(numbers) < at_least or not all(math.isfinite(x) for x in numbers):
        raise ParseError(path, f"{what}: {text!r} is not {at_least or 'some'} finite numbers")
    return numbers


#: W/cm² per squared atomic unit of field: CP2K's I = 3.50944e16 E0² (cp_control_utils.F, efield_utils.F)
_INTENSITY_W_CM2_PER_AU2 = 3.50944e16
#: V/Å per unit of an &EFIELD AMPLITUDE (CP2K ≥ 2026.2, cp_units.F; default V/m)
_FIELD_UNITS = {"VM-1": 1e-10, "VOLT_PER_M": 1e-10, "VNM-1": 0.1, "VOLT_PER_NM": 0.1, "VA-1": 1.0,
                "VOLT_PER_ANGSTROM": 1.0, "AU_EFIELD": FIELD_AU_V_PER_A}


def _input_field(dft: Cp2kSection, path: Path) -> tuple[np.ndarray | None, str | None]:
    """The applied field (V/Å) of ``&PERIODIC_EFIELD`` (INTENSITY in a.u.), of the ``&EFIELD``
    sections (:func:`_efield`) or of a linear ``&EXTERNAL_POTENTIAL``."""
    periodic = dft.find("PERIODIC_EFIELD")
    if periodic:
        s = periodic[0]
        intensity = finite_float(s.get("INTENSITY") or "0.0", path, "&PERIODIC_EFIELD INTENSITY")
        pol = np.array(_numbers(s.get("POLARISATION") or s.get("POLARIZATION") or "0 0 1", path, "POLARISATION", 3)[:3])
        norm = np.linalg.norm(pol)
        if norm == 0:
            return None, None
        return intensity * FIELD_AU_V_PER_A * pol / norm, "&PERIODIC_EFIELD"
    efields = dft.find("EFIELD")
    if efields:
        return np.sum([_efield(s, path) for s in efields], axis=0), "&EFIELD"
    ext = dft.find("EXTERNAL_POTENTIAL")
    if ext:
        s = ext[0]
        function = (s.get("FUNCTION") or "").replace(" ", "").upper()
        m = re.fullmatch(r"([-+]?)([A-Z]\w*)\*([XYZ])", function)
        params = (s.get("PARAMETERS") or "").upper().split()
        values = (s.get("VALUES") or "").split()
        if m and m.group(2) in params and len(values) == len(params):
            slope = finite_float(values[params.index(m.group(2))], path, "&EXTERNAL_POTENTIAL VALUES") * (-1 if m.group(1) == "-" else 1)
            vec = np.zeros(3)
            vec["XYZ".index(m.group(3))] = -slope * FIELD_AU_V_PER_A  # E = -dφ/dx
            return vec, "&EXTERNAL_POTENTIAL (linear)"
    return None, None
