"""Batch throughput of ``dftpost gap`` on 1,000 FHI-aims-style runs of a Pt/water interface.

    python benchmarks/bench_gap.py                # ~7 min, plus ~1.5 min to write the inputs the first time
    python benchmarks/bench_gap.py --w1-runs 1000 # time all 1,000 runs with one worker too (+~7 min)
    python benchmarks/bench_gap.py --dask         # and 1,000 runs on a Dask LocalCluster of 2 workers (+~4 min)
    python benchmarks/bench_gap.py --cold 200 --cold-dir /work/bench_cold   # cold page cache (root; ~8.7 GB of copies)

Goal (project issue): a batch of 1,000 FHI-aims runs (500 atoms, per-atom DoS files) processes at
>= 10,000 runs per hour on 2 cores. What is timed is the real command line, as a subprocess::

    dftpost gap PARENT --out results.h5 --workers N --json

with N = 1 and N = 2, each into a fresh results file, warm page cache (with ``--dask`` also
``--scheduler local --workers 2``: the same 2 processes as Dask workers). Wall time includes the
start of the CLI (imports), the search for run directories, every run's analysis and the HDF5
writes. With one worker, 200 runs (one fifth of the batch, a PARENT of its own) are timed by
default when 1,000 would take over ~4 min, and the rate is scaled; with two workers all 1,000.

Inputs, generated once into benchmarks/data/gap_runs/ (git-ignored) and reused:

- 1,000 run directories runs/batch_K/run_NNNN (K = NNNN // 200), each with its own
  ``geometry.in`` (ase.io.write, format "aims"), a minimal ``aims.out`` (FHI-aims 210513
  header, 500 atoms, μ = -4 eV, converged, "Have a nice day.") and 500 per-atom DoS files
  ``atom_proj_dos_<Sp><NNNN>.dat`` (shifted: 1001 energies from -20 to +5 eV vs μ) written by
  fixtures/aims/aims_format.py, which reproduces FHI-aims' files byte for byte.
- The structure: Pt(100) 5x5, 5 layers (125 Pt) in a 13.86 x 13.86 x 45 Å cell, 125 water
  molecules above it (O-H 0.97 Å, H-O-H 104.5°, random orientations) on a jittered staggered
  grid (8 layers of 4x4 sites, 2.45 Å apart, the first 2.4 Å above the top Pt layer; O-O >= 2.6 Å,
  H >= 1.6 Å from any other O), vacuum above. 125 + 3 x 125 = 500 atoms.
- DoS: Pt has a flat s/p DoS and a Gaussian d band (metallic at μ); O and H have Gaussian
  valence bands ending near a VBM and conduction bands starting near a CBM, both tilted along z
  by a random gradient (band tilting) and shifted per run. Values 1e-5 ... ~1 states/eV per atom.
- Disk: only 20 runs ("the pool", run_0000 ... run_0019) have DoS files of their own; run i
  hard-links its 500 DoS files to run i % 20 (os.link). Its water O sites are those of run
  i % 20, so the DoS still matches the heights, but its water orientations (seed i), hence its
  dipole, are its own. ~0.9 GB on disk instead of 43 GB.

Before timing: ``dftpost inspect`` of a pool run and a linked run (code fhi-aims, finished,
500 projections), and ``dftpost gap`` on 3 runs (status ok, finite gap). After timing: a cProfile
of ``dftpost.batch.analyse_gap`` on one run, in process. Results go to benchmarks/results/gap.json.

``--cold N``: the first N runs copied (real copies, no links: 43.5 MB each) into distinct run
folders under ``--cold-dir`` (deleted at the end), the page cache dropped (``sync``, then 3 into
/proc/sys/vm/drop_caches: root only) before each timed batch, with 1 and 2 workers; then 2 and 1
workers once more with those files in the page cache, and last the files alone read once, cold,
in one process (what the disk delivers). During each batch a thread samples, every
second, /proc/diskstats (bytes read, the time the disk was busy), /proc/stat (cores in iowait) and
the CPU time of the CLI process and all its descendants (/proc/PID/stat), so the wall time can be
set against the CPU time. Results go to benchmarks/results/gap_cold.json.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import pstats
import resource
import shutil
import subprocess
import sys
import threading
import time
import uuid as uuidlib
import warnings
from pathlib import Path

import numpy as np
from _common import DATA, HERE, cpu_busy_seconds, machine, wait_for_quiet, write_json
from ase import Atoms
from ase.build import fcc100
from scipy.spatial.transform import Rotation

from dftpost.analysis.bandedges import BandEdgeParameters
from dftpost.analysis.water_selection import water_atoms
from dftpost.batch import GapTask, analyse_gap
from dftpost.store import read_table

sys.path.insert(0, str(HERE.parent / "fixtures" / "aims"))
from aims_format import dos_text  # noqa: E402

N_RUNS, N_POOL, BATCH = 1000, 20, 200
N_PT, N_WATER = 125, 125
N_ATOMS = N_PT + 3 * N_WATER  # 500
MU_EV = -4.0
ENERGIES = np.linspace(-20.0, 5.0, 1001)  # eV vs μ (shifted files)
L_MAX = {"Pt": 3, "O": 2, "H": 1}  # l columns 0..l_max per species ("light"-like basis sets)
GENERATOR_VERSION = 1
ROOT = DATA / "gap_runs"
RUNS = ROOT / "runs"
MARKER = ROOT / "generated.json"
GOAL_RUNS_PER_HOUR = 10_000

R_OH, ANGLE_HOH = 0.97, np.radians(104.5)
GRID_SIDE, GRID_LAYERS, LAYER_DZ, FIRST_LAYER_DZ = 4, 8, 2.45, 2.4


def run_dir(i: int) -> Path:
    return RUNS / f"batch_{i // BATCH}" / f"run_{i:04d}"


def species_list() -> list[str]:
    return ["Pt"] * N_PT + ["O", "H", "H"] * N_WATER


def dos_name(i: int, species: str) -> str:
    return f"atom_proj_dos_{species}{i + 1:04d}.dat"


# ----------------------------------------------------------------------------- structure
def pt_slab() -> Atoms:
    slab = fcc100("Pt", size=(5, 5, 5), a=3.92)  # 13.86 x 13.86 Å, 1.96 Å between layers
    slab.positions[:, 2] += 2.0 - slab.positions[:, 2].min()
    slab.set_cell([slab.cell[0, 0], slab.cell[1, 1], 45.0])
    slab.pbc = True
    return slab


def _mic_xy(delta: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Minimum-image vectors in x and y (z is not periodic in practice: vacuum above)."""
    delta = delta.copy()
    delta[..., :2] -= box[:2] * np.round(delta[..., :2] / box[:2])
    return delta


