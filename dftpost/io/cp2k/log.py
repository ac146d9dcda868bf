"""The CP2K output log: version, Fermi level, gap, electrons, slab dipole, field, structure.

CP2K writes Hartree and Bohr; here energies are eV, lengths Å, fields V/Å and dipoles e·Å.
The slab dipole CP2K prints (``Total dipole moment perpendicular to the slab``) counts
electrons as positive charge; :class:`Cp2kLog` stores it with the physical sign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from ...errors import ParseError
from ...units import FIELD_AU_V_PER_A, HARTREE_EV
from ..files import read_text
from ..text import finite_float


@dataclass(frozen=True, eq=False)
class Cp2kLog:
    """Facts from a CP2K output log. Energies in eV, dipole in e·Å (physical sign), field V/Å.

    ``fermi_level_eV`` is the last ``MO| E(Fermi)`` / ``Fermi energy`` / ``Fermi Energy [eV]``
    value; under OT (``uses_ot``) CP2K 2023.1 prints a wrong ``MO| E(Fermi)``, so prefer the
    .pdos header there. ``slab_dipole_e_A`` is minus the printed ``Total dipole moment
    perpendicular to the slab`` (CP2K counts electrons as positive).
    """

    path: Path
    program_version: str | None
    project: str | None
    input_file: str | None
    finished: bool
    uses_ot: bool
    fermi_level_eV: float | None
    homo_lumo_gap_eV: float | None
    n_electrons: int | None
    electronic_density_integral: float | None
    slab_dipole_e_A: float | None
    surface_dipole_correction: bool
    periodic_efield_V_per_A: np.ndarray | None
    n_atoms: int | None
    cell_A: np.ndarray | None
    atoms: Atoms | None = None
    atom_kinds: tuple[int, ...] = ()
    kind_names: dict[int, str] = field(default_factory=dict)
    core_charges_e: np.ndarray | None = None
    warnings: tuple[str, ...] = field(default=())


_LOG_VERSION = re.compile(r"CP2K\|\s+version string:\s+(?:CP2K version\s+)?(.+?)\s*$", re.MULTILINE)
_LOG_PROJECT = re.compile(r"GLOBAL\|\s+Project name\s+(\S+)", re.MULTILINE)
_LOG_INPUT = re.compile(r"CP2K\|\s+Input file name\s+(\S+)", re.MULTILINE)
_LOG_FERMI = (
    re.compile(r"MO\|\s*E\(Fermi\):\s+(?P<au>\S+)\s+a\.u\.", re.MULTILINE),
    re.compile(r"^\s*Fermi energy:\s+(?P<au>\S+)\s*$", re.MULTILINE),
    re.compile(r"Fermi Energy \[eV\]\s*:\s*(?P<ev>\S+)", re.MULTILINE),
)
_LOG_GAP = re.compile(r"(?:MO\|\s*Band gap:|HOMO - LUMO gap \[eV\]\s*:)\s+(?P<value>\S+)(?P<au>\s+a\.u\.)?", re.MULTILINE)
_LOG_DIPOLE = re.compile(r"Total dipole moment perpendicular to\s*\n\s*the slab \[electrons-Angstroem\]:\s+(\S+)")
#: the electrons of the SCF, printed once per spin (after ``Spin 1`` / ``Spin 2``) in a
#: spin-polarised run (qs_scf_output.F, qs_scf_initial_info: "(/,T2,A,I2)" then
#: "(/,(T2,A,T71,I10))"); DFT+U kind lines ("(T9,A,T75,F6.2)") are not these
_LOG_ELECTRONS = re.compile(r"^(?: Spin (?P<spin>[12])[ \t]*\n[ \t]*\n)? {1,2}Number of electrons:\s+(?P<n>\d+)[ \t]*$", re.MULTILINE)
_LOG_DENSITY = re.compile(r"Electronic density on regular grids:\s+(\S+)")
_LOG_ATOMS = re.compile(r"- Atoms:\s+(\d+)")
_LOG_CELL = re.compile(r"CELL\|\s+Vector ([abc]) \[angstrom\]:?\s+(\S+)\s+(\S+)\s+(\S+)")
_LOG_EFIELD_POL = re.compile(r"PERIODIC_EFIELD\|\s+(?:Polarisation vector:)?\s+([xyz])\s+(\S+)")
_LOG_EFIELD_INT = re.compile(r"PERIODIC_EFIELD\|\s+Intensity \[a\.u\.\]:\s+(\S+)")


def read_log(path: str | Path) -> Cp2kLog:
    """Parse a CP2K output log (any version seen: 6.1 to 2023.1)."""
    path = Path(path)
    try:
        text = read_text(path)
    except UnicodeDecodeError:
        raise ParseError(path, "not a text file (is this a CP2K output?)") from None
    version = _LOG_VERSION.search(text)
    if version is None and "CP2K|" not in text:
        raise ParseError(path, "not a CP2K output (no 'CP2K|' header lines)")
    warnings: list[str] = []
    fermi = None
    for pattern in _LOG_FERMI:
        hits = list(pattern.finditer(text))
        if hits:
            fermi = _last_fermi_level(text, hits, path)
            break
    uses_ot = bool(re.search(r"^\s*-+ OT -+\s*$", text, re.MULTILINE))  # the OT settings banner of the SCF
    gap = _gap(text, path, warnings)
    dipoles = _LOG_DIPOLE.findall(text)
    electrons = _electron_count(text)
    density = _LOG_DENSITY.findall(text)
    atom_counts = _LOG_ATOMS.findall(text)
    cell: dict[str, list[float]] = {}  # the last cell printed
    cells: list[tuple[int, dict[str, list[float]]]] = []  # each complete cell and where it ends
    for m in _LOG_CELL.finditer(text):
        cell[m.group(1)] = [finite_float(m.group(i), path, f"cell vector {m.group(1)}") for i in (2, 3, 4)]
        if m.group(1) == "c" and len(cell) == 3:
            cells.append((m.end(), dict(cell)))
    n_atoms = int(atom_counts[0]) if atom_counts else None
    atoms, kinds, core = _log_coordinates(text, cells, path, n_atoms, "PROGRAM ENDED AT" in text)
    kind_names = {int(i): name for i, name in _LOG_KIND.findall(text)}
    efield = None
    intensities = _LOG_EFIELD_INT.findall(text)
    if intensities:
        pol = {axis: finite_float(v, path, "PERIODIC_EFIELD polarisation") for axis, v in _LOG_EFIELD_POL.findall(text)}
        vector = np.array([pol.get(a, 0.0) for a in "xyz"])
        norm = np.linalg.norm(vector)
        if norm == 0:
            warnings.append("PERIODIC_EFIELD with a zero polarisation vector")
        else:
            efield = finite_float(intensities[-1], path, "PERIODIC_EFIELD intensity") * FIELD_AU_V_PER_A * vector / norm
    failed = text.rfind("SCF run NOT converged")
    if failed >= 0 and failed > max(text.rfind("SCF run converged in"), text.rfind("outer SCF loop converged")):
        warnings.append("the last SCF did not converge ('SCF run NOT converged'): its Fermi level, gap and DoS "
                        "are those of an unconverged density")
    if uses_ot and fermi is not None and _LOG_FERMI[0].search(text):
        warnings.append("run uses OT: CP2K's MO| E(Fermi) line is unreliable; prefer the .pdos header")
    return Cp2kLog(
        path=path,
        program_version=version.group(1) if version else None,
        project=_first(_LOG_PROJECT, text),
        input_file=_first(_LOG_INPUT, text),
        finished="PROGRAM ENDED AT" in text,
        uses_ot=uses_ot,
        fermi_level_eV=fermi,
        homo_lumo_gap_eV=gap,
        n_electrons=electrons,
        electronic_density_integral=finite_float(density[-1], path, "electronic density integral") if density else None,
        slab_dipole_e_A=-finite_float(dipoles[-1], path, "slab dipole") if dipoles else None,
        surface_dipole_correction=bool(dipoles) or "SURFACE_DIPOLE_CORRECTION" in text,
        periodic_efield_V_per_A=efield,
        n_atoms=n_atoms,
        cell_A=np.array([cell[k] for k in "abc"]) if len(cell) == 3 else None,
        atoms=atoms,
        atom_kinds=kinds,
        kind_names=kind_names,
        core_charges_e=core,
        warnings=tuple(warnings),
    )


#: the headline of one spin's MO values: "Eigenvalues of the occupied subspace spin 2" above
#: "Fermi Energy [eV]" (qs_mo_methods.F, make_mo_eig), "MO| BETA ..." above "MO| E(Fermi)"
#: (qs_mo_io.F, write_mo_set_to_output_unit)
_LOG_SPIN_HEADLINE = re.compile(r"occupied subspace spin\s+(?P<n>[12])\b|MO\|\s+(?P<ab>ALPHA|BETA)\b")


def _spin_of(text: str, hits: list[re.Match], i: int) -> int | None:
    """The spin (1, 2) of the headline printed last before ``hits[i]`` and after ``hits[i-1]``."""
    lines = list(_LOG_SPIN_HEADLINE.finditer(text, hits[i - 1].end() if i else 0, hits[i].start()))
    if not lines:
        return None
    return int(lines[-1]["n"]) if lines[-1]["n"] else (1 if lines[-1]["ab"] == "ALPHA" else 2)


def _fermi_value(m: re.Match, path: Path) -> float:
    number = finite_float(m["au"] if m.groupdict().get("au") else m["ev"], path, "Fermi level")
    return number * HARTREE_EV if m.groupdict().get("au") else number


def _last_fermi_level(text: str, hits: list[re.Match], path: Path) -> float:
    """The Fermi level (eV) of the last of ``hits``; in a spin-polarised run, where CP2K prints
    one per spin (each channel's μ, its HOMO without smearing), the higher of the last two, as
    CP2K itself takes for both spins' energy zero (qs_pdos.F v2026.2, MAXVAL(e_fermi_ref))."""
    last = len(hits) - 1
    if last > 0 and _spin_of(text, hits, last) == 2 and _spin_of(text, hits, last - 1) == 1:
        return max(_fermi_value(hits[last - 1], path), _fermi_value(hits[last], path))
    return _fermi_value(hits[last], path)


def _gap(text: str, path: Path, warnings: list[str]) -> float | None:
    """The HOMO-LUMO gap (eV) printed last. A spin-polarised run prints one ``HOMO - LUMO gap
    [eV]`` line per spin (qs_scf_post_gpw.F v2023.1:655-663: each channel's LUMO - HOMO), right
    after the channels' ``Fermi Energy [eV]`` (their HOMOs): the run's gap is the lowest LUMO
    minus the highest HOMO."""
    gaps = list(_LOG_GAP.finditer(text))
    if not gaps:
        return None
    g = finite_float(gaps[-1]["value"], path, "band gap")
    last = g * HARTREE_EV if gaps[-1]["au"] else g
    if len(gaps) < 2 or gaps[-1]["au"] or text[gaps[-2].end() : gaps[-1].start()].strip():
        return last
    first = finite_float(gaps[-2]["value"], path, "band gap")  # two lines in a row: one per spin
    homos = list(_LOG_FERMI[2].finditer(text, 0, gaps[-2].start()))
    n = len(homos) - 1
    if n < 1 or _spin_of(text, homos, n) != 2 or _spin_of(text, homos, n - 1) != 1:
        warnings.append("a HOMO-LUMO gap per spin without both channels' HOMOs: no gap of the run")
        return None
    h1, h2 = (_fermi_value(m, path) for m in homos[-2:])
    return min(h1 + first, h2 + last) - max(h1, h2)


def _electron_count(text: str) -> int | None:
    """The electrons of the last SCF: its ``Number of electrons``, or in a spin-polarised run
    the sum of the two channels' counts printed after ``Spin 1`` and ``Spin 2``."""
    hits = list(_LOG_ELECTRONS.finditer(text))
    if not hits:
        return None
    last = hits[-1]
    if last["spin"] == "2" and len(hits) > 1 and hits[-2]["spin"] == "1":
        return int(hits[-2]["n"]) + int(last["n"])
    return int(last["n"])


_LOG_COORD_TABLE = re.compile(r"ATOMIC COORDINATES IN ANGSTROM\s*\n\s*\n\s*Atom\s+Kind\s+Element[^\n]*\n", re.IGNORECASE)
_LOG_COORD_ROW = re.compile(
    r"^\s*(\d+)\s+(\d+)\s+([A-Z][a-z]?)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s*$"
)
_LOG_KIND = re.compile(r"^\s*(\d+)\. Atomic kind:\s+(\S+)", re.MULTILINE)


def _log_coordinates(
    text: str, cells: list[tuple[int, dict]], path: Path, n_atoms: int | None, finished: bool
) -> tuple[Atoms | None, tuple[int, ...], np.ndarray | None]:
    """The last ``ATOMIC COORDINATES IN ANGSTROM`` table: structure, kind of each atom, Z(eff),
    in the cell printed last before it (``cells``: each complete ``CELL|`` block and where it
    ends; a CELL_OPT or NPT run prints later cells, but not the coordinates that go with them).

    The table must hold one row per atom (``- Atoms:``), each row numbered in turn; only the
    table of a log that ends inside it (a run still writing) may be short: then no structure.
    """
    tables = list(_LOG_COORD_TABLE.finditer(text))
    if not tables:
        return None, (), None
    before = [c for end, c in cells if end < tables[-1].start()]
    cell = before[-1] if before else (cells[-1][1] if cells else {})
    rows: list[tuple[str, ...]] = []
    line_no = text.count("\n", 0, tables[-1].end())
    lines = text[tables[-1].end() :].splitlines()
    ended = True  # the table runs to the end of the text (or into its last, unfinished line)
    for i, line in enumerate(lines):
        line_no += 1
        m = _LOG_COORD_ROW.match(line)
        if m is None:
            cut = i == len(lines) - 1 and not text.endswith("\n")  # the unfinished last line
            if rows or cut:
                ended = cut
                break
            if line.strip():
                raise ParseError(path, f"line {line_no}: expected the first row of the coordinate table, found {line.strip()[:60]!r}")
            continue
        if int(m.group(1)) != len(rows) + 1:
            raise ParseError(path, f"line {line_no}: coordinate row {m.group(1)} where row {len(rows) + 1} belongs")
        rows.append(m.groups())
    if n_atoms is not None and len(rows) != n_atoms:
        if ended and not finished and len(rows) < n_atoms:
            return None, (), None
        raise ParseError(
            path, f"the coordinate table ends after {len(rows)} rows, the log announces {n_atoms} atoms (line {line_no})"
        )
    if not rows:
        return None, (), None

    def number(r: tuple[str, ...], i: int, what: str) -> float:
        return finite_float(r[i], path, f"{what} of atom {r[0]}")

    atoms = Atoms(
        symbols=[r[2] for r in rows],
        positions=[[number(r, 4, "x"), number(r, 5, "y"), number(r, 6, "z")] for r in rows],
        cell=[cell[k] for k in "abc"] if len(cell) == 3 else None,
        pbc=len(cell) == 3,
    )
    return atoms, tuple(int(r[1]) for r in rows), np.array([number(r, 7, "Z(eff)") for r in rows])


def _first(pattern: re.Pattern, text: str) -> str | None:
    m = pattern.search(text)
    return m.group(1) if m else None
