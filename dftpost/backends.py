"""Where the work of an analysis runs: a :class:`Backend` maps a function over independent tasks
(runs, chunks of frames) serially (:class:`SerialBackend`), on local processes
(:class:`ProcessBackend`, :mod:`dftpost.process_pool`) or on a Dask cluster (:class:`DaskBackend`,
:mod:`dftpost.dask_cluster`: the one distributed engine; optional: ``pip install 'dftpost[dask]'``).
:func:`backend_for` picks one from the command line's ``--workers`` and ``--scheduler``.

Results come back in order of completion, so the one writer (the caller) can store each as soon
as it is done. A worker never raises: the function mapped is expected to turn its own failures
into results (see :meth:`dftpost.analyses.gap.GapAnalysis.work`), and anything it does not catch, including
a worker process that dies (a crash of a C library, the kernel's out-of-memory killer,
``os._exit``), is turned into a result by the caller's ``on_crash`` (:mod:`dftpost.task_failures`),
so one bad item never stops a batch. An exception while the caller consumes the results
(KeyboardInterrupt included; see :func:`~dftpost.signals.stop_on_signals` for SIGINT and SIGTERM in
a command) or closing the iterator early cancels what is queued and shuts the worker processes
(after their current item) or the Dask cluster down before the exception goes on.

Where the work goes (``scheduler`` of :func:`backend_for`, ``--scheduler`` of the CLI):

- ``None``: ``workers`` local processes (started from a forkserver, so they do not inherit the
  caller's open files such as the results store and its lock); 1 = serially in this process.
- ``"local"``, a scheduler address ``"tcp://host:port"`` or a cluster file (YAML): Dask, see
  :mod:`dftpost.dask_cluster`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from .dask_cluster import DaskMissingError, DaskScheduler, SchedulerError, map_dask, parse_scheduler
from .process_pool import default_workers, map_processes, usable_workers
from .signals import Interrupted, check_stop, map_running, stop_on_signals
from .task_failures import WorkerDied, crash_result

__all__ = [
    "Backend", "DaskBackend", "DaskMissingError", "DaskScheduler", "Interrupted", "ProcessBackend",
    "SchedulerError", "SerialBackend", "WorkerDied", "backend_for", "default_workers", "map_unordered",
    "parse_scheduler", "stop_on_signals", "usable_workers",
]

T = TypeVar("T")
R = TypeVar("R")


class Backend(ABC):
    """Where the tasks of an analysis run. :meth:`map` yields ``(task, func(task))`` in order of
    completion; ``on_crash(task, exception)`` turns a task whose function raised, or whose worker
    died (:class:`WorkerDied`), into a result (without it the exception propagates). An exception
    while the caller consumes the results (KeyboardInterrupt included) or closing the iterator
    early (``contextlib.closing``) cancels what is queued and stops the workers.

    ``workers`` is how many tasks the backend runs at once (the size to cut work for);
    ``parallel`` says whether the tasks run in other processes: when it is False, work that only
    pays off spread over processes (chunks of a trajectory) is better done in the caller.
    """

    #: short name, as the command line and the stored parameters say it
    name: ClassVar[str]

    @property
    @abstractmethod
    def workers(self) -> int:
        """Tasks run at once."""

    @property
    def parallel(self) -> bool:
        """True if the tasks run in other processes than the caller's."""
        return True

    @abstractmethod
    def map(self, func: Callable[[T], R], tasks: Iterable[T],
            on_crash: Callable[[T, BaseException], R] | None = None) -> Generator[tuple[T, R], None, None]:
        """``(task, func(task))`` as each finishes (see the class docstring)."""


class SerialBackend(Backend):
    """Every task in this process, one after the other, in order. A stop asked by a signal
    (:func:`stop_on_signals`) takes effect before the next task."""

    name = "serial"

    @property
    def workers(self) -> int:
        return 1

    @property
    def parallel(self) -> bool:
        return False

    def map(self, func, tasks, on_crash=None):
        return _map_serial(func, list(tasks), on_crash)


@dataclass(frozen=True)
class ProcessBackend(Backend):
    """Tasks on local worker processes (started from a forkserver, so they do not inherit the
    caller's open files such as the results store and its lock), capped silently at the cores
    this process may use (:func:`default_workers`) and at the number of tasks. At most two tasks
    per worker are in flight. A dead worker breaks the process pool: the tasks then in flight run
    again one at a time in a new pool, so only the task that kills its worker is reported, with
    :class:`WorkerDied`. Asking for more than one worker runs the tasks in worker processes even on
    one core, so that a crash stays that of a worker; a single task runs in the caller."""

    requested: int = 2
    name: ClassVar[str] = "processes"

    @property
    def workers(self) -> int:
        return usable_workers(self.requested)

    @property
    def parallel(self) -> bool:
        return self.workers > 1

    def map(self, func, tasks, on_crash=None):
        items = list(tasks)
        if len(items) <= 1:
            return _map_serial(func, items, on_crash)
        return map_processes(func, items, usable_workers(self.requested, len(items)), on_crash)


@dataclass(frozen=True)
class DaskBackend(Backend):
    """Tasks on a Dask cluster (see :mod:`dftpost.dask_cluster` for ``scheduler``). ``requested`` is the
    size of a "local" cluster (capped at the cores), else the least number of tasks kept in
    flight per two; in flight are two tasks per thread of the cluster, counted anew as workers
    come and go. The function and tasks are pickled to the workers: the function must be
    importable there and paths in the tasks visible there (a shared file system)."""

    scheduler: DaskScheduler
    requested: int = 1
    name: ClassVar[str] = "dask"

    @property
    def workers(self) -> int:
        return usable_workers(self.requested) if self.scheduler.kind == "local" else max(1, self.requested)

    def map(self, func, tasks, on_crash=None):
        return map_dask(func, list(tasks), self.scheduler, self.workers, on_crash)


def backend_for(workers: int = 1, scheduler: str | DaskScheduler | None = None) -> Backend:
    """The backend of the command line's ``--workers`` and ``--scheduler``: Dask when a scheduler
    is named (checked here, before anything runs: :func:`parse_scheduler`), else local processes
    for more than one worker, else serial."""
    if scheduler is not None:
        spec = scheduler if isinstance(scheduler, DaskScheduler) else parse_scheduler(scheduler)
        return DaskBackend(spec, workers)
    if workers <= 1:
        return SerialBackend()
    return ProcessBackend(workers)


def map_unordered(
    func: Callable[[T], R],
    items: Iterable[T],
    workers: int = 1,
    on_crash: Callable[[T, BaseException], R] | None = None,
    scheduler: str | DaskScheduler | None = None,
) -> Generator[tuple[T, R], None, None]:
    """``backend_for(workers, scheduler).map(func, items, on_crash)``: ``(item, func(item))`` as
    each finishes (see :class:`Backend`)."""
    return backend_for(workers, scheduler).map(func, items, on_crash)


def _map_serial(func, items, on_crash):
    with map_running():
        yield from _serial(func, items, on_crash)


def _serial(func, items, on_crash):
    for item in items:
        check_stop()
        try:
            result = func(item)
        except Exception as exc:  # noqa: BLE001 - turned into a result by the caller's rule
            result = crash_result(item, exc, on_crash)
        yield item, result
