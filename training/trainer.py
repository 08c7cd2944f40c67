"""The training loop: unlayered backprop (or layered BPTT for ``strategy="sync"``) on a data set,
with progress bars, a checkpoint every epoch, ``resume`` after a kill and the best checkpoint
kept. Everything random derives from the config's seed, so a resumed run continues exactly as
an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from asyncsim.datasets import FrameSet, load_dataset, make_loader
from asyncsim.network import Network
from asyncsim.simulate import simulate
from asyncsim.traces import TraceWriter

from .checkpoint import BEST, LAST, load_checkpoint, save_atomic
from .config import TrainConfig, network_layers
from .evaluation import ExecSetting, evaluate, parse_stop, split_batches
from .losses import LOSS_FUNCTIONS, activity
from .preflight import preflight
from .tracking import Tracker


@dataclass
class TrainOutcome:
    run_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_accuracy: float = -1.0
    net: Network | None = None
    wandb_dir: str | None = None


def load_splits(cfg: TrainConfig) -> tuple[FrameSet, FrameSet]:
    kwargs = {**cfg.binning, **cfg.dataset_options}
    return (load_dataset(cfg.dataset, cfg.data_dir, "train", **kwargs),
            load_dataset(cfg.dataset, cfg.data_dir, "test", **kwargs))


def build_network(cfg: TrainConfig, in_shape: int | tuple[int, int, int],
                  n_classes: int) -> Network:
    """The config's network on an input of ``in_shape`` (``FrameSet.in_shape``: ``(C, H, W)``,
    or ``n_in``) with ``n_classes`` outputs; initialized from the config's seed."""
    gen = torch.Generator().manual_seed(cfg.seed)
    layers = network_layers(cfg, n_classes)
    try:
        return Network([in_shape, *layers], tau=cfg.tau, theta=cfg.theta, dt=cfg.dt,
                       bias=cfg.bias, surrogate=cfg.surrogate,
                       refractory_dropout=cfg.refractory_dropout, readout=cfg.readout,
                       generator=gen)
    except ValueError as err:
        if cfg.arch is None or not str(err).startswith(("sizes", "link")):
            raise
        shape = (in_shape, 1, 1) if isinstance(in_shape, int) else tuple(in_shape)
        raise ValueError(f"arch: {cfg.arch!r} does not fit the {cfg.dataset} input of shape "
                         f"(C, H, W) = {shape}: {err}") from None


def config_changes(saved: dict[str, Any], cfg: TrainConfig) -> str:
    """The keys whose value in ``cfg`` differs from the ``saved`` config, with both values."""
    current = cfg.to_dict()
    changed = [f"{key} {saved.get(key)!r} in the checkpoint, {current[key]!r} now"
               for key in current if key in saved and saved[key] != current[key]]
    return ("keys that differ from the checkpoint's config: " + "; ".join(changed) if changed
            else "the checkpoint does not match its own config")


def _optimizer(cfg: TrainConfig, net: Network):
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9,
                              weight_decay=cfg.weight_decay)
    if cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    elif cfg.schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg.epochs // 3), gamma=0.3)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched


def batch_seed(cfg: TrainConfig, epoch: int, first_sample: int, n_train: int) -> int:
    """Seed of a training batch: each sample of each epoch gets its own scheduling stream."""
    return ((cfg.seed * 1009 + epoch) * n_train + first_sample) % 2**32


EpochHook = Callable[[int, dict[str, Any]], None]
TRACE = "trace_test.h5"


def _train_epoch(cfg: TrainConfig, net: Network, opt: torch.optim.Optimizer,
                 train_set: FrameSet, epoch: int, progress: bool) -> dict[str, float]:
    """One pass over the shuffled training split; the epoch's mean loss and accuracy."""
    net.train()
    loss_fn = LOSS_FUNCTIONS[cfg.loss]
    stop = parse_stop(cfg.train_stop)
    loader = make_loader(train_set, cfg.batch_size, shuffle=True, seed=cfg.seed * 1009 + epoch)
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(loader, desc=f"{cfg.run_name} epoch {epoch + 1}/{cfg.epochs}", unit="batch",
               disable=not progress, leave=False)
    device = net.weights[0].device
    for x, y in bar:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        res = simulate(net, x, strategy=cfg.strategy, F=cfg.f, lam=cfg.lam, grad=cfg.grad,
                       backend=cfg.backend, seed=batch_seed(cfg, epoch, seen, len(train_set)),
                       **stop)
        loss = loss_fn(res, y)
        if cfg.activity_reg:
            loss = loss + cfg.activity_reg * activity(res)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total_loss += loss.item() * len(y)
        correct += int((res.logits.detach().argmax(dim=1) == y).sum())
        seen += len(y)
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
    return {"train/loss": total_loss / seen, "train/accuracy": correct / seen}


