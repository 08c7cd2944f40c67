"""Streaming, crash-tolerant writer of spike traces (docs/traces.md#writing).

The file is created with its whole skeleton at once; every flush reopens it in SWMR mode,
writes the pending batches at known positions, commits them (``/samples/spike_end`` last) and
closes it again, so that between flushes the file on disk is closed and clean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
import torch

from ..network import Network
from ..result import SimResult, default_layer_names
from .layout import (
    COMPLETE_ATTR,
    LABELS,
    PREDICTIONS,
    SAMPLE_COLUMNS,
    SAMPLES,
    SPIKE_COLUMNS,
    SPIKE_END,
    SPIKES,
    UNKNOWN,
    check_layer_names,
)
from .storage import create_file, open_for_append, root_attrs, write_at


@dataclass
class _Batch:
    """One appended batch, ready to write: spike columns per layer and per-sample columns."""

    spikes: list[dict[str, np.ndarray]]
    samples: dict[str, np.ndarray]
    spike_end: np.ndarray  # [B, L]


class TraceWriter:
    """Write the fire records of a run to one HDF5 spike trace, batch by batch.

    Args:
        path: the file to create (written in place: a crash leaves a readable partial file).
        net_or_layer_sizes: the ``Network``, or its neuron layer sizes ``[n_1, ..., n_L]``.
        dt: width of one timestep (stored as ms); must equal ``net.dt`` for a network.
        n_steps: timesteps T of every sample; sample i spans ``[i*T*dt, (i+1)*T*dt)``.
        metadata: run description stored as attributes of ``/`` (``config``, ``strategy``,
            ``F``, ``seeds``, ``dataset``, ...); non-scalar values are stored as JSON strings.
        layer_names: one group name per layer (default ``layer1, ..., output``).
        overwrite: replace an existing file instead of refusing.
        flush_every: batches per flush (``None``: only at ``flush()``/``close()``).
        chunk_rows: HDF5 chunk length of the per-spike datasets.
    """

    def __init__(
        self,
        path: str | Path,
        net_or_layer_sizes: Network | Sequence[int],
        dt: float,
        n_steps: int,
        metadata: dict[str, Any] | None = None,
        layer_names: Sequence[str] | None = None,
        *,
        overwrite: bool = False,
        flush_every: int | None = 1,
        chunk_rows: int = 4096,
    ) -> None:
        self.path = Path(path)
        self.layer_sizes = _layer_sizes(net_or_layer_sizes, dt)
        self.dt = float(dt)
        self.n_steps = _positive_int("n_steps", n_steps)
        self.layer_names = check_layer_names(
            default_layer_names(len(self.layer_sizes)) if layer_names is None else layer_names,
            len(self.layer_sizes))
        self.flush_every = None if flush_every is None else _positive_int("flush_every",
                                                                           flush_every)
        self._offsets = np.cumsum([0, *self.layer_sizes])
        self._pending: list[_Batch] = []
        self._samples = 0  # samples appended so far (flushed or pending)
        self._rows = np.zeros(len(self.layer_sizes), dtype=np.int64)  # same, rows per layer
        self._flushed_samples = 0
        self._flushed_rows = self._rows.copy()
        self._closed = False
        attrs = root_attrs(dict(metadata or {}), self.dt, self.n_steps, self.layer_names,
                            self.layer_sizes)
        create_file(self.path, overwrite, attrs, self.layer_names, self.layer_sizes,
                _positive_int("chunk_rows", chunk_rows))

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._finish(complete=exc_type is None)

    @property
    def n_samples(self) -> int:
        """Samples appended so far."""
        return self._samples

    def append(self, result: SimResult, labels: Any = None, predictions: Any = None) -> None:
        """Append the fire records of one batch; ``labels``/``predictions``: ``[B]`` ints.

        Samples continue the numbering of earlier batches. Flushes every ``flush_every``
        batches.
        """
        if self._closed:
            raise ValueError(f"{self.path}: this trace writer is closed")
        batch = _check_result(result, self.layer_sizes, self.n_steps)
        spikes, per_sample = _split_events(result, self._offsets, self._samples, batch,
                                           self.n_steps, self.dt)
        spike_end = self._rows + np.cumsum(per_sample, axis=0)
        self._pending.append(_Batch(
            spikes,
            {LABELS: _per_sample("labels", labels, batch),
             PREDICTIONS: _per_sample("predictions", predictions, batch)},
            spike_end))
        self._samples += batch
        self._rows = spike_end[-1] if batch else self._rows
        if self.flush_every is not None and len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Write and commit the pending batches; a later crash keeps them."""
        if self._pending:
            self._write(complete=False)

    def _write(self, complete: bool) -> None:
        with open_for_append(self.path) as f:
            if self._pending:
                self._write_pending(f)
            if complete:
                f.attrs.modify(COMPLETE_ATTR, True)
        self._pending = []
        self._flushed_samples = self._samples
        self._flushed_rows = self._rows.copy()

    def _write_pending(self, f: h5py.File) -> None:
        pending = self._pending
        for layer, name in enumerate(self.layer_names):
            group = f[SPIKES][name]
            for col in SPIKE_COLUMNS:
                write_at(group[col.name], self._flushed_rows[layer],
                          np.concatenate([b.spikes[layer][col.name] for b in pending]))
        f.flush()  # spikes reach the file before the samples that commit them
        for name in SAMPLE_COLUMNS:
            write_at(f[SAMPLES][name], self._flushed_samples,
                      np.concatenate([b.samples[name] for b in pending]))
        f.flush()
        write_at(f[SAMPLES][SPIKE_END], self._flushed_samples,
                  np.concatenate([b.spike_end for b in pending]))

    def close(self) -> None:
        """Flush and mark the trace complete (attribute ``complete`` of ``/``)."""
        self._finish(complete=True)

    def _finish(self, complete: bool) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pending or complete:
            self._write(complete)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def _layer_sizes(net_or_sizes: Network | Sequence[int], dt: float) -> list[int]:
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt: must be finite and > 0, got {dt!r}")
    if isinstance(net_or_sizes, Network):
        if float(dt) != net_or_sizes.dt:
            raise ValueError(f"dt: {dt!r} differs from the network's dt {net_or_sizes.dt!r}")
        return list(net_or_sizes.layer_sizes)
    sizes = list(net_or_sizes)
    if not sizes:
        raise ValueError("net_or_layer_sizes: expected a Network or [n_1, ..., n_L], got []")
    return [_positive_int("net_or_layer_sizes", size) for size in sizes]


