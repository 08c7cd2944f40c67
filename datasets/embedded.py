"""Two small tasks generated from a seed, so that everything runs without downloading data.

``digits`` (spatial task). The 1,797 handwritten 8x8 digits of scikit-learn's
``sklearn.datasets.load_digits``, shipped with this package (``data/digits.csv.gz``, BSD
licensed: ``data/DIGITS_LICENSE.txt``), are seen by a simulated 10x10 two-polarity event camera
while the image moves along a triangle of three 100 ms saccades, like N-MNIST's recordings.
Every 2 ms each pixel compares its brightness (the image shifted with bilinear interpolation,
in [0, 1]) with the level at its last event and emits one ON (OFF) event per contrast step C it
rose (fell) by. Per sample: the triangle's corners are jittered, each pixel's C is drawn around
``CONTRAST``, event times are uniform within their 2 ms sensor period, and background events
arrive at ``NOISE_HZ`` per channel. 1,397 train / 400 test samples (a random split drawn from
the seed), 10 classes (chance: 11.8%, the most frequent class of the seed-0 test split),
2 x 10 x 10 = 200 input channels, 300 ms binned as 15 steps of 20 ms.

``timing`` (temporal task, in the spirit of Randman, Zenke & Vogels 2021). Each class c is a
random smooth map ``f_c`` from a ``MANIFOLD_DIM``-dimensional latent point to one firing time per
input channel; a sample draws a uniform latent point and fires every channel exactly once, at
``f_c`` plus Gaussian jitter. Every sample of every class has the same spike count on every
channel, so the class lives only in *when* the channels fire. 1,200 train / 400 test samples
(balanced classes), 10 classes (chance 10%), 40 channels, 100 ms binned as 20 steps of 5 ms.

Both are deterministic functions of ``seed`` (and the sizes): numpy's seeded generators, one
stream per purpose, so the same numpy version gives the same events.
"""

from __future__ import annotations

import gzip
import hashlib
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np

from .frames import Binning, Sensor, make_events
from .source import EventSource, Sample, SplitPlan

# --- digits -------------------------------------------------------------------------------
DIGITS_SENSOR = Sensor(10, 10, 2)
SACCADE_MS = 100
RECORDING_MS = 3 * SACCADE_MS
SENSOR_PERIOD_MS = 2
"""The simulated pixels compare brightness with their reference level this often."""
TRIANGLE = np.array([[0.0, 0.5], [2.0, 0.0], [1.0, 2.0]])
"""Image offsets (x, y) in pixels on the 10x10 canvas at the start of each saccade."""
CORNER_JITTER = 0.3
CONTRAST = 0.15
CONTRAST_SPREAD = 0.2
NOISE_HZ = 2.0
OFFSET_RANGE = (-0.5, 2.5)
"""Jittered corners are clipped to this range: the 8x8 image stays mostly on the canvas."""
DIGITS_FILE = Path(__file__).parent / "data" / "digits.csv.gz"
_PAD = 3  # zero border around the 8x8 image, wide enough for every offset in OFFSET_RANGE

# --- timing -------------------------------------------------------------------------------
TIMING_CHANNELS = 40
TIMING_CLASSES = 10
DURATION_MS = 100.0
MANIFOLD_DIM = 1
HARMONICS = 3
SMOOTHNESS = 2.0
JITTER_MS = 2.0


_GENERATOR_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
"""Part of the frame cache key: editing this file invalidates cached embedded frames."""


def _rng(seed: int, stream: int) -> np.random.Generator:
    """An independent generator per purpose, so changing one draw moves no other."""
    return np.random.default_rng([seed, stream])


