"""Water band edges and false metallization from a projected DoS (paper SM S1.0.5, METHODS §4).

1. The water PDoS sums the projections of the water molecules (O with two H within r_OH) whose
   atoms all lie farther than ``d_cut`` from the nearest substrate atom (every atom not in a
   water molecule: metal, oxide), along the normal with the minimum image, so water on either
   side of a slab or between two slabs is judged by its own interface (all water when the
   structure is H and O alone).
2. μ_z < 0 (bands tilt up): scan down from E_F + s for the first energy whose water PDoS exceeds
   T: the VBM; then up from VBM + δ for the first energy above T: the CBM.
3. μ_z ≥ 0 (bands tilt down): scan up from E_F − s: the CBM; then down from CBM − δ: the VBM.
4. Gap = CBM − VBM; the water is metallized when VBM ≥ E_F or CBM ≤ E_F.

Energies are eV relative to E_F as the program printed it. The scans start from a reference
level: E_F when a metal pins it. Water alone has no such pin (CP2K puts E_F at the HOMO, FHI-aims'
smeared μ may sit at a band edge), but the program knows which states are occupied: where the
DoS carries occupations (CP2K), the water is metallized when its occupied and unoccupied states
overlap or touch (electrons moved from one end of the slab to the other, paper SM S1.2.2), and
the scans start at the middle between the highest occupied and the lowest unoccupied water
state, with no offset s (s steps over bands crossing a pinned E_F; here the occupations already
say where the gap is). Without occupations (FHI-aims' broadened DoS) the reference is the middle
of the water's gap around E_F in the broadened DoS. A substrate pins E_F only when the run has
partly filled states (a smeared metal, :func:`fermi_level_pinned`); beside a gapped substrate (an
oxide: every state full or empty, E_F its valence top) the occupations decide as for water alone,
on the water's own states (more than :data:`WATER_STATE_WEIGHT` of their weight on the selected
water: every state there has a Mulliken tail on it). The result records how the verdict was
reached (``verdict_basis``). A first scan that starts inside a band which reaches the reference
has met a band crossing it: the edge is the starting point, as in the paper's literal rule. A
scan that starts inside any other band (the other band's tail) first leaves it in the direction
of the scan and records it (``started_in_band``), so it is not mistaken for the edge sought.

Defaults are choices of dftpost (the paper's values were lost from its text): ``d_cut`` 3.5 Å,
T = 0.01 states/eV per water atom, s = 1.0 eV, δ = 0.5 eV, Gaussian broadening σ = 0.1 eV on a
0.02 eV grid for programs that print eigenvalues (CP2K).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .. import defaults
from ..dos import DEFAULT_SIGMA_EV, DEFAULT_SPACING_EV, MAX_GRID_POINTS, ProjectedDos
from ..errors import DftpostError
from ..run import FrontierStates, Run
from .dipole import DEFAULT_Q_O, fixed_charge_dipole
from .molecules import DEFAULT_R_OH
from .water_selection import WaterSelection, select_water, substrate_pdos, water_pdos


@dataclass(frozen=True)
class BandEdgeParameters:
    """Parameters of the band-edge search, recorded with every result.

    ``threshold_mode``: ``"per_atom"`` (T = threshold × number of water atoms, states/eV),
    ``"absolute"`` (T = threshold, states/eV) or ``"relative"`` (T = threshold × the maximum
    of the water PDoS). ``start_offset_eV`` is s, ``separation_eV`` is δ; ``sigma_eV`` and
    ``spacing_eV`` apply to eigenvalue DoS (CP2K); ``q_o_e`` and ``r_oh_A`` to the fixed-charge
    dipole; ``axis`` is the surface normal (0, 1, 2); ``z_bin_A`` the width of the z bins of the
    z-resolved PDoS and ``local_threshold_fraction`` f the floor of a bin's own threshold (a bin's
    local edges use max(T of the bin's atoms, f × the bin's own PDoS maximum), so that the tail
    a neighbouring layer's states leave in the bin's projection cannot set its edges; see
    :func:`_z_resolved`); ``occupation_tolerance`` the fraction of a state's capacity below which it
    counts as empty (and short of which as full) when the occupations decide the verdict of
    water alone.
    """

    d_cut_A: float = defaults.D_CUT_A
    threshold: float = defaults.THRESHOLD
    threshold_mode: str = defaults.THRESHOLD_MODE
    start_offset_eV: float = defaults.START_OFFSET_EV
    separation_eV: float = defaults.SEPARATION_EV
    sigma_eV: float = DEFAULT_SIGMA_EV
    spacing_eV: float = DEFAULT_SPACING_EV
    q_o_e: float = DEFAULT_Q_O
    r_oh_A: float = DEFAULT_R_OH
    axis: int = 2
    z_bin_A: float = 3.0
    local_threshold_fraction: float = 0.02
    occupation_tolerance: float = 1e-3

    def __post_init__(self):
        if self.threshold_mode not in ("per_atom", "absolute", "relative"):
            raise DftpostError(None, f"threshold mode must be per_atom, absolute or relative, not {self.threshold_mode!r}")
        for name in ("d_cut_A", "threshold", "start_offset_eV", "separation_eV", "sigma_eV", "spacing_eV", "q_o_e", "r_oh_A", "z_bin_A"):
            if not math.isfinite(getattr(self, name)):
                raise DftpostError(None, f"{name} must be a finite number, got {getattr(self, name)}")
        for name in ("threshold", "sigma_eV", "spacing_eV", "z_bin_A", "r_oh_A"):
            if not getattr(self, name) > 0:
                raise DftpostError(None, f"{name} must be positive, got {getattr(self, name)}")
        if self.start_offset_eV < 0 or self.separation_eV <= 0 or self.d_cut_A < 0:
            raise DftpostError(None, "start offset and d_cut must be >= 0 and the separation > 0")
        if not 0 <= self.local_threshold_fraction < 1:
            raise DftpostError(None, f"local_threshold_fraction must lie in [0, 1), got {self.local_threshold_fraction}")
        if not 0 < self.occupation_tolerance < 0.5:
            raise DftpostError(None, f"occupation_tolerance must lie between 0 and 0.5, got {self.occupation_tolerance}")
        if self.axis not in (0, 1, 2):
            raise DftpostError(None, f"axis must be 0, 1 or 2 (x, y, z), got {self.axis}")


@dataclass(frozen=True)
class BandEdges:
    """Result of the search on one DoS. Energies in eV relative to E_F; ``threshold_states_per_eV``
    is the T actually used, ``start_offset_eV`` the s; ``branch`` says which edge was searched
    first."""

    vbm_eV: float
    cbm_eV: float
    threshold_states_per_eV: float
    branch: str
    started_in_band: bool
    reference_eV: float = 0.0
    notes: tuple[str, ...] = ()
    start_offset_eV: float = 1.0
    band_crosses_reference: bool = False

    @property
    def gap_eV(self) -> float:
        return self.cbm_eV - self.vbm_eV

    @property
    def metallized(self) -> bool:
        """VBM at or above the reference level, CBM at or below it, or the first scan started in
        a band that reaches the reference (its edge, taken where the scan began, may then lie a
        grid step on the near side of the reference)."""
        return self.band_crosses_reference or self.vbm_eV >= self.reference_eV or self.cbm_eV <= self.reference_eV


def _check_search_input(energies, dos, dipole, threshold, start_offset, separation, reference) -> None:
    if energies.ndim != 1 or dos.shape != energies.shape:
        raise DftpostError(
            None, f"energies {energies.shape} and DoS {dos.shape} must be 1-D arrays of the same length"
        )
    if energies.size == 0:
        raise DftpostError(None, "no energies: the DoS is empty")
    if not np.isfinite(energies).all():
        raise DftpostError(None, "the energies are not finite numbers")
    if np.any(np.diff(energies) <= 0):
        raise DftpostError(None, "the energies must be increasing")
    if not np.isfinite(dos).all():
        raise DftpostError(None, "the DoS values are not finite numbers")
    for name, value in (("threshold", threshold), ("dipole", dipole), ("reference level", reference)):
        if not math.isfinite(value):
            raise DftpostError(None, f"the {name} must be a finite number, got {value}")
    if not threshold > 0:
        raise DftpostError(None, f"the threshold must be positive, got {threshold} states/eV")
    if not (math.isfinite(start_offset) and start_offset >= 0):
        raise DftpostError(None, f"the start offset must be a finite number >= 0, got {start_offset} eV")
    if not (math.isfinite(separation) and separation > 0):
        raise DftpostError(None, f"the separation must be a finite number > 0, got {separation} eV")


def _scan(above: np.ndarray, start: int, step: int) -> tuple[int | None, bool, int | None]:
    """First index at or beyond ``start`` (moving by ``step``) where ``above`` is True, after
    leaving the band ``start`` may be inside. Returns (index, started in a band, last index of
    that band, or None if it runs to the end of the grid)."""
    n = above.size
    i = start
    in_band = bool(above[i]) if 0 <= i < n else False
    band_edge = None
    if in_band:
        while 0 <= i < n and above[i]:
            i += step
        band_edge = i - step if 0 <= i < n else None
    while 0 <= i < n and not above[i]:
        i += step
    return (i if 0 <= i < n else None), in_band, band_edge


def find_band_edges(
    energies_eV: np.ndarray,
    dos: np.ndarray,
    dipole_e_per_A: float,
    threshold_states_per_eV: float,
    start_offset_eV: float = 1.0,
    separation_eV: float = 0.5,
    reference_eV: float = 0.0,
    second_from_reference: bool = False,
) -> BandEdges:
    """VBM and CBM of a DoS on an increasing grid (eV vs E_F), by the paper's thresholded scan.

    The scans start at ``reference_eV ± s`` (the reference is E_F, 0, unless the caller knows
    better) and the water is metallized when an edge reaches the reference. The second scan
    starts δ beyond the first edge, or, with ``second_from_reference`` (for a reference known to
    lie in the gap, where δ could step over a narrow gap's other edge), at the reference itself.

    Raises :class:`~dftpost.errors.DftpostError` when the DoS never exceeds the threshold on the
    side searched (no band found within the grid), and for input the search cannot use: energies
    that are not finite and increasing, a DoS of another length or with NaN/Inf, a threshold,
    dipole, offset, separation or reference that is not a finite number (or out of its range).
    """
    energies_eV = np.asarray(energies_eV, dtype=float)
    dos = np.asarray(dos, dtype=float)
    _check_search_input(energies_eV, dos, dipole_e_per_A, threshold_states_per_eV, start_offset_eV, separation_eV, reference_eV)
    above = dos > threshold_states_per_eV
    if not above.any():
        raise DftpostError(
            None, f"the water PDoS never exceeds the threshold {threshold_states_per_eV:.4g} states/eV"
        )
    notes: list[str] = []
    crossing: list[bool] = []  # set when the first scan starts in a band reaching the reference

    def index_at(energy: float, side: str) -> int:
        i = int(np.searchsorted(energies_eV, energy, side="right")) - 1 if side == "below" else int(
            np.searchsorted(energies_eV, energy, side="left")
        )
        return min(max(i, 0), energies_eV.size - 1)

    def search(start_energy: float, step: int, what: str, first: bool) -> tuple[int, bool]:
        start = index_at(start_energy, "below" if step < 0 else "above")
        found, in_band, band_edge = _scan(above, start, step)
        if in_band:
            beyond = band_edge is None or energies_eV[band_edge] * step >= reference_eV * step
            if found is None or (first and beyond):
                # the band holding the start reaches the reference (or never ends): it crosses
                # the reference, the water is metallic, and the edge is where the scan began
                notes.append(
                    f"the {what} scan started at {start_energy:+.3f} eV inside a band that reaches "
                    f"the reference level: edge taken at the start"
                )
                crossing.append(first and beyond)
                return start, True
            notes.append(
                f"the {what} scan started at {start_energy:+.3f} eV inside a band; left it at "
                f"{energies_eV[band_edge]:+.3f} eV before searching"
            )
        if found is None:
            raise DftpostError(
                None,
                f"no {what}: the water PDoS stays below {threshold_states_per_eV:.4g} states/eV "
                f"{'below' if step < 0 else 'above'} {start_energy:+.3f} eV",
            )
        return found, in_band

    if dipole_e_per_A < 0:
        vbm, in_band = search(reference_eV + start_offset_eV, -1, "VBM", first=True)
        second = reference_eV if second_from_reference else energies_eV[vbm] + separation_eV
        cbm, _ = search(second, +1, "CBM", first=False)
        branch = "dipole<0: VBM searched down from reference+s, then CBM up from " + (
            "the reference" if second_from_reference else "VBM+δ"
        )
    else:
        cbm, in_band = search(reference_eV - start_offset_eV, +1, "CBM", first=True)
        second = reference_eV if second_from_reference else energies_eV[cbm] - separation_eV
        vbm, _ = search(second, -1, "VBM", first=False)
        branch = "dipole>=0: CBM searched up from reference-s, then VBM down from " + (
            "the reference" if second_from_reference else "CBM-δ"
        )
    return BandEdges(
        vbm_eV=float(energies_eV[vbm]),
        cbm_eV=float(energies_eV[cbm]),
        threshold_states_per_eV=float(threshold_states_per_eV),
        branch=branch,
        started_in_band=in_band,
        reference_eV=float(reference_eV),
        notes=tuple(notes),
        start_offset_eV=float(start_offset_eV),
        band_crosses_reference=any(crossing),
    )


#: Least weight (0–1) a state of a run with a substrate must have on the selected water atoms to
#: count as a water state for the occupation rule (:func:`water_levels`): most of it. On the real
#: MgO(100)–water run the water's highest occupied state holds 0.99 there, the oxide's valence
#: top 0.0000–0.0006, its conduction bottom 0.07, the water's lowest unoccupied state 0.67.
WATER_STATE_WEIGHT = 0.5


def fermi_level_pinned(dos: ProjectedDos, tolerance: float = BandEdgeParameters.occupation_tolerance) -> bool | None:
    """Whether the run's E_F lies inside a band: True when some state (any projection, any spin)
    is partly filled (more than ``tolerance`` of its capacity and short of full by more), as a
    metal's states at E_F are under smearing; False when every state is full or empty (a gapped
    system: CP2K's E_F is then its highest occupied state, e.g. an oxide's valence top); None
    without occupations (a DoS on a grid)."""
    if not dos.is_discrete or dos.occupations is None:
        return None
    capacity = dos.spin_degeneracy
    partly = (dos.occupations > tolerance * capacity) & (dos.occupations < (1.0 - tolerance) * capacity)
    return bool(partly.any())


@dataclass(frozen=True)
class WaterLevels:
    """The highest occupied and the lowest unoccupied water state (eV vs E_F), read from the
    occupations of a discrete DoS (every spin channel together). A partly filled state is both."""

    highest_occupied_eV: float
    lowest_unoccupied_eV: float

    @property
    def metallized(self) -> bool:
        """Occupied and unoccupied water states overlap or touch."""
        return self.highest_occupied_eV >= self.lowest_unoccupied_eV

    @property
    def middle_eV(self) -> float:
        return 0.5 * (self.highest_occupied_eV + self.lowest_unoccupied_eV)


def water_levels(
    dos: ProjectedDos, tolerance: float = BandEdgeParameters.occupation_tolerance, min_weight: float = 0.0
) -> WaterLevels | None:
    """The :class:`WaterLevels` of the states with more than ``min_weight`` (0–1) of their weight
    on the projections of ``dos`` (the water PDoS), or None when ``dos`` has no occupations (a
    DoS on a grid) or lacks occupied or unoccupied such states (a run that printed no virtual
    states). A state holding less than ``tolerance`` of its capacity is empty, one short of less
    than ``tolerance`` full (CP2K prints occupations to 1e-6; a smeared insulator's tails are far
    smaller). Water alone: every state (``min_weight`` 0); beside a substrate every state has a
    Mulliken tail on the water, and :data:`WATER_STATE_WEIGHT` keeps the water's own states."""
    if dos.eigenvalues_eV is None or dos.occupations is None:  # a DoS on a grid: no states
        return None
    on_water = dos.values.sum(axis=1) > min_weight  # (spin, state)
    capacity = dos.spin_degeneracy
    occupied = on_water & (dos.occupations > tolerance * capacity)
    vacant = on_water & (dos.occupations < (1.0 - tolerance) * capacity)
    if not occupied.any() or not vacant.any():
        return None
    return WaterLevels(float(dos.eigenvalues_eV[occupied].max()), float(dos.eigenvalues_eV[vacant].min()))