def _test_epoch(cfg: TrainConfig, net: Network, test_set: FrameSet,
                trace: Path | None) -> dict[str, float]:
    """Test metrics under the training setting, streamed to ``trace`` when given."""
    with contextlib.ExitStack() as stack:
        sink = None
        if trace is not None:
            meta = {"config": cfg.to_dict(), "split": "test", "dataset": cfg.dataset}
            sink = stack.enter_context(TraceWriter(trace, net, cfg.dt, test_set.n_steps, meta,
                                                   overwrite=True))
        setting = ExecSetting(cfg.strategy, cfg.f, cfg.train_stop)
        summary, _ = evaluate(net, split_batches(test_set), setting, seed=cfg.seed,
                              backend=cfg.backend, sink=sink)
    return {f"test/{key}": value for key, value in summary.items()}


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True,
          on_epoch: EpochHook | None = None) -> TrainOutcome:
    """Train per ``cfg`` into ``cfg.run_dir``; with ``resume``, continue from its checkpoint.

    ``on_epoch(epoch, record)`` runs after each epoch's checkpoint (sweeps report and prune
    there). With ``cfg.trace``, the last epoch's test evaluation is streamed to ``trace_test.h5``.
    """
    preflight(cfg)
    train_set, test_set = load_splits(cfg)
    net = build_network(cfg, train_set.in_shape, train_set.n_classes).to(cfg.torch_device)
    opt, sched = _optimizer(cfg, net)
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    outcome = TrainOutcome(run_dir=run_dir, net=net)
    start_epoch = 0
    if resume and (run_dir / LAST).exists():
        state = load_checkpoint(run_dir / LAST)
        try:
            net.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            outcome.history, outcome.best_accuracy = state["history"], state["best_accuracy"]
            start_epoch = state["epoch"] + 1
        except (KeyError, RuntimeError, TypeError, ValueError) as err:
            raise ValueError(f"resume: {run_dir / LAST} does not fit this config: "
                             f"{config_changes(state['config'], cfg)}") from err
    tracker = Tracker(enabled=cfg.wandb, project=cfg.wandb_project, name=cfg.run_name,
                      run_dir=run_dir, config=cfg.to_dict(), job_type="train",
                      group=cfg.wandb_group)
    outcome.wandb_dir = tracker.run_path
    try:
        for epoch in range(start_epoch, cfg.epochs):
            started = time.perf_counter()
            record = {"epoch": epoch + 1, **_train_epoch(cfg, net, opt, train_set, epoch, progress)}
            sched.step()
            last = epoch == cfg.epochs - 1
            record.update(_test_epoch(cfg, net, test_set, run_dir / TRACE if cfg.trace and last
                                      else None))
            record["seconds"] = time.perf_counter() - started
            outcome.history.append(record)
            tracker.log(record, step=epoch + 1)
            state = {"model": net.state_dict(), "optimizer": opt.state_dict(),
                     "scheduler": sched.state_dict(), "epoch": epoch, "config": cfg.to_dict(),
                     "history": outcome.history, "best_accuracy": outcome.best_accuracy}
            if record["test/accuracy"] > outcome.best_accuracy:
                outcome.best_accuracy = state["best_accuracy"] = record["test/accuracy"]
                save_atomic(state, run_dir / BEST)
            save_atomic(state, run_dir / LAST)
            if progress:
                tqdm.write(f"{cfg.run_name} epoch {epoch + 1}: loss {record['train/loss']:.4f}, "
                           f"train acc {record['train/accuracy']:.3f}, "
                           f"test acc {record['test/accuracy']:.3f}")
            if on_epoch is not None:
                on_epoch(epoch + 1, record)
        if cfg.trace and (run_dir / TRACE).exists():
            tracker.log_artifact(run_dir / TRACE, name=f"trace-{cfg.run_name}",
                                 kind="spike-trace")
    finally:
        tracker.finish()
    return outcome
