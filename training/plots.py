"""Figures of an evaluation (PNG, matplotlib Agg): accuracy vs F per strategy, spike density
per layer, decision-time distributions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save_figure(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def accuracy_vs_f(rows: list[dict[str, Any]], path: Path) -> Path:
    """One panel per trained model: accuracy over F for each execution strategy, the layered
    (sync) execution as a dashed level. Rows of the stop mode ``complete``, or of the first
    stop mode evaluated when there are none."""
    stops = [r.get("stop", "complete") for r in rows]
    shown = "complete" if "complete" in stops else stops[0]
    complete = [r for r in rows if r.get("stop", "complete") == shown]
    trained = list(dict.fromkeys(r["trained"] for r in complete))
    strategies = sorted({r["strategy"] for r in complete} - {"sync"})
    colors = dict(zip(strategies, plt.rcParams["axes.prop_cycle"].by_key()["color"],
                      strict=False))
    finite = [int(r["F"]) for r in complete if r["F"] != "inf"]
    inf_at = 2 * max(finite) if finite else 1
    fig, axes = plt.subplots(1, len(trained), figsize=(3.2 * len(trained) + 1, 3.6),
                             sharey=True, squeeze=False)
    for ax, model in zip(axes[0], trained, strict=True):
        mine = [r for r in complete if r["trained"] == model]
        for row in mine:
            if row["strategy"] == "sync":
                ax.axhline(row["accuracy"], color="black", linestyle="--", linewidth=1,
                           label="sync")
        for strategy in strategies:
            points = sorted((inf_at if r["F"] == "inf" else int(r["F"]), r["accuracy"])
                            for r in mine if r["strategy"] == strategy)
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", color=colors[strategy],
                        label=strategy)
        ax.set_xscale("log", base=2)
        ax.set_title(f"trained: {model}", fontsize=9)
        has_inf = any(r["F"] == "inf" for r in mine)
        ax.set_xlabel(f"F ({inf_at} = inf)" if has_inf else "F")
    axes[0][0].set_ylabel("test accuracy")
    axes[0][-1].legend(fontsize=7, title="executed", title_fontsize=7)
    return save_figure(fig, path)


def density_per_layer(rows: list[dict[str, Any]], path: Path) -> Path:
    """Grouped bars: spike density of each layer, per evaluated row label."""
    layers = sorted(k for k in rows[0] if k.startswith("spike_density/"))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(rows)), 4))
    width = 0.8 / max(1, len(layers))
    xs = np.arange(len(rows))
    for i, key in enumerate(layers):
        ax.bar(xs + i * width, [r[key] for r in rows], width, label=key.split("/")[1])
    ax.set_xticks(xs + 0.4 - width / 2, [r["label"] for r in rows], rotation=60, ha="right",
                  fontsize=7)
    ax.set_ylabel("spikes / (neurons x timesteps)")
    ax.legend()
    return save_figure(fig, path)


def decision_times(distributions: dict[str, np.ndarray], path: Path) -> Path:
    """Histogram per setting of per-sample decision steps (samples with an output spike)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    finite = [v[np.isfinite(v)] for v in distributions.values()]
    top = max((float(v.max()) for v in finite if v.size), default=1.0)
    bins = np.linspace(0, top, 30)
    for (label, _), values in zip(distributions.items(), finite, strict=True):
        ax.hist(values, bins=bins, histtype="step", label=label)
    ax.set_xlabel("decision time (cumulative forward steps)")
    ax.set_ylabel("samples")
    ax.legend(fontsize=7)
    return save_figure(fig, path)
