"""The trajectory commands (``dipole``, ``potential``, ``density``), each made from its analysis's
declaration (:func:`trajectory_command`), and what they share with ``field-profile``: a frame
counter while the analysis runs, its row stored once, and the summary printed as JSON or a table."""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from dftpost import defaults
from dftpost.errors import DftpostError

from .options import (
    JSON,
    OUT,
    SCHEDULER,
    TRAJECTORY_OPTIONS,
    WORKERS,
    number,
    plot_option,
    reflow,
    trajectory_argument,
    workers_or_all,
)
from .render import err, fail, input_file, interrupted, number_text, print_json, print_quantities, say, usage


def trajectory_command(module: str, name: str) -> Callable[..., None]:
    """The command of the trajectory analysis class ``name`` of ``module`` (a
    :class:`~dftpost.analyses.frames.FrameAnalysis`), made from its ``command`` declaration
    (:class:`~dftpost.analyses.frames.TrajectoryCommand`): FILE, --out, --json, the analysis's
    options, --workers, --scheduler, and --plot when it draws. Register it with
    ``app.command("<name>")(trajectory_command(module, name))``.

    The declaration is read from the module's source: the analysis is imported when the command
    runs. Then the options are checked (the class's ``check_parameters``: a usage error, exit 2),
    then FILE (exit 1); the analysis runs with a frame counter and its row is stored once
    (:func:`analyse_and_store`); --plot is drawn; the ``--json`` object, or its table, is printed."""
    declaration = read_declaration(module, name)
    parameters = [parameter("trajectory", Path, trajectory_argument(declaration.get("file_help"))),
                  parameter("out", Path, OUT), parameter("as_json", bool, JSON)]
    keywords: dict[str, str] = {}  # the command's parameter → the analysis's keyword argument
    flags: dict[str, str] = {}  # keyword argument → its flag, named in usage errors
    for option in declaration["options"]:
        keyword = option if isinstance(option, str) else option["keyword"]
        param, kind, info = TRAJECTORY_OPTIONS[option] if isinstance(option, str) else declared_option(option)
        parameters.append(parameter(param, kind, info))
        keywords[param] = keyword
        flags[keyword] = info.param_decls[0].split("/")[0]
    parameters += [parameter("workers", int, WORKERS), parameter("scheduler", str, SCHEDULER)]
    if "plot" in declaration:
        parameters.append(parameter("plot", Path, plot_option(declaration["plot"])))

    def command(**values: Any) -> None:
        from dftpost.analyses.base import ParameterError

        analysis_class = getattr(importlib.import_module(module), name)
        options = {keywords[key]: value for key, value in values.items() if key in keywords}
        try:
            analysis_class.check_parameters(options)
        except ParameterError as exc:
            usage(f"{flags.get(exc.keyword, exc.keyword)}: {exc.problem}")
        trajectory, out, as_json, plot = values["trajectory"], values["out"], values["as_json"], values.get("plot")
        input_file(trajectory, "a trajectory file")
        analysis = analyse_and_store(analysis_class.schema.name, lambda on_frames: analysis_class(
            trajectory, on_frames=on_frames, **options), out, as_json, workers_or_all(values["workers"]), values["scheduler"])
        if plot is not None:
            from dftpost.plot import save_figure

            try:
                save_figure(analysis.plot(), plot)
            except DftpostError as exc:
                fail(exc)
        summary = analysis.to_json(out=out)
        if "plot" in declaration and not as_json:
            summary["plot"] = None if plot is None else str(plot)
        print_trajectory_summary(summary, out, as_json, declaration.get("quantities"))

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]  # what typer reads
    command.__doc__ = declaration["help"]
    command.__name__ = command.__qualname__ = module.rpartition(".")[2]
    return reflow(command)