def printed_levels(states: FrontierStates, fermi_level_eV: float, tolerance: float) -> WaterLevels:
    """The :class:`WaterLevels` (eV vs E_F) of the highest occupied and lowest unoccupied state
    a program printed for the whole system, which for water alone are the water's. A printed
    lowest unoccupied state holding more than ``tolerance`` of its capacity is also occupied, a
    highest occupied one short of more than that also empty (as :func:`water_levels` counts a
    partly filled state as both), so partial filling reads as occupied and empty states that touch."""
    homo, lumo = states.highest_occupied_eV - fermi_level_eV, states.lowest_unoccupied_eV - fermi_level_eV
    highest = max(homo, lumo) if states.lowest_unoccupied_occupation > tolerance * states.capacity else homo
    lowest = min(homo, lumo) if states.highest_occupied_occupation < (1.0 - tolerance) * states.capacity else lumo
    return WaterLevels(float(highest), float(lowest))


def _threshold(params: BandEdgeParameters, dos: np.ndarray, n_atoms: int) -> float:
    if params.threshold_mode == "per_atom":
        return params.threshold * n_atoms
    if params.threshold_mode == "relative":
        return params.threshold * float(np.max(dos))
    return params.threshold


def _energy_grid(pdos: ProjectedDos, params: BandEdgeParameters) -> np.ndarray | None:
    if pdos.eigenvalues_eV is None:  # already on a grid
        return None
    lo = max(float(pdos.eigenvalues_eV.min()) - 5 * params.sigma_eV, -40.0)
    hi = min(float(pdos.eigenvalues_eV.max()) + 5 * params.sigma_eV, 30.0)
    span = max(hi - lo, 0.0) / params.spacing_eV  # a float: inf when the grid would be endless
    if not span < MAX_GRID_POINTS:
        raise DftpostError(
            None, f"a spacing of {params.spacing_eV} eV makes {span:.3g} points from {lo:.2f} to {hi:.2f} eV (at most {MAX_GRID_POINTS})"
        )
    return lo + params.spacing_eV * np.arange(math.floor(span) + 1)


