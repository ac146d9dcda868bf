"""From MLIP frames to DFT run directories: frame selection, CP2K and FHI-aims inputs, job
scripts and the campaign manifest (``dftpost generate``, METHODS §6).

- :mod:`~dftpost.inputs.selection`  which frames: indices, stride, or by the fixed-charge μ_z
- :mod:`~dftpost.inputs.slab`       a frame centred on its vacuum, the water atoms and layer lists
- :mod:`~dftpost.inputs.cp2k`       CP2K input as a tree of sections, rendered to text
- :mod:`~dftpost.inputs.aims`       FHI-aims geometry.in / control.in through ASE's writers
- :mod:`~dftpost.inputs.jobs`       run_task.sh, run_all.sh, submit.slurm, tasks.txt
- :mod:`~dftpost.inputs.campaign`   all of it into one folder with manifest.json, atomically

In a notebook::

    from dftpost.inputs import generate_campaign
    campaign = generate_campaign("md.extxyz", "campaign/", "cp2k", "dipole-extremes:3", field_V_per_A=0.1)
"""

from .aims import AimsSettings, resolve_species_dir, write_aims_run
from .campaign import Campaign, generate_campaign
from .cp2k import Cp2kSettings, cp2k_input, render
from .jobs import JobSettings
from .selection import SELECTION_KINDS, Selection, choose, parse_selection, select_frames
from .slab import AtomList, PreparedSlab, prepare_slab

__all__ = [
    "AimsSettings",
    "AtomList",
    "Campaign",
    "Cp2kSettings",
    "JobSettings",
    "PreparedSlab",
    "SELECTION_KINDS",
    "Selection",
    "choose",
    "cp2k_input",
    "generate_campaign",
    "parse_selection",
    "prepare_slab",
    "render",
    "resolve_species_dir",
    "select_frames",
    "write_aims_run",
]
