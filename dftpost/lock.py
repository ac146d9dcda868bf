"""The one-writer lock of a results store: an exclusive ``flock`` on ``<store>.lock``, taken through
:class:`filelock.FileLock` (:func:`hold_writer_lock`), and the readers' test of it
(:func:`writer_active`).

A second writer, in any process (this one included), gets :class:`StoreLockedError` naming the
holder: the lock file holds the text ``pid N on HOST`` of the process that holds it, written once
the lock is held. The operating system drops the lock when the holder's process ends, however it
ends (SIGKILL included): a killed writer leaves no stale lock. The lock file stays in place after
release (one inode for every contender). ``flock`` does not exclude across the client caches of a
network file system such as NFS (filelock's documentation, measured in its CI); a file system
without ``flock`` (``ENOSYS``) is refused rather than locked by a weaker marker.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DftpostError

if TYPE_CHECKING:
    from filelock import BaseFileLock

POLL_S = 0.1
"""Seconds between attempts while a writer waits for the lock (``wait_s`` of :func:`hold_writer_lock`)."""

_NO_FLOCK = {errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK}


class StoreLockedError(DftpostError):
    """Another writer (another process, or another ResultStore in this one) has the store open."""


def lock_path(path: Path) -> Path:
    """The lock file of the store ``path``: ``<path>.lock`` beside it."""
    return path.with_name(path.name + ".lock")


def hold_writer_lock(path: Path, wait_s: float = 0.0) -> BaseFileLock:
    """Take the writer's lock of the store ``path``, waiting up to ``wait_s`` seconds for another
    writer to finish (checking every :data:`POLL_S` s); release it with ``.release()``.

    Raises :class:`StoreLockedError` naming the holder when it is still held then, or when the
    file system has no ``flock``; :class:`DftpostError` when the lock file cannot be created (a
    directory that does not exist is not made).
    """
    from filelock import FileLock, Timeout

    if not path.parent.is_dir():  # filelock would make the missing directories
        problem = errno.ENOTDIR if path.parent.exists() else errno.ENOENT
        raise DftpostError(path, f"cannot create {lock_path(path).name} ({os.strerror(problem)})")
    lock = FileLock(lock_path(path), timeout=wait_s, poll_interval=POLL_S, thread_local=False,
                    fallback_to_soft=False, preserve_lock_file=True, on_acquired=_write_holder)
    try:
        lock.acquire()
    except Timeout:
        raise StoreLockedError(path, f"the file is being written by another dftpost process ({_holder(path)}); "
                                     "wait for it to finish or stop it, then retry") from None
    except OSError as error:
        if error.errno in _NO_FLOCK:
            raise StoreLockedError(path, f"cannot lock {lock_path(path).name} ({error.strerror}); "
                                         "put the store on a file system that supports flock") from None
        raise DftpostError(path, f"cannot create {lock_path(path).name} ({error.strerror or error})") from None
    return lock


def writer_active(path: Path) -> bool:
    """True when a writer holds the lock of the store ``path`` (no lock file is made): a shared
    ``flock`` on the lock file, which filelock's exclusive one refuses, taken and dropped at once.
    filelock has no test that leaves the file alone and lets two readers test at the same time."""
    import fcntl

    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _write_holder(fd: int) -> None:
    """Write who holds the lock into the lock file (filelock's ``on_acquired``: the lock is held).
    Written over the old text, then cut to length: ext4 writes a file cut to zero and written
    again to disk when it is closed (``auto_da_alloc``), ~1.5 ms for each store opened."""
    text = f"pid {os.getpid()} on {socket.gethostname()}".encode()
    os.pwrite(fd, text, 0)
    os.ftruncate(fd, len(text))


def _holder(path: Path) -> str:
    """Who holds the lock of ``path``, as its lock file says."""
    try:
        with open(lock_path(path), "rb") as f:
            return f.read(200).decode(errors="replace").strip() or "pid unknown"
    except OSError:
        return "pid unknown"