_MAX_Z_BINS = 100_000


@dataclass(frozen=True)
class WaterGap:
    """The band-edge analysis of one run. Energies eV vs E_F (``fermi_level_eV`` as printed by
    the program); dipole in e/Å with its source; z-resolved PDoS on ``energies_eV`` with bin edges
    in Å, bin centres (mean height of each bin's atoms, Å) and local edges per bin (NaN where the
    search failed in a bin); ``z_resolved_note`` says why there are no bins (empty when there
    are). ``metallized`` is the verdict and ``verdict_basis`` says how it was reached; ``levels`` are the water's highest
    occupied and lowest unoccupied states where the run gives occupations; ``selection`` the
    water atoms summed and the side of the substrate each faces; ``edges_by_spin`` the edges of
    each spin channel of a spin-polarised run (None for a closed shell); ``vacuum`` the vacuum
    levels (:class:`VacuumScale`); ``substrate_dos`` the substrate's DoS on ``energies_eV``
    (states/eV, spins summed; None without a substrate, :func:`substrate_pdos`)."""

    edges: BandEdges
    edges_by_spin: tuple[BandEdges | None, BandEdges | None] | None
    metallized: bool
    verdict_basis: str
    levels: WaterLevels | None
    fermi_level_eV: float | None
    reference: str
    dipole_e_per_A: float
    dipole_source: str
    n_water_atoms: int
    top_metal_A: float | None
    parameters: BandEdgeParameters
    census: dict[str, int] | None
    selection: WaterSelection = field(repr=False)
    energies_eV: np.ndarray = field(repr=False)
    water_dos: np.ndarray = field(repr=False)
    z_bin_edges_A: np.ndarray = field(repr=False)
    z_bin_centres_A: np.ndarray = field(repr=False)
    z_resolved_note: str
    z_resolved_dos: np.ndarray = field(repr=False)
    local_vbm_eV: np.ndarray = field(repr=False)
    local_cbm_eV: np.ndarray = field(repr=False)
    vacuum: VacuumScale | None = None
    substrate_dos: np.ndarray | None = field(default=None, repr=False)

    def row(self) -> dict:
        """The scalar results as a flat dict (the keys of the ``gap`` table and ``--json``)."""
        e = self.edges
        return {
            "vbm_eV": e.vbm_eV,
            "cbm_eV": e.cbm_eV,
            "gap_eV": e.gap_eV,
            "metallized": self.metallized,
            "verdict_basis": self.verdict_basis,
            "water_homo_eV": None if self.levels is None else self.levels.highest_occupied_eV,
            "water_lumo_eV": None if self.levels is None else self.levels.lowest_unoccupied_eV,
            "start_offset_used_eV": e.start_offset_eV,
            "vbm_by_spin_eV": None if self.edges_by_spin is None else [None if c is None else c.vbm_eV for c in self.edges_by_spin],
            "cbm_by_spin_eV": None if self.edges_by_spin is None else [None if c is None else c.cbm_eV for c in self.edges_by_spin],
            "dipole_e_per_A": self.dipole_e_per_A,
            "dipole_source": self.dipole_source,
            "fermi_level_eV": self.fermi_level_eV,
            "reference_eV": e.reference_eV,
            "reference": self.reference,
            "n_water_atoms": self.n_water_atoms,
            "n_water_atoms_above_substrate": None if self.top_metal_A is None else int((self.selection.side > 0).sum()),
            "n_water_atoms_below_substrate": None if self.top_metal_A is None else int((self.selection.side < 0).sum()),
            "n_substrate_atoms": int(self.selection.substrate.size),
            "threshold_states_per_eV": e.threshold_states_per_eV,
            "started_in_band": e.started_in_band,
            "branch": e.branch,
            "notes": list(e.notes),
            "z_resolved_note": self.z_resolved_note,
            **_vacuum_row(self.vacuum, e, self.top_metal_A is not None),
            "parameters": asdict(self.parameters),
        }


