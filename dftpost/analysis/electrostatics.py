"""Electrostatic potential of Gaussian charges in a periodic cell (METHODS §2, paper Fig. 3c).

Every atom i carries a spherical Gaussian charge q_i (e) of width σ (Å),

    ρ_i(r) = q_i (2πσ²)^(−3/2) exp(−|r − r_i|² / (2σ²)),

whose potential at a distance r is k_e q_i erf(r/(√2σ))/r, and k_e q_i √(2/π)/σ at its own
centre (k_e = 1/(4πε0) = 14.3996 V·Å/e). The potential of the periodic charge distribution with
the k = 0 Fourier term dropped (Ewald sum, tin-foil boundary; a charged cell gets a uniform
neutralising background) is evaluated at the centre of every atom — a point value, not an
average over the atom's own Gaussian:

    φ_i = k_e Σ_n Σ_j' q_j erf(|r_i − r_j + n|/(√2σ)) / |r_i − r_j + n|          (V)

over lattice vectors n; the primed sum leaves out the atom's own Gaussian (j = i, n = 0) unless
``self_term``, which adds exactly k_e q_i √(2/π)/σ to φ_i. With ``molecule_ids`` the other atoms
of the atom's molecule (their nearest image) are left out too: the intermolecular potential. σ = 0
means point charges (then without self term). ΔV = max − min of φ over the atoms. The planar
average of the same potential has an exact 1D route, :func:`planar_average_potential`.

Ewald splitting: screening Gaussians of width η ≥ σ split every term into a short-ranged part,
k_e q_j [erf(r/(√2σ)) − erf(r/(√2η))]/r, summed over the pairs closer than r_cut (a scipy
cKDTree on the atoms and their periodic images within r_cut of the cell: any cell shape, any
r_cut), and the smooth potential of the screening Gaussians,

    φ_rec(r) = (k_e/V) Σ_{k≠0} 4π exp(−k²η²/2)/k² Σ_j q_j exp(ik·(r − r_j)),

by smooth particle-mesh Ewald (Essmann et al., J. Chem. Phys. 103, 8577 (1995)): the charges are
spread on a K1×K2×K3 mesh along the cell vectors with cardinal B-splines of even order p, Fourier
transformed, multiplied by the influence function and the Euler-spline factor |b(m)|², transformed
back and interpolated to the atoms with the same splines: O(N p³ + K log K). ``method="ewald"``
sums φ_rec directly over the k vectors with |k| < k_cut instead (O(N N_k): small cells, and the
reference). When η = σ there is no short-ranged part at all.

Parameters from the tolerance. ``tolerance_V`` is the largest error wanted on any φ_i. The errors
are estimated as in Kolafa & Perram (Mol. Simul. 9, 351 (1992)), for the potential: the root mean
square over atoms for charges at random positions (N charges, Q2 = Σ q², V the volume), plus in
reciprocal space the error of each atom's own screening Gaussian, which does not average out:

    real space     δ² = 8 k_e² Q2 η/V · J(r_cut/η),          J(y) = ∫_y^∞ e^{−x²}/x² dx
    direct k sum   δ² = (8/π) k_e² Q2 η/V · J(k_cut η) + (2/π) k_e² (Q2/N)/η² · erfc²(k_cut η/√2)
    PME mesh       δ² = k_e² Q2 η/V · Σ_d R_p(t_d) + k_e² (Q2/N)/η² · (Σ_d S_p(t_d))²,  t_d = |a_d|/(K_d η)

(the first from erfc(x) ≤ e^{−x²}/(x√π)), with, for the mesh along each cell vector d,

    R_p(t) = 8 ∫_0^{π/t} F_2p(xt) E_2(x²)/x² dx + 4 ∫_{π/t}^∞ E_2(x²)/x² dx
    S_p(t) = (2/π) ∫_0^{π/t} F_p(xt) E_1(x²/2) dx + (1/π) ∫_{π/t}^∞ E_1(x²/2) dx,
    F_n(θ) = Σ_{l≠0} (θ/(θ + 2πl))^n:

the aliases of a plane wave interpolated with B-splines of order p on the mesh, relative to it
(squared, at both ends of a pair, for R; to first power for an atom's own S), and the modes beyond
the mesh. The estimated RMS is kept SAFETY·√(2 ln N) = 2√(2 ln N) times below the tolerance (half
of its square for real space, half for reciprocal space): the largest of N Gaussian errors is
about √(2 ln N) times their RMS, and the factor 2 covers structured systems (water on a lattice
gave up to 1.5 times the random-charge figure). Among screening widths η (σ itself and 0.25–5 Å),
orders p ∈ {4, 6, 8} and FFT-friendly meshes meeting these, the cheapest by a cost model is used.
Checked against converged sums (tests, ``benchmarks/bench_potential.py``): on random charges and
water boxes of 24–2,760 atoms, tolerances 10⁻³–10⁻⁶ V and σ = 0–1 Å, the largest error stayed
below 0.65 × tolerance.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from .. import defaults
from ..errors import DftpostError
from ..units import BOHR_A, HARTREE_EV
from .dipole import DEFAULT_Q_O
from .geometry import area_normal_to, cell_widths, check_periodic_cell, minimum_image_distance
from .molecules import DEFAULT_R_OH, assign_hydrogens

#: Coulomb constant 1/(4πε0) in V·Å/e (≈ 14.3996).
COULOMB_V_A_PER_E: float = HARTREE_EV * BOHR_A
#: Default largest error on the potential of an atom (V) and width of the Gaussian charges (Å)
#: (:mod:`dftpost.defaults`).
DEFAULT_TOLERANCE_V = defaults.TOLERANCE_V
DEFAULT_SIGMA_A = defaults.SIGMA_A
#: The estimated RMS error is kept SAFETY·√(2 ln N) times below the tolerance (module doc).
SAFETY = 2.0
#: B-spline orders tried by the mesh method (even: odd orders have a zero of b(m) at K/2).
ORDERS = (4, 6, 8)
#: Costs in seconds, measured on the benchmark machine (only their ratios matter): per real-space
#: pair, per atom when there is a real space (the images and their tree), per mesh point ×
#: log2(points), per spline point (atom × p³) and per atom × k vector of the direct sum.
COST_PAIR, COST_REAL_ATOM, COST_MESH, COST_SPLINE, COST_KVECTOR = 2.0e-7, 1.4e-6, 1.9e-9, 2.0e-8, 2.9e-8

_SQRT2 = np.sqrt(2.0)


@dataclass(frozen=True)
class EwaldParameters:
    """How the potential is summed. ``method`` is "pme" (``mesh`` K1×K2×K3 and B-spline ``order``)
    or "ewald" (direct k sum up to ``k_cut_per_A``, Å⁻¹); ``eta_A`` the width of the screening
    Gaussians and ``r_cut_A`` the real-space cut-off (0 when η = σ); ``estimated_error_V`` the RMS
    error estimate for random charges (module doc) and ``tolerance_V`` the target it came from."""

    method: str
    sigma_A: float
    eta_A: float
    r_cut_A: float
    mesh: tuple[int, int, int] | None
    order: int | None
    k_cut_per_A: float | None
    estimated_error_V: float
    tolerance_V: float


@dataclass(frozen=True, eq=False)
class PotentialResult:
    """The potential proxy of one water frame (METHODS §2): ``potential_V`` at every atom (V),
    ``delta_v_V`` = max − min over the O and H atoms (V), the conventions and the parameters."""

    potential_V: np.ndarray
    delta_v_V: float
    q_o_e: float
    sigma_A: float
    self_term: bool
    intermolecular: bool
    parameters: EwaldParameters


# ----------------------------------------------------------------------------- error estimates
def _tail_integral(y: np.ndarray) -> np.ndarray:
    """J(y) = ∫_y^∞ e^{−x²}/x² dx = e^{−y²}/y − √π erfc(y), for y > 0."""
    from scipy import special

    return np.exp(-(y**2)) * (1.0 / y - np.sqrt(np.pi) * special.erfcx(y))


def _mesh_error_terms(t: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """R_p(t) and S_p(t) of the module doc for mesh spacings t = h/η (1D array), by 64-point
    Gauss–Legendre quadrature (aliases |l| ≤ 3: the next add < 10⁻³ of the first)."""
    from scipy import special

    nodes, weights = np.polynomial.legendre.leggauss(64)
    t = np.asarray(t, dtype=float)[:, None]
    top = np.minimum(np.pi / t, 9.0)  # E_n(x²/2) ≈ e^{−x²/2}: nothing left beyond x = 9
    x = 0.5 * top * (nodes + 1.0)
    aliases = np.array([-3, -2, -1, 1, 2, 3])[:, None, None]
    power = ((x * t) / (x * t + 2 * np.pi * aliases)) ** order
    inside_r = 0.5 * top[:, 0] * (((power**2).sum(axis=0) * special.expn(2, x**2) / x**2) @ weights)
    inside_s = 0.5 * top[:, 0] * ((power.sum(axis=0) * special.expn(1, x**2 / 2)) @ weights)
    x = np.pi / t + 4.5 * (nodes + 1.0)  # [π/t, π/t + 9]
    beyond_r = 4.5 * ((special.expn(2, x**2) / x**2) @ weights)
    beyond_s = 4.5 * (special.expn(1, x**2 / 2) @ weights)
    return 8.0 * inside_r + 4.0 * beyond_r, (2.0 * inside_s + beyond_s) / np.pi


@functools.cache
def _mesh_error_table(order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spacings t = h/η from coarse to fine and R_p(t), S_p(t) on them."""
    t = np.geomspace(4.0, 0.01, 300)
    return (t, *_mesh_error_terms(t, order))


