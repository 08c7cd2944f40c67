"""Summaries and raster plots of spike traces (docs/traces.md#inspecting)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .layout import TIME_UNITS
from .reader import Trace

MAX_SAMPLE_LABELS = 40


def summary(trace: Trace) -> dict[str, Any]:
    """Samples, timesteps, spikes and rate (spikes per neuron per timestep) per layer, and
    accuracy over the samples with both a label and a prediction (None without any)."""
    n_samples = len(trace.samples)
    steps = trace.timesteps[1] - trace.timesteps[0]
    spikes = {name: len(sp) for name, sp in trace.layers.items()}
    slots = {name: n_samples * steps * sp.size for name, sp in trace.layers.items()}
    known = (trace.labels >= 0) & (trace.predictions >= 0)
    return {
        "path": str(trace.path),
        "samples": n_samples,
        "timesteps": steps,
        "complete": trace.complete,
        "neurons": {name: sp.size for name, sp in trace.layers.items()},
        "spikes": spikes,
        "rate": {name: spikes[name] / slots[name] if slots[name] else float("nan")
                 for name in spikes},
        "accuracy": float(np.mean(trace.labels[known] == trace.predictions[known]))
        if known.any() else None,
    }


def plot_raster(trace: Trace, path: str | Path, samples: int | Iterable[int] | None = None
                ) -> Path:
    """Write a PNG raster: one panel per layer (stacked), neuron index against time, a line
    at every sample boundary, each sample captioned with its label and prediction when known.
    ``samples``: global indices to show (default: all held)."""
    shown = trace if samples is None else trace.select(sample=samples)
    if not len(shown.samples):
        raise ValueError(f"{trace.path}: no samples to plot")
    span = shown.n_steps * shown.dt
    fig = Figure(figsize=(10, 1.0 + 1.8 * len(shown.layers)), layout="constrained")
    axes = fig.subplots(len(shown.layers), 1, sharex=True, squeeze=False)[:, 0]
    for ax, spikes in zip(axes, shown.layers.values(), strict=True):
        ax.plot(spikes.timestamps, spikes.node_ids, linestyle="none", marker="|",
                markersize=max(1.0, min(6.0, 120.0 / spikes.size)), color="black")
        for boundary in np.append(shown.samples, shown.samples[-1] + 1) * span:
            ax.axvline(boundary, color="tab:red", linewidth=0.6, linestyle="--", zorder=0)
        ax.set_ylim(-0.5, spikes.size - 0.5)
        ax.set_ylabel(f"{spikes.name}\nneuron")
    if len(shown.samples) <= MAX_SAMPLE_LABELS:
        for index, label, prediction in zip(shown.samples, shown.labels, shown.predictions,
                                            strict=True):
            axes[0].text((index + 0.5) * span, 1.02, _sample_caption(index, label, prediction),
                         ha="center", va="bottom", fontsize=7,
                         transform=axes[0].get_xaxis_transform())
    axes[-1].set_xlabel(f"time ({TIME_UNITS})")
    fig.suptitle(f"{Path(trace.path).name}: {len(shown.samples)} sample(s)")
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def _sample_caption(index: int, label: int, prediction: int) -> str:
    """``sample 3`` and, where the trace holds them (``-1``: not given), its label and the
    network's prediction."""
    parts = []
    if label >= 0:
        parts.append(f"label {label}")
    if prediction >= 0:
        parts.append(f"predicted {prediction}")
    return "\n".join([f"sample {index}", ", ".join(parts)]) if parts else f"sample {index}"
