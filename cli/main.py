"""``dftpost``: the command line. Parses arguments, calls the API, prints; no science here.

One module per command (``dftpost.cli.gap``, ...; ``inspect`` lives in ``inspection``, a name the
standard library does not use), except the trajectory commands (``dipole``, ``potential``,
``density``): each is made from its analysis's declaration by :func:`.trajectory.trajectory_command`
and registered with one line. The options they share, the Enums of their choices and the
analyses' defaults are in :mod:`.options`; everything printed in :mod:`.render`.
Building the command line imports typer, rich and these modules only: each command imports the
analysis stack (numpy, SciPy, ASE, h5py, matplotlib) when it runs.

Exit codes: 0 success, 1 bad or missing input (a one-line message on stderr naming the file),
2 wrong usage (typer's own).
"""

from __future__ import annotations

import typer

from dftpost import __version__

from .field_profile import field_profile_command
from .fit_charge import fit_charge_command
from .gap import gap
from .generate import generate
from .inspection import inspect
from .plot import plot_command
from .summary import summary
from .trajectory import trajectory_command

app = typer.Typer(
    name="dftpost",
    help="Water band edges, false metallization and field response from FHI-aims and CP2K outputs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"dftpost {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """dftpost: post-processing of FHI-aims and CP2K runs of water and water/metal interfaces."""


for name, command in {
    "inspect": inspect,
    "gap": gap,
    "summary": summary,
    "dipole": trajectory_command("dftpost.analyses.dipole", "DipoleAnalysis"),
    "potential": trajectory_command("dftpost.analyses.potential", "PotentialAnalysis"),
    "density": trajectory_command("dftpost.analyses.density", "DensityAnalysis"),
    "field-profile": field_profile_command,
    "fit-charge": fit_charge_command,
    "generate": generate,
    "plot": plot_command,
}.items():
    app.command(name)(command)


if __name__ == "__main__":  # pragma: no cover
    app()
