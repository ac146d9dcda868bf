"""CP2K projected-DoS files (``.pdos``, ``.pdos_raw``, ``_curve``): their names and tables.

CP2K writes Hartree; energies here are eV relative to E(Fermi), broadened DoS in states/eV.
"""

from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from ase.data import atomic_numbers

from ...dos import (
    L_LABELS,
    ProjectedDos,
    Projection,
    _interp_last_axis,
    check_compatible,
)
from ...errors import MissingInputError, ParseError
from ...units import HARTREE_EV
from ..files import read_bytes
from ..text import finite_float, numeric_table

#: ``<project>-[ALPHA_|BETA_](k|list)<N>[_curve]-<iter>.pdos[_raw]``; the project may contain
#: ``-``, so the name is matched from the right. ``_curve`` files hold a broadened DoS on an
#: energy grid (CP2K ≥ 2026.2, ``&DOS%CURVE``); ``.pdos_raw`` files hold the discrete states
#: written by CP2K trunk builds of May–July 2026, whose ``.pdos`` files were then curves.
PDOS_NAME = re.compile(
    r"^(?P<project>.+?)-(?:(?P<spin>ALPHA|BETA)_)?(?P<what>k|list)(?P<index>\d+)(?P<curve>_curve)?"
    r"-(?P<iter>\d+(?:_\d+)?)\.(?P<extension>pdos|pdos_raw)$"
)
_HEADER_KIND = re.compile(r"atomic kind\s+(?P<name>\S+)", re.IGNORECASE)
_HEADER_LIST = re.compile(r"list\s+(?P<index>\d+)(?:\s+of\s+(?P<n>\d+)\s+atoms)?", re.IGNORECASE)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][-+]?\d+)?"
_HEADER_FERMI = re.compile(rf"E\(Fermi\)\s*=\s*(?P<value>{_NUMBER}|[^\s\[]+)\s*(?P<unit>a\.u\.|eV|\[a\.u\.\]|\[eV\])?", re.IGNORECASE)
_HEADER_HOCO = re.compile(rf"E\(HOCO\)\s*=\s*(?P<value>{_NUMBER}|\S+)\s*a\.u\.", re.IGNORECASE)
_HEADER_ZERO = re.compile(r"Energy zero:\s*(?:AUTO\s*->\s*)?(?P<zero>\S+)", re.IGNORECASE)
_HEADER_FWHM = re.compile(rf"(?P<shape>[\w-]+) broadening, FWHM =\s*(?P<value>{_NUMBER}|\S+)\s*a\.u\.", re.IGNORECASE)
#: FWHM of a Gaussian over its standard deviation
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


@dataclass(frozen=True)
class PdosName:
    """What a CP2K ``.pdos`` file name says: project, spin (``ALPHA``/``BETA``/``None``),
    ``"kind"`` or ``"list"`` with its 1-based index, the print-key counter, whether it is a
    broadened ``_curve`` file and whether its extension is ``.pdos_raw``."""

    project: str
    spin: str | None
    what: str
    index: int
    iteration: tuple[int, ...]
    curve: bool = False
    raw: bool = False


def parse_pdos_name(path: str | Path) -> PdosName | None:
    """What the name of ``path`` says (:class:`PdosName`), or None for a name CP2K does not write."""
    return _parse_name(os.path.basename(path))


@functools.lru_cache(maxsize=1024)
def _parse_name(name: str) -> PdosName | None:
    m = PDOS_NAME.match(name)
    if m is None:
        return None
    return PdosName(
        project=m["project"],
        spin=m["spin"],
        what="kind" if m["what"] == "k" else "list",
        index=int(m["index"]),
        iteration=tuple(int(x) for x in m["iter"].split("_")),
        curve=m["curve"] is not None,
        raw=m["extension"] == "pdos_raw",
    )


def _orbital_to_l(label: str) -> str | None:
    """``s``, ``p``, ``py``, ``d-2``, ``f+3`` ... → the l channel ``s``/``p``/``d``/``f``/``g``."""
    head = label[:1].lower()
    return head if head in L_LABELS else None


