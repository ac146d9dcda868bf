"""Plain-text tables shared by the readers: fast, strict, with errors that name the file."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from ..errors import ParseError


def parse_floats(text: bytes) -> np.ndarray | None:
    """All white-space separated numbers of ``text`` (C speed), or None if any is not a number."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            return np.fromstring(text, sep=" ")
        except (ValueError, DeprecationWarning):
            return None


def numeric_table(blob: bytes, path: Path) -> np.ndarray:
    """The data lines of a text file as a 2-D float array.

    Comment lines (``#``) at the top are skipped cheaply; the rest is parsed by
    :func:`numpy.loadtxt`'s C reader, which also checks that every line has the same number of
    columns. Any error names the file and the data line.
    """
    start = 0
    while blob.startswith(b"#", start) or blob.startswith(b"\n", start):
        end = blob.find(b"\n", start)
        if end < 0:
            start = len(blob)
            break
        start = end + 1
    body = blob[start:]
    if b"#" in body:  # comments further down: drop them line by line
        body = b"\n".join(line for line in body.splitlines() if not line.lstrip().startswith(b"#"))
    if not body.strip():
        raise ParseError(path, "no data lines")
    try:
        data = np.loadtxt(io.BytesIO(body), ndmin=2)
    except ValueError as exc:
        lines = [line for line in body.splitlines() if line.strip()]
        n_columns = len(lines[0].split())
        for i, line in enumerate(lines):
            parts = line.split()
            try:
                [float(p) for p in parts]
            except ValueError:
                raise ParseError(path, f"data line {i + 1} is not numeric: {line[:60].decode(errors='replace')!r}") from None
            if len(parts) != n_columns:
                raise ParseError(path, f"data line {i + 1} has {len(parts)} columns, the first has {n_columns}") from None
        raise ParseError(path, f"the data lines cannot be read as numbers ({exc})") from None
    if not np.isfinite(data).all():
        raise ParseError(path, "data contain NaN or Inf")
    return data
