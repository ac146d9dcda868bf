"""Where the work of an analysis runs: a :class:`Backend` maps a function over independent tasks
(runs, chunks of frames) serially (:class:`SerialBackend`), on local processes
(:class:`ProcessBackend`) or on a Dask cluster (:class:`DaskBackend`, the one distributed engine;
optional: ``pip install 'dftpost[dask]'``). :func:`backend_for` picks one from the command line's
``--workers`` and ``--scheduler``; worker death and signals are handled here and nowhere else.

Results come back in order of completion, so the one writer (the caller) can store each as soon
as it is done. A worker never raises: the function mapped is expected to turn its own failures
into results (see :meth:`dftpost.analyses.gap.GapAnalysis.work`), and anything it does not catch, including
a worker process that dies (a crash of a C library, the kernel's out-of-memory killer,
``os._exit``), is turned into a result by the caller's ``on_crash``, so one bad item never stops
a batch. An exception while the caller consumes the results (KeyboardInterrupt included; see
:func:`stop_on_signals` for SIGINT and SIGTERM in a command) or closing the iterator early
cancels what is queued and shuts the worker processes (after their current item) or the Dask
cluster down before the exception goes on.

Where the work goes (``scheduler`` of :func:`backend_for`, ``--scheduler`` of the CLI):

- ``None``: ``workers`` local processes (started from a forkserver, so they do not inherit the
  caller's open files such as the results store and its lock); 1 = serially in this process.
- ``"local"``: a Dask ``LocalCluster`` of ``workers`` single-threaded processes on this machine,
  listening on 127.0.0.1 only, without a dashboard.
- ``"tcp://host:port"`` (any ``scheme://`` address): a running Dask scheduler (``dask scheduler``
  on one node, ``dask worker tcp://host:port`` on others).
- a path to a cluster file (YAML) naming a cluster class and its keyword arguments, e.g.
  a dask-jobqueue ``SLURMCluster``; the cluster is made, scaled to ``jobs`` and closed at the end::

      cluster: SLURMCluster          # a dask_jobqueue class, or module.Class (distributed.LocalCluster)
      jobs: 4                        # batch jobs to submit (cluster.scale(jobs=...)); optional
      kwargs:                        # keyword arguments of the class, as its documentation lists them
        queue: compute
        account: my_project
        cores: 32                    # per job
        processes: 32                # Dask worker processes per job: 1 thread each
        memory: 64GB
        walltime: "02:00:00"

With Dask the function and items are pickled to the workers: the function must be importable
there (dftpost installed in the workers' Python) and paths in the items must be visible there
(a shared file system). A task whose worker dies is retried on another worker up to Dask's
``distributed.scheduler.allowed-failures`` times (3 by default), then, as Dask fails every task
its dying worker held, run again alone; one that kills its worker then is reported to
``on_crash`` with :class:`WorkerDied`.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

from .errors import DftpostError

T = TypeVar("T")
R = TypeVar("R")

INSTALL_DASK = "install dftpost[dask] (pip install 'dftpost[dask]')"
_CLUSTER_KEYS = {"cluster", "jobs", "kwargs"}
# Without a dashboard a Dask scheduler still serves HTTP (health checks), by default on port 8787,
# which another cluster on the machine may hold (a warning, then a random port): take a free one.
_NO_FIXED_PORT = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}


class WorkerDied(Exception):
    """What ``on_crash`` gets for an item whose worker process died while running it."""


class DaskMissingError(DftpostError):
    """A Dask scheduler was asked for, but Dask (or dask-jobqueue) is not installed."""


class SchedulerError(DftpostError):
    """The scheduler cannot be used: a bad cluster file, an unreachable or lost scheduler."""


@dataclass(frozen=True)
class DaskScheduler:
    """Where Dask work goes (see the module docstring); made by :func:`parse_scheduler`.

    ``kind`` is "local", "address" or "cluster"; ``address`` the scheduler's address (kind
    "address"); ``cluster_class`` the class's "module.Name", ``kwargs`` its keyword arguments,
    ``jobs`` the scale and ``source`` the cluster file (kind "cluster").
    """

    kind: str
    address: str | None = None
    cluster_class: str | None = None
    kwargs: dict = field(default_factory=dict)
    jobs: int | None = None
    source: Path | None = None


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_scheduler(text: str) -> DaskScheduler:
    """The Dask scheduler named by ``text``: "local", an address "scheme://host:port", or the
    path of a cluster file (YAML, see the module docstring).

    Raises :class:`DaskMissingError` when Dask (or, for its cluster classes, dask-jobqueue) is not
    installed, :class:`SchedulerError` for a cluster file that is missing or wrong.
    """
    _import_distributed()
    if text == "local":
        return DaskScheduler("local")
    if "://" in text:
        return DaskScheduler("address", address=text)
    path = Path(text)
    if not path.is_file():
        raise SchedulerError(path, "no such cluster file (--scheduler takes 'local', a scheduler address "
                                   "tcp://host:port or a cluster file)")
    import yaml  # type: ignore[import-untyped]  # a dependency of dask

    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise SchedulerError(path, f"cannot be read as YAML ({error})".replace("\n", " ")) from None
    if not isinstance(spec, dict) or "cluster" not in spec:
        raise SchedulerError(path, "a cluster file is a mapping with 'cluster' (e.g. SLURMCluster), "
                                   "'jobs' and 'kwargs'")
    if unknown := set(spec) - _CLUSTER_KEYS:
        raise SchedulerError(path, f"unknown key(s) {sorted(unknown)}; a cluster file has "
                                   f"{sorted(_CLUSTER_KEYS)} (the class's own options go under kwargs)")
    kwargs = spec.get("kwargs") or {}
    jobs = spec.get("jobs")
    if not isinstance(kwargs, dict):
        raise SchedulerError(path, "'kwargs' must be a mapping of the cluster class's keyword arguments")
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        raise SchedulerError(path, f"'jobs' must be a positive integer, not {jobs!r}")
    cls = _cluster_class(str(spec["cluster"]), path)
    return DaskScheduler("cluster", cluster_class=f"{cls.__module__}.{cls.__qualname__}", kwargs=kwargs,
                         jobs=jobs, source=path)


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
        return _map_processes(func, items, usable_workers(self.requested, len(items)), on_crash)


@dataclass(frozen=True)
class DaskBackend(Backend):
    """Tasks on a Dask cluster (see the module docstring for ``scheduler``). ``requested`` is the
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
        return _map_dask(func, list(tasks), self.scheduler, self.workers, on_crash)


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


