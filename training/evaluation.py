"""Evaluation of a trained network under execution settings (strategy x F x stopping mode).

Every metric is computed per sample and averaged (docs/semantics.md#metrics). Sample i
of a split is always simulated with seed ``seed + i``, whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F  # noqa: N812
from tqdm import tqdm

from asyncsim.datasets import FrameSet, make_loader
from asyncsim.metrics import predict, sample_metrics, summarize
from asyncsim.network import Network
from asyncsim.result import SimResult
from asyncsim.simulate import parse_f, simulate
from asyncsim.strategies import get_strategy

STOP_MODES_HELP = ("complete (run every timestep out), output (end a timestep at its first "
                   "output spike), output+K (K steps after it), budget:M (at most M steps)")


Batch = tuple[torch.Tensor, torch.Tensor]


class SpikeSink(Protocol):
    def append(self, result: SimResult, labels: torch.Tensor | None = None,
               predictions: torch.Tensor | None = None) -> None: ...


@dataclass(frozen=True)
class ExecSetting:
    """How a network is run at evaluation time."""

    strategy: str
    f: int | None
    stop: str = "complete"

    @property
    def f_text(self) -> str:
        return "inf" if self.f is None else str(self.f)

    @property
    def label(self) -> str:
        if self.strategy == "sync":
            return "sync"
        stop = "" if self.stop == "complete" else f" {self.stop}"
        return f"{self.strategy} F={self.f_text}{stop}"

    def simulate_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {"strategy": self.strategy}
        if self.strategy != "sync":
            kwargs.update(F=self.f, **parse_stop(self.stop))
        return kwargs


def parse_stop(stop: str) -> dict[str, int]:
    """``simulate`` keywords of a stopping mode (see ``STOP_MODES_HELP``)."""
    try:
        if stop == "complete":
            return {}
        if stop == "output":
            return {"stop_on_output": 0}
        if stop.startswith("output+"):
            return {"stop_on_output": int(stop[len("output+"):])}
        if stop.startswith("budget:"):
            return {"max_steps": int(stop[len("budget:"):])}
    except ValueError:
        pass
    raise ValueError(f"stop: unknown mode {stop!r}; modes: {STOP_MODES_HELP}")


def settings_grid(strategies: list[str], fs: list[object], stops: list[str]) -> list[ExecSetting]:
    """Every strategy x F x stop; ``sync`` once (it has neither F nor stops)."""
    for stop in stops:
        parse_stop(stop)
    grid = []
    for strategy in strategies:
        get_strategy(strategy)
        if strategy == "sync":
            grid.append(ExecSetting("sync", None))
            continue
        grid += [ExecSetting(strategy, parse_f(f), stop) for f in fs for stop in stops]
    return grid


def split_batches(frames: FrameSet, batch_size: int = 128) -> Iterator[Batch]:
    """A split's samples in order, in batches padded to its longest sample: the whole split is
    never densified at once (a published test split does not fit in memory that way)."""
    for x, labels in make_loader(frames, batch_size):
        yield F.pad(x, (0, 0, 0, 0, 0, frames.n_steps - x.shape[0])), labels


@torch.no_grad()
def evaluate(net: Network, batches: Iterable[Batch], setting: ExecSetting, *, seed: int = 0,
             backend: str = "auto", sink: SpikeSink | None = None, progress: bool = False,
             desc: str | None = None, total: int | None = None
             ) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Run ``(x [T, B, n_in], labels [B])`` batches under ``setting``: the summary and the
    per-sample metrics. The progress bar is named ``desc`` (default: the setting) and counts
    up to ``total`` batches when given."""
    was_training = net.training
    net.eval()
    per_sample: dict[str, list[torch.Tensor]] = {}
    start = 0
    device = net.weights[0].device
    for xb, yb in tqdm(batches, desc=desc or setting.label, total=total, unit="batch",
                       disable=not progress, leave=False):
        res = simulate(net, xb.to(device, non_blocking=True), seed=seed + start,
                       backend=backend, record=True, **setting.simulate_kwargs())
        for key, values in sample_metrics(res, yb.to(device)).items():
            per_sample.setdefault(key, []).append(values.cpu())
        if sink is not None:
            sink.append(res, labels=yb, predictions=predict(res))
        start += len(yb)
    net.train(was_training)
    merged = {key: torch.cat(parts) for key, parts in per_sample.items()}
    return summarize(merged), merged