def _error_scales(eta, n: int, q2: float, volume: float):
    """k_e² Q2 η/V (random pairs) and k_e² (Q2/N)/η² (an atom's own charge), V²."""
    ke2 = COULOMB_V_A_PER_E**2
    return ke2 * q2 * eta / volume, ke2 * q2 / n / eta**2


def _estimate(eta, r_cut, k_cut, mesh, order, cell, n, q2) -> float:
    """The RMS error estimate (V) of the module doc for one set of parameters."""
    from scipy import special

    pairs, own = _error_scales(eta, n, q2, abs(np.linalg.det(cell)))
    square = pairs * 8.0 * _tail_integral(r_cut / eta) if r_cut > 0 else 0.0
    if mesh is None:
        y = k_cut * eta
        square += pairs * 8.0 / np.pi * _tail_integral(y) + own * 2.0 / np.pi * special.erfc(y / _SQRT2) ** 2
    else:
        random, self_ = _mesh_error_terms(np.linalg.norm(cell, axis=1) / np.array(mesh) / eta, order)
        square += pairs * random.sum() + own * self_.sum() ** 2
    return float(np.sqrt(square))


def _first_meeting(error2: np.ndarray, target2: float) -> np.ndarray:
    """Index along the last axis of the first entry with error² ≤ target² (the last if none)."""
    ok = error2 <= target2
    return np.where(ok.any(axis=-1), ok.argmax(axis=-1), ok.shape[-1] - 1)


