"""The fixed oxygen charge that reproduces DFT dipoles (METHODS §3, SM eq. S6).

The fixed-charge dipole per area of a frame is μ_fc = q_O · s with
s = Σ_i [z_O,i − ½ Σ_{j∈H(i)} z_j] / A (see :mod:`dftpost.analysis.dipole`). Given the DFT
dipole per area of each frame, q_O is fitted by least squares over the frames whose |μ_DFT| is
below a threshold (the DFT dipole saturates once the water metallizes). Dipoles per area in
e/Å, total dipoles in e·Å, charges in e.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import defaults
from ..errors import DftpostError
from ..grid import Grid
from ..units import EPSILON0_E_PER_V_A
from .geometry import area_normal_to, widest_gap
from .profiles import planar_average, plane_spacing_A

#: Default |μ_DFT| at or above which a frame is left out of the fit, e/Å (:mod:`dftpost.defaults`).
DEFAULT_MAX_DIPOLE = defaults.MAX_DIPOLE_E_PER_A
#: Fewest frames a confidence interval of q_O is given from (resampling 2 frames gives 3 values).
MIN_FRAMES_FOR_INTERVAL = 3


def density_dipole(density: Grid, core_charges_e: np.ndarray, axis: int = 2) -> float:
    """Dipole of the cell along ``axis`` (e·Å): Σ_i Z_i x_i − ∫ ρ x dV.

    ``density`` is the electron density (e/Å³, electrons positive) with the atoms of the frame;
    ``core_charges_e`` the charge of each atom's core (CP2K's Z(eff) for pseudopotentials, the
    nuclear charge for all-electron codes). The electrons are scaled to the cores' total charge
    (the grid integration misses a few 1e-4 of them, which would otherwise enter as a charge times
    the distance to the origin). Heights are measured from the middle of the widest empty gap
    along ``axis`` so that a slab is whole; the cell must be orthogonal to ``axis``.
    """
    values = density.values
    if len(core_charges_e) != len(density.atoms):
        raise DftpostError(density.source, f"{len(core_charges_e)} core charges for {len(density.atoms)} atoms")
    n = values.shape[axis]
    spacing = float(np.linalg.norm(density.voxel_A[axis]))
    length = spacing * n
    heights = density.atoms.positions[:, axis]
    start, width = widest_gap(heights - density.origin_A[axis], length)
    reference = density.origin_A[axis] + start + 0.5 * width
    others = tuple(i for i in range(3) if i != axis)
    line = values.sum(axis=others) * density.voxel_volume_A3  # electrons per plane
    # a (strided) grid misses a few 1e-4 of the electrons; that monopole would multiply the
    # distance to the origin, so scale the electrons to the cores' charge (a neutral cell)
    line *= float(np.sum(core_charges_e)) / line.sum()
    grid_z = np.mod(density.origin_A[axis] + spacing * np.arange(n) - reference, length)
    atoms_z = np.mod(heights - reference, length)
    return float(np.dot(core_charges_e, atoms_z) - np.dot(line, grid_z))


#: Distance (Å) from the atoms, and from the dipole-correction jump, within which the vacuum
#: potential is not taken as a plateau (a choice: the density tails off within ~3 Å of water).
VACUUM_MARGIN_A = 3.0
JUMP_MARGIN_A = 1.0


def potential_step_dipole(potential: Grid, axis: int = 2) -> tuple[float, float]:
    """The cell's dipole along ``axis`` (e·Å) from the vacuum step of a dipole-corrected potential.

    ``potential`` is the physical electrostatic potential (V) with the atoms of the frame. In the
    widest empty gap between the atoms (periodic along ``axis``) the dipole correction jumps where
    the planar average changes most between neighbouring planes; the mean potential on either
    side of that jump, more than :data:`VACUUM_MARGIN_A` from the atoms and :data:`JUMP_MARGIN_A`
    from the jump, is the vacuum level above the slab (φ_above) and below it (φ_below). A dipole
    sheet μ/A raises φ by μ/(ε0 A) from its negative to its positive side, so
    μ = ε0 A (φ_above − φ_below) (METHODS §3). Returns (μ in e·Å, φ_above − φ_below in V).
    Raises :class:`~dftpost.errors.DftpostError` when the vacuum is too thin for two plateaus.
    """
    z, phi = planar_average(potential, axis)
    spacing = plane_spacing_A(potential, axis)
    length = spacing * z.size
    top, width = widest_gap(potential.atoms.positions[:, axis] - z[0], length)
    along = np.mod(np.arange(z.size) * spacing - top, length)  # height of each plane above the slab top
    inside = np.flatnonzero((along > VACUUM_MARGIN_A) & (along < width - VACUUM_MARGIN_A))
    if inside.size < 3:
        raise DftpostError(potential.source, f"the vacuum ({width:.2f} Å) is too thin to read a potential step")
    ordered = inside[np.argsort(along[inside])]
    jump = int(np.argmax(np.abs(np.diff(phi[ordered]))))
    jump_at = 0.5 * (along[ordered[jump]] + along[ordered[jump + 1]])
    above = ordered[along[ordered] < jump_at - JUMP_MARGIN_A]
    below = ordered[along[ordered] > jump_at + JUMP_MARGIN_A]
    if above.size == 0 or below.size == 0:
        raise DftpostError(
            potential.source, "the dipole-correction jump lies too close to the atoms: no vacuum plateau on one side"
        )
    step = float(phi[above].mean() - phi[below].mean())
    area = area_normal_to(potential.atoms.cell[:], axis)
    return EPSILON0_E_PER_V_A * area * step, step


def gradient_dipole(volume_A3: float, gradient_eV_per_A: float) -> float:
    """The dipole (e·Å) of an FHI-aims dipole correction from the potential gradient it prints:
    μ = ε0 Ω g, with Ω the cell volume (Å³) and g the gradient (eV/Å = V/Å for one electron).
    The sign is as printed: not verified on a real dipole-corrected run."""
    return EPSILON0_E_PER_V_A * volume_A3 * gradient_eV_per_A


@dataclass(frozen=True)
class DftDipole:
    """The DFT dipole of a run (e·Å) and where it came from: ``source`` is "log",
    "potential_step" (the vacuum step of a dipole-corrected potential cube) or "cube" (the
    integral of the density cube); each candidate (None where there is none), the relative
    difference of the log and the better cube dipole (None without both) and warnings."""

    dipole_e_A: float
    source: str
    log_e_A: float | None
    potential_step_e_A: float | None
    cube_e_A: float | None
    cube_vs_log_relative: float | None
    warnings: tuple[str, ...]


def choose_dft_dipole(source: str, log_e_A: float | None, potential_step_e_A: float | None, cube_e_A: float | None,
                      density_stride: tuple[int, ...] | None = None, warnings: tuple[str, ...] = (),
                      where: str | Path | None = None) -> DftDipole:
    """The DFT dipole (e·Å) of a run from its candidates: ``source`` "log" (the log's, an error
    without it), "cube" (the potential step where there is one, else the density integral) or
    "auto" (the log when it prints one, else as "cube"). A strided density cube as the source
    (its dipole can be several % off) and log and cube dipoles more than 2 % apart are warned
    about; ``where`` names the run in errors."""
    if source not in ("auto", "log", "cube"):
        raise DftpostError(None, f"source must be log, cube or auto, not {source!r}")
    notes = list(warnings)
    if source == "log" or (source == "auto" and log_e_A is not None):
        if log_e_A is None:
            raise DftpostError(where, "the log prints no dipole (no dipole correction?)")
        dipole, chosen = log_e_A, "log"
    elif potential_step_e_A is not None:
        dipole, chosen = potential_step_e_A, "potential_step"
    else:
        if cube_e_A is None:
            raise DftpostError(where, "no dipole: neither printed in the log nor a cube (dipole-corrected potential, "
                                      "or density with core charges)")
        dipole, chosen = cube_e_A, "cube"
        if density_stride and max(density_stride) > 1:
            notes.append(f"the density cube is strided ({'x'.join(map(str, density_stride))}): its dipole can be several % off")
    cube, which = (potential_step_e_A, "potential-step") if potential_step_e_A is not None else (cube_e_A, "cube")
    difference = None
    if log_e_A is not None and cube is not None:  # the log against the better cube dipole
        difference = abs(cube - log_e_A) / max(abs(log_e_A), 1e-12)
        if difference > 0.02:
            notes.append(f"log and {which} dipoles differ by {100 * difference:.1f} %")
    return DftDipole(dipole, chosen, log_e_A, potential_step_e_A, cube_e_A, difference, tuple(notes))


@dataclass(frozen=True, eq=False)
class ChargeFit:
    """Least-squares q_O (e) with its standard error and a bootstrap 95 % interval; R² and RMSE
    (e/Å) over the frames used; ``used`` marks the frames in the fit. With fewer than
    :data:`MIN_FRAMES_FOR_INTERVAL` frames the interval is NaN and ``interval_note`` says why."""

    q_o_e: float
    q_o_stderr_e: float
    q_o_ci95_e: tuple[float, float]
    intercept_e_per_A: float
    r2: float
    rmse_e_per_A: float
    used: np.ndarray
    max_dipole_e_per_A: float
    interval_note: str = ""

    @property
    def n_used(self) -> int:
        return int(self.used.sum())

    @property
    def n_rejected(self) -> int:
        return int((~self.used).sum())


def fit_oxygen_charge(
    lever_per_A: np.ndarray,
    dft_dipole_e_per_A: np.ndarray,
    max_dipole_e_per_A: float = DEFAULT_MAX_DIPOLE,
    keep: np.ndarray | None = None,
    intercept: bool = False,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> ChargeFit:
    """Fit μ_DFT = q_O · s (+ b with ``intercept``) over frames with |μ_DFT| < the threshold.

    ``keep`` (optional bool per frame) removes other frames too (dissociated water). R² is
    1 − SS_res/SS_tot with SS_tot about the mean of μ_DFT in both cases. The standard error is
    the least-squares one; the interval comes from resampling the frames used.
    """
    s = np.asarray(lever_per_A, dtype=float)
    mu = np.asarray(dft_dipole_e_per_A, dtype=float)
    below = np.abs(mu) < max_dipole_e_per_A
    kept = np.ones(s.shape, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    used = below & kept
    n = int(used.sum())
    if n < (3 if intercept else 2):
        raise DftpostError(
            None,
            f"only {n} frame(s) can enter the fit ({int((~below).sum())} with |μ_DFT| ≥ {max_dipole_e_per_A} e/Å, "
            f"{int((below & ~kept).sum())} left out for other reasons): too few to fit q_O",
        )
    x, y = s[used], mu[used]

    def solve(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
        if intercept:
            slope, b = np.polyfit(xs, ys, 1)
            return float(slope), float(b)
        return float(np.dot(xs, ys) / np.dot(xs, xs)), 0.0

    if np.dot(x, x) == 0 or (intercept and np.ptp(x) == 0):
        raise DftpostError(None, "the frames used all have the same fixed-charge lever s: q_O is undetermined")
    q, b = solve(x, y)
    residual = y - (q * x + b)
    dof = max(n - (2 if intercept else 1), 1)
    sxx = np.sum((x - x.mean()) ** 2) if intercept else np.dot(x, x)
    stderr = float(np.sqrt(np.sum(residual**2) / dof / sxx))
    ss_tot = np.sum((y - y.mean()) ** 2)
    r2 = float(1 - np.sum(residual**2) / ss_tot) if ss_tot > 0 else float("nan")
    rng = np.random.default_rng(seed)
    samples = []
    note = ""
    if n < MIN_FRAMES_FOR_INTERVAL:
        note = f"no confidence interval from {n} frames (at least {MIN_FRAMES_FOR_INTERVAL} are needed)"
        n_bootstrap = 0
    for _ in range(n_bootstrap):
        pick = rng.integers(0, n, n)
        if np.ptp(x[pick]) > 0 or (not intercept and np.dot(x[pick], x[pick]) > 0):
            samples.append(solve(x[pick], y[pick])[0])
    low, high = np.percentile(samples, [2.5, 97.5]) if samples else (float("nan"), float("nan"))
    return ChargeFit(
        q_o_e=q,
        q_o_stderr_e=stderr,
        q_o_ci95_e=(float(low), float(high)),
        intercept_e_per_A=b,
        r2=r2,
        rmse_e_per_A=float(np.sqrt(np.mean(residual**2))),
        used=used,
        max_dipole_e_per_A=max_dipole_e_per_A,
        interval_note=note,
    )
