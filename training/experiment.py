"""Evaluation experiments: checkpoints x execution settings, the cross-evaluation table,
plots, spike traces and W&B logging (``asyncsim eval`` and the demo)."""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from asyncsim.network import Network
from asyncsim.traces import TraceWriter, load, plot_raster

from . import plots
from .checkpoint import load_checkpoint
from .config import TrainConfig, make_config
from .evaluation import ExecSetting, evaluate, split_batches
from .preflight import logged_metrics
from .tracking import Tracker
from .trainer import build_network, load_splits


@dataclass
class TrainedModel:
    """A network restored from a checkpoint, with the config it was trained under."""

    label: str
    config: TrainConfig
    net: Network


def load_model(path: str | Path, dataset: str | None = None, dt: float | None = None
               ) -> TrainedModel:
    """A checkpoint's network, ready to run here; errors name the file. A ``.nir`` file goes
    through asyncsim/nir_cli.py (``dataset`` and ``dt`` for one from another framework)."""
    if Path(path).suffix == ".nir":
        from asyncsim.nir_cli import load_nir_model

        return load_nir_model(path, dataset, dt)
    state = load_checkpoint(path)
    try:
        cfg = make_config(state["config"])
        train_set, _ = load_splits(cfg)
        net = build_network(cfg, train_set.in_shape, train_set.n_classes)
        net.load_state_dict(state["model"])  # RuntimeError: weights that do not fit
        logged_metrics(cfg, net)  # fails here, not after the work, if the backend cannot run
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"checkpoint {path}: {err}") from None
    label = "sync" if cfg.strategy == "sync" else f"{cfg.strategy} F={cfg.F}"
    return TrainedModel(label, cfg, net)


def _slug(text: str) -> str:
    """``text`` in the characters that file names and W&B artifact names both allow."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")


def trace_path(base: Path, model: TrainedModel, setting: ExecSetting, single: bool) -> Path:
    """``base`` itself for a single run, else one file per (model, setting) beside it."""
    if single:
        return base
    return base.with_name(f"{base.stem}_{_slug(model.label)}_{_slug(setting.label)}.h5")


Decisions = dict[tuple[str, str], np.ndarray]


def evaluate_models(models: list[TrainedModel], settings: list[ExecSetting], *,
                    split: str = "test", batch_size: int = 128, trace: Path | None = None,
                    progress: bool = True) -> tuple[list[dict[str, Any]], Decisions]:
    """Every model under every setting: one row of metrics per pair, and the decision steps
    of each pair ``(trained, setting label)`` (for their distribution plot). Traces are
    streamed when ``trace`` is given. Progress: a bar over the pairs, and one over the
    batches of the pair that runs, named by its model and setting."""
    rows, decisions = [], {}
    single = len(models) * len(settings) == 1
    overall = tqdm(total=len(models) * len(settings), desc="evaluation", unit="run",
                   disable=not progress)
    for model in models:
        train_set, test_set = load_splits(model.config)
        frames = test_set if split == "test" else train_set
        for setting in settings:
            name = f"{model.label} | {setting.label}"
            overall.set_postfix_str(name)
            with contextlib.ExitStack() as stack:
                sink = None
                if trace is not None:
                    meta = {"config": model.config.to_dict(), "trained": model.label,
                            "strategy": setting.strategy, "stop": setting.stop,
                            "dataset": model.config.dataset, "split": split,
                            "seed": model.config.seed}
                    if setting.strategy != "sync":  # the layered model has no F
                        meta["F"] = float("inf") if setting.f is None else setting.f
                    sink = stack.enter_context(TraceWriter(
                        trace_path(trace, model, setting, single), model.net, model.net.dt,
                        frames.n_steps, meta, overwrite=True))
                summary, per_sample = evaluate(
                    model.net, split_batches(frames, batch_size), setting,
                    seed=model.config.seed, backend=model.config.backend, sink=sink,
                    progress=progress, desc=name, total=math.ceil(len(frames) / batch_size))
            rows.append({"trained": model.label, "label": setting.label,
                         "strategy": setting.strategy, "F": setting.f_text, "stop": setting.stop,
                         **summary})
            decisions[model.label, setting.label] = per_sample["decision_steps"].numpy()
            overall.update()
    overall.close()
    return rows, decisions


def pivot(rows: list[dict[str, Any]], down: str, across: str, metric: str, corner: str
          ) -> list[dict[str, Any]]:
    """``metric`` with one row per value of ``rows[i][down]`` (named ``corner``) and one column
    per value of ``rows[i][across]``."""
    table: dict[str, dict[str, Any]] = {}
    for row in rows:
        table.setdefault(row[down], {corner: row[down]})[row[across]] = row[metric]
    return list(table.values())


def cross_table(rows: list[dict[str, Any]], metric: str = "accuracy") -> list[dict[str, Any]]:
    """Pivot: one row per trained model, one column per execution setting."""
    return pivot(rows, "trained", "label", metric, "trained under")


def settings_table(rows: list[dict[str, Any]], metric: str = "accuracy") -> list[dict[str, Any]]:
    """Pivot: one row per execution setting, one column per trained model; narrow however
    many settings ran (the console's form of ``cross_table``)."""
    return pivot(rows, "label", "trained", metric, "executed with")


def report(rows: list[dict[str, Any]], decisions: Decisions, out_dir: Path, tracker: Tracker,
           raster_trace: Path | None = None) -> dict[str, Path]:
    """Write the plots (with a spike raster of the first samples of ``raster_trace``), log
    them and the tables to W&B; return the plot paths."""
    images = {
        "plots/accuracy_vs_F": plots.accuracy_vs_f(rows, out_dir / "accuracy_vs_F.png"),
        "plots/spike_density_per_layer": plots.density_per_layer(
            rows, out_dir / "spike_density_per_layer.png"),
        "plots/decision_times": plots.decision_times(decisions, out_dir / "decision_times.png"),
    }
    if raster_trace is not None:
        images["plots/spike_raster"] = plot_raster(load(raster_trace, sample=[0, 1]),
                                                   out_dir / "spike_raster.png", samples=[0, 1])
    tracker.log_table("eval/metrics", rows)
    tracker.log_table("eval/cross_accuracy", cross_table(rows))
    tracker.log_images(images)
    return images


def log_traces(tracker: Tracker, paths: list[Path]) -> None:
    for path in paths:
        tracker.log_artifact(path, name=f"trace-{_slug(path.stem)}", kind="spike-trace")