def read_pdos(path: str | Path) -> ProjectedDos:
    """One CP2K projected-DoS file as a :class:`~dftpost.dos.ProjectedDos`, in every layout CP2K
    has written (``docs/formats.md``):

    - the discrete states of a ``.pdos`` file (up to 2026.1: one header line ``... E(Fermi) =
      x a.u.``; from 2026.2: ``E(Fermi)`` and ``E(HOCO)`` on lines of their own and a ``Total``
      column) or of a ``.pdos_raw`` file (trunk builds of 2026, eigenvalues possibly in eV and
      relative to the ``Energy zero`` the header names): a discrete DoS, eigenvalues in eV
      relative to E(Fermi), weights summed per l channel (their sum, or the ``Total`` column,
      is the weight of the projection);
    - a broadened ``_curve`` file (``&DOS%CURVE``, also the only k-point PDoS): a DoS on an
      energy grid in states/eV (both spins together in a closed-shell file), energies relative
      to E(Fermi) whatever ``ENERGY_ZERO`` and ``ENERGY_UNIT`` the file was written with.

    A file holding several snapshots (``APPEND``) is read at its last one. The ``E(HOCO)`` of
    newer headers is not kept: it is the highest occupied eigenvalue, which the discrete DoS
    holds (``summary()["homo_eV"]``); it only serves to undo a HOCO energy zero.
    """
    return _read_pdos(path if isinstance(path, Path) else Path(path))[0]


def _read_pdos(path: Path) -> tuple[ProjectedDos, tuple[str, float] | None]:
    """:func:`read_pdos`, and for a file whose energies are relative to a shifted zero (the
    ``Energy zero`` line): (FERMI, HOCO or ABSOLUTE; that zero's energy in eV), else None."""
    blob = read_bytes(path)  # bytes: only the header lines are decoded, the table goes to numpy as it is
    header_line, header, position = _header(blob, blob.find(b"Projected DOS"), path)
    if blob.find(b"#", position) >= 0:  # more snapshots appended (or damage): the last header
        header_line, header, position = _header(blob, blob.rfind(b"Projected DOS"), path)
    if len(header) < 2:
        raise ParseError(path, f"line {header_line + 1}: expected the column header after the title")
    if "in real space" in header[0]:
        raise ParseError(path, "a real-space LDOS (&R_LDOS) file: dftpost reads the PDoS of kinds and &LDOS lists")
    meta, columns_line = " ".join(header[:-1]), header[-1]
    fermi_match = _HEADER_FERMI.search(meta)
    if fermi_match is None:
        raise ParseError(path, f"lines {header_line}-{header_line + len(header) - 2}: no E(Fermi) in the header")
    unit = (fermi_match["unit"] or "a.u.").lower()
    fermi_eV = finite_float(fermi_match["value"].replace("D", "E").replace("d", "e"), path, "E(Fermi)")
    fermi_eV *= 1.0 if "ev" in unit else HARTREE_EV
    shift = _energy_zero(meta, fermi_eV, path)
    name = parse_pdos_name(path)
    projection = _projection_from_header(header[0], name, path)
    energy_scale = 1.0 if "[ev]" in columns_line.lower().replace(" ", "") else HARTREE_EV
    zero_eV = shift[1] if shift else 0.0
    # discrete states: the MO index (I8) first
    data = numeric_table(blob, path, integer_columns=1 if "Occupation" in columns_line else 0, start=position)
    if "Occupation" not in columns_line:
        if not re.match(r"#\s*Energy\s*\[", columns_line):
            raise ParseError(path, f"line {header_line + len(header) - 1}: not a column header of a CP2K .pdos file: {columns_line[:60]!r}")
        return _pdos_curve(path, header, data, name, projection, fermi_eV, zero_eV, energy_scale), shift
    columns = _column_names(columns_line)
    if data.shape[1] != len(columns):
        raise ParseError(
            path, f"data lines have {data.shape[1]} columns, the header names {len(columns)}: {' '.join(columns)}"
        )
    # CP2K numbers the states 1, 2, ... N: a line lost, repeated or moved breaks the sequence
    wrong = np.flatnonzero(data[:, 0] != np.arange(1, len(data) + 1))
    if wrong.size:
        raise ParseError(
            path,
            f"data line {wrong[0] + 1}: MO index {data[wrong[0], 0]:g} where {wrong[0] + 1} belongs "
            "(a line missing, repeated or out of order)",
        )
    eigen_eV = data[:, 1] * energy_scale + zero_eV
    occupation = data[:, 2]
    orbitals, weight, orbital_weights = _orbital_channels(path, columns[3:], data[:, 3:])
    # a closed-shell state holds two electrons; ALPHA/BETA files (or, for a renamed file,
    # occupations that never exceed one) hold one spin channel
    if name is not None:
        spin_degeneracy = 1 if name.spin else 2
    else:
        spin_degeneracy = 2 if occupation.max(initial=0.0) > 1.0 + 1e-6 else 1
    return ProjectedDos(
        fermi_level_eV=fermi_eV,
        projections=(projection,),
        values=weight[None, None, :],
        eigenvalues_eV=(eigen_eV - fermi_eV)[None, :],
        occupations=occupation[None, :],
        spin_degeneracy=spin_degeneracy,
        orbitals=orbitals,
        orbital_values=orbital_weights[None, None, :, :],
        sources=(path,),
    ), shift


