"""How a batch of independent items (runs, frames) is mapped: serially or on local processes.

Results come back in order of completion, so the one writer (the caller) can store each as soon
as it is done. A worker never raises: the function mapped is expected to turn its own failures
into results (see :func:`dftpost.batch.analyse_gap`), and anything it does not catch is turned
into an error result here, so one bad item never stops a batch.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def map_unordered(
    func: Callable[[T], R], items: Iterable[T], workers: int = 1, on_crash: Callable[[T, BaseException], R] | None = None
) -> Iterator[tuple[T, R]]:
    """Yield ``(item, func(item))`` as each finishes, with ``workers`` processes (1 = serial).

    ``on_crash(item, exception)`` makes a result for an item whose worker raised (or died);
    without it the exception propagates. At most ``2 × workers`` items are in flight, so a long
    batch does not queue everything at once.
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        for item in items:
            try:
                yield item, func(item)
            except Exception as exc:  # noqa: BLE001 - turned into a result by the caller's rule
                if on_crash is None:
                    raise
                yield item, on_crash(item, exc)
        return
    # forkserver: workers do not inherit the caller's open files (the results store and its lock)
    context = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=context) as pool:
        pending: dict = {}
        queue = iter(items)
        for item in queue:
            pending[pool.submit(func, item)] = item
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker crash becomes an error result
                    if on_crash is None:
                        raise
                    result = on_crash(item, exc)
                yield item, result
                nxt = next(queue, None)
                if nxt is not None:
                    pending[pool.submit(func, nxt)] = nxt
