"""The writer's lock of a results store: dftpost's (:func:`dftpost.lock.hold_writer_lock`, a
``filelock.FileLock`` as dftpost configures it) against ``filelock.FileLock`` with its defaults,
``filelock.SoftFileLock`` and a bare ``fcntl.flock`` (the floor), in turns.

- acquire + release, nobody else holding it: per cycle, 100 cycles a turn; the open and close of
  a small existing store (``ResultStore``) in the same turns says what the lock adds to it.
- a refused attempt (no waiting) while another process holds the lock: per attempt.
- hand-off: a second writer waits (up to 10 s) while another process holds the lock; that process
  lets go after a delay drawn from 0.2–1.2 s (the same delays for every contender in a turn) and
  records the moment; the time from then until the waiter holds the lock is the figure. For
  dftpost it is the whole ``ResultStore(path, wait_s=10)``.
- features: a lock left by a process killed with SIGKILL (alone, and with a child it forked still
  running), the holder named in the error, a second holder in the same process, what is left on
  disk after release.

``--compare DIR`` adds the lock and ``ResultStore`` of another source tree (``git archive COMMIT
dftpost | tar -x -C DIR``): the hand-written ``flock`` lock of dftpost before it used filelock.
Goals: the lock adds under 5 % to a store's open and close (median); a waiting writer takes over
within 0.25 s of the release (median); every feature row holds for dftpost's lock.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import filelock
from _common import interleaved, load_tree, machine, print_table, write_json

from dftpost.lock import StoreLockedError, hold_writer_lock
from dftpost.store import ResultStore

CYCLES = 100
WAIT_S = 10.0
GOAL_SHARE = 0.05
GOAL_HANDOFF_S = 0.25

# Holds a lock until a line arrives on stdin, then prints the monotonic clock (system-wide on
# Linux) and lets go. "flock": an exclusive flock on the file with "pid N on HOST" in it, as
# dftpost's writer leaves it; "soft": a filelock.SoftFileLock.
HOLDER = """
import fcntl, os, socket, sys, time
kind, path = sys.argv[1:]
if kind == "soft":
    import filelock
    lock = filelock.SoftFileLock(path, timeout=0)
    lock.acquire()
    release = lock.release
else:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
    release = lambda: os.close(fd)
print("held", flush=True)
sys.stdin.readline()
t = time.monotonic()
release()
print(t, flush=True)
time.sleep(0.5)
"""


def holder(kind: str, path: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, kind, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd="/")
    assert proc.stdout.readline() == "held\n"
    return proc


def bare_flock(lock: Path, wait: bool = False):
    """open + flock + (the caller) close: what every flock-based lock costs at least."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return lambda: os.close(fd)


def take_filelock(cls, path: Path, wait: float):
    """Acquire a new ``cls`` (FileLock, SoftFileLock) on ``path``, as one store open would."""
    lock = cls(path, timeout=wait)
    lock.acquire()
    return lock.release


# Takes a lock as a contender does (``take``: Python code, the lock file in ``path``), forks a child
# that sleeps, prints the child's pid and waits to be killed.
FORKER = """
import os, sys, time
path = sys.argv[1]
{take}
child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
print(child, flush=True)
time.sleep(60)
"""


class Contender:
    """One lock: ``take(wait_s)`` returns its release; ``kind`` says which holder contends with it;
    ``lock`` is its lock file; ``code`` takes it in another process (``path``: the lock file),
    from the source tree ``tree`` if given."""

    def __init__(self, name: str, kind: str, lock: Path, take, code: str = "", tree: Path | None = None):
        self.name, self.kind, self.lock, self.take, self.code, self.tree = name, kind, lock, take, code, tree


