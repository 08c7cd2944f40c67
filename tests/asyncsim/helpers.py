"""Shared builders for the core tests."""

from __future__ import annotations

import torch

import asyncsim


def dyadic_network(sizes: list[int], seed: int, gain: float = 3.0, **kwargs) -> asyncsim.Network:
    """A random network whose weights are multiples of 2**-8, so every current sums exactly."""
    gen = torch.Generator().manual_seed(seed)
    net = asyncsim.Network(sizes, weight_gain=gain, generator=gen, **kwargs)
    with torch.no_grad():
        for w in net.weights:
            w.copy_(torch.round(w * 256) / 256)
    return net


def binary_input(steps: int, batch: int, n_in: int, rate: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, n_in, generator=gen) < rate).float()


def set_weights(net: asyncsim.Network, *weights: list[list[float]]) -> asyncsim.Network:
    with torch.no_grad():
        for param, values in zip(net.weights, weights, strict=True):
            param.copy_(torch.tensor(values, dtype=param.dtype))
    return net
