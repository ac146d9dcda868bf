"""FHI-aims per-atom DoS files: dftpost.io.aims.read_dos_files against a pandas loop.

    python benchmarks/bench_aims_dos.py

Inputs: 500 ``atom_proj_dos_<species><index>.dat`` files (1001 energies, total and l = 0..3
columns), written once into benchmarks/data/aims_dos_500/ (git-ignored) with the fixture writer
fixtures/aims/aims_format.py, which reproduces FHI-aims' files byte for byte. The baseline does
the natural thing: ``pandas.read_csv(path, sep=r"\\s+", comment="#", header=None)`` per file,
then stacks the tables into one (n_atoms, n_points, n_columns) array. Best of 3 each, warm page
cache. Results go to benchmarks/results/aims_dos.json.
"""

from __future__ import annotations

import sys
import time
import uuid as uuidlib
from pathlib import Path

import numpy as np
import pandas as pd

from _common import DATA, HERE, best_time, machine, write_json

from dftpost.io.aims import read_dos_files

sys.path.insert(0, str(HERE.parent / "fixtures" / "aims"))
from aims_format import dos_text  # noqa: E402

N_ATOMS, N_POINTS, N_L = 500, 1001, 4
MU_EV = -5.019886
FOLDER = DATA / f"aims_dos_{N_ATOMS}"


def species_of(i: int) -> str:
    """Atoms 1-200 Si, 201-400 O, 401-500 Ti (a made-up oxide interface)."""
    return "Si" if i < 200 else "O" if i < 400 else "Ti"


def make_files() -> list[Path]:
    names = [FOLDER / f"atom_proj_dos_{species_of(i)}{i + 1:04d}.dat" for i in range(N_ATOMS)]
    if all(p.exists() for p in names):
        return names
    FOLDER.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    energies = np.linspace(-25.0, 10.0, N_POINTS)  # eV, relative to μ
    t0 = time.perf_counter()
    for i, path in enumerate(names):
        # each l channel: a few Gaussian-broadened bands + small noise, positive, states/eV
        cols = np.zeros((N_L, N_POINTS))
        for l in range(N_L):
            weight = (0.6, 1.0, 0.5, 0.05)[l] * rng.uniform(0.5, 1.5)
            for _ in range(rng.integers(3, 8)):
                centre = rng.uniform(-22.0, 8.0)
                width = rng.uniform(0.3, 2.5)
                cols[l] += weight * rng.uniform(0.2, 1.0) * np.exp(-0.5 * ((energies - centre) / width) ** 2)
            cols[l] += 1e-3 * weight * rng.random(N_POINTS)
        text = dos_text(energies, cols, species_of(i), MU_EV, str(uuidlib.UUID(int=int(rng.integers(2**62)))).upper())
        path.write_text(text)
    print(f"generated {N_ATOMS} files in {FOLDER} in {time.perf_counter() - t0:.1f} s")
    return names


def pandas_baseline(paths: list[Path]) -> np.ndarray:
    tables = [pd.read_csv(p, sep=r"\s+", comment="#", header=None).to_numpy() for p in paths]
    return np.stack(tables)


def main() -> int:
    paths = make_files()
    total_bytes = sum(p.stat().st_size for p in paths)
    for p in paths:  # warm the page cache
        p.read_bytes()
    print(f"{len(paths)} files, {N_POINTS} points, {N_L} l-columns, {total_bytes / 1e6:.1f} MB")

    dos = read_dos_files(paths)
    table = pandas_baseline(paths)
    # check: same numbers (the files are in atom order, as read_dos_files orders them)
    ok_shape = dos.values.shape == (1, N_ATOMS, N_POINTS) and dos.orbital_values.shape == (1, N_ATOMS, N_L, N_POINTS)
    diffs = {
        "energies": float(np.abs(table[:, :, 0] - dos.energies_eV[None, :]).max()),
        "total": float(np.abs(table[:, :, 1] - dos.values[0]).max()),
        "l_columns": float(np.abs(table[:, :, 2:] - dos.orbital_values[0].transpose(0, 2, 1)).max()),
    }
    agree = ok_shape and all(v == 0.0 for v in diffs.values())
    print(f"agreement: shapes {'ok' if ok_shape else 'DIFFER'}, max |difference| {diffs}, "
          f"labels {dos.labels[0]}..{dos.labels[-1]}, orbitals {dos.orbitals}")
    del dos, table

    t_dftpost, runs_dftpost = best_time(lambda: read_dos_files(paths), 3)
    t_pandas, runs_pandas = best_time(lambda: pandas_baseline(paths), 3)
    ratio = t_pandas / t_dftpost
    print("\nFHI-aims per-atom DoS, 500 files: seconds (best of 3)")
    print(f"  dftpost read_dos_files  {t_dftpost:.3f}  runs {[round(t, 3) for t in runs_dftpost]}")
    print(f"  pandas read_csv + stack {t_pandas:.3f}  runs {[round(t, 3) for t in runs_pandas]}")
    print(f"  speed-up pandas/dftpost {ratio:.2f}×   ({t_dftpost / len(paths) * 1e3:.2f} ms per file for dftpost)")
    payload = {
        "benchmark": "FHI-aims atom_proj_dos files: read_dos_files vs pandas.read_csv loop + np.stack",
        "machine": machine(["dftpost", "numpy", "pandas"]),
        "n_files": N_ATOMS,
        "n_points": N_POINTS,
        "n_columns": 2 + N_L,
        "total_bytes": total_bytes,
        "method": "best of 3, warm page cache",
        "agreement": {"shapes_ok": ok_shape, "max_abs_difference": diffs, "identical": agree},
        "seconds": {"dftpost": t_dftpost, "pandas": t_pandas},
        "runs": {"dftpost": runs_dftpost, "pandas": runs_pandas},
        "speedup_vs_pandas": ratio,
    }
    print(f"\nwrote {write_json('aims_dos.json', payload)}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
