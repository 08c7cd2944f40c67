"""A sweep's results: the trial table (parameters -> metrics), the best trial per strategy, and
plots (the metric vs F per strategy; parallel coordinates) to PNG files and to W&B."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from asyncsim.plotting import f_axis, set_f_ticks
from asyncsim.simulate import parse_f
from asyncsim.tables import print_table, print_written

from . import plots
from .config import TrainConfig
from .sweep_study import Sweep, attempt, latest_attempts, load_study, root_number

SHOWN_METRICS = ("test/accuracy", "test/spike_density", "test/decision_steps", "train/loss")


def _f_text(value: Any) -> str:
    f = parse_f(value)
    return "inf" if f is None else str(f)


def _row(sweep: Sweep, trial: FrozenTrial) -> dict[str, Any]:
    spec = sweep.spec
    params = spec.decode(trial.params)
    setting = {**TrainConfig().to_dict(), **sweep.base, **spec.fixed, **params}
    metrics = trial.user_attrs.get("metrics", {})
    row = {"trial": root_number(trial), "state": trial.state.name.lower(),
           "attempts": attempt(trial) + 1, "strategy": setting["strategy"],
           "F": _f_text(setting["F"]),
           **{k: str(v) for k, v in params.items() if k not in ("strategy", "F")},
           spec.metric: metrics.get(spec.metric)}
    row.update({k: metrics.get(k) for k in SHOWN_METRICS if k != spec.metric})
    if "error" in trial.user_attrs:
        row["error"] = trial.user_attrs["error"]
    return row


def trial_rows(sweep: Sweep, storage: BaseStorage, study_id: int) -> list[dict[str, Any]]:
    """One row per planned trial (its last attempt), in trial order."""
    return [_row(sweep, trial) for trial in latest_attempts(storage, study_id)]


def best_per_strategy(sweep: Sweep, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    metric, sign = sweep.spec.metric, 1 if sweep.spec.goal == "maximize" else -1
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["state"] != "complete" or row[metric] is None or math.isnan(row[metric]):
            continue
        current = best.get(row["strategy"])
        if current is None or sign * row[metric] > sign * current[metric]:
            best[row["strategy"]] = row
    return [best[strategy] for strategy in sorted(best)]


def print_report(sweep: Sweep, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Print the trial table and the best per strategy; return the latter."""
    keys = dict.fromkeys(key for row in rows for key in row if key != "error")
    columns = [(key, key) for key in keys]
    print_table(f"sweep {sweep.spec.name}: {sweep.spec.method}, {len(rows)} trials",
                columns, rows)
    failed = [row for row in rows if "error" in row]
    for row in failed:
        print(f"trial {row['trial']} {row['state']} after {row['attempts']} attempt(s): "
              f"{row['error']}")
    best = best_per_strategy(sweep, rows)
    print_table(f"best {sweep.spec.metric} ({sweep.spec.goal}) per strategy", columns, best)
    return best


def metric_vs_f(sweep: Sweep, rows: list[dict[str, Any]], path: Path) -> Path:
    """Completed trials as (F, metric) points per strategy; lines through the best per F."""
    metric, done = sweep.spec.metric, [r for r in rows if r["state"] == "complete"]
    positions, _ = f_axis(r["F"] for r in done if r["strategy"] != "sync")
    pick = max if sweep.spec.goal == "maximize" else min
    fig, ax = plots.plt.subplots(figsize=(6.5, 4))
    for strategy in sorted({r["strategy"] for r in done}):
        mine = [r for r in done if r["strategy"] == strategy]
        if strategy == "sync":
            ax.axhline(pick(r[metric] for r in mine), linestyle="--", label="sync (best)")
            continue
        points = [(positions[r["F"]], r[metric]) for r in mine]
        line = ax.scatter(*zip(*points, strict=True), alpha=0.5)
        xs = sorted({x for x, _ in points})
        ax.plot(xs, [pick(y for x, y in points if x == at) for at in xs],
                color=line.get_facecolor()[0], marker="o", label=strategy)
    set_f_ticks(ax, positions, "F (spikes delivered per forward step)")
    ax.set_ylabel(metric)
    ax.legend(fontsize=7)
    return plots.save_figure(fig, path)


def parallel_coordinates(sweep: Sweep, storage: BaseStorage, path: Path) -> Path:
    """Optuna's parallel-coordinate plot of the completed trials."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = optuna.visualization.matplotlib.plot_parallel_coordinate(
            load_study(sweep, storage), target_name=sweep.spec.metric)
    return plots.save_figure(ax.figure, path)


def write_plots(sweep: Sweep, storage: BaseStorage, rows: list[dict[str, Any]],
                out_dir: Path) -> dict[str, Path]:
    """The PNG files (none without a completed trial; no parallel plot without parameters)."""
    if not any(row["state"] == "complete" for row in rows):
        return {}
    images = {"sweep/metric_vs_F": metric_vs_f(sweep, rows, out_dir / "metric_vs_F.png")}
    if sweep.spec.params:
        images["sweep/parallel_coordinates"] = parallel_coordinates(
            sweep, storage, out_dir / "parallel_coordinates.png")
    return images


def report(sweep: Sweep, storage: BaseStorage, study_id: int, out_dir: Path,
           wandb: bool) -> dict[str, Path]:
    """Print the tables, write the plots, log all of it to a W&B run; return the plot paths."""
    from .tracking import Tracker

    rows = trial_rows(sweep, storage, study_id)
    best = print_report(sweep, rows)
    images = write_plots(sweep, storage, rows, out_dir)
    project = sweep.spec.project or {**TrainConfig().to_dict(), **sweep.base}["wandb_project"]
    tracker = Tracker(enabled=wandb, project=project, name=f"{sweep.spec.name}-report",
                      run_dir=out_dir, config=sweep.marker(), job_type="sweep-report",
                      group=sweep.spec.name)
    tracker.log_table("sweep/trials", rows)
    tracker.log_table("sweep/best_per_strategy", best)
    tracker.log_images(images)
    tracker.finish()
    for path in images.values():
        print_written("plot", path)
    return images


def state_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts

