"""HDF5 side of a spike trace (docs/traces.md#layout): creating the file with its
skeleton, reopening it for appends, and storing run metadata as attributes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from h5py import h5f, h5p

from .layout import (
    BY_TIME,
    COMPLETE_ATTR,
    COMPRESSION,
    FORMAT_ATTR,
    FORMAT_VERSION,
    JSON_ATTR,
    RESERVED,
    SAMPLE_COLUMNS,
    SAMPLES,
    SONATA_MAGIC,
    SONATA_VERSION,
    SORTING,
    SPIKE_COLUMNS,
    SPIKE_END,
    SPIKES,
    TIME_UNITS,
    UNKNOWN,
)

SAMPLE_CHUNK = 1024


def create_file(path: Path, overwrite: bool, attrs: dict[str, Any], names: list[str],
                sizes: list[int], chunk_rows: int) -> None:
    """Create the file with every group, dataset and attribute (SWMR adds none later)."""
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: file exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = h5f.ACC_TRUNC if overwrite else h5f.ACC_EXCL
    with h5py.File(h5f.create(os.fsencode(path), flags, fapl=_fapl())) as f:
        f.attrs.update(attrs)
        for name, size in zip(names, sizes, strict=True):
            group = f.create_group(f"{SPIKES}/{name}")
            group.attrs.create("sorting", BY_TIME, dtype=SORTING)
            group.attrs["n_neurons"] = size
            for col in SPIKE_COLUMNS:
                group.create_dataset(col.name, shape=(0,), maxshape=(None,), dtype=col.dtype,
                                     chunks=(chunk_rows,), **({} if col.sonata else COMPRESSION))
            group["timestamps"].attrs["units"] = TIME_UNITS
        samples = f.create_group(SAMPLES)
        for name in SAMPLE_COLUMNS:
            samples.create_dataset(name, shape=(0,), maxshape=(None,), dtype="i8",
                                   chunks=(SAMPLE_CHUNK,), fillvalue=UNKNOWN, **COMPRESSION)
        samples.create_dataset(SPIKE_END, shape=(0, len(sizes)), maxshape=(None, len(sizes)),
                               dtype="i8", chunks=(SAMPLE_CHUNK, len(sizes)), fillvalue=UNKNOWN)


def _fapl() -> h5p.PropFAID:
    """File access: formats capped at HDF5 1.10 and no file locks.

    SWMR needs the 1.10 formats; capping there keeps the file readable by every HDF5 >= 1.10
    (``libver="latest"`` follows h5py's own HDF5, 2.x, whose objects libsonata's HDF5 1.14
    cannot decode). Without locks, a reader holding the file open never makes a flush fail.
    """
    fapl = h5p.create(h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5f.LIBVER_V110, h5f.LIBVER_V110)
    fapl.set_file_locking(False, True)
    return fapl


def open_for_append(path: Path) -> h5py.File:
    """Open in SWMR-write mode from the first instant: whenever the writer dies, the file's
    status flags say "SWMR writer", which SWMR readers accept."""
    return h5py.File(h5f.open(os.fsencode(path), h5f.ACC_RDWR | h5f.ACC_SWMR_WRITE,
                              fapl=_fapl()))


def _attr_value(value: Any) -> tuple[Any, bool]:
    """An HDF5-storable attribute value, and whether it had to be JSON-encoded."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bool, int, float, np.generic)):
        return value, False
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value, False
    return json.dumps(value, default=str), True


def root_attrs(metadata: dict[str, Any], dt: float, n_steps: int, names: list[str],
               sizes: list[int]) -> dict[str, Any]:
    """The attributes of ``/``: the user's metadata (non-scalars JSON-encoded and listed in
    ``json_attrs``), SONATA's ``magic``/``version`` and the trace's own description."""
    from .. import __version__  # at call time: asyncsim/__init__ may import this package

    clash = sorted(RESERVED & set(metadata))
    if clash:
        raise ValueError(f"metadata: {clash} are reserved attribute names of a trace")
    attrs: dict[str, Any] = {}
    json_keys = []
    for key, value in metadata.items():
        attrs[key], encoded = _attr_value(value)
        if encoded:
            json_keys.append(key)
    strings = h5py.string_dtype()
    attrs.update({
        "magic": SONATA_MAGIC, "version": SONATA_VERSION, FORMAT_ATTR: FORMAT_VERSION,
        "asyncsim_version": __version__, "dt": dt, "n_steps": n_steps,
        "layer_names": np.array(names, dtype=strings),
        "layer_sizes": np.array(sizes, dtype=np.int64), "time_units": TIME_UNITS,
        JSON_ATTR: np.array(json_keys, dtype=strings), COMPLETE_ATTR: False,
    })
    return attrs


def write_at(dataset: h5py.Dataset, start: int, data: np.ndarray) -> None:
    """Rows ``start:`` of ``dataset`` become ``data`` (a retried flush overwrites, never
    duplicates)."""
    dataset.resize(int(start) + len(data), axis=0)
    if len(data):
        dataset[int(start):] = data
