"""``dftpost fit-charge``: the fixed oxygen charge q_O fitted to DFT dipoles."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from dftpost.errors import DftpostError

from .options import JSON, MAX_DIPOLE_E_PER_A, OUT, SCHEDULER, WORKERS, DipoleSource, number, plot_option, reflow, workers_or_all
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
    from dftpost.batch import CHARGE_FIT_SCHEMA, fit_charge
    from dftpost.parallel import stop_on_signals
    from dftpost.store import ResultStore

    source = source.value
    try:
        with stop_on_signals():
            result, row = fit_charge(
                paths, source, max_dipole, intercept, workers=workers_or_all(workers), scheduler=scheduler,
                include_substrate=include_substrate,
            )
        with ResultStore(out) as store:
            store.append(CHARGE_FIT_SCHEMA, [row])
        if plot is not None:
            from dftpost.plot import parity_figure

            parity_figure(row, plot)
    except KeyboardInterrupt as exc:
        interrupted(exc, "no fit stored; run the same command again")
    except DftpostError as exc:
        fail(exc)
    frames = json.loads(row["frames"])
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
    data = {
        "q_O_e": result.q_o_e,
        "q_O_stderr_e": result.q_o_stderr_e,
        "q_O_ci95_e": list(result.q_o_ci95_e),
        "intercept_e_per_A": result.intercept_e_per_A,
        "r2": result.r2,
        "rmse_e_per_A": result.rmse_e_per_A,
        "n_used": result.n_used,
        "n_rejected": result.n_rejected,
        "max_dipole_e_per_A": max_dipole,
        "source": source,
        "include_substrate": include_substrate,
        "interval_note": result.interval_note or None,
        "frames": frames,
        "out": str(out),
    }
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
