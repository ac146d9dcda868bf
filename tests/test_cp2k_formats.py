"""CP2K's projected-DoS layouts of every release, written exactly by the Fortran format
statements of CP2K's source at each tag (``src/qs_pdos.F``, ``src/qs_dos_utils.F`` of
cp2k/cp2k), and read back by dftpost.

The same run (``fixtures/cp2k/water4_slab/nofield``, CP2K 2023.1) is rewritten in each layout:
every layout must give the same projected DoS and the same water band edges.
"""

from __future__ import annotations

import math
import re
import shutil

import numpy as np
import pytest
from conftest import CP2K_FIXTURE

from dftpost.errors import DftpostError, MissingInputError, ParseError
from dftpost.io import cp2k
from dftpost.io.rundir import read_run
from dftpost.units import HARTREE_EV

NOFIELD = CP2K_FIXTURE / "nofield"
#: CP2K's eV per Hartree (cp_unit_from_cp2k(1, "eV"), CODATA 2018), for the "= ... eV" parts
CP2K_EV = 27.211386245988


# ---------------------------------------------------------------- Fortran edit descriptors
def A(text: str, width: int) -> str:
    """Fortran ``Aw`` on output: right-justified in ``w``, or its first ``w`` characters."""
    return text.rjust(width) if len(text) < width else text[:width]


def F(x: float, width: int, decimals: int) -> str:
    """Fortran ``Fw.d``: stars when the number does not fit."""
    out = f"{x:{width}.{decimals}f}"
    return out if len(out) <= width else "*" * width


def I(n: int, width: int) -> str:  # noqa: E743 - the Fortran descriptor's name
    return f"{n:{width}d}"


# ---------------------------------------------------------------- the run, as CP2K held it
def read_states(path):
    """(title words, E(Fermi) a.u., orbital names, MO energies a.u., occupations, weights) of a
    CP2K 2023.1 .pdos file, as printed."""
    lines = path.read_text().splitlines()
    title = lines[0]
    fermi = float(re.search(r"E\(Fermi\) =\s*(\S+)", title).group(1))
    names = lines[1].split()[5:]  # '#', 'MO', 'Eigenvalue', '[a.u.]', 'Occupation', s, p, ...
    table = np.array([[float(x) for x in line.split()] for line in lines[2:]])
    return title, fermi, names, table[:, 1], table[:, 2], table[:, 3:]


def titles(title: str):
    """The kind name, or the list number and its atom count, of a 2023.1 title line."""
    kind = re.search(r"atomic kind (\S+)", title)
    if kind:
        return "kind", kind.group(1)
    m = re.search(r"list (\d+) of (\d+) atoms", title)
    return "list", (int(m.group(1)), int(m.group(2)))


def hoco_au(energies, occupations):
    """qs_pdos.F v2026.2 lines 564-571: the highest energy with occupation > 1e-10."""
    occupied = energies[occupations > 1e-10]
    return occupied.max()


# ---------------------------------------------------------------- writers, per tag
def write_v2026_1(path, title, fermi, names, energies, occupations, weights, step=0):
    """src/qs_pdos.F at v2026.1 (the same statements as v2025.2 and before): kinds lines
    701-737, lists 769-806. Title (A,I0,A,F12.6,A); columns (A42,n(10X,A8)); rows
    (I8,2X,2F16.6,n(2X,F16.8))."""
    what, which = titles(title)
    if what == "kind":
        head = f"# Projected DOS for atomic kind {which} at iteration step i = {step}, E(Fermi) = {F(fermi, 12, 6)} a.u."
    else:
        head = f"# Projected DOS for list {which[0]} of {which[1]} atoms, at iteration step i = {step}, E(Fermi) = {F(fermi, 12, 6)} a.u."
    out = [head, A("#     MO Eigenvalue [a.u.]      Occupation", 42) + "".join(" " * 10 + A(n, 8) for n in names)]
    for i, (e, o, w) in enumerate(zip(energies, occupations, weights), 1):
        out.append(I(i, 8) + "  " + F(e, 16, 6) + F(o, 16, 6) + "".join("  " + F(x, 16, 8) for x in w))
    path.write_text("\n".join(out) + "\n")


