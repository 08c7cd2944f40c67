"""Figures of an evaluation (PNG, matplotlib Agg): accuracy vs F per strategy, spike density
per layer and decision-time distributions, one panel per trained model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from asyncsim.plotting import f_axis, set_f_ticks  # noqa: E402

MARKERS = "osD^vP*X"
MAX_WIDTH_IN = 14.0  # figures stay readable on a screen: at most 14 x 110 = 1540 px wide


def save_figure(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def panel_grid(titles: list[str], per_panel: int, suptitle: str):
    """One panel per title, at most 2 columns (1 when a panel holds many groups), sized for
    ``per_panel`` x positions; returns the figure and its axes in title order."""
    columns = 1 if per_panel > 10 or len(titles) == 1 else 2
    rows = math.ceil(len(titles) / columns)
    width = min(MAX_WIDTH_IN, max(6.0, columns * (1.5 + 0.45 * per_panel)))
    fig, axes = plt.subplots(rows, columns, figsize=(width, 1.2 + 2.9 * rows), squeeze=False,
                             sharey=True, layout="constrained")
    flat = list(axes.flat)
    for ax, title in zip(flat, titles, strict=False):
        ax.set_title(f"trained: {title}", fontsize=9)
    for ax in flat[len(titles):]:
        ax.set_visible(False)
    fig.suptitle(suptitle, fontsize=11)
    return fig, flat[:len(titles)]


def _legend(fig, axes: list, title: str) -> None:
    """One legend for all panels, beside them (it never hides data)."""
    handles = {label: handle for ax in axes
               for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize=8,
               title=title, title_fontsize=8)


def _trained(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["trained"] for r in rows))


def _settings(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["label"] for r in rows))


def accuracy_vs_f(rows: list[dict[str, Any]], path: Path) -> Path:
    """One panel per trained model: accuracy over the F values that ran, one line per execution
    strategy (own marker, slightly offset so that equal lines stay visible), the layered (sync)
    execution as a dashed level. Rows of the stop mode ``complete``, or of the first stop mode
    evaluated when there are none."""
    stops = [r.get("stop", "complete") for r in rows]
    shown = "complete" if "complete" in stops else stops[0]
    complete = [r for r in rows if r.get("stop", "complete") == shown]
    trained = _trained(complete)
    strategies = sorted({r["strategy"] for r in complete} - {"sync"})
    positions, _ = f_axis(r["F"] for r in complete if r["strategy"] != "sync")
    fig, axes = panel_grid(trained, max(4, len(positions)), "Test accuracy against F")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    offset = 0.06
    for ax, model in zip(axes, trained, strict=True):
        mine = [r for r in complete if r["trained"] == model]
        for row in mine:
            if row["strategy"] == "sync":
                ax.axhline(row["accuracy"], color="black", linestyle="--", linewidth=1,
                           label="sync (layered)")
        for i, strategy in enumerate(strategies):
            shift = (i - (len(strategies) - 1) / 2) * offset
            points = sorted((positions[str(r["F"])] + shift, r["accuracy"])
                            for r in mine if r["strategy"] == strategy)
            if points:
                ax.plot(*zip(*points, strict=True), marker=MARKERS[i % len(MARKERS)],
                        color=colors[i % len(colors)], label=strategy, alpha=0.85)
        set_f_ticks(ax, positions, "F (spikes delivered per step)")
        ax.set_ylabel("test accuracy")
        ax.grid(axis="y", alpha=0.3)
    _legend(fig, axes, "executed with")
    return save_figure(fig, path)


def density_per_layer(rows: list[dict[str, Any]], path: Path) -> Path:
    """One panel per trained model: the spike density of each layer (bars side by side) under
    each execution setting."""
    layers = [k for k in rows[0] if k.startswith("spike_density/")]
    trained, settings = _trained(rows), _settings(rows)
    fig, axes = panel_grid(trained, len(settings), "Spike density per layer, per execution "
                           "setting")
    width = 0.8 / max(1, len(layers))
    xs = np.arange(len(settings))
    for ax, model in zip(axes, trained, strict=True):
        mine = {r["label"]: r for r in rows if r["trained"] == model}
        for i, key in enumerate(layers):
            ax.bar(xs + (i - (len(layers) - 1) / 2) * width,
                   [mine[s][key] if s in mine else np.nan for s in settings], width,
                   label=key.split("/", 1)[1])
        ax.set_xticks(xs, settings, rotation=45, ha="right", fontsize=7)
        ax.set_xlabel("executed with")
        ax.set_ylabel("spikes / (neurons x timesteps)")
        ax.grid(axis="y", alpha=0.3)
    _legend(fig, axes, "layer")
    return save_figure(fig, path)


def decision_times(distributions: dict[tuple[str, str], np.ndarray], path: Path) -> Path:
    """One panel per trained model: a box per execution setting of the per-sample decision
    steps (samples with an output spike; box = quartiles, whiskers = 5th-95th percentile)."""
    trained = list(dict.fromkeys(model for model, _ in distributions))
    settings = list(dict.fromkeys(setting for _, setting in distributions))
    fig, axes = panel_grid(trained, len(settings), "Decision time per sample, per execution "
                           "setting")
    for ax, model in zip(axes, trained, strict=True):
        values = [distributions.get((model, s), np.array([])) for s in settings]
        finite = [v[np.isfinite(v)] for v in values]
        ax.boxplot([v if v.size else [np.nan] for v in finite], whis=(5, 95),
                   showfliers=False, widths=0.6)
        ax.set_xticks(np.arange(1, len(settings) + 1), settings, rotation=45, ha="right",
                      fontsize=7)
        ax.set_xlabel("executed with")
        ax.set_ylabel("decision step\n(cumulative forward steps)")
        ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)
