"""FHI-aims structures: ``geometry.in``, and the last structure ``aims.out`` prints. Lengths Å."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ...errors import MissingInputError, ParseError
from ..files import read_text


def read_geometry(path: str | Path):
    """``geometry.in`` as :class:`ase.Atoms` (Å), for files ASE's reader refuses.

    Reads ``lattice_vector`` (Å), ``atom x y z Sp`` (Cartesian, Å) and ``atom_frac a b c Sp``
    (fractions of the lattice vectors) in any mix and order, as FHI-aims does (ASE refuses
    Cartesian and fractional atoms in one file). Every other keyword (``initial_moment``,
    ``constrain_relaxation``, ``homogeneous_field``, ...) and ``#`` comments are ignored.
    Raises :class:`ParseError` naming the file and line for anything it cannot use.
    """
    path = Path(path)
    try:
        text = read_text(path)
    except UnicodeDecodeError:
        raise ParseError(path, "not a text file") from None
    except OSError as exc:
        raise MissingInputError(path, f"cannot read: {exc.strerror}") from None
    return _structure(enumerate(text.splitlines(), start=1), path)


#: The headings above the structures aims.out prints: after each relaxation step, at the end of
#: a relaxation, after each molecular-dynamics step.
_AIMS_STRUCTURE = re.compile(
    r"^\s*(?:Updated atomic structure:|Final atomic structure:|(?:Final a|A)tomic structure \(and velocities\) as used in the preceding time step:)",
    re.M,
)
_STRUCTURE_WORDS = ("lattice_vector", "atom", "atom_frac", "velocity")


def read_output_structure(path: str | Path):
    """The last structure aims.out prints (:class:`ase.Atoms`, Å): the final geometry of a
    relaxation or the last step of molecular dynamics; None if it prints none.

    Its lines are those of geometry.in (``lattice_vector``, ``atom``, ``velocity``); a block
    without lattice vectors (fixed cell) keeps the last ones printed before it.
    """
    path = Path(path)
    text = read_text(path, errors="replace")
    heads = list(_AIMS_STRUCTURE.finditer(text))
    if not heads:
        return None
    at = heads[-1].end()
    lines = []
    for number, line in enumerate(text[at:].splitlines(), start=text.count("\n", 0, at) + 1):
        words = line.split()
        if words and words[0] in _STRUCTURE_WORDS:
            lines.append((number, line))
        elif words and lines:
            break
    if not any(line.split()[0] == "lattice_vector" for _n, line in lines):
        before = [(text.count("\n", 0, m.start()) + 1, m.group(0)) for m in re.finditer(r"(?m)^\s*lattice_vector\s.*$", text[:at])]
        lines = before[-3:] + lines
    return _structure(lines, path)


def _structure(numbered_lines, path: Path):
    """Atoms (Å) from numbered geometry.in-style lines; ParseError naming file and line."""
    from ase import Atoms
    from ase.data import atomic_numbers

    lattice, atoms = [], []
    for number, line in numbered_lines:
        words = line.split("#", 1)[0].split()
        if not words or words[0] not in ("lattice_vector", "atom", "atom_frac"):
            continue
        if len(words) < (4 if words[0] == "lattice_vector" else 5):
            raise ParseError(path, f"line {number}: {words[0]} needs three numbers{'' if words[0] == 'lattice_vector' else ' and a species'}")
        try:
            xyz = [float(w) for w in words[1:4]]
        except ValueError:
            raise ParseError(path, f"line {number}: not three numbers: {line.strip()!r}") from None
        if not all(map(math.isfinite, xyz)):
            raise ParseError(path, f"line {number}: a coordinate that is not a finite number: {line.strip()!r}")
        if words[0] == "lattice_vector":
            lattice.append(xyz)
        else:
            atoms.append((words[0] == "atom_frac", xyz, words[4], number))
    if not atoms:
        raise ParseError(path, "no 'atom' or 'atom_frac' line")
    if lattice and len(lattice) != 3:
        raise ParseError(path, f"{len(lattice)} lattice_vector lines (FHI-aims needs none or three)")
    cell = np.array(lattice) if lattice else np.zeros((3, 3))
    positions, symbols = [], []
    for fractional, xyz, species, number in atoms:
        if fractional and not lattice:
            raise ParseError(path, f"line {number}: atom_frac without lattice vectors")
        positions.append(np.asarray(xyz) @ cell if fractional else xyz)
        element = re.match(r"[A-Z][a-z]?", species)  # FHI-aims species are named freely (O_w, Pt1)
        symbol = element.group(0) if element and element.group(0) in atomic_numbers else None
        if symbol is None:
            raise ParseError(path, f"line {number}: species {species!r} names no element")
        symbols.append(symbol)
    return Atoms(symbols=symbols, positions=positions, cell=cell, pbc=bool(lattice))
