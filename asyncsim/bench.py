"""Throughput profile of a backend (``asyncsim bench``); figures go to benchmarks/RESULTS.md.

One configuration = network shape, batch, T, strategy, F, input rate, mode (forward or
forward+backward) and backend. Each is timed over repeats after warm-up runs, with the device
synchronized, and reported with the work it did: forward steps, delivered spikes and synaptic
events per second.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch

from .network import Network
from .simulate import parse_f, simulate


@dataclass(frozen=True)
class BenchConfig:
    sizes: tuple[int, ...]
    batch: int
    steps: int
    strategy: str
    f: int | None
    mode: str  # "forward" or "backward" (forward + backward)
    backend: str = "reference"
    rate: float = 0.05
    device: str = "cpu"
    seed: int = 0


def make_network(cfg: BenchConfig) -> Network:
    gen = torch.Generator().manual_seed(cfg.seed)
    return Network(list(cfg.sizes), generator=gen).to(cfg.device)


def make_input(cfg: BenchConfig) -> torch.Tensor:
    """Bernoulli event frames with ``rate`` active channels per bin."""
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    x = torch.rand(cfg.steps, cfg.batch, cfg.sizes[0], generator=gen) < cfg.rate
    return x.float().to(cfg.device)


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_config(cfg: BenchConfig, net: Network, x: torch.Tensor):
    """One timed unit of work: a simulation, plus its backward pass in ``backward`` mode."""
    backward = cfg.mode == "backward"
    net.requires_grad_(backward)
    with torch.set_grad_enabled(backward):
        res = simulate(net, x, strategy=cfg.strategy, F=cfg.f, backend=cfg.backend)
        if backward:
            res.counts.sum().backward()
    return res


def measure(cfg: BenchConfig, repeats: int = 3, warmup: int = 1) -> dict[str, object]:
    """Time ``cfg``: median and spread of ms per batch, and the work rates."""
    net, x = make_network(cfg), make_input(cfg)
    for _ in range(warmup):
        run_config(cfg, net, x)
    times = []
    for _ in range(repeats):
        _synchronize(cfg.device)
        start = time.perf_counter()
        res = run_config(cfg, net, x)
        _synchronize(cfg.device)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    steps = int(res.forward_steps.sum())
    spikes = int(res.emitted.sum())
    synops = int(res.synops.sum())
    return {
        **asdict(cfg),
        "f": "inf" if cfg.f is None else cfg.f,
        "ms_median": seconds * 1e3,
        "ms_min": min(times) * 1e3,
        "ms_max": max(times) * 1e3,
        "forward_steps": steps,
        "spikes": spikes,
        "synops": synops,
        "steps_per_s": steps / seconds,
        "spikes_per_s": spikes / seconds,
        "synops_per_s": synops / seconds,
    }


def grid(sizes: tuple[int, ...], batch: int, steps: int, strategies: Iterable[str],
         fs: Iterable[str], modes: Iterable[str], **common) -> list[BenchConfig]:
    """Every combination of strategy x F x mode."""
    return [BenchConfig(sizes, batch, steps, strategy, parse_f(f), mode, **common)
            for strategy, f, mode in itertools.product(strategies, fs, modes)]


BENCH_COLUMNS = [("strategy", "strategy"), ("f", "F"), ("mode", "mode"),
                 ("ms_median", "ms/batch"), ("ms_min", "min"), ("ms_max", "max"),
                 ("forward_steps", "fwd steps"), ("steps_per_s", "steps/s"),
                 ("spikes_per_s", "spikes/s"), ("synops_per_s", "SynOps/s")]
