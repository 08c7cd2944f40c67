"""Time one training epoch of unlayered backprop on the embedded digits (reference backend).

``python benchmarks/training_epoch.py F [F ...] [--grad RULE] [--repeats N]`` prints one JSON
line per epoch: hidden [64, 64, 64], tau = 0.5, dt = 1, ``count_ce``, random strategy, batch
64, one torch thread; wall-clock seconds and the process's CPU seconds (the machine may be
shared: CPU time is the steadier figure). Run it with ``PYTHONPATH`` at the tree to measure.
Figures are recorded in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from asyncsim.training.config import make_config
from asyncsim.training.trainer import _optimizer, _train_epoch, build_network, load_splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("F", nargs="+", type=int)
    parser.add_argument("--grad", default="surrogate")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for f in args.F:
        cfg = make_config(
            {
                "dataset": "digits",
                "hidden": [64, 64, 64],
                "tau": 0.5,
                "strategy": "random",
                "F": f,
                "grad": args.grad,
                "epochs": 1,
                "backend": "reference",
                "wandb": False,
            }
        )
        train_set, _ = load_splits(cfg)
        for repeat in range(args.repeats):
            net = build_network(cfg, train_set.in_shape, train_set.n_classes)
            opt, _ = _optimizer(cfg, net)
            wall, cpu = time.perf_counter(), time.process_time()
            stats = _train_epoch(cfg, net, opt, train_set, 0, progress=False)
            print(
                json.dumps(
                    {
                        "F": f,
                        "grad": args.grad,
                        "repeat": repeat,
                        "wall_s": round(time.perf_counter() - wall, 2),
                        "cpu_s": round(time.process_time() - cpu, 2),
                        "train_loss": round(stats["train/loss"], 4),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
