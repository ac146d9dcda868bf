"""Time correlations of a series: autocorrelation by FFT, correlation time, block averages.

For a series X_t of N frames with mean X̄ and variance σ² (METHODS §1, SM eq. S9):

    C(τ) = 1/((N−τ) σ²) Σ_{t=1}^{N−τ} (X_t − X̄)(X_{t+τ} − X̄)

computed in O(N log N) with a zero-padded FFT; it equals the direct sum to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft

from ..errors import DftpostError


def autocorrelation(series: np.ndarray) -> np.ndarray:
    """C(τ) for τ = 0 … N−1 (C(0) = 1), by FFT. A constant series gives an error."""
    x = np.asarray(series, dtype=float)
    n = x.size
    if n < 2:
        raise DftpostError(None, f"an autocorrelation needs at least 2 frames, got {n}")
    x = x - x.mean()
    variance = float(np.dot(x, x) / n)
    if variance == 0.0:
        raise DftpostError(None, "the series is constant: its autocorrelation is undefined")
    size = fft.next_fast_len(2 * n)
    spectrum = fft.rfft(x, size)
    raw = fft.irfft(spectrum * np.conj(spectrum), size)[:n]
    return raw / (np.arange(n, 0, -1) * variance)


def integrated_correlation_time(acf: np.ndarray) -> float:
    """τ_int = 1/2 + Σ_{τ≥1} C(τ), summed up to (not including) the first τ where C(τ) ≤ 0,
    in frames. (A choice: the sum of a noisy tail would only add noise.)"""
    acf = np.asarray(acf, dtype=float)
    stop = np.flatnonzero(acf[1:] <= 0.0)
    end = int(stop[0]) + 1 if stop.size else acf.size
    return 0.5 + float(acf[1:end].sum())


@dataclass(frozen=True)
class BlockAverage:
    """Standard error of the mean from blocking (Flyvbjerg & Petersen 1989).

    ``block_sizes`` (frames) double each level; ``sem`` is the standard error estimated at each
    level; ``sem_estimate`` is the largest estimate among levels with at least 16 blocks (the
    plateau when the series is long enough; a lower bound otherwise).
    """

    mean: float
    block_sizes: np.ndarray
    sem: np.ndarray
    sem_estimate: float


def block_average(series: np.ndarray, min_blocks: int = 16) -> BlockAverage:
    """Blocking analysis of a time series (frames in order)."""
    x = np.asarray(series, dtype=float)
    if x.size < 2:
        raise DftpostError(None, f"block averaging needs at least 2 frames, got {x.size}")
    sizes, sems = [], []
    block = x.copy()
    size = 1
    while block.size >= 2:
        sizes.append(size)
        sems.append(float(np.std(block, ddof=1) / np.sqrt(block.size)))
        n = block.size // 2 * 2
        block = 0.5 * (block[0:n:2] + block[1:n:2])
        size *= 2
    sizes_a, sems_a = np.array(sizes), np.array(sems)
    enough = (x.size // sizes_a) >= min_blocks
    estimate = float(sems_a[enough].max()) if enough.any() else float(sems_a[0])
    return BlockAverage(mean=float(x.mean()), block_sizes=sizes_a, sem=sems_a, sem_estimate=estimate)


def series_statistics(series: np.ndarray) -> tuple[np.ndarray, float, BlockAverage | None]:
    """Autocorrelation, integrated correlation time (frames) and blocking analysis of a per-frame
    series; a constant series has the ACF [1] and time 0, a single frame no blocking (None)."""
    series = np.asarray(series, dtype=float)
    if series.size > 1 and np.ptp(series) > 0:
        acf = autocorrelation(series)
        tau = integrated_correlation_time(acf)
    else:
        acf, tau = np.ones(1), 0.0
    return acf, tau, block_average(series) if series.size > 1 else None


def frame_time_ps(info: dict, number: int, timestep_ps: float | None) -> float:
    """The time of frame ``number`` (ps; NaN when unknown): ``timestep_ps`` × the frame number in
    the file when given, else the frame's own ``time_ps`` or ``time_fs`` (an ASE ``info`` key,
    e.g. an extxyz comment-line entry)."""
    if timestep_ps is not None:
        return number * timestep_ps
    for key, scale in (("time_ps", 1.0), ("time_fs", 1e-3)):
        if key in info:
            try:
                return float(info[key]) * scale
            except (TypeError, ValueError):
                return float("nan")
    return float("nan")


def frame_spacing_ps(times_ps: np.ndarray) -> float:
    """The time between consecutive analysed frames (ps, positive) when they are evenly spaced,
    else NaN. Frames read backwards (``--index ::-1``) are spaced by the same time: the
    autocorrelation of a series read backwards is that of the series, so a correlation time
    in frames times this spacing is the same as read forwards."""
    steps = np.diff(times_ps)
    if steps.size == 0 or not np.all(np.isfinite(steps)) or not np.allclose(steps, steps[0], rtol=1e-6, atol=1e-9) or steps[0] == 0:
        return float("nan")
    return abs(float(steps[0]))
