"""A disk cache of binned frames, keyed by everything that made them.

The key hashes the source, split, source options, binning knobs, the raw data's fingerprint
(file names, sizes and modification times) and ``FORMAT_VERSION``, so changing any of them
bins afresh while later epochs and sweep trials load the frames in milliseconds. One ``.npz``
file (uncompressed numpy arrays, no pickles) per key; writes are atomic (temporary file, then
rename), so an interrupted write never leaves a half file under the final name. A cache file
that cannot be read is reported and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .frames import Sensor
from .frameset import FrameSet

CACHE_DIR_ENV = "ASYNCSIM_CACHE_DIR"
FORMAT_VERSION = 1
_ARRAYS = ("labels", "lengths", "offsets", "steps", "channels", "counts")


def default_cache_dir() -> Path:
    """``$ASYNCSIM_CACHE_DIR``, else ``~/.cache/asyncsim/frames``."""
    return Path(os.environ.get(CACHE_DIR_ENV, Path.home() / ".cache" / "asyncsim" / "frames"))


def cache_key(params: Mapping[str, object]) -> str:
    """A short stable hash of JSON-serialisable ``params`` (key order does not matter)."""
    text = json.dumps({"format": FORMAT_VERSION, **params}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def save_frames(path: Path, frames: FrameSet) -> None:
    """Write ``frames`` to ``path`` atomically."""
    header = {"sensor": list(frames.sensor), "n_classes": frames.n_classes, "meta": frames.meta}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as file:
            np.savez(
                file,
                header=np.array(json.dumps(header)),
                **{name: getattr(frames, name) for name in _ARRAYS},
            )
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def load_frames(path: Path) -> FrameSet:
    """Read frames written by ``save_frames``; raises ``DatasetError`` naming the file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(str(archive["header"]))
            arrays = {name: archive[name] for name in _ARRAYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise DatasetError(f"{path}: unreadable frame cache file ({err})") from err
    return FrameSet(
        sensor=Sensor(*header["sensor"]),
        n_classes=header["n_classes"],
        meta=header["meta"],
        from_cache=True,
        **arrays,
    )


def cached_frames(
    cache_dir: Path, stem: str, params: Mapping[str, object], build: Callable[[], FrameSet]
) -> FrameSet:
    """Frames for ``params`` from ``cache_dir`` if there (``from_cache`` is then True), else
    ``build()`` them and store them there."""
    path = Path(cache_dir) / f"{stem}-{cache_key(params)}.npz"
    if path.is_file():
        try:
            return load_frames(path)
        except DatasetError as err:
            warnings.warn(f"{err}; binning again", stacklevel=2)
    frames = build()
    save_frames(path, frames)
    return frames
