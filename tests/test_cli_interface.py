"""The command line's interface, pinned: every command's parameters (names, flags, value types,
defaults), the exit codes of usage errors and the keys of ``--json``. Help texts may change; these
may not (keys may be added). Recorded from the code once; change an entry only on purpose."""

from __future__ import annotations

import enum
import inspect
import json
import typing
from pathlib import Path

import numpy as np
import pytest
import typer
from conftest import FIXTURES
from dftpost.cli.main import app
from typer.testing import CliRunner

# command: [parameter name, flags, value type, default]
PARAMETERS = {
    'density': [  # added: the z-density of one element
        ['trajectory', ['trajectory'], 'path', None],
        ['out', ['--out', '-o'], 'path', 'results.h5'],
        ['as_json', ['--json'], 'bool', False],
        ['element', ['--element'], 'str', 'O'],
        ['dz', ['--dz'], 'float', 0.1],
        ['index', ['--index'], 'str', None],
        ['workers', ['--workers', '-j', '-w'], 'int', None],
        ['scheduler', ['--scheduler'], 'str', None],
        ['plot', ['--plot'], 'path', None],
    ],
    'dipole': [
        ['trajectory', ['trajectory'], 'path', None],
        ['out', ['--out', '-o'], 'path', 'results.h5'],
        ['as_json', ['--json'], 'bool', False],
        ['q_o', ['--q-o'], 'float', -0.5562],
        ['r_oh', ['--r-oh'], 'float', 1.2],
        ['gap_ev', ['--gap'], 'float', 4.45],
        ['index', ['--index'], 'str', None],
        ['dz', ['--dz'], 'float', 0.1],
        ['origin', ['--origin'], 'float', None],
        ['timestep_ps', ['--timestep-ps'], 'float', None],
        ['workers', ['--workers', '-j', '-w'], 'int', None],
        ['scheduler', ['--scheduler'], 'str', None],
    ],
    'field-profile': [
        ['run_no_field', ['run_no_field'], 'path', None],
        ['run_field', ['run_field'], 'path', None],
        ['axis', ['--axis'], 'str', 'z'],
        ['out', ['--out', '-o'], 'path', 'results.h5'],
        ['as_json', ['--json'], 'bool', False],
        ['plot', ['--plot'], 'path', None],
        ['include_applied', ['--include-applied'], 'str', 'auto'],
        ['margin', ['--margin'], 'float', 3.0],
        ['window', ['--window'], 'float', 3.0],
    ],
    'fit-charge': [
        ['paths', ['paths'], 'list[path]', None],
        ['max_dipole', ['--max-dipole'], 'float', 0.02],
        ['source', ['--source'], 'str', 'auto'],
        ['intercept', ['--intercept'], 'bool', False],
        ['include_substrate', ['--include-substrate'], 'bool', False],  # added: metal and oxide runs into the fit
        ['out', ['--out', '-o'], 'path', 'results.h5'],
        ['as_json', ['--json'], 'bool', False],
        ['plot', ['--plot'], 'path', None],
        ['workers', ['--workers', '-j', '-w'], 'int', None],
        ['scheduler', ['--scheduler'], 'str', None],
    ],
    'gap': [
        ['paths', ['paths'], 'list[path]', None],
        ['out', ['--out', '-o'], 'path', 'results.h5'],
        ['as_json', ['--json'], 'bool', False],
        ['workers', ['--workers', '-j', '-w'], 'int', None],  # was 0 (= all cores); 0 is now a usage error
        ['d_cut', ['--d-cut'], 'float', 3.5],
        ['threshold', ['--threshold'], 'float', 0.01],
        ['threshold_mode', ['--threshold-mode'], 'str', 'per_atom'],
        ['start_offset', ['--start-offset'], 'float', 1.0],
        ['separation', ['--separation'], 'float', 0.5],
        ['sigma', ['--sigma'], 'float', 0.1],
        ['q_o', ['--q-o'], 'float', -0.5562],
        ['dipole', ['--dipole'], 'float', None],
        ['force', ['--force'], 'bool', False],
        ['wait', ['--wait'], 'float', 0.0],
        ['scheduler', ['--scheduler'], 'str', None],
    ],
    'generate': [
        ['trajectory', ['trajectory'], 'path', None],
        ['outdir', ['outdir'], 'path', None],
        ['code', ['--code'], 'str', None],
        ['select', ['--select'], 'str', 'all'],
        ['index', ['--index'], 'str', None],
        ['field', ['--field'], 'float', None],
        ['d_cut', ['--d-cut'], 'float', 3.5],
        ['q_o', ['--q-o'], 'float', -0.5562],
        ['min_vacuum', ['--min-vacuum'], 'float', 10.0],
        ['layer_width', ['--layer-width'], 'float', 3.0],
        ['xc', ['--xc'], 'str', 'PBE'],
        ['cutoff', ['--cutoff'], 'float', 400.0],
        ['rel_cutoff', ['--rel-cutoff'], 'float', 50.0],
        ['eps_scf', ['--eps-scf'], 'float', 1e-06],
        ['mixing', ['--mixing'], 'str', 'auto'],
        ['cube_stride', ['--cube-stride'], 'int', 2],
        ['project', ['--project'], 'str', 'frame'],
        ['cp2k_version', ['--cp2k-version'], 'str', None],
        ['kind', ['--kind'], 'list[str]', []],
        ['species_dir', ['--species-dir'], 'path', None],
        ['basis', ['--basis'], 'str', 'intermediate'],
        ['k_grid', ['--k-grid'], 'str', None],
        ['smearing', ['--smearing'], 'float', 0.01],
        ['dft_command', ['--dft-command'], 'str', None],
        ['ntasks', ['--ntasks'], 'int', 32],
        ['time_limit', ['--time'], 'str', '12:00:00'],
        ['partition', ['--partition'], 'str', None],
        ['account', ['--account'], 'str', None],
        ['wait', ['--wait'], 'float', 600.0],
        ['as_json', ['--json'], 'bool', False],
    ],
    'inspect': [
        ['path', ['path'], 'path', None],
        ['as_json', ['--json'], 'bool', False],
    ],
    'plot': [
        ['items', ['items'], 'list[str]', None],
        ['out', ['--out', '-o'], 'path', 'figures'],
        ['fmt', ['--format', '-f'], 'str', 'png'],
        ['run', ['--run'], 'str', None],
    ],
    'potential': [
        ['trajectory', ['trajectory'], 'path', None],
        ['out', ['--out', '-o'], 'path', 'results.h5'],
        ['as_json', ['--json'], 'bool', False],
        ['q_o', ['--q-o'], 'float', -0.5562],
        ['sigma', ['--sigma'], 'float', 1.0],
        ['tolerance', ['--tolerance'], 'float', 1e-06],
        ['self_term', ['--no-self-term', '--self-term'], 'bool', True],
        ['intermolecular', ['--intermolecular'], 'bool', False],
        ['gap_ev', ['--gap'], 'float', 4.45],
        ['index', ['--index'], 'str', None],
        ['timestep_ps', ['--timestep-ps'], 'float', None],
        ['workers', ['--workers', '-j', '-w'], 'int', None],
        ['scheduler', ['--scheduler'], 'str', None],
    ],
    'summary': [
        ['results', ['results'], 'path', None],
        ['as_json', ['--json'], 'bool', False],
        ['bin_width', ['--bin-width'], 'float', 0.005],
    ],
}

