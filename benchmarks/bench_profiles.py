"""Planar average of a 300³ cube: time and peak memory (goal: the grid plus at most one copy).

    python benchmarks/bench_profiles.py

Uses the 300³ CP2K-layout cube that bench_cube.py writes (run that first). Reports the peak
memory of read + planar average over the bytes of the float64 grid, and of the planar average
alone over the grid already in memory, with the time of each (best of 3).
"""

from __future__ import annotations

import sys

import numpy as np
from _common import DATA, best_time, machine, peak_memory, write_json

from dftpost.analysis.profiles import macroscopic_average, planar_average, plane_spacing_A
from dftpost.io.cube import read_cube


def main() -> int:
    path = DATA / "random-ELECTRON_DENSITY-300.cube"
    if not path.exists():
        print(f"{path} is missing: run benchmarks/bench_cube.py first", file=sys.stderr)
        return 1
    grid = read_cube(path)
    nbytes = grid.values.nbytes

    def both():
        g = read_cube(path)
        return planar_average(g, 2)

    def average():
        z, profile = planar_average(grid, 2)
        return macroscopic_average(profile, plane_spacing_A(grid, 2), 3.0)

    t_both, _ = best_time(both, 3)
    t_avg, _ = best_time(average, 3)
    peak_both = peak_memory(both) / nbytes
    peak_avg = peak_memory(average) / nbytes
    z, profile = planar_average(grid, 2)
    assert np.allclose(profile, grid.values.mean(axis=(0, 1)))
    print(f"300³ cube ({nbytes / 1e6:.0f} MB as float64)")
    print(f"  read + planar average  {t_both:.2f} s, peak memory {peak_both:.2f}× the grid (goal ≤ 2)")
    print(f"  planar + macroscopic average of the grid in memory  {t_avg * 1e3:.0f} ms, extra memory {peak_avg:.3f}× the grid")
    write_json(
        "profiles.json",
        {
            "benchmark": "planar average of a 300³ cube",
            "machine": machine(["dftpost", "numpy", "scipy"]),
            "read_and_average_s": t_both,
            "read_and_average_peak_over_grid": peak_both,
            "average_only_s": t_avg,
            "average_only_peak_over_grid": peak_avg,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