def water_gap(run: Run, params: BandEdgeParameters = BandEdgeParameters(), dipole_e_per_A: float | None = None) -> WaterGap:
    """Band edges of the water of one run: selection, PDoS, dipole, search, z-resolved edges.

    ``dipole_e_per_A`` overrides the fixed-charge dipole computed from the run's structure.
    Raises :class:`~dftpost.errors.DftpostError` (naming the run) for anything missing.
    """
    try:
        return _water_gap(run, params, dipole_e_per_A)
    except DftpostError as exc:
        if exc.path is None:
            raise DftpostError(run.path, exc.problem) from None
        raise


def _water_gap(run: Run, params: BandEdgeParameters, dipole_e_per_A: float | None) -> WaterGap:
    if run.pdos is None:
        raise DftpostError(None, "no projected DoS in the run (" + ", ".join(run.missing) + ")")
    if run.atoms is None:
        raise DftpostError(None, "no structure in the run: cannot select the water atoms")
    atoms = run.atoms
    numbers, positions, cell = atoms.numbers, atoms.positions, atoms.cell[:]
    selection = select_water(numbers, positions, cell, params.d_cut_A, params.axis, atoms.pbc, params.r_oh_A)
    indices, top = selection.indices, selection.top_substrate_A
    water_only = top is None
    census = None
    if dipole_e_per_A is None:
        molecules = selection.molecule_atoms  # a substrate's O (an oxide) carries no q_O
        dipole = fixed_charge_dipole(
            numbers[molecules], positions[molecules], cell, atoms.pbc, params.q_o_e, params.r_oh_A, params.axis
        )
        dipole_e_per_A, census = dipole.total_e_per_A, dipole.census
        source = f"fixed-charge model of the water molecules, q_O = {params.q_o_e} e, r_OH = {params.r_oh_A} Å"
    else:
        source = "given by the user"
    selected = water_pdos(run.pdos, indices, water_only)
    grid = selected.on_grid(params.sigma_eV, _energy_grid(selected, params))
    energies, dos = grid.energies_eV, grid.values.sum(axis=0)[0]  # spins summed
    if energies is None:  # on_grid gives the grid form
        raise DftpostError(None, "the water PDoS has no energy grid after broadening")
    threshold = _threshold(params, dos, indices.size)
    # E_F pinned: by a metal's partly filled states; a gapped substrate (an oxide) pins nothing, its
    # E_F is the system's highest occupied state, and the occupations decide as for water alone
    pinned = top is not None and fermi_level_pinned(run.pdos, params.occupation_tolerance) is not False
    levels = None if pinned else water_levels(selected, params.occupation_tolerance, 0.0 if water_only else WATER_STATE_WEIGHT)
    levels_source = "the water PDoS's occupations" + (
        "" if water_only else f" (states with more than {WATER_STATE_WEIGHT:g} of their weight on the selected water; "
        "no state of the run is partly filled: the substrate pins no E_F)"
    )
    if levels is None and top is None and run.frontier_states is not None and run.fermi_level_eV is not None:
        levels = printed_levels(run.frontier_states, run.fermi_level_eV, params.occupation_tolerance)
        levels_source = run.frontier_states.source + " (of the whole system: the water alone)"
    start_offset = params.start_offset_eV
    if levels is not None:
        reference_eV, start_offset = levels.middle_eV, 0.0
        reference = (
            f"middle between the water's highest occupied and lowest unoccupied states "
            f"({reference_eV:+.3f} eV; nothing pins E_F; both scans start there, s not applied)"
        )
        edges = _edges_in_known_gap(energies, dos, dipole_e_per_A, threshold, params.separation_eV, levels)
    else:
        reference_eV, reference = _reference(energies, dos, threshold, params.separation_eV, pinned)
        edges = find_band_edges(energies, dos, dipole_e_per_A, threshold, start_offset, params.separation_eV, reference_eV)
    metallized, basis = _verdict(edges, levels, pinned)
    if levels is not None:
        basis += f"; from {levels_source}"
    if pinned and metallized:
        basis += _tails_caution(selected, params)
    by_spin = None
    if grid.n_spin == 2:
        by_spin = tuple(
            _channel_edges(selected, grid.values[s, 0], s, energies, dipole_e_per_A, threshold, params, pinned,
                           start_offset, reference_eV, 0.0 if water_only else WATER_STATE_WEIGHT)
            for s in range(2)
        )
    substrate = substrate_pdos(run.pdos, numbers, selection)
    bins, centres, z_dos, local_vbm, local_cbm, z_note = _z_resolved(
        run.pdos, positions, indices, params, energies, dipole_e_per_A, water_only, reference_eV, start_offset
    )
    return WaterGap(
        edges=edges,
        edges_by_spin=by_spin,
        metallized=metallized,
        verdict_basis=basis,
        levels=levels,
        fermi_level_eV=run.fermi_level_eV,
        reference=reference,
        dipole_e_per_A=float(dipole_e_per_A),
        dipole_source=source,
        n_water_atoms=int(indices.size),
        top_metal_A=top,
        parameters=params,
        census=census,
        selection=selection,
        energies_eV=energies,
        water_dos=dos,
        z_bin_edges_A=bins,
        z_bin_centres_A=centres,
        z_resolved_note=z_note,
        z_resolved_dos=z_dos,
        local_vbm_eV=local_vbm,
        local_cbm_eV=local_cbm,
        vacuum=vacuum_scale(run, selection, dipole_e_per_A, params.axis),
        substrate_dos=None if substrate is None else substrate.on_grid(params.sigma_eV, energies).values.sum(axis=0)[0],
    )