# --json keys: at least these (an entry "command.key" names the keys of the objects in a list)
JSON_KEYS = {
    'gap': ['cbm_eV', 'code', 'dipole_e_per_A', 'dipole_source', 'fermi_level_eV', 'gap_eV', 'input_hash', 'metallized', 'n_water_atoms', 'reference', 'reference_eV', 'run', 'status', 'stored', 'vbm_eV', 'vacuum_level_eV', 'vacuum_level_lower_eV', 'vacuum_level_upper_eV', 'vacuum_side', 'work_function_eV', 'vbm_vs_vacuum_eV', 'cbm_vs_vacuum_eV', 'z_resolved_note'],
    'summary': ['bin_width_e_per_A', 'file', 'gap_by_dipole', 'mean_gap_eV', 'metallized_fraction', 'n_failed', 'n_ok', 'n_runs'],
    'summary.gap_by_dipole': ['centre_e_per_A', 'count', 'mean_gap_eV', 'metallized_fraction', 'std_gap_eV'],
    'inspect': ['applied_field_V_per_A', 'cell_A', 'code', 'cubes', 'dipole_correction', 'fermi_level_eV', 'fermi_level_source', 'files', 'finished', 'formula', 'missing', 'n_atoms', 'path', 'pdos', 'program_version', 'warnings'],
    'density': ['density_per_A3', 'density_sem_per_A3', 'dz_A', 'element', 'index', 'mean_atoms', 'n_frames', 'out', 'trajectory', 'z_A'],
    'dipole': ['acf_integrated_time', 'acf_integrated_time_frames', 'acf_integrated_time_units', 'breakdown_fraction', 'breakdown_gap_eV', 'index', 'mean_potential_step_V', 'mean_total_dipole_e_per_A', 'n_frames', 'out', 'q_o_e', 'sem_total_dipole_e_per_A', 'species_counts', 'std_total_dipole_e_per_A', 'trajectory', 'water_thickness_A'],
    'potential': ['acf_integrated_time', 'acf_integrated_time_units', 'cell_length_A', 'delta_v_V', 'exceeds_gap_fraction', 'gap_eV', 'index', 'intermolecular', 'mean_delta_v_V', 'n_frames', 'out', 'q_o_e', 'self_term', 'sem_delta_v_V', 'sigma_A', 'std_delta_v_V', 'tolerance_V', 'trajectory'],
    'field-profile': ['applied_added', 'applied_detected', 'applied_field_V_per_A', 'dipole_step_V', 'field_metal_V_per_A', 'field_vacuum_V_per_A', 'field_water_V_per_A', 'induced_dipole_e_A', 'metallic_water', 'out', 'plot', 'potential_step_V', 'run', 'run_no_field', 'screening'],
    'fit-charge': ['frames', 'intercept_e_per_A', 'max_dipole_e_per_A', 'n_rejected', 'n_used', 'out', 'q_O_ci95_e', 'q_O_e', 'q_O_stderr_e', 'r2', 'rmse_e_per_A', 'source'],
    'fit-charge.frames': ['census', 'cube_dipole_e_A', 'dft_dipole_e_A', 'dft_dipole_e_per_A', 'lever_per_A', 'log_dipole_e_A', 'rejected', 'run', 'source', 'used', 'warnings'],
    'generate': ['code', 'cp2k_version', 'existing', 'frames', 'n_frames', 'n_runs', 'outdir'],
    'generate.frames': ['dipole_e_per_A', 'index', 'reason', 'runs'],
}


