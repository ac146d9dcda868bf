"""A campaign: the chosen frames of a trajectory as DFT run directories, job scripts and a
manifest, written all at once or not at all.

Layout of ``OUTDIR``::

    manifest.json               what was generated from what (see :func:`generate_campaign`)
    tasks.txt run_task.sh run_all.sh submit.slurm logs/      (:mod:`dftpost.inputs.jobs`)
    frame_000042/               a frame without field: the run directory itself
    frame_000042/nofield/       with ``field``: the pair, same geometry and settings,
    frame_000042/field/         the second with the homogeneous field along z

Everything is checked before anything is written (the trajectory holds the frames asked for,
every frame is a slab with enough vacuum and water beyond d_cut, the FHI-aims species files
exist, OUTDIR holds no other campaign); the campaign is then written into a temporary folder
beside OUTDIR and renamed to OUTDIR, so an error never leaves a half-written campaign.
Generating the same campaign again into its OUTDIR changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from .. import __version__
from ..analysis.dipole import DEFAULT_Q_O
from ..analysis.molecules import DEFAULT_R_OH
from ..errors import DftpostError
from ..io.files import open_regular, regular_file, update_digest
from . import aims as aims_inputs
from . import cp2k as cp2k_inputs
from .jobs import JobSettings, gap_options, write_job_scripts
from .selection import FrameSelection, Selection, parse_selection, select_frames
from .slab import DEFAULT_LAYER_WIDTH_A, DEFAULT_MIN_VACUUM_A, PreparedSlab, prepare_slab

#: Version of the manifest's layout.
MANIFEST_VERSION = 1
MANIFEST = "manifest.json"
CODES = ("cp2k", "aims")


@dataclass(frozen=True, eq=False)
class Campaign:
    """What :func:`generate_campaign` made: the folder, its manifest (as written) and whether
    it was already there (``existing``: the same campaign, nothing written)."""

    directory: Path
    manifest: dict
    existing: bool = False

    @property
    def run_directories(self) -> list[Path]:
        return [self.directory / run["dir"] for frame in self.manifest["frames"] for run in frame["runs"]]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), read in blocks: the manifest names files by SHA-256, a hash
    any user can check with ``sha256sum`` (dftpost's own fingerprints are :func:`~dftpost.io.files.file_hash`)."""
    digest = hashlib.sha256()
    with open_regular(path) as f:
        update_digest(digest, f)
    return digest.hexdigest()


def structure_sha256(atoms) -> str:
    """SHA-256 of a structure as read: atomic numbers, positions and cell (float64 bytes)."""
    digest = hashlib.sha256()
    for array in (np.asarray(atoms.numbers, dtype=np.int64), np.asarray(atoms.positions, dtype=np.float64),
                  np.asarray(atoms.cell[:], dtype=np.float64)):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _identity(manifest: dict) -> dict:
    """The part of a manifest that makes a campaign what it is (not when or by which version)."""
    return {k: v for k, v in manifest.items() if k not in ("created", "dftpost_version", "command")}


def _check_outdir(outdir: Path) -> dict | None:
    """None when ``outdir`` is free (absent or empty), the manifest when it holds a campaign;
    raises when it holds anything else."""
    if outdir.exists() and not outdir.is_dir():
        raise DftpostError(outdir, "exists and is not a directory")
    if not outdir.exists() or not any(outdir.iterdir()):
        return None
    manifest_path = outdir / MANIFEST
    if not manifest_path.is_file():
        raise DftpostError(outdir, f"is not empty and holds no dftpost campaign ({MANIFEST}): choose a new OUTDIR")
    try:
        manifest = json.loads(manifest_path.read_text())
        manifest["dftpost_campaign"]
    except (ValueError, KeyError, TypeError):
        raise DftpostError(manifest_path, "not a dftpost campaign manifest: choose a new OUTDIR") from None
    return manifest


