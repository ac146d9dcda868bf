"""One class per observable, each with its table schema, rows, ``--json`` object and figure, run
on any :class:`~dftpost.backends.Backend` (see :mod:`dftpost.analyses.base`).

Importing this package loads no analysis: the names below are imported on first use.
"""

from __future__ import annotations

import importlib

#: public name -> module (under dftpost.analyses); a new analysis registers here
_ANALYSES = {
    "AnalysisBase": "base",
    "Results": "base",
    "GapAnalysis": "gap",
    "DipoleAnalysis": "dipole",
    "PotentialAnalysis": "potential",
    "FieldResponse": "field",
    "ChargeFit": "charge_fit",
    "DensityAnalysis": "density",
}

__all__ = list(_ANALYSES)


def __getattr__(name: str):
    try:
        module = _ANALYSES[name]
    except KeyError:
        raise AttributeError(f"module 'dftpost.analyses' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
