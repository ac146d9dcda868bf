"""dftpost: water band edges, false metallization and field response from FHI-aims and CP2K.

The API in a notebook::

    import dftpost
    run = dftpost.read_run("frame_0042/")        # a Run: code, structure, Fermi level, PDoS, cubes ...
    gap = dftpost.water_gap(run)                 # water band edges (eV vs E_F) and the verdict
    pdos = dftpost.read_pdos("frame_0042/water-k1-1.pdos")
    for number, atoms in dftpost.read_trajectory("md.extxyz"):   # streamed ASE Atoms
        ...

Units everywhere: eV, Å, e, e·Å, V, V/Å, e/Å³ (see :mod:`dftpost.units`). The names below are
imported on first use, so ``import dftpost`` (and the command line) stays fast.
"""

from __future__ import annotations

from .lazy import lazy_names

__version__ = "0.1.0"

#: public name -> (module, attribute)
_EXPORTS = {
    # readers
    "read_run": ("dftpost.io.rundir", "read_run"),
    "read_cube": ("dftpost.io.cube", "read_cube"),
    "read_pdos": ("dftpost.io.projected_dos", "read_pdos"),
    "read_trajectory": ("dftpost.io.trajectory", "iter_frames"),
    # data types
    "Run": ("dftpost.run", "Run"),
    "DipoleCorrection": ("dftpost.run", "DipoleCorrection"),
    "ProjectedDos": ("dftpost.dos", "ProjectedDos"),
    "Grid": ("dftpost.grid", "Grid"),
    "CubeHeader": ("dftpost.grid", "CubeHeader"),
    # analyses: the classes behind the commands, and the backends they run on
    "GapAnalysis": ("dftpost.analyses.gap", "GapAnalysis"),
    "DipoleAnalysis": ("dftpost.analyses.dipole", "DipoleAnalysis"),
    "PotentialAnalysis": ("dftpost.analyses.potential", "PotentialAnalysis"),
    "DensityAnalysis": ("dftpost.analyses.density", "DensityAnalysis"),
    "FieldResponse": ("dftpost.analyses.field", "FieldResponse"),
    "ChargeFit": ("dftpost.analyses.charge_fit", "ChargeFit"),
    "backend_for": ("dftpost.backends", "backend_for"),
    # the functions the analyses are made of
    "BandEdgeParameters": ("dftpost.analysis.bandedges", "BandEdgeParameters"),
    "water_gap": ("dftpost.analyses.gap", "water_gap"),
    "find_band_edges": ("dftpost.analysis.bandedges", "find_band_edges"),
    "fixed_charge_dipole": ("dftpost.analysis.dipole", "fixed_charge_dipole"),
    "fit_oxygen_charge": ("dftpost.analysis.charge_fit", "fit_oxygen_charge"),
    "planar_average": ("dftpost.analysis.profiles", "planar_average"),
    # the results store
    "ResultStore": ("dftpost.store", "ResultStore"),
    "read_table": ("dftpost.store", "read_table"),
    "read_arrays": ("dftpost.store", "read_arrays"),
    "latest_rows": ("dftpost.store", "latest_rows"),
    # errors
    "DftpostError": ("dftpost.errors", "DftpostError"),
    "ParseError": ("dftpost.errors", "ParseError"),
    "MissingInputError": ("dftpost.errors", "MissingInputError"),
}

__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())