def oxygen_sites(pool: int, box: np.ndarray, top_pt: float) -> np.ndarray:
    """125 O positions of pool run ``pool``: a staggered 4x4x8 grid, 3 random sites left empty,
    every O jittered by up to ±0.3 Å and re-drawn until all O-O distances are >= 2.6 Å."""
    rng = np.random.default_rng(1000 + pool)
    spacing = box[0] / GRID_SIDE
    sites = []
    for k in range(GRID_LAYERS):
        offset = 0.5 * spacing if k % 2 else 0.0
        for a in range(GRID_SIDE):
            for b in range(GRID_SIDE):
                sites.append([a * spacing + offset, b * spacing + offset, top_pt + FIRST_LAYER_DZ + k * LAYER_DZ])
    sites = np.array(sites)
    keep = np.sort(rng.choice(len(sites), N_WATER, replace=False))
    base = sites[keep]
    for _ in range(1000):
        o = base + rng.uniform(-0.3, 0.3, base.shape)
        d = np.linalg.norm(_mic_xy(o[:, None, :] - o[None, :, :], box), axis=-1)
        np.fill_diagonal(d, np.inf)
        if d.min() >= 2.6:
            return o
    raise RuntimeError("could not place the O atoms 2.6 Å apart")


def water_hydrogens(o: np.ndarray, seed: int, box: np.ndarray, top_pt: float) -> np.ndarray:
    """Two H per O (O-H 0.97 Å, 104.5°), random orientations from ``seed``; each molecule is
    re-drawn until its H are >= 1.6 Å above the top Pt layer, >= 1.6 Å from any other O and
    >= 1.4 Å from the H placed before."""
    rng = np.random.default_rng(seed)
    half = ANGLE_HOH / 2
    template = R_OH * np.array([[np.sin(half), 0.0, np.cos(half)], [-np.sin(half), 0.0, np.cos(half)]])
    h = np.full((len(o), 2, 3), np.nan)
    for m in range(len(o)):
        others = np.delete(o, m, axis=0)
        placed = h[:m].reshape(-1, 3)
        for _ in range(2000):
            rot = Rotation.from_quat(rng.normal(size=4))
            pair = o[m] + rot.apply(template)
            if pair[:, 2].min() < top_pt + 1.6:
                continue
            if np.linalg.norm(_mic_xy(pair[:, None] - others[None], box), axis=-1).min() < 1.6:
                continue
            if m and np.linalg.norm(_mic_xy(pair[:, None] - placed[None], box), axis=-1).min() < 1.4:
                continue
            h[m] = pair
            break
        else:
            raise RuntimeError(f"could not orient water molecule {m} (seed {seed})")
    return h


def structure(i: int, slab: Atoms, o_sites: dict[int, np.ndarray]) -> Atoms:
    box = np.diag(slab.cell[:])
    top = slab.positions[:, 2].max()
    o = o_sites[i % N_POOL]
    h = water_hydrogens(o, 20_000 + i, box, top)
    water = np.concatenate([o[:, None, :], h], axis=1).reshape(-1, 3)  # O, H, H per molecule
    atoms = Atoms(symbols=species_list(), positions=np.concatenate([slab.positions, water]), cell=slab.cell, pbc=True)
    atoms.wrap()  # H hanging over a cell edge back into the cell, as an MD frame would have it
    return atoms


