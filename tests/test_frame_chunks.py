"""Trajectories cut into chunks of frames for worker processes (``dipole``/``potential`` with
``--workers`` or ``--scheduler``): the frame index of xyz text, the chunks, and results equal to
those of one process."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from ase.io import read, write
from conftest import examples
from hypothesis import given
from hypothesis import strategies as st
from test_dipole_trajectory import slab
from test_potential import water_box

from dftpost.batch import dipole_trajectory, potential_trajectory
from dftpost.errors import DftpostError
from dftpost.io import trajectory
from dftpost.io.trajectory import frame_chunks, iter_chunk, iter_frames, parse_index, xyz_frames

TIMING = {"analysed_at"}


def frame_texts(frames) -> list[bytes]:
    """Each frame written alone by ASE's extxyz writer."""
    texts = []
    for atoms in frames:
        buffer = io.StringIO()
        write(buffer, atoms, format="extxyz")
        texts.append(buffer.getvalue().encode())
    return texts


@pytest.fixture(scope="module")
def slabs(tmp_path_factory):
    """40 water-slab frames with times; every fifth shifted across the periodic boundary in z."""
    frames = []
    for k in range(40):
        atoms = slab(k)
        if k % 5 == 0:
            atoms.positions[:, 2] += 20.0
            atoms.wrap()
        atoms.info["time_fs"] = 50.0 * k
        frames.append(atoms)
    path = tmp_path_factory.mktemp("chunks") / "slabs.extxyz"
    write(path, frames)
    return path, frames


@pytest.mark.parametrize("block", [1 << 24, 97, 4096])
def test_frame_offsets_are_where_each_frame_written_alone_starts(tmp_path, block):
    frames = [slab(k, n=12 + k % 5) for k in range(9)]  # atom counts differ: the index does not mind
    texts = frame_texts(frames)
    path = tmp_path / "t.extxyz"
    path.write_bytes(b"".join(texts) + b"\n\n")  # blank lines at the end end the trajectory, as for ASE
    expected = np.cumsum([0] + [len(t) for t in texts])
    np.testing.assert_array_equal(xyz_frames(path, block=block).offsets, expected)


def test_frame_offsets_refuse_damaged_text(tmp_path):
    text = b"".join(frame_texts([slab(k) for k in range(3)]))
    cases = {"cut": text[:-200], "count": text.replace(b"72\n", b"72.5\n", 1), "no_end": text.rstrip(b"\n"),
             "garbage": text + b"garbage\n"}
    for name, data in cases.items():
        path = tmp_path / f"{name}.extxyz"
        path.write_bytes(data)
        assert xyz_frames(path) is None, name


