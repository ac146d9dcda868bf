"""Stopping a running map on SIGINT or SIGTERM: :func:`stop_on_signals` turns the signals of a
command into :class:`Interrupted`, raised from the map's own waits (:func:`wait_first`,
:func:`wait_all`, :func:`next_done`, checking every 0.25 s) or, serially, before the next item
(:func:`check_stop`); :func:`ignoring` keeps the signals from processes started meanwhile (workers,
the forkserver, a Dask cluster), which leave them to the caller."""

from __future__ import annotations

import queue
import signal
import threading
from concurrent.futures import FIRST_COMPLETED, wait
from contextlib import contextmanager


class Interrupted(KeyboardInterrupt):
    """A batch stopped by a signal that :func:`stop_on_signals` handles; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_signals_received: list[int] = []
_maps_running = 0


@contextmanager
def stop_on_signals(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)):
    """While active (main thread only), each of ``signals`` raises :class:`Interrupted`.

    While a map runs, the first signal only asks it to stop: the map raises :class:`Interrupted`
    at its next wait for results (within 0.25 s) or, serially, before the next item, from its own
    code; an exception raised by the handler itself could land anywhere, also in code that
    swallows it (a weakref callback, a ``__del__``: "Exception ignored in ..."). A second signal
    raises at once. Outside a map the handler raises at once (and a map started later stops
    before its first item). A map stops as on any exception: work in flight cancelled, workers
    or cluster shut down.
    """

    def handler(signum, frame):
        _signals_received.append(signum)
        if _maps_running and len(_signals_received) == 1:
            return
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _signals_received.clear()


def check_stop() -> None:
    """Raise :class:`Interrupted` if a signal asked the running map to stop."""
    if _signals_received:
        raise Interrupted(_signals_received[-1])


@contextmanager
def map_running():
    """Marks a map as running, for the signal handler of :func:`stop_on_signals`."""
    global _maps_running
    _maps_running += 1
    try:
        yield
    finally:
        _maps_running -= 1


def wait_first(futures) -> set:
    """The futures done once one is, checking every 0.25 s for a stop (:func:`stop_on_signals`)."""
    while True:
        check_stop()
        done, _ = wait(futures, timeout=0.25, return_when=FIRST_COMPLETED)
        if done:
            return done


def wait_all(futures) -> list:
    """``futures`` once all are done, checking for a stop as :func:`wait_first` does."""
    while True:
        check_stop()
        _, not_done = wait(futures, timeout=0.25)
        if not not_done:
            return list(futures)


def next_done(done: queue.SimpleQueue):
    """The next Dask future put in ``done`` by its done-callback, checking every 0.25 s for a stop
    as :func:`wait_first` does."""
    while True:
        check_stop()
        try:
            return done.get(timeout=0.25)
        except queue.Empty:
            continue


@contextmanager
def ignoring(*signals: int):
    """``signals`` ignored meanwhile (main thread only): processes started meanwhile inherit that."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
