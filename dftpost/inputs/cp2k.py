"""CP2K inputs for slab frames: a structured writer of nested sections.

The input is built as a tree of :class:`~dftpost.io.cp2k.Cp2kSection` (the type the CP2K input
reader of dftpost returns, so a written input reads back into the same tree) and rendered by
:func:`render`. A keyword named ``!`` is a comment line. pymatgen's ``Cp2kInput`` would do the
same but is not a dependency of dftpost, and ASE's ``InputSection`` has no comments; the tree
here is small.

What a generated run holds (:func:`cp2k_input`), after the recipe of the real runs in
``realdata/cp2k/water8_slab_field`` and ``fixtures/cp2k``:

- PBE (``Cp2kSettings.xc``), DZVP-MOLOPT-SR-GTH basis and GTH pseudopotentials (CP2K's alias
  names ``DZVP-MOLOPT-SR-GTH`` / ``GTH-PBE`` pick the matching valence; ``kinds`` overrides per
  element), Γ point, ``POISSON_SOLVER PERIODIC``, diagonalization (Fermi–Dirac smearing and
  more added MOs when the frame holds a metal).
- The slab dipole correction along z with its plane explicitly at ``SURF_DIP_POS 0.0``, the
  cell boundary, which :func:`~dftpost.inputs.slab.prepare_slab` has put in the middle of the
  vacuum: the default (−1, the density minimum) moves between runs, so field and no-field
  potentials would not compare. CP2K 2023.1 aborts ("Dipole correction needs more vacuum space
  above the surface") when the planar-averaged density at that plane exceeds 1e-5 at any SCF
  step; Broyden mixing made that happen transiently for some water frames of the fixtures,
  direct density-matrix mixing (CP2K's default) did not: frames without metal get
  ``DIRECT_P_MIXING`` (α 0.3). With a metal, direct mixing sloshes (a Cu(111)/water frame
  diverged) and Broyden with Kerker damping (α 0.1, β 1.5, the usual recipe for metal slabs)
  converges: frames with metal get that, and the abort remains possible there (the job script
  reports it; ``--mixing`` chooses another).
- PDoS of every kind and of the ``&LDOS`` lists chosen at generation (the water atoms beyond
  d_cut, then water layers), with all virtual states (``NLUMO -1``), in the layout of the CP2K
  release the input is for (``Cp2kSettings.cp2k_version``): up to 2026.1 the print key
  ``&PRINT%PDOS`` holds ``NLUMO``, ``COMPONENTS`` and the ``&LDOS`` lists; from 2026.2 on the
  print key ``&PRINT%DOS`` holds ``NLUMO``, a ``&PDOS`` section (``COMPONENTS``) and the
  ``&LDOS`` lists (``&PRINT%PDOS`` no longer exists there). :data:`VERIFIED_PRINT_PATHS`
  lists where CP2K's source defines each of them.
- ``V_HARTREE`` and electron-density cubes (``STRIDE``).
- For the field twin, a homogeneous field along +z as the external electrostatic potential
  φ(z) = −A·z (``&EXTERNAL_POTENTIAL FUNCTION -A*Z``, Hartree and bohr): it works with
  diagonalization and the dipole correction, where ``&PERIODIC_EFIELD`` needs OT; its sawtooth
  jump sits at the cell boundary, in the vacuum. V_HARTREE does not contain it (``dftpost
  field-profile`` adds it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ase import Atoms
from ase.data import atomic_numbers

from ..errors import DftpostError
from ..io.cp2k import Cp2kSection
from ..units import FIELD_AU_V_PER_A
from .slab import AtomList

#: Comment marker: a keyword with this name is written as a comment line.
COMMENT = "!"
#: The SCF mixing methods of CP2K's &MIXING METHOD.
MIXING_METHODS = ("DIRECT_P_MIXING", "BROYDEN_MIXING", "PULAY_MIXING", "KERKER_MIXING", "MULTISECANT_MIXING", "NONE")


#: The newest CP2K release whose input layout dftpost writes (the default when no CP2K is found).
NEWEST_CP2K_VERSION = "2026.2"
#: The first release that prints PDoS and LDOS by ``&DFT%PRINT%DOS`` (before: ``&DFT%PRINT%PDOS``).
DOS_SECTION_SINCE = (2026, 2)
#: The ``&DFT%PRINT`` paths dftpost writes, per layout (named by the release whose source was
#: read: 2023.1 for every release before 2026.2, 2026.2 for it and later), and where CP2K's source
#: defines each (file:line at that tag; tests/test_generate.py checks them against the source).
VERIFIED_PRINT_PATHS = {
    "2023.1": {
        "PDOS": "src/input_cp2k_dft.F:2395",
        "PDOS/COMPONENTS": "src/input_cp2k_dft.F:2398",
        "PDOS/NLUMO": "src/input_cp2k_dft.F:2412",
        "PDOS/LDOS": "src/input_cp2k_dft.F:2424",
        "PDOS/LDOS/LIST": "src/input_cp2k_dft.F:2435",
        "MO": "src/input_cp2k_dft.F:982",
        "MO/ENERGIES": "src/input_cp2k_dft.F:995",
        "MO/OCCUPATION_NUMBERS": "src/input_cp2k_dft.F:1007",
        "MO/MO_INDEX_RANGE": "src/input_cp2k_dft.F:1029",
        "MO/ADD_LAST": "src/input/cp_output_handling.F:264",
        "MO/EACH": "src/input/cp_output_handling.F:223",
        "MO/EACH/QS_SCF": "src/common/cp_iter_types.F:34",
        "E_DENSITY_CUBE": "src/input_cp2k_dft.F:1137",
        "E_DENSITY_CUBE/STRIDE": "src/input_cp2k_dft.F:1142",
        "V_HARTREE_CUBE": "src/input_cp2k_dft.F:1215",
        "V_HARTREE_CUBE/STRIDE": "src/input_cp2k_dft.F:1221",
    },
    "2026.2": {
        "DOS": "src/input_cp2k_print_dft.F:1181",
        "DOS/NLUMO": "src/input_cp2k_print_dft.F:2714",
        "DOS/PDOS": "src/input_cp2k_print_dft.F:2724",
        "DOS/PDOS/COMPONENTS": "src/input_cp2k_print_dft.F:2730",
        "DOS/LDOS": "src/input_cp2k_print_dft.F:2806",
        "DOS/LDOS/LIST": "src/input_cp2k_print_dft.F:2815",
        "MO": "src/input_cp2k_print_dft.F:540",
        "MO/ENERGIES": "src/input_cp2k_print_dft.F:558",
        "MO/OCCUPATION_NUMBERS": "src/input_cp2k_print_dft.F:570",
        "MO/MO_INDEX_RANGE": "src/input_cp2k_print_dft.F:592",
        "MO/ADD_LAST": "src/input/cp_output_handling.F:262",
        "MO/EACH": "src/input/cp_output_handling.F:221",
        "MO/EACH/QS_SCF": "src/common/cp_iter_types.F:34",
        "E_DENSITY_CUBE": "src/input_cp2k_print_dft.F:868",
        "E_DENSITY_CUBE/STRIDE": "src/input_cp2k_print_dft.F:2601",
        "V_HARTREE_CUBE": "src/input_cp2k_print_dft.F:929",
        "V_HARTREE_CUBE/STRIDE": "src/input_cp2k_print_dft.F:935",
    },
}


def cp2k_release(version: str) -> tuple[int, int]:
    """(year, number) of a CP2K version string: ``2023.1``, ``v2026.2``, ``2026.2 (Development
    Version)``; raises :class:`DftpostError` for anything else."""
    m = re.match(r"\s*(?:CP2K version\s+)?v?(\d+)\.(\d+)", str(version))
    if m is None:
        raise DftpostError(None, f"CP2K version {version!r} is not a release number such as 2023.1 or 2026.2")
    return int(m.group(1)), int(m.group(2))


@cache
def installed_cp2k_version(program: str = "cp2k.psmp") -> str | None:
    """The version ``program --version`` reports (``2023.1``), or None when it is not on PATH or
    says no version."""
    path = shutil.which(program)
    if path is None:
        return None
    try:
        text = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"CP2K version\s+(\S+)", text)
    return m.group(1) if m else None


def uses_dos_section(version: str) -> bool:
    """True when CP2K ``version`` prints PDoS and LDOS by ``&DFT%PRINT%DOS`` (2026.2 and later)."""
    return cp2k_release(version) >= DOS_SECTION_SINCE


def layout_note(settings: Cp2kSettings) -> str:
    """One line saying which CP2K release and PDoS layout an input is written for."""
    where = "&DFT%PRINT%DOS with &PDOS and &LDOS" if uses_dos_section(settings.cp2k_version) else "&DFT%PRINT%PDOS with &LDOS"
    since = ".".join(map(str, DOS_SECTION_SINCE))
    older = "CP2K >= " + since if uses_dos_section(settings.cp2k_version) else "CP2K < " + since
    return f"input written for CP2K {settings.cp2k_version}: PDoS and LDOS in {where} (the layout of {older})"


@dataclass(frozen=True)
class Cp2kSettings:
    """Settings of a generated CP2K run (units: Ry for cutoffs, K for the smearing).

    Defaults are dftpost's choices for production (the paper's cutoff was lost): 400 Ry /
    REL_CUTOFF 50, EPS_SCF 1e-6, mixing ``"auto"`` (direct density-matrix mixing, α 0.3, without
    metal; Broyden, α 0.1, β 1.5, with metal; see the module docstring; ``mixing_alpha`` and
    ``mixing_beta`` None take those values),
    cubes at STRIDE 2. ``kinds`` maps an element to (basis set, potential); others get
    ``basis`` and ``GTH-<xc>``; ``extra_basis_files`` are read after ``basis_file`` (a
    ``BASIS_SET_FILE_NAME`` each: e.g. ``BASIS_MOLOPT_UCL`` for Mg's q2 MOLOPT basis). ``added_mos`` None: 20, or 2 per metal atom (at least 20) with
    a metal. ``mo_index_range`` prints those MO energies in the log (1-based, or None).
    ``cp2k_version`` is the CP2K release the input is for (its PDoS layout: :func:`layout_note`).
    """

    project: str = "frame"
    xc: str = "PBE"
    basis: str = "DZVP-MOLOPT-SR-GTH"
    basis_file: str = "BASIS_MOLOPT"
    extra_basis_files: tuple[str, ...] = ()
    potential_file: str = "GTH_POTENTIALS"
    kinds: tuple[tuple[str, str, str], ...] = ()
    cutoff_Ry: float = 400
    rel_cutoff_Ry: float = 50
    ngrids: int = 4
    eps_default: float = 1e-10
    eps_scf: float = 1e-6
    max_scf: int = 200
    added_mos: int | None = None
    mixing: str = "auto"
    mixing_alpha: float | None = None
    mixing_beta: float | None = None
    nbroyden: int = 8
    smear_temperature_K: float = 300.0
    nlumo: int = -1
    cube_stride: int = 2
    v_hartree_cube: bool = True
    density_cube: bool = True
    print_level: str = "MEDIUM"
    mo_index_range: tuple[int, int] | None = None
    cp2k_version: str = NEWEST_CP2K_VERSION

    def __post_init__(self):
        cp2k_release(self.cp2k_version)
        if self.mixing.upper() not in MIXING_METHODS + ("AUTO",):
            raise DftpostError(None, f"CP2K mixing {self.mixing!r} is not auto or one of {', '.join(MIXING_METHODS)}")
        for name in ("cutoff_Ry", "rel_cutoff_Ry", "eps_default", "eps_scf", "mixing_alpha", "mixing_beta", "smear_temperature_K"):
            value = getattr(self, name)
            if value is None and name.startswith("mixing_"):
                continue
            if not (isinstance(value, (int, float)) and value > 0 and value < float("inf")):
                raise DftpostError(None, f"CP2K {name} must be a positive number, got {value}")
        if self.cube_stride < 1 or self.max_scf < 1 or self.ngrids < 1:
            raise DftpostError(None, "CP2K cube stride, MAX_SCF and NGRIDS must be >= 1")
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", self.project):
            raise DftpostError(None, f"CP2K project name {self.project!r}: letters, digits, _ . + - only")

    def mixing_for(self, metal: bool) -> tuple[str, float, float | None]:
        """(method, α, β or None) for a frame with or without metal."""
        method = self.mixing.upper()
        if method == "AUTO":
            method = "BROYDEN_MIXING" if metal else "DIRECT_P_MIXING"
        alpha = self.mixing_alpha if self.mixing_alpha is not None else (0.1 if metal else 0.3)
        beta = self.mixing_beta if self.mixing_beta is not None else (1.5 if metal and method == "BROYDEN_MIXING" else None)
        return method, alpha, beta

    def kind(self, element: str) -> tuple[str, str]:
        """(basis set, potential) of an element."""
        for el, basis, potential in self.kinds:
            if el == element:
                return basis, potential
        return self.basis, f"GTH-{self.xc.upper()}"

    def as_dict(self) -> dict:
        from dataclasses import asdict

        out = asdict(self)
        out["kinds"] = {el: {"basis": b, "potential": p} for el, b, p in self.kinds}
        return out


def _e(value: float) -> str:
    """1e-7 → ``1.0E-7`` (CP2K's own style, no padded exponent)."""
    mantissa, exponent = f"{value:.1E}".split("E")
    return f"{mantissa}E{int(exponent)}"


def _num(value: float) -> str:
    """A number as short as it reads exactly: 300 → ``300``, 0.4 → ``0.4``."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def _ranges(indices_1based: Sequence[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i in sorted(indices_1based):
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def ldos_section(atom_list: AtomList, label: str | None = None, per_line: int = 16) -> Cp2kSection:
    """An ``&LDOS`` section for a list (``LIST a..b`` ranges, ``per_line`` per LIST keyword)."""
    ranges = _ranges(atom_list.one_based())
    described = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in ranges)
    section = Cp2kSection("LDOS", keywords=[(COMMENT, f"{label or atom_list.name + ' = ' + atom_list.what}: atoms {described}")])
    tokens = [f"{a}..{b}" if a != b else f"{a}" for a, b in ranges]
    for k in range(0, len(tokens), per_line):
        section.keywords.append(("LIST", " ".join(tokens[k : k + per_line])))
    return section


def field_hartree_per_bohr(field_V_per_A: float) -> float:
    """A field in V/Å in atomic units (Hartree/(e·bohr))."""
    return field_V_per_A / FIELD_AU_V_PER_A


def cp2k_input(
    atoms: Atoms,
    settings: Cp2kSettings = Cp2kSettings(),
    *,
    coord_file: str,
    ldos_lists: Sequence[AtomList] = (),
    ldos_labels: Sequence[str] | None = None,
    field_V_per_A: float | None = None,
    metal: bool = False,
) -> Cp2kSection:
    """The input tree of one single point: ``atoms`` give the cell and the kinds, the
    coordinates are read by CP2K from ``coord_file`` (XYZ, beside the input). ``field_V_per_A``
    adds a homogeneous field along +z (V/Å); ``metal`` adds smearing. ``ldos_labels`` replaces
    the comment of each list."""
    s = settings
    root = Cp2kSection("ROOT")
    root.sections.append(
        Cp2kSection("GLOBAL", keywords=[("PROJECT", s.project), ("RUN_TYPE", "ENERGY"), ("PRINT_LEVEL", s.print_level)])
    )
    force_eval = Cp2kSection("FORCE_EVAL", keywords=[("METHOD", "QS")])
    root.sections.append(force_eval)
    dft = Cp2kSection(
        "DFT",
        keywords=[
            ("BASIS_SET_FILE_NAME", s.basis_file),
            *(("BASIS_SET_FILE_NAME", name) for name in s.extra_basis_files),
            ("POTENTIAL_FILE_NAME", s.potential_file),
            ("CHARGE", "0"),
            ("MULTIPLICITY", "1"),
            (COMMENT, "slab dipole correction along z; needs the fully periodic Poisson solver"),
            ("SURFACE_DIPOLE_CORRECTION", ".TRUE."),
            ("SURF_DIP_DIR", "Z"),
            (COMMENT, "correction plane at z = 0 A (cell boundary, in the vacuum) in every run, so that the"),
            (COMMENT, "field and no-field potentials compare (default -1 = density minimum, run dependent)"),
            ("SURF_DIP_POS", "0.0"),
        ],
    )
    force_eval.sections.append(dft)
    if field_V_per_A is not None:
        dft.sections.append(
            Cp2kSection(
                "EXTERNAL_POTENTIAL",
                keywords=[
                    (COMMENT, f"homogeneous field E = {field_V_per_A:+g} V/A along +z as electrostatic potential phi(z) = -A*z"),
                    (COMMENT, f"(physical potential: X,Y,Z in bohr, value in Hartree; A = {field_V_per_A:g} V/A in Ha/bohr)"),
                    (COMMENT, "sawtooth: the jump A*Lz sits at the cell boundary z = 0 = Lz, inside the vacuum"),
                    ("FUNCTION", "-A*Z"),
                    ("PARAMETERS", "A"),
                    ("VALUES", f"{field_hartree_per_bohr(field_V_per_A):.10e}"),
                    ("STATIC", ".TRUE."),
                ],
            )
        )
    dft.sections += [
        Cp2kSection("POISSON", keywords=[("POISSON_SOLVER", "PERIODIC"), ("PERIODIC", "XYZ")]),
        Cp2kSection(
            "MGRID", keywords=[("CUTOFF", _num(s.cutoff_Ry)), ("REL_CUTOFF", _num(s.rel_cutoff_Ry)), ("NGRIDS", str(s.ngrids))]
        ),
        Cp2kSection("QS", keywords=[("EPS_DEFAULT", _e(s.eps_default))]),
    ]
    n_metal = int(sum(1 for z in atoms.numbers if z not in (1, 8)))
    added = s.added_mos if s.added_mos is not None else (max(20, 2 * n_metal) if metal else 20)
    method, alpha, beta = s.mixing_for(metal)
    mixing = Cp2kSection("MIXING", keywords=[("METHOD", method), ("ALPHA", _num(alpha))])
    if beta is not None:
        mixing.keywords.append(("BETA", _num(beta)))
    if method == "BROYDEN_MIXING":
        mixing.keywords.append(("NBROYDEN", str(s.nbroyden)))
    scf = Cp2kSection(
        "SCF",
        keywords=[("SCF_GUESS", "ATOMIC"), ("EPS_SCF", _e(s.eps_scf)), ("MAX_SCF", str(s.max_scf)), ("ADDED_MOS", str(added))],
        sections=[Cp2kSection("DIAGONALIZATION", keywords=[("ALGORITHM", "STANDARD")]), mixing],
    )
    if metal:
        scf.sections.append(
            Cp2kSection(
                "SMEAR",
                "ON",
                keywords=[("METHOD", "FERMI_DIRAC"), ("ELECTRONIC_TEMPERATURE", f"[K] {_num(s.smear_temperature_K)}")],
            )
        )
    scf.sections.append(Cp2kSection("PRINT", sections=[Cp2kSection("RESTART", "OFF")]))
    dft.sections.append(scf)
    dft.sections.append(Cp2kSection("XC", sections=[Cp2kSection("XC_FUNCTIONAL", s.xc.upper())]))

    printing = Cp2kSection("PRINT")
    if s.mo_index_range is not None:
        lo, hi = s.mo_index_range
        printing.sections.append(
            Cp2kSection(
                "MO",
                keywords=[
                    (COMMENT, "HOMO-3 .. LUMO+3, once, after SCF convergence"),
                    ("ENERGIES", ".TRUE."),
                    ("OCCUPATION_NUMBERS", ".TRUE."),
                    ("MO_INDEX_RANGE", f"{lo} {hi}"),
                    ("ADD_LAST", "NUMERIC"),
                ],
                sections=[Cp2kSection("EACH", keywords=[("QS_SCF", "0")])],
            )
        )
    nlumo = [(COMMENT, "-1 = all virtual states" if s.nlumo == -1 else f"{s.nlumo} virtual states"), ("NLUMO", str(s.nlumo))]
    if uses_dos_section(s.cp2k_version):
        pdos = Cp2kSection(
            "DOS",
            keywords=[(COMMENT, layout_note(s)), *nlumo],
            sections=[Cp2kSection("PDOS", keywords=[("COMPONENTS", ".FALSE.")])],
        )
    else:
        pdos = Cp2kSection("PDOS", keywords=[*nlumo, ("COMPONENTS", ".FALSE.")])
    labels = list(ldos_labels) if ldos_labels is not None else [None] * len(ldos_lists)
    if len(labels) != len(ldos_lists):
        raise DftpostError(None, "one label per LDOS list")
    for atom_list, label in zip(ldos_lists, labels):
        pdos.sections.append(ldos_section(atom_list, label))
    printing.sections.append(pdos)
    stride = " ".join([str(s.cube_stride)] * 3)
    if s.v_hartree_cube:
        printing.sections.append(Cp2kSection("V_HARTREE_CUBE", keywords=[("STRIDE", stride)]))
    if s.density_cube:
        printing.sections.append(Cp2kSection("E_DENSITY_CUBE", keywords=[("STRIDE", stride)]))
    dft.sections.append(printing)

    subsys = Cp2kSection("SUBSYS")
    force_eval.sections.append(subsys)
    cell = atoms.cell[:]
    if (abs(cell - cell.diagonal() * [[1, 0, 0], [0, 1, 0], [0, 0, 1]]) < 1e-12).all():
        cell_keywords = [("ABC", " ".join(repr(float(x)) for x in cell.diagonal()))]
    else:
        cell_keywords = [(name, " ".join(repr(float(x)) for x in vector)) for name, vector in zip("ABC", cell)]
    subsys.sections.append(Cp2kSection("CELL", keywords=cell_keywords + [("PERIODIC", "XYZ")]))
    subsys.sections.append(
        Cp2kSection("TOPOLOGY", keywords=[("COORD_FILE_NAME", coord_file), ("COORD_FILE_FORMAT", "XYZ")])
    )
    for element in sorted(set(atoms.get_chemical_symbols()), key=lambda el: atomic_numbers[el]):
        basis, potential = s.kind(element)
        subsys.sections.append(Cp2kSection("KIND", element, keywords=[("BASIS_SET", basis), ("POTENTIAL", potential)]))
    return root


def render(root: Cp2kSection, indent: str = "  ") -> str:
    """CP2K input text of a tree (the children of ``root`` at the top level): keywords (``!``
    ones as comment lines) before subsections, ``&END NAME`` closing each section."""
    lines: list[str] = []

    def walk(section: Cp2kSection, depth: int) -> None:
        pad = indent * depth
        for key, value in section.keywords:
            if key == COMMENT:
                lines.append(f"{pad}! {value}")
            else:
                lines.append(f"{pad}{key} {value}".rstrip())
        for child in section.sections:
            lines.append(f"{pad}&{child.name}" + (f" {child.parameter}" if child.parameter else ""))
            walk(child, depth + 1)
            lines.append(f"{pad}&END {child.name}")

    walk(root, 0)
    return "\n".join(lines) + "\n"


def without_comments(section: Cp2kSection) -> Cp2kSection:
    """A copy of the tree without comment keywords (what the input reader returns)."""
    return Cp2kSection(
        section.name,
        section.parameter,
        [(k, v) for k, v in section.keywords if k != COMMENT],
        [without_comments(c) for c in section.sections],
    )


def write_xyz(atoms: Atoms, path: Path, comment: str = "") -> None:
    """The coordinates CP2K reads (``COORD_FILE_FORMAT XYZ``), written by ASE as extended XYZ
    (the cell on the comment line; CP2K reads symbol and position of each line)."""
    from ase.io import write

    plain = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    if comment:
        plain.info["comment"] = re.sub(r"[\"\n]", "'", comment)
    write(path, plain, format="extxyz")


def input_name(settings: Cp2kSettings) -> str:
    return f"{settings.project}.inp"


def log_name(settings: Cp2kSettings) -> str:
    return f"{settings.project}.out"
