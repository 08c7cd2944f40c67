"""A study's figures (docs/study.md#report): accuracy vs F_eval per training condition with 95%
CI bands, spike density per layer, accuracy against spike density per training condition, and
decision time in spikes processed vs F_eval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .plots import save_figure
from .study_report import estimate

MARKERS = "osD^v<>p"


def _f_axis(records: list[dict[str, Any]]) -> tuple[list[str], dict[str, int]]:
    """F values as evenly spaced positions, ``inf`` last."""
    fs = sorted(
        {r["F"] for r in records if r["strategy"] != "sync"},
        key=lambda f: float("inf") if f == "inf" else int(f),
    )
    return fs, {f: i for i, f in enumerate(fs)}


def _lines(ax, records: list[dict[str, Any]], strategy: str, metric: str, stop: str) -> None:
    fs, position = _f_axis(records)
    trained = list(dict.fromkeys(r["trained"] for r in records))
    for i, name in enumerate(trained):
        xs, means, lows, highs = [], [], [], []
        for f in fs:
            est = estimate(
                r.get(metric)
                for r in records
                if r["trained"] == name
                and r["strategy"] == strategy
                and r["F"] == f
                and r["stop"] == stop
            )
            if est.n:
                half = 0.0 if est.half != est.half else est.half  # NaN: one seed
                xs.append(position[f] + 0.04 * (i - len(trained) / 2))  # offset: no hiding
                means.append(est.mean)
                lows.append(est.mean - half)
                highs.append(est.mean + half)
        (line,) = ax.plot(xs, means, marker=MARKERS[i % len(MARKERS)], label=name)
        ax.fill_between(xs, lows, highs, color=line.get_color(), alpha=0.2)
        sync = estimate(
            r.get(metric) for r in records if r["trained"] == name and r["strategy"] == "sync"
        )
        if sync.n:
            ax.axhline(sync.mean, color=line.get_color(), linestyle=":", linewidth=1)
    ax.set_xticks(range(len(fs)), fs)
    ax.set_xlabel("F at execution")


def _per_strategy(
    records: list[dict[str, Any]],
    metric: str,
    ylabel: str,
    title: str,
    path: Path,
    stop: str = "complete",
) -> Path | None:
    import matplotlib.pyplot as plt

    strategies = [s for s in dict.fromkeys(r["strategy"] for r in records) if s != "sync"]
    if not strategies or not any(r["stop"] == stop for r in records):
        return None
    fig, axes = plt.subplots(
        1, len(strategies), figsize=(3.4 * len(strategies) + 0.6, 3.6), sharey=True, squeeze=False
    )
    for ax, strategy in zip(axes[0], strategies, strict=True):
        _lines(ax, records, strategy, metric, stop)
        ax.set_title(
            f"executed: {strategy}" + ("" if stop == "complete" else f", {stop}"), fontsize=9
        )
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=7, title="trained (dotted: run sync)", title_fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def density_per_layer(records: list[dict[str, Any]], title: str, path: Path) -> Path:
    """Bars: mean spike density of each layer per training condition, executed under sync and
    under the asynchronous setting with the smallest F (first strategy), 95% CI whiskers."""
    import matplotlib.pyplot as plt

    fs, _ = _f_axis(records)
    async_rows = [
        r
        for r in records
        if r["strategy"] != "sync" and r["stop"] == "complete" and fs and r["F"] == fs[0]
    ]
    executed = ["sync"] + ([async_rows[0]["executed"]] if async_rows else [])
    layers = [k for k in records[0] if k.startswith("spike_density/")]  # in layer order
    trained = list(dict.fromkeys(r["trained"] for r in records))
    fig, axes = plt.subplots(
        1, len(executed), figsize=(4.2 * len(executed), 3.6), sharey=True, squeeze=False
    )
    width = 0.8 / len(trained)
    for ax, setting in zip(axes[0], executed, strict=True):
        for i, name in enumerate(trained):
            ests = [
                estimate(
                    r[key] for r in records if r["trained"] == name and r["executed"] == setting
                )
                for key in layers
            ]
            ax.bar(
                [j + i * width for j in range(len(layers))],
                [e.mean for e in ests],
                width,
                yerr=[0 if e.half != e.half else e.half for e in ests],
                capsize=2,
                label=name,
            )
        names = [k.rsplit("/", 1)[1] for k in layers]
        names[-1] = "output"  # records from before the output layer was named so
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(layers))], names)
        ax.set_title(f"executed: {setting}", fontsize=9)
        ax.set_xlabel("layer")
    axes[0][0].set_ylabel("spikes / (neurons x timesteps)")
    axes[0][0].legend(fontsize=7, title="trained", title_fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def trade_off_plot(records: list[dict[str, Any]], title: str, path: Path) -> Path:
    """Accuracy against spike density under asynchronous execution, one point per training
    condition with 95% CI bars in both directions (the activity regularizer's trade-off)."""
    import matplotlib.pyplot as plt

    from .study_summary import trade_off

    points = trade_off(records)
    colors = plt.get_cmap("tab10" if len(points) <= 10 else "tab20").colors
    fig, ax = plt.subplots(figsize=(7.6, 3.8))
    for i, point in enumerate(points):
        if not point.accuracy.n:
            continue
        ax.errorbar(
            point.density.mean,
            point.accuracy.mean,
            xerr=0 if point.density.half != point.density.half else point.density.half,
            yerr=0 if point.accuracy.half != point.accuracy.half else point.accuracy.half,
            marker=MARKERS[i % len(MARKERS)],
            capsize=2,
            linestyle="none",
            color=colors[i % len(colors)],
            label=point.trained,
        )
    ax.set_xlabel("spike density, run async (mean, 95% CI)")
    ax.set_ylabel("test accuracy, run async")
    # Beside the axes: inside, the legend hides points.
    ax.legend(fontsize=7, title="trained", title_fontsize=7, loc="upper left",
              bbox_to_anchor=(1.02, 1.0))
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def study_plots(records: list[dict[str, Any]], factors: str, prefix: Path) -> list[Path]:
    """The three figures of one factor combination (files ``<prefix>_*.png``)."""
    title = "" if factors == "-" else f" ({factors})"
    stops = list(dict.fromkeys(r["stop"] for r in records if r["strategy"] != "sync"))
    made = [
        _per_strategy(
            records,
            "accuracy",
            "test accuracy (mean, 95% CI)",
            f"accuracy vs F{title}",
            Path(f"{prefix}_accuracy_vs_F.png"),
        ),
        density_per_layer(
            records, f"spike density per layer{title}", Path(f"{prefix}_density_per_layer.png")
        ),
    ]
    made.append(
        trade_off_plot(records, f"spikes vs accuracy{title}", Path(f"{prefix}_trade_off.png"))
    )
    for stop in stops:
        made.append(
            _per_strategy(
                records,
                "spikes_before_decision",
                "spikes processed before the decision",
                f"decision time{title}",
                Path(f"{prefix}_decision_{stop}.png"),
                stop=stop,
            )
        )
    return [path for path in made if path is not None]