def choose_parameters(
    cell_A: np.ndarray,
    charges_e: np.ndarray,
    sigma_A: float,
    tolerance_V: float = DEFAULT_TOLERANCE_V,
    method: str = "auto",
) -> EwaldParameters:
    """The cheapest parameters whose estimated errors meet ``tolerance_V`` (module doc).

    ``method`` is "pme", "ewald" or "auto" (whichever the cost model finds cheaper). The result
    depends on the cell, the number of charges and Σq² only: choose once for a trajectory in one
    cell and pass it to :func:`gaussian_charge_potential` as ``parameters``.
    """
    from scipy import fft, special

    cell = np.asarray(cell_A, dtype=float)
    charges = np.asarray(charges_e, dtype=float)
    if method not in ("auto", "pme", "ewald"):
        raise DftpostError(None, f"unknown method {method!r}: use 'auto', 'pme' or 'ewald'")
    if not tolerance_V > 0:
        raise DftpostError(None, f"the tolerance must be positive, got {tolerance_V} V")
    n = charges.size
    volume = abs(np.linalg.det(cell))
    q2 = max(float(charges @ charges), 1e-30)
    target2 = (tolerance_V / (SAFETY * np.sqrt(2 * np.log(max(n, 2))))) ** 2 / 2  # each of real and reciprocal space
    etas = np.geomspace(0.25, 5.0, 25)
    etas = np.concatenate([[sigma_A], etas[etas > sigma_A]]) if sigma_A > 0 else etas
    pairs, own = (scale[:, None] for scale in _error_scales(etas, n, q2, volume))
    y = np.linspace(0.3, 9.0, 871)
    r_cut = np.where(etas > sigma_A, etas * y[_first_meeting(pairs * 8.0 * _tail_integral(y), target2)], 0.0)
    real_cost = np.where(r_cut > 0, COST_REAL_ATOM * n, 0.0) + COST_PAIR * n * (n / volume) * (4 * np.pi / 3) * r_cut**3 / 2
    candidates: list[tuple[float, str, float, float, tuple[int, int, int] | None, int | None, float | None]] = []
    if method in ("auto", "pme"):
        for order in ORDERS:
            t, random, self_ = _mesh_error_table(order)
            t_eta = t[_first_meeting(pairs * 3 * random + own * 9 * self_**2, target2)] * etas
            for eta, rc, cost, spacing in zip(etas, r_cut, real_cost, t_eta):
                mesh = tuple(fft.next_fast_len(int(np.ceil(length / spacing))) for length in np.linalg.norm(cell, axis=1))
                points = float(np.prod(mesh))
                cost += COST_MESH * points * np.log2(points) + COST_SPLINE * n * order**3
                candidates.append((cost, "pme", eta, rc, mesh, order, None))
    if method in ("auto", "ewald"):
        error2 = pairs * 8.0 / np.pi * _tail_integral(y) + own * 2.0 / np.pi * special.erfc(y / _SQRT2) ** 2
        k_cut = y[_first_meeting(error2, target2)] / etas
        n_k = (4 * np.pi / 3) * k_cut**3 * volume / (2 * np.pi) ** 3 / 2
        for eta, rc, cost, kc, nk in zip(etas, r_cut, real_cost, k_cut, n_k):
            candidates.append((cost + COST_KVECTOR * n * nk, "ewald", eta, rc, None, None, kc))
    _, chosen, eta, rc, chosen_mesh, chosen_order, kc = min(candidates, key=lambda c: c[0])
    return EwaldParameters(
        method=chosen,
        sigma_A=float(sigma_A),
        eta_A=float(eta),
        r_cut_A=float(rc),
        mesh=chosen_mesh,
        order=chosen_order,
        k_cut_per_A=None if kc is None else float(kc),
        estimated_error_V=_estimate(eta, rc, kc, chosen_mesh, chosen_order, cell, n, q2),
        tolerance_V=float(tolerance_V),
    )


