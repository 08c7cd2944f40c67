"""FrameSet storage, padding collate, DataLoader helper and the registry's argument checks."""

import numpy as np
import pytest
import torch

from asyncsim.datasets import (
    Binning,
    FrameSet,
    Sensor,
    bin_events,
    collate_frames,
    dataset_names,
    load_dataset,
    make_events,
    make_loader,
)

SENSOR = Sensor(3, 1, 1)


def small_set() -> FrameSet:
    """Three samples of lengths 2, 4 and 1 on a 3-channel sensor."""
    streams = [
        ([0, 1500, 1600], [0, 2, 2]),  # bins 0 and 1
        ([3500, 100], [1, 1]),  # bins 3 and 0
        ([], []),  # empty: one step
    ]
    samples = (
        (bin_events(make_events(np.array(t, float), np.array(x)), SENSOR, Binning()), label)
        for (t, x), label in zip(streams, [2, 0, 1], strict=True)
    )
    return FrameSet.from_samples(samples, SENSOR, n_classes=3, meta={"dataset": "hand-made"})


def test_items_are_dense_float_frames_of_each_samples_length():
    frames = small_set()
    assert len(frames) == 3 and frames.n_in == 3 and frames.n_steps == 4
    x, label = frames[0]
    assert label == 2 and x.dtype == torch.float32
    torch.testing.assert_close(x, torch.tensor([[1.0, 0, 0], [0, 0, 2]]))
    x, label = frames[1]
    torch.testing.assert_close(x, torch.tensor([[0.0, 1, 0], [0, 0, 0], [0, 0, 0], [0, 1, 0]]))
    torch.testing.assert_close(frames[-1][0], torch.zeros(1, 3))
    with pytest.raises(IndexError):
        frames[3]


def test_collate_pads_at_the_end_to_time_major_batches():
    frames = small_set()
    x, labels = collate_frames([frames[2], frames[0]])
    assert x.shape == (2, 2, 3) and labels.tolist() == [1, 2] and labels.dtype == torch.int64
    torch.testing.assert_close(x[:, 0], torch.zeros(2, 3))
    torch.testing.assert_close(x[:, 1], frames[0][0])


def test_tensors_equals_one_batch_of_everything():
    frames = small_set()
    x, labels = frames.tensors()
    batch_x, batch_labels = next(iter(make_loader(frames, batch_size=3)))
    assert x.shape == (4, 3, 3)
    torch.testing.assert_close(x, batch_x)
    assert labels.tolist() == batch_labels.tolist() == [2, 0, 1]


def test_shuffled_loader_order_comes_from_the_seed():
    frames = small_set()

    def order(seed):
        return [
            label for _, labels in make_loader(frames, 1, True, seed) for label in labels.tolist()
        ]

    assert order(3) == order(3)
    assert sorted(order(3)) == [0, 1, 2]
    assert len({tuple(order(seed)) for seed in range(10)}) > 1


def test_statistics():
    frames = small_set()
    assert frames.total_events() == 5
    assert frames.event_rate() == pytest.approx(5 / ((2 + 4 + 1) * 3))
    assert frames.class_counts().tolist() == [1, 1, 1]
    assert frames.chance_level() == pytest.approx(1 / 3)


def test_registry_rejects_unknown_names_splits_and_options():
    assert dataset_names() == ("digits", "timing", "nmnist", "shd", "dvs_gesture")
    with pytest.raises(ValueError, match="unknown data set 'mnist'"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="split must be one of train, test"):
        load_dataset("digits", split="valid")
    with pytest.raises(TypeError, match="unknown option.*first_saccade.*seed, n_test"):
        load_dataset("digits", first_saccade=True)
    with pytest.raises(ValueError, match="n_steps"):
        load_dataset("digits", n_steps=0)
