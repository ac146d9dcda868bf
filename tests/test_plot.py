"""``dftpost plot`` and dftpost.plot: every figure drawn from result files that the real analyses
wrote (the shipped CP2K runs; small water-slab trajectories), its plotted data checked against the
stored data, the files against their format, and the command line's choices and errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.io import write
from conftest import CP2K_FIXTURE, FIXTURES

from dftpost import batch
from dftpost.analysis.dipole import CENSUS_SPECIES
from dftpost.batch import (
    CHARGE_FIT_SCHEMA,
    DIPOLE_SCHEMA,
    FIELD_SCHEMA,
    dipole_trajectory,
    field_profile,
    fit_charge,
    gap_batch,
    gap_summary,
)
from dftpost.errors import DftpostError, MissingInputError
from dftpost.io.rundir import read_run
from dftpost.plot import (
    FIGURES,
    available_figures,
    band_edges_figure,
    draw_acf,
    draw_band_edges,
    draw_census,
    draw_density,
    draw_dipole_distribution,
    draw_dipole_profile,
    draw_field_response,
    draw_parity,
    draw_pdos_map,
    draw_potential_vs_cell,
    draw_sigma_vs_thickness,
    field_response_figure,
    parity_figure,
    plot_results,
    read_rows,
    save_figure,
)
from dftpost.store import ResultStore, TableSchema, read_arrays, read_table
from dftpost.units import EPSILON0_E_PER_V_A

POTENTIAL = getattr(batch, "potential_trajectory", None)
HAVE_THICKNESS = "water_thickness_A" in DIPOLE_SCHEMA.columns
HAVE_TIMES = "time_ps" in DIPOLE_SCHEMA.arrays
needs_potential = pytest.mark.skipif(POTENTIAL is None, reason="dftpost.batch.potential_trajectory is not there yet")
needs_thickness = pytest.mark.skipif(not HAVE_THICKNESS, reason="the dipole table has no water_thickness_A yet")
needs_times = pytest.mark.skipif(not HAVE_TIMES, reason="the dipole table has no time_ps yet")
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "svg": b"<?xml"}
FRAME_FS = 500.0  # time between the frames of the test trajectories


# ----------------------------------------------------------------------------- result files
def water_slab(seed: int, layers: int, side_A: float = 12.0, z0: float = 14.0, dissociate: bool = False) -> Atoms:
    """3 × 3 whole water molecules per layer (3 Å apart), random orientations, in a side × side × 40 Å
    cell; ``dissociate`` moves one H of the first molecule onto the second (OH⁻ + H3O⁺)."""
    rng = np.random.default_rng(seed)
    atoms = Atoms(cell=(side_A, side_A, 40.0), pbc=True)
    step = side_A / 3
    for z in range(layers):
        for x in range(3):
            for y in range(3):
                w = molecule("H2O")
                w.rotate(rng.uniform(0, 360), rng.normal(size=3), center=w.positions[0])
                site = np.array([x * step + 1, y * step + 1, z0 + 3.0 * z])
                w.translate(site - w.positions[0] + rng.normal(scale=0.2, size=3))
                atoms += w
    if dissociate:
        atoms.positions[2] = atoms.positions[3] + [0.0, 0.0, -1.0]
    return atoms


def trajectory(path: Path, layers: int, side_A: float, seed: int) -> Path:
    frames = []
    for k in range(12):
        atoms = water_slab(seed + k, layers, side_A, dissociate=(k == 5))
        atoms.info["time_fs"] = k * FRAME_FS
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


def potential_row(path: Path) -> dict:
    return POTENTIAL(path)[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """all.h5: gap (the six CP2K runs), field_profile, charge_fit, dipole (a 3-layer slab) and
    potential (that slab, and a 2-layer slab in a wider cell); thin.h5: dipole of two 2-layer
    slabs (12 and 15 Å cells) and potential of the 12 Å one; frames.h5: gap of the four frames
    (no z-resolved PDoS); old.h5: a dipole table without the columns added later."""
    d = tmp_path_factory.mktemp("plot")
    thick = trajectory(d / "thick.extxyz", 3, 12.0, 0)
    thin = trajectory(d / "thin.extxyz", 2, 12.0, 100)
    wide = trajectory(d / "wide.extxyz", 2, 15.0, 200)
    out = {name: d / f"{name}.h5" for name in ("all", "thin", "frames", "old")}
    gap_batch([FIXTURES / "cp2k"], out["all"], workers=1)
    gap_batch([FIXTURES / "cp2k" / "water4_frames"], out["frames"], workers=1)
    frames = sorted((FIXTURES / "cp2k" / "water4_frames").glob("frame_*"))
    with ResultStore(out["all"]) as store:
        store.append(FIELD_SCHEMA, [field_profile(CP2K_FIXTURE / "nofield", CP2K_FIXTURE / "field")[1]])
        store.append(CHARGE_FIT_SCHEMA, [fit_charge(frames, max_dipole_e_per_A=0.05)[1]])
        store.append(DIPOLE_SCHEMA, [dipole_trajectory(thick)[1]])
        if POTENTIAL is not None:
            store.append(batch.POTENTIAL_SCHEMA, [potential_row(thick), potential_row(wide)])
    with ResultStore(out["thin"]) as store:
        store.append(DIPOLE_SCHEMA, [dipole_trajectory(thin)[1], dipole_trajectory(wide)[1]])
        if POTENTIAL is not None:
            store.append(batch.POTENTIAL_SCHEMA, [potential_row(thin)])
    later = {"water_thickness_A", "acf_integrated_time_ps", "time_ps", "water_thickness"}
    old = TableSchema("dipole", {k: v for k, v in DIPOLE_SCHEMA.columns.items() if k not in later},
                      {k: v for k, v in DIPOLE_SCHEMA.arrays.items() if k not in later})
    with ResultStore(out["old"]) as store:
        store.append(old, [{k: v for k, v in dipole_trajectory(thin)[1].items() if k not in later}])
    return out


def expected_figures() -> set[str]:
    """What all.h5 has data for (everything, once the dipole and potential additions exist)."""
    left_out = set()
    if POTENTIAL is None:
        left_out.add("potential-vs-cell")
    if not HAVE_THICKNESS:
        left_out.add("sigma-vs-thickness")
    return set(FIGURES) - left_out


def stored(path: Path, table: str, run_contains: str | None = None) -> list[dict]:
    """Rows straight from the store (not through dftpost.plot), scalars and arrays."""
    columns = read_table(path, table)
    rows = []
    for i in range(len(columns["run"])):
        if run_contains is None or run_contains in columns["run"][i]:
            rows.append({**{k: v[i] for k, v in columns.items()}, **read_arrays(path, table, i)})
    return rows


def line(ax, label: str):
    found = [artist for artist in ax.lines if artist.get_label() == label or artist.get_gid() == label]
    assert len(found) == 1, [a.get_label() for a in ax.lines]
    return found[0]


def check_file(path: Path, fmt: str = "png", min_kb: float = 8.0) -> None:
    data = path.read_bytes()
    assert data.startswith(MAGIC[fmt]), (path, data[:16])
    if fmt == "svg":
        assert b"<svg" in data[:2000]
    assert len(data) > min_kb * 1024, (path, len(data))


# ----------------------------------------------------------------------------- figures: plotted data = stored data
def test_dipole_figures_show_the_stored_profiles(files):
    (row,) = stored(files["all"], "dipole")
    assert row["census"][5].tolist()[:4] == [0, 1, 25, 1]  # the dissociated frame: OH⁻ + H3O⁺

    ax = draw_density(read_rows(files["all"], "dipole")[0]).axes[0]
    np.testing.assert_array_equal(line(ax, "O").get_xdata(), row["z"])
    np.testing.assert_array_equal(line(ax, "O").get_ydata(), row["o_density"])
    np.testing.assert_array_equal(line(ax, "H").get_ydata(), row["h_density"])
    low, high = ax.get_xlim()  # cut to the water, which sits between 14 and 20 Å above the origin here
    occupied = row["z"][row["o_density"] > 0]
    assert low < occupied.min() and high > occupied.max() and high - low < row["z"][-1] - row["z"][0]
    assert "(Å)" in ax.get_xlabel() and "(1/Å³)" in ax.get_ylabel()

    fig = draw_dipole_profile(read_rows(files["all"], "dipole")[0])
    ax = fig.axes[0]
    mean, std = row["mean_cumulative_dipole"], row["std_cumulative_dipole"]
    np.testing.assert_array_equal(line(ax, "mean").get_ydata(), mean)
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx((mean - std).min()) and band.max() == pytest.approx((mean + std).max())
    assert mean[-1] == pytest.approx(row["mean_total_dipole_e_per_A"], abs=1e-12)
    assert "(e/Å)" in ax.get_ylabel() and any("(V)" in a.get_ylabel() for a in fig.axes[0].child_axes)

    fig = draw_dipole_distribution(read_rows(files["all"], "dipole")[0])
    ax = fig.axes[0]
    values, edges, _ = ax.patches[0].get_data()
    np.testing.assert_array_equal(values, row["histogram_counts"])
    np.testing.assert_array_equal(edges, row["histogram_edges"])
    assert values.sum() == row["n_frames"] == 12
    threshold = row["gap_eV"] * EPSILON0_E_PER_V_A  # 4.45 eV → 0.0246 e/Å
    assert threshold == pytest.approx(0.0246, abs=1e-4)
    below, above = ax.patches[1].get_bbox(), ax.patches[2].get_bbox()
    assert below.x1 == pytest.approx(-threshold) and above.x0 == pytest.approx(threshold)
    assert "(e/Å)" in ax.get_xlabel() and "(count)" in ax.get_ylabel()

    ax_water, ax_ions = draw_census(read_rows(files["all"], "dipole")[0]).axes[:2]
    for k, species in enumerate(CENSUS_SPECIES):
        artist = line(ax_water if species == "H2O" else ax_ions, species)
        np.testing.assert_array_equal(artist.get_ydata(), row["census"][:, k])
        if HAVE_TIMES:
            np.testing.assert_allclose(artist.get_xdata(), row["time_ps"])
    assert ax_ions.get_xlabel() == ("time (ps)" if HAVE_TIMES else "frame")


@needs_times
def test_census_and_acf_fall_back_to_frames_without_times(files):
    row = read_rows(files["all"], "dipole")[0]
    np.testing.assert_allclose(row["time_ps"], np.arange(12) * FRAME_FS / 1000)
    untimed = {**row, "time_ps": np.full(12, np.nan)}
    ax = draw_census(untimed).axes[1]
    assert ax.get_xlabel() == "frame"
    np.testing.assert_array_equal(line(ax, "OH").get_xdata(), row["frame_index"])
    ax = draw_acf([untimed]).axes[0]
    assert ax.get_xlabel() == "lag τ (frames)"
    # the lags that carry information: ten integrated times, at least 10 lags, at most N/4 (N = 12 here)
    tau = row["acf_integrated_time_frames"]
    shown = shown_lags(row)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(shown))
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), row["acf"][:shown])
    (marker,) = [line for line in ax.lines if line.get_label().strip().startswith("τ_int")]
    np.testing.assert_allclose(marker.get_xdata(), [tau, tau])
    assert any(p.get_label().startswith("±2/√N") for p in ax.patches)


def test_pdos_map_shows_the_stored_z_resolved_dos(files):
    (row,) = stored(files["all"], "gap", "water4_slab/nofield")
    fig = draw_pdos_map(read_rows(files["all"], "gap", run="water4_slab/nofield")[0])
    ax = fig.axes[0]
    dos = row["z_resolved_dos"]
    assert dos.shape == (2, row["energies_eV"].size)  # the fixture's two layer lists
    mesh = ax.collections[0]
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(dos.T.shape), dos.T)
    coordinates = mesh.get_coordinates()
    np.testing.assert_allclose(coordinates[0, :, 0], row["z_bin_edges_A"])
    np.testing.assert_allclose(0.5 * (coordinates[1:, 0, 1] + coordinates[:-1, 0, 1]), row["energies_eV"])
    np.testing.assert_array_equal(line(ax, "local VBM").get_ydata(), row["local_vbm_eV"])
    np.testing.assert_array_equal(line(ax, "local CBM").get_ydata(), row["local_cbm_eV"])
    # markers at the layers' centres (mean height of the atoms of list2, list3), not mid-bin
    z = read_run(CP2K_FIXTURE / "nofield").atoms.positions[:, 2]
    np.testing.assert_allclose(line(ax, "local VBM").get_xdata(), [z[:6].mean(), z[6:].mean()])
    np.testing.assert_array_equal(line(ax, "E_F").get_ydata(), [0, 0])
    # water alone: the level the search starts from is drawn too
    np.testing.assert_allclose(line(ax, "reference").get_ydata(), [row["reference_eV"]] * 2)
    low, high = ax.get_ylim()
    assert low < np.nanmin(row["local_vbm_eV"]) and high > np.nanmax(row["local_cbm_eV"])
    colourbar = next(a for a in fig.axes if "states/eV" in a.get_xlabel() + a.get_ylabel() and "square-root" in a.get_xlabel() + a.get_ylabel())
    assert colourbar is not ax
    assert "(Å)" in ax.get_xlabel() and "(eV)" in ax.get_ylabel()
    water_panel = next(a for a in fig.axes if a.get_xlabel().startswith("water"))
    assert water_panel.get_ylim() == ax.get_ylim()  # the water DoS on the map's energy axis
    assert fig.legends and not ax.get_legend()  # the legend off the map
    assert fig.get_size_inches()[0] >= 5.5
    with pytest.raises(MissingInputError, match="z_resolved_dos"):
        plot_results([files["frames"]], ["pdos-map"], files["frames"].parent / "none")


def test_band_edges_against_dipole_and_the_summary_binning(files):
    rows = read_rows(files["all"], "gap")
    assert len(rows) == 6
    fig = draw_band_edges(rows)
    ax_e, ax_g, ax_v, ax_h = fig.axes  # the vacuum-scale panel: the no-field runs have a cube
    table = read_table(files["all"], "gap")
    order = [list(table["run"]).index(r["run"]) for r in rows]
    np.testing.assert_array_equal(line(ax_v, "VBM − E_vac").get_ydata(), table["vbm_vs_vacuum_eV"][order])
    np.testing.assert_array_equal(line(ax_v, "CBM − E_vac").get_ydata(), table["cbm_vs_vacuum_eV"][order])
    assert np.isfinite(table["vbm_vs_vacuum_eV"]).any() and "E_vac" in ax_v.get_ylabel()
    np.testing.assert_array_equal(line(ax_e, "VBM").get_xdata(), table["dipole_e_per_A"][order])
    np.testing.assert_array_equal(line(ax_e, "VBM").get_ydata(), table["vbm_eV"][order])
    np.testing.assert_array_equal(line(ax_e, "CBM").get_ydata(), table["cbm_eV"][order])
    np.testing.assert_array_equal(line(ax_g, "runs").get_ydata(), table["gap_eV"][order])
    summary = gap_summary(files["all"])["gap_by_dipole"]  # what `dftpost summary` prints
    binned = ax_g.containers[0].lines[0]
    np.testing.assert_allclose(np.asarray(binned.get_xdata(), float), [b["centre_e_per_A"] for b in summary])
    np.testing.assert_allclose(np.asarray(binned.get_ydata(), float), [b["mean_gap_eV"] for b in summary])
    values, edges, _ = ax_h.patches[0].get_data()
    assert values.sum() == 6 and np.allclose(np.diff(edges), 0.005)
    assert ax_e.get_zorder() > ax_h.get_zorder()  # the histogram is behind
    assert "(e/Å)" in ax_v.get_xlabel() and "(eV)" in ax_e.get_ylabel() and "(count)" in ax_h.get_ylabel()
    assert not any(a.get_label() == "metallized" for a in ax_e.lines)  # none of the fixture runs is
    metallized = [dict(r, metallized=1) if k == 0 else r for k, r in enumerate(rows)]
    marked = line(draw_band_edges(metallized).axes[0], "metallized")
    assert marked.get_xdata().tolist() == [rows[0]["dipole_e_per_A"]] * 2


def test_field_response_and_parity_show_the_stored_rows(files):
    (row,) = stored(files["all"], "field_profile")
    ax_v, ax_rho = draw_field_response(read_rows(files["all"], "field_profile")[0]).axes
    np.testing.assert_array_equal(line(ax_v, "ΔV (planar)").get_ydata(), row["delta_v"])
    np.testing.assert_array_equal(line(ax_v, "ΔV (macroscopic)").get_ydata(), row["macroscopic_delta_v"])
    np.testing.assert_array_equal(ax_rho.lines[0].get_ydata(), row["delta_rho"])
    (row,) = stored(files["all"], "charge_fit")
    ax = draw_parity(read_rows(files["all"], "charge_fit")[0]).axes[0]
    used = ax.collections[0].get_offsets()
    assert len(used) == 4 and row["used"].tolist() == [1, 1, 1, 1]
    np.testing.assert_allclose(used[:, 0], row["dft_dipole"])
    np.testing.assert_allclose(used[:, 1], row["q_o_e"] * row["lever"])
    assert row["q_o_e"] == pytest.approx(-0.567, abs=0.002)


@needs_thickness
def test_sigma_against_thickness_across_files(files):
    rows = read_rows(files["all"], "dipole") + read_rows(files["thin"], "dipole")
    ax = draw_sigma_vs_thickness(rows).axes[0]
    table = {r["run"]: r for path in (files["all"], files["thin"]) for r in stored(path, "dipole")}
    thickness = sorted((r["water_thickness_A"], r["std_total_dipole_e_per_A"]) for r in table.values())
    points = ax.lines[0]
    np.testing.assert_allclose(points.get_xdata(), [t for t, _ in thickness])
    np.testing.assert_allclose(points.get_ydata(), [s for _, s in thickness])
    assert 5.0 < thickness[-1][0] < 7.5 and 2.0 < thickness[0][0] < 4.5  # 3 layers 3 Å apart, 2 layers
    assert "(Å)" in ax.get_xlabel() and "(e/Å)" in ax.get_ylabel()


@needs_potential
def test_potential_against_cell_length_pools_equal_cells(files):
    rows = read_rows(files["all"], "potential") + read_rows(files["thin"], "potential")
    assert len(rows) == 3
    ax = draw_potential_vs_cell(rows).axes[0]
    by_length: dict[float, list] = {}
    for path in (files["all"], files["thin"]):
        for r in stored(path, "potential"):
            side = 15.0 if r["run"].endswith("wide.extxyz") else 12.0
            assert r["cell_length_A"] == pytest.approx(np.cbrt(side * side * 40.0))
            by_length.setdefault(round(r["cell_length_A"], 2), []).append(r["delta_v"])
    assert len(by_length) == 2  # the two 12 Å trajectories (two files) pooled, the 15 Å one apart
    lengths = sorted(by_length)
    assert lengths[0] == pytest.approx(np.cbrt(12 * 12 * 40), abs=0.01)
    means = ax.containers[0].lines[0]
    np.testing.assert_allclose(np.asarray(means.get_xdata(), float), lengths)
    np.testing.assert_allclose(np.asarray(means.get_ydata(), float), [np.concatenate(by_length[k]).mean() for k in lengths])
    bodies = {c.get_gid(): c for c in ax.collections if (c.get_gid() or "").startswith("violin")}
    assert len(bodies) == 2
    for k in lengths:
        body = bodies[f"violin {k:g}"]
        values = np.concatenate(by_length[k])
        y = body.get_paths()[0].vertices[:, 1]
        assert y.min() == pytest.approx(values.min()) and y.max() == pytest.approx(values.max())
    assert "(Å)" in ax.get_xlabel() and "(V)" in ax.get_ylabel()


@needs_potential
def acf_curves(ax) -> list:
    """The autocorrelation curves of an ACF figure (not its τ_int markers nor the zero line)."""
    return [line for line in ax.lines if not line.get_label().strip().startswith("τ_int") and not line.get_label().startswith("_")]


def shown_lags(row: dict) -> int:
    """Lags drawn: ten integrated times, at least 10, at most a quarter of the series."""
    n = row["acf"].size
    return min(n, max(10, min(n // 4, int(np.ceil(10 * row["acf_integrated_time_frames"])))))


def test_acf_of_dipole_and_potential(files):
    dipole_rows = read_rows(files["all"], "dipole")
    potential_rows = read_rows(files["all"], "potential")
    (d,) = stored(files["all"], "dipole")
    thick = [r for r in stored(files["all"], "potential") if r["run"] == d["run"]]
    ax = draw_acf(dipole_rows, [r for r in potential_rows if r["run"] == d["run"]]).axes[0]
    nd, np_ = shown_lags(d), shown_lags(thick[0])
    np.testing.assert_array_equal(acf_curves(ax)[0].get_ydata(), d["acf"][:nd])
    np.testing.assert_array_equal(acf_curves(ax)[1].get_ydata(), thick[0]["acf"][:np_])
    step = FRAME_FS / 1000 if HAVE_TIMES else 1.0
    assert ax.get_xlabel() == ("lag τ (ps)" if HAVE_TIMES else "lag τ (frames)")
    np.testing.assert_allclose(acf_curves(ax)[0].get_xdata(), np.arange(nd) * step)
    np.testing.assert_allclose(acf_curves(ax)[1].get_xdata(), np.arange(np_) * step)
    assert sum("τ_int =" in a.get_label() for a in draw_acf(dipole_rows, potential_rows).axes[0].lines) == 3
    # a potential row without times of its own takes those of the dipole row of its trajectory;
    # a curve without any times puts every curve in frames
    untimed = [{**r, "time_ps": np.full(r["delta_v"].size, np.nan)} for r in potential_rows]
    ax = draw_acf(dipole_rows, [r for r in untimed if r["run"] == d["run"]]).axes[0]
    assert ax.get_xlabel() == ("lag τ (ps)" if HAVE_TIMES else "lag τ (frames)")
    np.testing.assert_allclose(acf_curves(ax)[1].get_xdata(), np.arange(np_) * step)
    ax = draw_acf(dipole_rows, untimed).axes[0]
    assert ax.get_xlabel() == "lag τ (frames)"
    np.testing.assert_array_equal(acf_curves(ax)[0].get_xdata(), np.arange(nd))


def test_formats_by_suffix_and_bad_suffix(files, tmp_path):
    row = read_rows(files["all"], "dipole")[0]
    for fmt in ("png", "pdf", "svg"):
        check_file(save_figure(draw_dipole_profile(row), tmp_path / f"profile.{fmt}"), fmt)
    with pytest.raises(DftpostError, match=r"\.jpg.*use \.png, \.pdf or \.svg"):
        save_figure(draw_dipole_profile(row), tmp_path / "profile.jpg")
    # the two figures the field-profile and fit-charge commands draw with --plot
    assert field_response_figure(read_rows(files["all"], "field_profile")[0], tmp_path / "f.svg") == tmp_path / "f.svg"
    check_file(tmp_path / "f.svg", "svg")
    check_file(parity_figure(read_rows(files["all"], "charge_fit")[0], tmp_path / "p.pdf"), "pdf", min_kb=5)
    # the README's draw-and-save name: the same file as drawing and saving, options passed on
    rows = read_rows(files["all"], "gap")
    made = band_edges_figure(rows, tmp_path / "b.svg", bin_width_e_per_A=0.01)
    assert made.read_bytes() == save_figure(draw_band_edges(rows, bin_width_e_per_A=0.01), tmp_path / "b2.svg").read_bytes()
    assert made.read_bytes() != save_figure(draw_band_edges(rows), tmp_path / "b3.svg").read_bytes()


def test_registry_and_plot_results(files, tmp_path):
    assert set(available_figures(files["all"])) == expected_figures()
    assert "pdos-map" not in available_figures(files["frames"])  # no z-resolved PDoS in the frames
    made = plot_results([files["all"]], None, tmp_path / "figs")
    assert {name for name, _ in made} == expected_figures()
    for name, path in made:
        assert path == tmp_path / "figs" / f"{name}.png"
        check_file(path)
    with pytest.raises(MissingInputError, match="thin.h5: no table 'gap' \\(figure band-edges needs it\\)"):
        plot_results([files["all"], files["thin"]], ["band-edges"], tmp_path / "x")
    # several files: figures of one run per file, named by the file
    made = plot_results([files["all"], files["thin"]], ["census"], tmp_path / "two")
    assert sorted(p.name for _, p in made) == ["all-census.png", "thin-census.png"]


# ----------------------------------------------------------------------------- command line
def dftpost(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed command line, run from ``cwd`` (a folder away from the checkout, whose
    dftpost/ would shadow the installed package)."""
    return subprocess.run([sys.executable, "-c", "from dftpost.cli.main import app; app()", *args],
                          capture_output=True, text=True, cwd=cwd)


