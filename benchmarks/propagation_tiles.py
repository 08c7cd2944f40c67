"""Tile work of the register kernel's propagation per forward step, counted on the CPU.

``python benchmarks/propagation_tiles.py [--sizes 2312 256 256 10] [--batch 32] [--f 8 64 inf]``
runs the reference backend with records on the GPU profiles' workload (default the standard
one: 2312-256-256-10; T = 10, input rate 0.015, random; ``asyncsim.bench.make_workload``) and
replays its emissions through the launch constants of ``kernels.forward.step_constants``: per
forward step of a sample, for every stored projection with sources, ``ceil(sources /
BLOCK_TS)`` tiles of ``BLOCK_TS x BLOCK_T`` lanes (target-local, the default) against the
former ``ceil(sources / BLOCK_S)`` tiles of ``BLOCK_S x BLOCK_N`` (every lane), and the
synapses those lanes hold. Lanes are what a tile costs in registers and instructions; a GPU
measures the time (docs/kernels.md#sparse-propagation).
"""

from __future__ import annotations

import argparse
import math

import torch

import asyncsim
from asyncsim.bench import BenchConfig, make_workload
from asyncsim.kernels.forward import step_constants
from asyncsim.kernels.layout import stored_projections, target_width
from asyncsim.reference import RunOptions
from asyncsim.rng import sample_seeds
from asyncsim.strategies import get_strategy


def tile_work(net: asyncsim.Network, res: asyncsim.SimResult, f: int | None) -> dict[str, float]:
    """Lanes and tiles per forward step, both tilings, and the synapses they deliver."""
    n = net.n_neurons
    opts = RunOptions(get_strategy("random"), f, sample_seeds(0, 1, "cpu"), 0.0, None, None,
                      "surrogate", False)
    consts = step_constants(n, opts, 0.0, target_width(net))
    em = res.emissions
    steps = int(res.forward_steps.sum())
    totals = dict.fromkeys(["lanes_local", "tiles_local", "gathers", "lanes_every",
                            "tiles_every", "synapses"], 0)
    step_of = torch.stack([em.sample, em.timestep, em.forward_step])
    for proj, _ in stored_projections(net):
        src = net.layer_slice(proj.source - 1)
        mine = (em.neuron >= src.start) & (em.neuron < src.stop)
        _, per_step = torch.unique(step_of[:, mine], dim=1, return_counts=True)
        for sources in per_step.tolist():
            local = math.ceil(sources / consts.block_ts)
            every = math.ceil(sources / consts.block_s)
            totals["tiles_local"] += local
            totals["lanes_local"] += local * consts.block_ts * consts.block_t
            totals["gathers"] += consts.block_t < consts.block_n
            totals["tiles_every"] += every
            totals["lanes_every"] += every * consts.block_s * consts.block_n
        fan_out = net.fan_out()[src.start]
        totals["synapses"] += int(mine.sum()) * int(fan_out)
    return {k: v / steps for k, v in totals.items()} | {
        "BLOCK_T": consts.block_t, "BLOCK_TS": consts.block_ts, "BLOCK_N": consts.block_n,
        "BLOCK_S": consts.block_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2312, 256, 256, 10])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--f", nargs="+", default=["8", "64", "inf"])
    args = parser.parse_args()
    for f_text in args.f:
        f = None if f_text == "inf" else int(f_text)
        cfg = BenchConfig(sizes=tuple(args.sizes), batch=args.batch, steps=10,
                          strategy="random", f=f, rate=0.015, backend="reference")
        net, x = make_workload(cfg)
        with torch.no_grad():
            res = asyncsim.simulate(net, x, strategy="random", F=f, seed=cfg.seed, record=True,
                                    backend="reference")
        w = tile_work(net, res, f)
        print(f"{cfg.network} B={args.batch} F={f_text}: per forward step "
              f"{w['synapses']:.0f} synapses; target-local [{w['BLOCK_TS']} x {w['BLOCK_T']}] "
              f"{w['tiles_local']:.2f} tiles, {w['lanes_local']:.0f} lanes "
              f"({w['synapses'] / max(w['lanes_local'], 1):.0%} hold a synapse), "
              f"{w['gathers']:.2f} gathers; every lane [{w['BLOCK_S']} x {w['BLOCK_N']}] "
              f"{w['tiles_every']:.2f} tiles, {w['lanes_every']:.0f} lanes "
              f"({w['synapses'] / max(w['lanes_every'], 1):.0%})", flush=True)


if __name__ == "__main__":
    main()