@dataclass(frozen=True)
class VacuumScale:
    """The vacuum levels of a run in eV relative to E_F (the energy scale of the band edges):
    ``upper_eV`` above the slab, ``lower_eV`` below it (NaN where a side has no flat vacuum),
    ``side`` the one the main value is taken from (``"upper"`` or ``"lower"``), ``spread_eV`` the
    flatness of that plateau (max − min, eV; NaN when the program printed the level), ``source``
    where the levels come from, ``note`` why there are none (then both NaN)."""

    upper_eV: float
    lower_eV: float
    side: str
    spread_eV: float
    source: str
    note: str = ""

    @property
    def level_eV(self) -> float:
        return self.upper_eV if self.side == "upper" else self.lower_eV


def vacuum_scale(run: Run, selection: WaterSelection, dipole_e_per_A: float, axis: int = 2) -> VacuumScale:
    """The vacuum levels of a run, relative to its printed E_F, and the side to read edges against.

    Side: with a substrate, the vacuum the selected water faces (beyond the water, where the
    water's outer surface meets the vacuum): upper when most selected water atoms lie above their
    nearest substrate atom. Water alone: the side of the layer whose states lie highest, which
    holds the VBM: below for a dipole μ ≥ 0 along the normal (the electron's potential energy is
    highest at the lower end), above for μ < 0.

    Sources: CP2K's V_HARTREE cube (:func:`dftpost.analysis.vacuum.vacuum_levels`; its zero is
    the eigenvalues' zero); FHI-aims' printed vacuum levels of the dipole correction (internal
    zero, as its chemical potential). No level (NaN, with the note) without a dipole correction,
    with an applied field (CP2K's cube lacks its potential), or without a potential cube.
    """
    if selection.top_substrate_A is not None:
        side = "upper" if (selection.side > 0).sum() >= (selection.side < 0).sum() else "lower"
    else:
        side = "lower" if dipole_e_per_A >= 0 else "upper"
    nan = float("nan")

    def none(note: str) -> VacuumScale:
        return VacuumScale(nan, nan, side, nan, "", note)

    if run.fermi_level_eV is None:
        return none("no Fermi level")
    if run.dipole_correction is None:
        return none("no dipole correction: the vacuum potential slopes, no vacuum level")
    field = run.applied_field_V_per_A
    if field is not None and np.any(np.asarray(field) != 0):
        return none("applied field: the vacuum potential slopes, no vacuum level")
    if run.code == "fhi-aims":
        upper, lower = run.dipole_correction.vacuum_levels_eV
        if upper is None or lower is None:
            return none("FHI-aims printed no vacuum levels")
        return VacuumScale(upper - run.fermi_level_eV, lower - run.fermi_level_eV, side, nan,
                           "vacuum levels printed by FHI-aims' dipole correction")
    cubes = sorted((c for c in run.cubes if c.quantity == "electrostatic_potential"), key=lambda c: c.path.name)
    if not cubes:
        return none("no electrostatic-potential cube")
    from ..io.cube import read_cube
    from .vacuum import vacuum_levels

    levels = vacuum_levels(read_cube(cubes[0].path), axis)
    spread = levels.upper_spread_eV if side == "upper" else levels.lower_spread_eV
    return VacuumScale(levels.upper_eV - run.fermi_level_eV, levels.lower_eV - run.fermi_level_eV, side, spread,
                       f"plateaus of the planar average of {cubes[0].path.name}")


