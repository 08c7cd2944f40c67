"""A binned data set: every sample's frames kept sparse, served as dense torch tensors.

``FrameSet`` is a ``torch.utils.data.Dataset``: item ``i`` is ``(frames [T_i, n_in] float32,
label)``. Samples may differ in length ``T_i`` when no ``n_steps`` was fixed; the collate in
``asyncsim.datasets.loader`` pads a batch to ``[T, B, n_in]``. Storage is the concatenation of
the samples' non-zero (step, channel, count) entries, in the smallest integer types that hold
them: a few bytes per non-zero entry, so a whole N-MNIST split stays in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from .frames import Sensor, SparseFrames


def _compact(values: np.ndarray, limit: int) -> np.ndarray:
    """``values`` (all in ``[0, limit]``) in the smallest unsigned integer type."""
    return values.astype(np.min_scalar_type(max(int(limit), 0)), copy=False)


@dataclass(eq=False)
class FrameSet(Dataset):
    """Binned samples of one split of one data set.

    ``offsets[i]:offsets[i+1]`` selects sample i's entries in ``steps``, ``channels``,
    ``counts``; ``lengths[i]`` is its number of timesteps, ``labels[i]`` its class.
    ``meta`` records how the frames were made (source, split, binning, options);
    ``from_cache`` tells whether they were read from the frame cache.
    """

    sensor: Sensor
    n_classes: int
    labels: np.ndarray
    lengths: np.ndarray
    offsets: np.ndarray
    steps: np.ndarray
    channels: np.ndarray
    counts: np.ndarray
    meta: Mapping[str, object] = field(default_factory=dict)
    from_cache: bool = False

    @classmethod
    def from_samples(
        cls,
        samples: Iterable[tuple[SparseFrames, int]],
        sensor: Sensor,
        n_classes: int,
        meta: Mapping[str, object],
    ) -> FrameSet:
        """Collect binned samples (all with ``sensor.n_channels`` channels) into one set."""
        columns: dict[str, list[np.ndarray]] = {"steps": [], "channels": [], "counts": []}
        labels: list[int] = []
        lengths: list[int] = []
        for frames, label in samples:
            # Compact each sample as it arrives: int64 entries would take 3 to 8 times the memory.
            columns["steps"].append(_compact(frames.steps, frames.n_steps - 1))
            columns["channels"].append(_compact(frames.channels, sensor.n_channels - 1))
            columns["counts"].append(_compact(frames.counts, frames.counts.max(initial=0)))
            labels.append(label)
            lengths.append(frames.n_steps)
        joined = {
            name: np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
            for name, parts in columns.items()
        }
        sizes = np.array([len(part) for part in columns["counts"]], dtype=np.int64)
        return cls(
            sensor=sensor,
            n_classes=n_classes,
            labels=_compact(np.array(labels, dtype=np.int64), n_classes - 1),
            lengths=_compact(np.array(lengths, dtype=np.int64), max(lengths, default=0)),
            offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            steps=joined["steps"],
            channels=joined["channels"],
            counts=joined["counts"],
            meta=dict(meta),
        )

    @property
    def n_in(self) -> int:
        return self.sensor.n_channels

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """The frames' channels as a map ``(C, H, W)`` of the pooled sensor
        (``Sensor.in_shape``)."""
        return self.sensor.in_shape

    @property
    def n_steps(self) -> int:
        """The longest sample's number of timesteps (the T of a padded batch of all)."""
        return int(self.lengths.max(initial=0))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        index %= len(self)
        lo, hi = self.offsets[index], self.offsets[index + 1]
        frames = SparseFrames(
            steps=self.steps[lo:hi],
            channels=self.channels[lo:hi],
            counts=self.counts[lo:hi],
            n_steps=int(self.lengths[index]),
            n_channels=self.n_in,
        )
        return torch.from_numpy(frames.dense()), int(self.labels[index])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All samples at once: frames ``[T, N, n_in]`` (zero-padded to the longest) and
        labels ``[N]`` (int64). For small sets such as the embedded tasks."""
        x = torch.zeros(self.n_steps, len(self), self.n_in)
        sample = np.repeat(np.arange(len(self)), np.diff(self.offsets))
        x[self.steps.astype(np.int64), sample, self.channels.astype(np.int64)] = torch.from_numpy(
            self.counts.astype(np.float32)
        )
        return x, torch.from_numpy(self.labels.astype(np.int64))

    def class_counts(self) -> np.ndarray:
        """Number of samples of each class."""
        return np.bincount(self.labels.astype(np.int64), minlength=self.n_classes)

    def chance_level(self) -> float:
        """Accuracy of always predicting the most frequent class."""
        return float(self.class_counts().max() / max(len(self), 1))

    def total_events(self) -> int:
        """Sum of all counts (after clipping)."""
        return int(self.counts.sum(dtype=np.int64))

    def event_rate(self) -> float:
        """Mean count per channel per timestep, over all samples' own lengths."""
        cells = int(self.lengths.sum(dtype=np.int64)) * self.n_in
        return self.total_events() / max(cells, 1)