@pytest.mark.parametrize("index", [":", "3:", "2:37:3", "-7:", "::4", "5:6"])
def test_chunks_cover_exactly_the_selected_frames(slabs, index):
    path, frames = slabs
    selected = list(range(len(frames)))[parse_index(index)]
    size = path.stat().st_size
    chunks = frame_chunks(path, parse_index(index), 4, min_bytes=1, max_bytes=size // 6)
    if len(selected) < 2:
        assert chunks is None
        return
    assert min(4, len(selected)) <= len(chunks) <= len(selected)
    numbers = [n for c in chunks for n, _ in iter_chunk(c)]
    assert numbers == selected
    for chunk in chunks:
        start, stop = chunk.byte_range
        assert chunk.count == 1 or stop - start <= size // 6
    atoms = next(iter_chunk(chunks[-1]))[1]
    np.testing.assert_array_equal(atoms.positions, read(path, index=chunks[-1].first).positions)


def test_chunks_need_plain_xyz_text_and_enough_bytes(slabs, tmp_path):
    path, frames = slabs
    size = path.stat().st_size
    assert frame_chunks(path, slice(None), 8, min_bytes=size + 1) is None  # too small: streamed
    assert frame_chunks(path, slice(0, 20), 8, min_bytes=size // 2 + 1000) is None  # the selection is too small
    assert len(frame_chunks(path, slice(None), 8, min_bytes=size)) == 8
    assert frame_chunks(path, slice(None, None, -1), 8, min_bytes=1) is None  # backwards
    traj = tmp_path / "slabs.traj"
    write(traj, frames[:4])
    assert frame_chunks(traj, slice(None), 8, min_bytes=1) is None


def same_rows(a: dict, b: dict) -> None:
    """Counts and frame numbers equal; every number equal to rounding (an H → O vector can come
    from another route of the assignment in another chunk: last-bit differences)."""
    assert a.keys() == b.keys()
    for key in set(a) - TIMING:
        if isinstance(a[key], np.ndarray) and a[key].dtype.kind in "iu":
            np.testing.assert_array_equal(b[key], a[key], err_msg=key)
        elif isinstance(a[key], (np.ndarray, float)):
            np.testing.assert_allclose(b[key], a[key], rtol=1e-12, atol=1e-15, err_msg=key)
        else:
            assert b[key] == a[key], key


@pytest.mark.parametrize("index", [None, "3:38:2"])
def test_dipole_in_chunks_on_processes_and_dask_equals_one_process(slabs, dask_address, index):
    path, _ = slabs
    _, serial = dipole_trajectory(path, index)
    counted = []
    _, processes = dipole_trajectory(path, index, workers=2, parallel_bytes=1, on_frames=counted.append)
    _, dask = dipole_trajectory(path, index, workers=2, scheduler=dask_address, parallel_bytes=1)
    assert sum(counted) == serial["n_frames"] and len(counted) > 2  # one call per chunk
    same_rows(serial, processes)
    same_rows(serial, dask)


def test_potential_in_chunks_on_processes_equals_one_process(tmp_path):
    frames = [water_box(s) for s in range(8)]
    path = tmp_path / "boxes.extxyz"
    write(path, frames)
    _, serial = potential_trajectory(path, tolerance_V=1e-4)
    _, chunked = potential_trajectory(path, tolerance_V=1e-4, workers=2, parallel_bytes=1)
    same_rows(serial, chunked)
    np.testing.assert_array_equal(chunked["frame_index"], np.arange(8))


@pytest.mark.parametrize("damage, message", [
    ("atoms", "frame 31: 69 atoms, the first frame had 72"),
    ("nan", "frame 31: positions or cell are not finite numbers"),
])
def test_a_bad_frame_in_a_later_chunk_gives_the_error_of_one_process(tmp_path, damage, message):
    frames = [slab(k) for k in range(36)]
    if damage == "atoms":
        frames[31] = frames[31][:-3]
    else:
        frames[31].positions[4, 1] = np.nan
    frames[33] = frames[33][:-3]  # a later bad frame: the earliest is reported
    path = tmp_path / "bad.extxyz"
    write(path, frames)
    errors = []
    for workers in (1, 2):
        with pytest.raises(DftpostError, match=message) as caught:
            dipole_trajectory(path, workers=workers, parallel_bytes=1)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and str(path) in errors[0]


BASE_TEXT = b"".join(frame_texts([slab(k, n=3) for k in range(5)]))


#: Damage to BASE_TEXT: (offset, bytes cut there, bytes inserted) edits.
EDITS = st.lists(st.tuples(st.integers(0, len(BASE_TEXT) - 1), st.integers(0, 3),
                           st.sampled_from([b"", b"\n", b" ", b"7", b"-", b"x", b"VEC1 1 0 0\n", b"\n\n", b"12\n"])),
                 min_size=1, max_size=3)


def damaged(edits, tmp_path_factory):
    """BASE_TEXT with the edits applied (from the end backwards), in a new .extxyz file."""
    data = bytearray(BASE_TEXT)
    for at, cut, insert in sorted(edits, reverse=True):
        data[at:at + cut] = insert
    path = tmp_path_factory.mktemp("fuzz") / "t.extxyz"
    path.write_bytes(bytes(data))
    return path


def frames_or_error(read):
    """The list of (number, Atoms) that ``read()`` yields, or the DftpostError it raises."""
    try:
        return list(read())
    except DftpostError as exc:
        return exc


def read_all(path):
    """(number, Atoms) of every frame read in chunks, the error, or None when the file is not cut."""
    chunks = frames_or_error(lambda: frame_chunks(path, slice(None), 4, min_bytes=1) or [])
    if not chunks or isinstance(chunks, DftpostError):
        return chunks or None
    return frames_or_error(lambda: (f for c in chunks for f in iter_chunk(c)))


def assert_same_frames(ours, theirs):
    """The same frame numbers, and frames equal in atoms, positions, cell, pbc and info."""
    assert [n for n, _ in ours] == [n for n, _ in theirs]
    for (_, a), (_, b) in zip(ours, theirs):
        np.testing.assert_array_equal(a.numbers, b.numbers)
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.cell[:], b.cell[:])
        np.testing.assert_array_equal(a.pbc, b.pbc)
        assert a.info == b.info


@examples(150)
@given(edits=EDITS)
def test_damaged_text_read_in_chunks_gives_the_frames_or_the_error_of_one_pass(edits, tmp_path_factory):
    path = damaged(edits, tmp_path_factory)
    streamed = frames_or_error(lambda: iter_frames(path))
    chunked = read_all(path)
    if chunked is None:  # not cut: the file is streamed in one pass
        return
    if isinstance(streamed, DftpostError):
        assert isinstance(chunked, DftpostError), f"one pass: {streamed}; chunks read {len(chunked)} frames"
        return
    assert not isinstance(chunked, DftpostError), f"one pass read {len(streamed)} frames; chunks: {chunked}"
    assert_same_frames(chunked, streamed)


def read_through_ase(path, index=slice(None)):
    """The frames as ASE's own reader finds them (its iread), under the same checks, or the error."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trajectory, "_c_parser", lambda: None)
        return frames_or_error(lambda: iter_frames(path, index))


def assert_same_frames_or_error(ours, theirs):
    if isinstance(theirs, DftpostError):
        assert isinstance(ours, DftpostError) and str(ours) == str(theirs), f"ASE: {theirs}; frame by frame: {ours}"
        return
    assert not isinstance(ours, DftpostError), f"ASE read {len(theirs)} frames; frame by frame: {ours}"
    assert_same_frames(ours, theirs)


@examples(150)
@given(edits=EDITS, index=st.sampled_from([":", "::2", "1:4", "-3:", "2"]))
def test_damaged_text_read_frame_by_frame_gives_the_frames_or_the_error_of_ase(edits, index, tmp_path_factory):
    """Plain extxyz is read by scanning for the frames and parsing them with the C parser (ASE
    from the first frame it refuses); on damaged text that gives what ASE's own iread gives: the
    same frames, or the same error."""
    path = damaged(edits, tmp_path_factory)
    ours = frames_or_error(lambda: iter_frames(path, parse_index(index)))
    assert_same_frames_or_error(ours, read_through_ase(path, parse_index(index)))


def test_frame_by_frame_reading_equals_ase_on_real_and_written_trajectories(slabs, tmp_path):
    path, _ = slabs
    for index in (":", "3:17:4", "-5:", "::-3", "7"):
        assert_same_frames_or_error(list(iter_frames(path, parse_index(index))), read_through_ase(path, parse_index(index)))
    vec = tmp_path / "vec.xyz"  # cells as VEC lines: read by ASE's iread
    vec.write_text("3\ncomment\nO 0 0 0\nH 0.9 0 0\nH 0 0.9 0\nVEC1 5 0 0\nVEC2 0 5 0\nVEC3 0 0 5\n" * 2)
    frames = list(iter_frames(vec))
    assert len(frames) == 2 and frames[1][1].cell[1, 1] == 5.0


#: comment-line pieces: the plain form, and what only ASE's reader reads (or reads its own way)
LATTICES = [b'Lattice="12.0 0.0 0.0 0.0 12.0 0.0 0.0 0.0 40.0"', b'Lattice="12 0 1.5 6 10.4 0 0 0 40"', b'Lattice="12.0 0.0 0.0"', b""]
PROPERTIES = [b"Properties=species:S:1:pos:R:3", b"Properties=species:S:1:pos:R:3:forces:R:3", b"Properties=pos:R:3:species:S:1"]
OTHER_TOKENS = [
    b'pbc="T T T"', b'pbc="T T F"', b"pbc=T", b"time_fs=50.0", b"step=3", b"energy=-1.5", b"Energy=2", b"free_energy=1",
    b"stress=1", b"name=water", b'note="a b"', b"x=1e400", b"y=-.5", b"flag=T", b"Time=1", b"pbc_z=1", b"a=1=2", b"#",
    b'Lattice="1 0 0 0 1 0 0 0 1"',
]


@examples(200)
@given(lattice=st.sampled_from(LATTICES), properties=st.sampled_from(PROPERTIES),
       others=st.lists(st.sampled_from(OTHER_TOKENS), max_size=3), order=st.randoms(use_true_random=False),
       extra_column=st.booleans(), species=st.sampled_from([b"O", b"O", b"Xx", b"o"]))
def test_any_comment_line_gives_the_frames_or_the_error_of_ase(lattice, properties, others, order, extra_column, species,
                                                               tmp_path_factory):
    """The C parser reads only frames of the plain form; any other comment line (extended
    properties, results ASE gives a calculator, strings, booleans) is read by ASE, and a frame the
    C parser refuses (an extra column, an unknown species) is read on by ASE: always ASE's frames
    or ASE's error. Skewed cells included (the C parser gives the cell vectors as columns)."""
    tokens = [lattice, properties, *others]
    order.shuffle(tokens)
    atoms = [b"%s 1.0 2.0 3.0%s" % (species, b" 4.0" if extra_column else b""), b"H 1.5 2.0 3.0", b"H 1.0 2.5 3.0"]
    frame = b"3\n" + b" ".join(tokens) + b"\n" + b"\n".join(atoms) + b"\n"
    path = tmp_path_factory.mktemp("comments") / "t.extxyz"
    path.write_bytes(frame * 3)
    assert_same_frames_or_error(frames_or_error(lambda: iter_frames(path)), read_through_ase(path))


def test_only_plain_extxyz_goes_to_the_c_parser(slabs, tmp_path, monkeypatch):
    pytest.importorskip("extxyz", reason="the C parser is the optional extra 'fast'")
    path, frames = slabs
    parsed = []
    fast_frames = trajectory._fast_frames
    monkeypatch.setattr(trajectory, "_fast_frames", lambda p, numbers: parsed.append(p) or fast_frames(p, numbers))
    assert [n for n, _ in iter_frames(path, slice(3, 9, 2))] == [3, 5, 7] and parsed == [path]
    with_forces = tmp_path / "forces.extxyz"
    copies = [atoms.copy() for atoms in frames[:3]]
    for atoms in copies:
        atoms.arrays["forces"] = np.zeros((len(atoms), 3))
    write(with_forces, copies)
    assert len(list(iter_frames(with_forces))) == 3 and parsed == [path]  # read by ASE


def test_plain_extxyz_is_read_without_importing_ase_io(slabs):
    """ase.io takes longer to import than the C parser takes to read many frames: plain extxyz
    text read by the C parser leaves it unloaded (with ASE's parser, it is loaded)."""
    path, _ = slabs
    probe = ("import sys; from dftpost.io.trajectory import _c_parser, iter_frames; "
             f"n = sum(1 for _ in iter_frames({str(path)!r})); "
             "print(n, _c_parser() is not None, 'ase.io' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    n, fast, ase_io = done.stdout.split()
    assert n == "40" and ase_io == ("False" if fast == "True" else "True")
