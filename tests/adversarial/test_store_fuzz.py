"""Hypothesis-driven fuzz of the results store: random sequences of appends, reopenings, writers
killed (SIGKILL) at random points, and resumes that append what is not stored yet.

After every sequence each row whose append returned is read back exactly once with its own
values, a row whose writer was killed mid-append is there at most once, and nothing else is.
Bounded (a few short sequences, each killing at most two writers) to stay within seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_writer import SCHEMA, make_row

from dftpost.errors import MissingInputError
from dftpost.store import ResultStore, read_arrays, read_table

WRITER = Path(__file__).with_name("store_writer.py")

append = st.tuples(st.just("append"), st.integers(1, 3))
# rows to write, rows reported before the kill, then ms more: a few (inside the next append) or
# hundreds (with none reported: while the writer starts, opens or creates the file)
kill = st.tuples(st.just("kill"), st.integers(1, 4), st.integers(0, 4), st.integers(0, 25) | st.integers(200, 700))
step = st.one_of(append, st.just(("reopen",)), st.just(("resume",)), kill)
sequences = st.lists(step, min_size=1, max_size=6).filter(lambda s: sum(op[0] == "kill" for op in s) <= 2)


class Model:
    """What the store must hold: rows surely committed, rows that may be (their writer was killed)."""

    def __init__(self, out: Path):
        self.out, self.next, self.committed, self.maybe = out, 0, set(), set()

    def planned(self, n: int) -> list[int]:
        self.next += n
        return list(range(self.next - n, self.next))

    def append(self, n: int) -> None:
        numbers = self.planned(n)
        with ResultStore(self.out) as store:
            store.append(SCHEMA, [make_row(k) for k in numbers])
        self.committed.update(numbers)

    def kill(self, n: int, seen: int, delay_ms: int) -> None:
        """A writer of ``n`` rows, killed once it reported ``seen`` of them (and ``delay_ms`` more)."""
        numbers = self.planned(n)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WRITER.parent), *sys.path])}
        with subprocess.Popen([sys.executable, str(WRITER), str(self.out), str(numbers[0]), str(n)],
                              stdout=subprocess.PIPE, text=True, env=env) as proc:
            try:
                reported = [int(proc.stdout.readline()) for _ in range(min(seen, n))]
                time.sleep(delay_ms / 1000)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
        self.committed.update(reported)
        self.maybe.update(set(numbers) - set(reported))

    def resume(self) -> None:
        """Append each row that may be missing unless it is stored (as ``gap`` skips stored runs)."""
        with ResultStore(self.out) as store:
            stored = store.stored_keys(SCHEMA.name)
            missing = [k for k in sorted(self.maybe) if (make_row(k)["run"], make_row(k)["input_hash"]) not in stored]
            store.append(SCHEMA, [make_row(k) for k in missing])
        self.committed |= self.maybe
        self.maybe = set()

    def stored(self) -> dict:
        """The table as a reader opening the file anew reads it (empty without file or table)."""
        try:
            return read_table(self.out, SCHEMA.name)
        except MissingInputError:  # not made yet (a writer killed before its first append)
            return {"value": np.zeros(0)}

    def check(self) -> None:
        table = self.stored()
        numbers = [int(v) for v in table["value"]]
        counts = Counter(numbers)
        assert all(counts[k] == 1 for k in self.committed), counts
        assert set(counts) <= self.committed | self.maybe and max(counts.values(), default=1) == 1, counts
        for i, k in enumerate(numbers):
            assert table["run"][i] == make_row(k)["run"] and table["input_hash"][i] == make_row(k)["input_hash"]
        if numbers:  # the per-row arrays of the last row, the one a kill is likeliest to have hit
            np.testing.assert_array_equal(read_arrays(self.out, SCHEMA.name, len(numbers) - 1)["series"],
                                          make_row(numbers[-1])["series"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequences)
def test_every_committed_row_is_read_back_exactly_once(tmp_path_factory, sequence):
    model = Model(tmp_path_factory.mktemp("fuzz") / "results.h5")
    for op, *args in sequence:
        if op == "append":
            model.append(*args)
        elif op == "kill":
            model.kill(*args)
        elif op == "resume":
            model.resume()
        model.check()  # "reopen" is this check alone: a reader opening the file anew
    model.resume()
    model.check()
    assert not model.maybe
    assert sorted(int(v) for v in model.stored()["value"]) == list(range(model.next))
