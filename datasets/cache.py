"""A disk cache of binned frames, keyed by everything that made them.

The key hashes the source, split, source options, binning knobs, the raw data's fingerprint
(file names, sizes and modification times) and ``FORMAT_VERSION``, so changing any of them
bins afresh while later epochs and sweep trials load the frames in milliseconds. One ``.npz``
file (uncompressed numpy arrays, no pickles) per key; writes are atomic (temporary file, then
rename), so an interrupted write never leaves a half file under the final name. A cache file
that cannot be read, or whose arrays are inconsistent, is reported and rebuilt; temporary files
of killed builds are removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .frames import FRAME_BYTES, MAX_SAMPLE_BYTES, Sensor
from .frameset import FrameSet

CACHE_DIR_ENV = "ASYNCSIM_CACHE_DIR"
FORMAT_VERSION = 1
_ARRAYS = ("labels", "lengths", "offsets", "steps", "channels", "counts")
ORPHAN_AGE_S = 60.0


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
    """Read frames written by ``save_frames``; raises ``DatasetError`` naming the file when it
    cannot be read or its arrays do not make a consistent set."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(str(archive["header"]))
            arrays = {name: archive[name] for name in _ARRAYS}
        frames = FrameSet(
            sensor=Sensor(*map(int, header["sensor"])),
            n_classes=int(header["n_classes"]),
            meta=dict(header["meta"]),
            from_cache=True,
            **arrays,
        )
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:
        raise DatasetError(f"{path}: unreadable frame cache file ({err})") from err
    problem = _inconsistency(frames)
    if problem:
        raise DatasetError(f"{path}: inconsistent frame cache file ({problem})")
    return frames


def _inconsistency(frames: FrameSet) -> str | None:
    """What makes ``frames`` unusable (None: nothing): arrays of the wrong kind or length,
    entries outside their sample, channel or class range, samples over the length limit."""
    arrays = {name: getattr(frames, name) for name in _ARRAYS}
    if any(a.ndim != 1 or a.dtype.kind not in "iu" for a in arrays.values()):
        return "arrays must be 1-D integer arrays"
    n, n_entries = len(frames.labels), len(frames.counts)
    offsets = frames.offsets.astype(np.int64)
    if len(frames.lengths) != n or len(offsets) != n + 1:
        return f"{n} labels, {len(frames.lengths)} lengths and {len(offsets)} offsets"
    if len(frames.steps) != n_entries or len(frames.channels) != n_entries:
        return f"{len(frames.steps)} steps, {len(frames.channels)} channels, {n_entries} counts"
    if offsets[0] != 0 or offsets[-1] != n_entries or np.any(np.diff(offsets) < 0):
        return f"offsets do not split the {n_entries} entries into samples"
    sample = np.repeat(np.arange(n), np.diff(offsets))
    if np.any(frames.steps >= frames.lengths[sample]) or np.any(frames.channels >= frames.n_in):
        return "an entry outside its sample's timesteps or the channels"
    if np.any(frames.labels >= frames.n_classes) or np.any(frames.counts == 0):
        return "a label outside the classes, or a zero count"
    if frames.n_steps * frames.n_in * FRAME_BYTES > MAX_SAMPLE_BYTES:
        return f"a sample of {frames.n_steps} timesteps, over the length limit"
    return None


def remove_orphans(cache_dir: Path) -> None:
    """Delete the temporary files of builds that were killed: their process is gone and the
    file has not changed for ``ORPHAN_AGE_S`` (a live build writes to its file continuously;
    the age also protects builds of other machines sharing the folder)."""
    now = time.time()
    for partial in Path(cache_dir).glob(".*.partial"):
        pid = partial.suffixes[-2].lstrip(".") if len(partial.suffixes) >= 2 else ""
        try:
            idle = now - partial.stat().st_mtime
            if idle > ORPHAN_AGE_S and not (pid.isdigit() and _running(int(pid))):
                partial.unlink()
        except FileNotFoundError:
            continue  # finished or removed meanwhile


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def cached_frames(
    cache_dir: Path, stem: str, params: Mapping[str, object], build: Callable[[], FrameSet]
) -> FrameSet:
    """Frames for ``params`` from ``cache_dir`` if there (``from_cache`` is then True), else
    ``build()`` them and store them there."""
    path = Path(cache_dir) / f"{stem}-{cache_key(params)}.npz"
    remove_orphans(path.parent)
    if path.is_file():
        try:
            return load_frames(path)
        except DatasetError as err:
            warnings.warn(f"{err}; binning again", stacklevel=2)
    frames = build()
    save_frames(path, frames)
    return frames
