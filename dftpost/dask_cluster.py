"""Tasks on a Dask cluster, the one distributed engine (optional: ``pip install 'dftpost[dask]'``):
where the work goes (:func:`parse_scheduler`, :class:`DaskScheduler`), starting the cluster or
connecting to its scheduler, and :func:`map_dask`, which keeps two tasks per thread of the cluster
in flight and yields results as they finish.

Where the work goes (``scheduler`` of :func:`dftpost.backends.backend_for`, ``--scheduler`` of the CLI):

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

The function and items are pickled to the workers: the function must be importable there
(dftpost installed in the workers' Python; checked before the first task) and paths in the items
must be visible there (a shared file system). A task whose worker dies is retried on another
worker up to Dask's ``distributed.scheduler.allowed-failures`` times (3 by default), then, as
Dask fails every task its dying worker held, run again alone; one that kills its worker then is
reported to ``on_crash`` with :class:`~dftpost.task_failures.WorkerDied`. Workers of a cluster
made here ignore SIGINT, which the caller handles (:mod:`dftpost.signals`).
"""

from __future__ import annotations

import importlib
import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DftpostError
from .signals import ignoring, map_running, next_done
from .task_failures import WorkerDied, crash_result

INSTALL_DASK = "install dftpost[dask] (pip install 'dftpost[dask]')"
_CLUSTER_KEYS = {"cluster", "jobs", "kwargs"}
# Without a dashboard a Dask scheduler still serves HTTP (health checks), by default on port 8787,
# which another cluster on the machine may hold (a warning, then a random port): take a free one.
_NO_FIXED_PORT = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}


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
        with ignoring(signal.SIGINT):
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
            with ignoring(signal.SIGINT):
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


def map_dask(func, items, spec: DaskScheduler, workers: int, on_crash):
    with map_running():
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
            future = next_done(completed)
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
                result = crash_result(item, exc, on_crash)
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


_END = object()
