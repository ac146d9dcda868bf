"""The public API: ``import dftpost`` and the names of ``dftpost.__all__``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import CP2K_FIXTURE, REPO

import dftpost


def test_every_public_name_resolves_to_what_its_module_defines():
    for name in dftpost.__all__:
        value = getattr(dftpost, name)
        if name != "__version__":
            module, attribute = dftpost._EXPORTS[name]
            assert value is getattr(__import__(module, fromlist=[attribute]), attribute)
    assert set(dir(dftpost)) >= set(dftpost.__all__)
    with pytest.raises(AttributeError, match="no attribute 'read_everything'"):
        dftpost.read_everything  # noqa: B018


def test_import_dftpost_is_light(tmp_path):
    """The names are imported on first use: ``import dftpost`` loads no ASE, SciPy or h5py."""
    probe = "import sys, dftpost; print(sorted(m for m in ('ase', 'scipy', 'h5py', 'matplotlib') if m in sys.modules))"
    # run away from the checkout, whose dftpost/ would shadow the installed package and its cli
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert done.stdout.strip() == "[]"


def test_the_command_line_starts_without_the_heavy_libraries(tmp_path):
    """``dftpost --help`` (and every command's start) loads no SciPy, ase.io, h5py or Matplotlib:
    each command imports what it uses."""
    probe = ("import sys, dftpost.cli.main; "
             "print(sorted(m for m in ('scipy', 'ase.io', 'h5py', 'matplotlib', 'dftpost.batch') if m in sys.modules))")
    # run away from the checkout, whose dftpost/ would shadow the installed package and its cli
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert done.stdout.strip() == "[]"


def test_a_notebook_session_reads_a_run_and_its_band_edges():
    run = dftpost.read_run(CP2K_FIXTURE / "nofield")
    assert isinstance(run, dftpost.Run) and run.code == "cp2k" and len(run.atoms) == 12
    pdos = dftpost.read_pdos(*sorted((CP2K_FIXTURE / "nofield").glob("*.pdos")))
    assert isinstance(pdos, dftpost.ProjectedDos)
    # the same files through the run and through read_pdos: the same DoS
    assert np.array_equal(pdos.eigenvalues_eV, run.pdos.eigenvalues_eV)
    assert np.array_equal(pdos.values, run.pdos.values)
    gap = dftpost.water_gap(run, dftpost.BandEdgeParameters())
    assert gap.edges.vbm_eV < gap.edges.cbm_eV
    # the vacuum levels come with it: the potential cube of the run is read for them
    assert np.isfinite(gap.vacuum.upper_eV) and np.isfinite(gap.vacuum.lower_eV)
    assert "water4-v_hartree-1_0.cube" in gap.vacuum.source
    frames = list(dftpost.read_trajectory(CP2K_FIXTURE / "nofield" / "water4.xyz"))
    assert len(frames) == 1 and len(frames[0][1]) == 12


def test_read_pdos_names_what_it_cannot_read(tmp_path):
    stray = tmp_path / "notes.dat"
    stray.write_text("1 2 3\n")
    with pytest.raises(dftpost.DftpostError, match="notes.dat: not a projected-DoS file name"):
        dftpost.read_pdos(stray)
    with pytest.raises(dftpost.DftpostError, match="no files given"):
        dftpost.read_pdos()
    cp2k_file = next((CP2K_FIXTURE / "nofield").glob("*-k1-1.pdos"))
    aims_file = tmp_path / "O_l_proj_dos.dat"
    aims_file.write_text("# x\n")
    with pytest.raises(dftpost.DftpostError, match="mix CP2K and FHI-aims"):
        dftpost.read_pdos(cp2k_file, aims_file)


def test_every_package_folder_is_installed_by_a_regular_install():
    """A folder of dftpost/ with an __init__.py that pyproject's package list leaves out is missing
    from a regular (non-editable) install, while an editable install hides it."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "dftpost").rglob("__init__.py")}
    assert folders <= listed, f"add {sorted(folders - listed)} to [tool.setuptools] packages"
    assert config["package-dir"]["dftpost.cli"] == "cli" and "dftpost.cli" in listed
