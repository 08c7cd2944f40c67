"""Reading spike traces back (docs/traces.md#reading): ``load`` and ``Trace``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from .layout import (
    COMPLETE_ATTR,
    FORMAT_ATTR,
    FORMAT_VERSION,
    JSON_ATTR,
    LABELS,
    PREDICTIONS,
    SAMPLE_COLUMNS,
    SAMPLES,
    SPIKE_COLUMNS,
    SPIKE_END,
    SPIKES,
)

if TYPE_CHECKING:
    import pandas as pd

SampleSpec = int | Iterable[int] | None
LayerSpec = str | Iterable[str] | None
OPEN_FOR_WRITE = "already open for write"  # HDF5's error for a file with status flags set


class TraceError(ValueError):
    """A path that is missing, unreadable, damaged or not an asyncsim spike trace."""


@dataclass
class LayerSpikes:
    """The spikes of one layer: aligned columns in time order (docs/traces.md#layout)."""

    name: str
    size: int
    offset: int  # flat index of the layer's first neuron
    timestamps: np.ndarray
    node_ids: np.ndarray
    sample: np.ndarray
    timestep: np.ndarray
    forward_step: np.ndarray
    v_pre: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamps)

    def take(self, rows: np.ndarray) -> LayerSpikes:
        """The spikes at ``rows`` (a boolean mask or indices)."""
        return replace(self, **{col.name: getattr(self, col.name)[rows] for col in SPIKE_COLUMNS})


@dataclass
class Trace:
    """Spikes of some samples and layers of a trace file, with per-sample labels/predictions.

    ``samples`` are global sample indices (increasing); ``labels`` and ``predictions`` are
    aligned with them (-1: not recorded). ``timesteps`` is the half-open window held.
    ``complete`` is False when the writer was not closed normally (a crash or a live run).
    """

    path: Path
    dt: float
    n_steps: int
    layers: dict[str, LayerSpikes]
    samples: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    metadata: dict[str, Any]
    complete: bool
    timesteps: tuple[int, int]

    def __getitem__(self, layer: str) -> LayerSpikes:
        return self.layers[layer]

    def select(self, sample: SampleSpec = None, layer: LayerSpec = None,
               timesteps: tuple[int, int] | None = None) -> Trace:
        """A sub-trace: some samples, layers and/or a timestep window ``(start, stop)``."""
        chosen = pick_samples(sample, self.samples)
        names = pick_layers(layer, list(self.layers))
        start, stop = self.timesteps if timesteps is None else check_window(timesteps,
                                                                            self.n_steps)
        low = max(start, self.timesteps[0])
        window = (low, max(low, min(stop, self.timesteps[1])))
        layers = {name: _select_rows(self.layers[name], chosen, window) for name in names}
        keep = np.isin(self.samples, chosen)
        return replace(self, layers=layers, samples=self.samples[keep], labels=self.labels[keep],
                       predictions=self.predictions[keep], timesteps=window)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per spike, ordered like ``Records``: (sample, timestep, forward_step,
        neuron). Columns: layer, sample, timestep, forward_step, node_id (within the layer),
        neuron (flat index), v_pre, timestamp."""
        import pandas as pd

        frames = [pd.DataFrame({
            "layer": np.full(len(sp), sp.name, dtype=object), "sample": sp.sample,
            "timestep": sp.timestep, "forward_step": sp.forward_step, "node_id": sp.node_ids,
            "neuron": sp.node_ids.astype(np.int64) + sp.offset, "v_pre": sp.v_pre,
            "timestamp": sp.timestamps}) for sp in self.layers.values()]
        df = pd.concat(frames, ignore_index=True)
        df["layer"] = pd.Categorical(df["layer"], categories=list(self.layers))
        return df.sort_values(["sample", "timestep", "forward_step", "neuron"],
                              ignore_index=True)


def load(path: str | Path, sample: SampleSpec = None, layer: LayerSpec = None,
         timesteps: tuple[int, int] | None = None) -> Trace:
    """Read a trace: all of it, or some samples (global indices), layers (names) and a
    timestep window ``(start, stop)``. Only the committed samples of a cut-off file are read.

    Raises ``TraceError`` (a ``ValueError``) naming the file if it is missing, unreadable,
    damaged or not a trace, and ``ValueError`` for a sample, layer or window it lacks.
    """
    path = Path(path)
    with _open(path) as f:
        try:
            meta = _metadata(f, path)
            n_steps = int(meta["n_steps"])
            window = (0, n_steps) if timesteps is None else check_window(timesteps, n_steps)
            trace = _read(f, path, meta, sample, layer)
        except (KeyError, OSError, IndexError) as err:
            raise TraceError(f"{path}: damaged trace ({err})") from err
    return trace.select(timesteps=window)


def pick_samples(sample: SampleSpec, available: np.ndarray) -> np.ndarray:
    """The requested global sample indices, sorted and unique, all present in ``available``."""
    if sample is None:
        return available
    if isinstance(sample, (int, np.integer)) and not isinstance(sample, bool):
        chosen = np.array([sample], dtype=np.int64)
    else:
        chosen = np.unique(np.fromiter(sample, dtype=np.int64))
    missing = np.setdiff1d(chosen, available)
    if missing.size:
        raise ValueError(f"sample: {missing[:5].tolist()} not in this trace, which holds "
                         f"{len(available)} samples")
    return chosen


def pick_layers(layer: LayerSpec, names: list[str]) -> list[str]:
    """The requested layer names, in network order."""
    wanted = names if layer is None else [layer] if isinstance(layer, str) else list(layer)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise ValueError(f"layer: unknown {unknown}; this trace has {names}")
    return [name for name in names if name in wanted]


def check_window(timesteps: tuple[int, int], n_steps: int) -> tuple[int, int]:
    """``(start, stop)`` with ``0 <= start < stop <= n_steps``."""
    start, stop = (int(t) for t in timesteps)
    if not 0 <= start < stop <= n_steps:
        raise ValueError(f"timesteps: expected (start, stop) with 0 <= start < stop <= "
                         f"{n_steps}, got {tuple(timesteps)!r}")
    return start, stop


def _select_rows(spikes: LayerSpikes, samples: np.ndarray, window: tuple[int, int]) -> LayerSpikes:
    keep = np.isin(spikes.sample, samples)
    keep &= (spikes.timestep >= window[0]) & (spikes.timestep < window[1])
    return spikes.take(keep)


def _open(path: Path) -> h5py.File:
    """Open read-only. A file whose writer died (or is) mid-flush has its "open for write"
    status flags set; SWMR read mode ignores them. Only then: SWMR reads of a damaged file
    retry for minutes."""
    if not path.is_file():
        raise TraceError(f"{path}: no such trace file")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        if OPEN_FOR_WRITE not in str(err):
            raise TraceError(f"{path}: not a readable HDF5 file ({err})") from err
    try:
        return h5py.File(path, "r", swmr=True)
    except OSError as err:
        raise TraceError(f"{path}: not a readable HDF5 file ({err})") from err


def _decode(value: Any, is_json: bool) -> Any:
    if is_json:
        return json.loads(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return [v.decode() if isinstance(v, bytes) else str(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _metadata(f: h5py.File, path: Path) -> dict[str, Any]:
    """Root attributes, decoded; checks that this is a trace this version can read."""
    version = f.attrs.get(FORMAT_ATTR)
    if version is None:
        raise TraceError(f"{path}: not an asyncsim spike trace (no {FORMAT_ATTR!r} attribute)")
    if int(version) > FORMAT_VERSION:
        raise TraceError(f"{path}: trace format {int(version)} is newer than this asyncsim "
                         f"reads ({FORMAT_VERSION})")
    json_keys = set(_decode(f.attrs.get(JSON_ATTR, np.array([], dtype=object)), False))
    meta = {key: _decode(value, key in json_keys) for key, value in f.attrs.items()
            if key != JSON_ATTR}
    if isinstance(meta.get("F"), str) and re.fullmatch(r"inf|\d+", meta["F"]):
        # Traces written before F was stored as a number hold it as text ('2', 'inf').
        meta["F"] = float("inf") if meta["F"] == "inf" else int(meta["F"])
    return meta


def _committed_ends(f: h5py.File) -> np.ndarray:
    """``[n, L]`` cumulative row counts of the committed samples: rows written whole."""
    group = f[SAMPLES]
    ends = group[SPIKE_END][...]
    n = min(len(ends), *(len(group[name]) for name in SAMPLE_COLUMNS))
    torn = np.flatnonzero((ends[:n] < 0).any(axis=1))
    return ends[:torn[0] if torn.size else n]


def _row_runs(samples: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges of one layer holding ``samples`` (consecutive samples share one range)."""
    starts = np.concatenate([[0], ends[:-1]])
    breaks = np.flatnonzero(np.diff(samples) != 1) + 1
    return [(int(starts[run[0]]), int(ends[run[-1]])) for run in np.split(samples, breaks)
            if run.size]


