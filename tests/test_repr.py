"""``print(run)``, ``print(pdos)``, ``print(grid)``: a few lines with shapes, units and a few numbers."""

from __future__ import annotations

from conftest import CP2K_FIXTURE

from dftpost.io.cube import read_cube
from dftpost.io.rundir import read_run


def test_reprs_are_short_and_name_what_matters():
    run = read_run(CP2K_FIXTURE / "field")
    grid = read_cube(run.cubes[1].path)
    water = run.pdos.summed(["list1"]).on_grid(sigma_eV=0.1)
    for obj, words in [
        (run, ["cp2k 2023.1", "12 (H8O4)", "6 × 6 × 18 Å", "-4.5555 eV", "32×32×96", "(0, 0, 0.1) V/Å"]),
        (run.pdos, ["eigenvalues", "92 states", "list3", "eV vs E_F"]),
        (water, ["grid", "1 projections (sum)"]),
        (grid, ["electrostatic_potential [V]", "32×32×96", "12 atoms", "values", "water4-v_hartree-1_0.cube"]),
    ]:
        text = repr(obj)
        assert len(text.splitlines()) <= 10 and len(text) < 1000, text
        assert "array(" not in text and "..." not in text
        for word in words:
            assert word in text, (word, text)
