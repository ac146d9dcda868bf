"""The writer's lock of a results store (dftpost.lock): holder text, waiting, the readers' test,
and the errors. Killed holders and second writers in other processes: tests/test_store.py."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from dftpost.errors import DftpostError
from dftpost.lock import POLL_S, StoreLockedError, hold_writer_lock, lock_path, writer_active


def test_the_lock_file_names_its_holder_without_a_tail_of_the_last_one(tmp_path):
    store = tmp_path / "results.h5"
    lock_path(store).write_text("pid 123456789 on a-much-longer-host-name-than-this-one")
    lock = hold_writer_lock(store)
    try:
        assert lock_path(store).read_text() == f"pid {os.getpid()} on {socket.gethostname()}"
        with pytest.raises(StoreLockedError, match=f"^{store}: .*another dftpost process \\(pid {os.getpid()} on "):
            hold_writer_lock(store)
    finally:
        lock.release()
    assert lock_path(store).exists()  # one inode for every contender


def test_a_waiting_writer_takes_the_lock_once_it_is_released(tmp_path):
    store = tmp_path / "results.h5"
    first = hold_writer_lock(store)
    released = []
    timer = threading.Timer(0.3, lambda: (released.append(time.monotonic()), first.release()))
    timer.start()
    try:
        second = hold_writer_lock(store, wait_s=30)
        held = time.monotonic()
    finally:
        timer.join()
    second.release()
    assert held >= released[0]  # not before the first let go, and well before the 30 s


def test_a_writer_waits_no_longer_than_asked(tmp_path):
    store = tmp_path / "results.h5"
    lock = hold_writer_lock(store)
    try:
        start = time.monotonic()
        with pytest.raises(StoreLockedError, match="another dftpost process"):
            hold_writer_lock(store, wait_s=0.5)
        waited = time.monotonic() - start
    finally:
        lock.release()
    assert 0.5 - POLL_S <= waited < 5.0


def test_readers_see_a_writer_without_making_a_lock_file(tmp_path):
    store = tmp_path / "results.h5"
    assert not writer_active(store) and not lock_path(store).exists()
    lock = hold_writer_lock(store)
    try:
        assert writer_active(store)
    finally:
        lock.release()
    assert not writer_active(store)


def test_a_lock_file_that_cannot_be_made_is_named(tmp_path):
    parent = tmp_path / "a_file"
    parent.write_text("not a directory")
    store = parent / "results.h5"
    with pytest.raises(DftpostError, match=f"^{store}: cannot create results.h5.lock \\(Not a directory\\)"):
        hold_writer_lock(store)


def test_a_missing_directory_is_refused_not_made(tmp_path):
    store = tmp_path / "no_such_dir" / "results.h5"
    with pytest.raises(DftpostError, match=f"^{store}: cannot create results.h5.lock \\(No such file or directory\\)"):
        hold_writer_lock(store)
    assert not store.parent.exists()
