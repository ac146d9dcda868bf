"""CP2K: ``.pdos`` files, the output log, and the few input facts dftpost needs.

Units on the way in: CP2K writes Hartree and Bohr; everything here is converted to eV, Å,
V/Å and e·Å. The slab dipole CP2K prints (``Total dipole moment perpendicular to the slab``)
counts electrons as positive charge; :class:`Cp2kLog` stores it with the physical sign.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from ase.geometry import cellpar_to_cell

from ..dos import L_LABELS, ProjectedDos, Projection, check_compatible
from ..errors import MissingInputError, ParseError
from ..units import BOHR_A, FIELD_AU_V_PER_A, HARTREE_EV
from .files import read_bytes, read_text, regular_file
from .text import numeric_table

# ----------------------------------------------------------------------------- PDOS files
#: ``<project>-[ALPHA_|BETA_](k|list)<N>[_curve]-<iter>.pdos[_raw]``; the project may contain
#: ``-``, so the name is matched from the right. ``_curve`` files hold a broadened DoS on an
#: energy grid (CP2K ≥ 2026.2, ``&DOS%CURVE``); ``.pdos_raw`` files hold the discrete states
#: written by CP2K trunk builds of May–July 2026, whose ``.pdos`` files were then curves.
PDOS_NAME = re.compile(
    r"^(?P<project>.+?)-(?:(?P<spin>ALPHA|BETA)_)?(?P<what>k|list)(?P<index>\d+)(?P<curve>_curve)?"
    r"-(?P<iter>\d+(?:_\d+)?)\.(?P<extension>pdos|pdos_raw)$"
)
_HEADER_KIND = re.compile(r"atomic kind\s+(?P<name>\S+)", re.I)
_HEADER_LIST = re.compile(r"list\s+(?P<index>\d+)(?:\s+of\s+(?P<n>\d+)\s+atoms)?", re.I)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][-+]?\d+)?"
_HEADER_FERMI = re.compile(rf"E\(Fermi\)\s*=\s*(?P<value>{_NUMBER}|[^\s\[]+)\s*(?P<unit>a\.u\.|eV|\[a\.u\.\]|\[eV\])?", re.I)
_HEADER_HOCO = re.compile(rf"E\(HOCO\)\s*=\s*(?P<value>{_NUMBER}|\S+)\s*a\.u\.", re.I)
_HEADER_ZERO = re.compile(r"Energy zero:\s*(?:AUTO\s*->\s*)?(?P<zero>\S+)", re.I)
_HEADER_FWHM = re.compile(rf"(?P<shape>[\w-]+) broadening, FWHM =\s*(?P<value>{_NUMBER}|\S+)\s*a\.u\.", re.I)
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
    m = PDOS_NAME.match(Path(path).name)
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
    return _read_pdos(Path(path))[0]


def _read_pdos(path: Path) -> tuple[ProjectedDos, tuple[str, float] | None]:
    """:func:`read_pdos`, and for a file whose energies are relative to a shifted zero (the
    ``Energy zero`` line): (FERMI, HOCO or ABSOLUTE; that zero's energy in eV), else None."""
    blob = read_bytes(path)  # bytes: only the header lines are decoded, the table goes to numpy as it is
    title = blob.rfind(b"Projected DOS")
    start = blob.rfind(b"\n", 0, title) + 1
    if title < 0 or not blob.startswith(b"#", start):
        raise ParseError(path, "no '# Projected DOS for ...' header: not a CP2K .pdos file")
    header_line = blob.count(b"\n", 0, start) + 1
    header: list[str] = []  # the title, the lines after it, the column line: one pass
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
    if len(header) < 2:
        raise ParseError(path, f"line {header_line + 1}: expected the column header after the title")
    if "in real space" in header[0]:
        raise ParseError(path, "a real-space LDOS (&R_LDOS) file: dftpost reads the PDoS of kinds and &LDOS lists")
    meta, columns_line = " ".join(header[:-1]), header[-1]
    fermi_match = _HEADER_FERMI.search(meta)
    if fermi_match is None:
        raise ParseError(path, f"lines {header_line}-{header_line + len(header) - 2}: no E(Fermi) in the header")
    unit = (fermi_match["unit"] or "a.u.").lower()
    fermi_eV = _float(fermi_match["value"].replace("D", "E").replace("d", "e"), path, "E(Fermi)")
    fermi_eV *= 1.0 if "ev" in unit else HARTREE_EV
    shift = _energy_zero(meta, fermi_eV, path)
    name = parse_pdos_name(path)
    projection = _projection_from_header(header[0], name, path)
    energy_scale = 1.0 if "[ev]" in columns_line.lower().replace(" ", "") else HARTREE_EV
    zero_eV = shift[1] if shift else 0.0
    data = numeric_table(blob[position:], path)
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


def _energy_zero(meta: str, fermi_eV: float, path: Path) -> tuple[str, float] | None:
    """The ``Energy zero`` of a header (FERMI, HOCO or ABSOLUTE; ``AUTO -> X`` is X) and its
    energy in eV; None when the header names none (energies are then absolute, as in every
    ``.pdos`` file of a CP2K release)."""
    zero = _HEADER_ZERO.search(meta)
    if zero is None:
        return None
    hoco = _HEADER_HOCO.search(meta)
    hoco_eV = _float(hoco["value"], path, "E(HOCO)") * HARTREE_EV if hoco else None
    label = zero["zero"].upper()
    if label == "FERMI":
        return label, fermi_eV
    if label == "ABSOLUTE":
        return label, 0.0
    if label == "HOCO" and hoco_eV is not None:
        return label, hoco_eV
    raise ParseError(path, f"energy zero {zero['zero']!r} is not FERMI, HOCO (with an E(HOCO) line) or ABSOLUTE")


def _orbital_channels(path: Path, names: list[str], weights: np.ndarray) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(l channels, total weight, weight per l channel) of the orbital columns of a .pdos file:
    ``s p d`` or ``s py pz px d-2 ...`` summed per l; the ``Total`` column, where written, must
    be their sum (a misaligned column is an error)."""
    total_col = [i for i, name in enumerate(names) if name.lower() == "total"]
    channel_l = [_orbital_to_l(name) for name in names]
    orbitals = tuple(l for l in L_LABELS if l in channel_l)
    orbital_weights = np.stack(
        [weights[:, [j for j, c in enumerate(channel_l) if c == l]].sum(axis=1) for l in orbitals]
    ) if orbitals else np.zeros((0, weights.shape[0]))
    weight = orbital_weights.sum(axis=0)
    if total_col:
        total = weights[:, total_col[0]]
        # each column is rounded to its last printed digit (1e-8 for F16.8, 1e-12 for F20.12)
        off = np.abs(total - weight) > 1e-6 * max(1, len(names))
        if off.any():
            raise ParseError(path, f"data line {np.flatnonzero(off)[0] + 1}: the total column is not the sum of the orbital columns")
        weight = total
    return orbitals, weight, orbital_weights


def _pdos_curve(path, header, data, name, projection, fermi_eV, zero_eV, energy_scale) -> ProjectedDos:
    """A broadened ``_curve`` file (energy, total, orbital columns; densities per energy unit
    per orbital) as a grid :class:`ProjectedDos` in states/eV relative to E(Fermi)."""
    columns = header[-1].lstrip("#").split()[1:]  # total, s, p, ... after "Energy[unit]"
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
    sigma = _float(fwhm["value"], path, "FWHM") * HARTREE_EV / _FWHM_PER_SIGMA if fwhm and fwhm["shape"].lower() == "gaussian" else None
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


def _column_names(line: str) -> list[str]:
    """Column names of a .pdos header: ``MO``, ``Eigenvalue``, ``Occupation``, orbitals...
    (``MO Eigenvalue [a.u.]`` up to 2026.1, ``MO Energy[a.u.]`` from 2026.2)."""
    text = line.lstrip("#")
    text = re.sub(r"MO\s+(?:Eigenvalue|Energy)\s*\[[^\]]*\]", "MO Eigenvalue", text)
    return text.split()


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
    per_spin, zeros = [], []
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
    if None not in zeros and all(z[0] != "ABSOLUTE" for z in zeros):
        # each file was read against its own channel's zero; CP2K shifted both channels by the
        # higher of the two (qs_pdos.F: energy_ref = MAXVAL(e_fermi_ref) or MAXVAL(hoco_ref))
        common = max(z[1] for z in zeros)
        a, b = (_shifted(x, common - z[1]) for x, z in zip(per_spin, zeros))
    elif zeros == [None, None] and a.fermi_level_eV != b.fermi_level_eV and _is_own_mu(a) and _is_own_mu(b):
        # each channel's file states its own μ (qs_pdos.F v2023.1:229-230, get_mo_set(mu=...)
        # per spin; an open-shell run's differ): both go on the higher one, the common zero
        # CP2K itself takes from 2026.2 on
        common = max(a.fermi_level_eV, b.fermi_level_eV)
        a, b = (replace(_shifted(x, x.fermi_level_eV - common), fermi_level_eV=common) for x in (a, b))
    check_compatible(a, b, energies=False)  # one Fermi level for both spins
    if not a.is_discrete:
        a, b = _common_grid(a, b)
    elif a.eigenvalues_eV.shape != b.eigenvalues_eV.shape:
        # ALPHA and BETA may hold different numbers of states: pad with zero weight far away
        n = max(a.values.shape[-1], b.values.shape[-1])
        a, b = (_pad_states(x, n) for x in (a, b))
    energies = {"energies_eV": a.energies_eV} if not a.is_discrete else {
        "eigenvalues_eV": np.concatenate([a.eigenvalues_eV, b.eigenvalues_eV]),
        "occupations": np.concatenate([a.occupations, b.occupations]),
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


def _is_own_mu(dos: ProjectedDos) -> bool:
    """Whether a discrete channel's E(Fermi) is its own μ: above its states more than half
    filled, below those less than half filled (to the 6 printed decimals in a.u.)."""
    if not dos.is_discrete:
        return False
    filled = dos.occupations[0] / dos.spin_degeneracy
    below, above = dos.eigenvalues_eV[0][filled > 0.5], dos.eigenvalues_eV[0][filled < 0.5]
    return below.max(initial=-np.inf) <= 3e-5 and above.min(initial=np.inf) >= -3e-5


def _shifted(dos: ProjectedDos, delta_eV: float) -> ProjectedDos:
    """``dos`` with its energies (or eigenvalues) moved by ``delta_eV``."""
    if dos.is_discrete:
        return replace(dos, eigenvalues_eV=dos.eigenvalues_eV + delta_eV)
    return replace(dos, energies_eV=dos.energies_eV + delta_eV)


def _common_grid(a: ProjectedDos, b: ProjectedDos) -> tuple[ProjectedDos, ProjectedDos]:
    """Two grid DoS (the ALPHA and BETA curves, whose grids CP2K starts at each channel's lowest
    state) on one grid of the first's spacing over both ranges: linear interpolation, zero
    outside a curve's range (CP2K's curves reach zero at their ends)."""
    if a.energies_eV.shape == b.energies_eV.shape and np.abs(a.energies_eV - b.energies_eV).max() < 1e-9:
        return a, b
    step = a.energies_eV[1] - a.energies_eV[0]
    low = min(a.energies_eV[0], b.energies_eV[0])
    n = int(round((max(a.energies_eV[-1], b.energies_eV[-1]) - low) / step)) + 1
    grid = low + step * np.arange(n)

    def resample(dos: ProjectedDos) -> ProjectedDos:
        on = lambda v: np.apply_along_axis(lambda y: np.interp(grid, dos.energies_eV, y, left=0.0, right=0.0), -1, v)  # noqa: E731
        return replace(
            dos,
            energies_eV=grid,
            values=on(dos.values),
            orbital_values=None if dos.orbital_values is None else on(dos.orbital_values),
        )

    return resample(a), resample(b)


def _pad_states(dos: ProjectedDos, n: int) -> ProjectedDos:
    extra = n - dos.values.shape[-1]
    if extra == 0:
        return dos
    pad = lambda a, v: np.concatenate([a, np.full(a.shape[:-1] + (extra,), v)], axis=-1)  # noqa: E731
    top = float(dos.eigenvalues_eV.max())
    return replace(
        dos,
        values=pad(dos.values, 0.0),
        eigenvalues_eV=pad(dos.eigenvalues_eV, top),
        occupations=pad(dos.occupations, 0.0),
        orbital_values=None if dos.orbital_values is None else pad(dos.orbital_values, 0.0),
    )


# ----------------------------------------------------------------------------- output log
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


_LOG_VERSION = re.compile(r"CP2K\|\s+version string:\s+(?:CP2K version\s+)?(.+?)\s*$", re.M)
_LOG_PROJECT = re.compile(r"GLOBAL\|\s+Project name\s+(\S+)", re.M)
_LOG_INPUT = re.compile(r"CP2K\|\s+Input file name\s+(\S+)", re.M)
_LOG_FERMI = (
    re.compile(r"MO\|\s*E\(Fermi\):\s+(?P<au>\S+)\s+a\.u\.", re.M),
    re.compile(r"^\s*Fermi energy:\s+(?P<au>\S+)\s*$", re.M),
    re.compile(r"Fermi Energy \[eV\]\s*:\s*(?P<ev>\S+)", re.M),
)
_LOG_GAP = re.compile(r"(?:MO\|\s*Band gap:|HOMO - LUMO gap \[eV\]\s*:)\s+(?P<value>\S+)(?P<au>\s+a\.u\.)?", re.M)
_LOG_DIPOLE = re.compile(r"Total dipole moment perpendicular to\s*\n\s*the slab \[electrons-Angstroem\]:\s+(\S+)")
#: the electrons of the SCF, printed once per spin (after ``Spin 1`` / ``Spin 2``) in a
#: spin-polarised run (qs_scf_output.F, qs_scf_initial_info: "(/,T2,A,I2)" then
#: "(/,(T2,A,T71,I10))"); DFT+U kind lines ("(T9,A,T75,F6.2)") are not these
_LOG_ELECTRONS = re.compile(r"^(?: Spin (?P<spin>[12])[ \t]*\n[ \t]*\n)? {1,2}Number of electrons:\s+(?P<n>\d+)[ \t]*$", re.M)
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
    uses_ot = bool(re.search(r"^\s*-+ OT -+\s*$", text, re.M))  # the OT settings banner of the SCF
    gap = _gap(text, path, warnings)
    dipoles = _LOG_DIPOLE.findall(text)
    electrons = _electron_count(text)
    density = _LOG_DENSITY.findall(text)
    atom_counts = _LOG_ATOMS.findall(text)
    cell: dict[str, list[float]] = {}  # the last cell printed
    cells: list[tuple[int, dict[str, list[float]]]] = []  # each complete cell and where it ends
    for m in _LOG_CELL.finditer(text):
        cell[m.group(1)] = [_float(m.group(i), path, f"cell vector {m.group(1)}") for i in (2, 3, 4)]
        if m.group(1) == "c" and len(cell) == 3:
            cells.append((m.end(), dict(cell)))
    n_atoms = int(atom_counts[0]) if atom_counts else None
    atoms, kinds, core = _log_coordinates(text, cells, path, n_atoms, "PROGRAM ENDED AT" in text)
    kind_names = {int(i): name for i, name in _LOG_KIND.findall(text)}
    efield = None
    intensities = _LOG_EFIELD_INT.findall(text)
    if intensities:
        pol = {axis: _float(v, path, "PERIODIC_EFIELD polarisation") for axis, v in _LOG_EFIELD_POL.findall(text)}
        vector = np.array([pol.get(a, 0.0) for a in "xyz"])
        norm = np.linalg.norm(vector)
        if norm == 0:
            warnings.append("PERIODIC_EFIELD with a zero polarisation vector")
        else:
            efield = _float(intensities[-1], path, "PERIODIC_EFIELD intensity") * FIELD_AU_V_PER_A * vector / norm
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
        electronic_density_integral=_float(density[-1], path, "electronic density integral") if density else None,
        slab_dipole_e_A=-_float(dipoles[-1], path, "slab dipole") if dipoles else None,
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
    number = _float(m["au"] if m.groupdict().get("au") else m["ev"], path, "Fermi level")
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
    g = _float(gaps[-1]["value"], path, "band gap")
    last = g * HARTREE_EV if gaps[-1]["au"] else g
    if len(gaps) < 2 or gaps[-1]["au"] or text[gaps[-2].end() : gaps[-1].start()].strip():
        return last
    first = _float(gaps[-2]["value"], path, "band gap")  # two lines in a row: one per spin
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


_LOG_COORD_TABLE = re.compile(r"ATOMIC COORDINATES IN ANGSTROM\s*\n\s*\n\s*Atom\s+Kind\s+Element[^\n]*\n", re.I)
_LOG_COORD_ROW = re.compile(
    r"^\s*(\d+)\s+(\d+)\s+([A-Z][a-z]?)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s*$"
)
_LOG_KIND = re.compile(r"^\s*(\d+)\. Atomic kind:\s+(\S+)", re.M)


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
    rows = []
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
    number = lambda r, i, what: _float(r[i], path, f"{what} of atom {r[0]}")  # noqa: E731
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


def _float(value: str | None, path: Path, what: str) -> float:
    """``value`` as a finite float, or a ParseError naming the file (NaN, overflow stars, words)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParseError(path, f"{what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ParseError(path, f"{what} {value!r} is not a finite number")
    return number


# ----------------------------------------------------------------------------- input file
@dataclass
class Cp2kSection:
    """A section of a CP2K input: its name, parameter text, keywords (in order) and subsections."""

    name: str
    parameter: str = ""
    keywords: list[tuple[str, str]] = field(default_factory=list)
    sections: list["Cp2kSection"] = field(default_factory=list)

    def get(self, keyword: str) -> str | None:
        """The last value of a keyword (case-insensitive), or None."""
        values = [v for k, v in self.keywords if k.upper() == keyword.upper()]
        return values[-1] if values else None

    def find(self, *names: str) -> list["Cp2kSection"]:
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
    dft = fe.find("DFT")
    dft = dft[0] if dft else Cp2kSection("DFT")
    dipcor = _bool(dft.get("SURFACE_DIPOLE_CORRECTION") or dft.get("SURF_DIP"))
    direction = (dft.get("SURF_DIP_DIR") or "Z").strip().upper()
    if dipcor and direction not in ("X", "Y", "Z"):
        raise ParseError(path, f"SURF_DIP_DIR {direction!r} is not X, Y or Z")
    axis = "XYZ".index(direction) if dipcor else None
    position = dft.get("SURF_DIP_POS")
    position = _float(position, path, "SURF_DIP_POS") if position else None
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
        e0_V_per_A = _float(amplitude[m.end() :].strip() if m else amplitude.strip(), path, "&EFIELD AMPLITUDE") * _FIELD_UNITS[unit]
    else:
        watts = _float(intensity or "0.0", path, "&EFIELD INTENSITY")
        if watts < 0:
            raise ParseError(path, f"&EFIELD INTENSITY {watts:g} W/cm² is negative")
        e0_V_per_A = math.sqrt(watts / _INTENSITY_W_CM2_PER_AU2) * FIELD_AU_V_PER_A
    phase = _float(s.get("PHASE") or "0.0", path, "&EFIELD PHASE")
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
    subsys = fe.find("SUBSYS")
    if not subsys:
        return None
    subsys = subsys[0]
    cell_sec = subsys.find("CELL")
    cell = None  # of the unit cell the coordinates are given in, Å (rows a, b, c)
    cell_repeats = topology_repeats = (1, 1, 1)
    if cell_sec:
        c = cell_sec[0]
        if c.get("ABC"):
            abc = _lengths(c.get("ABC"), path, "&CELL ABC")
            angles = _numbers(c.get("ALPHA_BETA_GAMMA"), path, "ALPHA_BETA_GAMMA", 3) if c.get("ALPHA_BETA_GAMMA") else [90.0] * 3
            cell = cellpar_to_cell(list(abc[:3]) + list(angles[:3]))
        elif all(c.get(k) for k in "ABC"):
            cell = np.array([_lengths(c.get(k), path, f"&CELL {k}")[:3] for k in "ABC"])
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
            symbols.append(re.match(r"[A-Za-z]+", key).group(0).capitalize() if re.match(r"[A-Za-z]+", key) else key)
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
        loaded = ase_read(coord_path)
    except Exception as exc:  # ase raises many kinds for bad files
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
        intensity = _float(s.get("INTENSITY") or "0.0", path, "&PERIODIC_EFIELD INTENSITY")
        pol = np.array(_numbers(s.get("POLARISATION") or s.get("POLARIZATION") or "0 0 1", path, "POLARISATION", 3)[:3])
        norm = np.linalg.norm(pol)
        if norm == 0:
            return None, None
        return intensity * FIELD_AU_V_PER_A * pol / norm, "&PERIODIC_EFIELD"
    efields = dft.find("EFIELD")
    if efields:
        return sum(_efield(s, path) for s in efields), "&EFIELD"
    ext = dft.find("EXTERNAL_POTENTIAL")
    if ext:
        s = ext[0]
        function = (s.get("FUNCTION") or "").replace(" ", "").upper()
        m = re.fullmatch(r"([-+]?)([A-Z]\w*)\*([XYZ])", function)
        params = (s.get("PARAMETERS") or "").upper().split()
        values = (s.get("VALUES") or "").split()
        if m and m.group(2) in params and len(values) == len(params):
            slope = _float(values[params.index(m.group(2))], path, "&EXTERNAL_POTENTIAL VALUES") * (-1 if m.group(1) == "-" else 1)
            vec = np.zeros(3)
            vec["XYZ".index(m.group(3))] = -slope * FIELD_AU_V_PER_A  # E = -dφ/dx
            return vec, "&EXTERNAL_POTENTIAL (linear)"
    return None, None
