"""Errors raised by dftpost for bad or missing input.

Every error a user can cause by pointing dftpost at the wrong thing is a :class:`DftpostError`;
its message names the file and says what is wrong, in one line. The command line prints it
without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class DftpostError(Exception):
    """Base class of all errors caused by the input, not by a bug.

    ``str(error)`` is ``"<path>: <problem>"`` (or just the problem when no file is concerned).
    """

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)

    def __reduce__(self):  # pickled with its two arguments (sent back from worker processes)
        return self.__class__, (self.path, self.problem)


class ParseError(DftpostError):
    """A file exists but cannot be read as the format it claims to be."""


class MissingInputError(DftpostError):
    """Something that is needed (a file, or a number that a file should hold) is not there."""