def _read_layer(group: h5py.Group, name: str, size: int, offset: int,
                runs: list[tuple[int, int]]) -> LayerSpikes:
    stored = group["timestamps"].shape[0]
    if runs and runs[-1][1] > stored:
        raise TraceError(f"{group.file.filename}: damaged trace (layer {name!r} holds {stored}"
                         f" spikes, its samples claim {runs[-1][1]})")
    columns = {col.name: np.concatenate([np.empty(0, col.dtype)]
                                        + [group[col.name][a:b] for a, b in runs])
               for col in SPIKE_COLUMNS}
    return LayerSpikes(name, size, offset, **columns)


def _read(f: h5py.File, path: Path, meta: dict[str, Any], sample: SampleSpec,
          layer: LayerSpec) -> Trace:
    ends = _committed_ends(f)
    samples = pick_samples(sample, np.arange(len(ends)))
    names, sizes = meta["layer_names"], meta["layer_sizes"]
    offsets = np.cumsum([0, *sizes])
    layers = {}
    for name in pick_layers(layer, names):
        index = names.index(name)
        layers[name] = _read_layer(f[SPIKES][name], name, int(sizes[index]),
                                   int(offsets[index]), _row_runs(samples, ends[:, index]))
    per_sample = {name: f[SAMPLES][name][:len(ends)][samples] for name in (LABELS, PREDICTIONS)}
    return Trace(path, float(meta["dt"]), int(meta["n_steps"]), layers, samples,
                 per_sample[LABELS], per_sample[PREDICTIONS], meta,
                 bool(meta[COMPLETE_ATTR]), (0, int(meta["n_steps"])))

