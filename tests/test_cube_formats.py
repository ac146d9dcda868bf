"""CP2K's cube layouts of every release, written exactly by the format statements of
``src/pw/realspace_grid_cube.F`` (cp2k/cp2k) at each tag, and read back by dftpost."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import CP2K_FIXTURE

from dftpost.io.cube import read_cube, read_cube_header
from dftpost.units import BOHR_A


def fortran_e(x: float, width: int, decimals: int, exponent_digits: int | None) -> str:
    """Fortran ``Ew.d`` / ``Ew.dEe`` on output (gfortran): 0.ddddd mantissa, the leading zero
    kept when the width allows; without ``Ee`` a three-digit exponent drops its letter."""
    if x == 0:
        mantissa, exponent = 0.0, 0
    else:
        exponent = math.floor(math.log10(abs(x))) + 1
        mantissa = round(abs(x) / 10.0**exponent, decimals)
        if mantissa >= 1.0:
            exponent, mantissa = exponent + 1, round(abs(x) / 10.0 ** (exponent + 1), decimals)
    digits = f"{mantissa:.{decimals}f}"  # "0.12346"
    if exponent_digits is None:
        tail = f"E{exponent:+03d}" if abs(exponent) < 100 else f"{exponent:+04d}"
    else:
        tail = f"E{exponent:+0{exponent_digits + 1}d}"
    body = ("-" if x < 0 else "") + digits + tail
    if len(body) > width:
        body = body.replace("0.", ".", 1)
    return body.rjust(width) if len(body) <= width else "*" * width


def fortran_es(x: float, width: int, decimals: int, exponent_digits: int) -> str:
    """Fortran ``ESw.dEe``: d.dddd mantissa."""
    text = f"{x:.{decimals}E}"
    mantissa, exponent = text.split("E")
    return f"{mantissa}E{int(exponent):+0{exponent_digits + 1}d}".rjust(width)


def write_cube(path, fixture, value_format: str, zeff=None):
    """The cube of ``fixture`` (a CP2K 2023.1 cube) rewritten by pw_to_cube of a tag:
    header (a11) title lines, (I5,3f12.6) count/origin and voxel lines, (I5,4f12.6) atom lines
    with 0 or Z_eff as second column; values six per line, every z-column on new lines."""
    grid = read_cube(fixture)
    lines = fixture.read_text().splitlines()
    n_atoms = int(lines[2].split()[0])
    out = lines[:6]
    for i, line in enumerate(lines[6 : 6 + n_atoms]):
        z, _zero, x, y, zz = line.split()
        second = 0.0 if zeff is None else zeff[i]
        out.append(f"{int(z):5d}" + "".join(f"{v:12.6f}" for v in (second, float(x), float(y), float(zz))))
    raw = np.array([float(v) for v in " ".join(lines[6 + n_atoms :]).split()]).reshape(grid.shape)
    for column in raw.reshape(-1, grid.shape[2]):
        for start in range(0, column.size, 6):
            out.append("".join(value_format(v) for v in column[start : start + 6]))
    path.write_text("\n".join(out) + "\n")
    return raw


FORMATS = {
    # v2023.1 src/pw/realspace_grid_cube.F:198 WRITE (unit_nr, '(6E13.5)')
    "E13.5 (<= 2026.1)": lambda v: fortran_e(v, 13, 5, None),
    # v2026.2 src/pw/realspace_grid_cube.F:35-36 cube_values_format = '(6E13.5E3)' (#5245)
    "E13.5E3 (2026.2)": lambda v: fortran_e(v, 13, 5, 3),
    # d3d49ac900 (Aug 2026, after 2026.2) src/pw/realspace_grid_cube.F:35-36 '(6(1X,ES12.4E3))' (#5698)
    "1X,ES12.4E3 (after 2026.2)": lambda v: " " + fortran_es(v, 12, 4, 3),
}


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("cube", ["water4-v_hartree-1_0.cube", "water4-ELECTRON_DENSITY-1_0.cube"])
def test_cube_value_formats_of_every_release(tmp_path, name, cube):
    fixture = CP2K_FIXTURE / "nofield" / cube
    path = tmp_path / cube
    raw = write_cube(path, fixture, FORMATS[name])
    text = path.read_text()
    if name.startswith("E13.5E3") and "v_hartree" in cube:
        assert any(c.isdigit() for c in text.split("-0.")[0][-3:])  # negative fields glued to the last
    ours, reference = read_cube(path), read_cube(fixture)
    np.testing.assert_allclose(ours.origin_A, reference.origin_A)
    np.testing.assert_allclose(ours.voxel_A, reference.voxel_A)
    decimals = 4 if "ES12.4" in name else 5
    # each value as written: relative rounding of the mantissa
    scale = np.abs(reference.values).max()
    np.testing.assert_allclose(ours.values, reference.values, rtol=10.0 ** -decimals, atol=1e-12 * scale)
    assert ours.values.shape == raw.shape


def test_fields_of_e13_5e3_are_exactly_thirteen_wide():
    """The writer matches the format: 13 characters, three exponent digits, leading zero."""
    assert fortran_e(-0.0123456, 13, 5, 3) == "-0.12346E-001"
    assert fortran_e(123.456, 13, 5, 3) == " 0.12346E+003"
    assert fortran_e(1.5e-120, 13, 5, None) == "  0.15000-119"
    assert " " + fortran_es(-0.0123456, 12, 4, 3) == " -1.2346E-002"


def test_atom_lines_with_the_effective_nuclear_charge(tmp_path):
    """v2026.1 src/pw/realspace_grid_cube.F:146: WRITE '(I5,4f12.6)' Z, Z_eff, x, y, z (#4584):
    the structure is the same as with 0.0 in that column."""
    fixture = CP2K_FIXTURE / "nofield" / "water4-ELECTRON_DENSITY-1_0.cube"
    n_atoms = int(fixture.read_text().splitlines()[2].split()[0])
    header = read_cube_header(fixture)
    zeff = [6.0 if z == 8 else 1.0 for z in read_cube(fixture).atoms.numbers]
    path = tmp_path / "zeff.cube"
    write_cube(path, fixture, FORMATS["E13.5 (<= 2026.1)"], zeff=zeff)
    assert path.read_text().splitlines()[6].split()[1] in ("6.000000", "1.000000")
    ours = read_cube(path)
    assert len(ours.atoms) == n_atoms == header.n_atoms
    np.testing.assert_array_equal(ours.atoms.numbers, read_cube(fixture).atoms.numbers)
    np.testing.assert_allclose(ours.atoms.positions, read_cube(fixture).atoms.positions, atol=1e-6 * BOHR_A)


@pytest.mark.parametrize("cube", ["water4-v_hartree-1_0.cube", "water4-ELECTRON_DENSITY-1_0.cube"])
def test_the_e13_5_writer_rebuilds_the_real_cp2k_2023_1_cubes_byte_for_byte(tmp_path, cube):
    fixture = CP2K_FIXTURE / "nofield" / cube
    write_cube(tmp_path / cube, fixture, FORMATS["E13.5 (<= 2026.1)"])
    assert (tmp_path / cube).read_text() == fixture.read_text()