def _vacuum_row(vacuum: VacuumScale | None, edges: BandEdges, substrate: bool) -> dict:
    """The vacuum-scale keys of a row (None where unknown)."""
    def num(x: float) -> float | None:
        return None if x is None or not math.isfinite(x) else float(x)

    level = None if vacuum is None else num(vacuum.level_eV)
    return {
        "vacuum_level_eV": level,
        "vacuum_level_upper_eV": None if vacuum is None else num(vacuum.upper_eV),
        "vacuum_level_lower_eV": None if vacuum is None else num(vacuum.lower_eV),
        "vacuum_side": "" if vacuum is None else vacuum.side,
        "vacuum_spread_eV": None if vacuum is None else num(vacuum.spread_eV),
        "vacuum_note": "" if vacuum is None else (vacuum.note or vacuum.source),
        "work_function_eV": level if substrate else None,
        "vbm_vs_vacuum_eV": None if level is None else edges.vbm_eV - level,
        "cbm_vs_vacuum_eV": None if level is None else edges.cbm_eV - level,
    }


def _channel_edges(selected, dos, spin, energies, dipole, threshold, params, pinned, start_offset, reference_eV, min_weight):
    """The edges of one spin channel (eV vs E_F), searched as the combined ones with half the
    threshold (a channel holds half the states of a closed shell, so T/2 keeps the edges of two
    equal channels those of their sum); from the channel's own occupations where nothing pins
    E_F (water alone, a gapped substrate; water states: more than ``min_weight`` on the water).
    None where the channel has no band above T/2 on a side searched."""
    levels = None
    if not pinned and selected.is_discrete:
        channel = replace(
            selected,
            values=selected.values[spin : spin + 1],
            eigenvalues_eV=selected.eigenvalues_eV[spin : spin + 1],
            occupations=None if selected.occupations is None else selected.occupations[spin : spin + 1],
        )
        levels = water_levels(channel, params.occupation_tolerance, min_weight)
    try:
        if levels is not None:
            return _edges_in_known_gap(energies, dos, dipole, 0.5 * threshold, params.separation_eV, levels)
        return find_band_edges(energies, dos, dipole, 0.5 * threshold, start_offset, params.separation_eV, reference_eV)
    except DftpostError:
        return None


