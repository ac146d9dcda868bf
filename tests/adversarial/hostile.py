"""What the adversarial tests share: the installed command line run as a user runs it, the
promise of one error line, and the runs a results file holds.

Kept out of conftest.py so that test modules import it by name (``from hostile import ...``).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from conftest import FIXTURES

CP2K_RUNS = FIXTURES / "cp2k"
FRAMES = CP2K_RUNS / "water4_frames"  # four CP2K runs that analyse without error
ONE_RUN = FRAMES / "frame_0"

#: Seconds a command may take on a small input before the test calls it a hang.
TIMEOUT_S = 60


def dftpost(*args, cwd: Path, fsize: int | None = None, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run the installed ``dftpost`` command line with ``args`` in ``cwd``; ``fsize`` sets the
    file-size limit of ``ulimit -f`` (bytes). A command that hangs fails the test (TimeoutExpired)."""
    def limit():  # Python ignores SIGXFSZ, so writes beyond the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-c", "from dftpost.cli.main import app; app()", *map(_arg, args)],
                          capture_output=True, text=True, errors="backslashreplace", cwd=cwd,
                          preexec_fn=limit if fsize else None, timeout=timeout)


def _arg(value) -> str | bytes:
    return bytes(value) if isinstance(value, (bytes, bytearray)) else str(value)


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr[-3000:]


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """Assert the promise for bad input: exit 1, no traceback, exactly one line on stderr
    ("error: ..."), holding each of ``words``; return that line."""
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if "already stored" not in line]  # the skip note
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def failed_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The per-run failure lines of a ``gap`` batch (exit 1, no traceback, nothing else on stderr
    but the skip note)."""
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if "already stored" not in line]
    assert all(line.startswith("failed: ") for line in lines), result.stderr
    return lines


def stored_runs(out: Path, table: str = "gap") -> Counter:
    """How many rows each run has in ``out`` (status "ok" or "error" alike), read as ``summary`` reads."""
    from dftpost.store import read_table

    data = read_table(out, table)
    return Counter(zip(data["run"].tolist(), data["status"].tolist()))


def copy_runs(folder: Path, names: list[str | bytes], source: Path = ONE_RUN) -> list[Path]:
    """Copies of a good run under ``folder``, one per name (bytes for names that are not UTF-8)."""
    made = []
    for name in names:
        target = Path(folder) / os.fsdecode(name)
        shutil.copytree(source, target)
        made.append(target)
    return made
