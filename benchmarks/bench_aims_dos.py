"""FHI-aims per-atom DoS files: is dftpost's fixed-width decoder worth its lines?

    python benchmarks/bench_aims_dos.py            # ~1 min
    python benchmarks/bench_aims_dos.py --repeats 5

Inputs: 500 ``atom_proj_dos_<species><index>.dat`` files (1001 energies, total and l = 0..3
columns, ``F18.8``), written once into benchmarks/data/aims_dos_500/ (git-ignored) with the
fixture writer fixtures/aims/aims_format.py, which reproduces FHI-aims' files byte for byte.

Two groups of contenders, each timed in turns (A, B, C, A, ...) the same number of times, page
cache warm:

- the reader: dftpost ``read_dos_files`` on the 500 files (decoder on), the same with the
  decoder switched off (every table through ``numpy.loadtxt``), and the loops a user would
  write: ``pandas.read_csv(path, sep=r"\\s+", comment="#", header=None)`` and
  ``pandas.read_fwf(path, widths=[18] * 6, comment="#", header=None)`` per file, then
  ``np.stack``;
- the table parsers alone, on the data lines of the 500 files held in memory:
  ``fixed_decimal_table``, ``numpy.loadtxt``, pandas ``read_csv`` (C parser) and ``read_fwf``.

Agreement check: energies, total and l columns identical between dftpost and pandas. Results in
benchmarks/results/aims_dos.json.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import uuid as uuidlib
from pathlib import Path

import numpy as np
import pandas as pd
from _common import DATA, HERE, interleaved, machine, print_table, write_json

from dftpost.io import text
from dftpost.io.aims import read_dos_files
from dftpost.io.text import fixed_decimal_table

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
        for channel in range(N_L):
            weight = (0.6, 1.0, 0.5, 0.05)[channel] * rng.uniform(0.5, 1.5)
            for _ in range(rng.integers(3, 8)):
                centre = rng.uniform(-22.0, 8.0)
                width = rng.uniform(0.3, 2.5)
                cols[channel] += weight * rng.uniform(0.2, 1.0) * np.exp(-0.5 * ((energies - centre) / width) ** 2)
            cols[channel] += 1e-3 * weight * rng.random(N_POINTS)
        text = dos_text(energies, cols, species_of(i), MU_EV, str(uuidlib.UUID(int=int(rng.integers(2**62)))).upper())
        path.write_text(text)
    print(f"generated {N_ATOMS} files in {FOLDER} in {time.perf_counter() - t0:.1f} s")
    return names


def pandas_baseline(paths: list[Path]) -> np.ndarray:
    tables = [pd.read_csv(p, sep=r"\s+", comment="#", header=None).to_numpy() for p in paths]
    return np.stack(tables)


def pandas_fwf(paths: list[Path]) -> np.ndarray:
    tables = [pd.read_fwf(p, widths=[18] * (2 + N_L), comment="#", header=None).to_numpy() for p in paths]
    return np.stack(tables)


def read_without_decoder(paths: list[Path]):
    """``read_dos_files`` with every table through numpy.loadtxt (the decoder's size threshold
    set beyond any file)."""
    saved = text._DECODER_MIN_BYTES
    text._DECODER_MIN_BYTES = 1 << 62
    try:
        return read_dos_files(paths)
    finally:
        text._DECODER_MIN_BYTES = saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    paths = make_files()
    total_bytes = sum(p.stat().st_size for p in paths)
    bodies = []
    for p in paths:  # warm the page cache; the data lines for the parsers alone
        blob = p.read_bytes()
        bodies.append(blob[blob.index(b"\n", blob.rindex(b"# ")) + 1 :])
    print(f"{len(paths)} files, {N_POINTS} points, {N_L} l-columns, {total_bytes / 1e6:.1f} MB")

    dos = read_dos_files(paths)
    table = pandas_baseline(paths)
    ok_shape = dos.values.shape == (1, N_ATOMS, N_POINTS) and dos.orbital_values.shape == (1, N_ATOMS, N_L, N_POINTS)
    diffs = {
        "energies": float(np.abs(table[:, :, 0] - dos.energies_eV[None, :]).max()),
        "total": float(np.abs(table[:, :, 1] - dos.values[0]).max()),
        "l_columns": float(np.abs(table[:, :, 2:] - dos.orbital_values[0].transpose(0, 2, 1)).max()),
    }
    agree = ok_shape and all(v == 0.0 for v in diffs.values()) and np.array_equal(pandas_fwf(paths), table)
    agree = agree and np.array_equal(read_without_decoder(paths).values, dos.values)
    print(f"agreement: shapes {'ok' if ok_shape else 'DIFFER'}, max |difference| {diffs}, identical: {agree}")
    del dos, table

    readers = interleaved({
        "dftpost read_dos_files": lambda: read_dos_files(paths),
        "dftpost read_dos_files, decoder off (numpy.loadtxt)": lambda: read_without_decoder(paths),
        "pandas read_csv loop + stack": lambda: pandas_baseline(paths),
        "pandas read_fwf loop + stack": lambda: pandas_fwf(paths),
    }, args.repeats, reference="dftpost read_dos_files")
    print_table("FHI-aims per-atom DoS, 500 files (s per 500 files, ratios to dftpost)", readers)
    parsers = interleaved({
        "fixed_decimal_table": lambda: [fixed_decimal_table(b) for b in bodies],
        "numpy.loadtxt": lambda: [np.loadtxt(io.BytesIO(b)) for b in bodies],
        "pandas read_csv (C parser)": lambda: [pd.read_csv(io.BytesIO(b), sep=r"\s+", header=None).to_numpy() for b in bodies],
        "pandas read_fwf": lambda: [pd.read_fwf(io.BytesIO(b), widths=[18] * (2 + N_L), header=None).to_numpy() for b in bodies],
    }, args.repeats, reference="fixed_decimal_table")
    print_table("the table parsers alone, 500 tables in memory (s per 500 tables, ratios to the decoder)", parsers)
    payload = {
        "benchmark": "FHI-aims atom_proj_dos files: dftpost's fixed-width decoder against numpy.loadtxt and pandas",
        "machine": machine(["dftpost", "numpy", "pandas"]),
        "n_files": N_ATOMS,
        "n_points": N_POINTS,
        "n_columns": 2 + N_L,
        "total_bytes": total_bytes,
        "method": "interleaved turns, warm page cache",
        "agreement": {"shapes_ok": ok_shape, "max_abs_difference": diffs, "identical": agree},
        "readers": readers,
        "parsers": parsers,
    }
    print(f"\nwrote {write_json('aims_dos.json', payload)}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