def _kind(annotation) -> str:
    if typing.get_origin(annotation) is list:
        return f"list[{_kind(typing.get_args(annotation)[0])}]"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "str"  # a choice of words
    return {Path: "path", float: "float", int: "int", str: "str", bool: "bool"}[annotation]


def _default(parameter):
    value = parameter.default
    value = value.value if isinstance(value, enum.Enum) else value
    value = str(value) if isinstance(value, Path) else value
    return list(value) if isinstance(value, (list, tuple)) else value


def _annotations() -> dict[str, dict]:
    """Command name -> parameter name -> the type its function declares (read from the
    functions, which every typer version keeps as they are)."""
    found = {}
    for info in app.registered_commands:
        signature = inspect.signature(info.callback, eval_str=True)
        found[info.name or info.callback.__name__.replace("_", "-")] = {
            name: parameter.annotation for name, parameter in signature.parameters.items()}
    return found


def test_every_command_keeps_its_parameters():
    commands = typer.main.get_command(app).commands
    annotations = _annotations()
    found = {
        name: [[p.name, sorted(p.opts + p.secondary_opts), _kind(annotations[name][p.name]), _default(p)] for p in c.params]
        for name, c in commands.items()
    }
    assert sorted(found) == sorted(PARAMETERS)
    for name, params in PARAMETERS.items():
        assert sorted(map(repr, found[name])) == sorted(map(repr, params)), name


def invoke(*args) -> typer.testing.Result:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("command", sorted(PARAMETERS))
def test_usage_errors_exit_2(command, tmp_path):
    assert invoke(command, "--no-such-option").exit_code == 2
    assert invoke(command).exit_code == 2  # a required argument missing


@pytest.mark.parametrize(
    "args",
    [
        ["gap", "{d}", "--threshold-mode", "percent"],
        ["field-profile", "{d}", "{d}", "--axis", "w"],
        ["fit-charge", "{d}", "--source", "dft"],
        ["generate", "{d}/t.extxyz", "{d}/c", "--code", "vasp"],
        ["plot", "{d}/r.h5", "--format", "gif"],
        ["dipole", "{d}/t.extxyz", "--dz", "abc"],
        ["density", "{d}/t.extxyz", "--element", "Qq"],
    ],
    ids=lambda a: " ".join(a[:1] + a[-2:]),
)
def test_bad_values_exit_2(args, tmp_path):
    result = invoke(*[a.format(d=tmp_path) for a in args])
    assert result.exit_code == 2, result.output


