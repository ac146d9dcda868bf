"""Lint and types, as CI runs them (the versions pinned in the test extra): ruff with the rules of
pyproject.toml over the whole tree, mypy over the package and its command line (cli/)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow  # mypy takes about a minute on two cores


def test_ruff_is_clean():
    pytest.importorskip("ruff", reason="ruff is not installed (pip install '.[test]')")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], capture_output=True, text=True,
                          cwd=REPO)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_mypy_is_clean():
    pytest.importorskip("mypy", reason="mypy is not installed (pip install '.[test]')")
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "dftpost", "cli"], capture_output=True,
                          text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