def usable_workers(requested: int, n_items: int | None = None) -> int:
    """The worker processes worth starting for ``requested``: at most the cores this process may
    use (:func:`default_workers`) and ``n_items``, at least 1."""
    return max(1, min(requested, default_workers(), n_items if n_items is not None else requested))


def _map_serial(func, items, on_crash):
    with _map_running():
        yield from _serial(func, items, on_crash)


def _serial(func, items, on_crash):
    for item in items:
        _check_stop()
        try:
            result = func(item)
        except Exception as exc:  # noqa: BLE001 - turned into a result by the caller's rule
            result = _crash_result(item, exc, on_crash)
        yield item, result


# ----------------------------------------------------------------------------- local processes
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

        with _ignoring(signal.SIGINT, signal.SIGTERM):
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


def _map_processes(func, items, workers, on_crash):
    with _map_running():
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
                for future in _wait_first(pending):
                    item = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        suspects.append(item)
                        broken = True
                        continue
                    except Exception as exc:  # noqa: BLE001 - an uncaught error becomes an error result
                        result = _crash_result(item, exc, on_crash)
                    yield item, result
                    if not broken:
                        submit_next()
            if broken:  # the others in flight failed with the pool, or finished before it broke
                for future in _wait_all(pending):
                    item = pending.pop(future)
                    if isinstance(future.exception(), BrokenProcessPool):
                        suspects.append(item)
                        continue
                    try:
                        result = future.result()
                    except Exception as exc:  # noqa: BLE001
                        result = _crash_result(item, exc, on_crash)
                    yield item, result
        finally:
            _shutdown(pool, earlier)
        if suspects:
            yield from _isolate(func, suspects, on_crash)
        if not broken:
            return


