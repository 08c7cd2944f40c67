"""DVS Gesture (Amir et al. 2017): 11 hand and arm gestures seen by a 128x128 event camera.

Layout read here: the preprocessed release that tonic uses (``ibmGestureTrain.tar.gz`` /
``ibmGestureTest.tar.gz`` unpacked; tonic's ``DVSGesture/`` folder is the same), in which the
original recordings are already cut into one file per gesture:
``ibmGestureTrain/user<NN>_<lighting>/<label>.npy`` (``ibmGestureTest`` for the test split).
Each ``.npy`` holds an ``[N, 4]`` array of events, columns ``x, y, p, t`` with ``t`` in
milliseconds; the file name is the class (0..10).

Samples are cut from longer recordings, so they are binned from their first event.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .frames import Binning, Sensor, make_events
from .source import FileSource, Sample

SENSOR = Sensor(128, 128, 2)
N_CLASSES = 11
_SPLIT_FOLDERS = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}


def read_gesture_file(path: Path) -> Sample:
    """The events (``t`` in microseconds) and label of one DVS Gesture ``.npy`` file."""
    try:
        label = int(path.stem)
    except ValueError:
        label = -1
    if not 0 <= label < N_CLASSES:
        raise DatasetError(f"{path}: the file name must be the class, 0..{N_CLASSES - 1}")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DatasetError(f"{path}: not a readable .npy file ({err})") from err
    if array.ndim != 2 or array.shape[1] != 4:
        raise DatasetError(
            f"{path}: expected an [N, 4] array of (x, y, p, t) events, got shape {array.shape}"
        )
    x, y, p, t = array.T
    problem = None
    if not np.array_equal(array[:, :3], np.round(array[:, :3])):
        problem = "a non-integer x, y or p"
    elif x.size and (
        x.min() < 0 or x.max() >= SENSOR.width or y.min() < 0 or y.max() >= SENSOR.height
    ):
        problem = "an event outside the 128x128 sensor"
    elif not np.isin(p, (0, 1)).all():
        problem = "a polarity other than 0 or 1"
    elif not np.isfinite(t).all():
        problem = "a time that is not finite"
    if problem:
        raise DatasetError(f"{path}: corrupt: {problem}")
    return make_events(t.astype(np.float64) * 1000.0, x, y, p), label


class DVSGesture(FileSource):
    name = "dvs_gesture"
    title = "DVS Gesture"
    sensor = SENSOR
    n_classes = N_CLASSES
    default_binning = Binning(dt_ms=50.0, pool=4)
    align_to_first_event = True
    tonic_folder = "DVSGesture"
    archives = ("ibmGestureTrain.tar.gz", "ibmGestureTest.tar.gz")
    layout = {
        split: f"{folder}/user<NN>_<lighting>/<label>.npy"
        for split, folder in _SPLIT_FOLDERS.items()
    }

    def split_files(self, root: Path, split: str) -> list[Path]:
        return sorted((root / _SPLIT_FOLDERS[split]).glob("user*/*.npy"))

    def read_file(self, path: Path, options: Mapping[str, object]) -> Iterator[Sample]:
        yield read_gesture_file(path)
