"""``asyncsim demo``, the main job: the paper's comparison on the embedded digits task.

Trains a layer-synchronized model and unlayered models (random, momentum, fifo) with the same
network and budget, evaluates every model under every execution strategy at a small and a
large F, prints the comparison (accuracy, spike density, decision time, SynOps), writes the W&B
run (offline unless a key is configured) and HDF5 spike traces, and answers the question: does
asynchronous training lower spike density and decision time, and raise accuracy under
asynchronous execution, relative to the layer-synchronized model run asynchronously?
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from asyncsim.tables import print_table

from .config import make_config
from .evaluation import settings_grid
from .experiment import TrainedModel, evaluate_models, log_traces, report
from .tracking import Tracker
from .trainer import train

TRAINED_UNDER = [("sync", None), ("random", 8), ("momentum", 8), ("fifo", 8)]
EVAL_STRATEGIES = ["sync", "random", "momentum", "fifo"]
EVAL_FS: list[object] = [2, 32]
DEMO_COLUMNS = [("trained", "trained under"), ("label", "evaluated under"),
                ("accuracy", "accuracy"), ("spike_density", "spike density"),
                ("decision_steps", "decision step"), ("spikes_before_decision", "spikes to decide"),
                ("synops", "SynOps"), ("no_output", "no output")]


def run_demo(out_dir: Path, epochs: int, wandb: bool, progress: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    models = []
    for strategy, f in TRAINED_UNDER:
        cfg = make_config({"dataset": "digits", "strategy": strategy, "F": f, "epochs": epochs,
                           "out_dir": str(out_dir), "wandb": wandb, "wandb_group": "demo",
                           "name": f"demo-{strategy}"})
        outcome = train(cfg, progress=progress)
        label = "sync" if strategy == "sync" else f"{strategy} F={f}"
        models.append(TrainedModel(label, cfg, outcome.net))
    settings = settings_grid(EVAL_STRATEGIES, EVAL_FS, ["complete"])
    trace_base = out_dir / "traces" / "demo.h5"
    trace_base.parent.mkdir(parents=True, exist_ok=True)
    rows, decisions = evaluate_models(models, settings, trace=trace_base, progress=progress)
    print_table("asyncsim demo: trained under x evaluated under (digits test split)",
                DEMO_COLUMNS, rows)
    verdict = compare(rows)
    print_table("asynchronous execution (F=2 and F=32, every strategy): async-trained models "
                "relative to the layered model", VERDICT_COLUMNS, verdict)
    tracker = Tracker(enabled=wandb, project="asyncsim", name="demo-eval", run_dir=out_dir,
                      config={"trained_under": TRAINED_UNDER, "eval_fs": EVAL_FS},
                      job_type="eval", group="demo")
    traces = sorted(trace_base.parent.glob("demo_*.h5"))
    images = report(rows, decisions, out_dir / "plots", tracker, raster_trace=traces[0])
    log_traces(tracker, traces)
    tracker.finish()
    seconds = time.perf_counter() - started
    print(f"plots: {', '.join(str(p) for p in images.values())}")
    print(f"traces: {len(traces)} files in {trace_base.parent}")
    if tracker.run_path:
        print(f"W&B ({tracker.mode}) run: {tracker.run_path}")
    print(f"demo took {seconds:.0f} s")
    return {"rows": rows, "verdict": verdict, "seconds": seconds}


VERDICT_COLUMNS = [("metric", "metric"), ("layered", "layered-trained"),
                   ("async", "async-trained (mean)"), ("change", "change")]


def compare(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean of each metric over asynchronous execution settings: the layered model vs the
    asynchronously trained models."""
    run_async = [r for r in rows if r["strategy"] != "sync"]
    out = []
    for metric in ("accuracy", "spike_density", "decision_steps", "synops"):
        layered = float(np.mean([r[metric] for r in run_async if r["trained"] == "sync"]))
        unlayered = float(np.mean([r[metric] for r in run_async if r["trained"] != "sync"]))
        out.append({"metric": metric, "layered": layered, "async": unlayered,
                    "change": f"{(unlayered - layered) / abs(layered):+.1%}" if layered else "-"})
    return out
