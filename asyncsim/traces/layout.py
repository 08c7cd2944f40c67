"""The on-disk layout of a spike trace (docs/traces.md): names, dtypes, attributes.

Writer and reader share these definitions so that the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import h5py
import numpy as np

FORMAT_VERSION = 1

SPIKES = "spikes"
SAMPLES = "samples"
# SONATA's sorting enum (libsonata: ``enum class Sorting : char``).
SORTING = h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype="i1")
BY_TIME = 2
SONATA_MAGIC = np.uint32(0x0A7A)
SONATA_VERSION = np.array([0, 1], dtype=np.uint32)
TIME_UNITS = "ms"
UNKNOWN = -1  # label or prediction not given; also the fill value of every sample column
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


@dataclass(frozen=True)
class Column:
    """One aligned per-spike dataset of a layer group."""

    name: str
    dtype: str
    sonata: bool  # read by SONATA readers, hence never compressed


SPIKE_COLUMNS = (
    Column("timestamps", "f8", True),
    Column("node_ids", "u8", True),
    Column("sample", "i8", False),
    Column("timestep", "i4", False),
    Column("forward_step", "i4", False),
    Column("v_pre", "f4", False),
)
# Per-sample datasets under /samples. ``spike_end[i, l]``: rows of layer l's group that hold
# samples 0..i, written last at every flush: it is the commit record of the file.
LABELS, PREDICTIONS, SPIKE_END = "labels", "predictions", "spike_end"
SAMPLE_COLUMNS = (LABELS, PREDICTIONS)

# Root attributes the writer owns; user metadata may not use these names.
FORMAT_ATTR = "asyncsim_trace_format"
COMPLETE_ATTR = "complete"
JSON_ATTR = "json_attrs"
RESERVED = frozenset({"magic", "version", FORMAT_ATTR, "asyncsim_version", "dt", "n_steps",
                      "layer_names", "layer_sizes", "time_units", JSON_ATTR, COMPLETE_ATTR})


def check_layer_names(names: Sequence[str], n_layers: int) -> list[str]:
    """One unique, non-empty name without ``/`` per neuron layer, else ``ValueError``."""
    names = list(names)
    if len(names) != n_layers:
        raise ValueError(f"layer_names: expected {n_layers} names, got {names!r}")
    for name in names:
        if not isinstance(name, str) or not name or "/" in name or name == ".":
            raise ValueError(f"layer_names: {name!r} is not a valid group name")
    if len(set(names)) != len(names):
        raise ValueError(f"layer_names: names must be unique, got {names!r}")
    return names