# ----------------------------------------------------------------------------- files
def aims_out_text(n_atoms: int, mu_eV: float) -> str:
    """The least an FHI-aims 210513 aims.out holds for dftpost: header, atom count, one SCF μ,
    convergence and the closing line."""
    return "\n".join(
        [
            "------------------------------------------------------------",
            "          Invoking FHI-aims ...",
            "",
            "  When using FHI-aims, please cite the following reference:",
            "",
            "  Volker Blum, Ralf Gehrke, Felix Hanke, Paula Havu,",
            "  Ville Havu, Xinguo Ren, Karsten Reuter, and Matthias Scheffler,",
            "  'Ab Initio Molecular Simulations with Numeric Atom-Centered Orbitals',",
            "  Computer Physics Communications 180, 2175-2196 (2009)",
            "",
            "------------------------------------------------------------",
            "",
            "  FHI-aims version      : 210513",
            "  Commit number         : (benchmark input written by dftpost/benchmarks/bench_gap.py)",
            "",
            "  Reading file control.in.",
            "  Reading geometry description geometry.in.",
            f"  | Number of atoms                   : {n_atoms:8d}",
            "",
            "  Begin self-consistency loop: Initialization.",
            "",
            "  Begin self-consistency iteration #  1",
            f"  | Chemical potential (Fermi level): {mu_eV:15.8f} eV",
            "",
            "  Self-consistency cycle converged.",
            "",
            "------------------------------------------------------------",
            "          Leaving FHI-aims.",
            "",
            "          Have a nice day.",
            "------------------------------------------------------------",
            "",
        ]
    )


def _gauss(e: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((e - centre) / width) ** 2)


def pool_dos(pool: int, atoms: Atoms) -> dict:
    """Write the 500 DoS files of pool run ``pool`` (its structure ``atoms``); return the run's
    band parameters."""
    rng = np.random.default_rng(5000 + pool)
    e = ENERGIES
    vbm0 = -2.0 + rng.uniform(-0.3, 0.3)  # eV vs μ, at the middle height of the water
    gap0 = 4.6 + rng.uniform(-0.3, 0.3)
    tilt = rng.uniform(-0.04, 0.04)  # eV/Å: band tilting along z
    z = atoms.positions[:, 2]
    species = atoms.get_chemical_symbols()
    z_mid = z[N_PT:].mean()
    folder = run_dir(pool)
    for i, sp in enumerate(species):
        n_l = L_MAX[sp] + 1
        cols = np.zeros((n_l, e.size))
        scale = rng.uniform(0.85, 1.15)
        if sp == "Pt":  # flat s/p, Gaussian d band through μ, a trace of f
            cols[0] = 0.05 * scale
            cols[1] = 0.08 * scale
            cols[2] = 0.9 * scale * _gauss(e, -2.3, 1.5)
            cols[3] = 0.01 * scale
        else:
            vbm = vbm0 + tilt * (z[i] - z_mid)
            cbm = vbm + gap0
            vb = _gauss(e, vbm - 2.5, 0.85) + 0.7 * _gauss(e, vbm - 6.0, 0.8)  # 1b1/3a1, 1b2
            deep = _gauss(e, vbm - 15.5, 0.6)  # 2a1 (O 2s)
            cb = _gauss(e, cbm + 2.0, 0.7) + 0.6 * _gauss(e, cbm + 4.0, 1.2)  # 4a1, 2b2
            if sp == "O":
                amp_vb, amp_deep, amp_cb = 0.8, 0.6, 0.35
                split_vb, split_deep, split_cb = (0.10, 0.87, 0.03), (0.95, 0.05, 0.0), (0.40, 0.55, 0.05)
            else:
                amp_vb, amp_deep, amp_cb = 0.25, 0.2, 0.3
                split_vb, split_deep, split_cb = (0.92, 0.08), (0.97, 0.03), (0.85, 0.15)
            for channel in range(n_l):
                cols[channel] = scale * (
                    amp_vb * split_vb[channel] * vb + amp_deep * split_deep[channel] * deep + amp_cb * split_cb[channel] * cb
                )
        cols += 2e-5 * rng.random(cols.shape)  # noise floor, well below T = 0.01 states/eV per atom
        uuid = str(uuidlib.UUID(int=int(rng.integers(2**62)))).upper()
        (folder / dos_name(i, sp)).write_text(dos_text(e, cols, sp, MU_EV, uuid))
    return {"pool": pool, "vbm_mid_eV": vbm0, "nominal_gap_eV": gap0, "tilt_eV_per_A": tilt}


