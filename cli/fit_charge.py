"""``dftpost fit-charge``: the fixed oxygen charge q_O fitted to DFT dipoles."""

from __future__ import annotations

from pathlib import Path

import typer

from dftpost.errors import DftpostError

from .options import (
    JSON,
    MAX_DIPOLE_E_PER_A,
    OUT,
    SCHEDULER,
    WORKERS,
    DipoleSource,
    number,
    plot_option,
    reflow,
    workers_or_all,
)
from .render import fail, interrupted, print_json, say, stdout


@reflow
def fit_charge_command(
    paths: list[Path] = typer.Argument(..., metavar="PATH", help="Run directories (or parents holding many) of water frames."),
    max_dipole: float = number(MAX_DIPOLE_E_PER_A, "--max-dipole", unit="e/Å", lo=0, hi=1, lo_open=True,
                               help="Leave out frames with |μ_DFT| at or above this."),
    source: DipoleSource = typer.Option(DipoleSource.auto, "--source", help="DFT dipole from the log, the density cube, or auto (the log if printed)."),
    intercept: bool = typer.Option(False, "--intercept", help="Fit μ_DFT = q_O·s + b instead of q_O·s."),
    include_substrate: bool = typer.Option(
        False, "--include-substrate", help="Let runs with a metal or oxide into the fit (their DFT dipole holds the substrate's own)."
    ),
    out: Path = OUT,
    as_json: bool = JSON,
    plot: Path = plot_option("the parity plot"),
    workers: int = WORKERS,
    scheduler: str = SCHEDULER,
) -> None:
    """Fit the fixed oxygen charge q_O to the DFT dipoles of water frames (METHODS §3).

    q_H = −q_O/2. Charges e, dipoles per area e/Å. Says which frames were left out and why. Exit
    status 1 when some run had no usable dipole (the fit uses the others), 2 for usage errors.
    """
    from dftpost.analyses import ChargeFit
    from dftpost.backends import backend_for, stop_on_signals
    from dftpost.store import ResultStore

    try:
        backend = backend_for(workers_or_all(workers), scheduler)  # a wrong scheduler fails before any work
        with stop_on_signals():
            analysis = ChargeFit(paths, source.value, max_dipole, intercept, include_substrate=include_substrate).run(backend)
        with ResultStore(out) as store:
            store.append(analysis.schema, analysis.to_rows())
        if plot is not None:
            from dftpost.plot import save_figure

            save_figure(analysis.plot(), plot)
    except KeyboardInterrupt as exc:
        interrupted(exc, "no fit stored; run the same command again")
    except DftpostError as exc:
        fail(exc)
    result = analysis.results.fit
    data = analysis.to_json(out=out)
    frames = data["frames"]
    failed = 0
    for frame in frames:
        for warning in frame.get("warnings", []):
            say("warning:", f"{frame['run']}: {warning}", "yellow")
        if "error" in frame:
            failed += 1
            say("failed:", frame["error"], "red")
        elif "rejected" in frame:
            say("left out:", f"{frame['run']}: {frame['rejected']}")
    if result.interval_note:
        say("warning:", result.interval_note, "yellow")
    if as_json:
        print_json(data)
    else:
        interval = (
            f"95 % bootstrap {result.q_o_ci95_e[0]:.4f} … {result.q_o_ci95_e[1]:.4f}" if not result.interval_note else "no interval"
        )
        stdout.print(
            f"q_O = {result.q_o_e:.4f} ± {result.q_o_stderr_e:.4f} e ({interval}), R² = {result.r2:.4f}, "
            f"RMSE = {result.rmse_e_per_A:.2e} e/Å → {out}", soft_wrap=True)
        few = (f": with so few frames the bootstrap interval is not meaningful (at least {_FEW_FRAMES} wanted)"
               if result.n_used < _FEW_FRAMES else "")
        stdout.print(f"{result.n_used} frame(s) used, {result.n_rejected} left out{few}", soft_wrap=True)
    raise typer.Exit(code=1 if failed else 0)


# fewer frames than this give a bootstrap of a handful of distinct resamples
_FEW_FRAMES = 5
