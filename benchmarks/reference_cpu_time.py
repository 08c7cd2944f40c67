"""CPU time of the reference backend on the standard shape, for a machine shared with other work.

``python benchmarks/reference_cpu_time.py F [F ...] [--repeats N] [--grad RULE]`` prints one
JSON line per run: 784-256-256-10, B = 64, T = 10, 5% Bernoulli input, random strategy, one
torch thread; ``forward`` (no graph) and ``backward`` (forward + ``counts.sum().backward()``),
with wall-clock and process CPU seconds. ``asyncsim bench`` times by wall clock, which other
processes on a busy machine inflate; the process's CPU time is the steadier figure there. Run
it with ``PYTHONPATH`` at the tree to measure. Figures are recorded in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import asyncsim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("F", nargs="+", type=int)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grad", default="surrogate")
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    net = asyncsim.Network([784, 256, 256, 10], generator=gen)
    x = (torch.rand(10, 64, 784, generator=gen) < 0.05).float()
    for f in args.F:
        for mode in ("forward", "backward"):
            for repeat in range(args.repeats):
                wall, cpu = time.perf_counter(), time.process_time()
                with torch.set_grad_enabled(mode == "backward"):
                    res = asyncsim.simulate(
                        net,
                        x,
                        strategy="random",
                        F=f,
                        seed=repeat,
                        backend="reference",
                        grad=args.grad,
                    )
                    if mode == "backward":
                        res.counts.sum().backward()
                print(
                    json.dumps(
                        {
                            "F": f,
                            "mode": mode,
                            "repeat": repeat,
                            "wall_s": round(time.perf_counter() - wall, 3),
                            "cpu_s": round(time.process_time() - cpu, 3),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
