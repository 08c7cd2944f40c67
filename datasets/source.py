"""What every data set provides: its sensor, classes, default binning, and its samples.

A source is either embedded (generated from a seed, nothing on disk) or a ``FileSource`` read
from a folder in the layout the data set is published in (tonic's cache folder also works).
Nothing is ever downloaded: a missing data set raises ``DatasetNotFoundError`` saying where its
files belong.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DatasetError, DatasetNotFoundError
from .frames import Binning, Sensor

SPLITS = ("train", "test")
DATA_DIR_ENV = "ASYNCSIM_DATA_DIR"

Sample = tuple[np.ndarray, int]
"""An event stream (``EVENT_DTYPE``) and its class label."""


@dataclass(frozen=True)
class SplitPlan:
    """One split of one source, ready to read.

    ``fingerprint`` identifies the raw data (it is part of the frame cache's key);
    ``read()`` yields the samples in a fixed order.
    """

    fingerprint: Mapping[str, object]
    read: Callable[[], Iterator[Sample]]
    origin: Callable[[], str] = str
    """Where the sample ``read()`` yielded last comes from (its file), for error messages."""


class EventSource(ABC):
    """A data set of labelled event streams on a fixed sensor."""

    name: str
    title: str
    sensor: Sensor
    n_classes: int
    default_binning: Binning
    option_defaults: Mapping[str, object] = {}
    align_to_first_event: bool = False
    """Bin from each sample's first event rather than from t = 0."""

    @abstractmethod
    def plan(self, data_dir: Path | None, split: str, options: Mapping[str, object]) -> SplitPlan:
        """Locate (or prepare to generate) one split; raises if its data are missing."""


def _file_stat(path: Path) -> os.stat_result:
    """A data file's status; a folder named like a data file, a broken link or an unreadable
    entry is one error naming it."""
    try:
        stat = path.stat()
    except OSError as err:
        what = "a broken symbolic link" if path.is_symlink() else (err.strerror or str(err))
        raise DatasetError(f"{path}: not a readable data file ({what})") from err
    if not path.is_file():
        raise DatasetError(f"{path}: a folder, where a data file was expected")
    return stat


class FileSource(EventSource):
    """A data set read from files under a user's folder, in its published layout."""

    tonic_folder: str
    """Subfolder that tonic's ``save_to`` puts the data set in (also searched)."""
    archives: tuple[str, ...] = ()
    """Names of the published archives, to tell a user who has not unpacked them."""
    layout: Mapping[str, str]
    """Per split: where its files belong, relative to the data folder."""

    @abstractmethod
    def split_files(self, root: Path, split: str) -> list[Path]:
        """The files of ``split`` under ``root`` in reading order ([] when there are none)."""

    @abstractmethod
    def read_file(self, path: Path, options: Mapping[str, object]) -> Iterator[Sample]:
        """The samples in one file; raises ``DatasetError`` naming the file on bad data."""

    def plan(self, data_dir: Path | None, split: str, options: Mapping[str, object]) -> SplitPlan:
        root, files = self._locate(data_dir, split)
        digest = hashlib.sha256()
        for path in files:
            stat = _file_stat(path)
            digest.update(
                f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
            )
        fingerprint = {"root": str(root), "files": len(files), "digest": digest.hexdigest()}

        reading: list[Path] = []

        def read() -> Iterator[Sample]:
            for path in files:
                reading[:] = [path]
                try:
                    yield from self.read_file(path, options)
                except OSError as err:  # e.g. no permission, or the file vanished meanwhile
                    raise DatasetError(f"{path}: cannot read ({err.strerror or err})") from err

        return SplitPlan(
            fingerprint=fingerprint, read=read, origin=lambda: " ".join(map(str, reading))
        )

    def _locate(self, data_dir: Path | None, split: str) -> tuple[Path, list[Path]]:
        if data_dir is None:
            if DATA_DIR_ENV not in os.environ:
                raise DatasetNotFoundError(
                    f"{self.title}: no data folder given; pass data_dir (--data-dir) or set "
                    f"{DATA_DIR_ENV}. {self._where_files_go('DIR', split)}"
                )
            data_dir = Path(os.environ[DATA_DIR_ENV])
        data_dir = Path(data_dir).expanduser()
        roots = (data_dir, data_dir / self.tonic_folder)
        for root in roots:
            files = self.split_files(root, split)
            if files:
                return root, files
        found = [
            str(root / name) for root in roots for name in self.archives if (root / name).exists()
        ]
        unpack = f" Found {', '.join(found)}: unpack it there." if found else ""
        raise DatasetNotFoundError(
            f"{self.title} {split} split not found in {data_dir}.{unpack} "
            f"{self._where_files_go(str(data_dir), split)}"
        )

    def _where_files_go(self, data_dir: str, split: str) -> str:
        layout = self.layout[split]
        return (
            f"Expected {data_dir}/{layout} (the published layout; tonic's folder "
            f"{data_dir}/{self.tonic_folder}/{layout} works too). asyncsim never downloads data: "
            f"get {self.title} from its authors and unpack it there."
        )