def _crash_result(item, exc: BaseException, on_crash):
    """The result ``on_crash(item, exc)`` makes for a failed item; ``exc`` raised without it."""
    if on_crash is None:
        raise exc from None
    return on_crash(item, exc)


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
                _wait_first([future])
                result = future.result()
            except BrokenProcessPool:
                _shutdown(pool, earlier)
                pool = _new_pool(1, func)
                died = WorkerDied("the worker process died running it (killed by a signal, out of memory, "
                                  "or a crash in compiled code)")
                result = _crash_result(item, died, on_crash)
            except Exception as exc:  # noqa: BLE001
                result = _crash_result(item, exc, on_crash)
            yield item, result
    finally:
        _shutdown(pool, earlier)


_END = object()


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


def _check_stop() -> None:
    if _signals_received:
        raise Interrupted(_signals_received[-1])


@contextmanager
def _map_running():
    """Marks a map as running, for the signal handler of :func:`stop_on_signals`."""
    global _maps_running
    _maps_running += 1
    try:
        yield
    finally:
        _maps_running -= 1


def _wait_first(futures) -> set:
    """The futures done once one is, checking every 0.25 s for a stop (:func:`stop_on_signals`)."""
    while True:
        _check_stop()
        done, _ = wait(futures, timeout=0.25, return_when=FIRST_COMPLETED)
        if done:
            return done


def _wait_all(futures) -> list:
    """``futures`` once all are done, checking for a stop as :func:`_wait_first` does."""
    while True:
        _check_stop()
        _, not_done = wait(futures, timeout=0.25)
        if not not_done:
            return list(futures)


def _next_done(done: queue.SimpleQueue):
    """The next Dask future put in ``done`` by its done-callback, checking every 0.25 s for a stop
    as :func:`_wait_first` does."""
    while True:
        _check_stop()
        try:
            return done.get(timeout=0.25)
        except queue.Empty:
            continue


@contextmanager
def _ignoring(*signals: int):
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


# ----------------------------------------------------------------------------- Dask
def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise DaskMissingError(None, f"Dask is not installed, it is needed for --scheduler: {INSTALL_DASK}") from None
    return distributed


def _cluster_class(name: str, source: Path):
    """The class a cluster file names: "Module.Class", or a bare name looked up in dask_jobqueue
    and then in distributed."""
    if "." in name:
        module_name, _, attr = name.rpartition(".")
        candidates = [module_name]
    else:
        attr, candidates = name, ["dask_jobqueue", "distributed"]
    missing = []
    for module_name in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(module_name)
            continue
        if hasattr(module, attr):
            return getattr(module, attr)
    if "dask_jobqueue" in missing:
        raise DaskMissingError(source, f"cluster {name!r}: dask-jobqueue is not installed: {INSTALL_DASK}")
    raise SchedulerError(source, f"no cluster class {name!r} (e.g. SLURMCluster, PBSCluster, LocalCluster, "
                                 "or module.Class)")


def _start_dask(spec: DaskScheduler, workers: int):
    """Client (and the cluster made here, or None) for ``spec``."""
    distributed = _import_distributed()
    cluster = None
    where = spec.address or spec.source or "local"
    try:
        # The first worker processes of a cluster made here inherit the ignored SIGINT (Ctrl-C in a
        # terminal reaches the whole process group; only this process handles it); _register_plugin
        # does the same in workers started later.
        with _ignoring(signal.SIGINT):
            if spec.kind == "local":
                # CRITICAL: a cluster made here and closed at Ctrl-C logs heartbeat and
                # connection errors of its dying workers (tracebacks, at ERROR); dftpost reports
                # every failure of the work itself
                cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                   host="127.0.0.1", dashboard_address=None,
                                                   scheduler_kwargs=_NO_FIXED_PORT, silence_logs=logging.CRITICAL)
            elif spec.kind == "cluster":
                module_name, _, attr = str(spec.cluster_class).rpartition(".")
                cluster = getattr(importlib.import_module(module_name), attr)(**spec.kwargs)
                if spec.jobs is not None:
                    try:
                        cluster.scale(jobs=spec.jobs)
                    except TypeError:  # not a dask-jobqueue cluster: jobs are workers
                        cluster.scale(spec.jobs)
        client = distributed.Client(cluster if cluster is not None else spec.address, set_as_default=False)
        if spec.kind == "local" or (cluster is not None and type(cluster).__name__ == "LocalCluster"):
            _register_plugin(client)
    except Exception as error:  # noqa: BLE001 - a wrong option, an unreachable scheduler: one line, no traceback
        if cluster is not None:
            with _ignoring(signal.SIGINT):
                cluster.close()
        message = f"{type(error).__name__}: {error}".replace("\n", " ")
        if spec.kind == "cluster":
            raise SchedulerError(spec.source, f"cannot start the Dask cluster: {message}") from None
        raise SchedulerError(None, f"cannot use the Dask scheduler {where}: {message}") from None
    return client, cluster


