"""Errors raised by dftpost for bad or missing input.

Every error a user can cause by pointing dftpost at the wrong thing is a :class:`DftpostError`;
its message names the file and says what is wrong, in one line. The command line prints it
without a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path


class DftpostError(Exception):
    """Base class of all errors caused by the input, not by a bug.

    ``str(error)`` is ``"<path>: <problem>"`` (or just the problem when no file is concerned).
    """

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(printable(f"{path}: {problem}" if path is not None else problem))

    def __reduce__(self):  # pickled with its two arguments (sent back from worker processes)
        return self.__class__, (self.path, self.problem)


def printable(text: str) -> str:
    """``text`` with the bytes of a file name that is not valid UTF-8 (which ``os.fsdecode``
    keeps as lone surrogates ``\\udcNN``) written as ``\\xNN``: a string that can be printed
    and stored as UTF-8. Valid text is returned unchanged."""
    return _SURROGATE.sub(_escape, text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


class ParseError(DftpostError):
    """A file exists but cannot be read as the format it claims to be."""


class MissingInputError(DftpostError):
    """Something that is needed (a file, or a number that a file should hold) is not there."""


class UnreadableFileError(DftpostError):
    """A path that is there but cannot be read as a file: a directory, a device, a FIFO or
    socket, a symbolic-link loop, or a file without read permission."""
