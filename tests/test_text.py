"""The fixed-width decimal decoder against numpy.loadtxt on fuzzed F18.8 tables."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import examples
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dftpost.errors import ParseError
from dftpost.io.text import fixed_decimal_table, numeric_table

values = st.floats(-9999999.0, 99999999.0, allow_nan=False, allow_infinity=False)  # a blank before each field


@examples(200)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 7)), elements=values))
def test_decoder_equals_loadtxt(table):
    text = "".join("".join(f"{x:18.8f}" for x in row) + "\n" for row in table).encode()
    decoded = fixed_decimal_table(text)
    assert decoded is not None
    np.testing.assert_allclose(decoded, np.loadtxt(io.BytesIO(text), ndmin=2), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t.replace(b"  0.5", b"**0.5", 1),  # Fortran overflow stars
        lambda t: t.replace(b"0.50000000", b"0.5000000E", 1),
        lambda t: t.replace(b"0.50000000", b"nan       ", 1),
        lambda t: t[:-7],  # a truncated last line
        lambda t: t.replace(b"\n", b"\r\n"),
    ],
)
def test_anything_else_is_left_to_the_general_parser(damage):
    text = b"".join(b"%18.8f%18.8f\n" % (x, -x) for x in (0.5, 1.25, -3.0))
    assert fixed_decimal_table(text) is not None
    assert fixed_decimal_table(damage(text)) is None


def test_numeric_table_still_reports_bad_lines(tmp_path):
    path = tmp_path / "x.dat"
    with pytest.raises(ParseError, match="data line 2 has 1 columns"):
        numeric_table(b"#h\n%18.8f%18.8f\n%18.8f\n" % (1.0, 2.0, 3.0), path)


cp2k_values = st.floats(-99999.0, 99999.0, allow_nan=False, allow_infinity=False)


def _cp2k_text(table: np.ndarray) -> bytes:
    """Lines as CP2K writes the discrete states of a .pdos file: I8, F18.6, F16.6, F18.8..."""
    return "".join(
        f"{i + 1:8d}{row[0]:18.6f}{row[1]:16.6f}" + "".join(f"{x:18.8f}" for x in row[2:]) + "\n"
        for i, row in enumerate(table)
    ).encode()


@examples(200)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(3, 9)), elements=cp2k_values))
def test_decoder_reads_cp2k_mixed_fields_as_loadtxt_does(table):
    text = _cp2k_text(table)
    decoded = fixed_decimal_table(text, integer_columns=1)
    assert decoded is not None
    expected = np.loadtxt(io.BytesIO(text), ndmin=2)
    assert decoded.shape == expected.shape
    assert np.array_equal(decoded, expected)  # to the bit: every count of 1e-8 here is exact


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t.replace(b"       2", b"       *", 1),  # stars in the integer field
        lambda t: t.replace(b"       2", b"      2.", 1),  # a point in the integer field
        lambda t: t.replace(b"   -0.250000", b"  -0.2500000", 1),  # a field's point moved
        lambda t: t.replace(b"       1", b"1       ", 1),  # a number not right-justified
        lambda t: t.replace(b"    0.50000000\n", b"    0.5000000-\n", 1),
    ],
)
def test_damaged_cp2k_lines_are_left_to_the_general_parser(damage):
    text = _cp2k_text(np.array([[-0.25, 2.0, 0.5], [0.125, 0.0, 0.5]]))
    assert fixed_decimal_table(text, integer_columns=1) is not None
    damaged = damage(text)
    assert damaged != text
    assert fixed_decimal_table(damaged, integer_columns=1) is None


def test_an_integer_field_is_read_only_where_one_is_announced():
    text = _cp2k_text(np.array([[-0.25, 2.0, 0.5]]))
    assert fixed_decimal_table(text) is None  # the MO index is not a decimal field