def _events_by_sample(
    n_samples: int, sample: np.ndarray, t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray
) -> list[np.ndarray]:
    """Split flat event columns into one time-sorted stream per sample."""
    order = np.lexsort((t, sample))
    events = make_events(t[order], x[order], y[order], p[order])
    bounds = np.searchsorted(sample[order], np.arange(n_samples + 1))
    return [events[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _render(padded: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Brightness ``[N, 10, 10]`` of each padded image ``[N, S, S]`` shifted by
    ``offset [N, 2]`` (x, y) pixels, by bilinear interpolation (elementwise arithmetic only,
    so the result is the same to the bit on any machine)."""
    n, size = len(padded), padded.shape[-1]
    source_x = np.arange(DIGITS_SENSOR.width)[None, :] - offset[:, :1] + _PAD
    source_y = np.arange(DIGITS_SENSOR.height)[None, :] - offset[:, 1:] + _PAD
    x0, y0 = np.floor(source_x).astype(np.intp), np.floor(source_y).astype(np.intp)
    fx, fy = (source_x - x0)[:, None, :], (source_y - y0)[:, :, None]
    corner = (np.arange(n) * size * size)[:, None, None] + y0[:, :, None] * size + x0[:, None, :]
    flat = padded.reshape(-1)
    top = (1 - fx) * flat.take(corner) + fx * flat.take(corner + 1)
    bottom = (1 - fx) * flat.take(corner + size) + fx * flat.take(corner + size + 1)
    return (1 - fy) * top + fy * bottom


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits ``[1797, 8, 8]`` (float, 0..16) and their labels ``[1797]`` (int64), as
    ``sklearn.datasets.load_digits`` returns them, read from the package's copy of its file."""
    with gzip.open(DIGITS_FILE, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


@lru_cache(maxsize=2)
def digits_streams(seed: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Event streams (one per digit image, in the file's order) and their labels."""
    digit_pixels, digit_labels = digit_images()
    images = np.pad(digit_pixels / 16.0, ((0, 0), (_PAD, _PAD), (_PAD, _PAD)))
    n = len(images)
    corners = TRIANGLE[None] + CORNER_JITTER * _rng(seed, 1).standard_normal((n, 3, 2))
    corners = np.clip(corners, *OFFSET_RANGE)
    shape = (n, DIGITS_SENSOR.height, DIGITS_SENSOR.width)
    contrast = CONTRAST * np.exp(CONTRAST_SPREAD * _rng(seed, 2).standard_normal(shape))
    level = _render(images, corners[:, 0])
    columns: list[list[np.ndarray]] = [[], [], [], [], []]  # sample, t, x, y, p
    for end_ms in range(SENSOR_PERIOD_MS, RECORDING_MS + 1, SENSOR_PERIOD_MS):
        leg, frac = divmod(end_ms / SACCADE_MS, 1.0)
        start, end = corners[:, int(leg) % 3], corners[:, (int(leg) + 1) % 3]
        brightness = _render(images, start + frac * (end - start))
        steps = np.trunc((brightness - level) / contrast)
        level += steps * contrast
        sample, y, x = np.nonzero(steps)
        signed = steps[sample, y, x]
        fields = (sample, np.full(len(sample), end_ms - SENSOR_PERIOD_MS), x, y, signed > 0)
        for column, values in zip(columns, fields, strict=True):
            column.append(np.repeat(values, np.abs(signed).astype(int)))
    sample, t_ms, x, y, p = (np.concatenate(column) for column in columns)
    # Each event at a uniform time within the sensor period that produced it.
    t = (t_ms + SENSOR_PERIOD_MS * _rng(seed, 3).random(len(t_ms))) * 1000.0
    # Background activity: a Poisson number of events per channel at uniform times.
    noise = _rng(seed, 4)
    per_channel = noise.poisson(NOISE_HZ * RECORDING_MS / 1000.0, (n, DIGITS_SENSOR.n_channels))
    noise_sample, channel = np.nonzero(per_channel)
    repeat = per_channel[noise_sample, channel]
    noise_sample, channel = np.repeat(noise_sample, repeat), np.repeat(channel, repeat)
    noise_t = noise.random(len(channel)) * RECORDING_MS * 1000.0
    plane = DIGITS_SENSOR.height * DIGITS_SENSOR.width
    streams = _events_by_sample(
        n,
        np.concatenate([sample, noise_sample]),
        np.concatenate([t, noise_t]),
        np.concatenate([x, channel % DIGITS_SENSOR.width]),
        np.concatenate([y, channel % plane // DIGITS_SENSOR.width]),
        np.concatenate([p, channel // plane]),
    )
    return tuple(streams), digit_labels


def _smooth_maps(
    rng: np.random.Generator, n_maps: int, n_channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random Fourier coefficients of ``n_maps`` smooth maps to ``n_channels`` values:
    amplitudes and phases, each ``[n_maps, n_channels, MANIFOLD_DIM, HARMONICS]``."""
    shape = (n_maps, n_channels, MANIFOLD_DIM, HARMONICS)
    decay = np.arange(1, HARMONICS + 1) ** -SMOOTHNESS
    return rng.standard_normal(shape) * decay, rng.uniform(0, 2 * np.pi, shape)


def _evaluate(amplitude: np.ndarray, phase: np.ndarray, latent: np.ndarray) -> np.ndarray:
    """Values ``[S, n_channels]`` of the maps ``amplitude/phase [S, ...]`` at ``latent [S, D]``."""
    harmonic = np.arange(1, HARMONICS + 1)
    angle = 2 * np.pi * harmonic * latent[:, None, :, None] + phase
    return (amplitude * np.sin(angle)).sum(axis=(2, 3))


@lru_cache(maxsize=2)
def timing_streams(
    seed: int, n_train: int, n_test: int
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """``n_train + n_test`` event streams of the timing task, train first; the classes are
    balanced within each split, in shuffled order."""
    amplitude, phase = _smooth_maps(_rng(seed, 1), TIMING_CLASSES, TIMING_CHANNELS)
    # Rescale each class's map to [0, 1] per channel over a sample of the latent space, so
    # that every channel fires over the same range of times in every class.
    reference = _rng(seed, 2).random((512, MANIFOLD_DIM))
    values = np.stack(
        [_evaluate(amplitude[c][None], phase[c][None], reference) for c in range(TIMING_CLASSES)]
    )
    low, high = values.min(axis=1), values.max(axis=1)  # [classes, channels]
    draw = _rng(seed, 3)
    labels = np.concatenate(
        [draw.permutation(np.arange(n) % TIMING_CLASSES) for n in (n_train, n_test)]
    )
    n_samples = n_train + n_test
    latent = draw.random((n_samples, MANIFOLD_DIM))
    position = (_evaluate(amplitude[labels], phase[labels], latent) - low[labels]) / (
        high[labels] - low[labels]
    )
    t_ms = position * DURATION_MS + JITTER_MS * draw.standard_normal(position.shape)
    t_ms = np.clip(t_ms, 0.0, np.nextafter(DURATION_MS, 0.0))
    sample, channel = np.indices(t_ms.shape).reshape(2, -1)
    streams = _events_by_sample(
        n_samples,
        sample,
        t_ms.ravel() * 1000.0,
        channel,
        np.zeros_like(channel),
        np.zeros_like(channel),
    )
    return tuple(streams), labels


class EmbeddedSource(EventSource):
    """A generated task: nothing is read from disk and ``data_dir`` is ignored."""

    @abstractmethod
    def streams(self, options: Mapping[str, object]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """All samples' event streams and labels, train and test together."""

    @abstractmethod
    def split_indices(
        self, n_samples: int, split: str, options: Mapping[str, object]
    ) -> np.ndarray:
        """Positions of ``split``'s samples among all ``n_samples`` streams."""

    def plan(self, data_dir: Path | None, split: str, options: Mapping[str, object]) -> SplitPlan:
        def read() -> Iterator[Sample]:
            streams, labels = self.streams(options)
            for i in self.split_indices(len(labels), split, options):
                yield streams[i], int(labels[i])

        return SplitPlan(fingerprint={"generator": _GENERATOR_DIGEST, **options}, read=read)


class Digits(EmbeddedSource):
    name = "digits"
    title = "neuromorphic digits (embedded)"
    sensor = DIGITS_SENSOR
    n_classes = 10
    default_binning = Binning(dt_ms=20.0, n_steps=RECORDING_MS // 20)
    option_defaults = {"seed": 0, "n_test": 400}

    def streams(self, options: Mapping[str, object]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        return digits_streams(int(options["seed"]))

    def split_indices(
        self, n_samples: int, split: str, options: Mapping[str, object]
    ) -> np.ndarray:
        order = _rng(int(options["seed"]), 0).permutation(n_samples)
        n_test = int(options["n_test"])
        if not 0 < n_test < n_samples:
            raise ValueError(f"n_test must be in 1..{n_samples - 1}, got {n_test}")
        return np.sort(order[:n_test] if split == "test" else order[n_test:])


class Timing(EmbeddedSource):
    name = "timing"
    title = "spike-timing manifolds (embedded)"
    sensor = Sensor(TIMING_CHANNELS, 1, 1)
    n_classes = TIMING_CLASSES
    default_binning = Binning(dt_ms=5.0, n_steps=int(DURATION_MS // 5))
    option_defaults = {"seed": 0, "n_train": 1200, "n_test": 400}

    def streams(self, options: Mapping[str, object]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        n_train, n_test = int(options["n_train"]), int(options["n_test"])
        if n_train < 1 or n_test < 1:
            raise ValueError(f"n_train and n_test must be >= 1, got {n_train} and {n_test}")
        return timing_streams(int(options["seed"]), n_train, n_test)

    def split_indices(
        self, n_samples: int, split: str, options: Mapping[str, object]
    ) -> np.ndarray:
        n_train = int(options["n_train"])
        return np.arange(n_train) if split == "train" else np.arange(n_train, n_samples)
