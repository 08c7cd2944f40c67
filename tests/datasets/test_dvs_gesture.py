"""DVS Gesture: the per-gesture .npy files of tonic's release, written here, read back exactly."""

from pathlib import Path

import numpy as np
import pytest

from asyncsim.datasets import DatasetError, DatasetNotFoundError, load_dataset, read_gesture_file

# Columns x, y, p, t (milliseconds).
CLAP = [[0, 0, 1, 1000], [127, 127, 0, 1000], [5, 9, 1, 1049], [6, 9, 1, 1050]]
WAVE = [[64, 32, 0, 20], [64, 32, 0, 21], [100, 3, 1, 300]]


def write_gesture(folder: Path, label, rows, dtype=np.float64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{label}.npy"
    np.save(path, np.array(rows, dtype=dtype).reshape(-1, 4))
    return path


def write_split(root: Path) -> None:
    write_gesture(root / "ibmGestureTrain" / "user01_fluorescent", 0, CLAP)
    write_gesture(root / "ibmGestureTrain" / "user02_led", 1, WAVE, dtype=np.int64)
    write_gesture(root / "ibmGestureTest" / "user24_natural", 10, WAVE)


def test_reads_events_in_microseconds(tmp_path):
    path = write_gesture(tmp_path / "user01_lab", 4, CLAP)
    events, label = read_gesture_file(path)
    assert label == 4
    assert events["x"].tolist() == [0, 127, 5, 6]
    assert events["y"].tolist() == [0, 127, 9, 9]
    assert events["p"].tolist() == [1, 0, 1, 1]
    assert events["t"].tolist() == [1_000_000, 1_000_000, 1_049_000, 1_050_000]


@pytest.mark.parametrize("tonic_layout", [False, True])
def test_frames_binned_from_the_first_event_and_pooled_to_32x32(tmp_path, tonic_layout):
    write_split(tmp_path / "DVSGesture" if tonic_layout else tmp_path)
    train = load_dataset("dvs_gesture", tmp_path, "train", dt_ms=50.0, use_cache=False)
    assert (len(train), train.n_in, train.n_classes) == (2, 2 * 32 * 32, 11)
    assert train.labels.tolist() == [0, 1]
    clap, _ = train[0]  # starts at 1000 ms; 1049 ms in bin 0, 1050 ms in bin 1
    assert clap.shape == (2, 2048)
    on = 32 * 32
    assert clap[0, on + 0] == 1  # (0, 0) ON
    assert clap[0, 31 * 32 + 31] == 1  # (127, 127) OFF -> pooled (31, 31)
    assert clap[0, on + 2 * 32 + 1] == 1  # (5, 9) ON -> (1, 2)
    assert clap[1, on + 2 * 32 + 1] == 1  # (6, 9) ON -> (1, 2)
    assert clap.sum() == 4
    wave, _ = train[1]  # 20 ms, 21 ms, 300 ms -> bins 0, 0, 5
    assert wave.shape == (6, 2048)
    assert wave[0, 8 * 32 + 16] == 2 and wave[5, on + 0 * 32 + 25] == 1
    merged = load_dataset(
        "dvs_gesture", tmp_path, "train", dt_ms=50.0, pool=1, merge_polarity=True, use_cache=False
    )
    assert merged.n_in == 128 * 128 and merged[0][0][0, 9 * 128 + 5] == 1
    assert load_dataset("dvs_gesture", tmp_path, "test", use_cache=False).labels.tolist() == [10]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("3", np.zeros((2, 3)), r"expected an \[N, 4\] array"),
        ("3", np.array([[128.0, 0, 1, 5]]), "outside the 128x128 sensor"),
        ("3", np.array([[1.0, 0, 2, 5]]), "polarity other than 0 or 1"),
        ("3", np.array([[1.5, 0, 1, 5]]), "non-integer"),
        ("3", np.array([[1.0, 0, 1, np.inf]]), "not finite"),
        ("11", np.array([[1.0, 0, 1, 5]]), "file name must be the class"),
        ("clap", np.array([[1.0, 0, 1, 5]]), "file name must be the class"),
    ],
)
def test_corrupt_files(tmp_path, name, content, problem):
    path = tmp_path / "ibmGestureTrain" / "user03_lab" / f"{name}.npy"
    path.parent.mkdir(parents=True)
    np.save(path, content)
    with pytest.raises(DatasetError, match=problem) as info:
        load_dataset("dvs_gesture", tmp_path, use_cache=False)
    assert str(path) in str(info.value)


def test_truncated_file(tmp_path):
    path = write_gesture(tmp_path / "ibmGestureTrain" / "user01_led", 2, CLAP * 10)
    path.write_bytes(path.read_bytes()[:-16])
    with pytest.raises(DatasetError, match="not a readable .npy file") as info:
        load_dataset("dvs_gesture", tmp_path, use_cache=False)
    assert str(path) in str(info.value)


def test_missing_split_says_where_files_go(tmp_path):
    write_split(tmp_path)
    for path in (tmp_path / "ibmGestureTest").rglob("*.npy"):
        path.unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("dvs_gesture", tmp_path, "test")
    assert "ibmGestureTest/user<NN>_<lighting>/<label>.npy" in str(info.value)


def test_a_sample_spanning_too_long_is_refused_before_allocating(tmp_path):
    """An event at t = 1e12 ms once passed `data info` and made `train` allocate 149 TiB;
    it lies (1e12 - 1000) / 50 = 19999999980 steps of 50 ms after the first event."""
    folder = tmp_path / "ibmGestureTrain" / "user01_led"
    bad = write_gesture(folder, 3, [[0, 0, 1, 1000], [1, 1, 1, 1e12]])
    with pytest.raises(DatasetError, match=r"span 1e\+12 ms, 19999999981 timesteps") as info:
        load_dataset("dvs_gesture", tmp_path, "train", use_cache=False)
    assert str(bad) in str(info.value) and "n_steps" in str(info.value)
    cropped = load_dataset("dvs_gesture", tmp_path, "train", n_steps=10, use_cache=False)
    assert cropped[0][0].shape == (10, 2048)


def test_the_length_limit_is_one_gib_of_frames_per_sample(tmp_path):
    # 2048 channels (128x128x2 pooled by 4) x 4 bytes: 2**30 bytes are 131072 steps of 50 ms.
    folder = tmp_path / "ibmGestureTrain" / "user01_led"
    write_gesture(folder, 3, [[0, 0, 1, 0], [1, 1, 1, 131071 * 50]])
    assert load_dataset("dvs_gesture", tmp_path, "train", use_cache=False).n_steps == 131072
    write_gesture(folder, 3, [[0, 0, 1, 0], [1, 1, 1, 131072 * 50]])
    with pytest.raises(DatasetError, match="131073 timesteps"):
        load_dataset("dvs_gesture", tmp_path, "train", use_cache=False)


def test_a_folder_named_like_a_gesture_file_is_named(tmp_path):
    write_split(tmp_path)
    odd = tmp_path / "ibmGestureTrain" / "user03_led" / "2.npy"
    odd.mkdir(parents=True)
    with pytest.raises(DatasetError, match="a folder, where a data file was expected") as info:
        load_dataset("dvs_gesture", tmp_path, "train", use_cache=False)
    assert str(odd) in str(info.value)
