"""The one driver of analyses over the frames of a trajectory (:class:`FrameAnalysis`).

The frames are streamed through the analysis in this process or, when the backend is parallel
and the selection of a plain xyz/extxyz file is large enough, cut into chunks of consecutive
frames (:func:`~dftpost.io.trajectory.frame_chunks`, four per worker) that the backend's workers
analyse; their parts are merged in frame order, so the result is that of one process, to
rounding. A subclass says what one frame adds (:class:`FrameWork`) and how the parts make a row.

A subclass also declares its command, ``dftpost <name> FILE``, as data (:class:`TrajectoryCommand`):
the command line builds the command from it (:func:`dftpost.cli.trajectory.trajectory_command`),
so that a new observable is one file here and one line registering its command.
"""

from __future__ import annotations

import itertools
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, TypedDict

from ase import Atoms

from ..analysis.correlation import frame_time_ps
from ..backends import Backend
from ..errors import DftpostError
from ..io.files import file_hash, regular_file
from ..io.trajectory import FrameChunk, frame_chunks, iter_chunk, iter_frames, parse_index
from ..store import Column
from .base import AnalysisBase

#: The columns every trajectory analysis's table starts with.
TRAJECTORY_COLUMNS = {
        "run": Column("str", "", "absolute path of the trajectory"),
        "input_hash": Column("str", "", "fingerprint of the trajectory file and the parameters"),
        "status": Column("str", "", "ok"),
        "index": Column("str", "", "frames analysed, start:stop:step"),
        "n_frames": Column("i8", "", "frames analysed"),
}


class CommandOption(TypedDict, total=False):
    """One option of a trajectory analysis's command, as plain data. ``keyword``: the keyword
    argument of the analysis it sets; ``flag``: ``"--dz"``, or ``"--on/--off"`` for a switch (the
    command's parameter is named after the first flag: ``dz``); ``default``; ``help``: one
    sentence. The default says what the option takes: a bool makes a switch, a str a word (named
    ``metavar`` in the help), an int or a float (or None: not given) a number, checked to be
    finite and within ``lo``..``hi`` (``lo_open``/``hi_open``: the bound itself excluded) in
    ``unit``, named ``metavar`` or else its unit in the help. ``keyword``, ``flag``, ``default``
    and ``help`` are required."""

    keyword: str
    flag: str
    default: bool | str | float | None
    help: str
    unit: str
    lo: float
    hi: float
    lo_open: bool
    hi_open: bool
    metavar: str


class TrajectoryCommand(TypedDict, total=False):
    """The command of a trajectory analysis, ``dftpost <name> FILE``, as plain data. ``help``: the
    command's help (a first line, then paragraphs); ``options``: the analysis's own options in the
    order of the help, each a :class:`CommandOption` or the keyword of an option the trajectory
    commands share (``"index"``, ``"q_o"``, ``"gap_eV"``, ``"timestep_ps"``); ``plot`` (optional):
    what ``--plot`` draws (the analysis's :meth:`~dftpost.analyses.base.AnalysisBase.plot`; no
    ``--plot`` without it); ``file_help`` (optional): the help of FILE; ``quantities`` (optional):
    the rows of the command's table (without ``--json``), ``--json`` key → (label, unit), beside
    the quantities the trajectory commands share. Every command also takes ``--out``, ``--json``,
    ``--workers`` and ``--scheduler``.

    The command line reads the declaration from the analysis's source file, without importing it
    (``dftpost --help`` loads no analysis): it is written as literals, whose numbers may name
    :mod:`dftpost.defaults` (``defaults.R_OH_A``)."""

    help: str
    options: tuple[CommandOption | str, ...]
    plot: str
    file_help: str
    quantities: dict[str, tuple[str, str]]


class FrameWork(ABC):
    """What an analysis does with frames, picklable to a worker: a fresh accumulator
    (:meth:`start`), one frame into it (:meth:`add`, with the frame's time in ps, NaN when
    unknown), and the part it makes (:meth:`finish`). ``timestep_ps`` as in
    :func:`~dftpost.analysis.correlation.frame_time_ps`."""

    timestep_ps: float | None

    @abstractmethod
    def start(self) -> Any:
        """A new accumulator."""

    @abstractmethod
    def add(self, accumulator: Any, number: int, atoms: Atoms, time_ps: float) -> None:
        """Frame ``number`` into the accumulator; a bad frame raises DftpostError."""

    @abstractmethod
    def finish(self, accumulator: Any) -> Any:
        """The part of the frames added (merged later in frame order)."""


def analyse_frames(work: FrameWork, path: Path, frames: Iterable[tuple[int, Atoms]],
                   on_frames: Callable[[int], None] | None = None) -> Any:
    """``work`` over ``frames`` of the trajectory ``path``; a bad frame's error names the file
    and the frame. ``on_frames(1)`` after each frame."""
    accumulator = work.start()
    for number, atoms in frames:
        try:
            work.add(accumulator, number, atoms, frame_time_ps(atoms.info, number, work.timestep_ps))
        except DftpostError as exc:
            raise DftpostError(path, f"frame {number}: {exc.problem}") from None
        if on_frames is not None:
            on_frames(1)
    return work.finish(accumulator)