def _edges_in_known_gap(energies, dos, dipole, threshold, separation_eV, levels: WaterLevels) -> BandEdges:
    """Edges of water alone whose occupations locate its gap (eV vs E_F).

    With the occupied and unoccupied states apart and the water PDoS below T in the middle
    between them, both thresholded scans start there (s = 0, the second scan not δ beyond the
    first edge, which would step over the other edge of a gap narrower than 2 × tail + δ).
    Otherwise no threshold crossing separates the bands at the reference: a gap narrower than the
    broadening, or occupied and unoccupied states that overlap (metallized water, where a scan
    leaving the band at the reference would take a deeper band for the edge). The edges are then
    the highest occupied and the lowest unoccupied water state, and a negative gap is their overlap.
    """
    middle = levels.middle_eV
    if not levels.metallized and np.interp(middle, energies, dos) <= threshold:
        return find_band_edges(energies, dos, dipole, threshold, 0.0, separation_eV, middle, second_from_reference=True)
    why = (
        "occupied and unoccupied water states overlap"
        if levels.metallized
        else "the water PDoS exceeds T across the "
        f"{levels.lowest_unoccupied_eV - levels.highest_occupied_eV:.3f} eV between the highest occupied and lowest "
        "unoccupied water states (a gap narrower than the broadening)"
    )
    return BandEdges(
        vbm_eV=levels.highest_occupied_eV,
        cbm_eV=levels.lowest_unoccupied_eV,
        threshold_states_per_eV=float(threshold),
        branch="occupations: edges are the highest occupied and lowest unoccupied water states",
        started_in_band=False,
        reference_eV=middle,
        notes=(f"{why}: edges taken from the occupations",),
        start_offset_eV=0.0,
    )


def _verdict(edges: BandEdges, levels: WaterLevels | None, pinned: bool) -> tuple[bool, str]:
    """Whether the water is metallized and how that was decided (``pinned``: a substrate's
    partly filled states pin E_F)."""
    if pinned:
        return edges.metallized, "band edges against the Fermi level pinned by the substrate"
    if levels is None:
        return edges.metallized, "band edges against the middle of the water gap in the broadened DoS (no occupations in the run)"
    return levels.metallized, (
        f"occupations: highest occupied water state {levels.highest_occupied_eV:+.3f} eV, lowest unoccupied "
        f"{levels.lowest_unoccupied_eV:+.3f} eV ({'overlap or touch: metallized' if levels.metallized else 'apart'})"
    )


def _tails_caution(selected: ProjectedDos, params: BandEdgeParameters) -> str:
    """A caution for a metallized verdict against a pinned E_F that no state of the water's own
    reached: every state within 3σ of E_F has less than :data:`WATER_STATE_WEIGHT` of its weight
    on the selected water (its PDoS there is the substrate's tails), while the water's own
    occupied (more than half full) and empty (less than half) states lie apart. The verdict stays the paper's rule; "" when it does
    not apply (states of the water's own at E_F, or a DoS without occupations)."""
    # occupied: more than half full (a smeared run's thermal holes and tails are not partial filling here)
    own = water_levels(selected, 0.5, WATER_STATE_WEIGHT)
    window = 3 * params.sigma_eV
    if own is None or own.highest_occupied_eV >= -window or own.lowest_unoccupied_eV <= window:
        return ""
    return (f"; caution: the edge reached E_F on states with less than {WATER_STATE_WEIGHT:g} of their weight on "
            f"the water (the substrate's tails); the water's own states lie apart, highest occupied "
            f"{own.highest_occupied_eV:+.3f} eV, lowest unoccupied {own.lowest_unoccupied_eV:+.3f} eV: see the local edges")


def _reference(energies: np.ndarray, dos: np.ndarray, threshold: float, separation_eV: float, metal: bool) -> tuple[float, str]:
    """The level (eV vs the printed E_F) the scans start from and metallization is judged by.

    With a metal, E_F is pinned by the metal: the printed E_F. Water alone has no such pin: CP2K
    puts E_F at the HOMO (the valence-band top) and FHI-aims' smeared μ may sit at either band
    edge. The reference is then the middle of the interval around E_F where the water PDoS
    stays below T (the water's gap); when that interval is narrower than δ (no gap near E_F)
    the printed E_F is kept, and the search will report metallized water.
    """
    if metal:
        return 0.0, "Fermi level as printed (pinned by the metal)"
    below = dos <= threshold
    k = int(np.clip(np.searchsorted(energies, 0.0), 0, energies.size - 1))
    if not below[k]:  # E_F on a band: take the gap just above or below, whichever is nearer
        up = np.flatnonzero(below[k:])
        down = np.flatnonzero(below[: k + 1][::-1])
        steps = [(up[0], +1)] if up.size else []
        steps += [(down[0], -1)] if down.size else []
        if not steps:
            return 0.0, "Fermi level as printed (no gap in the water PDoS)"
        distance, direction = min(steps)
        k += direction * int(distance)
    lo = hi = k
    while lo > 0 and below[lo - 1]:
        lo -= 1
    while hi < below.size - 1 and below[hi + 1]:
        hi += 1
    if energies[hi] - energies[lo] < separation_eV:
        return 0.0, "Fermi level as printed (no gap wider than δ near it)"
    middle = 0.5 * (energies[lo] + energies[hi])
    return float(middle), f"middle of the water gap around E_F ({middle:+.3f} eV; no metal pins E_F)"


