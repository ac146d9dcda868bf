"""Projected density of states: one type for FHI-aims and CP2K.

FHI-aims writes a DoS already broadened on an energy grid, one file per atom or species.
CP2K writes discrete Kohn–Sham eigenvalues with a weight per state for each atomic kind or
``&LDOS`` list. :class:`ProjectedDos` holds either form; :meth:`ProjectedDos.on_grid` turns the
discrete form into the grid form with a Gaussian broadening, so that analyses never need to know
which program wrote the numbers.

Energies are in eV relative to the Fermi level (E_F = 0); the raw Fermi level, on the program's
own energy zero, is kept in :attr:`ProjectedDos.fermi_level_eV`. :meth:`ProjectedDos.to_pymatgen`
gives pymatgen's DoS objects (optional extra ``dftpost[pymatgen]``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import defaults
from .errors import DftpostError

if TYPE_CHECKING:  # pymatgen is an optional extra, imported by to_pymatgen only
    from pymatgen.electronic_structure.dos import Dos

#: Default Gaussian width (eV) and grid spacing (eV) of a broadened DoS (:mod:`dftpost.defaults`).
DEFAULT_SIGMA_EV = defaults.DOS_SIGMA_EV
DEFAULT_SPACING_EV = defaults.DOS_SPACING_EV

L_LABELS = ("s", "p", "d", "f", "g", "h")
#: Most points of an energy grid made by :meth:`ProjectedDos.on_grid` (70 eV every 35 µeV).
MAX_GRID_POINTS = 2_000_000


@dataclass(frozen=True)
class Projection:
    """What one projection channel of a :class:`ProjectedDos` sums over.

    ``kind`` is ``"atom"`` (one atom), ``"species"`` (all atoms of an element or CP2K kind),
    ``"list"`` (a CP2K ``&LDOS`` list) or ``"sum"`` (a sum made by dftpost).
    ``atom_indices`` are 0-based indices into the run's structure, or ``None`` when the file
    does not say which atoms (CP2K lists and kinds); ``n_atoms`` is the number of atoms summed,
    when known.
    """

    label: str
    kind: str
    atom_indices: tuple[int, ...] | None = None
    species: str | None = None
    n_atoms: int | None = None


@dataclass(frozen=True, eq=False)
class ProjectedDos:
    """A density of states projected on atoms, kinds or lists of atoms.

    Grid form (``energies_eV`` set): ``values[s, p, k]`` is the DoS of spin channel ``s``
    projected on ``projections[p]`` at ``energies_eV[k]``, in states/eV (per spin channel when
    there are two; both spins together when there is one).

    One convention whichever program wrote it: a state counts the electrons it can hold, so that
    the DoS summed over channels integrates to the electron count below E_F (a spin-restricted
    orbital counts 2, a spin–orbit spinor or a state of one spin channel 1). Readers convert to
    it: CP2K's weights are scaled by ``spin_degeneracy``; FHI-aims up to 151211 wrote
    spin-restricted files with one state per orbital, doubled by its reader. A per-atom threshold
    on this DoS therefore means the same for both programs.

    Discrete form (``eigenvalues_eV`` set): ``values[s, p, i]`` is the weight (0–1) of state
    ``i`` of spin ``s`` on ``projections[p]``; ``eigenvalues_eV[s, i]`` and ``occupations[s, i]``
    describe the state. ``spin_degeneracy`` is the number of electrons a state holds in the DoS
    (2 for a closed-shell CP2K run, 1 for ALPHA/BETA channels).

    ``orbital_values`` (optional) resolves ``values`` by angular momentum:
    ``orbital_values[s, p, l, k]`` for ``orbitals[l]`` in ``s, p, d, ...``; a projection whose
    basis has no such channel holds zeros there.
    """

    fermi_level_eV: float
    projections: tuple[Projection, ...]
    values: np.ndarray
    energies_eV: np.ndarray | None = None
    eigenvalues_eV: np.ndarray | None = None
    occupations: np.ndarray | None = None
    spin_degeneracy: int = 1
    orbitals: tuple[str, ...] = ()
    orbital_values: np.ndarray | None = None
    broadening_eV: float | None = None
    sources: tuple[Path, ...] = field(default=())

    def __post_init__(self):
        if (self.energies_eV is None) == (self.eigenvalues_eV is None):
            raise ValueError("a ProjectedDos has either energies_eV (grid) or eigenvalues_eV (discrete)")
        if self.values.ndim != 3 or self.values.shape[1] != len(self.projections):
            raise ValueError(
                f"values must have shape (n_spin, {len(self.projections)}, n), got {self.values.shape}"
            )

    # ------------------------------------------------------------------ shape
    @property
    def is_discrete(self) -> bool:
        """True for eigenvalues with weights (CP2K), False for a DoS on an energy grid."""
        return self.eigenvalues_eV is not None

    @property
    def n_spin(self) -> int:
        return self.values.shape[0]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(p.label for p in self.projections)

    def _energy_axis(self) -> np.ndarray:
        """The eigenvalues (discrete form) or the grid energies, eV vs E_F: whichever is set."""
        axis = self.eigenvalues_eV if self.is_discrete else self.energies_eV
        assert axis is not None  # __post_init__: exactly one of the two is set
        return axis

    # ------------------------------------------------------------ selection
    def select(self, which: Iterable[str | int]) -> ProjectedDos:
        """The projections named by label or position, in the order given."""
        index = []
        for w in which:
            if isinstance(w, (int, np.integer)):
                index.append(int(w))
            elif w in self.labels:
                index.append(self.labels.index(w))
            else:
                raise DftpostError(None, f"no projection {w!r} in this DoS (have {', '.join(self.labels)})")
        return replace(
            self,
            projections=tuple(self.projections[i] for i in index),
            values=self.values[:, index],
            orbital_values=None if self.orbital_values is None else self.orbital_values[:, index],
        )

    def summed(self, which: Iterable[str | int] | None = None, label: str = "sum") -> ProjectedDos:
        """One projection that sums the chosen ones (all by default) over their atoms."""
        part = self if which is None else self.select(which)
        indices: list[int] = []
        known = all(p.atom_indices is not None for p in part.projections)
        for p in part.projections:
            indices.extend(p.atom_indices or ())
        n_atoms = [p.n_atoms for p in part.projections]
        proj = Projection(
            label=label,
            kind="sum",
            atom_indices=tuple(sorted(indices)) if known else None,
            n_atoms=None if None in n_atoms else sum(n for n in n_atoms if n is not None),
        )
        return replace(
            part,
            projections=(proj,),
            values=part.values.sum(axis=1, keepdims=True),
            orbital_values=None
            if part.orbital_values is None
            else part.orbital_values.sum(axis=1, keepdims=True),
        )

    # ------------------------------------------------------------ broadening
    def on_grid(
        self,
        sigma_eV: float = DEFAULT_SIGMA_EV,
        energies_eV: np.ndarray | None = None,
        spacing_eV: float = DEFAULT_SPACING_EV,
    ) -> ProjectedDos:
        """The DoS on an energy grid (eV, relative to E_F), in states/eV.

        A discrete DoS is broadened with normalised Gaussians of standard deviation
        ``sigma_eV`` (so each state contributes ``spin_degeneracy × weight`` states). With no
        ``energies_eV`` the grid spans the eigenvalues ± 5σ with ``spacing_eV``. A DoS already
        on a grid is returned unchanged, or linearly interpolated (zero outside its range) when
        ``energies_eV`` is given; ``sigma_eV`` is then not applied.
        """
        axis = self._energy_axis()
        if not self.is_discrete:
            if energies_eV is None:
                return self
            energies_eV = np.asarray(energies_eV, dtype=float)
            return replace(
                self,
                energies_eV=energies_eV,
                values=_interp_last_axis(energies_eV, axis, self.values),
                orbital_values=None
                if self.orbital_values is None
                else _interp_last_axis(energies_eV, axis, self.orbital_values),
            )
        if not (sigma_eV > 0 and math.isfinite(sigma_eV) and math.isfinite(1.0 / sigma_eV)):
            raise DftpostError(None, f"the broadening sigma must be a positive number, got {sigma_eV} eV")
        if energies_eV is None:
            if not (spacing_eV > 0 and math.isfinite(spacing_eV)):
                raise DftpostError(None, f"the grid spacing must be a positive number, got {spacing_eV} eV")
            lo = float(np.min(axis)) - 5 * sigma_eV
            hi = float(np.max(axis)) + 5 * sigma_eV
            span = (hi - lo) / spacing_eV  # a float: inf when the grid would be endless
            if not span < MAX_GRID_POINTS:
                raise DftpostError(
                    None, f"a grid from {lo:.3g} to {hi:.3g} eV every {spacing_eV:.3g} eV has {span:.3g} points (at most {MAX_GRID_POINTS})"
                )
            energies_eV = lo + spacing_eV * np.arange(math.ceil(span) + 1)
        energies_eV = np.asarray(energies_eV, dtype=float)
        values = np.stack(
            [
                gaussian_broadening(energies_eV, axis[s], self.values[s], sigma_eV)
                for s in range(self.n_spin)
            ]
        )
        orbital_values = None
        if self.orbital_values is not None:
            n_spin, n_proj, n_orb, n_state = self.orbital_values.shape
            orbital_values = np.stack(
                [
                    gaussian_broadening(
                        energies_eV,
                        axis[s],
                        self.orbital_values[s].reshape(n_proj * n_orb, n_state),
                        sigma_eV,
                    ).reshape(n_proj, n_orb, -1)
                    for s in range(n_spin)
                ]
            )
            orbital_values *= self.spin_degeneracy
        return replace(
            self,
            energies_eV=energies_eV,
            eigenvalues_eV=None,
            occupations=None,
            values=values * self.spin_degeneracy,
            orbital_values=orbital_values,
            broadening_eV=sigma_eV,
        )

    # -------------------------------------------------------------- pymatgen
    def to_pymatgen(self, sigma_eV: float = DEFAULT_SIGMA_EV, spacing_eV: float = DEFAULT_SPACING_EV) -> dict[str, Dos]:
        """One pymatgen :class:`~pymatgen.electronic_structure.dos.Dos` per projection, by label.

        Needs the optional extra ``dftpost[pymatgen]``. A dict (what
        :meth:`pymatgen.electronic_structure.plotter.DosPlotter.add_dos_dict` takes) rather than a
        ``CompleteDos``: that one needs a structure and one projection per site, and a
        ProjectedDos holds neither (CP2K kinds and lists say no sites; FHI-aims species sum
        atoms). A sum of projections is ``sum`` over the dict's Dos (pymatgen adds them).

        pymatgen's conventions: energies in eV on the program's own zero (not relative to E_F),
        densities in states/eV under ``Spin.up`` (and ``Spin.down`` for a second spin channel;
        one channel holds both spins, as pymatgen's VASP DoS does). A discrete DoS (CP2K) is
        broadened first by :meth:`on_grid` with Gaussians of standard deviation ``sigma_eV`` on a
        grid every ``spacing_eV``; a DoS already on a grid (FHI-aims) keeps its own.

        ``efermi`` is the program's Fermi level (eV), except for a discrete DoS whose occupations
        show a gap (every state full or empty, the lowest empty above the highest full): then the
        middle of that gap. pymatgen's band-edge search (``get_cbm_vbm``, ``get_gap``) looks for
        the gap around ``efermi``, and CP2K prints E_F at the highest occupied state, inside the
        broadened band.
        """
        from pymatgen.electronic_structure.core import Spin
        from pymatgen.electronic_structure.dos import Dos

        where = str(self.sources[0]) if self.sources else None
        if len(set(self.labels)) != len(self.labels):
            raise DftpostError(where, f"projections share a label ({', '.join(self.labels)}): pymatgen's DoS are keyed by label")
        efermi_eV = self.fermi_level_eV
        if self.is_discrete:
            levels = _band_edges_from_occupations(self)
            homo, lumo = levels["homo_eV"], levels["lumo_eV"]
            if not levels["fractional_occupations"] and homo is not None and lumo is not None and lumo > homo:
                efermi_eV += 0.5 * (float(homo) + float(lumo))
        grid = self.on_grid(sigma_eV, spacing_eV=spacing_eV)
        energies = grid._energy_axis() + self.fermi_level_eV
        spins = (Spin.up, Spin.down)[: self.n_spin]
        return {
            label: Dos(efermi_eV, energies, {spin: grid.values[s, p] for s, spin in enumerate(spins)})
            for p, label in enumerate(self.labels)
        }

    # --------------------------------------------------------------- summary
    def __repr__(self) -> str:
        """One line: form, spins, points, projections, energy range and Fermi level (no arrays)."""
        energies = self._energy_axis()
        labels = ", ".join(self.labels[:6]) + (", …" if len(self.labels) > 6 else "")
        points = f"{self.values.shape[-1]} {'states' if self.is_discrete else 'energies'}"
        return (f"ProjectedDos({'eigenvalues' if self.is_discrete else 'grid'}, {self.n_spin} spin, {points}, "
                f"{len(self.projections)} projections ({labels}), {float(np.min(energies)):.2f} to "
                f"{float(np.max(energies)):.2f} eV vs E_F, E_F {self.fermi_level_eV:.4f} eV)")

    def summary(self) -> dict:
        """A JSON-ready description: form, spins, projections, energy range (eV vs E_F)."""
        energies = self._energy_axis()
        out = {
            "form": "eigenvalues" if self.is_discrete else "grid",
            "n_spin": self.n_spin,
            "n_projections": len(self.projections),
            "projections": [p.label for p in self.projections],
            "n_points": int(self.values.shape[-1]),
            "energy_min_eV": float(np.min(energies)),
            "energy_max_eV": float(np.max(energies)),
            "fermi_level_eV": self.fermi_level_eV,
            "orbitals": list(self.orbitals),
            "files": [str(p) for p in self.sources],
        }
        if self.is_discrete:
            out.update(_band_edges_from_occupations(self))
        return out

    @classmethod
    def concatenate(cls, parts: Sequence[ProjectedDos]) -> ProjectedDos:
        """Join DoS objects that share energies (or eigenvalues) and spins into one.

        The projections are concatenated in order; orbital channels are united (zeros where a
        projection lacks one). Raises :class:`DftpostError` naming the files when the parts do
        not share their energy axis or Fermi level.
        """
        if not parts:
            raise DftpostError(None, "no projected DoS to join")
        first = parts[0]
        for p in parts[1:]:
            check_compatible(first, p)
        orbitals: list[str] = []
        for p in parts:
            for o in p.orbitals:
                if o not in orbitals:
                    orbitals.append(o)
        orbitals.sort(key=lambda o: L_LABELS.index(o) if o in L_LABELS else len(L_LABELS))
        orbital_values = None
        if orbitals and all(p.orbital_values is not None for p in parts):
            blocks = []
            for p in parts:
                block = np.zeros(p.values.shape[:2] + (len(orbitals),) + p.values.shape[2:])
                assert p.orbital_values is not None  # all parts have them (checked above)
                for j, o in enumerate(p.orbitals):
                    block[:, :, orbitals.index(o)] = p.orbital_values[:, :, j]
                blocks.append(block)
            orbital_values = np.concatenate(blocks, axis=1)
        return replace(
            first,
            projections=tuple(pr for p in parts for pr in p.projections),
            values=np.concatenate([p.values for p in parts], axis=1),
            orbitals=tuple(orbitals) if orbital_values is not None else (),
            orbital_values=orbital_values,
            sources=tuple(s for p in parts for s in p.sources),
        )


def gaussian_broadening(
    energies_eV: np.ndarray, eigenvalues_eV: np.ndarray, weights: np.ndarray, sigma_eV: float
) -> np.ndarray:
    """Σ_i w[p, i] g(E_k − ε_i) with g a unit-area Gaussian of standard deviation ``sigma_eV``.

    ``weights`` has shape (n_proj, n_states); the result (n_proj, n_energies) is in 1/eV.
    Exact (no binning); memory is bounded by working in blocks of states.
    """
    energies_eV = np.asarray(energies_eV, dtype=float)
    eigenvalues_eV = np.asarray(eigenvalues_eV, dtype=float)
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    out = np.zeros((weights.shape[0], energies_eV.size))
    norm = 1.0 / (sigma_eV * math.sqrt(2.0 * math.pi))
    block = max(1, 2_000_000 // max(1, energies_eV.size))
    # distances of a million sigmas or more would overflow x² (to no effect: the Gaussian is 0)
    far = energies_eV.size and eigenvalues_eV.size and max(
        abs(float(energies_eV.max()) - float(eigenvalues_eV.min())), abs(float(eigenvalues_eV.max()) - float(energies_eV.min()))
    ) > 1e6 * sigma_eV
    for start in range(0, eigenvalues_eV.size, block):
        x = energies_eV[None, :] - eigenvalues_eV[start : start + block, None]
        if far:
            np.clip(x, -1e6 * sigma_eV, 1e6 * sigma_eV, out=x)
        x /= sigma_eV
        out += weights[:, start : start + block] @ np.exp(-0.5 * x * x)
    return out * norm


def _interp_last_axis(x_new: np.ndarray, x_old: np.ndarray, y: np.ndarray) -> np.ndarray:
    flat = y.reshape(-1, y.shape[-1])
    out = np.stack([np.interp(x_new, x_old, row, left=0.0, right=0.0) for row in flat])
    return out.reshape(y.shape[:-1] + (x_new.size,))


def check_compatible(a: ProjectedDos, b: ProjectedDos, energies: bool = True) -> None:
    """Raise :class:`DftpostError` naming the files unless ``a`` and ``b`` share their form, spin
    count, Fermi level and (with ``energies``) their energies or eigenvalues."""
    where = ", ".join(str(s) for s in (a.sources[:1] + b.sources[:1])) or "projected DoS"
    if a.is_discrete != b.is_discrete or a.n_spin != b.n_spin:
        raise DftpostError(None, f"{where}: cannot join a DoS of another form or spin count")
    ea, eb = a._energy_axis(), b._energy_axis()
    if energies and (ea.shape != eb.shape or np.abs(ea - eb).max(initial=0.0) > 1e-5):
        raise DftpostError(None, f"{where}: the files do not share their energies (different runs?)")
    if not math.isclose(a.fermi_level_eV, b.fermi_level_eV, abs_tol=2e-4):
        raise DftpostError(
            None,
            f"{where}: Fermi levels differ ({a.fermi_level_eV:.6f} vs {b.fermi_level_eV:.6f} eV)",
        )


#: Occupation (electrons) from which a state counts as partly filled, FHI-aims' value
#: (``occupation_def`` in its output_eigenfunctions.f90), used for both programs.
FRACTIONAL_OCCUPATION = 0.05


def _band_edges_from_occupations(dos: ProjectedDos) -> dict:
    """HOMO and LUMO (eV vs E_F) of a discrete DoS, from the occupations, and whether any state
    is partly filled (``fractional_occupations``: smearing over states at E_F, a metal; then
    the HOMO–LUMO difference is no gap)."""
    occupations, eigenvalues = dos.occupations, dos._energy_axis()
    assert occupations is not None  # the discrete form carries them
    occupied = np.asarray(occupations > 1e-3 * dos.spin_degeneracy)
    partial = np.asarray((occupations >= FRACTIONAL_OCCUPATION) & (occupations <= dos.spin_degeneracy - FRACTIONAL_OCCUPATION))
    out: dict[str, float | bool | None] = {"homo_eV": None, "lumo_eV": None, "fractional_occupations": bool(partial.any())}
    if occupied.any():
        out["homo_eV"] = float(eigenvalues[occupied].max())
    if (~occupied).any():
        out["lumo_eV"] = float(eigenvalues[~occupied].min())
    return out