def write_v2026_2(path, title, fermi, names, energies, occupations, weights, step=0):
    """src/qs_pdos.F at v2026.2: kinds lines 813-856, lists 909-956. Title (A,I0); E(Fermi)
    and E(HOCO) (A,F12.6,A,F12.6,A); columns (A42,n(10X,A8)) with "Total" first; rows
    (I8,2X,2F16.6,n(2X,F16.8)) with the sum of the orbital columns first."""
    what, which = titles(title)
    if what == "kind":
        head = f"# Projected DOS for atomic kind {which} at iteration step i = {step}"
    else:
        head = f"# Projected DOS for list {which[0]} of {which[1]} atoms, at iteration step i = {step}"
    hoco = hoco_au(energies, occupations)
    out = [
        head,
        f"# E(Fermi) = {F(fermi, 12, 6)} a.u. = {F(fermi * CP2K_EV, 12, 6)} eV",
        f"# E(HOCO)  = {F(hoco, 12, 6)} a.u. = {F(hoco * CP2K_EV, 12, 6)} eV",
        A("#          MO Energy[a.u.]      Occupation", 42) + "".join(" " * 10 + A(n, 8) for n in ["Total", *names]),
    ]
    for i, (e, o, w) in enumerate(zip(energies, occupations, weights), 1):
        out.append(I(i, 8) + "  " + F(e, 16, 6) + F(o, 16, 6) + "".join("  " + F(x, 16, 8) for x in [w.sum(), *w]))
    path.write_text("\n".join(out) + "\n")


def write_trunk_raw(path, title, fermi, names, energies, occupations, weights, zero="FERMI", unit="eV", step=0):
    """The .pdos_raw of CP2K trunk builds between #5326 (45bd6cb1d1, 1 June 2026) and #5564
    (2c97d88377, 13 July 2026): src/qs_pdos.F at 49523fb0eb lines 776-826. As v2026.2 plus an
    "# Energy zero:" line, the energy label of the unit, and energies (e - zero) * unit."""
    what, which = titles(title)
    head = (f"# Projected DOS for atomic kind {which} at iteration step i = {step}" if what == "kind"
            else f"# Projected DOS for list {which[0]} of {which[1]} atoms, at iteration step i = {step}")
    hoco = hoco_au(energies, occupations)
    ref = {"FERMI": fermi, "HOCO": hoco, "ABSOLUTE": 0.0}[zero]
    factor = CP2K_EV if unit == "eV" else 1.0
    label = "Energy[eV]" if unit == "eV" else "Energy[a.u.]"
    out = [
        head,
        f"# E(Fermi) = {F(fermi, 12, 6)} a.u. = {F(fermi * CP2K_EV, 12, 6)} eV",
        f"# E(HOCO)  = {F(hoco, 12, 6)} a.u. = {F(hoco * CP2K_EV, 12, 6)} eV",
        f"# Energy zero: {zero}",
        A(f"#          MO {label}      Occupation", 42) + "".join(" " * 10 + A(n, 8) for n in ["Total", *names]),
    ]
    for i, (e, o, w) in enumerate(zip(energies, occupations, weights), 1):
        out.append(I(i, 8) + "  " + F((e - ref) * factor, 16, 6) + F(o, 16, 6) + "".join("  " + F(x, 16, 8) for x in [w.sum(), *w]))
    path.write_text("\n".join(out) + "\n")


