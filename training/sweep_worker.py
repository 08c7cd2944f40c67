"""Sweep workers: claim queued trials, train each into its own run folder, report every epoch
to Optuna (pruning), and keep a heartbeat so that a dead worker's trial is retried.

A retry trains into the same run folder and resumes from its checkpoint. ``launch`` starts N
worker processes on this machine, one GPU each when there are several.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, Trial, TrialState

from .sweep_study import Sweep, attempt, claim, load_study, reap, requeue_callback, root_number

WORKER_ENTRY = "import sys; from asyncsim.cli import main; sys.exit(main())"


@dataclass(frozen=True)
class WorkerOptions:
    sweep_dir: Path
    storage_url: str
    heartbeat_s: int
    max_retries: int
    wandb: bool = True
    progress: bool = False


@contextmanager
def heartbeat(storage: BaseStorage, trial_id: int, interval_s: int) -> Iterator[None]:
    """Record the trial's heartbeat every ``interval_s`` seconds while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval_s):
            storage.record_heartbeat(trial_id)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if isinstance(v, (int, float, str, bool))}


def _metric_value(record: dict[str, Any], metric: str) -> float:
    if metric not in record:
        raise ValueError(f"sweep metric.name: {metric!r} is not logged; logged metrics: "
                         f"{sorted(record)}")
    return float(record[metric])


def _train_trial(sweep: Sweep, trial: Trial, frozen: FrozenTrial, opts: WorkerOptions) -> float:
    """Train one trial; report (and maybe prune) after every epoch; return the final metric."""
    from .trainer import train

    spec = sweep.spec
    params = {p.name: p.suggest(trial) for p in spec.params}
    overrides = {} if opts.wandb else {"wandb": False}
    cfg = spec.trial_config(sweep.base, params, opts.sweep_dir / "trials",
                            f"trial-{root_number(frozen):04d}", **overrides)
    trial.set_user_attr("run_dir", str(cfg.run_dir))

    def on_epoch(epoch: int, record: dict[str, Any]) -> None:
        trial.report(_metric_value(record, spec.metric), epoch)
        trial.set_user_attr("metrics", _plain(record))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch}")

    outcome = train(cfg, resume=frozen.number != root_number(frozen),
                    progress=opts.progress, on_epoch=on_epoch)
    final = outcome.history[-1]
    trial.set_user_attr("metrics", _plain(final))
    return _metric_value(final, spec.metric)


def run_trial(sweep: Sweep, storage: BaseStorage, frozen: FrozenTrial,
              opts: WorkerOptions) -> TrialState:
    """Run a claimed trial to its end state. A ``ValueError`` (a configuration or data error,
    e.g. a data folder gone since the sweep started) fails the trial for good; any other crash
    is recorded and the trial requeued."""
    study = load_study(sweep, storage, frozen.number)
    trial = Trial(study, frozen._trial_id)
    with heartbeat(storage, frozen._trial_id, opts.heartbeat_s):
        try:
            value = _train_trial(sweep, trial, frozen, opts)
        except optuna.TrialPruned:
            return study.tell(trial, state=TrialState.PRUNED).state
        except ValueError as err:  # bad configuration or data: a retry would fail the same way
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            return study.tell(trial, state=TrialState.FAIL).state
        except Exception as err:  # noqa: BLE001 - any other crash of a trial is retried
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            failed = study.tell(trial, state=TrialState.FAIL)
            requeue_callback(opts.max_retries)(study, failed)
            return failed.state
    return study.tell(trial, value).state


def _describe(sweep: Sweep, frozen: FrozenTrial, state: TrialState) -> str:
    params = sweep.spec.decode(frozen.params)
    error = frozen.user_attrs.get("error") if state == TrialState.FAIL else None
    return (f"trial {root_number(frozen)} (attempt {attempt(frozen) + 1}, Optuna trial "
            f"{frozen.number}): {state.name.lower()} {params}" + (f": {error}" if error else ""))


def work(sweep: Sweep, storage: BaseStorage, study_id: int, opts: WorkerOptions) -> int:
    """Run queued trials until none is queued or running; return how many this worker ran.

    While others still run trials, the worker waits: should one of them die, its trial goes
    stale, is requeued, and this worker picks it up.
    """
    reaper = load_study(sweep, storage)
    done = 0
    while True:
        reap(reaper)
        frozen = claim(storage, study_id)
        if frozen is not None:
            state = run_trial(sweep, storage, frozen, opts)
            print(_describe(sweep, storage.get_trial(frozen._trial_id), state), flush=True)
            done += 1
            continue
        if not storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            return done
        time.sleep(opts.heartbeat_s)


def visible_gpus() -> list[str]:
    """GPU ids a worker may be pinned to ($CUDA_VISIBLE_DEVICES, else every device)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu for gpu in listed.split(",") if gpu.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def launch(worker_args: list[str], n_workers: int, threads: int) -> int:
    """Start ``n_workers`` ``asyncsim sweep worker`` processes; wait; return the worst status
    (``worst_status``).

    With several GPUs, worker i sees only GPU ``i mod n_gpus``."""
    gpus = visible_gpus()
    procs = []
    for index in range(n_workers):
        env = dict(os.environ)
        if len(gpus) > 1:
            env["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
        command = [sys.executable, "-c", WORKER_ENTRY, "--threads", str(threads), "sweep",
                   "worker", *worker_args]
        procs.append(subprocess.Popen(command, env=env))
    codes = [proc.wait() for proc in procs]
    for index, code in enumerate(codes):
        if code < 0:
            print(f"sweep: worker {index} was killed by {signal.Signals(-code).name}",
                  file=sys.stderr)
    return worst_status(codes)


def worst_status(codes: list[int]) -> int:
    """The exit status of a group of workers: 0 only if each exited 0, else the largest, a
    worker killed by signal N counting as 128 + N (the shell's convention)."""
    return max(128 - code if code < 0 else code for code in codes)
