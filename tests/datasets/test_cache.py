"""The frame cache: keyed by every preprocessing parameter and the raw files, atomic, robust."""

import os
import time

import numpy as np
import pytest

from asyncsim.datasets import load_dataset
from asyncsim.datasets.cache import ORPHAN_AGE_S, cache_key, load_frames, save_frames


def write_nmnist(root, n_files=3):
    folder = root / "Train" / "1"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        (folder / f"{i:05d}.bin").write_bytes(bytes([i, 2, 0x80, 0x10, 0x00]) * (i + 1))
    return folder


def same_frames(a, b):
    assert a.sensor == b.sensor and a.n_classes == b.n_classes and dict(a.meta) == dict(b.meta)
    for name in ("labels", "lengths", "offsets", "steps", "channels", "counts"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert getattr(a, name).dtype == getattr(b, name).dtype


def test_second_load_comes_from_the_cache(tmp_path):
    write_nmnist(tmp_path / "data")
    cache = tmp_path / "cache"
    first = load_dataset("nmnist", tmp_path / "data", dt_ms=5.0, cache_dir=cache)
    second = load_dataset("nmnist", tmp_path / "data", dt_ms=5.0, cache_dir=cache)
    assert not first.from_cache and second.from_cache
    same_frames(first, second)
    assert len(list(cache.glob("nmnist-train-*.npz"))) == 1


def test_any_knob_or_option_makes_a_new_entry(tmp_path):
    write_nmnist(tmp_path / "data")
    cache = tmp_path / "cache"
    for knobs in (
        {},
        {"dt_ms": 2.0},
        {"pool": 2},
        {"clip": 1},
        {"merge_polarity": True},
        {"n_steps": 3},
        {"first_saccade": True},
    ):
        assert not load_dataset("nmnist", tmp_path / "data", cache_dir=cache, **knobs).from_cache
    assert len(list(cache.glob("*.npz"))) == 7


def test_changed_files_are_binned_again(tmp_path):
    folder = write_nmnist(tmp_path / "data")
    cache = tmp_path / "cache"
    load_dataset("nmnist", tmp_path / "data", cache_dir=cache)
    (folder / "00001.bin").write_bytes(bytes([9, 9, 0, 0, 1]) * 7)
    changed = load_dataset("nmnist", tmp_path / "data", cache_dir=cache)
    assert not changed.from_cache and changed[1][0][0, 9 * 34 + 9] == 7
    write_nmnist(tmp_path / "data", n_files=4)
    assert len(load_dataset("nmnist", tmp_path / "data", cache_dir=cache)) == 4


def test_unreadable_cache_file_is_reported_and_rebuilt(tmp_path):
    write_nmnist(tmp_path / "data")
    cache = tmp_path / "cache"
    good = load_dataset("nmnist", tmp_path / "data", cache_dir=cache)
    (path,) = cache.glob("*.npz")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match=f"{path}: unreadable frame cache file"):
        rebuilt = load_dataset("nmnist", tmp_path / "data", cache_dir=cache)
    assert not rebuilt.from_cache
    same_frames(good, rebuilt)
    assert load_dataset("nmnist", tmp_path / "data", cache_dir=cache).from_cache


def test_default_cache_folder_comes_from_the_environment(tmp_path):
    load_dataset("timing", n_train=20, n_test=10)
    assert len(list((tmp_path / "frame-cache").glob("timing-train-*.npz"))) == 1
    assert not load_dataset("timing", n_train=20, n_test=10, use_cache=False).from_cache


def test_save_load_round_trip_leaves_no_partial_file(tmp_path):
    frames = load_dataset("timing", n_train=20, n_test=10, use_cache=False)
    save_frames(tmp_path / "x.npz", frames)
    same_frames(frames, load_frames(tmp_path / "x.npz"))
    assert os.listdir(tmp_path) == ["x.npz"]


def test_key_ignores_parameter_order():
    assert cache_key({"a": 1, "b": [2, 3]}) == cache_key({"b": [2, 3], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})


def test_a_readable_but_inconsistent_cache_file_is_reported_and_rebuilt(tmp_path):
    """A valid .npz whose counts array is short was loaded and failed later, at a batch,
    without naming the cache."""
    write_nmnist(tmp_path / "data")
    cache = tmp_path / "cache"
    good = load_dataset("nmnist", tmp_path / "data", cache_dir=cache)
    (path,) = cache.glob("*.npz")
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["counts"] = arrays["counts"][:-1]
    with open(path, "wb") as file:
        np.savez(file, **arrays)
    with pytest.warns(UserWarning, match=f"{path}: inconsistent frame cache file"):
        rebuilt = load_dataset("nmnist", tmp_path / "data", cache_dir=cache)
    assert not rebuilt.from_cache
    same_frames(good, rebuilt)


def test_partial_files_of_killed_builds_are_removed(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    dead_pid = 2**22 + 1  # above Linux's largest pid: no such process
    old = time.time() - 2 * ORPHAN_AGE_S
    orphan = cache / f".timing-train-0.npz.{dead_pid}.partial"
    fresh = cache / f".timing-train-1.npz.{dead_pid}.partial"  # another machine's live build
    live = cache / f".timing-train-2.npz.{os.getpid()}.partial"  # this process is alive
    for path in (orphan, fresh, live):
        path.write_bytes(b"half")
    os.utime(orphan, (old, old))
    os.utime(live, (old, old))
    load_dataset("timing", n_train=20, n_test=10, cache_dir=cache)
    assert not orphan.exists() and fresh.exists() and live.exists()