def _check_result(result: SimResult, layer_sizes: list[int], n_steps: int) -> int:
    """The batch size of ``result``, after checking that it fits this trace."""
    if result.events is None:
        raise ValueError("result.events is None: trace a run of "
                         "asyncsim.simulate(..., record=True)")
    if list(result.layer_sizes) != layer_sizes:
        raise ValueError(f"result: layer sizes {list(result.layer_sizes)} differ from the "
                         f"trace's {layer_sizes}")
    steps, batch = result.counts.shape[:2]
    if steps != n_steps:
        raise ValueError(f"result: {steps} timesteps, but the trace has n_steps={n_steps}")
    return int(batch)


def _per_sample(name: str, values: Any, batch: int) -> np.ndarray:
    if values is None:
        return np.full(batch, UNKNOWN, dtype=np.int64)
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values).reshape(-1)
    if array.dtype.kind not in "iu" or array.size != batch:
        raise ValueError(f"{name}: expected {batch} ints, got {array.size} of {array.dtype}")
    return array.astype(np.int64)


def _split_events(result: SimResult, offsets: np.ndarray, first_sample: int, batch: int,
                  n_steps: int, dt: float) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    """Per-layer spike columns in time order, and ``[B, L]`` spikes per sample and layer."""
    ev = {name: getattr(result.events, name).detach().cpu().numpy()
          for name in ("sample", "timestep", "forward_step", "neuron", "value")}
    layer = np.searchsorted(offsets, ev["neuron"], side="right") - 1
    n_layers = len(offsets) - 1
    order = np.lexsort((ev["neuron"], ev["forward_step"], ev["timestep"], ev["sample"], layer))
    sample = ev["sample"] + first_sample
    columns = {
        "timestamps": (sample * n_steps + ev["timestep"]).astype(np.float64) * dt,
        "node_ids": ev["neuron"] - offsets[layer], "sample": sample,
        "timestep": ev["timestep"], "forward_step": ev["forward_step"], "v_pre": ev["value"],
    }
    bounds = np.searchsorted(layer[order], np.arange(n_layers + 1))
    spikes = [{col.name: columns[col.name][order[a:b]].astype(col.dtype) for col in SPIKE_COLUMNS}
              for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    per_sample = np.bincount(ev["sample"] * n_layers + layer, minlength=batch * n_layers)
    return spikes, per_sample.reshape(batch, n_layers)
