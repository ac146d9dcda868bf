"""The analyses (dftpost.analyses): each gives the ``--json`` object the command line prints, from
a fresh result and from its row read back from the results file; a stored result is the same
type as a fresh one."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import FIXTURES
from dftpost.cli.main import app
from typer.testing import CliRunner

from dftpost.analyses.charge_fit import ChargeFit
from dftpost.analyses.dipole import DipoleAnalysis
from dftpost.analyses.field import FieldResponse
from dftpost.analyses.gap import GapAnalysis
from dftpost.analyses.potential import PotentialAnalysis
from dftpost.backends import ProcessBackend, SerialBackend

CP2K = FIXTURES / "cp2k"
SLAB = FIXTURES / "trajectories" / "water_slab_tip3p.extxyz"


def strict(value):
    """As the command line prints it: NaN → None, numpy → Python (recursively)."""
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if isinstance(value, np.ndarray):
        return strict(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cli_json(*args) -> list:
    result = CliRunner().invoke(app, [str(a) for a in args] + ["--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """Four jittered copies of the fixture's 4-water slab, periodic in x, y and z."""
    from ase.io import write

    from dftpost.io.rundir import read_run

    atoms = read_run(CP2K / "water4_slab/nofield").atoms
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(4):
        frame = atoms.copy()
        frame.positions += rng.normal(0, 0.02, frame.positions.shape)
        frame.pbc = True
        frames.append(frame)
    path = tmp_path_factory.mktemp("analyses") / "t.extxyz"
    write(path, frames)
    return path


def test_dipole_json_is_the_commands_fresh_and_stored(tmp_path):
    out = tmp_path / "d.h5"
    [printed] = cli_json("dipole", SLAB, "--out", out, "--workers", "1", "--index", "::4")
    fresh = DipoleAnalysis(SLAB, "::4").run()
    assert strict(fresh.to_json(out=out)) == printed
    stored = DipoleAnalysis.read(out)
    assert type(stored) is DipoleAnalysis and strict(stored.to_json(out=out)) == printed
    assert printed["n_frames"] > 1 and printed["species_counts"]["H2O"] > 0


def test_potential_json_is_the_commands_fresh_and_stored(box, tmp_path):
    out = tmp_path / "p.h5"
    [printed] = cli_json("potential", box, "--out", out, "--workers", "1", "--tolerance", "1e-3")
    fresh = PotentialAnalysis(box, tolerance_V=1e-3).run()
    assert strict(fresh.to_json(out=out)) == printed
    stored = PotentialAnalysis.read(out)
    assert type(stored) is PotentialAnalysis and strict(stored.to_json(out=out)) == printed
    assert printed["self_term"] is True and len(printed["delta_v_V"]) == 4


def test_field_json_is_the_commands_fresh_and_stored(tmp_path):
    out = tmp_path / "f.h5"
    pair = (CP2K / "water4_slab/nofield", CP2K / "water4_slab/field")
    [printed] = cli_json("field-profile", *pair, "--out", out)
    assert strict(FieldResponse(*pair).run().to_json(out=out)) == printed
    assert strict(FieldResponse.read(out).to_json(out=out)) == printed


def test_charge_fit_json_is_the_commands_fresh_and_stored(tmp_path):
    out = tmp_path / "c.h5"
    [printed] = cli_json("fit-charge", CP2K / "water4_frames", "--out", out, "--workers", "1")
    assert strict(ChargeFit([CP2K / "water4_frames"]).run().to_json(out=out)) == printed
    assert strict(ChargeFit.read(out).to_json(out=out)) == printed
    assert printed["n_used"] + printed["n_rejected"] == len(printed["frames"])


def test_gap_json_is_the_commands_line_by_line(tmp_path):
    out = tmp_path / "r.h5"
    printed = cli_json("gap", CP2K / "water4_slab", "--out", out, "--workers", "1")
    fresh = GapAnalysis([CP2K / "water4_slab"]).run()
    by_run = {line["run"]: line for line in printed}
    assert len(by_run) == 2 and all(line.pop("stored") is False for line in printed)
    assert {obj["run"]: obj for obj in strict(fresh.to_json())} == by_run
    assert {obj["run"]: obj for obj in strict(GapAnalysis.read(out).to_json())} == by_run


def test_a_frame_analysis_on_processes_is_the_serial_one(box):
    """Cut into chunks for two worker processes (parallel_bytes 0), the rows are the serial ones."""
    serial = DipoleAnalysis(SLAB, "::2").run(SerialBackend()).to_row()
    analysis = DipoleAnalysis(SLAB, "::2", parallel_bytes=0)
    parallel = analysis.run(ProcessBackend(2)).to_row()
    assert len(analysis._tasks) > 1  # the frames were cut into chunks
    for key, value in serial.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_allclose(parallel[key], value, rtol=1e-12, atol=1e-15, err_msg=key)
        elif isinstance(value, float):
            assert parallel[key] == pytest.approx(value, rel=1e-12, nan_ok=True), key
        elif key != "analysed_at":
            assert parallel[key] == value, key


def test_to_row_of_a_batch_says_to_use_rows():
    analysis = GapAnalysis.from_rows([{"run": "a", "status": "ok"}, {"run": "b", "status": "ok"}])
    with pytest.raises(Exception, match="holds 2 rows"):
        analysis.to_row()


def test_every_analysis_draws_into_the_users_figure(box, tmp_path):
    """One-panel figures go on the Axes given, figures of several panels into the SubFigure given;
    the other cells of the user's 2×2 grid stay empty; the wrong kind is a clear error."""
    from matplotlib.figure import Figure

    from dftpost.errors import DftpostError

    one = [DipoleAnalysis(SLAB, "::4").run(), PotentialAnalysis(box, tolerance_V=1e-3).run(),
           ChargeFit([CP2K / "water4_frames"]).run()]
    several = [FieldResponse(CP2K / "water4_slab/nofield", CP2K / "water4_slab/field").run(),
               GapAnalysis([CP2K / "water4_slab"]).run()]
    for analysis in one:
        fig = Figure()
        axes = fig.subplots(2, 2)
        assert analysis.plot(axes[0, 1]) is fig
        assert axes[0, 1].has_data() and not any(a.has_data() for a in (axes[0, 0], axes[1, 0], axes[1, 1]))
    for analysis in several:
        fig = Figure()
        cells = fig.subfigures(2, 2)
        assert analysis.plot(fig=cells[1, 0]) is fig
        assert cells[1, 0].axes and not any(c.axes for c in (cells[0, 0], cells[0, 1], cells[1, 1]))
        with pytest.raises(DftpostError, match="several panels"):
            analysis.plot(Figure().subplots())
