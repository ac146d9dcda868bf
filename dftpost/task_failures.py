"""What a map makes of a task that failed: the caller's ``on_crash(task, exception)`` turns it into
a result (:func:`crash_result`), so one bad item never stops a batch; :class:`WorkerDied` is the
exception it gets for a task whose worker process died running it."""

from __future__ import annotations


class WorkerDied(Exception):
    """What ``on_crash`` gets for an item whose worker process died while running it."""


def crash_result(item, exc: BaseException, on_crash):
    """The result ``on_crash(item, exc)`` makes for a failed item; ``exc`` raised without it."""
    if on_crash is None:
        raise exc from None
    return on_crash(item, exc)