# ----------------------------------------------------------------------------- the sums
def _erf_over_r(r: np.ndarray, width: float) -> np.ndarray:
    """erf(r/(√2·width))/r (1/Å): the potential of a unit Gaussian of ``width`` (0: a point)."""
    from scipy import special

    return 1.0 / r if width == 0 else special.erf(r / (_SQRT2 * width)) / r


def _real_space(frac: np.ndarray, charges: np.ndarray, cell: np.ndarray, sigma: float, eta: float, r_cut: float) -> np.ndarray:
    """Σ_{j,n} q_j [erf(r/(√2σ)) − erf(r/(√2η))]/r over pairs closer than r_cut, e/Å, leaving out
    j = i at n = 0. The cKDTree holds the atoms (fractional ``frac`` in [0, 1]) and all their
    periodic images within r_cut of the cell; pairs of two images are dropped."""
    from scipy.spatial import cKDTree

    n = charges.size
    reach = r_cut / cell_widths(cell)
    points, owners = [frac], [np.arange(n)]
    for shift in itertools.product(*(range(-int(np.ceil(x)), int(np.ceil(x)) + 1) for x in reach)):
        if any(shift):
            moved = frac + shift
            near = np.all((moved > -reach) & (moved < 1.0 + reach), axis=1)
            points.append(moved[near])
            owners.append(np.flatnonzero(near))
    xyz = np.concatenate(points) @ cell
    owner = np.concatenate(owners)
    a, b = cKDTree(xyz).query_pairs(r_cut, output_type="ndarray").T  # a < b
    keep = a < n
    a, b = a[keep], b[keep]
    delta = np.take(xyz, a, axis=0) - np.take(xyz, b, axis=0)  # np.take: faster than xyz[a] here
    r = np.sqrt(np.einsum("ij,ij->i", delta, delta))
    kernel = _erf_over_r(r, sigma) - _erf_over_r(r, eta)
    both = b < n
    return np.bincount(a, charges[owner[b]] * kernel, n) + np.bincount(b[both], charges[a[both]] * kernel[both], n)


