"""The registry of data sets, ``load_dataset``, and PyTorch batching helpers.

``load_dataset(name, data_dir, split, **knobs)`` reads (or generates) one split, bins it with
the data set's default ``Binning`` updated by the binning knobs given, and caches the frames on
disk. Knobs that are not binning knobs are the source's own options (for example N-MNIST's
``first_saccade`` or the embedded tasks' ``seed``). ``make_loader`` batches a ``FrameSet`` into
``(x [T, B, n_in], labels [B])``, zero-padding shorter samples at the end.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

from .cache import cached_frames, default_cache_dir
from .dvs_gesture import DVSGesture
from .embedded import Digits, Timing
from .errors import DatasetError
from .frames import (
    FRAME_BYTES,
    MAX_SAMPLE_BYTES,
    Binning,
    Sensor,
    SparseFrames,
    bin_events,
)
from .frameset import FrameSet
from .nmnist import NMNIST
from .shd import SHD
from .source import SPLITS, EventSource

SOURCES: dict[str, EventSource] = {
    source.name: source for source in (Digits(), Timing(), NMNIST(), SHD(), DVSGesture())
}
BINNING_KNOBS = tuple(field.name for field in dataclasses.fields(Binning))


def dataset_names() -> tuple[str, ...]:
    """Names ``load_dataset`` accepts: the embedded tasks first, then the published sets."""
    return tuple(SOURCES)


def get_source(name: str) -> EventSource:
    """The source registered as ``name``."""
    if name not in SOURCES:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(SOURCES)}")
    return SOURCES[name]


def check_length(
    events: np.ndarray, t0: float, binning: Binning, sensor: Sensor, where: str
) -> None:
    """Refuse a sample whose frames would take more than ``MAX_SAMPLE_BYTES`` (an event time
    far beyond the recording, as in a corrupt file) before anything is allocated for it."""
    if binning.n_steps is not None or len(events) == 0:
        return
    span_ms = (float(events["t"].max()) - t0) / 1000.0
    n_steps = math.floor(span_ms / binning.dt_ms) + 1
    size = n_steps * binning.output_sensor(sensor).n_channels * FRAME_BYTES
    if size > MAX_SAMPLE_BYTES:
        raise DatasetError(
            f"{where}: its events span {span_ms:.6g} ms, {n_steps} timesteps of "
            f"{binning.dt_ms} ms: {size / 2**30:.3g} GiB of frames, over the "
            f"{MAX_SAMPLE_BYTES / 2**30:.3g} GiB a sample may take. The file is corrupt, or set "
            f"the binning's n_steps to crop its samples."
        )


def check_options(source: EventSource, options: Mapping[str, object]) -> None:
    """Each of a source's options has its default's type: a flag is a bool, a count or a seed
    an int (a YAML ``maybe`` or ``1.5`` is refused rather than read as true or truncated)."""
    for key, value in options.items():
        kind = type(source.option_defaults[key])
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            expected = "true or false" if kind is bool else f"a {kind.__name__}"
            raise ValueError(f"{source.name} option {key}: expected {expected}, got {value!r}")


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    split: str = "train",
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    **knobs: object,
) -> FrameSet:
    """One split of a data set as binned frames.

    ``knobs``: binning knobs (``dt_ms``, ``n_steps``, ``pool``, ``merge_polarity``, ``clip``)
    and the source's options. ``data_dir`` is the folder holding a published data set (default
    ``$ASYNCSIM_DATA_DIR``; ignored by the embedded tasks); ``cache_dir`` defaults to
    ``default_cache_dir()``.
    """
    source = get_source(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    unknown = sorted(set(knobs) - set(BINNING_KNOBS) - set(source.option_defaults))
    if unknown:
        raise TypeError(
            f"{name}: unknown option(s) {', '.join(unknown)}; binning knobs are "
            f"{', '.join(BINNING_KNOBS)}; {name}'s options are "
            f"{', '.join(source.option_defaults) or 'none'}"
        )
    binning = source.default_binning.replace(
        **{key: value for key, value in knobs.items() if key in BINNING_KNOBS}
    )
    options = {key: knobs.get(key, default) for key, default in source.option_defaults.items()}
    check_options(source, options)
    plan = source.plan(None if data_dir is None else Path(data_dir), split, options)
    meta = {
        "dataset": name,
        "split": split,
        "binning": dataclasses.asdict(binning),
        "options": options,
        "source": dict(plan.fingerprint),
    }

    def binned(index: int, events: np.ndarray) -> SparseFrames:
        first = source.align_to_first_event and len(events) > 0
        t0 = float(events["t"].min()) if first else 0.0
        where = f"{plan.origin() or name}: sample {index} of the {split} split"
        check_length(events, t0, binning, source.sensor, where)
        return bin_events(events, source.sensor, binning, t0)

    def build() -> FrameSet:
        samples = (
            (binned(index, events), label) for index, (events, label) in enumerate(plan.read())
        )
        return FrameSet.from_samples(
            samples, binning.output_sensor(source.sensor), source.n_classes, meta
        )

    if not use_cache:
        return build()
    return cached_frames(
        Path(cache_dir) if cache_dir is not None else default_cache_dir(),
        f"{name}-{split}",
        meta,
        build,
    )


def collate_frames(
    batch: Sequence[tuple[torch.Tensor, int]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(frames [T_i, n_in], label)`` items into ``x [T, B, n_in]`` (zero-padded to the
    longest ``T_i``) and ``labels [B]`` (int64)."""
    frames, labels = zip(*batch, strict=True)
    return pad_sequence(list(frames)), torch.tensor(labels, dtype=torch.int64)


def make_loader(
    frames: FrameSet,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int = 0,
    **loader_args: object,
) -> DataLoader:
    """A ``DataLoader`` of ``(x [T, B, n_in], labels [B])`` batches; ``shuffle`` draws the
    order from ``seed`` (the same every run). Other ``DataLoader`` arguments pass through."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        frames,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=collate_frames,
        **loader_args,
    )
