"""N-MNIST (Orchard et al. 2015): MNIST digits recorded by a moving 34x34 event camera.

Published layout (``Train.zip`` / ``Test.zip`` unpacked; tonic's ``NMNIST/`` folder is the same):
``Train/<digit>/<id>.bin`` and ``Test/<digit>/<id>.bin``, the label being the folder's digit.
Each ``.bin`` file is a sequence of 40-bit events, 5 bytes each, big-endian fields:

* byte 0: x (column, 0..33); byte 1: y (row, 0..33);
* byte 2, bit 7: polarity (1 = ON, 0 = OFF);
* bits 6..0 of byte 2, then bytes 3 and 4: timestamp in microseconds (23 bits).

A recording holds three saccades of about 100 ms each; ``first_saccade=True`` keeps the events
of the first (t < 100 ms). Pure numpy: tonic's reader decodes the same bytes but does not
check a file's length or coordinates.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .frames import Binning, Sensor, make_events
from .source import FileSource, Sample

SENSOR = Sensor(34, 34, 2)
FIRST_SACCADE_US = 100_000
_SPLIT_FOLDERS = {"train": "Train", "test": "Test"}


def read_nmnist_file(path: Path) -> np.ndarray:
    """All events of one N-MNIST ``.bin`` file, in file order."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0:
        raise DatasetError(f"{path}: empty file (an N-MNIST recording holds events)")
    if raw.size % 5:
        raise DatasetError(
            f"{path}: truncated: {raw.size} bytes is not a whole number of 5-byte events"
        )
    fields = raw.reshape(-1, 5).astype(np.uint32)
    x, y = fields[:, 0], fields[:, 1]
    outside = (x >= SENSOR.width) | (y >= SENSOR.height)
    if outside.any():
        i = int(np.argmax(outside))
        raise DatasetError(
            f"{path}: corrupt: event {i} has (x={x[i]}, y={y[i]}), outside the 34x34 sensor"
        )
    t = ((fields[:, 2] & 0x7F) << 16) | (fields[:, 3] << 8) | fields[:, 4]
    return make_events(t, x, y, fields[:, 2] >> 7)


class NMNIST(FileSource):
    name = "nmnist"
    title = "N-MNIST"
    sensor = SENSOR
    n_classes = 10
    default_binning = Binning(dt_ms=10.0)
    option_defaults = {"first_saccade": False}
    tonic_folder = "NMNIST"
    archives = ("Train.zip", "Test.zip", "train.zip", "test.zip")
    layout = {split: f"{folder}/<digit 0-9>/*.bin" for split, folder in _SPLIT_FOLDERS.items()}

    def split_files(self, root: Path, split: str) -> list[Path]:
        folder = root / _SPLIT_FOLDERS[split]
        return [
            path
            for digit in range(self.n_classes)
            for path in sorted((folder / str(digit)).glob("*.bin"))
        ]

    def read_file(self, path: Path, options: Mapping[str, object]) -> Iterator[Sample]:
        events = read_nmnist_file(path)
        if options["first_saccade"]:
            events = events[events["t"] < FIRST_SACCADE_US]
        yield events, int(path.parent.name)