def dftpost_here(*args: str, cwd: Path, monkeypatch) -> subprocess.CompletedProcess:
    """The command line run in this process (typer's runner), from ``cwd``: the same code as
    :func:`dftpost` for the checks of messages and exit codes, without a fresh interpreter."""
    from dftpost.cli.main import app
    from typer.testing import CliRunner

    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(app, list(args))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def test_cli_draws_every_available_figure(files, tmp_path):
    result = dftpost("plot", str(files["all"]), "--out", "figures", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    drawn = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert drawn == sorted(f"{name}.png" for name in expected_figures())
    for name in drawn:
        assert name in result.stdout
        check_file(tmp_path / "figures" / name)


def test_cli_figure_names_several_files_and_formats(files, tmp_path):
    names = ["density", "sigma-vs-thickness"] if HAVE_THICKNESS else ["density"]
    result = dftpost("plot", str(files["all"]), str(files["thin"]), *names, "--format", "svg", "-o", "svg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = {"all-density.svg", "thin-density.svg"} | ({"sigma-vs-thickness.svg"} if HAVE_THICKNESS else set())
    assert {p.name for p in (tmp_path / "svg").iterdir()} == expected
    for name in expected:
        check_file(tmp_path / "svg" / name, "svg")
    result = dftpost("plot", "parity", str(files["all"]), "--format", "pdf", "--out", "pdf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "pdf").iterdir()] == ["parity.pdf"]
    check_file(tmp_path / "pdf" / "parity.pdf", "pdf", min_kb=5)


@pytest.mark.parametrize(
    "file, figure, message",
    [
        ("thin", "pdos-map", "thin.h5: no table 'gap' (figure pdos-map needs it)"),
        ("frames", "pdos-map", "'z_resolved_dos'"),
        ("old", "sigma-vs-thickness", "old.h5: table 'dipole' has no column 'water_thickness_A'"),
        ("old", "census", None),  # an old file still has what the census needs
    ],
)
def test_cli_missing_data_is_one_line_naming_it(files, tmp_path, file, figure, message, monkeypatch):
    result = dftpost_here("plot", str(files[file]), figure, "--out", "figs", cwd=tmp_path, monkeypatch=monkeypatch)
    if message is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert message in result.stderr and figure in result.stderr
    assert not (tmp_path / "figs").exists()  # nothing drawn before the check


def test_cli_usage_errors(files, tmp_path, monkeypatch):
    result = dftpost_here("plot", str(files["all"]), "--format", "jpg", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 2 and all(f"'{f}'" in result.stderr for f in ("png", "pdf", "svg"))
    result = dftpost_here("plot", str(files["all"]), "densty", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 1 and "densty" in result.stderr and "density" in result.stderr
    assert "Traceback" not in result.stderr
    result = dftpost_here("plot", "--help", cwd=tmp_path, monkeypatch=monkeypatch)
    assert result.returncode == 0 and all(name in result.stdout for name in FIGURES)


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_parity_draws_left_out_frames_on_top_and_names_every_element(files):
    row = read_rows(files["all"], "charge_fit")[0]
    used = np.asarray(row["used"]).copy()
    used[np.argmax(np.abs(row["dft_dipole"]))] = 0  # the largest dipole left out
    ax = draw_parity({**row, "used": used}).axes[0]
    (left_out,) = [c for c in ax.collections if c.get_label() == "left out"]
    assert left_out.get_zorder() > max(p.get_zorder() for p in ax.patches)  # above the shaded range
    labels = legend_texts(ax)
    assert "fixed-charge = DFT" in labels and any(label.startswith("|μ_DFT| ≥") for label in labels)


def test_parity_legend_lists_only_what_is_drawn(files):
    row = read_rows(files["all"], "charge_fit")[0]
    dft = np.abs(np.asarray(row["dft_dipole"], float))
    assert np.all(np.asarray(row["used"]) == 1) and dft.max() < row["max_dipole_e_per_A"]  # the fixture: none left out
    ax = draw_parity(row).axes[0]
    assert "left out" not in legend_texts(ax)  # no hollow point to name
    low, high = ax.get_xlim()
    assert high > row["max_dipole_e_per_A"] and low < -row["max_dipole_e_per_A"]  # the cut within the axes
    shaded = [p for p in ax.patches if p.get_label().startswith("|μ_DFT| ≥")]
    assert len(shaded) == 1 and shaded[0].get_x() < high
    far = draw_parity({**row, "max_dipole_e_per_A": 20 * dft.max()}).axes[0]  # a cut far beyond the data
    assert not far.patches and not any(t.startswith("|μ_DFT|") for t in legend_texts(far))
    assert f"{20 * dft.max():g} e/Å" in far.get_title() and far.get_xlim()[1] < 2 * dft.max()


def test_band_edges_ring_metallized_runs_and_keep_markers_inside(files):
    rows = read_rows(files["all"], "gap")[:1]
    fig = draw_band_edges([{**rows[0], "metallized": 1}])
    ax_e = fig.axes[0]
    assert fig.get_suptitle().startswith("1 run, 1 metallized")
    ring, vbm = line(ax_e, "metallized"), line(ax_e, "VBM")
    assert ring.get_marker() == "o" and ring.get_markerfacecolor() == "none"  # the VBM/CBM triangle shows inside
    assert ring.get_markersize() > vbm.get_markersize()
    low, high = ax_e.get_ylim()
    edges = [rows[0]["vbm_eV"], rows[0]["cbm_eV"], 0.0]
    assert low < min(edges) - 0.08 * (max(edges) - min(edges)) and high > max(edges) + 0.08 * (max(edges) - min(edges))


def test_threshold_lines_and_regions_are_labelled_in_volts(files):
    row = read_rows(files["all"], "dipole")[0]
    texts = legend_texts(draw_dipole_distribution(row).axes[0])
    assert f"|μ_z|/ε0 > E_gap/e = {row['gap_eV']:g} V" in texts
    if POTENTIAL is not None:
        rows = [{**r, "gap_eV": 4.45} for r in read_rows(files["all"], "potential")]
        assert "ΔV = E_gap/e = 4.45 V" in legend_texts(draw_potential_vs_cell(rows).axes[0])


def test_no_text_smaller_than_7_points(files):
    from matplotlib.text import Text

    for draw, data in [*one_panel_calls(files).values(), *panel_calls(files).values()]:
        fig = draw(data)
        small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text) if t.get_visible() and t.get_text()
                 and t.get_fontsize() < 7]
        assert not small, (draw.__name__, small)


def contrast(a, b) -> float:
    """WCAG contrast ratio of two colours (relative luminance of linearised sRGB)."""
    from matplotlib.colors import to_rgb

    def luminance(colour) -> float:
        c = np.array(to_rgb(colour))
        c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(c @ [0.2126, 0.7152, 0.0722])

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_lines_over_shaded_regions_stand_out(files):
    for ax in draw_field_response(read_rows(files["all"], "field_profile")[0]).axes:
        shades = {p.get_facecolor()[:3] for p in ax.patches}
        assert shades and ax.lines
        for data_line in [ln for ln in ax.lines if ln.get_label().startswith("Δ")]:
            assert all(contrast(data_line.get_color(), s) >= 3 for s in shades), data_line.get_label()
    ax = draw_dipole_profile(read_rows(files["all"], "dipole")[0]).axes[0]
    (band,) = ax.collections
    assert contrast(line(ax, "mean").get_color(), band.get_facecolor()[0][:3]) >= 3


def test_every_shaded_region_is_in_the_legend(files):
    ax_v, ax_rho = draw_field_response(read_rows(files["all"], "field_profile")[0]).axes[:2]
    labels = [t.get_text() for t in ax_rho.get_legend().get_texts()]
    assert "vacuum: fitted region" in labels and "water: fitted region" in labels
    ax = draw_dipole_distribution(read_rows(files["all"], "dipole")[0]).axes[0]
    assert any(t.get_text().startswith("|μ_z|/ε0 >") for t in ax.get_legend().get_texts())


def test_census_says_which_species_never_occur(files):
    row = read_rows(files["all"], "dipole")[0]
    quiet = {**row, "census": np.column_stack([np.zeros_like(c) if s != "H2O" else c
                                               for s, c in zip(CENSUS_SPECIES, np.asarray(row["census"]).T)])}
    ax = draw_census(quiet).axes[1]
    assert all(t.get_text().endswith(": 0 in every frame") for t in ax.get_legend().get_texts())
    assert ax.get_ylim()[0] >= -0.5


# ----------------------------------------------------------------------------- drawing into the caller's axes
def one_panel_calls(files) -> dict[str, tuple]:
    """The figures of one Axes and their data from all.h5 (and thin.h5 for the pooled ones)."""
    dipole = read_rows(files["all"], "dipole")
    calls = {
        "density": (draw_density, dipole[0]),
        "dipole-profile": (draw_dipole_profile, dipole[0]),
        "dipole-distribution": (draw_dipole_distribution, dipole[0]),
        "acf": (draw_acf, dipole),
        "parity": (draw_parity, read_rows(files["all"], "charge_fit")[0]),
    }
    if HAVE_THICKNESS:
        calls["sigma-vs-thickness"] = (draw_sigma_vs_thickness, dipole + read_rows(files["thin"], "dipole"))
    if POTENTIAL is not None:
        calls["potential-vs-cell"] = (draw_potential_vs_cell, read_rows(files["all"], "potential"))
    return calls


def panel_calls(files) -> dict[str, tuple]:
    """The figures of several panels and their data from all.h5."""
    return {
        "census": (draw_census, read_rows(files["all"], "dipole")[0]),
        "pdos-map": (draw_pdos_map, read_rows(files["all"], "gap", run="water4_slab/nofield")[0]),
        "band-edges": (draw_band_edges, read_rows(files["all"], "gap")),
        "field-response": (draw_field_response, read_rows(files["all"], "field_profile")[0]),
    }


def is_empty(ax) -> bool:
    return not ax.has_data() and not ax.texts and not ax.get_title() and not ax.get_xlabel() and ax.get_legend() is None


def line_data(axes) -> list[np.ndarray]:
    """The data of the lines, histograms (stairs) and scatter points of these axes, in drawing order."""
    from matplotlib.collections import PathCollection
    from matplotlib.patches import StepPatch

    data = []
    for ax in axes:
        data += [line.get_xydata() for line in ax.lines]
        data += [np.concatenate(p.get_data()[:2]) for p in ax.patches if isinstance(p, StepPatch)]
        data += [np.asarray(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)]
    return data


def test_every_draw_function_takes_ax_or_fig(files):
    assert set(one_panel_calls(files)) | set(panel_calls(files)) == expected_figures()


@pytest.mark.parametrize("name", ["density", "dipole-profile", "dipole-distribution", "acf", "parity",
                                  "sigma-vs-thickness", "potential-vs-cell"])
def test_one_panel_figure_drawn_into_a_given_axes(files, name):
    from matplotlib.figure import Figure

    calls = one_panel_calls(files)
    if name not in calls:
        pytest.skip(f"no data for {name} yet")
    draw, data = calls[name]
    fig = Figure()
    axes = fig.subplots(2, 2)
    assert draw(data, ax=axes[0, 1]) is fig  # the caller's figure, to save whole
    assert axes[0, 1].has_data() and axes[0, 1].get_xlabel()
    assert all(is_empty(ax) for ax in (axes[0, 0], axes[1, 0], axes[1, 1]))
    alone = draw(data)
    assert alone is not fig and len(line_data(alone.axes[:1])) > 0
    for a, b in zip(line_data(alone.axes[:1]), line_data([axes[0, 1]]), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["census", "pdos-map", "band-edges", "field-response"])
def test_figure_of_panels_drawn_into_a_given_subfigure(files, name, tmp_path):
    from matplotlib.figure import Figure

    draw, data = panel_calls(files)[name]
    fig = Figure(figsize=(12, 10), layout="constrained")
    quarters = fig.subfigures(2, 2)
    assert draw(data, fig=quarters[1, 0]) is fig
    alone = draw(data)
    assert len(quarters[1, 0].axes) == len(alone.axes) >= 2
    assert all(not q.axes and not q.legends for q in (quarters[0, 0], quarters[0, 1], quarters[1, 1]))
    assert len(line_data(alone.axes)) > 0
    for a, b in zip(line_data(alone.axes), line_data(quarters[1, 0].axes), strict=True):
        np.testing.assert_array_equal(a, b)
    check_file(save_figure(fig, tmp_path / f"{name}.png", dpi=60))  # the whole figure renders
    with pytest.raises(DftpostError, match="has 1 axes already"):
        draw(data, fig=Figure().add_subplot().figure)


@needs_potential
def test_potential_violins_are_in_the_legend(files):
    ax = draw_potential_vs_cell(read_rows(files["all"], "potential")).axes[0]
    assert ax.collections and "distribution over frames" in legend_texts(ax)


def test_charge_density_ticks_in_powers_of_ten(files):
    fig = draw_field_response(read_rows(files["all"], "field_profile")[0])
    fig.draw_without_rendering()
    ax_rho = fig.axes[1]
    assert "10^{-4}" in ax_rho.yaxis.get_offset_text().get_text().replace("\u2212", "-")  # Δρ ~ 2e-4 e/Å³: ticks 2, 1, 0, ... × 10⁻⁴
    ticks = [re.sub(r"[$}]|\\mathdefault\{", "", t.get_text()).replace("\u2212", "-") for t in ax_rho.get_yticklabels()]
    assert all(abs(float(t)) < 10 for t in ticks if t), ticks


def inside(inner, outer, pad: float = 0.5) -> bool:
    """Whether a display-space bbox lies within another (pad in pixels)."""
    return (inner.x0 >= outer.x0 - pad and inner.x1 <= outer.x1 + pad
            and inner.y0 >= outer.y0 - pad and inner.y1 <= outer.y1 + pad)


@needs_thickness
def test_sigma_labels_stay_inside_the_axes(files):
    fig = draw_sigma_vs_thickness(read_rows(files["all"], "dipole") + read_rows(files["thin"], "dipole"))
    fig.draw_without_rendering()
    ax = fig.axes[0]
    assert len(ax.texts) == 3
    for text in ax.texts:
        assert inside(text.get_window_extent(), ax.get_window_extent()), text.get_text()


def test_acf_legend_of_several_trajectories_is_off_the_curves(files):
    rows = read_rows(files["all"], "dipole") + read_rows(files["thin"], "dipole")
    fig = draw_acf(rows)
    fig.draw_without_rendering()
    ax = fig.axes[0]
    assert len(legend_texts(ax)) > 5
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1  # right of the axes
    assert inside(ax.get_legend().get_window_extent(), fig.bbox)  # and on the figure


def test_band_edges_runs_show_over_the_bin_means(files):
    ax_g = draw_band_edges(read_rows(files["all"], "gap")).axes[1]
    runs = line(ax_g, "runs")
    means = [ln for ln in ax_g.lines if ln is not runs]
    assert runs.get_markerfacecolor() == "none" and all(runs.get_zorder() > m.get_zorder() for m in means)
