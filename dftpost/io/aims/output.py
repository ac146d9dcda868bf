"""FHI-aims ``aims.out``: version, chemical potentials, frontier states, dipole correction,
vacuum levels, applied field, SCF cycles. Energies eV, lengths Å, dipoles e·Å, fields V/Å.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import ParseError
from ..files import read_text


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
