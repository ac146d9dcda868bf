"""A DFT run directory → which program, which files → one :class:`~dftpost.run.Run`.

Which program wrote a directory (:func:`detect_code`), which directories below a path are runs
(:func:`find_run_dirs`), the fingerprint of a run's inputs (:func:`input_hash`) and
:func:`read_run`, which hands the directory to the reader of its program
(:mod:`dftpost.io.cp2k.run`, :mod:`dftpost.io.aims.run`).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DftpostError, MissingInputError, ParseError, UnreadableFileError
from .aims.dos import parse_dos_name
from .cp2k.pdos import parse_pdos_name
from .files import HDF5_SIGNATURE, new_digest, open_regular, regular_file, update_digest

if TYPE_CHECKING:
    from ..grid import CubeHeader
    from ..run import Run

_LOG_SUFFIXES = {".out", ".log", ".stdout", ".txt"}
#: Read size of :func:`sniff_log`, and the text the programs' logs are recognised by (their
#: banners; a job scheduler may print any amount of text before them).
_SNIFF_BLOCK = 1 << 20
_LOG_MARKERS = ((b"Invoking FHI-aims", "fhi-aims"), (b"FHI-aims version", "fhi-aims"),
                (b"CP2K|", "cp2k"), (b"PROGRAM STARTED AT", "cp2k"))


def sniff_log(path: Path) -> str | None:
    """``"fhi-aims"`` or ``"cp2k"`` if the file is that program's log: the program whose banner
    comes first, wherever it is (after a scheduler's preamble of any length). The file is read
    block by block up to the banner only; None for a file without one or with NUL bytes."""
    overlap = max(len(marker) for marker, _ in _LOG_MARKERS) - 1
    tail = b""
    try:
        with open_regular(path) as f:
            while block := f.read(_SNIFF_BLOCK):
                if b"\0" in block:
                    return None  # binary data, not a log
                text = tail + block
                hits = [(at, code) for marker, code in _LOG_MARKERS if (at := text.find(marker)) >= 0]
                if hits:
                    return min(hits)[1]
                tail = text[-overlap:]
    except (OSError, DftpostError):
        return None
    return None


def entries(directory: Path) -> list[Path]:
    """The entries of a run directory, sorted; a directory that is gone or cannot be listed is
    an error naming it."""
    try:
        return sorted(directory.iterdir())
    except FileNotFoundError:
        raise MissingInputError(directory, "the run directory disappeared while it was being read") from None
    except NotADirectoryError:
        raise MissingInputError(directory, "no longer a directory (replaced while it was being read)") from None
    except PermissionError:
        raise UnreadableFileError(directory, "permission denied (the directory cannot be listed)") from None


def _is_input_name(path: Path) -> bool:
    """True if dftpost would read a file of this name in a run directory."""
    name = path.name
    return (path.suffix in _LOG_SUFFIXES or path.suffix in (".cube", ".inp") or name in _AIMS_INPUTS
            or parse_pdos_name(path) is not None or parse_dos_name(path) is not None)


_AIMS_INPUTS = ("aims.out", "control.in", "geometry.in")


def _check_inputs(directory: Path) -> None:
    """Raise the error of the first entry with the name of an input dftpost reads that is not
    a regular file (a FIFO, a device, a symbolic-link loop, a dangling link, a directory): the
    run is not read around it."""
    for p in entries(directory):
        if _is_input_name(p) and not p.is_dir():
            try:
                regular_file(p)
            except MissingInputError:
                if os.path.islink(p):  # a dangling link (a file removed since the listing is no input)
                    raise


def _may_be_log(path: Path) -> bool:
    """A name a log may have: ``*.out``, ``*.log``, ``*.stdout``, ``*.txt``, ``aims.out``, a
    batch system's ``<job>.o<id>``, or no suffix at all (``cp2k.psmp -i run.inp -o output``)."""
    return (path.suffix in _LOG_SUFFIXES or path.name == "aims.out" or not path.suffix
            or re.fullmatch(r"\.o\d+", path.suffix) is not None)


def logs_by_code(directory: Path) -> dict[str, list[Path]]:
    """The logs in a run directory by the program that wrote them (:func:`sniff_log`)."""
    found: dict[str, list[Path]] = {"fhi-aims": [], "cp2k": []}
    for p in entries(directory):
        if _may_be_log(p) and p.is_file():
            code = sniff_log(p)
            if code:
                found[code].append(p)
    return found


def detect_code(directory: Path) -> str:
    """The program that wrote a run directory, from its logs or, lacking one, its file names."""
    logs = logs_by_code(directory)
    if logs["fhi-aims"] and logs["cp2k"]:
        log_names = lambda code: ", ".join(p.name for p in logs[code])  # noqa: E731
        raise ParseError(
            directory,
            f"holds both an FHI-aims log ({log_names('fhi-aims')}) and a CP2K log ({log_names('cp2k')}): one run per directory",
        )
    for code, paths in logs.items():
        if paths:
            return code
    names = [p.name for p in entries(directory)]
    if any(parse_pdos_name(n) for n in names) or any(n.endswith(".inp") for n in names):
        return "cp2k"
    if any(parse_dos_name(n) for n in names) or "control.in" in names:
        return "fhi-aims"
    raise MissingInputError(
        directory,
        "nothing recognisable: no FHI-aims or CP2K log (*.out), no .pdos, no *_proj_dos*.dat, no control.in or .inp",
    )


def looks_like_run(directory: Path) -> bool:
    """True if a directory holds a DFT run that dftpost reads (cheap: names and log headers).
    A directory with the logs of both programs is one (reading it is then an error that
    names both logs)."""
    try:
        detect_code(directory)
    except MissingInputError:
        return False
    except ParseError:
        pass  # the logs of both programs: a run, whose reading is an error naming both logs
    return True


def is_run_file(path: Path) -> bool:
    """True if ``path`` names a file of a run that dftpost recognises: a CP2K or FHI-aims log
    (by its banner), a CP2K .pdos or .inp, an FHI-aims DoS file, control.in or geometry.in, or
    a cube."""
    path = Path(path)
    return (path.suffix in (".cube", ".inp") or path.name in _AIMS_INPUTS or parse_pdos_name(path) is not None
            or parse_dos_name(path) is not None or sniff_log(path) is not None)


def _run_directory(path: Path) -> Path:
    """``path`` if it is a directory, the directory of a file of a run (:func:`is_run_file`),
    else the error that says what ``path`` is (missing, a FIFO, a device, a loop, no
    permission: :func:`dftpost.io.files.open_regular`) or that it is not a file of a run."""
    if path.is_dir():
        return path
    open_regular(path).close()
    if not is_run_file(path):
        raise ParseError(path, "not a run: give a run directory, or one of its logs or outputs "
                               "(CP2K or FHI-aims log, .pdos, FHI-aims DoS .dat, .inp, control.in, geometry.in, cube)")
    return path.parent


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Every run directory at or below the given paths (a file of a run, see
    :func:`is_run_file`, stands for its directory), sorted and without duplicates; a folder
    below them that cannot be listed (permission denied) is among them, so that a batch reports
    it instead of passing it over. Raises
    :class:`MissingInputError` if a path does not exist or holds no run at all,
    :class:`ParseError` for a file that is not one of a run, and
    :class:`~dftpost.errors.UnreadableFileError` for a path that is neither a directory nor a
    regular file (see :func:`dftpost.io.files.regular_file`)."""
    found: set[Path] = set()
    for path in map(Path, paths):
        path = _run_directory(path)
        refused: list[OSError] = []
        here = [Path(root) for root, _dirs, _files in os.walk(path, onerror=refused.append)]
        runs = [d for d in here if looks_like_run(d)]
        # a folder that cannot be listed may hold a run: reading it is then the error that says so
        runs += [Path(error.filename) for error in refused if isinstance(error, PermissionError) and error.filename]
        if not runs:
            raise MissingInputError(path, "no FHI-aims or CP2K run directory in or below it")
        found.update(d.resolve() for d in runs)
    return sorted(found)


#: What a results store's ``<file>.lock`` holds: its writer (see :mod:`dftpost.store`).
_LOCK_TEXT = re.compile(rb"(pid \d+ on .*)?")


def input_hash(directory: Path) -> str:
    """A fingerprint of the inputs dftpost reads from a run directory: names and contents of
    every regular file in it (symbolic links followed) except cubes, HDF5 files (a results
    store and its ``.tmp``) and a store's ``.lock`` (hex, 32 characters). Changes when any
    such file changes; a results file written into the run directory leaves it as it was.
    Other entries (subdirectories, FIFOs, devices, links that lead nowhere) are not inputs, nor
    is a file without read permission unless its name is that of an input (:func:`read_run`
    would read it: then its error). Raises :class:`MissingInputError` when the directory has
    disappeared."""
    directory = Path(directory)
    digest = new_digest()
    for p in entries(directory):
        if p.suffix == ".cube" or not _regular(p):
            continue
        try:
            f = open_regular(p)
        except MissingInputError:  # removed since the listing
            continue
        except UnreadableFileError:
            if _is_input_name(p):
                raise
            continue
        with f:
            head = f.read(8)
            if head == HDF5_SIGNATURE or (p.name.endswith(".lock") and _LOCK_TEXT.fullmatch(head + f.read(300))):
                continue
            f.seek(0)
            digest.update(os.fsencode(p.name) + b"\0")
            update_digest(digest, f)
        digest.update(b"\0")
    if not directory.is_dir():
        raise MissingInputError(directory, "the run directory disappeared while it was being read")
    return digest.hexdigest()


def _regular(path: Path) -> bool:
    """True for a regular file (links followed), False for anything else, a path gone, or one
    that cannot be looked at (a symbolic-link loop)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def read_run(path: str | Path) -> Run:
    """Read a run directory (or the directory of a given file of a run, see
    :func:`is_run_file`) into a :class:`Run`.

    Raises :class:`~dftpost.errors.DftpostError` naming the file when something present is
    malformed; what is merely absent is listed in ``Run.missing``.
    """
    directory = _run_directory(Path(path))
    _check_inputs(directory)
    code = detect_code(directory)
    if code == "cp2k":
        from .cp2k.run import read_cp2k_run

        return read_cp2k_run(directory)
    from .aims.run import read_aims_run

    return read_aims_run(directory)


def newest(paths: list[Path], what: str, warnings: list[str]) -> Path | None:
    """The one path of ``paths``, or the newest of several (said in ``warnings``), or None."""
    if not paths:
        return None
    if len(paths) > 1:
        newest = max(paths, key=lambda p: p.stat().st_mtime)
        warnings.append(f"{len(paths)} {what} files; used the newest, {newest.name}")
        return newest
    return paths[0]


def cube_headers(directory: Path, warnings: list[str]) -> tuple[CubeHeader, ...]:
    """The headers of the cubes in a run directory; a cube that cannot be read is a warning."""
    from .cube import read_cube_header

    headers = []
    for p in sorted(directory.glob("*.cube")):
        try:
            headers.append(read_cube_header(p))
        except DftpostError as exc:
            warnings.append(str(exc))
    return tuple(headers)
