"""benchmarks/propagation_tiles.py counts the propagation's tiles and lanes per forward step:
hand-computed counts for known emissions."""

from __future__ import annotations

import torch

import asyncsim
from asyncsim.result import Records


def test_tiles_and_lanes_of_known_emissions(benchmark_script):
    tiles = benchmark_script("propagation_tiles")
    # 4 inputs -> 6 hidden (neurons 0-5) -> 2 outputs (6, 7): one stored projection, 6 -> 2.
    net = asyncsim.Network([4, 6, 2])
    # Sample 0, timestep 0: step 1 emits hidden 0, 1, 2 (three sources); step 2 an output
    # (no targets). Sample 1, timestep 0: step 1 emits hidden 5. Three forward steps in all.
    rows = [(0, 0, 1, 0), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 2, 6), (1, 0, 1, 5)]
    sample, timestep, step, neuron = (torch.tensor(c) for c in zip(*rows, strict=True))
    res = asyncsim.SimResult(
        counts=torch.zeros(1, 2, 8), forward_steps=torch.tensor([[2, 1]]),
        emitted=torch.zeros(1, 2), synops=torch.zeros(1, 2), output_membrane=torch.zeros(1, 2, 2),
        layer_sizes=[6, 2], emissions=Records(sample, timestep, step, neuron, torch.ones(5)))
    work = tiles.tile_work(net, res, f=2)
    # BLOCK_N = 8; F = 2: BLOCK_T = 2 (the 2 outputs), BLOCK_TS = 2, BLOCK_S = 2.
    assert (work["BLOCK_N"], work["BLOCK_T"], work["BLOCK_TS"], work["BLOCK_S"]) == (8, 2, 2, 2)
    # Step (0, 0, 1): 3 sources, 2 tiles; step (1, 0, 1): 1 source, 1 tile. Per step of 3.
    assert work["tiles_local"] == work["tiles_every"] == 3 / 3
    assert work["lanes_local"] == 3 * 2 * 2 / 3
    assert work["lanes_every"] == 3 * 2 * 8 / 3
    assert work["gathers"] == 2 / 3
    assert work["synapses"] == 4 * 2 / 3
