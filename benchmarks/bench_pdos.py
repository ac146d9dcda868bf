"""CP2K projected-DoS files: dftpost.io.cp2k.read_pdos against pymatgen, numpy and pandas.

    python benchmarks/bench_pdos.py                       # ~2 min
    python benchmarks/bench_pdos.py --compare DIR         # and an older dftpost, in the same turns

Inputs (written once into benchmarks/data/pdos/, git-ignored) in the layouts of CP2K's ``.pdos``
files, rows ``I8, 2X, 2F16.6, n(2X, F16.8)``:

- up to 2026.1 (one header line with E(Fermi) in a.u., then the column line): a kind file of
  94 states (s, p, d; the size of the fixtures), a kind file of 2,000 states (s, p, d, f) and
  an &LDOS list file of 21,000 states (s, p, d; 2 MB);
- 2026.2 (title, E(Fermi) and E(HOCO) lines, then the column line; a ``Total`` column first):
  a kind file of 94 states and an &LDOS list file of 21,000 states.

Contenders, timed in turns (A, B, C, D, A, ...), the same number of times each, page cache warm:

- dftpost ``read_pdos`` (checks the MO numbering, the column count and the Total column;
  eigenvalues in eV relative to E(Fermi), weights per l channel);
- pymatgen ``pymatgen.io.cp2k.outputs.parse_pdos`` (with ``total=False``);
- ``numpy.loadtxt(path)``: the table only, no header, no checks;
- pandas ``read_csv(path, sep=r"\\s+", comment="#", header=None).to_numpy()``: the same;
- with ``--compare DIR``, the ``read_pdos`` of the dftpost in DIR (``git archive COMMIT dftpost |
  tar -x -C DIR``).

A timing reads one file ``calls`` times (enough for ~20 ms); the figure is per read. Goal:
dftpost at least 1.5× faster than pymatgen (median) on every file. Peak memory: for the largest
file, one fresh process per contender reads it once; the kernel's high-water mark of resident
memory (VmHWM) minus the resident memory just before the read. Results in results/pdos.json.
"""

from __future__ import annotations

import argparse
import importlib
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _common import DATA, interleaved, load_tree, machine, peak_rss, print_table, write_json

from dftpost.io.cp2k import read_pdos
from dftpost.units import HARTREE_EV

FOLDER = DATA / "pdos"
FERMI_AU = -0.167412
# name: (states, l columns, title, reads per timing, layout)
FILES = {
    "water-k1-1.pdos": (94, ("s", "p", "d"), "atomic kind O", 200, "2026.1"),
    "slab-k2-1.pdos": (2000, ("s", "p", "d", "f"), "atomic kind Pt", 10, "2026.1"),
    "slab-list1-1.pdos": (21000, ("s", "p", "d"), "list 1 of 480 atoms", 1, "2026.1"),
    "water2026-k1-1.pdos": (94, ("s", "p", "d"), "atomic kind O", 200, "2026.2"),
    "slab2026-list1-1.pdos": (21000, ("s", "p", "d"), "list 1 of 480 atoms", 1, "2026.2"),
}
MEMORY_FILE = "slab-list1-1.pdos"
GOAL = 1.5


