"""``asyncsim demo``: the same network run layered and asynchronously, side by side.

A fixed random network on random event frames, simulated with the layered model and with each
scheduling strategy at several F. It prints what asynchrony changes: spike density, forward
steps, synaptic events, output latency and how often the prediction still matches the layered
model's. (The training demo of the experiment issue replaces this.)
"""

from __future__ import annotations

import time

import torch
from tqdm import tqdm

from .metrics import sample_metrics, summarize
from .network import Network
from .simulate import simulate
from .tables import print_table

DEMO_SIZES = [100, 64, 64, 10]
DEMO_FS: list[int | None] = [1, 4, 16, None]


def run_demo(batch: int = 64, steps: int = 20, rate: float = 0.1, seed: int = 0) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    net = Network(DEMO_SIZES, tau=20.0, theta=1.0, generator=gen)
    net.requires_grad_(False)
    x = (torch.rand(steps, batch, DEMO_SIZES[0], generator=gen) < rate).float()
    runs = [("sync", None)] + [(s, f) for s in ("random", "momentum", "fifo") for f in DEMO_FS]
    rows, layered_pred = [], None
    for strategy, f in tqdm(runs, desc="simulating", unit="run"):
        start = time.perf_counter()
        res = simulate(net, x, strategy=strategy, F=f, seed=seed, record=True)
        elapsed = time.perf_counter() - start
        per_sample = sample_metrics(res)
        if layered_pred is None:
            layered_pred = per_sample["prediction"]
        summary = summarize(per_sample)
        summary["agreement"] = float((per_sample["prediction"] == layered_pred).float().mean())
        rows.append({"strategy": strategy, "F": "inf" if f is None else f,
                     "seconds": elapsed, **summary})
    return rows


DEMO_COLUMNS = [("strategy", "strategy"), ("F", "F"), ("spike_density", "density"),
                ("forward_steps", "fwd steps"), ("synops", "SynOps"),
                ("steps_to_first_output", "1st output step"),
                ("decision_steps", "decision step"), ("agreement", "= layered prediction"),
                ("seconds", "seconds")]


def print_demo(rows: list[dict]) -> None:
    print_table(f"asyncsim demo: network {DEMO_SIZES}, same input for every run (per-sample "
                "means)", DEMO_COLUMNS, rows)