def generate() -> dict:
    """Write the 1,000 runs (or reuse them: MARKER records a complete set)."""
    want = {"generator_version": GENERATOR_VERSION, "n_runs": N_RUNS, "n_pool": N_POOL, "n_atoms": N_ATOMS}
    if MARKER.exists():
        done = json.loads(MARKER.read_text())
        if {k: done.get(k) for k in want} == want and (run_dir(N_RUNS - 1) / "aims.out").exists():
            print(f"reusing {N_RUNS} runs in {RUNS} (generated in {done['generation_s']:.0f} s)")
            return done
    print(f"generating {N_RUNS} runs ({N_POOL} with DoS files of their own) in {RUNS} ...")
    MARKER.unlink(missing_ok=True)
    shutil.rmtree(RUNS, ignore_errors=True)
    t0 = time.perf_counter()
    slab = pt_slab()
    box, top = np.diag(slab.cell[:]), slab.positions[:, 2].max()
    o_sites = {p: oxygen_sites(p, box, top) for p in range(N_POOL)}
    species = species_list()
    names = [dos_name(i, sp) for i, sp in enumerate(species)]
    bands = []
    out_text = aims_out_text(N_ATOMS, MU_EV)
    from ase.io import write

    for i in range(N_RUNS):
        folder = run_dir(i)
        folder.mkdir(parents=True)
        atoms = structure(i, slab, o_sites)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            write(folder / "geometry.in", atoms, format="aims")
        (folder / "aims.out").write_text(out_text)
        if i < N_POOL:
            bands.append(pool_dos(i, atoms))
            print(f"  pool run {i + 1}/{N_POOL} written ({time.perf_counter() - t0:.0f} s)", flush=True)
        else:
            pool = run_dir(i % N_POOL)
            for name in names:
                os.link(pool / name, folder / name)
    seconds = time.perf_counter() - t0
    distinct = sum(p.stat().st_size for p in run_dir(0).iterdir())
    done = {
        **want,
        "generation_s": seconds,
        "bytes_per_run": distinct,
        "pool_bands": bands,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    MARKER.write_text(json.dumps(done, indent=2) + "\n")
    print(f"generated in {seconds:.0f} s: {distinct / 1e6:.1f} MB per run, {N_POOL} distinct DoS sets")
    return done


def warm_cache() -> float:
    """Read every distinct file once and list every run directory (untimed)."""
    t0 = time.perf_counter()
    for i in range(N_RUNS):
        with os.scandir(run_dir(i)) as entries:
            for entry in entries:
                if i < N_POOL or not entry.name.startswith("atom_proj_dos"):
                    with open(entry.path, "rb") as f:
                        while f.read(1 << 22):
                            pass
                else:
                    entry.stat()
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- checks
def dftpost_cmd() -> list[str]:
    exe = shutil.which("dftpost")
    if exe is None:
        raise SystemExit("the dftpost command is not on PATH (pip install -e .)")
    return [exe]


def check_inspect(run: Path) -> dict:
    proc = subprocess.run([*dftpost_cmd(), "inspect", str(run), "--json"], capture_output=True, text=True)
    s = json.loads(proc.stdout)
    ok = (
        proc.returncode == 0
        and s["code"] == "fhi-aims"
        and s["finished"] is True
        and s["n_atoms"] == N_ATOMS
        and s["pdos"]["n_projections"] == N_ATOMS
    )
    print(
        f"inspect {run.name}: code {s['code']}, version {s['program_version']}, finished {s['finished']}, "
        f"{s['n_atoms']} atoms ({s['formula']}), pdos {s['pdos']['n_projections']} projections, "
        f"{s['pdos']['n_points']} points, orbitals {s['pdos']['orbitals']}, E_F {s['fermi_level_eV']} "
        f"({s['fermi_level_source']}), warnings {s['warnings']} -> {'ok' if ok else 'WRONG'}"
    )
    return {"run": run.name, "ok": ok, "warnings": s["warnings"], "stderr": proc.stderr.strip()}


def run_gap(paths: list[Path], out: Path, workers: int, scheduler: str | None = None, sample: bool = False) -> dict:
    """``dftpost gap PATHS --out OUT --workers N --json`` into a fresh file: wall time, the rows,
    the CPU time of the CLI process and the cores the whole machine kept busy meanwhile.

    The CPU time (getrusage of waited-for children) covers the CLI process; its workers start
    from a forkserver, are not its children and so are not counted in it. With ``sample``, a
    :class:`Sampler` follows the process tree and the disk meanwhile (``"sampled"``)."""
    for p in (out, out.with_name(out.name + ".lock"), out.with_name(out.name + ".tmp")):
        p.unlink(missing_ok=True)
    cmd = [*dftpost_cmd(), "gap", *map(str, paths), "--out", str(out), "--workers", str(workers), "--json"]
    if scheduler is not None:
        cmd += ["--scheduler", scheduler]
    load_before = os.getloadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0 = cpu_busy_seconds()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(proc.pid) if sample else None
    if sampler is not None:
        sampler.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    if sampler is not None:
        sampler.stop()
    busy1 = cpu_busy_seconds()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        **({"sampled": sampler.summary(seconds)} if sampler is not None else {}),
        "command": " ".join(["dftpost", *cmd[1:]]) if len(paths) == 1 else f"dftpost gap <{len(paths)} paths> --out {out.name} --workers {workers} --json",
        "returncode": proc.returncode,
        "stderr": stderr.strip()[-2000:],
        "seconds": seconds,
        "cpu_seconds_cli_process": cpu,
        "machine_busy_cores": (busy1 - busy0) / seconds,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "rows": rows,
    }


def row_ok(row: dict) -> bool:
    return row.get("status") == "ok" and row.get("gap_eV") is not None and math.isfinite(row["gap_eV"])


