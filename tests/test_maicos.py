"""dftpost's cumulative dipole profile against MAICoS's perpendicular polarization density.

Skipped unless MAICoS (and so MDAnalysis) is importable: ``pip install maicos``.

What is compared (MAICoS 0.12, ``maicos/modules/dielectricplanar.py``):

- ``DielectricPlanar`` keeps per frame the total dipole of the box ``M = Σ_i q_i r_i`` (e·Å;
  lines 156-161, ``M_perp = M[dim]``) and the perpendicular polarization density
  ``m_perp = -cumsum(Q_bin / A)`` (line 187): the charge of the atoms binned by their own z
  (``np.digitize`` on the inner bin edges, lines 179-185), summed from the bottom of the cell,
  with a minus sign, in e/Å². MAICoS's theory page writes it m_⊥(z) = -∫_0^z ρ(z') dz'. Their
  means over frames are ``ana.means.M_perp`` and ``ana.means.m_perp`` (intermediate observables;
  the documented ``results`` hold only the dielectric profiles derived from them).
- dftpost's ``μ_z(z)`` (e/Å) is the fixed-charge dipole per area of the molecules whose O lies
  below z: ``(1/A) Σ_{mol: z_O < z} Σ_{a ∈ mol} q_a z_a``, whole molecules binned by their O.

Sign convention: the same in both. A dipole pointing to +z (H above O) gives μ_z > 0 in dftpost,
M_perp > 0 and m_perp ≥ 0 in MAICoS (ρ = -dP/dz, so P = -∫ρ is the polarization density).

Conversion: μ_total = M_perp / A; μ_z(z) ↔ ∫_0^z m_perp dz' = Δz Σ_{k<K} m_perp[k] at the bin
edge z = e_K. They are equal where no charge is unbalanced below z (vacuum, between whole
molecules), up to MAICoS's discretisation: its cumulative sum puts each charge at the lower edge
of its bin, off by E(e_K) = (1/A) Σ_{atoms below e_K} q_a (z_a - e_bin(a)), at most Δz Σ|q|/A.
Inside the slab they also differ by the binning: an H whose O is on the other side of the edge
counts for dftpost with its molecule and for MAICoS with its own height; that term is
S(e_K) = (1/A) Σ_H q_H (z_H - e_K) ([z_O < e_K ≤ z_H] - [z_H < e_K ≤ z_O]). The test computes
E and S from the coordinates by themselves and asserts μ_z(e_K) = ∫_0^{e_K} m_perp + E + S at
every edge (float rounding only), the totals to 1e-9 relative, the vacuum below the slab to 0 and
above it to within the discretisation bound.

The coordinates are multiples of 1/256 Å: exact in float32 (MDAnalysis), in float64 and in the
extxyz text (8 decimals), so both programs see the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

maicos = pytest.importorskip("maicos")
mda = pytest.importorskip("MDAnalysis")

import ase.io  # noqa: E402
from ase import Atoms  # noqa: E402
from MDAnalysis.coordinates.memory import MemoryReader  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

from dftpost.analysis.dipole import DipoleAccumulator  # noqa: E402
from dftpost.batch import dipole_trajectory  # noqa: E402

# MAICoS's error estimate needs longer trajectories than these few frames
pytestmark = pytest.mark.filterwarnings("ignore:Your trajectory is too short:UserWarning")

Q_O = -0.5562
Q_H = 0.2781
CHARGES = np.array([Q_O, Q_H, Q_H])
BOX = (12.0, 12.0, 40.0)
AREA = BOX[0] * BOX[1]
N_MOL = 48
DZ = 0.05
R_OH, HALF = 0.97, np.radians(104.5) / 2
TEMPLATE = R_OH * np.array([[np.sin(HALF), 0.0, np.cos(HALF)], [-np.sin(HALF), 0.0, np.cos(HALF)]])  # H up


def slab_frames(n_frames: int, seed: int, h_up: bool = False) -> np.ndarray:
    """(n_frames, 3·48, 3) positions: 48 whole water molecules (O, H, H) on a 4 x 4 x 3 grid
    3 Å apart (O jittered ±0.2 Å), between z ≈ 15 and 23 Å, random orientations (or all with
    both H above the O); molecules may stick out of the cell in x and y. Rounded to 1/256 Å."""
    rng = np.random.default_rng(seed)
    grid = np.array([[1.5 + 3.0 * i, 1.5 + 3.0 * j, 16.0 + 3.0 * k] for k in range(3) for i in range(4) for j in range(4)])
    frames = []
    for _ in range(n_frames):
        o = grid + rng.uniform(-0.2, 0.2, grid.shape)
        if h_up:  # bisector within 30° of +z
            rot = Rotation.from_rotvec(rng.uniform(-1, 1, (N_MOL, 3)) * np.radians(30) / np.sqrt(3))
        else:
            rot = Rotation.from_quat(rng.normal(size=(N_MOL, 4)))
        h = o[:, None, :] + np.stack([rot.apply(TEMPLATE[0]), rot.apply(TEMPLATE[1])], axis=1)
        frames.append(np.concatenate([o[:, None, :], h], axis=1).reshape(-1, 3))
    return np.round(np.array(frames) * 256.0) / 256.0


def universe(coords: np.ndarray) -> mda.Universe:
    """An MDAnalysis Universe of the frames: residues, bonds (molecules whole), fixed charges."""
    n_atoms = 3 * N_MOL
    u = mda.Universe.empty(n_atoms, n_residues=N_MOL, atom_resindex=np.repeat(np.arange(N_MOL), 3), trajectory=True)
    u.add_TopologyAttr("names", ["OW", "HW1", "HW2"] * N_MOL)
    u.add_TopologyAttr("types", ["O", "H", "H"] * N_MOL)
    u.add_TopologyAttr("elements", ["O", "H", "H"] * N_MOL)
    u.add_TopologyAttr("resnames", ["SOL"] * N_MOL)
    u.add_TopologyAttr("masses", np.tile([15.999, 1.008, 1.008], N_MOL))
    u.add_TopologyAttr("charges", np.tile(CHARGES, N_MOL))
    u.add_bonds([(3 * m, 3 * m + 1) for m in range(N_MOL)] + [(3 * m, 3 * m + 2) for m in range(N_MOL)])
    u.load_new(coords.astype(np.float32), format=MemoryReader, dimensions=[*BOX, 90.0, 90.0, 90.0])
    return u


def run_maicos(coords: np.ndarray, **kwargs) -> maicos.DielectricPlanar:
    u = universe(coords)
    ana = maicos.DielectricPlanar(u.atoms, bin_width=DZ, **kwargs)
    ana.run()
    return ana


def maicos_edges(n_bins: int) -> np.ndarray:
    """MAICoS's bin edges (core/planar.py: np.linspace(zmin, zmax, n_bins + 1), zmin 0, zmax L_z)."""
    return np.linspace(0.0, BOX[2], n_bins + 1)


