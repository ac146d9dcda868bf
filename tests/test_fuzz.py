"""Hypothesis fuzzing: the readers on arbitrary and mutated input, the band-edge search on
arbitrary DoS, and the fixed-width decoder of dftpost/io/text.py against numpy.

Readers: on any bytes, and on real small files with bytes or lines flipped, inserted, deleted,
repeated or replaced by nasty tokens (NaN, overflow stars, 1e999, words ...), a reader either
raises a DftpostError whose one-line message names the file, or returns a result whose numbers
are all finite (and which keeps the invariants of its type). Band edges: anything goes in; out
comes a DftpostError with a clear message (the module's error for bad parameters too) or edges
that satisfy the rules of the search, stated below.
"""

from __future__ import annotations

import dataclasses
import io
import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from conftest import CP2K_FIXTURE, REALDATA, examples
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dftpost.analysis.bandedges import BandEdgeParameters, BandEdges, find_band_edges
from dftpost.analysis.water_gap import water_gap
from dftpost.dos import ProjectedDos
from dftpost.errors import DftpostError
from dftpost.grid import CubeHeader, Grid
from dftpost.io import aims, cp2k, cube, trajectory
from dftpost.io.rundir import read_run
from dftpost.io.text import fixed_decimal_table

FUZZ = examples(30)


