"""Planar and macroscopic averages of grids, and the response to an applied field (METHODS §5).

With and without a homogeneous field E along the surface normal, the planar-averaged physical
potential and electron density of one frame give ΔV(z) = ⟨V_E⟩ − ⟨V_0⟩ and Δρ(z) = ⟨ρ_E⟩ − ⟨ρ_0⟩.
In vacuum the slope of ΔV is −E (the applied field); in a metal it is flat; an insulating water
layer screens it partly. Potentials are in V, densities in e/Å³ (electrons counted positive),
heights in Å, fields in V/Å (E = −dφ/dz), dipoles in e·Å.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DftpostError
from ..grid import Grid
from ..units import DIPOLE_SHEET_V_A_PER_E
from .geometry import area_normal_to

#: |E_water| / |E_vacuum| below which the water screens like a metal (a choice of dftpost: water's
#: electronic screening leaves more than half of the field; a metal leaves none).
METALLIC_RATIO = 0.1


def plane_spacing_A(grid: Grid, axis: int) -> float:
    """Distance (Å) between neighbouring grid planes normal to lattice direction ``axis``."""
    return float(abs(np.dot(grid.voxel_A[axis], _unit_normal(grid, axis))))


def planar_average(grid: Grid, axis: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Heights of the grid planes along ``axis`` (Å, measured along the plane normal from the
    cell origin) and the average of ``grid.values`` over each plane (no copy of the grid)."""
    others = tuple(i for i in range(3) if i != axis)
    profile = grid.values.mean(axis=others)
    spacing = plane_spacing_A(grid, axis)
    offset = float(np.dot(grid.origin_A, _unit_normal(grid, axis)))
    return offset + spacing * np.arange(profile.size), profile


