"""Planar/macroscopic averages and the field response: real CP2K pairs, an analytic pair, errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from conftest import CP2K_FIXTURE, REALDATA
from scipy.special import erf

from dftpost.analysis.profiles import field_response, macroscopic_average, planar_average
from dftpost.batch import field_profile
from dftpost.errors import DftpostError
from dftpost.grid import Grid
from dftpost.units import EPSILON0_E_PER_V_A

PAIRS = [
    (REALDATA / "cp2k/water8_slab_field/run_a_nofield", REALDATA / "cp2k/water8_slab_field/run_b_periodic_efield"),
    (REALDATA / "cp2k/water8_slab_field/run_a_nofield", REALDATA / "cp2k/water8_slab_field/run_c_extpot_field"),
    (CP2K_FIXTURE / "nofield", CP2K_FIXTURE / "field"),
]


@pytest.mark.parametrize("no_field, with_field", PAIRS, ids=["periodic_efield", "extpot_field", "fixture"])
def test_real_cp2k_pairs(no_field, with_field):
    if not with_field.exists():
        pytest.skip("real data not available")
    result, row = field_profile(no_field, with_field)
    applied = row["applied_field_V_per_A"]
    assert applied == pytest.approx(0.1, rel=1e-6)
    assert result.applied_added  # CP2K's V_HARTREE lacks the applied potential
    for side in result.field_vacuum_V_per_A:
        assert side == pytest.approx(applied, rel=0.02)
    assert 0.5 * applied < result.field_water_V_per_A < 0.95 * applied  # partly screened
    assert result.screening > 1.05 and not result.metallic_water
    assert result.induced_dipole_e_A > 0  # electrons pushed against the field
    assert result.dipole_step_V == pytest.approx(result.potential_step_V, rel=0.05)


def test_both_field_methods_induce_the_same_dipole():
    if not PAIRS[0][1].exists():
        pytest.skip("real data not available")
    a, _ = field_profile(*PAIRS[0])
    b, _ = field_profile(*PAIRS[1])
    assert a.induced_dipole_e_A == pytest.approx(b.induced_dipole_e_A, rel=0.03)  # 0.0511 vs 0.0517


# ------------------------------------------------------------------------------ analytic pair
L, N, AREA = 30.0, 300, 36.0
Z = np.arange(N) * (L / N)
Z1, Z2, S, DENSITY = 14.0, 16.0, 0.3, 0.002  # electron sheets (e/Å²) at Z1 (+) and Z2 (−)


def sheet_potential(sigma: float, centre: float) -> np.ndarray:
    """Physical potential (V) of a Gaussian sheet of charge sigma (e/Å²), exact."""
    x = Z - centre
    f = x * erf(x / (math.sqrt(2) * S)) + S * math.sqrt(2 / math.pi) * np.exp(-(x**2) / (2 * S**2))
    return -sigma / (2 * EPSILON0_E_PER_V_A) * f


def gaussian(centre: float) -> np.ndarray:
    return np.exp(-((Z - centre) ** 2) / (2 * S**2)) / (S * math.sqrt(2 * math.pi))


def grid(profile: np.ndarray, quantity: str, name: str) -> Grid:
    atoms = Atoms("OH2OH2", positions=[[1, 1, 12.5], [1.8, 1, 13.1], [0.2, 1, 13.1], [4, 4, 16.9], [4.8, 4, 17.5], [3.2, 4, 17.5]])
    atoms.cell = [6, 6, L]
    values = np.broadcast_to(profile, (6, 6, N)).copy()
    return Grid(values, np.zeros(3), np.diag([1.0, 1.0, L / N]), atoms, quantity, "", source=Path(name))


def analytic_pair(field: float, cube_has_field: bool):
    v0 = 1.5 * np.sin(2 * np.pi * Z / L)  # anything periodic
    rho0 = 0.05 * np.exp(-((Z - 15) ** 2) / 4)
    delta_rho = DENSITY * (gaussian(Z1) - gaussian(Z2))  # electrons: more at Z1, fewer at Z2
    delta_v = sheet_potential(-DENSITY, Z1) + sheet_potential(+DENSITY, Z2)  # charge = −electrons
    ve = v0 + delta_v - (field * Z if cube_has_field else 0.0)
    return (
        grid(v0, "electrostatic_potential", "v0.cube"),
        grid(ve, "electrostatic_potential", "vE.cube"),
        grid(rho0, "electron_density", "rho0.cube"),
        grid(rho0 + delta_rho, "electron_density", "rhoE.cube"),
        delta_v,
    )


@pytest.mark.parametrize("cube_has_field", [False, True], ids=["cube-lacks-field", "cube-has-field"])
def test_analytic_pair(cube_has_field):
    field = 0.1
    v0, ve, r0, re, delta_v = analytic_pair(field, cube_has_field)
    result = field_response(v0, ve, r0, re, field, margin_A=3.0)
    assert result.applied_added is not cube_has_field
    below, above = result.field_vacuum_V_per_A
    assert below == pytest.approx(field, abs=1e-9) and above == pytest.approx(field, abs=1e-9)
    dipole = DENSITY * (Z2 - Z1) * AREA  # e·Å, exact
    assert result.induced_dipole_e_A == pytest.approx(dipole, rel=1e-6)
    assert result.potential_step_V == pytest.approx(DENSITY * (Z2 - Z1) / EPSILON0_E_PER_V_A, rel=1e-6)
    np.testing.assert_allclose(result.delta_v_hartree_V, delta_v, atol=1e-12)
    water = result.region("water")
    inside = (Z >= water.low_A) & (Z <= water.high_A)
    expected = -np.polyfit(Z[inside], (delta_v - field * Z)[inside], 1)[0]
    assert result.field_water_V_per_A == pytest.approx(expected, rel=1e-9)


def test_metal_like_response_is_flagged():
    """A perfect screen: the induced sheets cancel the field between them."""
    field = 0.1
    v0, ve, r0, re, _ = analytic_pair(field, False)
    sigma = field * EPSILON0_E_PER_V_A
    screen = sheet_potential(-sigma, 13.0) + sheet_potential(sigma, 18.0)
    ve = replace(ve, values=v0.values + np.broadcast_to(screen, v0.shape))
    result = field_response(v0, ve, r0, re, field, margin_A=3.0)
    assert abs(result.field_water_V_per_A) < 0.01 * field and result.metallic_water


def test_mismatched_grids_name_the_files():
    v0, ve, r0, re, _ = analytic_pair(0.1, False)
    coarse = Grid(ve.values[:, :, ::2], ve.origin_A, np.diag([1.0, 1.0, 2 * L / N]), ve.atoms, ve.quantity, "", Path("coarse.cube"))
    with pytest.raises(DftpostError, match=r"v0.cube vs coarse.cube: grid shapes differ"):
        field_response(v0, coarse, r0, re, 0.1)
    moved = ve.atoms.copy()
    moved.positions[0, 2] += 0.5
    with pytest.raises(DftpostError, match="not the same frame"):
        field_response(v0, replace(ve, atoms=moved), r0, re, 0.1)


def test_planar_and_macroscopic_averages():
    values = np.random.default_rng(0).random((4, 5, 6))
    g = Grid(values, np.array([0.0, 0.0, 2.0]), np.diag([0.5, 0.25, 0.2]), Atoms(), "unknown", "")
    z, profile = planar_average(g, axis=0)
    np.testing.assert_allclose(profile, values.mean(axis=(1, 2)))
    np.testing.assert_allclose(z, 0.5 * np.arange(4))
    z, profile = planar_average(g, axis=2)
    np.testing.assert_allclose(z, 2.0 + 0.2 * np.arange(6))
    wave = np.sin(2 * np.pi * np.arange(100) / 20)  # period 20 planes = 2 Å at 0.1 Å
    np.testing.assert_allclose(macroscopic_average(wave, 0.1, 2.0), 0.0, atol=1e-12)
    step = np.where(np.arange(100) < 50, 1.0, 0.0)
    assert macroscopic_average(step, 0.1, 1.0)[25] == pytest.approx(1.0)


def test_cli_json_and_plot(tmp_path):
    if not PAIRS[0][1].exists():
        pytest.skip("real data not available")
    script = Path(sys.executable).parent / "dftpost"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from dftpost.cli.main import app; app()"]
    figure = tmp_path / "fig2b.png"
    with tempfile.TemporaryDirectory() as elsewhere:
        done = subprocess.run(
            [*command, "field-profile", str(PAIRS[0][0]), str(PAIRS[0][1]), "--out", str(tmp_path / "r.h5"), "--json", "--plot", str(figure)],
            capture_output=True,
            text=True,
            cwd=elsewhere,
        )
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        for key in ("applied_field_V_per_A", "field_vacuum_V_per_A", "field_water_V_per_A", "screening", "metallic_water", "induced_dipole_e_A"):
            assert key in data
        assert len(data["field_vacuum_V_per_A"]) == 2 and data["metallic_water"] is False
        assert figure.stat().st_size > 20_000
        swapped = subprocess.run(
            [*command, "field-profile", str(PAIRS[0][1]), str(PAIRS[0][0]), "--out", str(tmp_path / "r.h5")],
            capture_output=True,
            text=True,
            cwd=elsewhere,
        )
        assert swapped.returncode == 1 and "the second run must have the field" in swapped.stderr
