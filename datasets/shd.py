"""SHD, the Spiking Heidelberg Digits (Cramer et al. 2020): spoken digits, 700 cochlea channels.

Published layout (``shd_train.h5.gz`` / ``shd_test.h5.gz`` unzipped; tonic's ``SHD/`` folder
holds the same files): ``shd_train.h5`` and ``shd_test.h5``. Each HDF5 file holds

* ``spikes/times``: one variable-length float array per sample, spike times in seconds;
* ``spikes/units``: one variable-length integer array per sample, the channel (0..699) of
  each spike;
* ``labels``: one integer class (0..19) per sample (10 German and 10 English digits).

Events become ``x = unit`` on a 700 x 1 single-polarity sensor, so ``pool = k`` sums k
neighbouring channels. Read with h5py; tonic is not needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import h5py
import numpy as np

from .errors import DatasetError
from .frames import Binning, Sensor, make_events
from .source import FileSource, Sample

SENSOR = Sensor(700, 1, 1)
N_CLASSES = 20
_KEYS = ("spikes/times", "spikes/units", "labels")


def _read_arrays(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        with h5py.File(path, "r") as file:
            missing = [key for key in _KEYS if key not in file]
            if missing:
                raise DatasetError(f"{path}: missing dataset(s) {', '.join(missing)}")
            groups = [key for key in _KEYS if not isinstance(file[key], h5py.Dataset)]
            if groups:
                raise DatasetError(f"{path}: {', '.join(groups)} must be datasets, not groups")
            arrays = tuple(file[key][()] for key in _KEYS)
    except (OSError, KeyError) as err:
        raise DatasetError(f"{path}: not a readable HDF5 file ({err})") from err
    for key, array in zip(_KEYS, arrays, strict=True):
        if np.ndim(array) != 1:
            raise DatasetError(
                f"{path}: {key} must hold one entry per sample, got shape {np.shape(array)}"
            )
    return arrays


def _integers(values: np.ndarray) -> np.ndarray | None:
    """``values`` as int64 if they are whole numbers (of any numeric type), else None."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    if values.dtype.kind != "f" or not np.all(np.isfinite(values)):
        return None
    if not np.array_equal(values, np.round(values)):
        return None
    return values.astype(np.int64)


def _sample_problem(t: np.ndarray, unit: np.ndarray | None, label: object) -> str | None:
    """What is wrong with one sample (None: nothing); ``unit`` is None if not whole numbers,
    ``t`` is numeric."""
    if unit is None:
        return "a unit that is not a whole number"
    if len(t) != len(unit):
        return f"{len(t)} spike times but {len(unit)} units"
    if unit.size and (unit.min() < 0 or unit.max() >= SENSOR.width):
        return f"a unit outside 0..{SENSOR.width - 1}"
    if not np.all(np.isfinite(t) & (t >= 0)):
        return "a spike time that is negative or not finite"
    if not 0 <= label < N_CLASSES:
        return f"label {label} outside 0..{N_CLASSES - 1}"
    return None


def read_shd_file(path: Path) -> Iterator[Sample]:
    """The samples of one SHD file: events (``t`` in microseconds, ``x`` = unit) and labels."""
    times, units, labels = _read_arrays(path)
    if not len(times) == len(units) == len(labels):
        raise DatasetError(
            f"{path}: corrupt: {len(times)} spike-time arrays, {len(units)} unit arrays and "
            f"{len(labels)} labels (they must match)"
        )
    if len(labels) == 0:
        raise DatasetError(f"{path}: holds no samples")
    whole_labels = _integers(labels)
    if whole_labels is None:
        raise DatasetError(
            f"{path}: corrupt: labels must be whole numbers (class indices), got "
            f"{labels.dtype} values such as {labels[:3].tolist()}"
        )
    for i, (t, unit, label) in enumerate(zip(times, units, whole_labels, strict=True)):
        t, unit = np.asarray(t), np.asarray(unit)
        if t.dtype.kind not in "iuf":
            raise DatasetError(f"{path}: corrupt: sample {i} has spike times of type {t.dtype}")
        if t.ndim != 1 or unit.ndim != 1:
            raise DatasetError(
                f"{path}: corrupt: sample {i}'s spike times and units must be "
                f"arrays (variable-length datasets)"
            )
        unit = _integers(unit)
        problem = _sample_problem(t, unit, label)
        if problem:
            raise DatasetError(f"{path}: corrupt: sample {i} has {problem}")
        yield make_events(t.astype(np.float64) * 1e6, unit), int(label)


class SHD(FileSource):
    name = "shd"
    title = "SHD"
    sensor = SENSOR
    n_classes = N_CLASSES
    default_binning = Binning(dt_ms=10.0)
    tonic_folder = "SHD"
    archives = ("shd_train.h5.gz", "shd_test.h5.gz", "shd_train.h5.zip", "shd_test.h5.zip")
    layout = {split: f"shd_{split}.h5" for split in ("train", "test")}

    def split_files(self, root: Path, split: str) -> list[Path]:
        path = root / self.layout[split]
        return [path] if path.is_file() else []

    def read_file(self, path: Path, options: Mapping[str, object]) -> Iterator[Sample]:
        return read_shd_file(path)
