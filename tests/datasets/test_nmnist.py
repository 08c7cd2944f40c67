"""N-MNIST: binary files written here from the format description, read back exactly."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from asyncsim.datasets import (
    DatasetError,
    DatasetNotFoundError,
    load_dataset,
    read_nmnist_file,
)


def encode(events):
    """40 bits per event: x byte, y byte, polarity bit + 23-bit microsecond timestamp."""
    out = bytearray()
    for x, y, p, t in events:
        out += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


SAMPLES = {  # (split, digit, file name) -> events (x, y, p, t us)
    ("Train", 3, "00002.bin"): [(0, 0, 1, 0), (33, 33, 0, 0x5ABCDE), (5, 7, 1, 12_345)],
    ("Train", 3, "00001.bin"): [(1, 2, 0, 40_000), (1, 2, 0, 40_500), (30, 4, 1, 150_000)],
    ("Train", 0, "00009.bin"): [(10, 11, 1, 99_999), (10, 11, 1, 100_000)],
    ("Test", 7, "00004.bin"): [(2, 2, 0, 250_000)],
}


def write_folder(root: Path) -> Path:
    for (split, digit, name), events in SAMPLES.items():
        folder = root / split / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(encode(events))
    return root


def test_reads_every_field_exactly(tmp_path):
    root = write_folder(tmp_path)
    events = read_nmnist_file(root / "Train" / "3" / "00002.bin")
    assert events["x"].tolist() == [0, 33, 5]
    assert events["y"].tolist() == [0, 33, 7]
    assert events["p"].tolist() == [1, 0, 1]
    assert events["t"].tolist() == [0, 0x5ABCDE, 12_345]


def test_agrees_with_tonics_reader(tmp_path):
    spec = importlib.util.find_spec("tonic")
    if spec is None:
        pytest.skip("tonic not installed")
    # tonic/io.py imports only numpy and the standard library; loading it alone skips the
    # package's slow import of every data set and transform.
    io_spec = importlib.util.spec_from_file_location("tonic_io", Path(spec.origin).parent / "io.py")
    tonic_io = importlib.util.module_from_spec(io_spec)
    io_spec.loader.exec_module(tonic_io)
    path = write_folder(tmp_path) / "Train" / "3" / "00001.bin"
    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    theirs = tonic_io.read_mnist_file(str(path), dtype=dtype)
    ours = read_nmnist_file(path)
    for field in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(ours[field], theirs[field])


@pytest.mark.parametrize("tonic_layout", [False, True])
def test_frames_and_labels_of_a_split(tmp_path, tonic_layout):
    write_folder(tmp_path / "NMNIST" if tonic_layout else tmp_path)
    train = load_dataset("nmnist", tmp_path, "train", dt_ms=50.0, use_cache=False)
    assert (len(train), train.n_in, train.n_classes) == (3, 2 * 34 * 34, 10)
    # Order: digit folders ascending, then file names.
    assert train.labels.tolist() == [0, 3, 3]
    x0, label0 = train[0]  # Train/0/00009.bin: ON (10, 11) at 99.999 ms and 100 ms
    assert label0 == 0 and x0.shape == (3, 2312)
    on_10_11 = 34 * 34 + 11 * 34 + 10
    assert x0[1, on_10_11] == 1 and x0[2, on_10_11] == 1 and x0.sum() == 2
    x1, _ = train[1]  # Train/3/00001.bin
    assert x1.shape == (4, 2312)  # last event at 150 ms -> bin 3
    assert x1[0, 2 * 34 + 1] == 2 and x1[3, 34 * 34 + 4 * 34 + 30] == 1 and x1.sum() == 3
    test = load_dataset("nmnist", tmp_path, "test", dt_ms=50.0, use_cache=False)
    assert test.labels.tolist() == [7]
    assert test[0][0][5, 2 * 34 + 2] == 1


def test_first_saccade_keeps_the_first_100_ms(tmp_path):
    write_folder(tmp_path)
    train = load_dataset("nmnist", tmp_path, dt_ms=1.0, first_saccade=True, use_cache=False)
    x0, _ = train[0]
    assert x0.sum() == 1 and x0.shape[0] == 100  # the event at exactly 100 ms is dropped
    assert train[1][0].sum() == 2  # 40 ms and 40.5 ms; 150 ms dropped


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (encode([(1, 1, 0, 10)])[:-2], "truncated"),
        (b"", "empty"),
        (encode([(1, 1, 0, 10), (34, 0, 1, 20)]), "outside the 34x34"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, content, problem):
    write_folder(tmp_path)
    bad = tmp_path / "Train" / "5" / "00003.bin"
    bad.parent.mkdir()
    bad.write_bytes(content)
    with pytest.raises(DatasetError, match=problem) as info:
        load_dataset("nmnist", tmp_path, use_cache=False)
    assert str(bad) in str(info.value)


def test_missing_data_set_says_where_files_go(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("nmnist", tmp_path / "nowhere")
    message = str(info.value)
    assert "nowhere/Train/<digit 0-9>/*.bin" in message
    assert "NMNIST" in message and "never downloads" in message
    assert isinstance(info.value, FileNotFoundError)


def test_an_archive_left_packed_is_pointed_out(tmp_path):
    (tmp_path / "NMNIST").mkdir()
    (tmp_path / "NMNIST" / "Train.zip").write_bytes(b"PK")
    with pytest.raises(DatasetNotFoundError, match="Train.zip: unpack it"):
        load_dataset("nmnist", tmp_path)


def test_without_data_dir_the_environment_variable_is_used(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError, match="ASYNCSIM_DATA_DIR"):
        load_dataset("nmnist")
    monkeypatch.setenv("ASYNCSIM_DATA_DIR", str(write_folder(tmp_path)))
    assert len(load_dataset("nmnist", split="test", use_cache=False)) == 1


@pytest.mark.parametrize("kind", ["folder", "broken link"])
def test_a_folder_or_broken_link_named_like_a_recording_is_named(tmp_path, kind):
    """Before: IsADirectoryError from numpy, FileNotFoundError from stat, both tracebacks."""
    write_folder(tmp_path)
    odd = tmp_path / "Train" / "5" / "00003.bin"
    odd.parent.mkdir()
    if kind == "folder":
        odd.mkdir()
    else:
        odd.symlink_to(tmp_path / "gone.bin")
    with pytest.raises(
        DatasetError, match="folder, where a data file|broken symbolic link"
    ) as info:
        load_dataset("nmnist", tmp_path, use_cache=False)
    assert str(odd) in str(info.value)
