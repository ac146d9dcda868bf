"""The one shape of an analysis, after MDAnalysis' ``AnalysisBase``.

An analysis is made with its inputs and parameters, then :meth:`AnalysisBase.run` goes through

1. :meth:`~AnalysisBase._prepare`: the tasks (runs, chunks of frames, a pair of runs), checked
   before any work;
2. :meth:`~AnalysisBase.work` on every task, where the :class:`~dftpost.backends.Backend` puts it
   (this process, local processes, a Dask cluster): a static method of the task alone, so that
   it pickles by name; a failure it does not turn into a result is handed to
   :meth:`~AnalysisBase._crash`;
3. :meth:`~AnalysisBase._merge` of each task's result, in this process, in order of completion;
4. :meth:`~AnalysisBase._conclude`: ``results`` filled.

``results`` holds the analysis's table rows (:attr:`AnalysisBase.schema`, one row for most
analyses, one per run for a batch), and everything else is made from them: the rows to store
(:meth:`~AnalysisBase.to_rows`), the ``--json`` object of the command line
(:meth:`~AnalysisBase.to_json`) and the figure (:meth:`~AnalysisBase.plot`). A result read back
from a results file (:meth:`~AnalysisBase.from_rows`, :meth:`~AnalysisBase.read`) is therefore
the same type, with the same answers, as a fresh one.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import closing
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from ..backends import Backend, SerialBackend
from ..errors import DftpostError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

    from ..store import TableSchema

A = TypeVar("A", bound="AnalysisBase")


class Results(dict):
    """The results of an analysis: a dict whose keys also read as attributes
    (``results.rows``), as MDAnalysis' ``Results``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no result {name!r} (there are {sorted(self)})") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


class AnalysisBase(ABC):
    """Base of every analysis: see the module docstring. Subclasses set :attr:`schema` and define
    :meth:`_prepare`, :meth:`work`, :meth:`_merge`, :meth:`_conclude` and :meth:`to_json`."""

    #: the table the analysis's rows go to
    schema: ClassVar[TableSchema]

    def __init__(self) -> None:
        self.results = Results(rows=[])

    # ------------------------------------------------------------------ the cycle
    def run(self: A, backend: Backend | None = None) -> A:
        """Prepare, work on every task with ``backend`` (default: serially in this process),
        merge and conclude; returns the analysis itself, its ``results`` filled. An exception
        (KeyboardInterrupt included) stops the backend's workers before it goes on."""
        backend = backend if backend is not None else SerialBackend()
        tasks = self._prepare(backend)
        parts = backend.map(self.work, tasks, self._crash)
        with closing(parts):  # an interrupt stops the workers first
            for task, part in parts:
                self._merge(task, part)
        self._conclude()
        return self

    @abstractmethod
    def _prepare(self, backend: Backend) -> Iterable:
        """The tasks, for ``backend`` (whose size may decide how the work is cut)."""

    @staticmethod
    @abstractmethod
    def work(task: Any) -> Any:
        """The work of one task, run where the backend puts it."""

    def _crash(self, task: Any, exc: BaseException) -> Any:
        """The result of a task whose :meth:`work` raised or whose worker died; by default the
        error goes on (the analysis stops)."""
        raise exc

    @abstractmethod
    def _merge(self, task: Any, part: Any) -> None:
        """Take in one task's result (in this process, in order of completion)."""

    @abstractmethod
    def _conclude(self) -> None:
        """Fill :attr:`results` (its ``rows`` at least) once every task is merged."""

    # ------------------------------------------------------------------ rows, JSON, figure
    def to_rows(self) -> list[dict]:
        """The rows of :attr:`schema` to store (arrays included)."""
        return list(self.results.rows)

    def to_row(self) -> dict:
        """The one row of an analysis that makes one (every one but a batch over runs)."""
        rows = self.to_rows()
        if len(rows) != 1:
            raise DftpostError(None, f"{type(self).__name__} holds {len(rows)} rows, not one: use to_rows()")
        return rows[0]

    @classmethod
    def from_rows(cls: type[A], rows: Iterable[dict]) -> A:
        """The analysis as its stored rows say (its parameters as the rows recorded them): the
        same type and answers as the fresh one that made them."""
        analysis = cls.__new__(cls)
        AnalysisBase.__init__(analysis)
        analysis.results.rows = [dict(row) for row in rows]
        return analysis

    @classmethod
    def from_row(cls: type[A], row: dict) -> A:
        """:meth:`from_rows` of one row."""
        return cls.from_rows([row])

    @classmethod
    def read(cls: type[A], path: Any, run: str | None = None) -> A:
        """The rows of a results file (all of the table, or those of ``run``; arrays included)."""
        from ..store import read_arrays, read_table

        table = read_table(path, cls.schema.name)
        names = list(table)
        picked = [i for i, r in enumerate(table[names[0]] if names else []) if run is None or table["run"][i] == run]
        rows = [{**{name: table[name][i] for name in names}, **read_arrays(path, cls.schema.name, i)} for i in picked]
        if not rows:
            raise DftpostError(path, f"no {cls.schema.name} rows" + (f" of {run}" if run is not None else ""))
        return cls.from_rows(rows)

    def store(self, path: Any, wait_s: float = 0.0) -> None:
        """Append the rows to the results file ``path``."""
        from ..store import ResultStore

        with ResultStore(path, wait_s=wait_s) as out:
            out.append(self.schema, self.to_rows())

    @abstractmethod
    def to_json(self, **context: Any) -> Any:
        """The object ``dftpost <command> --json`` prints (before NaN becomes null); ``context``
        holds what the command adds (the results file ``out``, a figure path)."""

    def plot(self, ax: Axes | None = None, *, fig: Figure | SubFigure | None = None) -> Figure:
        """The analysis's figure, returned as the whole Figure: a figure of one panel drawn on
        ``ax`` when given, one of several panels into the empty ``fig`` (a Figure or SubFigure)
        when given (as the ``draw_`` functions of :mod:`dftpost.plot`)."""
        raise DftpostError(None, f"{type(self).__name__} has no figure")


class ParameterError(DftpostError):
    """A value of the keyword argument ``keyword`` that an analysis refuses (on the command line,
    a usage error naming the option)."""

    def __init__(self, keyword: str, problem: str):
        super().__init__(None, problem)
        self.keyword = keyword

    def __reduce__(self):  # pickled with its own two arguments
        return self.__class__, (self.keyword, self.problem)


def now() -> str:
    """The ISO time a row is made (``analysed_at``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def scalar(value: Any) -> Any:
    """A stored numpy scalar as the Python number a fresh row holds."""
    return value.item() if isinstance(value, np.generic) else value


def one_panel(ax: Axes | None, fig: Figure | SubFigure | None) -> Axes | None:
    """The Axes a figure of one panel is drawn on: ``ax``, or one made in the empty ``fig``, or
    None (the figure makes its own)."""
    if ax is not None and fig is not None:
        raise DftpostError(None, "give ax or fig, not both")
    return fig.subplots() if fig is not None else ax


def several_panels(ax: Axes | None, fig: Figure | SubFigure | None, what: str) -> Figure | SubFigure | None:
    """The empty ``fig`` a figure of several panels is drawn into (None: it makes its own);
    an ``ax`` is refused, as one Axes cannot hold several panels."""
    if ax is not None:
        raise DftpostError(None, f"{what} has several panels: give an empty Figure or SubFigure as fig=, not ax=")
    return fig
