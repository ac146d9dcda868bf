"""The band-edge analysis of one run (:func:`water_gap`, result :class:`WaterGap`), and the gaps
of many binned by dipole (:func:`gap_by_dipole`). Energies in eV relative to the printed E_F.

1. The water PDoS sums the projections of the water molecules (O with two H within r_OH) whose
   atoms all lie farther than ``d_cut`` from the nearest substrate atom (every atom not in a
   water molecule: metal, oxide), along the normal with the minimum image, so water on either
   side of a slab or between two slabs is judged by its own interface (all water when the
   structure is H and O alone: :mod:`dftpost.analysis.water_selection`). Programs that print
   eigenvalues (CP2K) have them broadened on a grid.
2. The dipole along the normal (fixed-charge model of the water molecules, or the user's) says
   which edge is sought first; the edges come from the thresholded scan
   (:mod:`dftpost.analysis.bandedges`), the verdict from the pinned E_F or the occupations
   (:mod:`dftpost.analysis.metallization`).
3. The edges of each spin channel of a spin-polarised run, and the local edges of the water in
   z bins (:func:`_z_resolved`).
4. The vacuum levels (:func:`dftpost.analysis.vacuum.vacuum_scale`), from the run's printed
   levels or the electrostatic-potential grid the caller read.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..dos import MAX_GRID_POINTS, ProjectedDos
from ..errors import DftpostError
from ..grid import Grid
from ..run import Run
from .bandedges import BandEdgeParameters, BandEdges, find_band_edges, reference_level, threshold_states_per_eV
from .dipole import fixed_charge_dipole
from .metallization import (
    WATER_STATE_WEIGHT,
    WaterLevels,
    edges_in_known_gap,
    fermi_level_pinned,
    printed_levels,
    tails_caution,
    verdict,
    water_levels,
)
from .vacuum import VacuumScale, vacuum_scale
from .water_selection import WaterSelection, select_water, substrate_pdos, water_pdos


def _energy_grid(pdos: ProjectedDos, params: BandEdgeParameters) -> np.ndarray | None:
    """The grid (eV vs E_F, ``spacing_eV`` apart) a DoS of eigenvalues is broadened on: 5σ beyond
    the lowest and highest, within −40 to 30 eV; None for a DoS already on a grid."""
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


def water_gap(run: Run, params: BandEdgeParameters = BandEdgeParameters(), dipole_e_per_A: float | None = None,
              potential: Grid | None = None) -> WaterGap:
    """Band edges of the water of one run: selection, PDoS, dipole, search, z-resolved edges and
    vacuum levels.

    ``dipole_e_per_A`` overrides the fixed-charge dipole computed from the run's structure.
    ``potential`` is the run's electrostatic potential (V) when its vacuum levels come from it
    (CP2K: the grid of the cube :func:`dftpost.analysis.vacuum.potential_cube` names, read by
    the caller); without it such a run has no vacuum level, and its note says why.
    Raises :class:`~dftpost.errors.DftpostError` (naming the run, or the potential cube when
    that is at fault) for anything missing.
    """
    try:
        return _water_gap(run, params, dipole_e_per_A, potential)
    except DftpostError as exc:
        if exc.path is None:
            raise DftpostError(run.path, exc.problem) from None
        raise


def _water_gap(run: Run, params: BandEdgeParameters, dipole_e_per_A: float | None, potential: Grid | None) -> WaterGap:
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
    threshold = threshold_states_per_eV(params, dos, indices.size)
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
        edges = edges_in_known_gap(energies, dos, dipole_e_per_A, threshold, params.separation_eV, levels)
    else:
        reference_eV, reference = reference_level(energies, dos, threshold, params.separation_eV, pinned)
        edges = find_band_edges(energies, dos, dipole_e_per_A, threshold, start_offset, params.separation_eV, reference_eV)
    metallized, basis = verdict(edges, levels, pinned)
    if levels is not None:
        basis += f"; from {levels_source}"
    if pinned and metallized:
        basis += tails_caution(selected, params)
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
        vacuum=vacuum_scale(run, selection, dipole_e_per_A, potential, params.axis),
        substrate_dos=None if substrate is None else substrate.on_grid(params.sigma_eV, energies).values.sum(axis=0)[0],
    )


def _vacuum_row(vacuum: VacuumScale | None, edges: BandEdges, substrate: bool) -> dict:
    """The vacuum-scale keys of a row (None where unknown)."""
    def num(x: float) -> float | None:
        return None if x is None or not math.isfinite(x) else float(x)

    level = None if vacuum is None else num(vacuum.level_eV)
    return {
        "vacuum_level_eV": level,
        "vacuum_level_upper_eV": None if vacuum is None else num(vacuum.upper_eV),
        "vacuum_level_lower_eV": None if vacuum is None else num(vacuum.lower_eV),
        "vacuum_side": None if vacuum is None else vacuum.side,
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
            return edges_in_known_gap(energies, dos, dipole, 0.5 * threshold, params.separation_eV, levels)
        return find_band_edges(energies, dos, dipole, 0.5 * threshold, start_offset, params.separation_eV, reference_eV)
    except DftpostError:
        return None


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
        threshold = max(threshold_states_per_eV(params, z_dos[b], group.size), params.local_threshold_fraction * float(z_dos[b].max()))
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