def _header(blob: bytes, title: int, path: Path) -> tuple[int, list[str], int]:
    """The header whose title holds byte ``title``: its first line number, its lines (the
    title, the lines after it, the column line) and the byte where the data lines start."""
    start = blob.rfind(b"\n", 0, title) + 1
    if title < 0 or not blob.startswith(b"#", start):
        raise ParseError(path, "no '# Projected DOS for ...' header: not a CP2K .pdos file")
    header_line = blob.count(b"\n", 0, start) + 1
    header: list[str] = []
    position = start
    # a column line shorter than its A42 edit descriptor is right-justified: "  #   MO Energy[eV]..."
    while blob[position : position + 8].lstrip(b" ").startswith(b"#"):
        end = blob.find(b"\n", position)
        if end < 0:
            raise ParseError(path, f"line {header_line + len(header)}: the header is cut short (truncated?)")
        try:
            header.append(blob[position:end].lstrip(b" ").rstrip(b"\r").decode())
        except UnicodeDecodeError:
            raise ParseError(path, f"line {header_line + len(header)}: not text (is this a CP2K .pdos file?)") from None
        position = end + 1
    return header_line, header, position


def _energy_zero(meta: str, fermi_eV: float, path: Path) -> tuple[str, float] | None:
    """The ``Energy zero`` of a header (FERMI, HOCO or ABSOLUTE; ``AUTO -> X`` is X) and its
    energy in eV; None when the header names none (energies are then absolute, as in every
    ``.pdos`` file of a CP2K release)."""
    zero = _HEADER_ZERO.search(meta)
    if zero is None:
        return None
    hoco = _HEADER_HOCO.search(meta)
    hoco_eV = finite_float(hoco["value"], path, "E(HOCO)") * HARTREE_EV if hoco else None
    label = zero["zero"].upper()
    if label == "FERMI":
        return label, fermi_eV
    if label == "ABSOLUTE":
        return label, 0.0
    if label == "HOCO" and hoco_eV is not None:
        return label, hoco_eV
    raise ParseError(path, f"energy zero {zero['zero']!r} is not FERMI, HOCO (with an E(HOCO) line) or ABSOLUTE")


