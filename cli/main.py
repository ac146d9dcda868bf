"""``dftpost``: the command line. Parses arguments, calls the API, prints; no science here.

One module per command (``dftpost.cli.gap``, ...; ``inspect`` lives in ``inspection``, a name the
standard library does not use), except the trajectory commands (``dipole``, ``potential``,
``density``): each is made from its analysis's declaration by :func:`.trajectory.trajectory_command`
and registered with one line. The options they share, the Enums of their choices and the
analyses' defaults are in :mod:`.options`; everything printed in :mod:`.render`.
Building the command line imports typer, rich and these modules only: each command imports the
analysis stack (numpy, SciPy, ASE, h5py, matplotlib) when it runs. The ``dftpost`` script
(:func:`run`) builds only the command it is asked for (all of them for ``dftpost --help``);
``app`` is the whole command line, built on first use (for typer's test runner and for tools).

Exit codes: 0 success, 1 bad or missing input (a one-line message on stderr naming the file),
2 wrong usage (typer's own).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any

import typer

from dftpost import __version__


def _command(module: str, name: str) -> Callable[[], Callable[..., None]]:
    return lambda: getattr(importlib.import_module(module, __package__), name)


def _trajectory(module: str, name: str) -> Callable[[], Callable[..., None]]:
    def make() -> Callable[..., None]:
        from .trajectory import trajectory_command

        return trajectory_command(module, name)

    return make


#: Every command: its name and what makes its function (imported or built when the command is).
COMMANDS: dict[str, Callable[[], Callable[..., None]]] = {
    "inspect": _command(".inspection", "inspect"),
    "gap": _command(".gap", "gap"),
    "summary": _command(".summary", "summary"),
    "dipole": _trajectory("dftpost.analyses.dipole", "DipoleAnalysis"),
    "potential": _trajectory("dftpost.analyses.potential", "PotentialAnalysis"),
    "density": _trajectory("dftpost.analyses.density", "DensityAnalysis"),
    "field-profile": _command(".field_profile", "field_profile_command"),
    "fit-charge": _command(".fit_charge", "fit_charge_command"),
    "generate": _command(".generate", "generate"),
    "plot": _command(".plot", "plot_command"),
}


def _version(value: bool) -> None:
    if value:
        print(f"dftpost {__version__}")
        raise typer.Exit()


def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """dftpost: post-processing of FHI-aims and CP2K runs of water and water/metal interfaces."""


def make_app(names: Iterable[str] = COMMANDS) -> typer.Typer:
    """The command line with the commands ``names`` (all by default), in the order of
    :data:`COMMANDS`."""
    names = set(names)
    app = typer.Typer(
        name="dftpost",
        help="Water band edges, false metallization and field response from FHI-aims and CP2K outputs.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(main)
    for name, make in COMMANDS.items():
        if name in names:
            app.command(name)(make())
    return app


def run() -> None:
    """The ``dftpost`` script: when the first argument names a command, only that command is
    built (its options, help and errors are those of the whole command line); otherwise
    (``--help``, ``--version``, a name that is no command) all of them are."""
    first = sys.argv[1] if len(sys.argv) > 1 else None
    make_app([first] if first in COMMANDS else COMMANDS)()


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole command line, built once on first use
        app = globals()["app"] = make_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":  # pragma: no cover
    run()
