"""FHI-aims: projected DoS files and the facts of ``aims.out``.

DoS files (``output atom_proj_dos``, ``species_proj_dos``, ``dos`` and their ``_tetrahedron``
variants) differ in name and header text between FHI-aims versions; names are matched by their
parts (``atom_proj_dos`` or ``atom_projected_dos``, ``_l_proj_dos``, ``KS_DOS_total``, ``tetrahedron``, ``raw``,
``spin_up``/``spin_dn``, ``.no_soc``) in any order, and the header is read for the chemical
potential (``mu = ... eV``) and the column names. Energies are eV; the DoS is states/eV.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..dos import L_LABELS, ProjectedDos, Projection, check_compatible
from ..errors import MissingInputError, ParseError
from .files import read_bytes, read_text
from .text import numeric_table

_SPIN = re.compile(r"spin[_-]?(up|dn|down)", re.I)


@dataclass(frozen=True)
class AimsDosName:
    """What an FHI-aims DoS file name says.

    ``what`` is ``"atom"``, ``"species"`` or ``"total"``; ``atom_index`` is 0-based.
    ``spin`` is ``"up"``, ``"dn"`` or ``None``; ``raw`` files are on FHI-aims' internal energy
    zero instead of shifted by the chemical potential; ``no_soc`` marks the scalar-relativistic
    set of a spin–orbit run.
    """

    what: str
    species: str | None
    atom_index: int | None
    spin: str | None
    raw: bool
    tetrahedron: bool
    no_soc: bool


def parse_dos_name(path: str | Path) -> AimsDosName | None:
    """Classify an FHI-aims DoS file by name, or None if it is not one."""
    name = Path(path).name
    no_soc = name.endswith(".no_soc")
    if no_soc:
        name = name[: -len(".no_soc")]
    if not name.endswith(".dat"):
        return None
    stem = name[:-4]
    spin_match = _SPIN.search(stem)
    spin = None
    if spin_match:
        spin = "up" if spin_match.group(1).lower() == "up" else "dn"
        stem = stem[: spin_match.start()] + stem[spin_match.end() :]
    tetrahedron = "tetrahedron" in stem
    stem = stem.replace("tetrahedron", "")
    raw = bool(re.search(r"(^|_)raw(_|$)", stem))
    stem = re.sub(r"(^|_)raw(?=_|$)", "", stem)
    stem = re.sub(r"_+", "_", stem).strip("_")
    if stem.startswith(("atom_proj_dos", "atom_projected_dos")):
        m = re.fullmatch(r"atom_proj(?:ected)?_dos_?(?P<sp>.+?)(?P<idx>\d{4,})", stem)
        if m is None:
            return None
        return AimsDosName("atom", m["sp"], int(m["idx"]) - 1, spin, raw, tetrahedron, no_soc)
    m = re.fullmatch(r"(?P<sp>.+?)_l_proj_dos", stem)
    if m:
        return AimsDosName("species", m["sp"], None, spin, raw, tetrahedron, no_soc)
    if stem == "KS_DOS_total":
        return AimsDosName("total", None, None, spin, raw, tetrahedron, no_soc)
    return None


_MU = re.compile(r"mu\s*=\s*([-+]?\d+\.\d*(?:[EeDd][-+]?\d+)?)\s*eV", re.I)


def read_dos(path: str | Path, fermi_level_eV: float | None = None, program_version: str | None = None) -> ProjectedDos:
    """One FHI-aims DoS file as a grid-form :class:`~dftpost.dos.ProjectedDos`.

    Energies are returned relative to the chemical potential μ. A shifted file carries μ in its
    header; a ``_raw`` file does not, so ``fermi_level_eV`` (from ``aims.out``) must be given
    for it. Orbital columns ``l= 0`` ... are kept as ``s, p, d, ...``; a ``KS_DOS_total`` file
    with two DOS columns becomes two spin channels.

    The DoS follows :class:`~dftpost.dos.ProjectedDos`' convention (one channel counts both
    spins). FHI-aims writes it so since 171221 (``spin_degeneracy`` × weight, output_mulliken.f90
    and output_KS_dos.f90); up to 151211 a spin-restricted file counted one state per orbital, and
    its values are doubled when ``program_version`` (from aims.out) says the run is that old.
    """
    path = Path(path)
    name = parse_dos_name(path)
    try:
        blob = read_bytes(path)
    except OSError as exc:
        raise MissingInputError(path, f"cannot read: {exc.strerror}") from None
    if b"\0" in blob[:4096]:
        raise ParseError(path, "binary data, not an FHI-aims DoS text file")
    head = blob[:4096].decode("ascii", errors="replace")
    header = [line for line in head.splitlines()[:20] if line.lstrip().startswith("#")]
    if not header:
        raise ParseError(path, "no '#' header lines: not an FHI-aims DoS file")
    mu_match = next((m for m in map(_MU.search, header) if m), None)
    columns_line = next((line for line in reversed(header) if re.search(r"Energy\s*\(eV\)", line, re.I)), None)
    if columns_line is None:
        raise ParseError(path, "no column header ('# Energy (eV) ...') in the file")
    columns = _dos_columns(columns_line)
    data = numeric_table(blob, path)
    if data.shape[1] != len(columns):
        raise ParseError(
            path, f"data lines have {data.shape[1]} columns, the header names {len(columns)}: {columns_line.strip()}"
        )
    energies = data[:, 0]
    steps = np.diff(energies)
    if np.any(steps <= 0):
        raise ParseError(path, "energies are not increasing: a damaged or concatenated file")
    if steps.size and np.ptp(steps) > 1e-6 * max(1.0, abs(float(steps[0]))):
        # FHI-aims writes an even grid (printed to 1e-8 eV): a line is missing or out of place
        k = int(np.argmax(np.abs(steps - np.median(steps))))
        raise ParseError(path, f"the energy grid is uneven at data line {k + 2} ({energies[k + 1]:.8f} eV): a line is missing")
    # the header says which zero the energies are on: the chemical potential (with its value) or
    # FHI-aims' internal zero ("vacuum level", _raw files); a header that says neither: the name
    reference = " ".join(header).lower()
    if mu_match is not None or "chemical potential" in reference:
        mu = _mu_value(mu_match, path)
    elif "vacuum" in reference or (name is not None and name.raw):
        if fermi_level_eV is None:
            raise MissingInputError(
                path, "raw DoS file (energies on FHI-aims' internal zero): the Fermi level from aims.out is needed"
            )
        mu = fermi_level_eV
        energies = energies - mu
    else:
        raise ParseError(path, "the header names no energy reference (neither 'chemical potential, mu = ... eV' nor 'vacuum level')")
    if name is not None and name.what == "total" or columns[1].lower().startswith("dos"):
        if len(columns) - 1 not in (1, 2):
            raise ParseError(path, f"unexpected columns {columns} (expected energy and one or two DOS)")
        return ProjectedDos(
            fermi_level_eV=mu,
            projections=(Projection(label="total", kind="sum"),),
            values=data[:, 1:].T[:, None, :] * _restricted_factor(len(columns) - 1, program_version),
            energies_eV=energies,
            sources=(path,),
        )
    orbitals, orbital_values = [], []
    for j, column in enumerate(columns[2:], start=2):
        m = re.fullmatch(r"l=\s*(\d+)", column)
        if m is None or int(m.group(1)) >= len(L_LABELS):
            raise ParseError(path, f"unexpected column {column!r} (expected 'l= N')")
        orbitals.append(L_LABELS[int(m.group(1))])
        orbital_values.append(data[:, j])
    factor = _restricted_factor(1 if name is None or name.spin is None else 2, program_version)
    species = name.species if name else _species_from_header(header)
    if name is not None and name.what == "atom" and name.atom_index is not None:  # an atom always has its index
        projection = Projection(
            label=f"{species}{name.atom_index + 1:04d}", kind="atom", atom_indices=(name.atom_index,), species=species
        )
    else:
        projection = Projection(label=species or path.stem, kind="species", species=species)
    return ProjectedDos(
        fermi_level_eV=mu,
        projections=(projection,),
        values=data[:, 1][None, None, :] * factor,
        energies_eV=energies,
        orbitals=tuple(orbitals),
        orbital_values=np.array(orbital_values)[None, None, :, :] * factor if orbitals else None,
        sources=(path,),
    )


#: The first FHI-aims version seen to count both spins in a spin-restricted DoS file (151211 is
#: the last seen counting one state per orbital; the versions between are not verified).
BOTH_SPINS_SINCE = 20171221


def _restricted_factor(n_channels: int, program_version: str | None) -> float:
    """2 for a spin-restricted DoS (one channel) of an FHI-aims older than
    :data:`BOTH_SPINS_SINCE`, which counted one state per orbital; else 1."""
    date = version_date(program_version)
    return 2.0 if n_channels == 1 and date is not None and date < BOTH_SPINS_SINCE else 1.0


def version_date(version: str | None) -> int | None:
    """An FHI-aims version as the integer YYYYMMDD of its date, or None.

    Versions are dates: ``yymmdd`` since 2015 (``151211``, ``210716.2``), ``mmddyy`` before
    (``071914_7``); a string that is neither gives None."""
    m = re.match(r"(\d\d)(\d\d)(\d\d)", version or "")
    if m is None:
        return None
    a, b, c = (int(x) for x in m.groups())
    if 1 <= b <= 12 and 1 <= c <= 31:
        return 20000000 + a * 10000 + b * 100 + c
    if 1 <= a <= 12 and 1 <= b <= 31:
        return 20000000 + c * 10000 + a * 100 + b
    return None


def _mu_value(match: re.Match | None, path: Path) -> float:
    mu = float(match.group(1).replace("D", "E").replace("d", "e")) if match else math.nan
    if not math.isfinite(mu):
        raise ParseError(path, "the header gives the chemical potential, but no finite number 'mu = <value> eV'")
    return mu


def _species_from_header(header: list[str]) -> str | None:
    for line in header:
        m = re.search(r"for species\s+(\S+?)\s*(?:as calculated|$)", line)
        if m:
            return m.group(1)
    return None


def _dos_columns(line: str) -> list[str]:
    """Column names from '#  Energy (eV)  total dos  l= 0 ...' or '# Energy (eV) DOS(spin up) ...'."""
    text = line.lstrip("#").strip()
    text = re.sub(r"Energy\s*\(eV\)", "Energy", text, flags=re.I)
    text = re.sub(r"total\s+dos", "total", text, flags=re.I)
    text = re.sub(r"l=\s*(\d+)", r"l=\1", text)
    text = re.sub(r"DOS\s*\(spin\s*(up|down|dn)\)", r"DOS_\1", text, flags=re.I)
    return text.split()


def read_dos_files(
    paths: list[Path], fermi_level_eV: float | None = None, program_version: str | None = None
) -> ProjectedDos:
    """Several per-atom (or per-species) DoS files of one run as one DoS (see :func:`read_dos`
    for ``fermi_level_eV`` and ``program_version``).

    Projections are ordered by atom index (or species name); ``spin_up``/``spin_dn`` files become
    spin channels 0 and 1. All files must share the energy grid and μ.
    """
    if not paths:
        raise MissingInputError(None, "no FHI-aims DoS files given")
    named = []
    for p in paths:
        n = parse_dos_name(p)
        if n is None:
            raise ParseError(p, "not an FHI-aims DoS file name (atom_proj_dos_*, *_l_proj_dos*, KS_DOS_total*)")
        named.append((n, p))
    spins = sorted({n.spin for n, _ in named}, key=lambda s: {None: 0, "up": 1, "dn": 2}[s])
    if None in spins and len(spins) > 1:
        raise ParseError(paths[0].parent, "mixes spin-polarised and spin-summed DoS files")
    if spins in (["up"], ["dn"]):
        other = "spin_dn" if spins == ["up"] else "spin_up"
        raise MissingInputError(
            paths[0].parent,
            f"only spin_{spins[0]} DoS files ({', '.join(p.name for _, p in named[:3])}{' ...' if len(named) > 3 else ''}): "
            f"their {other} twins, the other spin channel, are missing",
        )
    per_spin = []
    for spin in spins:
        chosen = sorted(
            ((n, p) for n, p in named if n.spin == spin),
            key=lambda item: (item[0].atom_index if item[0].atom_index is not None else -1, item[0].species or ""),
        )
        per_spin.append(ProjectedDos.concatenate([read_dos(p, fermi_level_eV, program_version) for _, p in chosen]))
    if len(per_spin) == 1:
        return per_spin[0]
    up, dn = per_spin
    if up.labels != dn.labels:
        raise MissingInputError(
            paths[0].parent,
            "spin_up and spin_dn files do not cover the same atoms: no spin_dn for "
            f"{', '.join(sorted(set(up.labels) - set(dn.labels))) or '-'}, no spin_up for "
            f"{', '.join(sorted(set(dn.labels) - set(up.labels))) or '-'}",
        )
    check_compatible(up, dn)  # one energy grid and one μ for both channels
    return replace(
        up,
        values=np.concatenate([up.values, dn.values]),
        orbital_values=None
        if up.orbital_values is None or dn.orbital_values is None
        else np.concatenate([up.orbital_values, dn.orbital_values]),
        sources=up.sources + dn.sources,
    )


# ----------------------------------------------------------------------------- geometry.in
def read_geometry(path: str | Path):
    """``geometry.in`` as :class:`ase.Atoms` (Å), for files ASE's reader refuses.

    Reads ``lattice_vector`` (Å), ``atom x y z Sp`` (Cartesian, Å) and ``atom_frac a b c Sp``
    (fractions of the lattice vectors) in any mix and order, as FHI-aims does (ASE refuses
    Cartesian and fractional atoms in one file). Every other keyword (``initial_moment``,
    ``constrain_relaxation``, ``homogeneous_field``, ...) and ``#`` comments are ignored.
    Raises :class:`ParseError` naming the file and line for anything it cannot use.
    """
    path = Path(path)
    try:
        text = read_text(path)
    except UnicodeDecodeError:
        raise ParseError(path, "not a text file") from None
    except OSError as exc:
        raise MissingInputError(path, f"cannot read: {exc.strerror}") from None
    return _structure(enumerate(text.splitlines(), start=1), path)


#: The headings above the structures aims.out prints: after each relaxation step, at the end of
#: a relaxation, after each molecular-dynamics step.
_AIMS_STRUCTURE = re.compile(
    r"^\s*(?:Updated atomic structure:|Final atomic structure:|(?:Final a|A)tomic structure \(and velocities\) as used in the preceding time step:)",
    re.M,
)
_STRUCTURE_WORDS = ("lattice_vector", "atom", "atom_frac", "velocity")


def read_output_structure(path: str | Path):
    """The last structure aims.out prints (:class:`ase.Atoms`, Å): the final geometry of a
    relaxation or the last step of molecular dynamics; None if it prints none.

    Its lines are those of geometry.in (``lattice_vector``, ``atom``, ``velocity``); a block
    without lattice vectors (fixed cell) keeps the last ones printed before it.
    """
    path = Path(path)
    text = read_text(path, errors="replace")
    heads = list(_AIMS_STRUCTURE.finditer(text))
    if not heads:
        return None
    at = heads[-1].end()
    lines = []
    for number, line in enumerate(text[at:].splitlines(), start=text.count("\n", 0, at) + 1):
        words = line.split()
        if words and words[0] in _STRUCTURE_WORDS:
            lines.append((number, line))
        elif words and lines:
            break
    if not any(line.split()[0] == "lattice_vector" for _n, line in lines):
        before = [(text.count("\n", 0, m.start()) + 1, m.group(0)) for m in re.finditer(r"(?m)^\s*lattice_vector\s.*$", text[:at])]
        lines = before[-3:] + lines
    return _structure(lines, path)


def _structure(numbered_lines, path: Path):
    """Atoms (Å) from numbered geometry.in-style lines; ParseError naming file and line."""
    from ase import Atoms
    from ase.data import atomic_numbers

    lattice, atoms = [], []
    for number, line in numbered_lines:
        words = line.split("#", 1)[0].split()
        if not words or words[0] not in ("lattice_vector", "atom", "atom_frac"):
            continue
        if len(words) < (4 if words[0] == "lattice_vector" else 5):
            raise ParseError(path, f"line {number}: {words[0]} needs three numbers{'' if words[0] == 'lattice_vector' else ' and a species'}")
        try:
            xyz = [float(w) for w in words[1:4]]
        except ValueError:
            raise ParseError(path, f"line {number}: not three numbers: {line.strip()!r}") from None
        if not all(map(math.isfinite, xyz)):
            raise ParseError(path, f"line {number}: a coordinate that is not a finite number: {line.strip()!r}")
        if words[0] == "lattice_vector":
            lattice.append(xyz)
        else:
            atoms.append((words[0] == "atom_frac", xyz, words[4], number))
    if not atoms:
        raise ParseError(path, "no 'atom' or 'atom_frac' line")
    if lattice and len(lattice) != 3:
        raise ParseError(path, f"{len(lattice)} lattice_vector lines (FHI-aims needs none or three)")
    cell = np.array(lattice) if lattice else np.zeros((3, 3))
    positions, symbols = [], []
    for fractional, xyz, species, number in atoms:
        if fractional and not lattice:
            raise ParseError(path, f"line {number}: atom_frac without lattice vectors")
        positions.append(np.asarray(xyz) @ cell if fractional else xyz)
        element = re.match(r"[A-Z][a-z]?", species)  # FHI-aims species are named freely (O_w, Pt1)
        symbol = element.group(0) if element and element.group(0) in atomic_numbers else None
        if symbol is None:
            raise ParseError(path, f"line {number}: species {species!r} names no element")
        symbols.append(symbol)
    return Atoms(symbols=symbols, positions=positions, cell=cell, pbc=bool(lattice))


# ----------------------------------------------------------------------------- aims.out
@dataclass(frozen=True, eq=False)
class AimsOutput:
    """Facts from ``aims.out``. Energies eV (on FHI-aims' internal zero), gradients eV/Å as
    printed, field V/Å.

    A run holds one SCF cycle per geometry (one for a single point, one per step of a relaxation
    or molecular dynamics); the facts below are those of the **last converged** cycle, for which
    FHI-aims writes its DoS files (of the last cycle written when none converged).
    ``scf_fermi_levels_eV`` keeps the chemical potential of every converged cycle, in order (None
    where a cycle printed none: with ``output_level MD_light`` only the first does).

    ``fermi_level_eV`` is the chemical potential (scalar relativistic): of the last SCF iteration,
    or FHI-aims' overall Fermi level of a run with locally constrained spins; for fixed spin
    moments, where each channel has its own (``fermi_levels_spin_eV``, up and down), the overall
    μ = μ_up − N_dn/N (μ_up − μ_dn) that FHI-aims derives from them. ``fermi_level_soc_eV`` is
    the one after second-variational spin–orbit coupling, when that ran. ``dos_fermi_levels_eV``
    maps each DoS file aims.out says it wrote to the μ it printed just before
    (``| Chemical potential is ... eV.``).

    ``homo_eV``/``lumo_eV`` are FHI-aims' highest occupied and lowest unoccupied states, with
    their occupation numbers; ``fractional_occupations`` applies FHI-aims' own test (LUMO
    occupation ≥ 0.05 or HOMO occupation ≤ spin degeneracy − 0.05): then the run has no
    HOMO–LUMO gap (it is metallic within its smearing) and ``homo_lumo_gap_eV`` is None.

    Dipole correction (hartree_potential_recip.f90): the printed gradient g (eV/Å) is that of
    the physical dipole μ of the cell, g = μ/(ε0 Ω), and the printed jump is −L_z g (eV);
    ``dipole_z_e_A`` is μ itself (ions minus electrons, e·Å) where FHI-aims prints it
    (``dipole_correction_method dipole``).
    """

    path: Path
    program_version: str | None
    n_atoms: int | None
    finished: bool
    scf_converged: bool
    fermi_level_eV: float | None
    fermi_level_soc_eV: float | None
    dos_fermi_levels_eV: dict[str, float]
    dipole_correction: bool
    dipole_correction_gradient_eV_per_A: float | None
    dipole_correction_jump_eV: float | None
    vacuum_levels_eV: tuple[float | None, float | None]
    work_functions_eV: tuple[float | None, float | None]
    homogeneous_field_V_per_A: np.ndarray | None
    warnings: tuple[str, ...] = field(default=())
    dipole_z_e_A: float | None = None
    n_spin: int | None = None
    scf_fermi_levels_eV: tuple[float | None, ...] = ()
    n_scf_cycles: int = 0
    fermi_levels_spin_eV: tuple[float, float] | None = None
    homo_eV: float | None = None
    lumo_eV: float | None = None
    homo_occupation: float | None = None
    lumo_occupation: float | None = None
    fractional_occupations: bool | None = None

    @property
    def homo_lumo_gap_eV(self) -> float | None:
        """LUMO − HOMO in eV, or None when either is unknown or the occupations are fractional."""
        if self.homo_eV is None or self.lumo_eV is None or self.fractional_occupations:
            return None
        return self.lumo_eV - self.homo_eV


_AIMS_VERSION = (re.compile(r"FHI-aims version\s*:\s*(\S+)"), re.compile(r"^\s*Version\s+(\S+)\s*$", re.M))
_AIMS_MU = re.compile(r"\|\s*Chemical potential \(Fermi level\)(?: in eV)?\s*:\s*(\S+)")
_AIMS_MU_FINAL = re.compile(r"\|\s*Chemical Potential\s*:\s*(\S+)\s*eV")
_AIMS_MU_DOS = re.compile(r"\|\s*Chemical potential is\s+(\S+)\s*eV")
# fixed spin moment (advance_KS_solution.f90, format (2X,A,F15.10,A)) and locally constrained
# spins (advance_KS_solution.f90 and force_occupation.f90: "| Overall Fermi level:", then
# "|   <F22.10> Ha   <F22.10> eV.")
_AIMS_MU_SPIN = re.compile(r"\|\s*Chemical potential, spin (up|dn)\s*:\s*(\S+)\s*eV")
_AIMS_MU_CHANNEL = re.compile(r"\|\s*Chemical potential \(Fermi level\) for spin channel\s*(\d)\s*in eV\s*:\s*(\S+)")
_AIMS_MU_OVERALL = re.compile(r"\|\s*Overall Fermi level:\s*\n\s*\|\s*\S+\s*Ha\s+(\S+)\s*eV")
_AIMS_FSM_MOMENT = re.compile(r"Fixed spin moment calculation, N_up - N_down =\s*(\S+)")
_AIMS_ELECTRONS = re.compile(r"\|\s*Formal number of electrons \(from input files\)\s*:\s*(\S+)")
_AIMS_DOS_FILE = re.compile(r"to file\s+(\S+?)\.?\s*$")
_AIMS_GRADIENT = re.compile(r"\|\s*Dipole correction gradient\s*:\s*(\S+)\s*eV/Angstrom")
_AIMS_JUMP = re.compile(r"\|\s*Dipole correction potential jump\s*:\s*(\S+)\s*eV")
# output_periodic_dipole_moment.f90 (dipole_correction_method dipole): ions minus electrons, e·Å
_AIMS_DIPOLE_Z = re.compile(r"\|\s*Total dipole moment in z-direction \[eAng\]\s*:\s*(\S+)")
_AIMS_VACUUM = re.compile(r'\|\s*Potential vacuum level, "(upper|lower)" slab surface\s*:\s*(\S+)')
_AIMS_WORK = re.compile(r'\|\s*Work function \("(upper|lower)" slab surface\)\s*:\s*(\S+)')
_AIMS_FIELD = re.compile(r"Homogeneous electric field specified\. Values:\s+(\S+)\s+(\S+)\s+(\S+)")
_AIMS_ATOMS = re.compile(r"\|\s*Number of atoms\s*:\s*(\d+)")
_AIMS_SPINS = re.compile(r"\|\s*Number of spin channels\s*:\s*(\d+)")
# output_eigenfunctions.f90: "Highest occupied state (VBM) at <F15.8> eV ..." then
# "| Occupation number: <F15.8>"; the same for the lowest unoccupied state (CBM)
_AIMS_EDGE = re.compile(
    r"(Highest occupied|Lowest unoccupied) state \((?:VBM|CBM)\)(?: after the GW correction)? at\s*(\S+?)\s*eV"
    r"[^\n]*\n\s*\|\s*Occupation number:\s*(\S+)"
)
_AIMS_SCF_START = "Begin self-consistency loop"
_AIMS_SCF_DONE = "Self-consistency cycle converged"
#: FHI-aims' threshold for "fractionally occupied" (output_eigenfunctions.f90, occupation_def)
FRACTIONAL_OCCUPATION = 0.05


def read_output(path: str | Path) -> AimsOutput:
    """Parse ``aims.out`` of any FHI-aims version seen (071914 to 210716).

    Numbers are read with or without their unit glued on (171221 prints ``-6.03646384eV``).
    """
    path = Path(path)
    try:
        text = read_text(path)
    except UnicodeDecodeError:
        raise ParseError(path, "not a text file (is this aims.out?)") from None
    if not re.search(r"Invoking FHI-aims|FHI-aims version", text[:20000]):
        raise ParseError(path, "not an FHI-aims output (no 'Invoking FHI-aims' or 'FHI-aims version' in its header)")

    def num(text: str, what: str) -> float:
        return _num(text, path, what)

    version = None
    for pattern in _AIMS_VERSION:
        m = pattern.search(text[:20000])
        if m:
            version = m.group(1)
            break
    cycles = _scf_cycles(text)
    converged = [c for c in cycles if c[1] is not None]
    electrons, moment = _AIMS_ELECTRONS.search(text), _AIMS_FSM_MOMENT.search(text)
    fsm = None  # fixed spin moment: (N, N_up - N_dn)
    if moment is not None and electrons is not None:
        fsm = (num(electrons.group(1), "number of electrons"), num(moment.group(1), "spin moment"))
    scf_levels = tuple(_cycle_fermi_levels(text[start:done], fsm, num)[0] for start, done, _end in converged)
    start, done, end = converged[-1] if converged else cycles[-1]
    scf_part = text[start : done if done is not None else end]
    post = text[done:end] if done is not None else ""
    warn = []
    fermi, spin_levels = _cycle_fermi_levels(scf_part, fsm, num)
    if fermi is None and spin_levels is not None:
        warn.append("fixed spin moment run without the electron count: no overall Fermi level, only one per spin channel")
    elif fermi is None and len(cycles) > 1:
        warn.append(
            "the last SCF cycle printed no chemical potential (with output_level MD_light FHI-aims prints it for the "
            "first geometry only): the Fermi level of the final geometry is unknown"
        )
    elif fermi is None and _AIMS_SCF_START not in text:
        warn.append("aims.out holds no SCF cycle (FHI-aims stopped before the first): no chemical potential (Fermi level)")
    elif fermi is None:
        warn.append("aims.out prints no chemical potential (Fermi level) for its SCF cycle")
    dos_mu: dict[str, float] = {}
    current = None
    for line in post.splitlines():
        m = _AIMS_MU_DOS.search(line)
        if m:
            current = num(m.group(1), "chemical potential of the DoS output")
            continue
        if current is not None and "writing" in line and "DOS" in line:
            f = _AIMS_DOS_FILE.search(line)
            if f:
                dos_mu[f.group(1)] = current
    soc = None
    if done is not None and re.search(r"SOC|spin-orbit", post):
        after = _AIMS_MU.findall(post)
        soc = num(after[-1], "spin-orbit chemical potential") if after else None
    spins_match = _AIMS_SPINS.search(text)
    n_spin = int(spins_match.group(1)) if spins_match else None
    edges = {kind: (num(e, f"{kind.lower()} state energy"), num(o, "occupation number")) for kind, e, o in _AIMS_EDGE.findall(scf_part)}
    homo, lumo = edges.get("Highest occupied", (None, None)), edges.get("Lowest unoccupied", (None, None))
    fractional = None
    if homo[1] is not None and lumo[1] is not None:
        degeneracy = 1.0 if n_spin == 2 else 2.0
        fractional = lumo[1] >= FRACTIONAL_OCCUPATION or homo[1] <= degeneracy - FRACTIONAL_OCCUPATION
        if fractional:
            warn.append(
                f"fractional occupations (HOMO {homo[1]:.3f}, LUMO {lumo[1]:.3f} electrons): metallic within the "
                "smearing, no HOMO-LUMO gap"
            )
    gradients = _AIMS_GRADIENT.findall(scf_part)
    jumps = _AIMS_JUMP.findall(scf_part)
    vac = dict(_AIMS_VACUUM.findall(post))
    work = dict(_AIMS_WORK.findall(post))
    dipoles = _AIMS_DIPOLE_Z.findall(scf_part)

    def upper_lower(found: dict[str, str], what: str) -> tuple[float | None, float | None]:
        upper, lower = (num(found[s], f"{s} {what}") if s in found else None for s in ("upper", "lower"))
        return upper, lower

    field_match = _AIMS_FIELD.search(text)
    n_atoms = _AIMS_ATOMS.search(text)
    if "Dipole correction not performed" in scf_part:
        warn.append("FHI-aims reported 'Dipole correction not performed' in at least one SCF step")
    if len(cycles) > 1:
        warn.append(
            f"{len(cycles)} SCF cycles (a relaxation or molecular dynamics): the values are those of the "
            f"{'last converged' if converged else 'last'} one"
        )
    return AimsOutput(
        path=path,
        program_version=version,
        n_atoms=int(n_atoms.group(1)) if n_atoms else None,
        finished="Have a nice day" in text,
        scf_converged=bool(converged),
        fermi_level_eV=fermi,
        fermi_level_soc_eV=soc,
        dos_fermi_levels_eV=dos_mu,
        dipole_correction="Using dipole correction" in text or bool(gradients),
        dipole_correction_gradient_eV_per_A=num(gradients[-1], "dipole correction gradient") if gradients else None,
        dipole_correction_jump_eV=num(jumps[-1], "dipole correction potential jump") if jumps else None,
        vacuum_levels_eV=upper_lower(vac, "vacuum level"),
        work_functions_eV=upper_lower(work, "work function"),
        homogeneous_field_V_per_A=np.array([num(x, "homogeneous field") for x in field_match.groups()])
        if field_match
        else None,
        warnings=tuple(warn),
        dipole_z_e_A=num(dipoles[-1], "dipole moment") if dipoles else None,
        n_spin=n_spin,
        scf_fermi_levels_eV=scf_levels,
        n_scf_cycles=text.count(_AIMS_SCF_START),
        fermi_levels_spin_eV=spin_levels,
        homo_eV=homo[0],
        lumo_eV=lumo[0],
        homo_occupation=homo[1],
        lumo_occupation=lumo[1],
        fractional_occupations=fractional,
    )


def _scf_cycles(text: str) -> list[tuple[int, int | None, int]]:
    """(start, where 'Self-consistency cycle converged' stands or None, end) of each SCF cycle:
    a cycle runs from its 'Begin self-consistency loop' (the first from the top of the file) to
    the next one; what follows its convergence (DoS output, vacuum levels, the next geometry)
    belongs to it."""
    starts = [m.start() for m in re.finditer(_AIMS_SCF_START, text)]
    bounds = [0] + starts[1:] + [len(text)]
    cycles = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        done = text.find(_AIMS_SCF_DONE, a, b)
        cycles.append((a, done if done >= 0 else None, b))
    return cycles


def _cycle_fermi_levels(scf_part: str, fsm: tuple[float, float] | None, num) -> tuple[float | None, tuple[float, float] | None]:
    """The chemical potential of one SCF cycle (its last iteration) and, for fixed spin moments,
    that of each spin channel (up, down), in eV.

    The overall level is the final summary line, or else the overall Fermi level of constrained
    spins, or else the last per-iteration line; for a fixed spin moment (``fsm`` = electron count
    N and moment N_up − N_dn), μ_up − N_dn/N (μ_up − μ_dn), as FHI-aims forms it
    (advance_KS_solution.f90, ``spin_shift_fsm``)."""
    spins = dict(_AIMS_MU_SPIN.findall(scf_part)) or {
        {"1": "up", "2": "dn"}[k]: v for k, v in _AIMS_MU_CHANNEL.findall(scf_part) if k in "12"
    }
    spin_levels = None
    if "up" in spins and "dn" in spins:
        spin_levels = (num(spins["up"], "spin-up chemical potential"), num(spins["dn"], "spin-down chemical potential"))
    if spin_levels is not None and _AIMS_MU_SPIN.search(scf_part):
        if fsm is None:
            return None, spin_levels
        n, moment = fsm
        return spin_levels[0] - (n - moment) / 2 / n * (spin_levels[0] - spin_levels[1]), spin_levels
    for pattern in (_AIMS_MU_FINAL, _AIMS_MU_OVERALL, _AIMS_MU):
        found = pattern.findall(scf_part)
        if found:
            return num(found[-1], "chemical potential"), spin_levels
    return None, spin_levels


# a unit FHI-aims glues to a number when the format leaves no blank ("-6.03646384eV", 171221)
_GLUED_UNIT = re.compile(r"(?<=[\d.])(?:eV/Angstrom|V/Angstrom|eV|Ha|Angstrom)\.?$")


def _num(text: str, path: Path, what: str) -> float:
    """A Fortran number (also ``-.50198861E+01``, ``1.0D-3`` or with its unit glued on,
    ``-6.03646384eV``) as float; a ParseError naming the file for anything else (overflow
    stars, NaN, a word)."""
    text = _GLUED_UNIT.sub("", text)
    try:
        value = float(text.replace("D", "E").replace("d", "e"))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ParseError(path, f"the {what} {text!r} is not a finite number")
    return value