def _z_resolved(pdos, positions, indices, params, energies, dipole, water_only, reference_eV, start_offset_eV):
    """Water PDoS in z bins and the local band edges of each bin.

    Bins: per-atom DoS (FHI-aims) is binned by atom height in bins of ``z_bin_A`` from the
    lowest selected water atom, substrate or not. CP2K's DoS is per kind and per ``&LDOS`` list:
    the bins are the lists whose atoms all belong to the water selection and that are not the
    whole of it (the layer lists ``dftpost generate`` writes; a list holding a substrate atom or
    water within d_cut is no bin), ordered by their mean height.

    Local edges: the scans of :func:`find_band_edges` (same reference, s and δ as the whole
    water) with the bin's threshold max(T of the bin's atoms, f × the bin's own PDoS maximum),
    f = ``local_threshold_fraction``. A projection onto a layer's atoms carries a tail of the
    neighbouring layers' states (≈1 % of the layer's own peak on a real 4-water slab: Mulliken
    weight of the neighbour's orbitals on its atoms), which T = 0.01 per atom crosses: the
    neighbour's band edge would then set the layer's local edge. f = 0.02 keeps it out.

    Returns (bin edges Å, bin centres Å: mean height of the bin's atoms, PDoS per bin, local
    VBM, local CBM eV, note): edges/centres/PDoS empty and the note saying why when no bin could
    be made; NaN edges for an empty bin or one without a band above its threshold.
    """
    height = positions[:, params.axis]
    groups: list[np.ndarray] = []
    note = ""
    if any(p.kind == "atom" for p in pdos.projections):
        lo = height[indices].min()
        n_bins = int(np.ceil((height[indices].max() - lo) / params.z_bin_A + 1e-9))
        if n_bins > _MAX_Z_BINS:
            raise DftpostError(None, f"z bins of {params.z_bin_A} Å make {n_bins} bins over the water (at most {_MAX_Z_BINS})")
        edges = lo + params.z_bin_A * np.arange(n_bins + 1)
        edges[-1] = max(edges[-1], height[indices].max() + 1e-6)
        which = np.digitize(height[indices], edges) - 1
        groups = [indices[which == b] for b in range(edges.size - 1)]
    else:
        wanted = set(indices.tolist())
        lists = [p for p in pdos.projections if p.kind == "list" and p.atom_indices]
        layer_lists = [np.array(p.atom_indices) for p in lists if set(p.atom_indices) < wanted]
        layer_lists.sort(key=lambda a: height[a].mean())
        groups = layer_lists
        edges = np.array([height[g].min() for g in groups] + [height[groups[-1]].max()]) if groups else np.zeros(0)
        if not groups:
            note = (
                "no z-resolved PDoS: the DoS is per kind and "
                + ("has no &LDOS list" if not lists else f"none of its {len(lists)} &LDOS lists is a part of the "
                   f"{len(wanted)} selected water atoms (layer lists: dftpost generate writes them)")
            )
    n_bins = len(groups)
    centres = np.array([height[g].mean() if g.size else np.nan for g in groups])
    z_dos = np.zeros((n_bins, energies.size))
    local_vbm = np.full(n_bins, np.nan)
    local_cbm = np.full(n_bins, np.nan)
    for b, group in enumerate(groups):
        if group.size == 0:
            continue
        part = water_pdos(pdos, group, water_only).on_grid(params.sigma_eV, energies)
        z_dos[b] = part.values.sum(axis=0)[0]
        threshold = max(_threshold(params, z_dos[b], group.size), params.local_threshold_fraction * float(z_dos[b].max()))
        try:
            local = find_band_edges(
                energies, z_dos[b], dipole, threshold, start_offset_eV, params.separation_eV, reference_eV
            )
        except DftpostError:
            continue
        local_vbm[b], local_cbm[b] = local.vbm_eV, local.cbm_eV
    return edges, centres, z_dos, local_vbm, local_cbm, note


def gap_by_dipole(
    dipole_e_per_A: np.ndarray, gap_eV: np.ndarray, metallized: np.ndarray, bin_width_e_per_A: float = 0.005
) -> list[dict]:
    """Gaps binned by the total dipole (the numbers behind the paper's Fig. 2c).

    Bins of ``bin_width_e_per_A`` centred on multiples of the width; for each non-empty bin its
    centre (e/Å), count, mean and standard deviation of the gap (eV, population std) and the
    fraction of metallized frames.
    """
    if not bin_width_e_per_A > 0:
        raise DftpostError(None, f"the bin width must be positive, got {bin_width_e_per_A}")
    dipole = np.asarray(dipole_e_per_A, dtype=float)
    gap = np.asarray(gap_eV, dtype=float)
    metal = np.asarray(metallized, dtype=bool)
    if not (np.isfinite(dipole).all() and np.isfinite(gap).all()):
        raise DftpostError(None, "dipoles and gaps to bin must be finite numbers (leave out the rows without them)")
    index = np.rint(dipole / bin_width_e_per_A).astype(int)
    bins = []
    for k in np.unique(index):
        inside = index == k
        bins.append(
            {
                "centre_e_per_A": float(k * bin_width_e_per_A),
                "count": int(inside.sum()),
                "mean_gap_eV": float(gap[inside].mean()),
                "std_gap_eV": float(gap[inside].std()),
                "metallized_fraction": float(metal[inside].mean()),
            }
        )
    return bins
