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
