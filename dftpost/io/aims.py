"""FHI-aims: projected DoS files and the facts of ``aims.out``.

DoS files (``output atom_proj_dos``, ``species_proj_dos``, ``dos`` and their ``_tetrahedron``
variants) differ in name and header text between FHI-aims versions; names are matched by their
parts (``atom_proj_dos``, ``_l_proj_dos``, ``KS_DOS_total``, ``tetrahedron``, ``raw``,
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
    if stem.startswith("atom_proj_dos"):
        m = re.fullmatch(r"atom_proj_dos_?(?P<sp>.+?)(?P<idx>\d{4,})", stem)
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


def read_dos(path: str | Path, fermi_level_eV: float | None = None) -> ProjectedDos:
    """One FHI-aims DoS file as a grid-form :class:`~dftpost.dos.ProjectedDos`.

    Energies are returned relative to the chemical potential μ. A shifted file carries μ in its
    header; a ``_raw`` file does not, so ``fermi_level_eV`` (from ``aims.out``) must be given
    for it. Orbital columns ``l= 0`` ... are kept as ``s, p, d, ...``; a ``KS_DOS_total`` file
    with two DOS columns becomes two spin channels.
    """
    path = Path(path)
    name = parse_dos_name(path)
    try:
        blob = path.read_bytes()
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
            values=data[:, 1:].T[:, None, :],
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
    species = name.species if name else _species_from_header(header)
    if name is not None and name.what == "atom":
        projection = Projection(
            label=f"{species}{name.atom_index + 1:04d}", kind="atom", atom_indices=(name.atom_index,), species=species
        )
    else:
        projection = Projection(label=species or path.stem, kind="species", species=species)
    return ProjectedDos(
        fermi_level_eV=mu,
        projections=(projection,),
        values=data[:, 1][None, None, :],
        energies_eV=energies,
        orbitals=tuple(orbitals),
        orbital_values=np.array(orbital_values)[None, None, :, :] if orbitals else None,
        sources=(path,),
    )


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


def read_dos_files(paths: list[Path], fermi_level_eV: float | None = None) -> ProjectedDos:
    """Several per-atom (or per-species) DoS files of one run as one DoS.

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
    per_spin = []
    for spin in spins:
        chosen = sorted(
            ((n, p) for n, p in named if n.spin == spin),
            key=lambda item: (item[0].atom_index if item[0].atom_index is not None else -1, item[0].species or ""),
        )
        per_spin.append(ProjectedDos.concatenate([read_dos(p, fermi_level_eV) for _, p in chosen]))
    if len(per_spin) == 1:
        return per_spin[0]
    up, dn = per_spin
    if up.labels != dn.labels:
        raise MissingInputError(paths[0].parent, "spin_up and spin_dn files do not cover the same atoms")
    check_compatible(up, dn)  # one energy grid and one μ for both channels
    return replace(
        up,
        values=np.concatenate([up.values, dn.values]),
        orbital_values=None
        if up.orbital_values is None or dn.orbital_values is None
        else np.concatenate([up.orbital_values, dn.orbital_values]),
        sources=up.sources + dn.sources,
    )