def macroscopic_average(profile: np.ndarray, spacing_A: float, window_A: float) -> np.ndarray:
    """Periodic running average of a planar profile over a window of ``window_A`` (Å), by FFT
    convolution with a box of that width (MacroDensity's and cp2kdata's definition; the window is
    rounded to a whole number of grid planes, at least one)."""
    n = profile.size
    width = max(1, int(round(window_A / spacing_A)))
    if width >= n:
        return np.full(n, profile.mean())
    kernel = np.zeros(n)
    kernel[:width] = 1.0 / width
    kernel = np.roll(kernel, -(width // 2))  # centre the box on each plane
    from scipy import fft

    return fft.irfft(fft.rfft(profile) * fft.rfft(kernel), n)


def check_same_frame(a: Grid, b: Grid) -> None:
    """Raise :class:`DftpostError` naming the two files and what differs, unless both grids share
    shape, voxel vectors, origin and atoms (positions within 1e-3 Å)."""
    where = f"{a.source} vs {b.source}"
    if a.shape != b.shape:
        raise DftpostError(None, f"{where}: grid shapes differ ({a.shape} vs {b.shape})")
    if not np.allclose(a.voxel_A, b.voxel_A, atol=1e-6):
        raise DftpostError(None, f"{where}: voxel vectors differ")
    if not np.allclose(a.origin_A, b.origin_A, atol=1e-4):
        raise DftpostError(None, f"{where}: origins differ ({a.origin_A} vs {b.origin_A} Å)")
    if len(a.atoms) != len(b.atoms) or not np.array_equal(a.atoms.numbers, b.atoms.numbers):
        raise DftpostError(None, f"{where}: the atoms differ (not the same frame)")
    if not np.allclose(a.atoms.positions, b.atoms.positions, atol=1e-3):
        shift = np.abs(a.atoms.positions - b.atoms.positions).max()
        raise DftpostError(None, f"{where}: atom positions differ by up to {shift:.3g} Å (not the same frame)")


@dataclass(frozen=True)
class Region:
    """A slab of heights [low_A, high_A] and the field fitted in it (V/Å, E = −dΔV/dz)."""

    name: str
    low_A: float
    high_A: float
    field_V_per_A: float = float("nan")
    n_points: int = 0


@dataclass(frozen=True, eq=False)
class FieldResponse:
    """Difference profiles of a field/no-field pair and what follows from them.

    ``delta_v_V`` includes the applied potential (added when the program's cube lacks it, see
    ``applied_added``); ``delta_v_hartree_V`` is the electrons' response alone. ``delta_rho`` is
    the electron density difference (e/Å³). ``screening`` = mean vacuum field / water field.
    """

    axis: int
    z_A: np.ndarray
    delta_v_V: np.ndarray
    delta_v_hartree_V: np.ndarray
    delta_rho_e_per_A3: np.ndarray
    macroscopic_delta_v_V: np.ndarray
    window_A: float
    applied_field_V_per_A: float
    applied_added: bool
    applied_detected: str
    regions: tuple[Region, ...]
    induced_dipole_e_A: float
    potential_step_V: float
    dipole_step_V: float
    area_A2: float
    notes: tuple[str, ...] = field(default=())

    def region(self, name: str) -> Region | None:
        return next((r for r in self.regions if r.name == name), None)

    @property
    def field_vacuum_V_per_A(self) -> tuple[float, float]:
        low, high = self.region("vacuum_below"), self.region("vacuum_above")
        return (low.field_V_per_A if low else float("nan"), high.field_V_per_A if high else float("nan"))

    @property
    def field_water_V_per_A(self) -> float:
        water = self.region("water")
        return water.field_V_per_A if water else float("nan")

    @property
    def screening(self) -> float:
        vacuum = np.nanmean(self.field_vacuum_V_per_A)
        return float(vacuum / self.field_water_V_per_A) if self.field_water_V_per_A else float("inf")

    @property
    def metallic_water(self) -> bool:
        """The water keeps less than :data:`METALLIC_RATIO` of the vacuum field."""
        vacuum = np.nanmean(self.field_vacuum_V_per_A)
        return bool(abs(self.field_water_V_per_A) < METALLIC_RATIO * abs(vacuum))


def _fit_field(z: np.ndarray, v: np.ndarray, low: float, high: float) -> tuple[float, int]:
    inside = (z >= low) & (z <= high)
    if inside.sum() < 3:
        return float("nan"), int(inside.sum())
    slope = np.polyfit(z[inside], v[inside], 1)[0]
    return float(-slope), int(inside.sum())


def field_response(
    potential_0: Grid,
    potential_e: Grid,
    density_0: Grid,
    density_e: Grid,
    applied_field_V_per_A: float,
    axis: int = 2,
    include_applied: str = "auto",
    margin_A: float = 3.0,
    edge_margin_A: float = 1.0,
    window_A: float = 3.0,
    water_margin_A: float = 1.0,
) -> FieldResponse:
    """ΔV(z), Δρ(z), the fields of each region, the screening and the induced dipole.

    ``applied_field_V_per_A`` is the field component along ``axis``. ``include_applied``:
    ``"yes"`` adds the applied potential −E·z to ΔV, ``"no"`` does not, ``"auto"`` adds it when
    the vacuum of the raw ΔV is flat (the cube lacks the field, as CP2K 2023.1's V_HARTREE does)
    and not when its vacuum slope already is −E. Regions: atoms that are not H or O form the
    metal, H and O the water (shrunk by ``water_margin_A`` at both ends, so the surface dipoles
    stay out of the fit); vacuum below and above the atoms, ``margin_A`` away from them and
    ``edge_margin_A`` away from the cell boundary, where the dipole correction and the sawtooth
    of the applied potential jump.
    """
    check_same_frame(potential_0, potential_e)
    check_same_frame(density_0, density_e)
    if density_0.shape != potential_0.shape:
        raise DftpostError(None, f"{potential_0.source} vs {density_0.source}: potential and density grids differ")
    z, v0 = planar_average(potential_0, axis)
    _, ve = planar_average(potential_e, axis)
    _, r0 = planar_average(density_0, axis)
    _, re = planar_average(density_e, axis)
    spacing = plane_spacing_A(potential_0, axis)
    length = spacing * z.size
    atoms = potential_0.atoms
    height = np.mod(atoms.positions @ _unit_normal(potential_0, axis) - z[0], length) + z[0]
    numbers = atoms.numbers
    water = (numbers == 1) | (numbers == 8)
    if not water.any():
        raise DftpostError(potential_0.source, "no water (H, O) atoms in the cube")
    dv_h = ve - v0
    drho = re - r0
    notes: list[str] = []
    low_atoms, high_atoms = float(height.min()), float(height.max())
    vac_below = (z[0] + edge_margin_A, low_atoms - margin_A)
    vac_above = (high_atoms + margin_A, z[0] + length - spacing - edge_margin_A)
    raw_below, _ = _fit_field(z, dv_h, *vac_below)
    raw_above, _ = _fit_field(z, dv_h, *vac_above)
    raw_vacuum = np.nanmean([raw_below, raw_above])
    applied_potential = -applied_field_V_per_A * (z - z[0])
    if include_applied == "auto":
        if applied_field_V_per_A == 0:
            add, detected = False, "no applied field"
        elif abs(raw_vacuum) < 0.2 * abs(applied_field_V_per_A):
            add, detected = True, "the cube lacks the applied potential (flat vacuum): added −E·z"
        elif abs(raw_vacuum - applied_field_V_per_A) < 0.2 * abs(applied_field_V_per_A):
            add, detected = False, "the cube already holds the applied potential (vacuum slope −E)"
        else:
            raise DftpostError(
                potential_e.source,
                f"cannot tell whether the potential holds the applied field: raw vacuum field {raw_vacuum:.4g} V/Å "
                f"for an applied {applied_field_V_per_A:.4g} V/Å; give include_applied",
            )
    elif include_applied in ("yes", "no"):
        add, detected = include_applied == "yes", f"set by the user ({include_applied})"
    else:
        raise DftpostError(None, f"include_applied must be auto, yes or no, not {include_applied!r}")
    dv = dv_h + applied_potential if add else dv_h
    dv_h_only = dv_h if add else dv_h - applied_potential
    regions = []
    for name, (low, high) in (("vacuum_below", vac_below), ("vacuum_above", vac_above)):
        if high - low < 1.0:
            notes.append(f"{name}: less than 1 Å of vacuum beyond the margins, no fit")
            continue
        e, n = _fit_field(z, dv, low, high)
        regions.append(Region(name, low, high, e, n))
    wz = height[water]
    low, high = float(wz.min() + water_margin_A), float(wz.max() - water_margin_A)
    e, n = _fit_field(z, dv, low, high)
    regions.append(Region("water", low, high, e, n))
    if (~water).any():
        mz = height[~water]
        e, n = _fit_field(z, dv, mz.min(), mz.max())
        regions.append(Region("metal", float(mz.min()), float(mz.max()), e, n))
    area = area_normal_to(potential_0.cell_A, axis)
    # induced dipole of the electrons (charge −Δρ) with heights measured from the vacuum
    centre = 0.5 * (vac_below[0] + vac_below[1])
    zz = np.mod(z - centre, length)
    induced = float(-(drho * zz).sum() * spacing * area)
    step = float(np.mean(dv_h_only[(z >= vac_above[0]) & (z <= vac_above[1])]) - np.mean(dv_h_only[(z >= vac_below[0]) & (z <= vac_below[1])]))
    return FieldResponse(
        axis=axis,
        z_A=z,
        delta_v_V=dv,
        delta_v_hartree_V=dv_h_only,
        delta_rho_e_per_A3=drho,
        macroscopic_delta_v_V=macroscopic_average(dv_h_only, spacing, window_A) + (dv - dv_h_only),
        window_A=window_A,
        applied_field_V_per_A=applied_field_V_per_A,
        applied_added=add,
        applied_detected=detected,
        regions=tuple(regions),
        induced_dipole_e_A=induced,
        potential_step_V=step,
        dipole_step_V=induced * DIPOLE_SHEET_V_A_PER_E / area,
        area_A2=area,
        notes=tuple(notes),
    )


def _unit_normal(grid: Grid, axis: int) -> np.ndarray:
    """Unit vector normal to the grid planes of lattice direction ``axis``."""
    normal = np.cross(*[grid.voxel_A[i] for i in range(3) if i != axis])
    return normal / np.linalg.norm(normal)
