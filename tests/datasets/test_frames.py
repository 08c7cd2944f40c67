"""Binning one event stream: bins, crop, pooling, polarity merge, clipping, channel order."""

import numpy as np
import pytest

from asyncsim.datasets import Binning, Sensor, bin_events, make_events

SENSOR = Sensor(width=4, height=3, polarities=2)


def frames(events, binning, sensor=SENSOR, t0=0.0):
    return bin_events(make_events(*events), sensor, binning, t0).dense()


def test_counts_per_bin_and_channel_in_p_y_x_order():
    # (t us, x, y, p); channel = p*12 + y*4 + x
    t = [0, 999, 1000, 2500, 2600, 2999.9]
    x = [1, 1, 3, 0, 0, 2]
    y = [0, 0, 2, 1, 1, 2]
    p = [0, 0, 1, 1, 1, 0]
    got = frames((t, x, y, p), Binning(dt_ms=1.0))
    expected = np.zeros((3, 24), dtype=np.float32)
    expected[0, 1] = 2  # two events at (x=1, y=0, OFF) in [0, 1) ms
    expected[1, 12 + 2 * 4 + 3] = 1  # (3, 2, ON) at 1.0 ms
    expected[2, 12 + 1 * 4 + 0] = 2  # (0, 1, ON) twice in [2, 3) ms
    expected[2, 2 * 4 + 2] = 1  # (2, 2, OFF)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_n_steps_fixes_length_and_crops_later_events():
    events = ([500, 1500, 9000], [0, 1, 2], [0, 0, 0], [0, 0, 0])
    got = frames(events, Binning(dt_ms=1.0, n_steps=4))
    assert got.shape == (4, 24)
    assert got.sum() == 2  # the event at 9 ms lies beyond 4 x 1 ms
    longer = frames(events, Binning(dt_ms=1.0, n_steps=12))
    assert longer[9, 2] == 1 and longer.sum() == 3


def test_bins_start_at_t0_and_drop_earlier_events():
    events = ([100, 5000, 5100, 7000], [0, 1, 1, 2], [0, 0, 0, 0], [1, 1, 1, 1])
    got = frames(events, Binning(dt_ms=2.0), t0=5000.0)
    expected = np.zeros((2, 24), dtype=np.float32)
    expected[0, 12 + 1] = 2
    expected[1, 12 + 2] = 1
    np.testing.assert_array_equal(got, expected)


def test_pooling_sums_blocks_and_keeps_partial_border_blocks():
    sensor = Sensor(width=5, height=3, polarities=1)
    # pool 2: output 3 x 2 pixels; (4, 2) falls in the partial block (2, 1).
    events = ([0, 0, 0, 0, 0], [0, 1, 1, 4, 3], [0, 1, 0, 2, 2], [0, 0, 0, 0, 0])
    binning = Binning(dt_ms=1.0, pool=2)
    assert binning.output_sensor(sensor) == Sensor(3, 2, 1)
    got = frames(events, binning, sensor)
    expected = np.zeros((1, 6), dtype=np.float32)
    expected[0, 0] = 3  # (0,0), (1,1), (1,0) -> block (0, 0)
    expected[0, 1 * 3 + 2] = 1  # (4, 2) -> block (2, 1)
    expected[0, 1 * 3 + 1] = 1  # (3, 2) -> block (1, 1)
    np.testing.assert_array_equal(got, expected)


def test_pooling_a_one_dimensional_sensor_sums_neighbouring_channels():
    sensor = Sensor(width=7, height=1, polarities=1)
    events = ([0, 0, 0, 1500], [0, 2, 6, 5], [0, 0, 0, 0], [0, 0, 0, 0])
    got = frames(events, Binning(dt_ms=1.0, pool=3), sensor)
    np.testing.assert_array_equal(got, [[2, 0, 1], [0, 1, 0]])


def test_merge_polarity_and_clip():
    events = ([0, 0, 0, 0, 0], [1, 1, 1, 1, 2], [0, 0, 0, 0, 0], [0, 1, 1, 1, 1])
    merged = frames(events, Binning(dt_ms=1.0, merge_polarity=True))
    assert merged.shape == (1, 12)
    np.testing.assert_array_equal(merged[0, :3], [0, 4, 1])
    clipped = frames(events, Binning(dt_ms=1.0, clip=2))
    np.testing.assert_array_equal(clipped[0, [1, 12 + 1, 12 + 2]], [1, 2, 1])


def test_without_events_one_empty_step():
    empty = make_events(np.zeros(0), np.zeros(0))
    assert bin_events(empty, SENSOR, Binning()).dense().shape == (1, 24)
    assert bin_events(empty, SENSOR, Binning(n_steps=5)).dense().shape == (5, 24)


@pytest.mark.parametrize(
    ("knob", "value"),
    [
        ("dt_ms", 0.0),
        ("dt_ms", float("nan")),
        ("n_steps", 0),
        ("pool", 0),
        ("clip", 0),
        ("pool", 1.5),
    ],
)
def test_invalid_knobs_are_named(knob, value):
    with pytest.raises(ValueError, match=knob):
        Binning(**{knob: value})
