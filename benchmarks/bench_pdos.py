"""CP2K projected-DoS files: dftpost.io.cp2k.read_pdos against pymatgen, numpy and pandas.

    python benchmarks/bench_pdos.py        # ~1 min

Inputs (written once into benchmarks/data/pdos/, git-ignored) in the layout of CP2K's ``.pdos``
files (``I8, F18.6, F16.6, F18.8...``, the two header lines, E(Fermi) in a.u.): a kind file of
94 states (s, p, d; the size of the fixtures), a kind file of 2,000 states (s, p, d, f) and an
&LDOS list file of 21,000 states (s, p, d; 2 MB). Contenders, timed in turns (A, B, C, D, A,
...) with the page cache warm:

- dftpost ``read_pdos`` (checks the MO numbering and the column count; eigenvalues in eV
  relative to E(Fermi), weights per l channel);
- pymatgen ``pymatgen.io.cp2k.outputs.parse_pdos`` (with ``total=False``);
- ``numpy.loadtxt(path)``: the table only, no header, no checks;
- pandas ``read_csv(path, sep=r"\\s+", comment="#", header=None).to_numpy()``: the same.

A timing reads one file ``CALLS[size]`` times (enough for ~20 ms); the figure is per read.
Goal: dftpost at least 1.5× faster than pymatgen on every size. Results in results/pdos.json.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from _common import DATA, interleaved, machine, print_table, write_json

from dftpost.io.cp2k import read_pdos
from dftpost.units import HARTREE_EV

FOLDER = DATA / "pdos"
FERMI_AU = -0.167412
# name: (states, l columns, title, reads per timing)
FILES = {
    "water-k1-1.pdos": (94, ("s", "p", "d"), "atomic kind O", 200),
    "slab-k2-1.pdos": (2000, ("s", "p", "d", "f"), "atomic kind Pt", 10),
    "slab-list1-1.pdos": (21000, ("s", "p", "d"), "list 1 of 480 atoms", 1),
}
GOAL = 1.5


def make_file(name: str) -> None:
    n, ls, title, _ = FILES[name]
    path = FOLDER / name
    if path.exists():
        return
    rng = np.random.default_rng(len(name))
    energies = np.sort(rng.uniform(-1.5, 1.0, n))
    occupations = np.where(energies < FERMI_AU, 2.0, 0.0)
    weights = rng.dirichlet(np.ones(len(ls)), n) * rng.uniform(0, 1, (n, 1))
    lines = [f"# Projected DOS for {title}, at iteration step i = 0, E(Fermi) = {FERMI_AU:12.6f} a.u.\n",
             "#     MO Eigenvalue [a.u.]      Occupation" + "".join(f"{l:>18}" for l in ls) + "\n"]
    lines += [f"{i + 1:8d}{e:18.6f}{o:16.6f}" + "".join(f"{w:18.8f}" for w in row) + "\n"
              for i, (e, o, row) in enumerate(zip(energies, occupations, weights))]
    FOLDER.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    from pymatgen.io.cp2k.outputs import parse_pdos

    warnings.filterwarnings("ignore", module="pymatgen")
    report = {"goal_times_pymatgen": GOAL, "files": {}}
    for name, (n, ls, _, calls) in FILES.items():
        make_file(name)
        path = FOLDER / name
        table = np.loadtxt(path)
        dos = read_pdos(path)
        assert np.array_equal(dos.eigenvalues_eV[0], table[:, 1] * HARTREE_EV - FERMI_AU * HARTREE_EV)
        assert np.array_equal(dos.orbital_values[0, 0], table[:, 3:].T)

        def many(fn):
            return lambda: [fn() for _ in range(calls)]

        contenders = {
            "dftpost read_pdos": many(lambda: read_pdos(path)),
            "pymatgen parse_pdos": many(lambda: parse_pdos(str(path), total=False)),
            "numpy.loadtxt": many(lambda: np.loadtxt(path)),
            "pandas read_csv (C parser)": many(lambda: pd.read_csv(path, sep=r"\s+", comment="#", header=None).to_numpy()),
        }
        result = interleaved(contenders, args.repeats, reference="dftpost read_pdos")
        for row in result["contenders"].values():
            for key in ("min_s", "median_s"):
                row[key] /= calls
            row["times_s"] = [t / calls for t in row["times_s"]]
        size = path.stat().st_size
        print_table(f"{name}: {n} states, {len(ls)} l columns, {size / 1e6:.3f} MB (s per read, ratios to dftpost)", result)
        ratio = result["contenders"]["pymatgen parse_pdos"]["ratio_median"]
        print(f"  pymatgen / dftpost (median): {ratio:.2f}, goal ≥ {GOAL}: {'met' if ratio >= GOAL else 'NOT met'}")
        report["files"][name] = {"states": n, "columns": len(ls) + 3, "bytes": size, "reads_per_timing": calls, **result}
    report["machine"] = machine(["numpy", "pandas", "pymatgen"])
    print("written", write_json("pdos.json", report))


if __name__ == "__main__":
    main()
