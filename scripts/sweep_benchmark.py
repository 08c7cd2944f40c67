"""Sweep throughput (benchmarks/RESULTS.md, "Sweeps"): trials per hour of a small grid sweep with
1 and 2 local workers, and the storage overhead per trial (the whole trial life cycle in the
SQLite study - claim, suggest, per-epoch reports, heartbeat, tell - with training stubbed out).

    python scripts/sweep_benchmark.py [--out /tmp/sweep-bench]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from asyncsim.training import trainer
from asyncsim.training.sweep_spec import parse_sweep
from asyncsim.training.sweep_study import Sweep, make_storage, open_study
from asyncsim.training.sweep_worker import WORKER_ENTRY, WorkerOptions, work

SMALL = {"method": "grid", "metric": {"name": "test/accuracy", "goal": "maximize"},
         "parameters": {"strategy": {"values": ["random", "momentum", "fifo"]},
                        "F": {"values": [8, 64]}, "hidden": {"value": [32]},
                        "epochs": {"value": 1}}}


def timed_sweep(folder: Path, workers: int) -> float:
    """Wall seconds of ``asyncsim sweep run`` (process start to exit) on a fresh folder."""
    path = folder / f"small-{workers}.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "name": f"small-{workers}"}))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", WORKER_ENTRY, "sweep", "run", str(path), "--dir",
                    str(folder / f"w{workers}"), "--workers", str(workers), "--no-wandb",
                    "--quiet"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "WANDB_MODE": "disabled"})
    return time.perf_counter() - started


def stub_train(cfg, resume=False, progress=True, on_epoch=None):  # noqa: ARG001
    """No training: two epochs of reports, as the sweep sees them."""
    history = [{"epoch": e, "test/accuracy": 0.5, "train/loss": 1.0} for e in (1, 2)]
    for record in history:
        on_epoch(record["epoch"], record)
    return trainer.TrainOutcome(run_dir=cfg.run_dir, history=history)


def storage_overhead(folder: Path, n_trials: int = 100) -> float:
    """Seconds per trial spent in the study with training stubbed out."""
    raw = {"name": "overhead", "method": "grid",
           "parameters": {"seed": {"values": list(range(n_trials))}, "wandb": {"value": False}}}
    sweep = Sweep(parse_sweep(raw, "overhead", {}), {}, 0)
    storage = make_storage(f"sqlite:///{folder / 'overhead.db'}", heartbeat_s=10)
    study_id = open_study(sweep, storage)
    trainer.train = stub_train
    started = time.perf_counter()
    work(sweep, storage, study_id, WorkerOptions(folder / "overhead", "", 10, 0, wandb=False))
    return (time.perf_counter() - started) / n_trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", help="work folder (default: a temporary one)")
    args = parser.parse_args()
    folder = Path(args.out or tempfile.mkdtemp(prefix="sweep-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    n = len(SMALL["parameters"]["strategy"]["values"]) * len(SMALL["parameters"]["F"]["values"])
    for workers in (1, 2):
        seconds = timed_sweep(folder, workers)
        print(f"{workers} worker(s): {n} trials in {seconds:.1f} s = "
              f"{3600 * n / seconds:.0f} trials/hour")
    print(f"storage overhead: {1000 * storage_overhead(folder):.1f} ms per trial (SQLite)")


if __name__ == "__main__":
    main()