# ----------------------------------------------------------------------------- aims.out
@dataclass(frozen=True, eq=False)
class AimsOutput:
    """Facts from ``aims.out``. Energies eV, gradients eV/Å as printed, field V/Å.

    ``fermi_level_eV`` is the chemical potential of the last SCF iteration (scalar
    relativistic); ``fermi_level_soc_eV`` the one after second-variational spin–orbit coupling,
    when that ran. ``dos_fermi_levels_eV`` maps each DoS file aims.out says it wrote to the μ it
    printed just before (``| Chemical potential is ... eV.``).
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


_AIMS_VERSION = (re.compile(r"FHI-aims version\s*:\s*(\S+)"), re.compile(r"^\s*Version\s+(\S+)\s*$", re.M))
_AIMS_MU = re.compile(r"\|\s*Chemical potential \(Fermi level\)(?: in eV)?\s*:\s*(\S+)")
_AIMS_MU_FINAL = re.compile(r"\|\s*Chemical Potential\s*:\s*(\S+)\s*eV")
_AIMS_MU_DOS = re.compile(r"\|\s*Chemical potential is\s+(\S+)\s*eV")
_AIMS_DOS_FILE = re.compile(r"to file\s+(\S+?)\.?\s*$")
_AIMS_GRADIENT = re.compile(r"\|\s*Dipole correction gradient\s*:\s*(\S+)\s*eV/Angstrom")
_AIMS_JUMP = re.compile(r"\|\s*Dipole correction potential jump\s*:\s*(\S+)\s*eV")
_AIMS_VACUUM = re.compile(r'\|\s*Potential vacuum level, "(upper|lower)" slab surface\s*:\s*(\S+)')
_AIMS_WORK = re.compile(r'\|\s*Work function \("(upper|lower)" slab surface\)\s*:\s*(\S+)')
_AIMS_FIELD = re.compile(r"Homogeneous electric field specified\. Values:\s+(\S+)\s+(\S+)\s+(\S+)")
_AIMS_ATOMS = re.compile(r"\|\s*Number of atoms\s*:\s*(\d+)")


def read_output(path: str | Path) -> AimsOutput:
    """Parse ``aims.out`` of any FHI-aims version seen (151211 to 210513)."""
    path = Path(path)
    try:
        text = path.read_text(errors="strict")
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
    converged_at = text.find("Self-consistency cycle converged")
    scf_part = text if converged_at < 0 else text[:converged_at]
    mus = _AIMS_MU.findall(scf_part)
    final = _AIMS_MU_FINAL.findall(scf_part)
    fermi = num(final[-1], "chemical potential") if final else (num(mus[-1], "chemical potential") if mus else None)
    soc = None
    if converged_at >= 0 and re.search(r"SOC|spin-orbit", text[converged_at:]):
        after = _AIMS_MU.findall(text[converged_at:])
        soc = num(after[-1], "spin-orbit chemical potential") if after else None
    dos_mu: dict[str, float] = {}
    current = None
    for line in text[max(converged_at, 0) :].splitlines():
        m = _AIMS_MU_DOS.search(line)
        if m:
            current = num(m.group(1), "chemical potential of the DoS output")
            continue
        if current is not None and "writing" in line and "DOS" in line:
            f = _AIMS_DOS_FILE.search(line)
            if f:
                dos_mu[f.group(1)] = current
    gradients = _AIMS_GRADIENT.findall(text)
    jumps = _AIMS_JUMP.findall(text)
    vac = dict(_AIMS_VACUUM.findall(text))
    work = dict(_AIMS_WORK.findall(text))
    field_match = _AIMS_FIELD.search(text)
    n_atoms = _AIMS_ATOMS.search(text)
    warn = []
    if "Dipole correction not performed" in text:
        warn.append("FHI-aims reported 'Dipole correction not performed' in at least one SCF step")
    return AimsOutput(
        path=path,
        program_version=version,
        n_atoms=int(n_atoms.group(1)) if n_atoms else None,
        finished="Have a nice day" in text,
        scf_converged=converged_at >= 0,
        fermi_level_eV=fermi,
        fermi_level_soc_eV=soc,
        dos_fermi_levels_eV=dos_mu,
        dipole_correction="Using dipole correction" in text or bool(gradients),
        dipole_correction_gradient_eV_per_A=num(gradients[-1], "dipole correction gradient") if gradients else None,
        dipole_correction_jump_eV=num(jumps[-1], "dipole correction potential jump") if jumps else None,
        vacuum_levels_eV=tuple(num(vac[s], f"{s} vacuum level") if s in vac else None for s in ("upper", "lower")),
        work_functions_eV=tuple(num(work[s], f"{s} work function") if s in work else None for s in ("upper", "lower")),
        homogeneous_field_V_per_A=np.array([num(x, "homogeneous field") for x in field_match.groups()])
        if field_match
        else None,
        warnings=tuple(warn),
    )


def _num(text: str, path: Path, what: str) -> float:
    """A Fortran number (also ``-.50198861E+01`` or ``1.0D-3``) as float; a ParseError naming
    the file for anything else (overflow stars, NaN, a word)."""
    try:
        value = float(text.replace("D", "E").replace("d", "e"))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ParseError(path, f"the {what} {text!r} is not a finite number")
    return value