def _bspline_weights(w: np.ndarray, order: int) -> np.ndarray:
    """Cardinal B-spline values M_p(w + j), j = 0 … p−1 (last axis), for w in [0, 1)."""
    m = np.zeros(w.shape + (order,))
    m[..., 0], m[..., 1] = w, 1.0 - w  # M_2
    x = w[..., None] + np.arange(order)
    for k in range(3, order + 1):
        below = np.concatenate([np.zeros_like(m[..., :1]), m[..., :-1]], axis=-1)  # M_{k−1}(x − 1)
        m = (x * m + (k - x) * below) / (k - 1)
    return m


def _pme(frac: np.ndarray, charges: np.ndarray, cell: np.ndarray, eta: float, mesh: tuple[int, int, int], order: int) -> np.ndarray:
    """Reciprocal part (e/Å) of the screening Gaussians at the atoms by smooth PME (module doc)."""
    from scipy import fft

    size = np.array(mesh)
    u = frac * size
    base = np.floor(u).astype(np.int64)
    weights = _bspline_weights(u - base, order)  # (N, 3, p): mesh point base − j
    index = (base[:, :, None] - np.arange(order)) % size[:, None]
    flat = ((index[:, 0, :, None, None] * size[1] + index[:, 1, None, :, None]) * size[2] + index[:, 2, None, None, :]).reshape(len(u), -1)
    w3 = (weights[:, 0, :, None, None] * weights[:, 1, None, :, None] * weights[:, 2, None, None, :]).reshape(len(u), -1)
    mesh_charge = np.bincount(flat.ravel(), (charges[:, None] * w3).ravel(), size.prod()).reshape(mesh)
    m = np.meshgrid(fft.fftfreq(mesh[0], 1.0 / mesh[0]), fft.fftfreq(mesh[1], 1.0 / mesh[1]), fft.rfftfreq(mesh[2], 1.0 / mesh[2]), indexing="ij", sparse=True)
    reciprocal = 2 * np.pi * np.linalg.inv(cell).T  # rows b_d, a_i·b_j = 2π δ_ij
    metric = reciprocal @ reciprocal.T
    k2 = sum(metric[a, b] * m[a] * m[b] for a in range(3) for b in range(3))
    k2[0, 0, 0] = np.inf  # k = 0 dropped
    spline_at_integers = _bspline_weights(np.zeros(1), order)[0, 1:]  # M_p(1) … M_p(p−1)
    euler = 1.0
    for d in range(3):
        phase = np.exp(2j * np.pi * np.outer(m[d].ravel(), np.arange(order - 1)) / mesh[d])
        euler = euler * (1.0 / np.abs(phase @ spline_at_integers) ** 2).reshape(m[d].shape)
    influence = 4 * np.pi / abs(np.linalg.det(cell)) * np.exp(-k2 * eta**2 / 2) / k2 * euler
    potential_mesh = fft.irfftn(fft.rfftn(mesh_charge) * influence, s=mesh) * size.prod()
    return (np.take(potential_mesh.ravel(), flat) * w3).sum(axis=1)