def write_curve_v2026_2(path, title, fermi, names, energies, occupations, weights, *, fwhm=0.01, de=0.001,
                        zero="AUTO -> HOCO", unit="eV", ndigits=8, step=0):
    """A broadened ``_curve`` file, src/qs_pdos.F at v2026.2: write_broadened_pdos (lines
    1589-1644: grid from min(e) - cutoff, NINT((emax-emin)/de)+1 points, the Gaussian of
    qs_dos_utils.F broadening_function, the cutoff of broadening_cutoff) and
    write_broadened_pdos_curve (lines 1476-1562: title (A,I0) at line 1524, E(Fermi)/E(HOCO)
    (A,F12.6,A,F12.6,A), "# Energy zero:", the (A,F10.8,A,F8.6,A) broadening line of
    qs_dos_utils.F write_broadening_info, column names (2X,A) each, rows (F15.8) then
    (2X,F20.<NDIGITS>)). Lists are titled "atom list N" (qs_pdos.F line 889)."""
    what, which = titles(title)
    head = (f"# Projected DOS for atomic kind {which} at iteration step i = {step}" if what == "kind"
            else f"# Projected DOS for atom list {which[0]} at iteration step i = {step}")
    hoco = hoco_au(energies, occupations)
    ref = {"FERMI": fermi, "HOCO": hoco, "ABSOLUTE": 0.0}[zero.split()[-1]]
    factor = CP2K_EV if unit == "eV" else 1.0
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    cutoff = 8.0 * fwhm  # qs_dos_utils.F v2026.2 line 264 (broadening_cutoff, Gaussian)
    emin, emax = energies.min() - cutoff, energies.max() + cutoff
    grid = emin + de * np.arange(round((emax - emin) / de) + 1)
    shape = np.exp(-0.5 * ((grid[:, None] - energies[None, :]) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    curve = shape @ weights  # (grid, component)
    out = [
        head,
        f"# E(Fermi) = {F(fermi, 12, 6)} a.u. = {F(fermi * CP2K_EV, 12, 6)} eV",
        f"# E(HOCO)  = {F(hoco, 12, 6)} a.u. = {F(hoco * CP2K_EV, 12, 6)} eV",
        f"# Energy zero: {zero}",
        f"# Gaussian broadening, FWHM = {F(fwhm, 10, 8)} a.u. = {F(fwhm * CP2K_EV, 8, 6)} eV",
        f"# {'Energy[eV]' if unit == 'eV' else 'Energy[a.u.]'}" + "".join("  " + n for n in ["total", *names]),
    ]
    for e, row in zip(grid, curve):
        out.append(F((e - ref) * factor, 15, 8) + "".join("  " + F(x / factor, 20, ndigits) for x in [row.sum(), *row]))
    path.write_text("\n".join(out) + "\n")
    return grid, curve


def rewrite_run(tmp_path, writer, rename=lambda name: name, **options):
    """A copy of the 2023.1 run with every .pdos file rewritten by ``writer``."""
    folder = tmp_path / "run"
    shutil.copytree(NOFIELD, folder)
    for old in sorted(folder.glob("*.pdos")):
        states = read_states(old)
        old.unlink()
        writer(folder / rename(old.name), *states, **options)
    return folder


def kind_or_list_files(folder):
    return sorted(folder.glob("*.pdos*"))


# ---------------------------------------------------------------- tests
def test_v2026_1_format_statements_reproduce_the_2023_1_files_byte_for_byte(tmp_path):
    """2026.1 writes the layout of 2023.1: its format statements rebuild the real files."""
    for original in sorted(NOFIELD.glob("*.pdos")):
        copy = tmp_path / original.name
        write_v2026_1(copy, *read_states(original))
        assert copy.read_text() == original.read_text(), original.name


@pytest.mark.parametrize("layout", ["v2026_2", "trunk_raw_fermi_eV", "trunk_raw_hoco_au", "trunk_raw_absolute_eV"])
def test_every_discrete_layout_reads_as_the_2023_1_run(tmp_path, layout):
    if layout == "v2026_2":
        folder = rewrite_run(tmp_path, write_v2026_2)
    else:
        zero, unit = layout.split("_")[2].upper(), layout.split("_")[3].replace("au", "a.u.")
        folder = rewrite_run(tmp_path, write_trunk_raw, rename=lambda n: n + "_raw", zero=zero, unit=unit)
    reference = cp2k.read_pdos_files(sorted(NOFIELD.glob("*.pdos")))
    new = cp2k.read_pdos_files(kind_or_list_files(folder))
    assert new.labels == reference.labels == ("O", "H", "list1", "list2", "list3")
    assert new.fermi_level_eV == pytest.approx(reference.fermi_level_eV, abs=1e-12)
    # energies printed to 1e-6 a.u. (or eV) after the shift: within that rounding
    tolerance = 1e-12 if layout == "v2026_2" else 1e-6 * HARTREE_EV
    np.testing.assert_allclose(new.eigenvalues_eV, reference.eigenvalues_eV, atol=tolerance)
    np.testing.assert_array_equal(new.occupations, reference.occupations)
    np.testing.assert_allclose(new.values, reference.values, atol=2e-8)  # Total: the rounded sum
    np.testing.assert_allclose(new.orbital_values, reference.orbital_values, atol=1e-12)
    assert new.orbitals == reference.orbitals and new.spin_degeneracy == 2


def test_v2026_2_hoco_line_is_the_highest_occupied_state(tmp_path):
    folder = rewrite_run(tmp_path, write_v2026_2)
    path = folder / "water4-k1-1.pdos"
    dos = cp2k.read_pdos(path)
    hoco_au_printed = float(path.read_text().splitlines()[2].split()[3])
    assert dos.summary()["homo_eV"] + dos.fermi_level_eV == pytest.approx(hoco_au_printed * HARTREE_EV, abs=1e-9)


def test_v2026_2_run_gives_the_band_edges_of_the_2023_1_run(tmp_path):
    from dftpost.analyses.gap import water_gap  # with the vacuum levels from the potential cube

    folder = rewrite_run(tmp_path, write_v2026_2)
    assert "E(HOCO)" in (folder / "water4-list1-1.pdos").read_text()
    old, new = water_gap(read_run(NOFIELD)).row(), water_gap(read_run(folder)).row()
    keys = [k for k, v in old.items() if isinstance(v, float) and np.isfinite(v)]
    assert {"vbm_eV", "cbm_eV"} <= set(keys) or any("gap" in k for k in keys)
    assert any("vacuum" in k for k in keys)  # the 2026.2 cube's levels are compared too
    for key in keys:
        assert new[key] == pytest.approx(old[key], abs=1e-9), key


def test_curve_files_read_as_a_broadened_dos(tmp_path):
    """A _curve file in eV against the HOCO holds CP2K's own broadening of the states: dftpost
    gives it in states/eV against E(Fermi), two states per closed-shell orbital; it integrates
    to twice the sum of the weights, and equals dftpost's Gaussian broadening of the discrete
    states with the σ of the stated FWHM."""
    original = NOFIELD / "water4-k1-1.pdos"
    states = read_states(original)
    path = tmp_path / "water4-k1_curve-1.pdos"
    write_curve_v2026_2(path, *states, fwhm=0.01, de=0.0005)
    assert cp2k.parse_pdos_name(path).curve
    curve = cp2k.read_pdos(path)
    discrete = cp2k.read_pdos(original)
    assert not curve.is_discrete and curve.orbitals == discrete.orbitals
    assert curve.fermi_level_eV == pytest.approx(discrete.fermi_level_eV, abs=1e-12)
    assert curve.broadening_eV == pytest.approx(0.01 * HARTREE_EV / 2.3548200450309493, rel=1e-6)
    integral = np.trapezoid(curve.values[0, 0], curve.energies_eV)
    assert integral == pytest.approx(2 * discrete.values.sum(), rel=1e-4)
    again = discrete.on_grid(sigma_eV=curve.broadening_eV, energies_eV=curve.energies_eV)
    peak = curve.values.max()
    np.testing.assert_allclose(curve.values, again.values, atol=1e-4 * peak)


@pytest.mark.parametrize("zero, unit", [("FERMI", "a.u."), ("ABSOLUTE", "eV"), ("AUTO -> HOCO", "a.u.")])
def test_curve_energy_zero_and_unit_do_not_change_the_dos(tmp_path, zero, unit):
    states = read_states(NOFIELD / "water4-list1-1.pdos")
    reference = tmp_path / "water4-list1_curve-1.pdos"
    write_curve_v2026_2(reference, *states, zero="FERMI", unit="eV")
    other = tmp_path / "other" / "water4-list1_curve-1.pdos"
    other.parent.mkdir()
    write_curve_v2026_2(other, *states, zero=zero, unit=unit)
    a, b = cp2k.read_pdos(reference), cp2k.read_pdos(other)
    assert a.labels == b.labels == ("list1",)
    np.testing.assert_allclose(b.energies_eV, a.energies_eV, atol=2e-6 * HARTREE_EV)
    np.testing.assert_allclose(b.values, a.values, rtol=1e-5, atol=1e-6 * a.values.max())


def test_trunk_run_prefers_the_discrete_pdos_raw_over_its_curves(tmp_path):
    """Trunk builds of June–July 2026 wrote the curve as .pdos and the states as .pdos_raw."""
    folder = rewrite_run(tmp_path, write_trunk_raw, rename=lambda n: n + "_raw")
    for raw in sorted(folder.glob("*.pdos_raw")):
        write_curve_v2026_2(folder / raw.name[: -len("_raw")], *read_states(NOFIELD / raw.name[: -len("_raw")]))
    run = read_run(folder)
    assert run.pdos.is_discrete and all(p.suffix == ".pdos_raw" for p in run.files["pdos"])


def test_real_space_ldos_file_is_named_as_such(tmp_path):
    path = tmp_path / "water4-r_list1-1.pdos"
    path.write_text(
        "# Projected DOS in real space, using 100 points of the grid, and eval in the range   -1.000000    1.000000 Hartree\n"
        "# E(Fermi) =    -0.196483 a.u. =    -5.346570 eV\n#          MO Energy[a.u.]      Occupation      LDOS\n"
        "       1       -0.939813        2.000000    0.1000000000E+00    0.1000000000E+02\n"
    )
    with pytest.raises(ParseError, match="real-space LDOS"):
        cp2k.read_pdos(path)


def test_total_column_that_is_not_the_sum_is_an_error(tmp_path):
    folder = rewrite_run(tmp_path, write_v2026_2)
    path = folder / "water4-k1-1.pdos"
    lines = path.read_text().splitlines()
    parts = lines[10].split()
    parts[3] = f"{float(parts[3]) + 0.01:.8f}"
    lines[10] = "  ".join(parts)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ParseError, match="data line 7: the total column"):
        cp2k.read_pdos(path)


def test_alpha_without_beta_is_an_error_naming_the_missing_channel(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    for old in sorted(NOFIELD.glob("*.pdos")):
        title, fermi, names, e, occ, w = read_states(old)
        write_v2026_2(folder / old.name.replace("water4-", "water4-ALPHA_"), title, fermi, names, e, occ / 2, w)
    with pytest.raises(MissingInputError, match="ALPHA .pdos files .* without the BETA"):
        cp2k.read_pdos_files(sorted(folder.glob("*.pdos")))
    with pytest.raises(DftpostError, match="without the BETA"):
        read_run(folder)


def test_spin_channels_of_shifted_files_share_cp2ks_zero(tmp_path):
    """With two spins CP2K shifts both channels by the higher of their references
    (qs_pdos.F at 49523fb0eb, energy_ref = MAXVAL(e_fermi_ref)): a BETA channel whose own
    E(Fermi) is lower is read on that common zero."""
    states = read_states(NOFIELD / "water4-k1-1.pdos")
    title, fermi, names, e, occ, w = states
    alpha, beta = tmp_path / "w-ALPHA_k1-1.pdos_raw", tmp_path / "w-BETA_k1-1.pdos_raw"
    write_trunk_raw(alpha, title, fermi, names, e, occ / 2, w, zero="HOCO")
    # the BETA states 0.05 Ha lower, shifted by the common (ALPHA) HOCO as CP2K does
    hoco = hoco_au(e, occ)
    write_trunk_raw(beta, title, fermi, names, e - 0.05, occ / 2, w, zero="ABSOLUTE")
    text = beta.read_text().replace("# Energy zero: ABSOLUTE", "# Energy zero: HOCO")
    rows = text.splitlines()
    body = []
    for line in rows[5:]:
        parts = line.split()
        shifted = float(parts[1]) / CP2K_EV - hoco
        body.append(line.replace(parts[1], F(shifted * CP2K_EV, 16, 6).strip(), 1))
    beta.write_text("\n".join(rows[:5] + body) + "\n")
    dos = cp2k.read_pdos_files([alpha, beta])
    np.testing.assert_allclose(dos.eigenvalues_eV[1] - dos.eigenvalues_eV[0], -0.05 * HARTREE_EV, atol=1e-5)


def test_curve_of_the_first_trunk_builds_reads_alike(tmp_path):
    """The .pdos curves of trunk builds of 26 May - 1 June 2026 (src/qs_pdos.F at f51a18d89b,
    lines 1026-1053): the E(Fermi) on the title line, no E(HOCO), no energy zero (absolute
    energies in a.u.), no total column."""
    states = read_states(NOFIELD / "water4-k2-1.pdos")
    title, fermi, names, e, occ, w = states
    reference = tmp_path / "ref" / "water4-k2_curve-1.pdos"
    reference.parent.mkdir()
    write_curve_v2026_2(reference, *states, zero="FERMI", unit="eV")
    lines = []
    for line in reference.read_text().splitlines():
        if line.startswith("# Projected DOS"):
            lines.append(f"{line}, E(Fermi) = {F(fermi, 12, 6)} a.u.")
        elif line.startswith(("# E(", "# Energy zero")):
            continue
        elif line.startswith("# Energy["):
            lines.append("# Energy[a.u.]" + "".join("  " + n for n in names))
        elif line.startswith("#"):
            lines.append(line)
        else:
            values = [float(x) for x in line.split()]
            energy_au = values[0] / CP2K_EV + fermi
            lines.append(F(energy_au, 15, 8) + "".join("  " + F(x * CP2K_EV, 20, 8) for x in values[2:]))
    old = tmp_path / "water4-k2-1.pdos"
    old.write_text("\n".join(lines) + "\n")
    a, b = cp2k.read_pdos(reference), cp2k.read_pdos(old)
    assert not b.is_discrete and b.labels == a.labels == ("H",)
    np.testing.assert_allclose(b.energies_eV, a.energies_eV, atol=2e-8 * HARTREE_EV)
    np.testing.assert_allclose(b.values, a.values, rtol=1e-5, atol=1e-6 * a.values.max())