def test_missing_input_exits_1(tmp_path):
    for args in (["gap", tmp_path / "nowhere"], ["inspect", tmp_path / "nowhere"], ["summary", tmp_path / "nowhere.h5"]):
        result = invoke(*args, "--json")
        assert result.exit_code == 1 and result.stdout == "", args


@pytest.fixture(scope="module")
def trajectory(tmp_path_factory) -> Path:
    """Four jittered copies of the fixture's 4-water slab, periodic in x, y and z."""
    from ase.io import write

    from dftpost.io.rundir import read_run

    atoms = read_run(FIXTURES / "cp2k/water4_slab/nofield").atoms
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(4):
        frame = atoms.copy()
        frame.positions += rng.normal(0, 0.02, frame.positions.shape)
        frame.pbc = True
        frames.append(frame)
    path = tmp_path_factory.mktemp("interface") / "t.extxyz"
    write(path, frames)
    return path


def test_json_keys(trajectory, tmp_path):
    cp2k = FIXTURES / "cp2k"

    def run(*args) -> str:
        result = invoke(*args, "--json")
        assert result.exit_code == 0, result.output
        return result.stdout

    def check(name: str, obj: dict) -> None:
        assert set(JSON_KEYS[name]) <= set(obj), (name, set(JSON_KEYS[name]) - set(obj))

    for line in run("gap", cp2k / "water4_slab", "--out", tmp_path / "r.h5", "--workers", "1").splitlines():
        check("gap", json.loads(line))
    data = json.loads(run("summary", tmp_path / "r.h5"))
    check("summary", data)
    check("summary.gap_by_dipole", data["gap_by_dipole"][0])
    check("inspect", json.loads(run("inspect", cp2k / "water4_slab/field")))
    check("dipole", json.loads(run("dipole", trajectory, "--out", tmp_path / "d.h5", "--workers", "1")))
    check("density", json.loads(run("density", trajectory, "--out", tmp_path / "d.h5", "--workers", "1")))
    check("potential", json.loads(run("potential", trajectory, "--out", tmp_path / "d.h5", "--workers", "1", "--tolerance", "1e-3")))
    check("field-profile", json.loads(run("field-profile", cp2k / "water4_slab/nofield", cp2k / "water4_slab/field", "--out", tmp_path / "f.h5")))
    data = json.loads(run("fit-charge", cp2k / "water4_frames", "--out", tmp_path / "c.h5", "--workers", "1"))
    check("fit-charge", data)
    assert set(JSON_KEYS["fit-charge.frames"]) <= set().union(*data["frames"])
    data = json.loads(run("generate", trajectory, tmp_path / "camp", "--code", "cp2k", "--cp2k-version", "2023.1", "--select", "stride:2"))
    check("generate", data)
    check("generate.frames", data["frames"][0])


def test_option_defaults_are_the_analyses_own():
    """cli/options.py writes the analyses' defaults down (importing the analyses would load numpy
    and ASE for ``dftpost --help``): each must equal the value the analysis itself uses."""
    from dataclasses import asdict

    from dftpost.cli import options

    from dftpost.analysis.bandedges import BandEdgeParameters
    from dftpost.analysis.charge_fit import DEFAULT_MAX_DIPOLE
    from dftpost.analysis.dipole import DEFAULT_Q_O
    from dftpost.analysis.electrostatics import DEFAULT_SIGMA_A, DEFAULT_TOLERANCE_V
    from dftpost.analysis.molecules import DEFAULT_R_OH
    from dftpost.plot import FIGURES, FORMATS

    assert (options.Q_O_E, options.R_OH_A, options.MAX_DIPOLE_E_PER_A) == (DEFAULT_Q_O, DEFAULT_R_OH, DEFAULT_MAX_DIPOLE)
    assert (options.SIGMA_A, options.TOLERANCE_V) == (DEFAULT_SIGMA_A, DEFAULT_TOLERANCE_V)
    assert options.BAND_EDGES == {k: v for k, v in asdict(BandEdgeParameters()).items() if k in options.BAND_EDGES}
    assert list(options.FIGURE_NAMES) == list(FIGURES) and tuple(options.FIGURE_FORMATS) == tuple(FORMATS)
    assert [f.value for f in options.FigureFormat] == list(FORMATS)
