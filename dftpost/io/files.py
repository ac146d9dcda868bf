"""Opening a user's file: regular files only, and one line saying what a path is when it is not.

Every reader of dftpost opens the files it is given or finds through :func:`open_regular` (or
:func:`read_bytes` / :func:`read_text`): a FIFO would block the reader forever, a device such as
``/dev/zero`` never ends, a directory, a symbolic-link loop or a dangling link cannot be read.
Each gets its own words in a :class:`~dftpost.errors.UnreadableFileError` (or
:class:`~dftpost.errors.MissingInputError` for what is not there), naming the path.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO

from ..errors import MissingInputError, UnreadableFileError

#: The first bytes of an HDF5 file (at offset 0, as h5py writes it without a user block).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def regular_file(path: str | Path) -> os.stat_result:
    """The ``os.stat`` of ``path`` (links followed) when it is a regular file; else the error
    that says what it is: no such file, a dangling symbolic link, a symbolic-link loop,
    permission denied (to look into a directory on the way), a directory, a device, a FIFO
    or a socket."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise _stat_error(path, error) from None
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, info.st_mode)
    return info


def open_regular(path: str | Path, mode: str = "rb", errors: str = "strict") -> IO:
    """``path`` opened for reading (``mode`` "rb" or "r"; text as UTF-8 with ``errors``), once sure
    that it is a regular file (:func:`regular_file`). The file is opened without blocking and
    checked again on its descriptor, so a path swapped for a FIFO in between cannot hang the
    reader. A file that cannot be opened (permission denied) raises
    :class:`~dftpost.errors.UnreadableFileError`.

    Small files are opened by the thousand (a run's per-atom DoS files): on the way to an open
    file no ``Path`` is made (only an error message makes one), and O_NONBLOCK is cleared in
    one system call."""
    regular_file(path)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        raise _stat_error(path, error) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, info.st_mode)
        os.set_blocking(fd, True)
        if "b" in mode:
            return open(fd, "rb")
        return open(fd, encoding="utf-8", errors=errors)
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | Path) -> bytes:
    """The content of a regular file (:func:`open_regular`)."""
    with open_regular(path) as f:
        return f.read()


def read_text(path: str | Path, errors: str = "strict") -> str:
    """The content of a regular file as UTF-8 text (:func:`open_regular`); a
    :class:`UnicodeDecodeError` with ``errors="strict"`` is the caller's to report."""
    with open_regular(path, "r", errors=errors) as f:
        return f.read()


def _not_regular(path: str | Path, mode: int) -> UnreadableFileError:
    """The error for a path that is there but not a regular file (``mode``: its ``st_mode``)."""
    return UnreadableFileError(Path(path), f"{_kind(mode)}, not a regular file: dftpost reads regular files only")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _stat_error(path: str | Path, error: OSError):
    """The error for a path that ``os.stat`` or ``os.open`` refused."""
    path = Path(path)
    if error.errno == errno.ELOOP:
        return UnreadableFileError(path, "a symbolic link loop (the links point at each other)")
    if error.errno == errno.ENOENT:
        if os.path.islink(path):
            return MissingInputError(path, f"a dangling symbolic link (its target {os.readlink(path)} does not exist)")
        return MissingInputError(path, "no such file")
    if error.errno in (errno.EACCES, errno.EPERM):
        return UnreadableFileError(path, "permission denied")
    if error.errno == errno.ENOTDIR:
        return MissingInputError(path, "no such file (a part of the path is not a directory)")
    if error.errno == errno.EISDIR:
        return UnreadableFileError(path, "a directory, not a regular file: dftpost reads regular files only")
    return UnreadableFileError(path, f"cannot be read ({error.strerror or error})")


def new_digest():
    """The hash every dftpost fingerprint is made with: BLAKE2b of 16 bytes (32 hex characters)."""
    import hashlib  # ~3 ms (OpenSSL): only runs that are fingerprinted need it

    return hashlib.blake2b(digest_size=16)


def update_digest(digest, f: IO[bytes]) -> None:
    """Feed the rest of the open binary file ``f`` to ``digest``, a MiB at a time."""
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)


def file_hash(path: str | Path, extra: str = "") -> str:
    """Fingerprint (hex, 32 characters, :func:`new_digest`) of a regular file's content
    followed by ``extra`` (e.g. the JSON of the parameters an analysis of the file used)."""
    digest = new_digest()
    with open_regular(path) as f:
        update_digest(digest, f)
    digest.update(extra.encode())
    return digest.hexdigest()