def _orbital_channels(path: Path, names: tuple[str, ...], weights: np.ndarray) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(l channels, total weight, weight per l channel) of the orbital columns of a .pdos file:
    ``s p d`` or ``s py pz px d-2 ...`` summed per l; the ``Total`` column, where written, must
    be their sum (a misaligned column is an error)."""
    orbitals, columns, total_col = _channels(names)
    orbital_weights = np.stack([weights[:, c].sum(axis=1) for c in columns]) if orbitals else np.zeros((0, weights.shape[0]))
    weight = orbital_weights.sum(axis=0)
    if total_col is not None:
        total = weights[:, total_col]
        # each column is rounded to its last printed digit (1e-8 for F16.8, 1e-12 for F20.12)
        off = np.abs(total - weight) > 1e-6 * max(1, len(names))
        if off.any():
            raise ParseError(path, f"data line {np.flatnonzero(off)[0] + 1}: the total column is not the sum of the orbital columns")
        weight = total
    return orbitals, weight, orbital_weights


@functools.lru_cache(maxsize=64)
def _channels(names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[slice | list[int], ...], int | None]:
    """The l channels of orbital column names (in L_LABELS order), the columns of each (a slice
    where they stand side by side, as CP2K writes them) and the column of the Total, if any."""
    channel_l = [_orbital_to_l(name) for name in names]
    orbitals = tuple(label for label in L_LABELS if label in channel_l)
    columns: list[slice | list[int]] = []
    for label in orbitals:
        where = [j for j, c in enumerate(channel_l) if c == label]
        columns.append(slice(where[0], where[-1] + 1) if where == list(range(where[0], where[-1] + 1)) else where)
    total = [i for i, name in enumerate(names) if name.lower() == "total"]
    return orbitals, tuple(columns), total[0] if total else None


def _pdos_curve(path, header, data, name, projection, fermi_eV, zero_eV, energy_scale) -> ProjectedDos:
    """A broadened ``_curve`` file (energy, total, orbital columns; densities per energy unit
    per orbital) as a grid :class:`ProjectedDos` in states/eV relative to E(Fermi)."""
    columns = tuple(header[-1].lstrip("#").split()[1:])  # total, s, p, ... after "Energy[unit]"
    if data.shape[1] != len(columns) + 1:
        raise ParseError(path, f"data lines have {data.shape[1]} columns, the header names {len(columns) + 1}")
    energies_eV = data[:, 0] * energy_scale + zero_eV - fermi_eV
    if np.any(np.diff(energies_eV) <= 0):
        raise ParseError(path, "the energies of the broadened DoS do not increase line by line")
    orbitals, weight, orbital_weights = _orbital_channels(path, columns, data[:, 1:])
    spin_degeneracy = 1 if name is not None and name.spin else 2  # a closed-shell orbital holds two
    per_eV = spin_degeneracy / energy_scale
    fwhm = _HEADER_FWHM.search(" ".join(header))
    # the Gaussian's standard deviation; Lorentzian and pseudo-Voigt shapes have none
    sigma = finite_float(fwhm["value"], path, "FWHM") * HARTREE_EV / _FWHM_PER_SIGMA if fwhm and fwhm["shape"].lower() == "gaussian" else None
    return ProjectedDos(
        fermi_level_eV=fermi_eV,
        projections=(projection,),
        values=weight[None, None, :] * per_eV,
        energies_eV=energies_eV,
        orbitals=orbitals,
        orbital_values=orbital_weights[None, None, :, :] * per_eV,
        broadening_eV=sigma,
        sources=(path,),
    )


@functools.lru_cache(maxsize=64)
def _column_names(line: str) -> tuple[str, ...]:
    """Column names of a .pdos header: ``MO``, ``Eigenvalue``, ``Occupation``, orbitals...
    (``MO Eigenvalue [a.u.]`` up to 2026.1, ``MO Energy[a.u.]`` from 2026.2)."""
    text = line.lstrip("#")
    text = re.sub(r"MO\s+(?:Eigenvalue|Energy)\s*\[[^\]]*\]", "MO Eigenvalue", text)
    return tuple(text.split())


def _projection_from_header(header: str, name: PdosName | None, path: Path) -> Projection:
    kind = _HEADER_KIND.search(header)
    if kind:
        symbol = kind["name"]
        element = re.match(r"[A-Z][a-z]?", symbol)
        return Projection(
            label=symbol,
            kind="species",
            species=element.group(0) if element and element.group(0) in atomic_numbers else None,
        )
    lst = _HEADER_LIST.search(header)
    if lst:
        return Projection(label=f"list{lst['index']}", kind="list", n_atoms=int(lst["n"]) if lst["n"] else None)
    raise ParseError(path, "the header names neither an atomic kind nor an LDOS list")


def read_pdos_files(paths: list[Path]) -> ProjectedDos:
    """Several projected-DoS files of one run (kinds and lists, ALPHA/BETA) as one DoS.

    Projections keep the order kinds-then-lists by index; spin channels are stacked
    (ALPHA first). Only the latest print-key counter of each projection is used. Discrete
    files are used when there are any: ``.pdos_raw`` (whose run's ``.pdos`` files are curves)
    before ``.pdos``; the broadened ``_curve`` files only without them (k-point runs).
    An ALPHA file without its BETA twin (or the reverse) is an error naming what is missing.
    ALPHA and BETA files that state different E(Fermi), each its channel's μ (between its filled
    and its empty states, as CP2K up to 2026.1 writes them for an open-shell run), are both read
    relative to the higher one; other differing Fermi levels are an error.
    """
    named = []
    for p in paths:
        name = parse_pdos_name(p)
        if name is None:
            raise ParseError(p, "file name is not <project>-[ALPHA_|BETA_](k|list)<N>[_curve]-<step>.pdos[_raw]")
        named.append((name, p))
    for chosen in ([x for x in named if x[0].raw], [x for x in named if not x[0].curve], named):
        if chosen:
            named = chosen
            break
    latest: dict[tuple, tuple[tuple[int, ...], Path]] = {}
    for name, p in named:
        key = (name.spin, name.what, name.index)
        if key not in latest or name.iteration > latest[key][0]:
            latest[key] = (name.iteration, p)
    spins = sorted({k[0] for k in latest}, key=lambda s: {None: 0, "ALPHA": 1, "BETA": 2}[s])
    if None in spins and len(spins) > 1:
        raise ParseError(paths[0].parent, "mixes spin-polarised (ALPHA/BETA) and closed-shell .pdos files")
    if spins in (["ALPHA"], ["BETA"]):
        other = "BETA" if spins == ["ALPHA"] else "ALPHA"
        raise MissingInputError(
            paths[0].parent,
            f"{spins[0]} .pdos files ({', '.join(sorted(p.name for _, p in latest.values()))}) without the {other} "
            "ones: a spin-polarised run writes both channels",
        )
    order = sorted({(k[1] != "kind", k[2]) for k in latest})
    per_spin: list[ProjectedDos] = []
    zeros: list[tuple[str, float] | None] = []
    for spin in spins:
        parts, spin_zeros = [], set()
        for is_list, index in order:
            key = (spin, "list" if is_list else "kind", index)
            if key not in latest:
                raise MissingInputError(paths[0].parent, f"no .pdos file for {key[1]} {index} of spin {spin}")
            dos, zero = _read_pdos(latest[key][1])
            parts.append(dos)
            spin_zeros.add(zero)
        per_spin.append(ProjectedDos.concatenate(parts))
        zeros.append(spin_zeros.pop() if len(spin_zeros) == 1 else None)
    if len(per_spin) == 1:
        return per_spin[0]
    a, b = per_spin
    shifts = [z for z in zeros if z is not None]
    if len(shifts) == 2 and all(z[0] != "ABSOLUTE" for z in shifts):
        # each file was read against its own channel's zero; CP2K shifted both channels by the
        # higher of the two (qs_pdos.F: energy_ref = MAXVAL(e_fermi_ref) or MAXVAL(hoco_ref))
        common = max(z[1] for z in shifts)
        a, b = (_shifted(x, common - z[1]) for x, z in zip(per_spin, shifts))
    elif zeros == [None, None] and a.fermi_level_eV != b.fermi_level_eV and _is_own_mu(a) and _is_own_mu(b):
        # each channel's file states its own μ (qs_pdos.F v2023.1:229-230, get_mo_set(mu=...)
        # per spin; an open-shell run's differ): both go on the higher one, the common zero
        # CP2K itself takes from 2026.2 on
        common = max(a.fermi_level_eV, b.fermi_level_eV)
        a, b = (replace(_shifted(x, x.fermi_level_eV - common), fermi_level_eV=common) for x in (a, b))
    check_compatible(a, b, energies=False)  # one Fermi level for both spins
    if not a.is_discrete:
        a, b = _common_grid(a, b)
    elif a.values.shape[-1] != b.values.shape[-1]:
        # ALPHA and BETA may hold different numbers of states: pad with zero weight far away
        n = max(a.values.shape[-1], b.values.shape[-1])
        a, b = (_pad_states(x, n) for x in (a, b))
    energies = {"energies_eV": a.energies_eV} if not a.is_discrete else {
        "eigenvalues_eV": np.concatenate([_given(a.eigenvalues_eV), _given(b.eigenvalues_eV)]),
        "occupations": np.concatenate([_given(a.occupations), _given(b.occupations)]),
    }
    return replace(
        a,
        values=np.concatenate([a.values, b.values]),
        orbital_values=None
        if a.orbital_values is None or b.orbital_values is None or a.orbitals != b.orbitals
        else np.concatenate([a.orbital_values, b.orbital_values]),
        orbitals=a.orbitals if a.orbitals == b.orbitals else (),
        sources=a.sources + b.sources,
        **energies,
    )


def _given(array: np.ndarray | None) -> np.ndarray:
    """An array of a :class:`ProjectedDos` that its kind (discrete or on a grid) always holds."""
    if array is None:
        raise TypeError("a discrete DoS holds eigenvalues and occupations, a grid DoS its energies")
    return array


def _is_own_mu(dos: ProjectedDos) -> bool:
    """Whether a discrete channel's E(Fermi) is its own μ: above its states more than half
    filled, below those less than half filled (to the 6 printed decimals in a.u.)."""
    if not dos.is_discrete:
        return False
    filled = _given(dos.occupations)[0] / dos.spin_degeneracy
    eigenvalues = _given(dos.eigenvalues_eV)[0]
    below, above = eigenvalues[filled > 0.5], eigenvalues[filled < 0.5]
    return below.max(initial=-np.inf) <= 3e-5 and above.min(initial=np.inf) >= -3e-5


def _shifted(dos: ProjectedDos, delta_eV: float) -> ProjectedDos:
    """``dos`` with its energies (or eigenvalues) moved by ``delta_eV``."""
    if dos.is_discrete:
        return replace(dos, eigenvalues_eV=_given(dos.eigenvalues_eV) + delta_eV)
    return replace(dos, energies_eV=_given(dos.energies_eV) + delta_eV)


def _common_grid(a: ProjectedDos, b: ProjectedDos) -> tuple[ProjectedDos, ProjectedDos]:
    """Two grid DoS (the ALPHA and BETA curves, whose grids CP2K starts at each channel's lowest
    state) on one grid of the first's spacing over both ranges: linear interpolation, zero
    outside a curve's range (CP2K's curves reach zero at their ends)."""
    ea, eb = _given(a.energies_eV), _given(b.energies_eV)
    if ea.shape == eb.shape and np.abs(ea - eb).max() < 1e-9:
        return a, b
    step = ea[1] - ea[0]
    low = min(ea[0], eb[0])
    n = round((max(ea[-1], eb[-1]) - low) / step) + 1
    grid = low + step * np.arange(n)

    def resample(dos: ProjectedDos, energies: np.ndarray) -> ProjectedDos:
        return replace(
            dos,
            energies_eV=grid,
            values=_interp_last_axis(grid, energies, dos.values),
            orbital_values=None if dos.orbital_values is None else _interp_last_axis(grid, energies, dos.orbital_values),
        )

    return resample(a, ea), resample(b, eb)


def _pad_states(dos: ProjectedDos, n: int) -> ProjectedDos:
    extra = n - dos.values.shape[-1]
    if extra == 0:
        return dos

    def pad(a: np.ndarray, v: float) -> np.ndarray:
        return np.concatenate([a, np.full(a.shape[:-1] + (extra,), v)], axis=-1)

    eigenvalues = _given(dos.eigenvalues_eV)
    return replace(
        dos,
        values=pad(dos.values, 0.0),
        eigenvalues_eV=pad(eigenvalues, float(eigenvalues.max())),
        occupations=pad(_given(dos.occupations), 0.0),
        orbital_values=None if dos.orbital_values is None else pad(dos.orbital_values, 0.0),
    )
