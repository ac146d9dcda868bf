"""Cube reading: dftpost.io.cube.read_cube against ASE and pymatgen.

    python benchmarks/bench_cube.py            # 200³ and 300³
    python benchmarks/bench_cube.py --sizes 100 --no-memory

Inputs are CP2K-layout cubes (E13.5, six values a line, each z-column on new lines) of random
values spanning ten decades, written once with dftpost's write_cube into benchmarks/data/
(git-ignored) and reused. Each file is read once before timing, so every reader sees a warm
page cache. Times: the readers in turns (A, B, C, A, ...), --repeats each; min and median, ratios
of the medians. Peak memory: one fresh process per reader reads the cube once; the kernel's
high-water mark of its resident memory (VmHWM) minus its resident memory before the read,
divided by the bytes of the result array. Results go to benchmarks/results/cube.json.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

import ase
import numpy as np
from _common import DATA, interleaved, machine, peak_rss, write_json
from _common import print_table as print_interleaved
from ase.io.cube import read_cube_data
from ase.units import Bohr

from dftpost.grid import Grid
from dftpost.io.cube import read_cube, read_cube_header, write_cube

try:
    from pymatgen.io.common import VolumetricData
except ImportError as exc:  # reported, not fatal
    VolumetricData = None
    PYMATGEN_MISSING = f"{type(exc).__name__}: {exc}"
else:
    PYMATGEN_MISSING = None

GOALS = {"speedup_vs_ase": 6.0, "speedup_vs_pymatgen": 3.0, "peak_memory_over_array": 1.3}
#: per reader: the imports of its process and the one call whose peak resident memory is taken
MEMORY_CALLS = {
    "dftpost": ("from dftpost.io.cube import read_cube", "read_cube(PATH).values"),
    "ase": ("from ase.io.cube import read_cube_data", "read_cube_data(PATH)[0]"),
    "pymatgen": ("from pymatgen.io.common import VolumetricData", "VolumetricData.from_cube(PATH).data['total']"),
}


def cube_path(n: int):
    return DATA / f"random-ELECTRON_DENSITY-{n}.cube"


def make_cube(n: int):
    """The n³ test cube, generated once (values (U-0.5)·10^k, k in -8..1, in e/Å³)."""
    path = cube_path(n)
    if path.exists():
        try:
            if read_cube_header(path).shape == (n, n, n):
                return path
        except Exception:
            pass
    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1000 + n)
    values = rng.random((n, n, n)) - 0.5
    values *= 10.0 ** rng.integers(-8, 2, size=(n, n, n))
    grid = Grid(
        values=values,
        origin_A=np.zeros(3),
        voxel_A=np.eye(3) * 0.1,
        atoms=ase.Atoms("H2O", positions=[[0, 0, 0], [1, 0, 0], [0, 1, 0]]),
        quantity="electron_density",
        units="e/Å^3",
    )
    tmp = path.with_suffix(".tmp")
    t0 = time.perf_counter()
    write_cube(tmp, grid, program="cp2k")
    os.replace(tmp, path)
    print(f"  generated {path.name} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
    return path


def readers(path):
    out = {
        "dftpost": lambda: read_cube(path).values,
        "ase": lambda: read_cube_data(str(path))[0],
    }
    if VolumetricData is not None:
        out["pymatgen"] = lambda: VolumetricData.from_cube(str(path)).data["total"]
    return out


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.maximum(np.abs(a), np.abs(b))
    diff = np.abs(a - b)
    nz = scale > 0
    return float((diff[nz] / scale[nz]).max()) if nz.any() else 0.0


def bench_size(n: int, args) -> dict:
    path = make_cube(n)
    size = path.stat().st_size
    print(f"\n{n}³ = {n**3:,} values, {size / 1e6:.0f} MB: {path}")
    with open(path, "rb") as f:  # warm the page cache for every reader alike
        while f.read(1 << 24):
            pass
    fns = readers(path)
    entry: dict = {"n": n, "n_values": n**3, "file_bytes": size, "array_bytes": n**3 * 8, "readers": {}}

    for name, fn in list(fns.items()):  # one call each first: a peer that fails is reported, not timed
        try:
            fn()
        except Exception as exc:  # a peer that fails is reported, not timed
            if name == "dftpost":
                raise
            entry[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
            print(f"  {name} failed: {entry[f'{name}_error']}")
            del fns[name]
    timing = interleaved(fns, args.repeats, reference="dftpost")
    print_interleaved(f"{n}³ (s per read, ratios to dftpost)", timing)
    entry["load_1min_before"], entry["load_1min_after"] = timing["load_1min_before"], timing["load_1min_after"]
    for name, row in timing["contenders"].items():
        rec = {"seconds": row["min_s"], "median_s": row["median_s"], "runs": row["times_s"]}
        if not args.no_memory:
            setup, call = MEMORY_CALLS[name]
            rss = peak_rss(f"{setup}; PATH = {str(path)!r}", call)
            rec.update(rss)
            rec["peak_over_array"] = rss["added_bytes"] / entry["array_bytes"]
            print(f"  {name:9s} peak RSS added {rss['added_bytes'] / 1e6:7.0f} MB = {rec['peak_over_array']:.2f}× the array")
        entry["readers"][name] = rec

    # agreement, after the timing (so the timed calls run in a clean process heap)
    ref = fns["dftpost"]()
    agreement = {}
    a = fns["ase"]()
    expected = a / Bohr**3  # ASE keeps the file's e/Bohr³; dftpost gives e/Å³
    del a
    agreement["dftpost_vs_ase_over_bohr3"] = max_rel_diff(ref, expected)
    agreement["dftpost_ase_allclose_rtol_1e-14"] = bool(np.allclose(ref, expected, rtol=1e-14, atol=0))
    del expected
    if "pymatgen" in entry["readers"]:
        p = fns["pymatgen"]() / Bohr**3
        agreement["dftpost_vs_pymatgen_over_bohr3"] = max_rel_diff(ref, p)
        agreement["dftpost_pymatgen_allclose_rtol_1e-14"] = bool(np.allclose(ref, p, rtol=1e-14, atol=0))
        del p
    del ref
    gc.collect()
    entry["agreement"] = agreement
    print("  agreement:", agreement)

    d = entry["readers"]["dftpost"]["median_s"]
    entry["speedup_vs_ase"] = entry["readers"]["ase"]["median_s"] / d
    if "pymatgen" in entry["readers"]:
        entry["speedup_vs_pymatgen"] = entry["readers"]["pymatgen"]["median_s"] / d
    entry["dftpost_MB_per_s"] = size / d / 1e6
    return entry


def print_table(entries: list[dict]) -> None:
    print("\nCube read, seconds (min of the turns); ratios = peer median / dftpost median; memory = peak RSS "
          "added by the read / array bytes")
    head = f"{'size':>5} {'dftpost s':>10} {'ase s':>8} {'pymatgen s':>11} {'×ASE':>6} {'×pmg':>6}  mem dftpost / ase / pymatgen"
    print(head)
    for e in entries:
        r = e["readers"]
        pm = r.get("pymatgen", {})
        mem = " / ".join(
            f"{r[k]['peak_over_array']:.2f}" if k in r and "peak_over_array" in r[k] else "-"
            for k in ("dftpost", "ase", "pymatgen")
        )
        print(
            f"{e['n']:>4}³ {r['dftpost']['seconds']:>10.3f} {r['ase']['seconds']:>8.2f} "
            f"{pm.get('seconds', float('nan')):>11.2f} {e['speedup_vs_ase']:>6.1f} "
            f"{e.get('speedup_vs_pymatgen', float('nan')):>6.1f}  {mem}"
        )
    print(
        f"Goals: ≥{GOALS['speedup_vs_ase']:g}× ASE, ≥{GOALS['speedup_vs_pymatgen']:g}× pymatgen, "
        f"dftpost peak memory ≤{GOALS['peak_memory_over_array']:g}× the array"
    )
    for e in entries:
        r = e["readers"]["dftpost"]
        verdict = [
            f"×ASE {'met' if e['speedup_vs_ase'] >= GOALS['speedup_vs_ase'] else 'MISSED'}",
        ]
        if "speedup_vs_pymatgen" in e:
            verdict.append(f"×pymatgen {'met' if e['speedup_vs_pymatgen'] >= GOALS['speedup_vs_pymatgen'] else 'MISSED'}")
        if "peak_over_array" in r:
            verdict.append(f"memory {'met' if r['peak_over_array'] <= GOALS['peak_memory_over_array'] else 'MISSED'}")
        print(f"  {e['n']}³: " + ", ".join(verdict))
    if PYMATGEN_MISSING:
        print(f"pymatgen skipped: {PYMATGEN_MISSING}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 300])
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--repeats", type=int, default=3, help="turns of the interleaved timing")
    parser.add_argument("--out", default="cube.json")
    args = parser.parse_args()
    if PYMATGEN_MISSING:
        print(f"pymatgen not available, skipped: {PYMATGEN_MISSING}")
    entries = [bench_size(n, args) for n in args.sizes]
    print_table(entries)
    payload = {
        "benchmark": "cube read (CP2K layout, random values over ten decades)",
        "machine": machine(["dftpost", "numpy", "ase", "pymatgen"]),
        "goals": GOALS,
        "pymatgen_skipped": PYMATGEN_MISSING,
        "method": "readers timed in turns (interleaved), warm page cache; peak memory = VmHWM of a fresh process "
        "per reader minus its VmRSS before the read, over the result array bytes",
        "sizes": entries,
    }
    print(f"\nwrote {write_json(args.out, payload)}")
    agree = all(v for e in entries for k, v in e["agreement"].items() if k.endswith("allclose_rtol_1e-14"))
    if not agree:
        print("ARRAYS DISAGREE: see 'agreement' above")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
