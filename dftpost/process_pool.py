"""Tasks on local worker processes: how many are worth starting (:func:`default_workers`,
:func:`usable_workers`) and :func:`map_processes`, which runs them on a pool started from a
forkserver (so the workers do not inherit the caller's open files such as the results store and
its lock). At most two tasks per worker are in flight. A dead worker breaks the pool: the tasks
then in flight run again one at a time in a new pool, so only the task that kills its worker is
reported, with :class:`~dftpost.task_failures.WorkerDied`. Workers ignore SIGINT and SIGTERM (the
caller stops the pool, see :mod:`dftpost.signals`) and exit when their caller is gone."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .signals import ignoring, map_running, wait_all, wait_first
from .task_failures import WorkerDied, crash_result


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1



def usable_workers(requested: int, n_items: int | None = None) -> int:
    """The worker processes worth starting for ``requested``: at most the cores this process may
    use (:func:`default_workers`) and ``n_items``, at least 1."""
    return max(1, min(requested, default_workers(), n_items if n_items is not None else requested))



def _init_worker(caller: int) -> None:
    """Pool initializer. Workers leave SIGINT and SIGTERM to the caller: Ctrl-C in a terminal and
    a batch system's SIGTERM reach every process of the job; the caller then stops the pool, and
    workers end after their current item. (A worker killed while it sends a result leaves half a
    message in the pool's result pipe, and Python's pool then waits for the rest forever.)
    A worker whose caller is gone (``kill -9``) exits within a second: nothing else would end it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_without, args=(caller,), name="dftpost-caller-watch", daemon=True).start()


def _exit_without(caller: int) -> None:
    while True:
        time.sleep(1.0)
        try:
            os.kill(caller, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # another user's process took the number: the caller is gone
            os._exit(1)


def _new_pool(workers: int, func: Callable) -> ProcessPoolExecutor:
    # forkserver: workers do not inherit the caller's open files (the results store and its lock).
    # The server preloads nothing: on Python 3.11 it imports with the current directory first on
    # its path, so from a source checkout it would import the checkout's dftpost (which has no
    # dftpost.cli) instead of the installed one; each worker imports with the caller's path.
    # The server ignores SIGINT and SIGTERM (inherited from this process as it starts), like the
    # workers: when a batch system signals every process of the job, a dead server would make the
    # pool believe its workers ended and stop waiting for them.
    context: multiprocessing.context.BaseContext
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([])
        from multiprocessing import forkserver

        with ignoring(signal.SIGINT, signal.SIGTERM):
            forkserver.ensure_running()
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                               initargs=(os.getpid(),))


def _shutdown(pool: ProcessPoolExecutor, earlier: set) -> None:
    """Cancel what is queued, let the running items (one per worker at most) end unused, and wait
    for the pool. If a worker died, Python's pool ends the others with SIGTERM, which they ignore
    (:func:`_init_worker`), and waits for them: they get SIGKILL instead. The pool's workers are
    this process's children that were not there before the pool (``earlier``)."""
    closing_ = threading.Thread(target=pool.shutdown, kwargs={"wait": True, "cancel_futures": True},
                                name="dftpost-pool-shutdown", daemon=True)
    closing_.start()
    while closing_.is_alive():
        closing_.join(0.25)
        if closing_.is_alive() and _is_broken(pool):
            for process in set(multiprocessing.active_children()) - earlier:
                process.kill()


def _is_broken(pool: ProcessPoolExecutor) -> bool:
    """True if a worker of ``pool`` (being shut down) died: such a pool refuses new work with
    BrokenProcessPool, a healthy one being shut down with RuntimeError."""
    try:
        pool.submit(os.getpid).cancel()
    except BrokenProcessPool:
        return True
    except RuntimeError:
        return False
    return False


def map_processes(func, items, workers, on_crash):
    with map_running():
        yield from _processes(func, items, workers, on_crash)


def _processes(func, items, workers, on_crash):
    queue = iter(items)
    unsent: list = []  # items a broken pool refused: first in the next pool
    while True:
        earlier = set(multiprocessing.active_children())
        pool = _new_pool(min(workers, len(items)), func)
        pending: dict = {}
        suspects: list = []  # items in flight when a worker died: one of them killed it
        broken = False

        def submit_next(pool=pool, pending: dict = pending) -> None:
            nonlocal broken
            item = unsent.pop(0) if unsent else next(queue, _END)
            if item is _END:
                return
            try:
                pending[pool.submit(func, item)] = item
            except BrokenProcessPool:  # a worker died since the last result
                unsent.insert(0, item)
                broken = True

        try:
            while len(pending) < 2 * workers and not broken and (unsent or _more(queue, unsent)):
                submit_next()
            while pending and not broken:
                for future in wait_first(pending):
                    item = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        suspects.append(item)
                        broken = True
                        continue
                    except Exception as exc:  # noqa: BLE001 - an uncaught error becomes an error result
                        result = crash_result(item, exc, on_crash)
                    yield item, result
                    if not broken:
                        submit_next()
            if broken:  # the others in flight failed with the pool, or finished before it broke
                for future in wait_all(pending):
                    item = pending.pop(future)
                    if isinstance(future.exception(), BrokenProcessPool):
                        suspects.append(item)
                        continue
                    try:
                        result = future.result()
                    except Exception as exc:  # noqa: BLE001
                        result = crash_result(item, exc, on_crash)
                    yield item, result
        finally:
            _shutdown(pool, earlier)
        if suspects:
            yield from _isolate(func, suspects, on_crash)
        if not broken:
            return



def _more(queue, unsent: list) -> bool:
    """True if ``queue`` has another item (moved to ``unsent``, which is taken first)."""
    item = next(queue, _END)
    if item is _END:
        return False
    unsent.append(item)
    return True


def _isolate(func, suspects, on_crash):
    """Run each item that was in flight when a worker died alone in a one-process pool: the one
    that kills its worker again is reported through ``on_crash``; the others get their results."""
    earlier = set(multiprocessing.active_children())
    pool = _new_pool(1, func)
    try:
        for item in suspects:
            future = pool.submit(func, item)
            try:
                wait_first([future])
                result = future.result()
            except BrokenProcessPool:
                _shutdown(pool, earlier)
                pool = _new_pool(1, func)
                died = WorkerDied("the worker process died running it (killed by a signal, out of memory, "
                                  "or a crash in compiled code)")
                result = crash_result(item, died, on_crash)
            except Exception as exc:  # noqa: BLE001
                result = crash_result(item, exc, on_crash)
            yield item, result
    finally:
        _shutdown(pool, earlier)


_END = object()
