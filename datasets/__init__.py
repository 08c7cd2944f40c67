"""Data for asyncsim: readers of published event data sets, two embedded tasks, binning to
``[T, B, n_in]`` frames, a frame cache and PyTorch batching.

Data sets (``load_dataset`` names): ``digits`` and ``timing`` (generated, no download),
``nmnist``, ``shd``, ``dvs_gesture`` (read from a folder in their published layout; nothing
is ever downloaded). See docs/datasets.md.
"""

from .cache import default_cache_dir
from .dvs_gesture import read_gesture_file
from .errors import DatasetError, DatasetNotFoundError
from .frames import EVENT_DTYPE, Binning, Sensor, SparseFrames, bin_events, make_events
from .frameset import FrameSet
from .loader import collate_frames, dataset_names, get_source, load_dataset, make_loader
from .nmnist import read_nmnist_file
from .shd import read_shd_file

__all__ = [
    "EVENT_DTYPE",
    "Binning",
    "DatasetError",
    "DatasetNotFoundError",
    "FrameSet",
    "Sensor",
    "SparseFrames",
    "bin_events",
    "collate_frames",
    "dataset_names",
    "default_cache_dir",
    "get_source",
    "load_dataset",
    "make_events",
    "make_loader",
    "read_gesture_file",
    "read_nmnist_file",
    "read_shd_file",
]
