"""Time the event-loop kernels under other launch constants than ``step_constants`` picks.

On a GPU only (``triton.testing.do_bench``). For each network and variant (overrides of
``StepConstants``: warps, the propagation's target window ``block_t`` and sources per tile
``block_ts``; ``block_t`` = ``BLOCK_N`` is the former tile over every lane), times the forward
launch and forward + backward at F = 8 on the workload of ``asyncsim bench`` (the same network
init and input), so the defaults of ``kernels.forward.step_constants`` can be chosen from
measurements (docs/kernels.md#resources: registers and spills of each variant come from
scripts/kernel_resources.py). The last row of each network times the forward on the chunked
kernel (kernels/chunked.py, state in global memory, its own launch constants; no backward),
which compiles without spills where the register kernel spills (the conv shape): whether it is
faster there decides where ``MAX_NEURONS`` should stand.

    python scripts/tune_launch.py            # the standard dense shape and the conv N-MNIST one
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import sys

import torch
import triton.testing

import asyncsim.kernels.backward as backward
import asyncsim.kernels.forward as forward
from asyncsim.bench import expand_grid, make_workload, run_once

NETWORKS = {
    "dense": ({"sizes": [2312, 256, 256, 10]},
              [{}, {"block_ts": 16}, {"block_t": 1024, "block_ts": 4}, {"num_warps": 16}]),
    "conv": ({"arch": "conv(8,3,s2)-conv(16,3,s2,p1)-conv(32,3,s2,p1)-fc(10)",
              "in_shape": [2, 34, 34]},
             [{}, {"block_ts": 4}, {"block_t": 4096, "block_ts": 2}, {"num_warps": 32}]),
}
DEFAULT = forward.step_constants
REGISTER_LIMIT = forward.MAX_NEURONS


def use_constants(overrides: dict[str, int]) -> None:
    """Make both launchers use these constants."""

    def patched(n, opts, dropout, target_width):
        return dataclasses.replace(DEFAULT(n, opts, dropout, target_width), **overrides)

    forward.step_constants = backward.step_constants = patched


def median_ms(network: dict, mode: str) -> float:
    grid = {**network, "batch": 256, "steps": 10, "rate": 0.015, "F": 8, "mode": mode,
            "backend": "triton", "device": "cuda"}
    cfg = expand_grid(grid)[0]
    net, x = make_workload(cfg)
    run = functools.partial(run_once, cfg, net, x)
    run()  # compile
    return statistics.median(triton.testing.do_bench(run, return_mode="all"))


def main() -> int:
    if not torch.cuda.is_available():
        print("tune_launch: needs a CUDA device")
        return 1
    print(f"{'network':8}{'variant':34}{'forward ms':>12}{'fwd+bwd ms':>12}")
    for name, (network, variants) in NETWORKS.items():
        for overrides in variants:
            use_constants(overrides)
            times = [median_ms(network, mode) for mode in ("forward", "backward")]
            variant = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "default"
            print(f"{name:8}{variant:34}{times[0]:>12.3f}{times[1]:>12.3f}", flush=True)
        forward.step_constants = backward.step_constants = DEFAULT
        # Every network past MAX_NEURONS runs the chunked kernel.
        forward.MAX_NEURONS = 0
        try:
            print(f"{name:8}{'chunked kernel':34}{median_ms(network, 'forward'):>12.3f}"
                  f"{'-':>12}", flush=True)
        finally:
            forward.MAX_NEURONS = REGISTER_LIMIT
    forward.step_constants = backward.step_constants = DEFAULT
    return 0


if __name__ == "__main__":
    sys.exit(main())
