"""Figures from stored results (never from raw program files), headless (matplotlib Agg)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_REGION_COLOURS = {"vacuum_below": "#dde8f5", "vacuum_above": "#dde8f5", "water": "#d9f0d9", "metal": "#eeeeee"}


def field_response_figure(row: dict, path: str | Path) -> Path:
    """ΔV(z) and Δρ(z) of a field/no-field pair with the fitted regions shaded (paper Fig. 2b).

    ``row`` is a ``field_profile`` table row with its arrays (as :func:`dftpost.store.read_table`
    and :func:`dftpost.store.read_arrays` give it, or as :func:`dftpost.batch.field_profile`
    returns it). The format follows the file suffix (png, pdf, svg).
    """
    regions = json.loads(row["parameters"])["regions"]
    fig, (ax_v, ax_rho) = plt.subplots(2, 1, sharex=True, figsize=(6.0, 5.5), constrained_layout=True)
    for ax in (ax_v, ax_rho):
        for r in regions:
            ax.axvspan(r["low_A"], r["high_A"], color=_REGION_COLOURS.get(r["name"], "#f5f5f5"), lw=0)
    ax_v.plot(row["z"], row["delta_v"], color="C0", label="ΔV (planar)")
    ax_v.plot(row["z"], row["macroscopic_delta_v"], color="C1", ls="--", label="ΔV (macroscopic)")
    ax_v.set_ylabel("ΔV (V)")
    ax_v.set_title(
        f"E = {row['applied_field_V_per_A']:.3g} V/Å; water {row['field_water_V_per_A']:.3g} V/Å, "
        f"screening {row['screening']:.2f}",
        fontsize=9,
    )
    ax_v.legend(fontsize=8, loc="best")
    ax_rho.plot(row["z"], row["delta_rho"], color="C2")
    ax_rho.axhline(0.0, color="k", lw=0.5)
    ax_rho.set_ylabel("Δρ (e/Å³)")
    ax_rho.set_xlabel(f"{row['axis']} (Å)")
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def parity_figure(row: dict, path: str | Path) -> Path:
    """Fixed-charge against DFT dipole per area, one point per frame, the frames left out hollow
    (paper Fig. S1). ``row`` is a ``charge_fit`` table row with its arrays."""
    lever, dft, used = (np.asarray(row[k]) for k in ("lever", "dft_dipole", "used"))
    fitted = row["q_o_e"] * lever + row["intercept_e_per_A"]
    fig, ax = plt.subplots(figsize=(4.5, 4.5), constrained_layout=True)
    ok = np.isfinite(lever)
    ax.scatter(dft[ok & (used == 1)], fitted[ok & (used == 1)], color="C0", label="used")
    ax.scatter(dft[ok & (used == 0)], fitted[ok & (used == 0)], facecolors="none", edgecolors="C3", label="left out")
    span = np.nanmax(np.abs(np.concatenate([dft[ok], fitted[ok]]))) * 1.1
    ax.plot([-span, span], [-span, span], color="k", lw=0.8)
    ax.axvspan(-span, -row["max_dipole_e_per_A"], color="#f5dada", lw=0)
    ax.axvspan(row["max_dipole_e_per_A"], span, color="#f5dada", lw=0)
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_xlabel("DFT dipole per area (e/Å)")
    ax.set_ylabel("fixed-charge dipole per area (e/Å)")
    ax.set_title(f"q_O = {row['q_o_e']:.4f} ± {row['q_o_stderr_e']:.4f} e, R² = {row['r2']:.3f}", fontsize=9)
    ax.legend(fontsize=8)
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
