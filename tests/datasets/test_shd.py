"""SHD: HDF5 files written here with h5py from the published layout, read back exactly."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from asyncsim.datasets import DatasetError, DatasetNotFoundError, load_dataset, read_shd_file

# Spike times in seconds, exact in float32; units; labels.
TRAIN = [
    ([0.25, 0.0009765625, 0.5], [699, 0, 3], 19),
    ([], [], 4),
    ([0.015625, 0.015625, 0.0234375], [10, 10, 11], 0),
]


def write_shd(path: Path, samples=TRAIN, labels=None, time_type=np.float32):
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        times = file.create_dataset(
            "spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.dtype(time_type))
        )
        units = file.create_dataset(
            "spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.dtype(np.uint16))
        )
        for i, (t, u, _) in enumerate(samples):
            times[i] = np.array(t, dtype=time_type)
            units[i] = np.array(u, dtype=np.uint16)
        file["labels"] = np.array(
            labels if labels is not None else [s[2] for s in samples], dtype=np.uint16
        )
        file["extra/speaker"] = np.zeros(len(samples), dtype=np.uint16)
    return path


@pytest.mark.parametrize("time_type", [np.float16, np.float32, np.float64])
def test_reads_events_and_labels_exactly(tmp_path, time_type):
    path = write_shd(tmp_path / "shd_train.h5", time_type=time_type)
    samples = list(read_shd_file(path))
    assert [label for _, label in samples] == [19, 4, 0]
    events = samples[0][0]
    assert events["x"].tolist() == [699, 0, 3]
    assert events["t"].tolist() == [250_000.0, 976.5625, 500_000.0]
    assert events["y"].tolist() == [0, 0, 0] and events["p"].tolist() == [0, 0, 0]
    assert len(samples[1][0]) == 0


@pytest.mark.parametrize("tonic_layout", [False, True])
def test_frames_with_channel_pooling(tmp_path, tonic_layout):
    write_shd((tmp_path / "SHD" if tonic_layout else tmp_path) / "shd_train.h5")
    frames = load_dataset("shd", tmp_path, "train", dt_ms=10.0, pool=4, use_cache=False)
    assert (len(frames), frames.n_in, frames.n_classes) == (3, 175, 20)
    x0, label = frames[0]
    assert label == 19 and x0.shape == (51, 175)  # last spike at 500 ms -> bin 50
    assert x0[25, 174] == 1 and x0[0, 0] == 1 and x0[50, 0] == 1 and x0.sum() == 3
    x1, _ = frames[1]
    assert x1.shape == (1, 175) and x1.sum() == 0
    x2, _ = frames[2]  # units 10, 10 at 15.6 ms and 11 at 23.4 ms: all in channel 2
    assert x2[1, 2] == 2 and x2[2, 2] == 1 and x2.sum() == 3
    clipped = load_dataset("shd", tmp_path, dt_ms=10.0, pool=4, clip=1, use_cache=False)
    assert clipped[2][0][1, 2] == 1


def test_missing_dataset_inside_the_file(tmp_path):
    path = write_shd(tmp_path / "shd_train.h5")
    with h5py.File(path, "a") as file:
        del file["labels"]
    with pytest.raises(DatasetError, match="missing dataset.*labels") as info:
        load_dataset("shd", tmp_path, use_cache=False)
    assert str(path) in str(info.value)


def test_truncated_file(tmp_path):
    path = write_shd(tmp_path / "shd_train.h5")
    path.write_bytes(path.read_bytes()[:1500])
    with pytest.raises(DatasetError, match="not a readable HDF5 file") as info:
        load_dataset("shd", tmp_path, use_cache=False)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("samples", "labels", "problem"),
    [
        ([([0.1], [700], 1)], None, "sample 0 has a unit outside 0..699"),
        ([([0.1], [1], 1), ([0.1, 0.2], [1], 2)], None, "sample 1 has 2 spike times but 1 units"),
        ([([-0.1], [1], 1)], None, "negative or not finite"),
        ([([0.1], [1], 20)], None, "label 20 outside 0..19"),
        ([([0.1], [1], 1)], [1, 2], "1 spike-time arrays, 1 unit arrays and 2 labels"),
        ([], [], "holds no samples"),
    ],
)
def test_corrupt_content(tmp_path, samples, labels, problem):
    path = write_shd(tmp_path / "shd_test.h5", samples, labels)
    with pytest.raises(DatasetError, match=problem) as info:
        load_dataset("shd", tmp_path, "test", use_cache=False)
    assert str(path) in str(info.value)


def test_missing_file_says_where_it_goes(tmp_path):
    (tmp_path / "shd_test.h5.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("shd", tmp_path, "test")
    message = str(info.value)
    assert f"{tmp_path}/shd_test.h5" in message and "shd_test.h5.gz: unpack it" in message


def _replace(path: Path, key: str, make) -> None:
    with h5py.File(path, "a") as file:
        del file[key]
        make(file)


STRINGS = h5py.vlen_dtype(str)


def _string_times(file):
    times = file.create_dataset("spikes/times", (3,), dtype=STRINGS)
    for i in range(3):
        times[i] = "0.1"


@pytest.mark.parametrize(
    ("key", "make", "problem"),
    [
        ("labels", lambda f: f.create_dataset("labels", data=[b"19", b"4", b"0"]), "whole numbers"),
        ("labels", lambda f: f.create_dataset("labels", data=[0.5, 1.7, 2.0]), "whole numbers"),
        ("labels", lambda f: f.create_dataset("labels", data=3), "one entry per sample"),
        ("spikes/times", lambda f: f.create_group("spikes/times"), "not groups"),
        ("spikes/units", lambda f: f.create_group("spikes/units"), "not groups"),
        ("spikes/times", _string_times, "spike times of type"),
        (
            "spikes/times",
            lambda f: f.create_dataset("spikes/times", data=[0.1, 0.2, 0.3]),
            "must be arrays",
        ),
    ],
)
def test_malformed_datasets_are_one_error_naming_the_file(tmp_path, key, make, problem):
    """Strings, groups, scalars and fractions where SHD has integer arrays: before, a TypeError
    or a message without the file, and fractional labels were truncated to classes."""
    path = write_shd(tmp_path / "shd_train.h5")
    _replace(path, key, make)
    with pytest.raises(DatasetError, match=problem) as info:
        list(read_shd_file(path))
    assert str(path) in str(info.value)


def test_fractional_units_are_refused(tmp_path):
    path = write_shd(tmp_path / "shd_train.h5")
    units = h5py.vlen_dtype(np.dtype(np.float32))
    _replace(path, "spikes/units", lambda f: f.create_dataset("spikes/units", (3,), dtype=units))
    with h5py.File(path, "a") as file:
        for i, (_, u, _) in enumerate(TRAIN):
            file["spikes/units"][i] = np.array(u, dtype=np.float32) + 0.5
    with pytest.raises(DatasetError, match="sample 0 has a unit that is not a whole number"):
        list(read_shd_file(path))