def parameter(name: str, kind: type, info: Any) -> inspect.Parameter:
    """The command's parameter ``name`` of type ``kind``, declared by typer's ``info``."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=kind)


def declared_option(option: dict) -> tuple[str, type, Any]:
    """The parameter name, type and typer option of a declared
    :class:`~dftpost.analyses.frames.CommandOption`."""
    flag, default, help = option["flag"], option["default"], option["help"]
    name = flag.split("/")[0].lstrip("-").replace("-", "_")
    if isinstance(default, bool):
        return name, bool, typer.Option(default, flag, help=help)
    if isinstance(default, str):
        return name, str, typer.Option(default, flag, metavar=option.get("metavar"), help=help)
    range_ = {key: option[key] for key in ("unit", "lo", "hi", "lo_open", "hi_open", "metavar") if key in option}
    return name, int if isinstance(default, int) else float, number(default, flag, help=help, **range_)


def read_declaration(module: str, name: str) -> dict:
    """The ``command`` declared by the class ``name`` of ``module``, read from the module's source
    file without importing it: literals, whose numbers may name :mod:`dftpost.defaults`
    (``defaults.R_OH_A``). An installation without the source (compiled files only) imports the
    module instead: slower to start, the same declaration."""
    try:
        path = module_file(module)
    except ModuleNotFoundError:
        return dict(getattr(importlib.import_module(module), name).command)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            for item in node.body:
                if not isinstance(item, (ast.Assign, ast.AnnAssign)) or item.value is None:
                    continue
                targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                if any(isinstance(target, ast.Name) and target.id == "command" for target in targets):
                    try:
                        return ast.literal_eval(_Defaults().visit(item.value))
                    except ValueError as exc:
                        raise TypeError(f"{path}:{item.lineno}: {name}.command must be written as literals ({exc})") from None
            raise TypeError(f"{path}: {name} declares no command")
    raise TypeError(f"{path}: no class {name}")


class _Defaults(ast.NodeTransformer):
    """``defaults.NAME`` → the value of :data:`dftpost.defaults.NAME`."""

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if isinstance(node.value, ast.Name) and node.value.id == "defaults":
            return ast.copy_location(ast.Constant(getattr(defaults, node.attr)), node)
        return node


def module_file(module: str) -> Path:
    """The source file of ``module``, found as ``import`` would find it but importing neither it
    nor its packages (whose ``__init__`` may load what the command line must not)."""
    top, *parts = module.split(".")
    spec = importlib.util.find_spec(top)
    for depth in range(1, len(parts) + 1):
        spec = None if spec is None else importlib.machinery.PathFinder.find_spec(
            ".".join([top, *parts[:depth]]), spec.submodule_search_locations)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise ModuleNotFoundError(f"no source file of the module {module}", name=module)
    return Path(spec.origin)


def analyse_and_store(label: str, make, out: Path, as_json: bool, workers: int, scheduler: str | None):
    """Run the frame analysis ``make(on_frames)`` on the backend of ``workers`` and ``scheduler``
    with a frame counter on a terminal, store its row in ``out`` once
    (:meth:`dftpost.store.ResultStore.append_once`: an identical analysis is not stored again);
    a one-line error (exit 1) for bad input, exit 130/143 on Ctrl-C/SIGTERM (nothing stored).
    Returns the analysis, run."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from dftpost.backends import backend_for, stop_on_signals

    progress = Progress(
        TextColumn(label), SpinnerColumn(), TextColumn("{task.completed} frames"), TimeElapsedColumn(),
        console=err, disable=as_json or not err.is_terminal,
    )
    task = progress.add_task(label, total=None)
    try:
        backend = backend_for(workers, scheduler)  # a wrong scheduler fails before any work
        with stop_on_signals(), progress:
            analysis = make(lambda n: progress.advance(task, n)).run(backend)
        store_once(out, analysis.schema, analysis.to_row())
    except KeyboardInterrupt as exc:
        interrupted(exc, "nothing stored; run the same command again")
    except DftpostError as exc:
        fail(exc)
    return analysis


def store_once(out: Path, schema, row: dict) -> None:
    """Store ``row`` in ``out`` unless a row of the same inputs and parameters is there; say so then."""
    from dftpost.store import ResultStore

    with ResultStore(out) as store:
        if not store.append_once(schema, row):
            say("", f"already stored in {out} (same inputs and parameters): not stored again")


def print_trajectory_summary(summary: dict, out: Path, as_json: bool,
                             quantities: dict[str, tuple[str, str]] | None = None) -> None:
    """The analysis's ``--json`` object ``summary``, or a table of its quantities (those of
    :data:`render.QUANTITIES` and the command's own ``quantities``, key → (label, unit))."""
    if as_json:
        print_json(summary)
        return
    data = dict(summary)
    units = data.get("acf_integrated_time_units")
    if units is not None:
        data["acf_integrated_time"] = f"{number_text(data['acf_integrated_time'])} {units}" + (
            f" ({number_text(data['acf_integrated_time_frames'])} frames)"
            if units != "frames" and "acf_integrated_time_frames" in data else "")
    print_quantities(f"{summary['trajectory']} → {out}", data, quantities)