@dataclass(frozen=True, eq=False)
class ChunkTask:
    """A chunk of frames and the work to do on it, for a worker."""

    chunk: FrameChunk
    work: FrameWork


class FrameAnalysis(AnalysisBase):
    """An analysis of the frames ``index`` (``start:stop:step``, None: all) of the trajectory
    ``path``. ``parameters`` (JSON-able) go into the fingerprint and the row; ``parallel_bytes``:
    the least trajectory text worth cutting into chunks for worker processes (their start-up
    must pay off); less is streamed in this process. ``on_frames(n)`` is called as each n frames
    are done. Subclasses make the work from the first frame (:meth:`_work`), merge the parts in
    frame order (:meth:`_combine`) and make the row (:meth:`_row`)."""

    #: default of ``parallel_bytes``
    parallel_bytes_default: ClassVar[int]
    #: the analysis's command, ``dftpost <name> FILE``
    command: ClassVar[TrajectoryCommand]

    def __init__(self, path: str | Path, index: str | None, parameters: dict,
                 on_frames: Callable[[int], None] | None = None, parallel_bytes: int | None = None):
        super().__init__()
        regular_file(path)  # named as given (a link to /dev/zero is the link's error), before resolving
        self.path = Path(path).resolve()
        self.index = index
        self.selection = parse_index(index)
        self.parameters = parameters
        self.on_frames = on_frames
        self.parallel_bytes = self.parallel_bytes_default if parallel_bytes is None else parallel_bytes

    @classmethod
    def check_parameters(cls, parameters: Mapping[str, Any]) -> None:
        """Raise :class:`~dftpost.analyses.base.ParameterError` for a value of the keyword
        arguments ``parameters`` that the analysis refuses, before any file is read (the command
        line calls it with its options' values: a usage error, exit 2). The default refuses
        nothing."""

    @abstractmethod
    def _work(self, first: Atoms) -> FrameWork:
        """The work on every frame, set up from the first frame."""

    @abstractmethod
    def _combine(self, parts: list) -> Any:
        """The result of the parts, in frame order."""

    @abstractmethod
    def _row(self, result: Any, fingerprint: str) -> dict:
        """The table row of the result (arrays included)."""

    # the cycle
    def _prepare(self, backend: Backend) -> list[ChunkTask]:
        """The chunk tasks for ``backend``'s workers; when the frames are not cut (a serial
        backend, a small selection, a file that cannot be cut) they are analysed here instead,
        as they stream, and there are no tasks."""
        hashing = ThreadPoolExecutor(1)  # the fingerprint is read while the frames are parsed
        self._fingerprint = hashing.submit(file_hash, self.path, json.dumps(self.parameters, sort_keys=True))
        hashing.shutdown(wait=False)
        self._parts: dict[int, Any] = {}
        chunks = frame_chunks(self.path, self.selection, 4 * backend.workers, self.parallel_bytes) if backend.parallel else None
        if chunks is None:
            frames = iter_frames(self.path, self.selection)
            first = next(frames, None)
            if first is None:
                raise DftpostError(self.path, f"no frames (selection {self.index or ':'})")
            self._parts[first[0]] = analyse_frames(self._work(first[1]), self.path, itertools.chain([first], frames), self.on_frames)
            self._tasks: list[ChunkTask] = []
            return []
        with closing(iter_chunk(chunks[0])) as head:
            first = next(head)
        work = self._work(first[1])
        self._tasks = [ChunkTask(replace(chunk, n_atoms=len(first[1])), work) for chunk in chunks]
        return self._tasks

    @staticmethod
    def work(task: ChunkTask) -> Any:
        """The part of one chunk of frames, in a worker."""
        return analyse_frames(task.work, task.chunk.path, iter_chunk(task.chunk))

    def _crash(self, task: ChunkTask, exc: BaseException) -> BaseException:
        return exc  # raised in _conclude, the earliest frames' first (as one process would)

    def _merge(self, task: ChunkTask, part: Any) -> None:
        self._parts[task.chunk.first] = part
        if self.on_frames is not None and not isinstance(part, BaseException):
            self.on_frames(task.chunk.count)

    def _conclude(self) -> None:
        """The parts in frame order (a failed chunk raises its error, the earliest first), their
        result (``results.trajectory``) and its row."""
        for task in self._tasks:
            part = self._parts[task.chunk.first]
            if isinstance(part, DftpostError):
                raise part
            if isinstance(part, BaseException):
                chunk = task.chunk
                raise DftpostError(chunk.path, f"frames {chunk.first}-{chunk.first + (chunk.count - 1) * chunk.step}: "
                                               f"the worker failed ({type(part).__name__}: {part})")
        parts = [self._parts[task.chunk.first] for task in self._tasks] or list(self._parts.values())
        result = self._combine(parts)
        self.results.trajectory = result
        self.results.rows = [self._row(result, self._fingerprint.result())]

