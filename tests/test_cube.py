"""Gaussian cube reader: against ASE on every real cube, against CP2K's own printed numbers,
against Python's float() on fuzzed files, and on damaged files."""

from __future__ import annotations

import re

import numpy as np
import pytest
from ase import Atoms
from ase.io.cube import read_cube_data
from conftest import CP2K_FIXTURE, examples, ids, realdata_files
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dftpost.errors import ParseError
from dftpost.grid import Grid
from dftpost.io import cp2k
from dftpost.io.cube import read_cube, read_cube_header, write_cube
from dftpost.units import BOHR_A, DIPOLE_SHEET_V_A_PER_E, HARTREE_EV

REAL_CUBES = realdata_files("**/*.cube") + sorted(CP2K_FIXTURE.glob("*/*.cube"))
FACTOR = {
    "electrostatic_potential": -HARTREE_EV,
    "electron_density": BOHR_A**-3,
    "wavefunction": BOHR_A**-1.5,
    "unknown": 1.0,
}


@pytest.mark.parametrize("path", REAL_CUBES, ids=ids(REAL_CUBES))
def test_real_cube_matches_ase(path):
    grid = read_cube(path)
    data, atoms = read_cube_data(str(path))
    assert grid.values.shape == data.shape
    np.testing.assert_allclose(grid.values, data * FACTOR[grid.quantity], rtol=1e-14, atol=0)
    np.testing.assert_allclose(grid.atoms.positions, atoms.positions, atol=1e-12)
    np.testing.assert_array_equal(grid.atoms.numbers, atoms.numbers)
    np.testing.assert_allclose(grid.cell_A, atoms.cell[:], atol=1e-12)
    header = read_cube_header(path)
    assert header.shape == grid.shape and header.quantity == grid.quantity


DENSITY_RUNS = [p.parent for p in realdata_files("cp2k/**/*ELECTRON_DENSITY*.cube")] + [
    CP2K_FIXTURE / "nofield",
    CP2K_FIXTURE / "field",
]


@pytest.mark.parametrize("run", DENSITY_RUNS, ids=[r.name for r in DENSITY_RUNS])
def test_density_integrates_to_the_electron_count_cp2k_prints(run):
    (cube,) = run.glob("*ELECTRON_DENSITY*.cube")
    (log_path,) = [p for p in run.glob("*.out")]
    log = cp2k.read_log(log_path)
    grid = read_cube(cube)
    assert grid.quantity == "electron_density" and grid.units == "e/Å^3"
    # CP2K prints the integral of its (negative-signed) electronic density on the full grid
    assert grid.integral() == pytest.approx(-log.electronic_density_integral, rel=1e-3)
    assert grid.integral() == pytest.approx(log.n_electrons, rel=1e-3)