def contenders(tmp: Path, before, store_of) -> list[Contender]:
    """The locks, each on the lock file of the store ``store_of(short name)`` (one shared file
    when ``store_of`` gives one store); SoftFileLock always on its own file (its marker is not a
    flock)."""

    def lock_of(name: str) -> Path:
        store = store_of(name)
        return store.with_name(store.name + ".lock")

    out = [
        Contender("dftpost.lock (filelock.FileLock)", "flock", lock_of("dftpost"),
                  lambda wait: hold_writer_lock(store_of("dftpost"), wait).release,
                  "from pathlib import Path\nfrom dftpost.lock import hold_writer_lock\n"
                  "lock = hold_writer_lock(Path(path.removesuffix('.lock')))"),
        Contender("filelock.FileLock (defaults)", "flock", lock_of("filelock"),
                  lambda wait: take_filelock(filelock.FileLock, lock_of("filelock"), wait),
                  "import filelock\nlock = filelock.FileLock(path, timeout=0)\nlock.acquire()"),
        Contender("filelock.SoftFileLock", "soft", tmp / "soft.lock",
                  lambda wait: take_filelock(filelock.SoftFileLock, tmp / "soft.lock", wait),
                  "import filelock\nlock = filelock.SoftFileLock(path, timeout=0)\nlock.acquire()"),
        Contender("fcntl.flock (bare)", "flock", lock_of("bare"), lambda wait: bare_flock(lock_of("bare"), wait > 0),
                  "import fcntl\nfd = os.open(path, os.O_RDWR | os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)"),
    ]
    if before is not None:
        def take_before(wait: float):
            fd = before._lock(store_of("before"))  # takes no wait: ResultStore polled
            return lambda: os.close(fd)

        out.append(Contender("dftpost before (hand-written flock)", "flock", lock_of("before"), take_before,
                             "from pathlib import Path\nfrom dftpost.store import _lock\n"
                             "fd = _lock(Path(path.removesuffix('.lock')))", Path(before.__file__).parents[1]))
    return out


def cycles(take, n: int = CYCLES):
    def run():
        for _ in range(n):
            take(0)()
    return run


def per_cycle(result: dict, n: int = CYCLES) -> dict:
    for row in result["contenders"].values():
        for key in ("min_s", "median_s"):
            row[key] /= n
        row["times_s"] = [t / n for t in row["times_s"]]
    return result


def refused(c: Contender, store_error: tuple) -> str:
    """Try once, expecting the refusal; return its message."""
    try:
        c.take(0)()
    except (filelock.Timeout, BlockingIOError, *store_error) as error:
        return str(error)
    raise AssertionError(f"{c.name}: taken while another process holds it")


def handoff(c: Contender, delay_s: float, take=None) -> float:
    """Seconds from the holder's release to ``take`` (default ``c.take(WAIT_S)``) returning."""
    proc = holder(c.kind, c.lock)
    try:
        threading.Timer(delay_s, lambda: (proc.stdin.write("go\n"), proc.stdin.flush())).start()
        release = (take or (lambda: c.take(WAIT_S)))()
        t_held = time.monotonic()
        t_release = float(proc.stdout.readline())
        release()
    finally:
        proc.kill()
        proc.communicate()
    return t_held - t_release


