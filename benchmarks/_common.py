"""Shared helpers of the benchmark scripts: paths, timing, peak memory, machine description."""

from __future__ import annotations

import gc
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"  # generated inputs, git-ignored
RESULTS = HERE / "results"


def best_time(fn, repeats: int, give_up_after_s: float | None = None) -> tuple[float, list[float]]:
    """Best wall time of ``repeats`` calls of ``fn`` (and all the times).

    With ``give_up_after_s``, stop repeating once one call took longer than that.
    """
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        del result
        if give_up_after_s is not None and times[-1] > give_up_after_s:
            break
    gc.collect()
    return min(times), times


def peak_memory(fn) -> int:
    """Peak bytes traced by :mod:`tracemalloc` during one call of ``fn``, above what was
    traced before the call (numpy's buffers are traced). Run apart from the timing: tracing
    slows down code that allocates many Python objects."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    gc.collect()
    return peak - before


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(libraries: list[str]) -> dict:
    versions = {}
    for name in libraries:
        try:
            module = importlib.import_module(name)
            versions[name] = getattr(module, "__version__", "unknown")
        except ImportError:
            versions[name] = None
    if versions.get("pymatgen") in ("unknown", None):
        try:
            from importlib.metadata import version

            versions["pymatgen"] = version("pymatgen")
        except Exception:
            pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def cpu_busy_seconds() -> float:
    """CPU seconds spent non-idle by the whole machine since boot (all cores, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def others_busy(seconds: float = 5.0) -> float:
    """Cores kept busy by other processes over ``seconds`` (this script sleeps meanwhile)."""
    b0 = cpu_busy_seconds()
    time.sleep(seconds)
    return (cpu_busy_seconds() - b0) / seconds


def wait_for_quiet(limit_cores: float, max_wait_s: float) -> tuple[float, float]:
    """Wait (at most ``max_wait_s``) until other processes use under ``limit_cores``; return
    (cores busy by others just before the timing, seconds waited)."""
    t0 = time.perf_counter()
    busy = others_busy()
    while busy > limit_cores and time.perf_counter() - t0 < max_wait_s:
        print(f"  other processes keep {busy:.2f} cores busy: waiting", flush=True)
        time.sleep(25)
        busy = others_busy()
    return busy, time.perf_counter() - t0


def interleaved(contenders: dict, repeats: int, reference: str | None = None) -> dict:
    """Time each contender (name -> function of no arguments) ``repeats`` times, in turns
    (A, B, C, A, B, C, ...), so that a change of background load hits them alike.

    Returns, per name: all times, min and median (s) and, with ``reference``, the ratios of the
    contender's min and median to the reference's (above 1: the reference is faster); and the
    load average (1 min) before and after the run.
    """
    times = {name: [] for name in contenders}
    load_before = os.getloadavg()[0]
    for _ in range(repeats):
        for name, fn in contenders.items():
            gc.collect()
            t0 = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - t0)
            del result
    load_after = os.getloadavg()[0]
    table = {}
    for name, ts in times.items():
        table[name] = {"times_s": ts, "min_s": min(ts), "median_s": statistics.median(ts)}
    if reference is not None:
        ref = table[reference]
        for row in table.values():
            row["ratio_min"] = row["min_s"] / ref["min_s"]
            row["ratio_median"] = row["median_s"] / ref["median_s"]
    return {"repeats": repeats, "load_1min_before": load_before, "load_1min_after": load_after, "contenders": table}


def print_table(title: str, result: dict) -> None:
    """Print the result of :func:`interleaved`: min, median and the ratios to the reference."""
    print(f"{title}  (load {result['load_1min_before']:.2f} → {result['load_1min_after']:.2f}, "
          f"{result['repeats']} turns)")
    for name, row in result["contenders"].items():
        ratio = f"  ×{row['ratio_min']:.2f} / ×{row['ratio_median']:.2f}" if "ratio_min" in row else ""
        print(f"  {name:<34} min {row['min_s']:.4f} s  median {row['median_s']:.4f} s{ratio}")


def peak_rss(setup: str, call: str, cwd: Path | None = None) -> dict:
    """Peak resident memory of a fresh Python process that runs ``setup`` (imports, paths) and
    then ``call`` once: the kernel's high-water mark of the process (VmHWM of /proc/self/status)
    after the call, its resident memory (VmRSS) just before the call, in bytes, and their
    difference (what the call added at its peak). One process per contender, so no reader
    inherits another's heap."""
    probe = (
        "def _status(key):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(key):\n"
        "            return int(line.split()[1]) * 1024\n"
        f"{setup}\n"
        "_before = _status('VmRSS:')\n"
        f"_result = {call}\n"
        "print(_before, _status('VmHWM:'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=cwd or HERE)
    before, after = (int(x) for x in done.stdout.split()[-2:])
    return {"peak_rss_bytes": after, "rss_after_setup_bytes": before, "added_bytes": after - before}


def load_tree(tree: Path, name: str = "dftpost_before"):
    """The ``dftpost`` package of another source tree (e.g. ``git archive`` of an older commit),
    imported under ``name`` so that both versions live in one process (the package imports
    itself relatively)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        name, tree / "dftpost" / "__init__.py", submodule_search_locations=[str(tree / "dftpost")]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
