"""``dftpost dipole`` end to end against a bare ``ase.io.iread`` loop, at 576 and 16,200 atoms.

    python benchmarks/bench_trajectory.py     # ~2 min; ~30 s more the first time, to write the inputs

Goal: the whole analysis (``dftpost dipole FILE --workers 1``: reading every frame, the dipoles,
profiles and census, the HDF5 write) takes less time than a loop that only reads the frames
with ASE (``for atoms in ase.io.iread(FILE): pass``). Both run as fresh processes (each pays
the interpreter and its imports), in turns (A, B, C, A, B, C, ...), warm page cache. Also timed
in the same turns, in this process: ``dipole_trajectory`` (the analysis without the start-up
and the HDF5 write) and the frame readers alone: ASE's ``iread``, dftpost's ``iter_frames``
(libAtoms' ``extxyz`` C parser for plain extxyz when installed), ``iter_frames`` with the C
parser switched off (ASE's public ``iread`` then), and MDAnalysis' XYZ reader.

``--compare DIR`` adds ``dftpost dipole`` run from another source tree (an older commit:
``git archive COMMIT dftpost cli | tar -x -C DIR && ln -s ../cli DIR/dftpost/cli``).

Inputs, written once into benchmarks/data/dipole/ (git-ignored) by ``ase.io.write`` (extxyz:
Lattice, Properties=species:S:1:pos:R:3, pbc): 1,000 frames of the 192-molecule slab of
bench_dipole.py (15.6 x 15.6 x 60 Å, new orientations every frame, one frame in five shifted
across the periodic boundary) and 60 frames of its 5,400-molecule slab (54 x 54 x 60 Å, every
atom displaced by N(0, 0.02 Å) per frame). Results in results/trajectory.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import ase.io
import numpy as np
from _common import DATA, interleaved, machine, print_table, write_json
from bench_dipole import big_frame, slab_sites, small_cell, water_frame

from dftpost.batch import dipole_trajectory
from dftpost.io import trajectory

ROOT = DATA / "dipole"
N_SMALL, N_BIG = 1000, 60
FILES = {f"576 atoms x {N_SMALL} frames": ROOT / f"water_slab_{N_SMALL}x576_plain.extxyz",
         f"16,200 atoms x {N_BIG} frames": ROOT / f"water_slab_{N_BIG}x16200.extxyz"}
# what the dftpost script runs (``run``; ``app`` in a tree from before it)
CLI = ("import sys; from dftpost.cli import main; sys.argv[0] = 'dftpost'; "
       "(main.run if hasattr(main, 'run') else main.app)()")
BARE = "import sys, ase.io\nfor atoms in ase.io.iread(sys.argv[1]): pass"


def make_inputs() -> None:
    ROOT.mkdir(parents=True, exist_ok=True)
    small, big = FILES.values()
    if not small.exists():
        cell, rng = small_cell(), np.random.default_rng(12)
        sites = slab_sites(cell, 5, 8, 18.0, 3.125, 192, seed=11)
        frames = []
        for f in range(N_SMALL):
            atoms = water_frame(sites, cell, rng)
            atoms.positions[:, 2] += float(rng.uniform(18.0, 42.0)) if f % 5 == 4 else 0.0
            atoms.wrap()
            frames.append(atoms)
        ase.io.write(small, frames, format="extxyz")
    if not big.exists():
        atoms, rng = big_frame(False), np.random.default_rng(5)
        frames = []
        for _ in range(N_BIG):
            frame = atoms.copy()
            frame.positions += rng.normal(0.0, 0.02, frame.positions.shape)
            frame.wrap()
            frames.append(frame)
        ase.io.write(big, frames, format="extxyz")


def process(args: list[str], pythonpath: str | None = None):
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return lambda: subprocess.run([sys.executable, *args], env=env, cwd="/", check=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def read_all(frames) -> int:
    return sum(1 for _ in frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="another source tree of dftpost, timed in the same turns")
    args = parser.parse_args()
    make_inputs()
    warnings.filterwarnings("ignore")
    import MDAnalysis

    report = {"goal": "dftpost dipole (end to end) / bare ase.io.iread loop < 1", "files": {}}
    out_dir = Path(tempfile.mkdtemp())
    for label, path in FILES.items():
        out = out_dir / "r.h5"

        def dipole(tree=None, path=path, out=out):
            run = process(["-c", CLI, "dipole", str(path), "--out", str(out), "--workers", "1"], tree)
            return lambda: (out.unlink(missing_ok=True), run())

        def without_c_parser(path=path):
            c_parser, trajectory._c_parser = trajectory._c_parser, lambda: None
            try:
                return read_all(trajectory.iter_frames(path))
            finally:
                trajectory._c_parser = c_parser

        contenders = {
            "bare ase.io.iread loop (process)": process(["-c", BARE, str(path)]),
            "dftpost dipole --workers 1 (process)": dipole(),
        }
        if args.compare is not None:
            contenders["dftpost dipole, compared tree (process)"] = dipole(str(args.compare.resolve()))
        contenders |= {
            "dftpost dipole_trajectory (in this process)": lambda path=path: dipole_trajectory(path, workers=1),
            "ase.io.iread (reading only)": lambda path=path: read_all(ase.io.iread(str(path))),
            "dftpost iter_frames (reading only)": lambda path=path: read_all(trajectory.iter_frames(path)),
            "dftpost iter_frames, no C parser": without_c_parser,
            "MDAnalysis XYZ reader (reading only)": lambda path=path: read_all(
                ts.positions for ts in MDAnalysis.Universe(str(path), format="XYZ", topology_format="XYZ").trajectory),
        }
        result = interleaved(contenders, args.repeats, reference="bare ase.io.iread loop (process)")
        print_table(f"{label}: {path.stat().st_size / 1e6:.1f} MB (ratios to the bare ASE loop)", result)
        ratio = result["contenders"]["dftpost dipole --workers 1 (process)"]["ratio_median"]
        print(f"  dftpost dipole / bare ASE loop (median): {ratio:.2f}, goal < 1: {'met' if ratio < 1 else 'NOT met'}")
        report["files"][label] = {"bytes": path.stat().st_size, **result}
    report["c_parser"] = trajectory._c_parser() is not None
    report["machine"] = machine(["numpy", "ase", "extxyz", "MDAnalysis"])
    print("written", write_json("trajectory.json", report))


if __name__ == "__main__":
    main()
