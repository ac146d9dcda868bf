"""Shared test fixtures: where the real program outputs are, and small helpers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
CP2K_FIXTURE = FIXTURES / "cp2k" / "water4_slab"
REALDATA = Path(os.environ.get("DFTPOST_REALDATA", REPO.parent / "shared" / "realdata"))


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The folder of real FHI-aims and CP2K outputs beside the repository (skip if absent)."""
    if not REALDATA.is_dir():
        pytest.skip(f"real output files not found at {REALDATA}")
    return REALDATA


def realdata_files(pattern: str) -> list[Path]:
    """Files below the real-data folder matching a glob pattern (empty when it is absent)."""
    return sorted(REALDATA.glob(pattern)) if REALDATA.is_dir() else []


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REALDATA)) if REALDATA in p.parents else p.name for p in paths]


@pytest.fixture
def copy_dir(tmp_path):
    """Copy a directory into tmp_path (to damage files without touching the originals)."""

    def _copy(src: Path, name: str | None = None) -> Path:
        dst = tmp_path / (name or src.name)
        shutil.copytree(src, dst)
        for p in dst.rglob("*"):
            p.chmod(0o644 if p.is_file() else 0o755)
        return dst

    return _copy