def _ewald_sum(positions: np.ndarray, charges: np.ndarray, cell: np.ndarray, eta: float, k_cut: float) -> np.ndarray:
    """Reciprocal part (e/Å) of the screening Gaussians at the atoms, summed directly over the
    k vectors with |k| < k_cut (half of them, each counted twice)."""
    reciprocal = 2 * np.pi * np.linalg.inv(cell).T
    n_max = np.floor(k_cut * np.linalg.norm(cell, axis=1) / (2 * np.pi)).astype(int)
    m = np.array(list(itertools.product(*(range(-k, k + 1) for k in n_max))))
    m = m[(m[:, 0] > 0) | ((m[:, 0] == 0) & (m[:, 1] > 0)) | ((m[:, 0] == 0) & (m[:, 1] == 0) & (m[:, 2] > 0))]
    k = m @ reciprocal
    k2 = (k**2).sum(axis=1)
    k, k2 = k[k2 < k_cut**2], k2[k2 < k_cut**2]
    weight = 2 * 4 * np.pi / abs(np.linalg.det(cell)) * np.exp(-k2 * eta**2 / 2) / k2
    potential = np.zeros(charges.size)
    step = max(1, 2_000_000 // max(charges.size, 1))
    for start in range(0, len(k), step):
        phase = positions @ k[start : start + step].T
        cos, sin = np.cos(phase), np.sin(phase)
        w = weight[start : start + step]
        potential += cos @ (w * (charges @ cos)) + sin @ (w * (charges @ sin))
    return potential


def _intramolecular(positions: np.ndarray, charges: np.ndarray, cell: np.ndarray, sigma: float, molecule_ids: np.ndarray) -> np.ndarray:
    """Σ_{j≠i, same molecule} q_j erf(r_ij/(√2σ))/r_ij at the nearest image, e/Å."""
    order = np.argsort(molecule_ids, kind="stable")
    ids = molecule_ids[order]
    result = np.zeros(charges.size)
    for offset in range(1, charges.size):
        same = ids[:-offset] == ids[offset:]
        if not same.any():
            break
        i, j = order[:-offset][same], order[offset:][same]
        kernel = _erf_over_r(minimum_image_distance(positions[i] - positions[j], cell), sigma)
        result += np.bincount(i, charges[j] * kernel, charges.size) + np.bincount(j, charges[i] * kernel, charges.size)
    return result


def gaussian_charge_potential(
    positions_A: np.ndarray,
    charges_e: np.ndarray,
    cell_A: np.ndarray,
    sigma_A: float,
    *,
    tolerance_V: float = DEFAULT_TOLERANCE_V,
    self_term: bool = False,
    molecule_ids: np.ndarray | None = None,
    method: str = "auto",
    parameters: EwaldParameters | None = None,
) -> np.ndarray:
    """Potential φ_i (V) of periodic Gaussian charges at every atom (module doc).

    ``positions_A`` (N, 3) in Å, anywhere (they need not be wrapped); ``charges_e`` (N,) in e;
    ``cell_A`` (3, 3) rows are the cell vectors, Å, any shape, periodic in all three directions;
    ``sigma_A`` the Gaussian width, Å (0 = point charges). ``self_term`` adds each atom's own
    Gaussian at its centre, k_e q_i √(2/π)/σ; ``molecule_ids`` (N,) leaves out the other atoms of
    the same molecule (nearest image). ``parameters`` (from :func:`choose_parameters`) override
    ``tolerance_V`` and ``method``.
    """
    positions = np.asarray(positions_A, dtype=float)
    charges = np.asarray(charges_e, dtype=float)
    cell = np.asarray(cell_A, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 3 or charges.shape != (len(positions),):
        raise DftpostError(None, f"positions {positions.shape} and charges {charges.shape} do not match (N, 3) and (N,)")
    cell = check_periodic_cell(cell, "the sum is periodic in 3D")
    if not sigma_A >= 0 or (self_term and sigma_A == 0):
        raise DftpostError(None, f"sigma must be ≥ 0 Å (0 = point charges, then without self term), got {sigma_A}")
    if parameters is None:
        parameters = choose_parameters(cell, charges, sigma_A, tolerance_V, method)
    elif parameters.sigma_A != sigma_A:
        raise DftpostError(None, f"the parameters were chosen for sigma {parameters.sigma_A} Å, not {sigma_A} Å")
    eta = parameters.eta_A
    frac = positions @ np.linalg.inv(cell)
    frac -= np.floor(frac)
    if parameters.method == "pme":
        if parameters.mesh is None or parameters.order is None:
            raise DftpostError(None, f"PME parameters without a mesh or a B-spline order: {parameters}")
        potential = _pme(frac, charges, cell, eta, parameters.mesh, parameters.order)
    else:
        if parameters.k_cut_per_A is None:
            raise DftpostError(None, f"Ewald parameters without a k cut-off: {parameters}")
        potential = _ewald_sum(positions, charges, cell, eta, parameters.k_cut_per_A)
    if parameters.r_cut_A > 0:
        potential += _real_space(frac, charges, cell, sigma_A, eta, parameters.r_cut_A)
    # the atom's own Gaussians: η (inside the reciprocal sum) out, σ in if asked
    potential += charges * np.sqrt(2 / np.pi) * ((1.0 / sigma_A if self_term else 0.0) - 1.0 / eta)
    # a charged cell: the short-ranged part's k = 0 component, 2π(η² − σ²) Q/V, out
    potential -= 2 * np.pi * (eta**2 - sigma_A**2) * charges.sum() / abs(np.linalg.det(cell))
    if molecule_ids is not None:
        molecule_ids = np.asarray(molecule_ids)
        if molecule_ids.shape != charges.shape:
            raise DftpostError(None, f"molecule_ids {molecule_ids.shape} do not match the {charges.size} atoms")
        potential -= _intramolecular(positions, charges, cell, sigma_A, molecule_ids)
    return COULOMB_V_A_PER_E * potential


def potential_spread(
    numbers: np.ndarray,
    positions_A: np.ndarray,
    cell_A: np.ndarray,
    sigma_A: float,
    q_o: float = DEFAULT_Q_O,
    *,
    self_term: bool = True,
    intermolecular: bool = False,
    r_oh: float = DEFAULT_R_OH,
    tolerance_V: float = DEFAULT_TOLERANCE_V,
    parameters: EwaldParameters | None = None,
) -> PotentialResult:
    """ΔV of one water frame, the paper's potential-difference proxy (METHODS §2, Fig. 3c).

    O carry q_o, H −q_o/2 (e), Gaussians of width ``sigma_A`` (Å); other atoms carry none, and ΔV
    is taken over the O and H. ``intermolecular`` leaves out the other atoms of each molecule
    (H assigned to the nearest O within ``r_oh`` as in :func:`~.molecules.assign_hydrogens`).

    Defaults: all atoms, with each atom's own Gaussian (the self term). The paper computes "the
    potential throughout the cell" from the smooth charge distribution and reads it at the atoms;
    a potential on a grid does not know whose Gaussian is whose, so the atom's own one is in it.
    Then the neutral molecule's own terms nearly cancel (self term and intramolecular pairs) and
    ΔV is set by the other molecules, as the band-bending picture wants. Without the self term,
    the intramolecular O–H terms alone put ~9 V between O and H at σ = 1 Å, above any water gap
    in every frame. The growth of ΔV with the cell length does not single out a convention: the
    self term adds a constant per species (k_e q √(2/π)/σ: −6.39/σ V on O, +3.20/σ V on H for
    q_O = −0.5562 e), leaving out the molecule removes nearly constant intramolecular terms, and
    the growth comes from the tails of the intermolecular potential, sampled by more molecules in
    a larger cell (its spread per atom, ~1.0–1.15 V, does not grow). In random-orientation water
    boxes at 1 g/cm³ from L = 14.6 Å (315 atoms) to 54.5 Å (16,200), σ = 1 Å, ΔV grew by
    3.4–3.5 V under each: 5.4 → 8.8 V with the self term (the default), 4.9 → 8.3 V
    intermolecular, 13.5 → 17.1 V with neither, 14.1 → 17.5 V with both
    (``benchmarks/README.md``).
    """
    numbers = np.asarray(numbers)
    charges = np.where(numbers == 8, q_o, np.where(numbers == 1, -q_o / 2, 0.0))
    molecule_ids = None
    if intermolecular:
        molecules = assign_hydrogens(numbers, positions_A, cell_A, (True, True, True), r_oh)
        molecule_ids = np.arange(numbers.size)  # every atom its own molecule, then bonded H their O's
        bonded = molecules.owner >= 0
        molecule_ids[molecules.hydrogen[bonded]] = molecules.oxygen[molecules.owner[bonded]]
    if parameters is None:
        parameters = choose_parameters(cell_A, charges, sigma_A, tolerance_V)
    potential = gaussian_charge_potential(
        positions_A, charges, cell_A, sigma_A, self_term=self_term, molecule_ids=molecule_ids, parameters=parameters
    )
    water = (numbers == 8) | (numbers == 1)
    return PotentialResult(
        potential_V=potential,
        delta_v_V=float(np.ptp(potential[water])),
        q_o_e=float(q_o),
        sigma_A=float(sigma_A),
        self_term=self_term,
        intermolecular=intermolecular,
        parameters=parameters,
    )


def planar_average_potential(
    positions_A: np.ndarray,
    charges_e: np.ndarray,
    cell_A: np.ndarray,
    sigma_A: float,
    axis: int = 2,
    spacing_A: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Heights (Å) and the planar average φ̄ (V) of the Gaussian charges' potential, exactly.

    Heights are measured along the normal of the planes spanned by the two cell vectors other
    than ``axis``, from the cell origin, at ``spacing_A`` or just below over one period
    L = V/A. Averaged over such a plane, a Gaussian of width σ is a 1D Gaussian of width σ in
    the height, so φ̄'' = −ρ̄/ε0 is solved term by term in Fourier space, k = 0 dropped:

        φ̄(h) = (4π k_e / V) Σ_{k = 2πn/L ≠ 0} exp(−k²σ²/2)/k² Σ_j q_j exp(ik(h − h_j)),

    up to kσ = 9 (the terms left are below 10⁻¹⁷ of the first). The same potential as in
    :func:`gaussian_charge_potential` (with all terms), averaged over planes; σ must be > 0.
    """
    positions = np.asarray(positions_A, dtype=float)
    charges = np.asarray(charges_e, dtype=float)
    cell = np.asarray(cell_A, dtype=float)
    if not sigma_A > 0:
        raise DftpostError(None, f"the planar average needs Gaussians of width sigma > 0 Å, got {sigma_A}")
    volume = abs(np.linalg.det(cell))
    length = volume / area_normal_to(cell, axis)
    heights_atoms = (positions @ np.linalg.inv(cell))[:, axis] * length
    n_points = int(np.ceil(round(length / spacing_A, 9)))
    heights = np.arange(n_points) * length / n_points
    k = 2 * np.pi / length * np.arange(1, int(np.ceil(9.0 / sigma_A * length / (2 * np.pi))) + 1)
    structure = np.zeros(k.size, dtype=complex)
    step = max(1, 2_000_000 // max(charges.size, 1))
    for start in range(0, k.size, step):
        structure[start : start + step] = np.exp(-1j * np.outer(k[start : start + step], heights_atoms)) @ charges
    coefficient = 2 * 4 * np.pi / volume * np.exp(-(k**2) * sigma_A**2 / 2) / k**2 * structure  # ±k together
    profile = (np.exp(1j * np.outer(heights, k)) @ coefficient).real
    return heights, COULOMB_V_A_PER_E * profile