def git_state() -> dict:
    def git(*a):
        return subprocess.run(["git", *a], cwd=HERE.parent, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty_code": bool(git("status", "--porcelain", "dftpost", "cli"))}


def diagnostics(run: Path) -> dict:
    """In-process costs outside the per-run analysis, and the hash inside it."""
    from dftpost.batch import GAP_SCHEMA
    from dftpost.io.rundir import find_run_dirs, input_hash
    from dftpost.store import ResultStore

    t0 = time.perf_counter()
    found = find_run_dirs([RUNS])
    t_find = time.perf_counter() - t0
    t_hash = min(_timed(lambda: input_hash(run)) for _ in range(3))
    row = analyse_gap(GapTask(run, BandEdgeParameters()))
    out = ROOT / "append_test.h5"
    out.unlink(missing_ok=True)
    with ResultStore(out) as store:
        t0 = time.perf_counter()
        for i in range(100):
            store.append(GAP_SCHEMA, [dict(row, run=f"{row['run']}#{i}")])
        t_append = (time.perf_counter() - t0) / 100
    out.unlink()
    out.with_name(out.name + ".lock").unlink(missing_ok=True)
    return {
        "find_run_dirs_1000_runs_s": t_find,
        "n_found": len(found),
        "input_hash_one_run_s": t_hash,
        "store_append_one_row_s": t_append,
    }


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def profile_one(run: Path, top: int = 8) -> dict:
    task = GapTask(run, BandEdgeParameters())
    analyse_gap(task)  # warm: imports, caches
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    row = profiler.runcall(analyse_gap, task)
    seconds = time.perf_counter() - t0
    stats = pstats.Stats(profiler)
    items = []
    for (path, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        name = func if path == "~" else f"{Path(path).name}:{line}({func})"
        if "site-packages" not in path and "dftpost" in path:
            name = f"{Path(path).relative_to(HERE.parent) if Path(path).is_relative_to(HERE.parent) else Path(path).name}:{line}({func})"
        items.append({"function": name, "ncalls": nc, "tottime_s": tt, "cumtime_s": ct})
    by_cum = sorted(items, key=lambda x: -x["cumtime_s"])[:top]
    by_tot = sorted(items, key=lambda x: -x["tottime_s"])[:top]
    plain = [analyse_gap(task)["elapsed_s"] for _ in range(3)]
    return {
        "run": str(run),
        "status": row["status"],
        "profiled_seconds": seconds,
        "unprofiled_elapsed_s": plain,
        "top_cumulative": by_cum,
        "top_tottime": by_tot,
    }


# ----------------------------------------------------------------------------- cold page cache
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def disk_device(path: Path) -> str:
    """The /proc/diskstats name of the block device holding ``path`` (a partition's disk too)."""
    dev = os.stat(path).st_dev
    name = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}").resolve().name
    return name


class Sampler(threading.Thread):
    """Every ``interval`` s while a command runs: the CPU seconds of its process and all their
    descendants (/proc/PID/stat; a process's last figure is kept after it ends, so at most one
    interval of each is missed), and the disk's and the machine's counters."""

    def __init__(self, root: int, device: str = "", interval: float = 1.0):
        super().__init__(daemon=True)
        self.root, self.device, self.interval = root, device or disk_device(RUNS.parent), interval
        self.cpu: dict[int, tuple[float, float]] = {}  # pid: (user, system) CPU seconds
        self.series: list[dict] = []
        self.done = threading.Event()
        self.series.append(self.counters())

    def counters(self) -> dict:
        stat = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        for line in Path("/proc/diskstats").read_text().splitlines():
            f = line.split()
            if f[2] == self.device:
                # sectors of 512 bytes read; ms spent reading; ms the device was busy (io_ticks)
                return {"t": time.perf_counter(), "read_bytes": int(f[5]) * 512, "read_ms": int(f[6]), "busy_ms": int(f[12]),
                        "iowait_s": int(stat[4]) / CLOCK_TICKS, "idle_s": int(stat[3]) / CLOCK_TICKS}
        raise RuntimeError(f"no device {self.device} in /proc/diskstats")

    def tree(self) -> None:
        parents, times = {}, {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                text = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid ...
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = (int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS)  # utime, stime
        mine = {self.root}
        grown = True
        while grown:
            new = {pid for pid, parent in parents.items() if parent in mine} - mine
            grown = bool(new)
            mine |= new
        for pid in mine & times.keys():
            self.cpu[pid] = max(self.cpu.get(pid, (0.0, 0.0)), times[pid])

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.tree()
            self.series.append(self.counters())

    def stop(self) -> None:
        self.done.set()
        self.join()
        self.series.append(self.counters())

    def summary(self, wall_s: float) -> dict:
        first, last = self.series[0], self.series[-1]
        per_second = [{"t_s": round(b["t"] - first["t"], 2),
                       "read_MB_per_s": (b["read_bytes"] - a["read_bytes"]) / 1e6 / (b["t"] - a["t"]),
                       "disk_busy": (b["busy_ms"] - a["busy_ms"]) / 1e3 / (b["t"] - a["t"]),
                       "iowait_cores": (b["iowait_s"] - a["iowait_s"]) / (b["t"] - a["t"])}
                      for a, b in zip(self.series, self.series[1:])]
        user = sum(u for u, _ in self.cpu.values())
        system = sum(k for _, k in self.cpu.values())
        tree_cpu = user + system
        return {
            "device": self.device,
            "tree_cpu_s": tree_cpu,
            "tree_user_s": user,
            "tree_system_s": system,
            "tree_cores": tree_cpu / wall_s,
            "n_processes": len(self.cpu),
            "read_GB": (last["read_bytes"] - first["read_bytes"]) / 1e9,
            "read_MB_per_s": (last["read_bytes"] - first["read_bytes"]) / 1e6 / wall_s,
            "disk_busy_fraction": (last["busy_ms"] - first["busy_ms"]) / 1e3 / wall_s,
            "iowait_cores": (last["iowait_s"] - first["iowait_s"]) / wall_s,
            "idle_cores": (last["idle_s"] - first["idle_s"]) / wall_s,
            "per_second": per_second,
        }


def drop_page_cache() -> None:
    """Write back dirty pages, then drop the page cache, dentries and inodes (root only)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def copy_runs(n: int, parent: Path) -> float:
    """Real copies of runs 0 .. n - 1 (their hard-linked DoS files become files of their own)
    into ``parent``; the seconds it took."""
    shutil.rmtree(parent, ignore_errors=True)
    parent.mkdir(parents=True)
    t0 = time.perf_counter()
    for i in range(n):
        shutil.copytree(run_dir(i), parent / run_dir(i).name)
    os.sync()
    return time.perf_counter() - t0


def cold_main(args) -> int:
    """``--cold N``: N distinct runs, page cache dropped before each timed batch (module doc)."""
    n = args.cold
    gen = generate()
    parent = args.cold_dir / "runs"
    need = n * gen["bytes_per_run"]
    free = shutil.disk_usage(args.cold_dir.parent if not args.cold_dir.exists() else args.cold_dir).free
    if need > free - 10e9:
        print(f"{n} copies need {need / 1e9:.1f} GB; {free / 1e9:.0f} GB free: not copying")
        return 1
    try:
        print(f"copying {n} runs ({need / 1e9:.1f} GB) into {parent} ...", flush=True)
        copy_s = copy_runs(n, parent)
        probe = next((parent / run_dir(N_POOL % n).name).glob("atom_proj_dos_*.dat"))
        print(f"copied in {copy_s:.0f} s; a DoS file has {probe.stat().st_nlink} link(s)", flush=True)
        timings = []
        for workers, cold in ((1, True), (2, True), (2, False), (1, False)):
            busy, waited = wait_for_quiet(args.quiet_cores, args.max_wait)
            if cold:
                drop_page_cache()
            else:  # the same files, read once into the page cache
                for path in parent.rglob("*"):
                    if path.is_file():
                        path.read_bytes()
            print(f"\n{'cold (page cache dropped)' if cold else 'warm (files read beforehand)'}, {workers} worker(s); "
                  f"other processes {busy:.2f} cores before (waited {waited:.0f} s); load {os.getloadavg()}", flush=True)
            name = f"cold_w{workers}.h5" if cold else f"warm_w{workers}.h5"
            result = run_gap([parent], args.cold_dir / name, workers, sample=True)
            rows = result.pop("rows")
            sampled = result["sampled"]
            timing = {"workers": workers, "page_cache": "dropped" if cold else "warm", "n_runs": n, "n_ok": sum(map(row_ok, rows)),
                      "other_processes_cores_before": busy, "runs_per_hour": n / result["seconds"] * 3600, **result}
            timings.append(timing)
            print(f"  {n} runs in {result['seconds']:.1f} s -> {timing['runs_per_hour']:,.0f} runs/hour; exit {result['returncode']}, "
                  f"{timing['n_ok']}/{n} ok; CPU of the process tree {sampled['tree_cpu_s']:.0f} s (system {sampled['tree_system_s']:.0f} s) "
                  f"({sampled['tree_cores']:.2f} cores, {sampled['n_processes']} processes); disk: {sampled['read_GB']:.2f} GB read, "
                  f"{sampled['read_MB_per_s']:.0f} MB/s, busy {100 * sampled['disk_busy_fraction']:.0f} % of the time; "
                  f"iowait {sampled['iowait_cores']:.2f} cores, idle {sampled['idle_cores']:.2f} cores; load {result['load_after']}", flush=True)
            if result["returncode"] != 0 or timing["n_ok"] != n:
                print(result["stderr"])
        drop_page_cache()  # what the disk alone delivers: every file read once, cold, in one process
        t0 = time.perf_counter()
        read_bytes = sum(len(path.read_bytes()) for path in parent.rglob("*") if path.is_file())
        read_s = time.perf_counter() - t0
        disk = {"bytes": read_bytes, "seconds": read_s, "MB_per_s": read_bytes / 1e6 / read_s, "runs_per_hour": n / read_s * 3600}
        print(f"\nthe files alone, cold, read once in one process: {read_bytes / 1e9:.2f} GB in {read_s:.1f} s "
              f"({disk['MB_per_s']:.0f} MB/s, {disk['runs_per_hour']:,.0f} runs/hour)")
    finally:
        shutil.rmtree(args.cold_dir, ignore_errors=True)
        print(f"removed {args.cold_dir}")
    payload = {
        "benchmark": f"dftpost gap CLI on {n} distinct FHI-aims-style runs (real copies), page cache dropped before each batch",
        "machine": machine(["dftpost", "numpy", "scipy", "h5py", "ase"]),
        "dftpost_git": git_state(),
        "bytes_per_run": gen["bytes_per_run"],
        "copy_s": copy_s,
        "timings": timings,
        "cold_read_of_the_files": disk,
    }
    print(f"\nwrote {write_json('gap_cold.json', payload)}")
    return 0


# ----------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--w1-runs", choices=["auto", "200", "1000"], default="auto",
                        help="runs timed with one worker (auto: 200 if 1,000 would take over ~4 min)")
    parser.add_argument("--quiet-cores", type=float, default=0.25,
                        help="before each timing, wait until other processes use fewer cores than this")
    parser.add_argument("--max-wait", type=float, default=600.0, help="... but at most this many seconds")
    parser.add_argument("--dask", action="store_true",
                        help="also time all runs on a Dask LocalCluster of 2 workers (--scheduler local)")
    parser.add_argument("--cold", type=int, metavar="N",
                        help="only: N distinct runs (real copies), page cache dropped before each batch (root)")
    parser.add_argument("--cold-dir", type=Path, default=DATA / "gap_cold", help="where the copies go (deleted at the end)")
    args = parser.parse_args()
    if args.cold:
        return cold_main(args)

    usage = shutil.disk_usage(DATA.parent if not DATA.exists() else DATA)
    print(f"disk: {usage.free / 1e9:.0f} GB free; load average {os.getloadavg()}")
    if not MARKER.exists() and usage.free < 5e9:
        print("less than 5 GB free: not generating the inputs")
        return 1
    gen = generate()
    runs = [run_dir(i) for i in range(N_RUNS)]
    print(f"warming the page cache: {warm_cache():.1f} s")

    # structure facts of one run, as dftpost sees them
    from dftpost.io.rundir import read_run

    probe = read_run(runs[N_POOL])
    indices, top = water_atoms(probe.atoms.numbers, probe.atoms.positions, probe.atoms.cell[:], BandEdgeParameters().d_cut_A)
    print(f"run {runs[N_POOL].name}: {len(probe.atoms)} atoms, top Pt at z = {top:.2f} Å, "
          f"{indices.size} of {3 * N_WATER} water atoms beyond d_cut")

    inspected = [check_inspect(runs[0]), check_inspect(runs[N_POOL + 7])]

    sample_runs = [runs[0], runs[N_POOL + 7], runs[-1]]
    sample = run_gap(sample_runs, ROOT / "sample.h5", 1)
    sample_ok = sample["returncode"] == 0 and len(sample["rows"]) == 3 and all(map(row_ok, sample["rows"]))
    print(f"sample: dftpost gap on 3 runs -> exit {sample['returncode']}, "
          f"{sum(map(row_ok, sample['rows']))}/3 ok with a finite gap")
    print(json.dumps(sample["rows"][0]) if sample["rows"] else sample["stderr"])
    if not (sample_ok and all(i["ok"] for i in inspected)):
        print("the inputs are not read as intended: not timing")
        return 1

    # in-process time of one run decides how many runs the one-worker timing covers
    t_one = min(analyse_gap(GapTask(runs[N_POOL + i], BandEdgeParameters()))["elapsed_s"] for i in range(3))
    n_w1 = {"auto": BATCH if t_one * N_RUNS > 240 else N_RUNS, "200": BATCH, "1000": N_RUNS}[args.w1_runs]
    print(f"one run in process: {t_one:.3f} s -> 1,000 runs with 1 worker ~{t_one * N_RUNS / 60:.1f} min; "
          f"timing {n_w1} runs with 1 worker")

    timings = []
    for workers, n, scheduler in ((1, n_w1, None), (2, N_RUNS, None), *([(2, N_RUNS, "local")] if args.dask else [])):
        parent = RUNS / "batch_0" if n == BATCH else RUNS
        busy, waited = wait_for_quiet(args.quiet_cores, args.max_wait)
        print(f"\nother processes before the timing: {busy:.2f} cores busy (waited {waited:.0f} s); "
              f"load average {os.getloadavg()}")
        name = f"results_w{workers}.h5" if scheduler is None else f"results_dask_w{workers}.h5"
        result = run_gap([parent], ROOT / name, workers, scheduler)
        result["other_processes_cores_before"] = busy
        rows = result.pop("rows")
        n_ok = sum(map(row_ok, rows))
        table = read_table(ROOT / name, "gap")
        per_run_worker = np.asarray(table["elapsed_s"], dtype=float)
        rate = n / result["seconds"] * 3600
        # forkserver workers are not the CLI's children; Dask's LocalCluster workers are (already counted)
        mine = result["cpu_seconds_cli_process"] + (per_run_worker.sum() if workers > 1 and scheduler is None else 0.0)
        result["other_processes_cores"] = max(0.0, result["machine_busy_cores"] - mine / result["seconds"])
        timing = {
            "workers": workers,
            "scheduler": scheduler or "local processes",
            "parent": str(parent.relative_to(HERE.parent)),
            "n_runs_timed": n,
            "n_rows": len(rows),
            "n_ok": n_ok,
            **result,
            "runs_per_hour": rate,
            "seconds_per_run": result["seconds"] / n,
            "analyse_gap_elapsed_s": {
                "mean": float(per_run_worker.mean()),
                "median": float(np.median(per_run_worker)),
                "min": float(per_run_worker.min()),
                "max": float(per_run_worker.max()),
            },
            "gap_eV": {"min": float(np.min([r["gap_eV"] for r in rows if row_ok(r)])),
                       "max": float(np.max([r["gap_eV"] for r in rows if row_ok(r)]))},
            "n_dipole_negative": sum(1 for r in rows if row_ok(r) and r["dipole_e_per_A"] < 0),
            "n_metallized": sum(1 for r in rows if row_ok(r) and r["metallized"]),
        }
        timings.append(timing)
        print(f"workers {workers}{' (Dask LocalCluster)' if scheduler else ''}: {n} runs ({timing['parent']}) in {result['seconds']:.1f} s -> "
              f"{rate:,.0f} runs/hour, {timing['seconds_per_run'] * 1e3:.0f} ms/run wall; "
              f"exit {result['returncode']}, {n_ok}/{n} ok; CPU of the CLI process {result['cpu_seconds_cli_process']:.0f} s, "
              f"machine busy {result['machine_busy_cores']:.2f} cores; analyse_gap in the worker "
              f"{timing['analyse_gap_elapsed_s']['mean'] * 1e3:.0f} ms/run (mean); other processes used "
              f"~{result['other_processes_cores']:.2f} cores meanwhile; load {result['load_after']}")
        if result["returncode"] != 0 or n_ok != n:
            print(result["stderr"])

    w1, w2 = timings[:2]
    speedup = w2["runs_per_hour"] / w1["runs_per_hour"]
    speedup_dask = timings[2]["runs_per_hour"] / w1["runs_per_hour"] if args.dask else None
    if args.dask:
        print(f"speed-up Dask LocalCluster 2 workers / 1 local worker: {speedup_dask:.2f}x "
              f"({timings[2]['runs_per_hour']:,.0f} runs/hour)")
    met = w2["runs_per_hour"] >= GOAL_RUNS_PER_HOUR
    print(f"\nspeed-up 2 workers / 1 worker: {speedup:.2f}x; goal >= {GOAL_RUNS_PER_HOUR:,} runs/hour on 2 cores: "
          f"{'MET' if met else 'NOT MET'} ({w2['runs_per_hour']:,.0f} runs/hour)")

    prof = profile_one(runs[N_POOL + 7])
    print(f"\ncProfile of analyse_gap on {Path(prof['run']).name} ({prof['profiled_seconds']:.3f} s profiled, "
          f"{min(prof['unprofiled_elapsed_s']):.3f} s unprofiled): top 8 by cumulative time")
    print(f"  {'cumtime':>8} {'tottime':>8} {'ncalls':>7}  function")
    for item in prof["top_cumulative"]:
        print(f"  {item['cumtime_s']:8.3f} {item['tottime_s']:8.3f} {item['ncalls']:7d}  {item['function']}")
    print("top 8 by own time")
    for item in prof["top_tottime"]:
        print(f"  {item['cumtime_s']:8.3f} {item['tottime_s']:8.3f} {item['ncalls']:7d}  {item['function']}")

    diag = diagnostics(runs[N_POOL + 7])
    print(f"\nfind_run_dirs over the 1,000 runs (serial, before any analysis): {diag['find_run_dirs_1000_runs_s']:.1f} s; "
          f"input_hash of one run: {diag['input_hash_one_run_s'] * 1e3:.0f} ms; "
          f"ResultStore.append of one gap row: {diag['store_append_one_row_s'] * 1e3:.1f} ms")

    payload = {
        "benchmark": "dftpost gap CLI on 1,000 FHI-aims-style runs (500 atoms, per-atom DoS files)",
        "machine": machine(["dftpost", "numpy", "scipy", "h5py", "ase"]),
        "dftpost_git": git_state(),
        "goal": f">= {GOAL_RUNS_PER_HOUR} runs/hour on 2 cores",
        "inputs": {
            "n_runs": N_RUNS,
            "n_atoms": N_ATOMS,
            "structure": "Pt(100) 5x5x5 (125 Pt) + 125 H2O, 13.86 x 13.86 x 45 Å",
            "water_atoms_beyond_d_cut": int(indices.size),
            "dos_files_per_run": N_ATOMS,
            "energies": "1001 points, -20 ... +5 eV vs mu (shifted files)",
            "l_columns": L_MAX,
            "bytes_per_run": gen["bytes_per_run"],
            "distinct_dos_sets": N_POOL,
            "hard_links": "run i links its DoS files to run i % 20",
            "generation_s": gen["generation_s"],
        },
        "method": "one subprocess per timing, fresh results file, warm page cache; wall time includes CLI start-up, "
                  "run discovery, analysis and HDF5 writes",
        "inspect_checks": inspected,
        "sample_row": sample["rows"][0] if sample["rows"] else None,
        "timings": timings,
        "speedup_2_vs_1": speedup,
        "speedup_dask_2_vs_1": speedup_dask,
        "goal_met": met,
        "profile": prof,
        "diagnostics": diag,
    }
    print(f"\nwrote {write_json('gap.json', payload)}")
    return 0 if met else 2


if __name__ == "__main__":
    sys.exit(main())