# ============================================================================ readers
def _frames(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # ASE's notice about its FHI-aims IO
        return list(trajectory.iter_frames(path))


# reader: (file name it reads, function, a small real file of its format)
READERS = {
    "cube.read_cube": ("fuzz-v_hartree-1_0.cube", cube.read_cube, REALDATA / "cp2k/cp2k_spm_tools/polyphenylene_cp2k_scf/PROJ-HART-v_hartree-1_0.cube"),
    "cube.read_cube_header": ("fuzz-ELECTRON_DENSITY-1_0.cube", cube.read_cube_header, REALDATA / "cp2k/cp2k_spm_tools/benzene_cp2k_scf/PROJ-WFN_00015_1-1_0.cube"),
    "aims.read_dos": ("atom_proj_dos_Cl0001.dat", lambda p: aims.read_dos(p, fermi_level_eV=-5.0), REALDATA / "fhiaims/nomad_electronic_parsers/ClNa_dos/Cl_l_proj_dos.dat"),
    "aims.read_dos(total)": ("KS_DOS_total.dat", aims.read_dos, REALDATA / "fhiaims/nomad_electronic_parsers/ClNa_dos/KS_DOS_total.dat"),
    "aims.read_output": ("aims.out", aims.read_output, REALDATA / "fhiaims/nomad_electronic_parsers/ClNa_dos/ClNa_dos.out"),
    "cp2k.read_pdos": ("fuzz-k1-1.pdos", cp2k.read_pdos, REALDATA / "cp2k/generated_cp2k2023.1/water_dipcor/water_dipcor-list2-1.pdos"),
    "cp2k.read_log": ("fuzz.out", cp2k.read_log, REALDATA / "cp2k/generated_cp2k2023.1/water_dipcor/water_dipcor.out"),
    "cp2k.read_input": ("fuzz.inp", cp2k.read_input, REALDATA / "cp2k/water8_slab_field/run_b_periodic_efield/water_slab.inp"),
    "trajectory.iter_frames": ("fuzz.xyz", _frames, CP2K_FIXTURE / "nofield" / "water4.xyz"),
}
needs_realdata = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real output files not found at {REALDATA}")


def assert_finite(x, where: str = "result") -> None:
    """Every number a reader returns is finite (None stands for 'not in the file')."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        for f in dataclasses.fields(x):
            assert_finite(getattr(x, f.name), f"{where}.{f.name}")
    elif isinstance(x, Atoms):
        assert np.isfinite(x.positions).all() and np.isfinite(x.cell[:]).all(), f"{where}: atoms not finite"
    elif isinstance(x, np.ndarray):
        if x.dtype.kind in "fc":
            assert np.isfinite(x).all(), f"{where} holds NaN or Inf"
    elif isinstance(x, float):
        assert math.isfinite(x), f"{where} = {x}"
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            assert_finite(v, f"{where}[{i}]")
    elif isinstance(x, dict):
        for k, v in x.items():
            assert_finite(v, f"{where}[{k!r}]")


def assert_valid(result) -> None:
    """The invariants of what a reader returns, beyond finite numbers."""
    assert_finite(result)
    if isinstance(result, Grid):
        assert result.values.ndim == 3 and min(result.values.shape) >= 1
        assert len(result.atoms) >= 0 and result.voxel_A.shape == (3, 3)
    elif isinstance(result, CubeHeader):
        assert len(result.shape) == 3 and min(result.shape) >= 1 and result.n_atoms >= 0
    elif isinstance(result, ProjectedDos):
        n = result.values.shape[-1]
        assert n >= 1 and result.values.shape[:2] == (result.n_spin, len(result.projections))
        if result.is_discrete:
            assert result.eigenvalues_eV.shape == (result.n_spin, n)
        else:
            assert result.energies_eV.shape == (n,) and np.all(np.diff(result.energies_eV) > 0)
    elif isinstance(result, list):  # frames
        assert all(len(atoms) == len(result[0][1]) for _, atoms in result)


def read_bytes_as(reader: str, blob: bytes):
    """Write ``blob`` under the reader's file name and read it: a DftpostError naming the file
    (returned, for the caller to inspect) or a valid result."""
    name, read, _ = READERS[reader]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(blob)
        try:
            result = read(path)
        except DftpostError as exc:
            message = str(exc)
            assert name in message and "\n" not in message, message
            return exc
        assert_valid(result)
        return result


NASTY = [
    b"nan", b"NaN", b"inf", b"-Infinity", b"1e999", b"-1e999", b"1e-400", b"***", b"************",
    b"", b" ", b"abc", b"1.0.0", b"--1", b"1e", b"0x1p3", b"1_000", "١٢".encode(), b"\x00", b"\xff\xfe",
    b"9" * 40, b"-0.0", b"1D+02", b"+.5", b".", b"-", b"E+00", b"#", b"&END", b"\r", b"\t",
]


@st.composite
def mutations(draw, blob: bytes):
    """``blob`` after one to four random edits of its bytes or lines."""
    for _ in range(draw(st.integers(1, 4))):
        lines = blob.splitlines(keepends=True) or [b""]
        numeric = [i for i, line in enumerate(lines) if any(c in b"0123456789" for c in line)] or [0]
        op = draw(st.sampled_from(["flip", "insert", "delete", "token", "drop-line", "repeat-line", "swap-lines", "cut"]))
        at = draw(st.integers(0, max(0, len(blob) - 1)))
        if op == "flip" and blob:
            blob = blob[:at] + bytes([blob[at] ^ (1 << draw(st.integers(0, 7)))]) + blob[at + 1 :]
        elif op == "insert":
            blob = blob[:at] + draw(st.sampled_from(NASTY) | st.binary(max_size=6)) + blob[at:]
        elif op == "delete":
            blob = blob[:at] + blob[at + draw(st.integers(1, 40)) :]
        elif op == "cut":
            blob = blob[:at]
        else:
            i = draw(st.sampled_from(numeric))
            j = draw(st.sampled_from(numeric))
            if op == "token":
                tokens = lines[i].split()
                if tokens:
                    k = draw(st.integers(0, len(tokens) - 1))
                    lines[i] = lines[i].replace(tokens[k], draw(st.sampled_from(NASTY)), 1)
            elif op == "drop-line":
                del lines[i]
            elif op == "repeat-line":
                lines.insert(i, lines[i])
            elif op == "swap-lines":
                lines[i], lines[j] = lines[j], lines[i]
            blob = b"".join(lines)
    return blob


@needs_realdata
@pytest.mark.parametrize("reader", READERS)
@FUZZ
@given(blob=st.binary(max_size=600) | st.text("0123456789 .-+eEDd#\n\t*naif", max_size=600).map(str.encode))
@example(blob=b"99999999999999\n\nH 0 0 0\n")  # found by this test: ASE's xyz reader read past the end for hours
def test_reader_on_arbitrary_bytes(reader, blob):
    read_bytes_as(reader, blob)


@needs_realdata
@pytest.mark.parametrize("reader", READERS)
@FUZZ
@given(data=st.data())
def test_reader_on_a_real_header_and_anything_after(reader, data):
    lines = READERS[reader][2].read_bytes().splitlines(keepends=True)
    keep = data.draw(st.integers(1, min(len(lines), 40)))
    tail = data.draw(st.binary(max_size=200) | st.text("0123456789 .-E\n", max_size=300).map(str.encode))
    read_bytes_as(reader, b"".join(lines[:keep]) + tail)


@needs_realdata
@pytest.mark.parametrize("reader", READERS)
@examples(60)
@given(data=st.data())
def test_reader_on_a_mutated_real_file(reader, data):
    read_bytes_as(reader, data.draw(mutations(READERS[reader][2].read_bytes())))


@needs_realdata
@FUZZ
@given(data=st.data())
def test_mutated_number_gives_an_error_or_that_number(data):
    """One number of a real DoS file replaced by another token: the reader gives an error, or
    the table with exactly that number changed (a number it can parse), never another one."""
    path = READERS["cp2k.read_pdos"][2]
    original = cp2k.read_pdos(path)
    lines = path.read_bytes().splitlines(keepends=True)
    i = data.draw(st.integers(2, len(lines) - 1))
    tokens = lines[i].split()
    k = data.draw(st.integers(3, len(tokens) - 1))  # a weight column
    new = data.draw(st.sampled_from(NASTY) | st.floats(0, 10).map(lambda x: f"{x:.8f}".encode()))
    lines[i] = lines[i].replace(tokens[k], new.rjust(len(tokens[k])), 1)
    result = read_bytes_as("cp2k.read_pdos", b"".join(lines))
    if isinstance(result, DftpostError):
        return
    row = i - 2
    changed = np.flatnonzero(np.any(result.orbital_values[0, 0] != original.orbital_values[0, 0], axis=0))
    assert set(changed) <= {row}
    assert np.array_equal(result.eigenvalues_eV, original.eigenvalues_eV)


# ============================================================================ fixed-width decoder
@st.composite
def fixed_tables(draw):
    """Lines of equal ``F<width>.8`` fields, as FHI-aims writes its DoS files."""
    width = draw(st.integers(18, 24))
    # what fits in front of the point with a blank before it, and at most the eight digits
    # the decoder reads there (it leaves wider numbers to numpy)
    limit = min(10.0 ** (width - 10) - 1, 99999999.0)
    values = draw(
        arrays(
            np.float64,
            st.tuples(st.integers(1, 30), st.integers(1, 7)),
            elements=st.floats(-limit / 10, limit, allow_nan=False, allow_infinity=False)
            | st.integers(-3, 3).map(float)
            | st.sampled_from([0.0, -0.0, 5e-9, -5e-9, 1e-8, 0.5e-8, 99999999.99999999]),
        )
    )
    fmt = f"%{width}.8f"
    text = "".join("".join(fmt % x for x in row) + "\n" for row in values).encode()
    assume(all(len(line) == width * values.shape[1] for line in text.splitlines()))
    return text


@FUZZ
@given(text=fixed_tables(), trailing_newline=st.booleans())
def test_fixed_decoder_equals_numpy(text, trailing_newline):
    """The decoder gives numpy's parse of the same text, to the bit (|x| < 9e7, where the
    count of 1e-8 is exact in a double), within an ulp beyond."""
    text = text if trailing_newline else text[:-1]
    decoded = fixed_decimal_table(text)
    expected = np.loadtxt(io.BytesIO(text), ndmin=2)
    assert decoded is not None and decoded.shape == expected.shape
    small = np.abs(expected) < 9e7
    assert np.array_equal(decoded[small], expected[small])  # -0.0 == 0.0: sign of zero aside
    np.testing.assert_allclose(decoded[~small], expected[~small], rtol=2.3e-16, atol=0)


def _flip(value: float, at: int, char: bytes) -> bytes:
    field = b"%18.8f" % value
    return field[:at] + char + field[at + 1 :]


@pytest.mark.parametrize(
    "field, numpy_reads",
    [
        (_flip(1.5, 2, b"!"), None),  # a blank flipped to "!" (0x20 -> 0x21): was read as 1.5
        (_flip(1.5, 3, b"("), None),  # ... to "(" (0x28): was read as -1.5
        (_flip(1234.5, 6, b","), None),  # "1,34.5": was read as -1034.5
        (_flip(1234.5, 7, b" "), [12.0, 4.5]),  # "12 4.5", two numbers: was read as 1204.5
        (_flip(-12.5, 7, b"-"), None),  # "--2.5": was read as -2.5
        (_flip(1234.5, 7, b"-"), None),  # "12-4.5": was read as -1204.5
    ],
)
def test_fixed_decoder_declines_what_numpy_reads_otherwise(field, numpy_reads):
    """Found by the test below: bytes the decoder took for blanks or a minus sign. Numpy rejects
    these fields or reads other numbers; the decoder must leave them to it (None)."""
    assert len(field) == 18
    assert fixed_decimal_table(field + b"\n") is None
    if numpy_reads is None:
        with pytest.raises(ValueError):
            np.loadtxt(io.BytesIO(field + b"\n"), ndmin=2)
    else:
        assert np.loadtxt(io.BytesIO(field + b"\n"), ndmin=2).tolist() == [numpy_reads]


@FUZZ
@given(data=st.data())
def test_fixed_decoder_declines_or_agrees_on_damaged_tables(data):
    """On any edit of a table, the decoder returns None (the caller then uses numpy) or exactly
    what numpy reads; it never accepts text numpy rejects."""
    text = data.draw(fixed_tables())
    damaged = data.draw(mutations(text))
    decoded = fixed_decimal_table(damaged)
    if decoded is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.loadtxt(io.BytesIO(damaged), ndmin=2)
    assert decoded.shape == expected.shape
    np.testing.assert_array_equal(decoded[np.abs(expected) < 9e7], expected[np.abs(expected) < 9e7])


# ============================================================================ band edges
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


def check_edges(edges: BandEdges, energies, dos, dipole, threshold, s, delta, reference) -> None:
    """What every result of the search satisfies."""
    e = np.asarray(energies, dtype=float)
    assert edges.vbm_eV <= edges.cbm_eV
    assert e[0] <= edges.vbm_eV and edges.cbm_eV <= e[-1], "edges outside the energy range"
    assert edges.vbm_eV in e and edges.cbm_eV in e, "edges are grid energies"
    assert edges.gap_eV == edges.cbm_eV - edges.vbm_eV >= 0
    assert edges.metallized == (edges.band_crosses_reference or edges.vbm_eV >= reference or edges.cbm_eV <= reference)
    assert edges.reference_eV == reference and edges.threshold_states_per_eV == threshold
    above = np.asarray(dos, dtype=float) > threshold
    if edges.band_crosses_reference and e[0] <= reference <= e[-1]:  # the start band reaches the reference
        first = edges.vbm_eV if dipole < 0 else edges.cbm_eV
        side = e <= first if dipole < 0 else e >= first
        run = above & side
        assert any("reaches the reference" in n for n in edges.notes)
        beyond = e[run] <= reference if dipole < 0 else e[run] >= reference
        assert beyond.any(), "a band said to cross the reference does not reach it"
    assert above[e == edges.vbm_eV].all() and above[e == edges.cbm_eV].all(), "an edge below the threshold"
    assert edges.started_in_band <= bool(edges.notes)
    assert edges.branch.startswith("dipole<0" if dipole < 0 else "dipole>=0")
    if edges.notes:
        return
    # no scan started inside a band: each edge is the first energy above T from its start
    from_reference = edges.branch.endswith("from the reference")
    if dipole < 0:
        assert not above[(e > edges.vbm_eV) & (e <= reference + s)].any()
        second = reference if from_reference else edges.vbm_eV + delta
        assert not above[(e >= second) & (e < edges.cbm_eV)].any()
    else:
        assert not above[(e >= reference - s) & (e < edges.cbm_eV)].any()
        second = reference if from_reference else edges.cbm_eV - delta
        assert not above[(e <= second) & (e > edges.vbm_eV)].any()


def search(energies, dos, dipole, threshold, s, delta, reference):
    try:
        edges = find_band_edges(energies, dos, dipole, threshold, s, delta, reference)
    except DftpostError as exc:
        assert str(exc) and "\n" not in str(exc)
        return None
    check_edges(edges, energies, dos, dipole, threshold, s, delta, reference)
    return edges


@FUZZ
@given(
    energies=arrays(np.float64, st.integers(0, 12), elements=ANY_FLOAT),
    dos=arrays(np.float64, st.integers(0, 12), elements=ANY_FLOAT),
    dipole=ANY_FLOAT,
    threshold=ANY_FLOAT,
    s=ANY_FLOAT,
    delta=ANY_FLOAT,
    reference=ANY_FLOAT,
)
def test_band_edges_on_arbitrary_arrays(energies, dos, dipole, threshold, s, delta, reference):
    """NaN, Inf, empty, unsorted, mismatched lengths, any parameters: a clear error or edges
    that keep the rules."""
    search(energies, dos, dipole, threshold, s, delta, reference)


@st.composite
def band_like(draw):
    """An increasing grid and a DoS of boxes of random heights (some below the threshold),
    possibly constant, all zero or negative in places; parameters of either sign of dipole."""
    n = draw(st.integers(1, 200))
    start = draw(st.floats(-20, 0))
    step = draw(st.floats(0.001, 0.5))
    energies = start + step * np.arange(n)
    dos = np.full(n, draw(st.sampled_from([0.0, -0.1, 0.2, 1.0])))
    for _ in range(draw(st.integers(0, 4))):
        lo, hi = sorted(draw(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))))
        dos[lo : hi + 1] = draw(st.floats(-1, 5))
    threshold = draw(st.floats(1e-3, 2.0))
    reference = draw(st.floats(energies[0] - 1, energies[-1] + 1))
    s = draw(st.floats(0, 3))
    delta = draw(st.floats(1e-3, 3))
    dipole = draw(st.sampled_from([-0.02, -1e-9, 0.0, 1e-9, 0.02]))
    return energies, dos, dipole, threshold, s, delta, reference


@examples(300)
@given(case=band_like())
def test_band_edges_on_band_like_dos(case):
    search(*case)


def test_band_edges_reject_bad_input_clearly():
    """The cases a fuzzer finds first, kept as plain examples: each is a DftpostError that says
    what is wrong (the module's error for bad parameters)."""
    e = np.linspace(-5, 5, 11)
    dos = np.where(np.abs(e) > 2, 1.0, 0.0)
    cases = {
        "energies are not finite": (np.where(e == 0, np.nan, e), dos, -0.01, 0.5),
        "increasing": (e[::-1], dos, -0.01, 0.5),
        "same length": (e, dos[:-1], -0.01, 0.5),
        "DoS values are not finite": (e, np.where(e == 3, np.nan, dos), -0.01, 0.5),
        "threshold": (e, dos, -0.01, float("nan")),
        "dipole": (e, dos, float("nan"), 0.5),
        "no energies": (e[:0], dos[:0], -0.01, 0.5),
    }
    for message, args in cases.items():
        with pytest.raises(DftpostError, match=message):
            find_band_edges(*args)
    with pytest.raises(DftpostError, match="separation"):
        find_band_edges(e, dos, -0.01, 0.5, separation_eV=float("nan"))


PARAMETER_VALUES = st.one_of(ANY_FLOAT, st.floats(-1e3, 1e3), st.sampled_from([0.0, -0.0, 1e-300, 1e300]))


@FUZZ
@given(
    values=st.fixed_dictionaries(
        {},
        optional={
            name: PARAMETER_VALUES
            for name in ("d_cut_A", "threshold", "start_offset_eV", "separation_eV", "sigma_eV", "spacing_eV", "q_o_e", "r_oh_A", "z_bin_A")
        }
        | {"axis": st.integers(-2, 4), "threshold_mode": st.sampled_from(["per_atom", "absolute", "relative", "percent", ""])},
    )
)
def test_band_edge_parameters(values):
    """Odd parameters: a DftpostError that names the parameter, or parameters the search can use."""
    try:
        p = BandEdgeParameters(**values)
    except DftpostError as exc:
        assert "\n" not in str(exc)
        return
    numbers = [p.d_cut_A, p.threshold, p.start_offset_eV, p.separation_eV, p.sigma_eV, p.spacing_eV, p.q_o_e, p.r_oh_A, p.z_bin_A]
    assert all(math.isfinite(x) for x in numbers)
    assert p.threshold > 0 and p.sigma_eV > 0 and p.spacing_eV > 0 and p.z_bin_A > 0 and p.r_oh_A > 0
    assert p.start_offset_eV >= 0 and p.separation_eV > 0 and p.d_cut_A >= 0
    assert p.axis in (0, 1, 2) and p.threshold_mode in ("per_atom", "absolute", "relative")


@FUZZ
@given(sigma=PARAMETER_VALUES, spacing=PARAMETER_VALUES)
def test_broadening_with_odd_sigma_and_spacing(sigma, spacing):
    """Gaussian broadening of real CP2K eigenvalues: a DftpostError for a width or spacing it
    cannot use (not a positive number, or a grid of millions of points), else a finite DoS on
    an increasing grid that holds every state (when the grid resolves the Gaussians)."""
    dos = cp2k.read_pdos(CP2K_FIXTURE / "nofield" / "water4-k1-1.pdos")
    try:
        grid = dos.on_grid(sigma, spacing_eV=spacing)
    except DftpostError as exc:
        assert "\n" not in str(exc)
        return
    assert_finite(grid)
    assert np.all(np.diff(grid.energies_eV) > 0) and grid.values.shape[-1] == grid.energies_eV.size
    if spacing <= sigma / 2:
        states = dos.values.sum() * dos.spin_degeneracy
        assert np.trapezoid(grid.values[0, 0], grid.energies_eV) == pytest.approx(states, rel=1e-6)


@pytest.fixture(scope="module")
def water4_run():
    return read_run(CP2K_FIXTURE / "nofield")


@examples(25)
@given(
    params=st.builds(
        BandEdgeParameters,
        threshold=st.floats(1e-4, 2.0),
        threshold_mode=st.sampled_from(["per_atom", "absolute", "relative"]),
        start_offset_eV=st.floats(0, 8),
        separation_eV=st.floats(1e-3, 8),
        sigma_eV=st.floats(0.01, 1.0),
        spacing_eV=st.floats(0.005, 0.5),
        d_cut_A=st.floats(0, 5),
    ),
    dipole=st.none() | st.floats(-0.1, 0.1),
)
def test_water_gap_of_a_real_run_with_any_parameters(water4_run, params, dipole):
    """The whole analysis on the real CP2K water slab: an error naming the run, or edges that
    keep the rules on the water PDoS it reports."""
    try:
        gap = water_gap(water4_run, params, dipole)
    except DftpostError as exc:
        assert str(water4_run.path) in str(exc) and "\n" not in str(exc)
        return
    if gap.edges.branch.startswith("occupations"):  # a gap narrower than the broadening
        assert (gap.edges.vbm_eV, gap.edges.cbm_eV) == (gap.levels.highest_occupied_eV, gap.levels.lowest_unoccupied_eV)
    else:
        check_edges(
            gap.edges,
            gap.energies_eV,
            gap.water_dos,
            gap.dipole_e_per_A,
            gap.edges.threshold_states_per_eV,
            gap.edges.start_offset_eV,
            params.separation_eV,
            gap.edges.reference_eV,
        )
    assert gap.z_resolved_dos.shape == (gap.local_vbm_eV.size, gap.energies_eV.size)
    both = np.isfinite(gap.local_vbm_eV) & np.isfinite(gap.local_cbm_eV)
    assert np.all(gap.local_vbm_eV[both] <= gap.local_cbm_eV[both])
