"""FHI-aims projected DoS files.

DoS files (``output atom_proj_dos``, ``species_proj_dos``, ``dos`` and their ``_tetrahedron``
variants) differ in name and header text between FHI-aims versions; names are matched by their
parts (``atom_proj_dos`` or ``atom_projected_dos``, ``_l_proj_dos``, ``KS_DOS_total``, ``tetrahedron``, ``raw``,
``spin_up``/``spin_dn``, ``.no_soc``) in any order, and the header is read for the chemical
potential (``mu = ... eV``) and the column names. Energies are eV; the DoS is states/eV.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ...dos import L_LABELS, ProjectedDos, Projection, check_compatible
from ...errors import MissingInputError, ParseError
from ..files import read_bytes
from ..text import numeric_table

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
