"""The embedded tasks: documented sizes, determinism, and where each task's information lies."""

import hashlib

import numpy as np
import pytest
import torch

from asyncsim.datasets import load_dataset
from asyncsim.datasets.embedded import (
    DIGITS_FILE,
    Digits,
    digit_images,
    digits_streams,
    timing_streams,
)


@pytest.fixture(scope="module")
def digits():
    return {
        split: load_dataset("digits", split=split, use_cache=False) for split in ("train", "test")
    }


@pytest.fixture(scope="module")
def timing():
    return {
        split: load_dataset("timing", split=split, use_cache=False) for split in ("train", "test")
    }


def nearest_centroid_accuracy(train, test, features):
    """Test accuracy of the nearest class mean of ``features(x [T, N, n_in]) -> [N, F]``."""
    x, y = train.tensors()
    centroids = torch.stack([features(x)[y == c].mean(0) for c in range(train.n_classes)])
    x_test, y_test = test.tensors()
    predicted = torch.cdist(features(x_test), centroids).argmin(1)
    return (predicted == y_test).float().mean().item()


def flat(x):
    return x.permute(1, 0, 2).flatten(1)


def test_documented_sizes(digits, timing):
    for sets, sizes, n_in, n_steps in (
        (digits, (1397, 400), 200, 15),
        (timing, (1200, 400), 40, 20),
    ):
        assert (len(sets["train"]), len(sets["test"])) == sizes
        for frames in sets.values():
            assert (frames.n_in, frames.n_steps, frames.n_classes) == (n_in, n_steps, 10)
            assert frames.chance_level() < 0.125
    assert timing["test"].chance_level() == 0.1


def test_digits_split_is_a_partition():
    options = {"seed": 0, "n_test": 400}
    train = Digits().split_indices(1797, "train", options)
    test = Digits().split_indices(1797, "test", options)
    assert len(np.intersect1d(train, test)) == 0 and len(np.union1d(train, test)) == 1797


@pytest.mark.parametrize(
    ("generator", "args"),
    [(digits_streams, (0,)), (timing_streams, (0, 1200, 400))],
    ids=["digits", "timing"],
)
def test_same_seed_same_events_other_seed_other_events(digits, timing, generator, args):
    first, labels = generator(*args)  # memoised by the fixtures
    generator.cache_clear()  # generate again rather than reuse the memoised streams
    again, labels_again = generator(*args)
    other, _ = generator(*((args[0] + 1,) + args[1:]))
    assert np.array_equal(labels, labels_again)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_digits_are_event_camera_streams(digits):
    x, _ = digits["train"].tensors()
    on, off = x[..., 100:].sum(), x[..., :100].sum()
    assert on > 0 and off > 0 and 0.5 < on / off < 2
    per_step = x.sum(dim=(1, 2))
    assert (per_step > 0).all()  # the image moves during the whole recording


def test_digits_hold_their_class_in_where_events_are(digits):
    accuracy = nearest_centroid_accuracy(digits["train"], digits["test"], lambda x: x.sum(0))
    assert 0.3 < accuracy < 0.95


def test_timing_fires_every_channel_exactly_once(timing):
    for frames in timing.values():
        x, _ = frames.tensors()
        assert torch.equal(x.sum(0), torch.ones(len(frames), frames.n_in))


def test_timing_holds_its_class_only_in_when_channels_fire(timing):
    counts_only = nearest_centroid_accuracy(timing["train"], timing["test"], lambda x: x.sum(0))
    with_time = nearest_centroid_accuracy(timing["train"], timing["test"], flat)
    assert counts_only == pytest.approx(0.1)  # equal count vectors: one class for all
    assert 0.3 < with_time < 0.95


def test_shipped_digits_file_is_scikit_learns_unmodified():
    """The SHA-256 of scikit-learn 1.9.1's sklearn/datasets/data/digits.csv.gz."""
    assert hashlib.sha256(DIGITS_FILE.read_bytes()).hexdigest() == (
        "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22")


def test_shipped_digits_equal_scikit_learns():
    """The package's copy of the 8x8 digits is scikit-learn's load_digits, value for value, so
    the digits task is the same with or without scikit-learn installed."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    reference = sklearn_datasets.load_digits()
    images, labels = digit_images()
    assert images.shape == (1797, 8, 8) and labels.dtype == np.int64
    np.testing.assert_array_equal(images, reference.images)
    np.testing.assert_array_equal(labels, reference.target)
