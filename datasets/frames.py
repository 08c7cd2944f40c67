"""Binning event streams into frames of event counts, with the preprocessing knobs.

An event stream is a structured numpy array of ``EVENT_DTYPE``: ``t`` (microseconds, float64),
``x``, ``y`` (pixel column and row, or channel and 0 for a 1-D sensor such as SHD's cochlea) and
``p`` (polarity: 0 = OFF, 1 = ON; 0 for single-polarity sensors). It is the field set tonic uses,
so tonic's transforms apply to it.

Binning turns one stream into frames ``[T, n_in]`` of non-negative counts:

* bin ``k`` holds the events with ``t0 + k*dt <= t < t0 + (k+1)*dt`` (``dt = dt_ms`` ms);
* ``n_steps`` fixes ``T`` and drops later events (the duration crop is ``n_steps * dt_ms``);
  without it a sample is as long as its last event;
* ``pool = k`` merges k x k pixels (cameras) or k neighbouring channels (SHD); a partial block
  at the border still counts as one output pixel or channel (``ceil(W / k)``);
* ``merge_polarity`` sums ON and OFF events into one polarity;
* ``clip = c`` caps each count at c (``clip=1`` gives binary spikes).

Channel order (flattening) after pooling: ``index = p*H*W + y*W + x`` — polarity, then row, then
column, with ``W, H`` the pooled sensor width and height.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

FRAME_BYTES = 4  # a float32 count per channel and timestep
MAX_SAMPLE_BYTES = 2**30
"""The most one sample's dense frames ``[T, n_in]`` may take: a longer sample comes from a
corrupt file (a DVS Gesture sample at the default binning takes about 1 MiB)."""

EVENT_DTYPE = np.dtype([("t", np.float64), ("x", np.int32), ("y", np.int32), ("p", np.int8)])


def make_events(
    t: np.ndarray, x: np.ndarray, y: np.ndarray | int = 0, p: np.ndarray | int = 0
) -> np.ndarray:
    """Pack event fields (``t`` in microseconds) into one ``EVENT_DTYPE`` array."""
    events = np.empty(len(t), dtype=EVENT_DTYPE)
    events["t"] = t
    events["x"] = x
    events["y"] = y
    events["p"] = p
    return events


class Sensor(NamedTuple):
    """Shape of an event sensor: ``width`` x ``height`` pixels, ``polarities`` (1 or 2)."""

    width: int
    height: int
    polarities: int

    @property
    def n_channels(self) -> int:
        return self.width * self.height * self.polarities

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """The channels as a map ``(C, H, W)`` = (polarities, height, width), the order of the
        flattened channels (``p*H*W + y*W + x``); a 1-D sensor (height 1, e.g. SHD's cochlea
        or the timing task) is ``(n_channels, 1, 1)``."""
        if self.height == 1:
            return (self.n_channels, 1, 1)
        return (self.polarities, self.height, self.width)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass(frozen=True)
class Binning:
    """How one event stream becomes frames; see the module docstring for each knob."""

    dt_ms: float = 1.0
    n_steps: int | None = None
    pool: int = 1
    merge_polarity: bool = False
    clip: int | None = None

    def __post_init__(self) -> None:
        dt_ms = self.dt_ms
        if (
            isinstance(dt_ms, bool)
            or not isinstance(dt_ms, (int, float))
            or not (math.isfinite(dt_ms) and dt_ms > 0)
        ):
            raise ValueError(f"dt_ms must be a positive number of milliseconds, got {dt_ms!r}")
        for name in ("n_steps", "clip"):
            value = getattr(self, name)
            if value is not None and not _positive_int(value):
                raise ValueError(f"{name} must be None or an integer >= 1, got {value!r}")
        if not _positive_int(self.pool):
            raise ValueError(f"pool must be an integer >= 1, got {self.pool!r}")
        if not isinstance(self.merge_polarity, bool):
            raise ValueError(f"merge_polarity must be true or false, got {self.merge_polarity!r}")

    def replace(self, **changes: object) -> Binning:
        """A copy with some knobs changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def output_sensor(self, sensor: Sensor) -> Sensor:
        """The sensor shape after pooling and polarity merge (its channels are ``n_in``)."""
        return Sensor(
            width=-(-sensor.width // self.pool),
            height=-(-sensor.height // self.pool),
            polarities=1 if self.merge_polarity else sensor.polarities,
        )


@dataclass(frozen=True)
class SparseFrames:
    """Frames ``[n_steps, n_channels]`` of one sample, stored as its non-zero entries.

    Entries are sorted by step, then channel, and each (step, channel) pair occurs once.
    """

    steps: np.ndarray
    channels: np.ndarray
    counts: np.ndarray
    n_steps: int
    n_channels: int

    def dense(self) -> np.ndarray:
        """The frames as a float32 array ``[n_steps, n_channels]``."""
        frames = np.zeros((self.n_steps, self.n_channels), dtype=np.float32)
        frames[self.steps, self.channels] = self.counts
        return frames


def bin_events(
    events: np.ndarray, sensor: Sensor, binning: Binning, t0: float = 0.0
) -> SparseFrames:
    """Count the events of one stream per time bin and (pooled) channel.

    ``events`` must lie on ``sensor`` (readers check this); events before ``t0`` are dropped.
    """
    out = binning.output_sensor(sensor)
    step = np.floor((events["t"] - t0) / (binning.dt_ms * 1000.0)).astype(np.int64)
    keep = step >= 0
    if binning.n_steps is not None:
        keep &= step < binning.n_steps
    step = step[keep]
    kept = events[keep]
    polarity = 0 if binning.merge_polarity else kept["p"].astype(np.int64)
    channel = (
        polarity * (out.height * out.width)
        + (kept["y"] // binning.pool).astype(np.int64) * out.width
        + kept["x"] // binning.pool
    )
    keys, counts = np.unique(step * out.n_channels + channel, return_counts=True)
    if binning.clip is not None:
        counts = np.minimum(counts, binning.clip)
    if binning.n_steps is not None:
        n_steps = binning.n_steps
    else:
        n_steps = int(step.max()) + 1 if step.size else 1
    return SparseFrames(
        steps=keys // out.n_channels,
        channels=keys % out.n_channels,
        counts=counts,
        n_steps=n_steps,
        n_channels=out.n_channels,
    )