def features(c: Contender, store_error: tuple) -> dict:
    """What the contender does with a killed holder, a live one, a second taker in this process,
    and what it leaves on disk."""
    row = {}
    proc = holder(c.kind, c.lock)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        c.take(0)()
        row["free after the holder was killed (SIGKILL)"] = True
    except (filelock.Timeout, BlockingIOError, *store_error):
        row["free after the holder was killed (SIGKILL)"] = False
    env = dict(os.environ, PYTHONPATH=str(c.tree)) if c.tree is not None else None
    proc = subprocess.Popen([sys.executable, "-c", FORKER.format(take=c.code), str(c.lock)], stdout=subprocess.PIPE,
                            text=True, cwd="/", env=env)
    child = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        c.take(0)()
        row["free after the holder was killed, a child it forked still running"] = True
    except (filelock.Timeout, BlockingIOError, *store_error):
        row["free after the holder was killed, a child it forked still running"] = False
    finally:
        os.kill(child, signal.SIGKILL)
    proc = holder(c.kind, c.lock)
    try:
        message = refused(c, store_error)
        row["error names the holder (pid)"] = f"pid {proc.pid}" in message or f"{proc.pid}" in message
        row["error"] = message
    finally:
        proc.stdin.write("go\n")
        proc.stdin.flush()
        proc.stdout.readline()
        proc.kill()
        proc.communicate()
    release = c.take(0)
    try:
        c.take(0)()
        row["second holder in this process refused"] = False
    except (filelock.Timeout, BlockingIOError, *store_error):
        row["second holder in this process refused"] = True
    release()
    row["lock file after release"] = (repr(c.lock.read_text()[:40]) if c.lock.exists() else "removed")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--handoffs", type=int, default=9, help="hand-off turns")
    parser.add_argument("--compare", type=Path, help="another source tree of dftpost, timed in the same turns")
    args = parser.parse_args()
    before = None
    if args.compare is not None:
        before = importlib.import_module(f"{load_tree(args.compare.resolve()).__name__}.store")
    store_errors: tuple[type, ...] = (StoreLockedError,) + ((before.StoreLockedError,) if before else ())
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        ResultStore(tmp / "dftpost.h5").close()
        ResultStore(tmp / "before.h5").close()
        locks = contenders(tmp, before, lambda name: tmp / f"{name}.h5")

        def open_close(store_class, path):
            return lambda wait: store_class(path, wait_s=wait).close

        stores = [Contender("ResultStore open + close", "flock", tmp / "dftpost.h5.lock",
                            open_close(ResultStore, tmp / "dftpost.h5"))]
        if before is not None:
            stores.append(Contender("ResultStore open + close (before)", "flock", tmp / "before.h5.lock",
                                    open_close(before.ResultStore, tmp / "before.h5")))

        print("acquire + release, uncontended", flush=True)
        free = per_cycle(interleaved({c.name: cycles(c.take) for c in locks + stores}, args.repeats,
                                     reference=locks[0].name))
        print_table(f"acquire + release, per cycle ({CYCLES} a turn; ratios to dftpost's lock)", free)

        print("refused attempts while another process holds the lock", flush=True)
        holders = {kind: holder(kind, path) for kind, path in (("flock", tmp / "shared.h5.lock"), ("soft", tmp / "soft.lock"))}
        try:
            # every flock contender asks for the one file the flock holder holds
            shared = contenders(tmp, before, lambda name: tmp / "shared.h5")

            def refusals(c):
                return lambda: [refused(c, store_errors) for _ in range(CYCLES)]

            denied = per_cycle(interleaved({c.name: refusals(c) for c in shared}, args.repeats,
                                           reference=locks[0].name))
            print_table(f"refused attempt, per attempt ({CYCLES} a turn)", denied)
        finally:
            for proc in holders.values():
                proc.kill()
                proc.communicate()

        print("hand-off to a waiting writer", flush=True)
        # dftpost before waits in ResultStore (below), not in its lock
        waiters = {c.name: (c, None) for c in locks if not c.name.startswith("dftpost before")}
        for c in stores:
            waiters[c.name.replace("open + close", "waiting")] = (c, (lambda c=c: c.take(WAIT_S)))
        rng = random.Random(1)
        latencies: dict[str, list[float]] = {name: [] for name in waiters}
        load_before = os.getloadavg()[0]
        for turn in range(args.handoffs):
            delay = rng.uniform(0.2, 1.2)
            for name, (c, take) in waiters.items():
                latencies[name].append(handoff(c, delay, take))
            print(f"  turn {turn + 1}: delay {delay:.2f} s", flush=True)
        load_after = os.getloadavg()[0]
        ref = statistics.median(latencies[locks[0].name])
        hand = {"repeats": args.handoffs, "load_1min_before": load_before, "load_1min_after": load_after,
                "contenders": {name: {"times_s": ts, "min_s": min(ts), "median_s": statistics.median(ts),
                                      "ratio_min": min(ts) / min(latencies[locks[0].name]),
                                      "ratio_median": statistics.median(ts) / ref} for name, ts in latencies.items()}}
        print_table("hand-off: release → the waiter holds it (ratios to dftpost's lock)", hand)

        print("features", flush=True)
        feats = {c.name: features(c, store_errors) for c in locks}
        for name, row in feats.items():
            print(f"  {name}")
            for key, value in row.items():
                print(f"    {key}: {value}")

    lock_s = free["contenders"][locks[0].name]["median_s"]
    store_s = free["contenders"]["ResultStore open + close"]["median_s"]
    handoff_s = hand["contenders"]["ResultStore waiting"]["median_s"]
    goals = {
        "lock share of a store's open + close": {"value": lock_s / store_s, "goal": f"< {GOAL_SHARE}",
                                                 "met": lock_s / store_s < GOAL_SHARE},
        "hand-off to a waiting ResultStore, median (s)": {"value": handoff_s, "goal": f"< {GOAL_HANDOFF_S}",
                                                          "met": handoff_s < GOAL_HANDOFF_S},
        "features of dftpost's lock": {"met": all(v for k, v in feats[locks[0].name].items()
                                                  if k not in ("error", "lock file after release"))},
    }
    for name, goal in goals.items():
        print(f"  goal {name}: {goal}")
    payload = {"uncontended": free, "refused": denied, "handoff": hand, "features": feats, "goals": goals,
               "machine": machine(["filelock", "h5py"])}
    print("written", write_json("lock.json", payload))


if __name__ == "__main__":
    main()