def make_file(name: str) -> Path:
    n, ls, title, _, layout = FILES[name]
    path = FOLDER / name
    if path.exists():
        return path
    rng = np.random.default_rng(len(name))
    energies = np.sort(rng.uniform(-1.5, 1.0, n))
    occupations = np.where(energies < FERMI_AU, 2.0, 0.0)
    weights = rng.dirichlet(np.ones(len(ls)), n) * rng.uniform(0, 1, (n, 1))
    if layout == "2026.1":
        lines = [f"# Projected DOS for {title}, at iteration step i = 0, E(Fermi) = {FERMI_AU:12.6f} a.u.\n",
                 f"{'#     MO Eigenvalue [a.u.]      Occupation':42}" + "".join(f"{'':10}{label:8}" for label in ls) + "\n"]
    else:
        hoco = energies[occupations > 0].max()
        lines = [f"# Projected DOS for {title}, at iteration step i = 0\n",
                 f"# E(Fermi) = {FERMI_AU:12.6f} a.u. = {FERMI_AU * HARTREE_EV:12.6f} eV\n",
                 f"# E(HOCO)  = {hoco:12.6f} a.u. = {hoco * HARTREE_EV:12.6f} eV\n",
                 f"{'#          MO Energy[a.u.]      Occupation':42}" + "".join(f"{'':10}{label:8}" for label in ("Total", *ls)) + "\n"]
        weights = np.column_stack([np.round(weights, 8).sum(axis=1), weights])
    lines += [f"{i + 1:8d}  {e:16.6f}{o:16.6f}" + "".join(f"  {w:16.8f}" for w in row) + "\n"
              for i, (e, o, row) in enumerate(zip(energies, occupations, weights))]
    FOLDER.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--compare", type=Path, help="another source tree of dftpost, timed in the same turns")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    args = parser.parse_args()
    from pymatgen.io.cp2k.outputs import parse_pdos

    warnings.filterwarnings("ignore", module="pymatgen")
    before = None
    if args.compare is not None:
        load_tree(args.compare.resolve())
        before = importlib.import_module("dftpost_before.io.cp2k").read_pdos
    report = {"goal_times_pymatgen": GOAL, "compare": str(args.compare) if args.compare else None, "files": {}}
    for name, (n, ls, _, calls, layout) in FILES.items():
        path = make_file(name)
        table = np.loadtxt(path)
        dos = read_pdos(path)
        first_l = 4 if layout == "2026.2" else 3  # after the Total column
        assert np.array_equal(dos.eigenvalues_eV[0], table[:, 1] * HARTREE_EV - FERMI_AU * HARTREE_EV)
        assert np.array_equal(dos.orbital_values[0, 0], table[:, first_l:].T)

        def many(fn, calls=calls):
            return lambda: [fn() for _ in range(calls)]

        contenders = {
            "dftpost read_pdos": many(lambda path=path: read_pdos(path)),
            "pymatgen parse_pdos": many(lambda path=path: parse_pdos(str(path), total=False)),
            "numpy.loadtxt": many(lambda path=path: np.loadtxt(path)),
            "pandas read_csv (C parser)": many(lambda path=path: pd.read_csv(path, sep=r"\s+", comment="#", header=None).to_numpy()),
        }
        if before is not None:
            contenders["dftpost read_pdos, before"] = many(lambda path=path: before(path))
        failed = {}
        for label, fn in list(contenders.items()):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001  (a peer that cannot read the layout is reported, not timed)
                failed[label] = f"{type(exc).__name__}: {exc}"
                del contenders[label]
        result = interleaved(contenders, args.repeats, reference="dftpost read_pdos")
        for row in result["contenders"].values():
            for key in ("min_s", "median_s"):
                row[key] /= calls
            row["times_s"] = [t / calls for t in row["times_s"]]
        size = path.stat().st_size
        print_table(f"{name} ({layout} layout): {n} states, {len(ls)} l columns, {size / 1e6:.3f} MB "
                    "(s per read, ratios to dftpost)", result)
        for label, error in failed.items():
            print(f"  {label:<34} cannot read this file: {error}")
        peer = result["contenders"].get("pymatgen parse_pdos")
        ratio = peer["ratio_median"] if peer else None
        if ratio is not None:
            print(f"  pymatgen / dftpost (median): {ratio:.2f}, goal ≥ {GOAL}: {'met' if ratio >= GOAL else 'NOT met'}")
        report["files"][name] = {"states": n, "layout": layout, "columns": len(ls) + 3, "bytes": size,
                                 "reads_per_timing": calls, "pymatgen_over_dftpost_median": ratio,
                                 "goal_met": None if ratio is None else ratio >= GOAL, "failed": failed, **result}
    if not args.no_memory:
        path = FOLDER / MEMORY_FILE
        setups = {
            "dftpost read_pdos": ("from dftpost.io.cp2k import read_pdos", "read_pdos(PATH)"),
            "pymatgen parse_pdos": ("from pymatgen.io.cp2k.outputs import parse_pdos", "parse_pdos(PATH, total=False)"),
            "numpy.loadtxt": ("import numpy as np", "np.loadtxt(PATH)"),
            "pandas read_csv (C parser)": ("import pandas as pd",
                                           "pd.read_csv(PATH, sep=r'\\s+', comment='#', header=None).to_numpy()"),
        }
        memory = {}
        print(f"peak memory, one process per reader, {MEMORY_FILE} ({path.stat().st_size / 1e6:.1f} MB):")
        for label, (setup, call) in setups.items():
            memory[label] = peak_rss(f"import warnings; warnings.simplefilter('ignore'); {setup}; PATH = {str(path)!r}", call)
            print(f"  {label:<30} added {memory[label]['added_bytes'] / 1e6:6.1f} MB  (peak RSS "
                  f"{memory[label]['peak_rss_bytes'] / 1e6:.0f} MB)")
        report["peak_memory"] = {"file": MEMORY_FILE, "bytes": path.stat().st_size, "contenders": memory}
    report["machine"] = machine(["numpy", "pandas", "pymatgen"])
    report["load_1min_end"] = os.getloadavg()[0]
    print("written", write_json("pdos.json", report))


if __name__ == "__main__":
    main()
