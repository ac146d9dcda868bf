"""The fixed-width decimal decoder against numpy.loadtxt on fuzzed F18.8 tables."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dftpost.errors import ParseError
from dftpost.io.text import fixed_decimal_table, numeric_table

values = st.floats(-9999999.0, 99999999.0, allow_nan=False, allow_infinity=False)  # a blank before each field


@settings(max_examples=200, deadline=None)
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