def _planar_average_z(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    z = grid.origin_A[2] + np.arange(grid.shape[2]) * grid.voxel_A[2, 2]
    return z, grid.values.mean(axis=(0, 1))


def _vacuum_step(grid: Grid, atoms: Atoms) -> float:
    """Potential 2–3.5 Å above the topmost atom minus 2–3.5 Å below the lowest one, in V."""
    z, profile = _planar_average_z(grid)
    top, bottom = atoms.positions[:, 2].max(), atoms.positions[:, 2].min()
    above = profile[(z > top + 2.0) & (z < top + 3.5)]
    below = profile[(z < bottom - 2.0) & (z > bottom - 3.5)]
    return float(above.mean() - below.mean())


DIPCOR_RUNS = [
    d
    for d in [
        *(p.parent for p in realdata_files("cp2k/generated_cp2k2023.1/water_dipcor/*v_hartree*.cube")),
        *(p.parent for p in realdata_files("cp2k/water8_slab_field/run_a_nofield/*v_hartree*.cube")),
        CP2K_FIXTURE / "nofield",
    ]
]


@pytest.mark.parametrize("run", DIPCOR_RUNS, ids=[r.name for r in DIPCOR_RUNS])
def test_vacuum_step_of_v_hartree_equals_the_printed_slab_dipole(run):
    """The dipole-corrected potential jumps across the slab by p/(ε0·A): the cube (converted to
    the physical potential) and the log (sign flipped) must agree in size and in sign."""
    (cube,) = run.glob("*v_hartree*.cube")
    (log_path,) = run.glob("*.out")
    log = cp2k.read_log(log_path)
    grid = read_cube(cube)
    area = abs(np.linalg.det(log.cell_A[:2, :2]))
    expected = log.slab_dipole_e_A * DIPOLE_SHEET_V_A_PER_E / area
    assert _vacuum_step(grid, log.atoms) == pytest.approx(expected, rel=0.02)


def test_water_dipcor_step_is_the_documented_4_287_V(realdata):
    run = realdata / "cp2k/generated_cp2k2023.1/water_dipcor"
    grid = read_cube(run / "water_dipcor-v_hartree-1_0.cube")
    log = cp2k.read_log(run / "water_dipcor.out")
    assert _vacuum_step(grid, log.atoms) == pytest.approx(4.287, abs=0.01)


def test_cp2k_potential_is_positive_at_nuclei(realdata):
    """Physical potential: large and positive at a nucleus (CP2K's cube holds minus it)."""
    run = realdata / "cp2k/water8_slab_field/run_a_nofield"
    grid = read_cube(run / "water_slab-v_hartree-1_0.cube")
    o = grid.atoms.positions[0] - grid.origin_A
    index = np.rint(np.linalg.solve(grid.voxel_A.T, o)).astype(int) % np.array(grid.shape)
    assert grid.values[tuple(index)] > 100.0


# ---------------------------------------------------------------------------- synthetic files
def _grid(values, quantity="electron_density") -> Grid:
    atoms = Atoms("H2O", positions=[[0.1, 0.2, 0.3], [1.0, 0.0, 0.5], [0.0, 1.0, 0.7]])
    return Grid(
        values=values,
        origin_A=np.array([0.5, -0.25, 0.125]),
        voxel_A=np.array([[0.2, 0.0, 0.0], [0.05, 0.3, 0.0], [0.0, 0.0, 0.25]]),
        atoms=atoms,
        quantity=quantity,
        units="e/Å^3",
    )


def _python_parse(path) -> np.ndarray:
    """Reference: every token after the header through Python's float() (Fortran's
    three-digit exponents, written without the letter, get their E back first)."""
    lines = path.read_text().splitlines()
    n_atoms = abs(int(lines[2].split()[0]))
    tokens = [t for line in lines[6 + n_atoms :] for t in line.split()]
    return np.array([float(re.sub(r"(\d)([-+]\d{3})$", r"\1E\2", t)) for t in tokens])


@examples(60)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 15)),
        elements=st.floats(-1e90, 1e90, allow_nan=False, allow_infinity=False),
    )
)
def test_fast_reader_equals_python_float_on_fuzzed_cubes(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("cube") / "fuzz.cube"
    write_cube(path, _grid(values))
    grid = read_cube(path)
    reference = _python_parse(path) * BOHR_A**-3
    np.testing.assert_allclose(grid.values.ravel(), reference, rtol=2e-16 * 4, atol=0)


@pytest.mark.parametrize("n3", [1, 5, 6, 7, 13, 90])
def test_layouts_column_wrapped_and_run_on(tmp_path, n3):
    rng = np.random.default_rng(n3)
    values = (rng.random((3, 4, n3)) - 0.5) * 10.0 ** rng.integers(-20, 20, (3, 4, n3))
    path = tmp_path / "c.cube"
    write_cube(path, _grid(values))
    column = read_cube(path).values
    np.testing.assert_allclose(column, values, rtol=5e-5)  # five significant digits
    # the same numbers run on six to a line (no new line per z-column), as some writers do
    lines = path.read_text().splitlines(keepends=True)
    head, tokens = lines[:9], " ".join(lines[9:]).split()
    runon = "".join(head) + "".join(
        "".join(f"{float(t):13.5E}" for t in tokens[i : i + 6]) + "\n" for i in range(0, len(tokens), 6)
    )
    (tmp_path / "r.cube").write_text(runon)
    np.testing.assert_allclose(read_cube(tmp_path / "r.cube").values, column, rtol=1e-15, atol=0)
    # and free format, one value per line (ASE's writer)
    free = "".join(head) + "".join(f"{float(t):e}\n" for t in tokens)
    (tmp_path / "f.cube").write_text(free)
    np.testing.assert_allclose(read_cube(tmp_path / "f.cube").values, column, rtol=1e-6)


def test_three_digit_exponent_without_letter(tmp_path):
    """Fortran writes 1.2E-100 as ' 0.12000-99'-style fields without the E: still read."""
    values = np.full((1, 1, 3), 1.5)
    path = tmp_path / "e.cube"
    write_cube(path, _grid(values))
    _replace_first_value(path, "-0.12345-100")
    grid = read_cube(path)
    assert grid.values[0, 0, 0] == pytest.approx(-0.12345e-100 * BOHR_A**-3, rel=1e-12)


def _replace_first_value(path, token: str) -> None:
    """Put ``token`` (13 characters at most) in place of the first value of a cube's data."""
    lines = path.read_text().splitlines(keepends=True)
    n_atoms = abs(int(lines[2].split()[0]))
    first = 6 + n_atoms
    lines[first] = token.rjust(13) + lines[first][13:]
    path.write_text("".join(lines))


def test_negative_voxel_counts_mean_angstrom(tmp_path):
    values = np.arange(8.0).reshape(2, 2, 2)
    path = tmp_path / "a.cube"
    write_cube(path, _grid(values))
    lines = path.read_text().splitlines(keepends=True)
    for i in (3, 4, 5):
        n, *v = lines[i].split()
        lines[i] = f"{-int(n):5d}" + "".join(f"{float(x) * BOHR_A:12.6f}" for x in v) + "\n"
    for i in range(6, 9):
        z, q, *xyz = lines[i].split()
        lines[i] = f"{int(z):5d}{0.0:12.6f}" + "".join(f"{float(x) * BOHR_A:12.6f}" for x in xyz) + "\n"
    path.write_text("".join(lines))
    grid = read_cube(path)
    np.testing.assert_allclose(grid.voxel_A, _grid(values).voxel_A, atol=1e-5)
    np.testing.assert_allclose(grid.atoms.positions, _grid(values).atoms.positions, atol=1e-5)


# ---------------------------------------------------------------------------- damaged files
@pytest.fixture
def good_cube(tmp_path):
    path = tmp_path / "good.cube"
    write_cube(path, _grid(np.linspace(-1, 1, 4 * 3 * 10).reshape(4, 3, 10)))
    return path


@pytest.mark.parametrize("keep", [0.02, 0.1, 0.5, 0.97])
def test_truncated_cube_is_a_clear_error(good_cube, keep):
    blob = good_cube.read_bytes()
    good_cube.write_bytes(blob[: int(len(blob) * keep)])
    with pytest.raises(ParseError) as info:
        read_cube(good_cube)
    assert str(good_cube) in str(info.value)
    assert "\n" not in str(info.value)


def test_header_announcing_more_points_is_an_error(good_cube):
    text = good_cube.read_text().splitlines(keepends=True)
    text[3] = "    5" + text[3][5:]
    good_cube.write_text("".join(text))
    with pytest.raises(ParseError, match="truncated|expected"):
        read_cube(good_cube)


def test_extra_values_are_an_error(good_cube):
    good_cube.write_text(good_cube.read_text() + "  0.10000E+01  0.20000E+01\n")
    with pytest.raises(ParseError, match="more than"):
        read_cube(good_cube)


def test_nan_and_garbage_are_errors(good_cube, tmp_path):
    text = good_cube.read_text()
    nan = tmp_path / "nan.cube"
    nan.write_text(text)
    _replace_first_value(nan, "NaN")
    with pytest.raises(ParseError, match="finite"):
        read_cube(nan)
    word = tmp_path / "word.cube"
    word.write_text(text)
    _replace_first_value(word, "hello")
    with pytest.raises(ParseError, match="not a number"):
        read_cube(word)
    binary = tmp_path / "binary.cube"
    binary.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(ParseError, match=str(binary.name)):
        read_cube(binary)
    empty = tmp_path / "empty.cube"
    empty.write_text("")
    with pytest.raises(ParseError, match="header"):
        read_cube(empty)