def dftpost_mean_profile(coords: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dftpost's mean cumulative dipole on MAICoS's edges (origin z = 0, as MAICoS's lab frame),
    and the total dipole per frame."""
    acc = DipoleAccumulator(edges, q_o=Q_O, origin_A=0.0)
    numbers = np.tile([8, 1, 1], N_MOL)
    for f, pos in enumerate(coords):
        acc.add(f, numbers, pos, np.diag(BOX))
    result = acc.result()
    return result.mean_cumulative_dipole_e_per_A, result.total_dipole_e_per_A


def corrections(coords: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over frames, at the upper bin edges e_1 ... e_N, of MAICoS's discretisation term E and
    of the molecule-versus-atom binning term S (see the module docstring), from the coordinates."""
    upper = edges[1:]
    q = np.tile(CHARGES, N_MOL)
    e_sum = np.zeros(upper.size)
    s_sum = np.zeros(upper.size)
    for pos in coords:
        z = pos[:, 2]
        j = np.digitize(z, edges[1:-1])  # MAICoS's bin of each atom
        below = z[None, :] < upper[:, None]  # (edges, atoms)
        e_sum += (below * (q * (z - edges[j]))[None, :]).sum(axis=1) / AREA
        z_o = np.repeat(z[0::3], 3)  # the height of each atom's O
        is_h = np.tile([False, True, True], N_MOL)
        zh, zo = z[is_h], z_o[is_h]
        e = upper[:, None]
        moved_up = (zo[None, :] < e) & (e <= zh[None, :])  # H above the edge, its molecule counted below
        moved_down = (zh[None, :] < e) & (e <= zo[None, :])  # H below the edge, its molecule counted above
        s_sum += (Q_H * (zh[None, :] - e) * (moved_up.astype(float) - moved_down)).sum(axis=1) / AREA
    return e_sum / len(coords), s_sum / len(coords)


@pytest.fixture(scope="module")
def slab():
    coords = slab_frames(4, seed=3)
    ana = run_maicos(coords)
    edges = maicos_edges(ana.n_bins)
    mu, totals = dftpost_mean_profile(coords, edges)
    return coords, ana, edges, mu, totals


def test_total_dipole_equals_maicos_box_dipole_per_area(slab, tmp_path):
    coords, ana, _, mu, totals = slab
    m_perp_total = ana.means.M_perp / AREA  # e·Å / Å² = e/Å
    assert mu[-1] == pytest.approx(m_perp_total, rel=1e-9)
    assert totals.mean() == pytest.approx(m_perp_total, rel=1e-9)
    assert abs(m_perp_total) > 1e-3  # a real dipole, not a trivial zero
    # the same through the public streaming API on an extxyz file (default vacuum-middle origin)
    path = tmp_path / "slab.extxyz"
    ase.io.write(path, [Atoms("OH2" * N_MOL, positions=p, cell=BOX, pbc=True) for p in coords], format="extxyz")
    result, row = dipole_trajectory(path, q_o=Q_O)
    assert row["mean_total_dipole_e_per_A"] == pytest.approx(m_perp_total, rel=1e-9)
    np.testing.assert_allclose(result.total_dipole_e_per_A, totals, rtol=1e-9)


def test_cumulative_profile_is_the_integral_of_maicos_polarization_density(slab):
    coords, ana, edges, mu, _ = slab
    m_perp = ana.means.m_perp  # e/Å², value on bin k = P at its upper edge
    assert m_perp.shape == mu.shape
    integral = DZ * np.cumsum(m_perp)  # ∫_0^{e_K} m_perp dz' at the upper edges e_1 ... e_N
    e_term, s_term = corrections(coords, edges)
    # every edge: dftpost = MAICoS integral + discretisation + binning terms, to float rounding
    np.testing.assert_allclose(mu, integral + e_term + s_term, rtol=0, atol=1e-10)

    z = coords[:, :, 2]
    upper = edges[1:]
    below, above = upper <= z.min(), upper > z.max()
    assert below.sum() > 100 and above.sum() > 100
    # vacuum below the slab: both exactly nothing
    assert np.all(mu[below] == 0) and np.all(integral[below] == 0)
    # vacuum above: both the total; MAICoS's integral within its discretisation bound
    bound = DZ * N_MOL * np.abs(CHARGES).sum() / AREA
    np.testing.assert_allclose(mu[above], mu[-1], rtol=0, atol=1e-12)
    assert np.all(np.abs(integral[above] - mu[above]) <= bound)
    np.testing.assert_allclose(ana.means.m_perp[above], 0, atol=1e-12)  # no unbalanced charge up there
    # inside the slab the two binnings really differ (H across an edge from its O) ...
    assert np.abs(s_term).max() > 1e-3
    # ... and agree, up to the discretisation, at edges no molecule straddles in any frame
    clear = np.abs(s_term) == 0
    inside = ~below & ~above & clear
    assert inside.sum() > 10
    assert np.all(np.abs(integral[inside] - mu[inside]) <= bound)


def test_sign_convention_h_up_is_positive_in_both():
    coords = slab_frames(2, seed=4, h_up=True)
    ana = run_maicos(coords)
    mu, totals = dftpost_mean_profile(coords, maicos_edges(ana.n_bins))
    assert np.all(totals > 0)  # dipole pointing to +z: positive in dftpost ...
    assert ana.means.M_perp > 0  # ... and in MAICoS's box dipole
    assert ana.means.m_perp.min() >= -1e-12  # polarization density ≥ 0: every H above its O
    assert ana.means.m_perp.max() > 0
    assert mu[-1] == pytest.approx(ana.means.M_perp / AREA, rel=1e-9)


def test_slab_across_the_periodic_boundary_total_matches_maicos_made_whole():
    """Atoms wrapped one by one after a shift of 25 Å along z, so the slab and molecules are
    broken at z = 0 = 40 Å. dftpost makes the molecules whole itself; MAICoS with its defaults
    (unwrap along the bonds, pack) and the water as refgroup. MDAnalysis moves the float32
    coordinates by the refgroup's centre, so they agree to float32 precision."""
    coords = slab_frames(4, seed=5)
    shifted = coords.copy()
    shifted[:, :, 2] += 25.0
    shifted = np.mod(shifted, np.array(BOX))  # atom by atom: molecules broken at the faces
    assert np.any(np.abs(np.diff(shifted[:, :, 2].reshape(4, N_MOL, 3), axis=2)) > 20)  # some broken
    u = universe(shifted)
    ana = maicos.DielectricPlanar(u.atoms, bin_width=DZ, refgroup=u.atoms)
    ana.run()
    _, totals_whole = dftpost_mean_profile(coords, maicos_edges(ana.n_bins))
    acc = DipoleAccumulator(maicos_edges(ana.n_bins), q_o=Q_O)  # default origin: middle of the vacuum
    for f, pos in enumerate(shifted):
        acc.add(f, np.tile([8, 1, 1], N_MOL), pos, np.diag(BOX))
    totals_shifted = acc.result().total_dipole_e_per_A
    np.testing.assert_allclose(totals_shifted, totals_whole, rtol=1e-9)
    # float32: each coordinate moved off by a few ulp at 40 Å (~4e-6 Å), so |Δμ| ≤ 4e-6 Σ|q| / A
    # ≈ 1.5e-6 e/Å (2e-9 seen); a molecule left broken would be off by q_H·L_z/A ≈ 0.08 e/Å
    assert totals_shifted.mean() == pytest.approx(ana.means.M_perp / AREA, rel=0, abs=2e-6)