def _register_plugin(client) -> None:
    """Make every worker of ``client`` (those there now and those started later) ignore SIGINT."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class IgnoreSigint(WorkerPlugin):  # sent to the workers by value (cloudpickle)
        def setup(self, worker) -> None:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    register = getattr(client, "register_plugin", None) or client.register_worker_plugin  # distributed < 2023.9.2
    register(IgnoreSigint(), name="dftpost-ignore-sigint")


def _check_workers_import(client, func) -> None:
    """Refuse (SchedulerError) when the Dask workers there now cannot import the module of
    ``func``: a worker that cannot unpickle a task fails it in its connection handler, and the
    task would wait for ever. Functions of ``__main__`` travel by value and are not checked."""
    module = getattr(func, "__module__", None)
    if not module or module == "__main__":
        return
    try:
        client.run(importlib.import_module, module)
    except Exception as exc:  # noqa: BLE001 - ImportError on a worker, or its connection lost
        raise SchedulerError(None, f"the Dask workers cannot import {module} ({type(exc).__name__}: {exc}); "
                                   "install dftpost in the Python the workers run") from None


def _map_dask(func, items, spec: DaskScheduler, workers: int, on_crash):
    with _map_running():
        yield from _dask(func, items, spec, workers, on_crash)


def _dask(func, items, spec: DaskScheduler, workers: int, on_crash):
    from concurrent.futures import CancelledError

    client, cluster = _start_dask(spec, workers)
    pending: dict = {}  # future key -> (future, item)
    try:
        _check_workers_import(client, func)
        remaining = iter(items)
        completed: queue.SimpleQueue = queue.SimpleQueue()  # futures as they finish (their callbacks put them)
        threads: dict[str, float] = {"n": 0, "at": -1.0}
        suspects: list = []  # items whose worker died: retried alone, once nothing else is in flight
        alone: set = set()  # keys of the items run alone

        def window() -> int:
            if time.monotonic() - threads["at"] > 1.0:  # asks the scheduler at most once a second
                threads["n"], threads["at"] = sum(client.nthreads().values()), time.monotonic()
            return 2 * max(workers, int(threads["n"]))

        def submit(item) -> str:
            future = client.submit(func, item, pure=False)
            pending[future.key] = (future, item)
            future.add_done_callback(completed.put)
            return future.key

        def top_up() -> None:
            limit = window()
            while len(pending) < limit and (item := next(remaining, _END)) is not _END:
                submit(item)

        top_up()
        while pending or suspects:
            if not pending:
                alone.add(submit(suspects.pop(0)))
            future = _next_done(completed)
            if future.key not in pending:  # released after an earlier callback: not ours any more
                continue
            _, item = pending.pop(future.key)
            try:
                result = future.result()
            except CancelledError as exc:  # the scheduler is gone (or cancelled it): nothing will finish
                raise SchedulerError(None, f"the Dask scheduler cancelled the work ({exc or 'connection lost'}); "
                                           "the results received are stored, run again for the rest") from None
            except Exception as exc:  # noqa: BLE001 - an uncaught error or a dead worker (KilledWorker)
                if type(exc).__name__ == "KilledWorker":
                    # Dask fails every task its dying worker held: only a task that kills a worker
                    # when it runs alone is the culprit.
                    if future.key not in alone:
                        future.release()
                        suspects.append(item)
                        continue
                    tries = getattr(exc, "allowed_failures", None)
                    times = "" if tries is None else f", on {tries + 1} workers in turn"
                    exc = WorkerDied(f"the worker process died running it{times} (Dask KilledWorker: killed by a "
                                     "signal, out of memory, or a crash in compiled code)")
                result = _crash_result(item, exc, on_crash)
            future.release()
            yield item, result
            if not suspects:
                top_up()
    finally:
        try:
            if pending:
                client.cancel([f for f, _ in pending.values()])
            client.close()
        finally:
            if cluster is not None:
                cluster.close()