def frame_name(number: int) -> str:
    return f"frame_{number:06d}"


def generate_campaign(
    trajectory: str | Path,
    outdir: str | Path,
    code: str,
    selection: Selection | str | None = None,
    index: str | None = None,
    field_V_per_A: float | None = None,
    d_cut_A: float = 3.5,
    q_o: float = DEFAULT_Q_O,
    r_oh: float = DEFAULT_R_OH,
    min_vacuum_A: float = DEFAULT_MIN_VACUUM_A,
    layer_width_A: float = DEFAULT_LAYER_WIDTH_A,
    cp2k: cp2k_inputs.Cp2kSettings = cp2k_inputs.Cp2kSettings(),
    aims: aims_inputs.AimsSettings = aims_inputs.AimsSettings(),
    species_dir: str | Path | None = None,
    jobs: JobSettings = JobSettings(),
    command: list[str] | None = None,
) -> Campaign:
    """Choose frames of ``trajectory`` and write their DFT inputs for ``code`` (``"cp2k"`` or
    ``"aims"``), job scripts and ``manifest.json`` into ``outdir``.

    ``selection`` is a ``--select`` spec (:mod:`dftpost.inputs.selection`) among the frames
    ``index`` (``start:stop:step``) picks; μ_z (e/Å) uses ``q_o`` (e) and ``r_oh`` (Å).
    ``field_V_per_A`` (V/Å, along +z) makes every frame a no-field/field pair. ``d_cut_A``
    (Å) chooses the water atoms of the PDoS as ``dftpost gap --d-cut`` does (the job scripts
    pass it on), ``layer_width_A`` the layer lists, ``min_vacuum_A`` the narrowest vacuum gap
    accepted. FHI-aims needs ``species_dir`` (or ``$AIMS_SPECIES_DIR``).

    The manifest records the trajectory (path, SHA-256), the selection and every parameter,
    and for each frame its number in the file, the SHA-256 of its structure, μ_z, the census,
    the shift along z, the water atoms and lists (1-based), and its runs. Raises
    :class:`DftpostError` naming the file or folder at fault; then nothing is written.
    """
    trajectory = Path(trajectory)
    outdir = Path(outdir).absolute()
    if code not in CODES:
        raise DftpostError(None, f"--code must be cp2k or aims, not {code!r}")
    if field_V_per_A is not None and not (math.isfinite(field_V_per_A) and field_V_per_A != 0):
        raise DftpostError(None, f"--field must be a finite, non-zero field in V/Å, got {field_V_per_A}")
    for name, value in (("--d-cut", d_cut_A), ("--min-vacuum", min_vacuum_A), ("--layer-width", layer_width_A)):
        if not (math.isfinite(value) and value >= 0):
            raise DftpostError(None, f"{name} must be a finite number >= 0, got {value}")
    if not layer_width_A > 0:
        raise DftpostError(None, "--layer-width must be positive")
    if not isinstance(selection, Selection):
        selection = parse_selection(selection)
    existing = _check_outdir(outdir)
    if code == "aims" and species_dir is None and not os.environ.get(aims_inputs.SPECIES_ENV):
        aims_inputs.resolve_species_dir(None, aims.basis, [])  # the clear error, before reading
    regular_file(trajectory)  # a missing file, a FIFO, a device, a loop: each in its own words

    trajectory_hash = file_sha256(trajectory)
    chosen = select_frames(trajectory, selection, index, q_o, r_oh)
    prepared = []
    for frame in chosen.frames:
        try:
            prepared.append(prepare_slab(frame.atoms, d_cut_A, min_vacuum_A, layer_width_A))
        except DftpostError as exc:
            raise DftpostError(trajectory, f"frame {frame.number}: {exc.problem}") from None
    elements = sorted({s for slab in prepared for s in slab.atoms.get_chemical_symbols()})
    species_folder = aims_inputs.resolve_species_dir(species_dir, aims.basis, elements) if code == "aims" else None

    manifest = _manifest(trajectory, trajectory_hash, chosen, prepared, code, field_V_per_A, d_cut_A, min_vacuum_A,
                         layer_width_A, cp2k, aims, species_folder, jobs, command)
    if existing is not None:
        ours, theirs = _identity(json.loads(json.dumps(manifest))), _identity(existing)
        if ours == theirs:
            return Campaign(outdir, existing, existing=True)
        differs = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        raise DftpostError(outdir, f"holds another campaign ({MANIFEST} differs in: {', '.join(differs)}): choose a new OUTDIR")

    outdir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", suffix=".partial", dir=outdir.parent))
    try:
        _write(work, outdir, trajectory, chosen, prepared, manifest, code, field_V_per_A, cp2k, aims, species_folder, jobs,
               d_cut_A, q_o)
        os.chmod(work, 0o755)
        if outdir.exists():
            outdir.rmdir()  # empty (checked above); rename then cannot fail on it
        os.rename(work, outdir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Campaign(outdir, manifest)


def _runs(number: int, field_V_per_A: float | None) -> list[tuple[str, float | None]]:
    name = frame_name(number)
    if field_V_per_A is None:
        return [(name, None)]
    return [(f"{name}/nofield", None), (f"{name}/field", field_V_per_A)]


def _manifest(trajectory, trajectory_hash, chosen: FrameSelection, prepared: list[PreparedSlab], code, field_V_per_A,
              d_cut_A, min_vacuum_A, layer_width_A, cp2k, aims, species_folder, jobs, command) -> dict:
    if code == "cp2k":
        files = {"input": cp2k_inputs.input_name(cp2k), "coordinates": f"{cp2k.project}.xyz", "log": cp2k_inputs.log_name(cp2k)}
        settings = cp2k.as_dict()
    else:
        files = {"input": "control.in", "coordinates": "geometry.in", "log": aims_inputs.log_name()}
        settings = {**aims.as_dict(), "species_dir": str(species_folder)}
    frames = []
    for frame, slab in zip(chosen.frames, prepared):
        d = frame.dipole
        entry = {
            "name": frame_name(frame.number),
            "index": frame.number,
            "source": {"file": str(trajectory.resolve()), "sha256": trajectory_hash, "index": frame.number,
                       "structure_sha256": structure_sha256(frame.atoms)},
            "reason": frame.reason,
            "dipole_e_per_A": d.total_e_per_A,
            "charge_lever_per_A": d.charge_lever_per_A,
            "potential_step_V": d.potential_step_V,
            "census": d.census,
            "n_atoms": len(slab.atoms),
            "formula": slab.atoms.get_chemical_formula(),
            "z_shift_A": slab.z_shift_A,
            "vacuum_A": slab.vacuum_A,
            "top_metal_A": slab.top_metal_A,
            "water_atoms": [int(i) + 1 for i in slab.water],
            "runs": [{"dir": run, "field_V_per_A": f, **files} for run, f in _runs(frame.number, field_V_per_A)],
        }
        if code == "cp2k":
            entry["ldos_lists"] = [{"name": a.name, "what": a.what, "atoms": a.one_based()} for a in slab.pdos_lists()]
        else:
            entry["k_grid"] = list(aims.k_points(slab.atoms))
        frames.append(entry)
    return {
        "dftpost_campaign": MANIFEST_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dftpost_version": __version__,
        "command": command,
        "code": code,
        "trajectory": {"file": str(trajectory.resolve()), "sha256": trajectory_hash, "size_bytes": trajectory.stat().st_size},
        "selection": {"spec": chosen.selection.text, "index": chosen.index, "n_frames_considered": chosen.n_read,
                      "n_frames_chosen": len(chosen.frames)},
        "dipole": {"q_o_e": chosen.q_o_e, "r_oh_A": chosen.r_oh_A,
                   "definition": "fixed-charge total dipole per area mu_z (e/A), q_H = -q_O/2 (dftpost.analysis.dipole)"},
        "field_V_per_A": field_V_per_A,
        "slab": {"d_cut_A": d_cut_A, "min_vacuum_A": min_vacuum_A, "layer_width_A": layer_width_A,
                 "centring": "each frame shifted along z (z_shift_A, then wrapped along z) to put the middle of its widest "
                             "vacuum gap at z = 0, where the dipole-correction plane and the field's sawtooth jump sit"},
        "settings": settings,
        "jobs": jobs.as_dict(),
        "gap": {"d_cut_A": d_cut_A, "q_o_e": chosen.q_o_e, "results": "results.h5",
                "options": gap_options(d_cut_A, chosen.q_o_e, jobs.wait_s)},
        "frames": frames,
    }


def _write(work: Path, outdir: Path, trajectory: Path, chosen: FrameSelection, prepared, manifest, code, field_V_per_A,
           cp2k, aims, species_folder, jobs, d_cut_A, q_o) -> None:
    tasks = []
    for frame, slab, entry in zip(chosen.frames, prepared, manifest["frames"]):
        runs = []
        for run in entry["runs"]:
            directory = work / run["dir"]
            directory.mkdir(parents=True)
            comment = (f"dftpost generate: {trajectory.name} frame {frame.number}, z shifted by {slab.z_shift_A:+.6f} A"
                       + (f", field {run['field_V_per_A']:g} V/A along z" if run["field_V_per_A"] is not None else ""))
            if code == "cp2k":
                xyz = directory / run["coordinates"]
                cp2k_inputs.write_xyz(slab.atoms, xyz, comment)
                written = _read_back(xyz, slab)
                tree = cp2k_inputs.cp2k_input(written, cp2k, coord_file=xyz.name, ldos_lists=_lists_of(written, slab, d_cut_A),
                                              field_V_per_A=run["field_V_per_A"], metal=slab.has_metal)
                (directory / run["input"]).write_text(cp2k_inputs.render(tree))
            else:
                aims_inputs.write_aims_run(directory, slab.atoms, aims, species_folder, run["field_V_per_A"], comment)
            runs.append(run["dir"])
        tasks.append(runs)
    input_name = manifest["frames"][0]["runs"][0]["input"]
    log_name = manifest["frames"][0]["runs"][0]["log"]
    write_job_scripts(work, outdir, code, tasks, input_name, log_name, jobs, gap_options(d_cut_A, q_o, jobs.wait_s),
                      outdir.name, cp2k_inputs.layout_note(cp2k) if code == "cp2k" else "")
    (work / MANIFEST).write_text(dumps_manifest(manifest))


def dumps_manifest(manifest: dict) -> str:
    """The manifest as JSON text: indented, lists of numbers on one line."""
    text = json.dumps(manifest, indent=1, ensure_ascii=False)
    return re.sub(r"\[\s+([-+0-9.eE,\s]+?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text) + "\n"


def _read_back(xyz: Path, slab: PreparedSlab):
    """The structure as CP2K and dftpost will read it (positions as written, the cell)."""
    from ase import Atoms
    from ase.io import read

    atoms = cast(Atoms, read(xyz, index=0))  # one index: one Atoms
    atoms.set_cell(slab.atoms.cell)
    atoms.pbc = True
    return atoms


def _lists_of(written, slab: PreparedSlab, d_cut_A: float):
    """The PDoS lists, after checking that the written positions select the same water atoms
    (the written precision could move an atom across d_cut only within 1e-8 Å of it)."""
    from ..analysis.water_selection import water_atoms

    water, _top = water_atoms(written.numbers, written.positions, written.cell[:], d_cut_A)
    if not np.array_equal(np.asarray(water), slab.water):
        raise DftpostError(None, "the written coordinates select other water atoms than the frame (an atom at d_cut)")
    return slab.pdos_lists()
