"""Conv and recurrent projections on the Triton kernels equal the reference backend
(docs/semantics.md#dynamics, #gradients).

Dyadic weights and biases (multiples of 2**-8, pooling by 2 divides exactly) and integer inputs:
every current sums exactly, so spikes, steps, SynOps, records and membranes agree to the bit,
and gradients up to float32 summation order (conv weights are shared by many synapses: their
gradients are sums of many atomics). Networks stay under 128 neurons for the interpreter.
"""

from __future__ import annotations

import pytest
import torch

import asyncsim
from asyncsim.architecture import Conv, Dense, Link

from ..asyncsim.helpers import binary_input, dyadic_network
from .test_backward import check as check_gradients
from .test_forward import check as check_forward

ARCHS = {
    # stride 2, padding: 108 + 16 + 3 neurons
    "conv-stride": [(2, 6, 6), Conv(3, 3, padding=1), Conv(4, 3, stride=2), Dense(3)],
    # pooling before a conv and before the dense readout: 72 + 12 + 3
    "conv-pool": [(2, 6, 6), Conv(2, 3, padding=1), Conv(3, 2, pool=2), Dense(3, pool=2)],
    # self-recurrent hidden layer and output -> hidden feedback: 10 + 8 + 3
    "recurrent": [5, Dense(10, recurrent=True), Dense(8), Dense(3), Link(3, 2)],
    # a convolution with a recurrent dense layer above it: 48 + 12 + 3
    "conv-recurrent": [(1, 5, 5), Conv(3, 2, stride=1, pool=1), Dense(12, recurrent=True),
                       Dense(3)],
}


def make_net(arch: str, seed: int, device: torch.device, bias: bool = False,
             **kwargs) -> asyncsim.Network:
    net = dyadic_network(ARCHS[arch], seed, gain=3.0, bias=bias, **kwargs)
    gen = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        net.weights[0].abs_()  # an excitatory input: many spikes pend at once
        for b in net.biases if net.biases is not None else []:
            b.copy_(torch.randint(-64, 96, b.shape, generator=gen) / 256)
    return net.requires_grad_(False).to(device)


def make_input(net: asyncsim.Network, steps: int, batch: int, seed: int,
               device: torch.device) -> torch.Tensor:
    return (binary_input(steps, batch, net.n_in, 0.4, seed)
            * binary_input(steps, batch, net.n_in, 0.5, seed + 1).add(1)).to(device)


CASES = [("conv-stride", "random", 2, False), ("conv-stride", "fifo", None, True),
         ("conv-pool", "momentum", 5, True), ("conv-pool", "random", 1, False),
         ("recurrent", "random", 3, False), ("recurrent", "momentum", None, True),
         ("recurrent", "fifo", 1, False), ("conv-recurrent", "fifo", 4, True)]


@pytest.mark.parametrize(("arch", "strategy", "f", "bias"), CASES, ids=str)
def test_forward_equals_reference(device, arch, strategy, f, bias):
    seed = CASES.index((arch, strategy, f, bias))
    net = make_net(arch, seed, device, bias=bias)
    want = check_forward(net, make_input(net, 2, 2, seed, device), strategy=strategy, F=f,
                         seed=seed)
    assert want.counts[..., : net.layer_sizes[0]].sum() > 0
    assert want.layer_counts(1).sum() > 0, "the second layer never fires"
    if arch == "recurrent" and f is None:
        # Recurrent deliveries make timesteps longer than a feed-forward wave (<= L steps).
        assert int(want.forward_steps.max()) > net.n_layers


def test_budget_and_dropout_on_conv(device):
    net = make_net("conv-stride", 20, device, bias=True, refractory_dropout=0.5).train()
    check_forward(net, make_input(net, 3, 2, 20, device), strategy="random", F=2, seed=3,
                  max_steps=3)


@pytest.mark.parametrize(("arch", "strategy", "f", "grad"), [
    ("conv-stride", "random", 4, "surrogate"), ("conv-pool", "fifo", None, "events"),
    ("recurrent", "momentum", 3, "surrogate"), ("conv-recurrent", "random", 2, "surrogate"),
    ("conv-pool", "random", 1, "surrogate"), ("recurrent", "fifo", 2, "dense")],
    ids=str)
def test_gradients_equal_reference(device, arch, strategy, f, grad):
    net = make_net(arch, 30 + len(arch), device, bias=True)
    check_gradients(net, make_input(net, 2, 2, 30, device), strategy=strategy, F=f, seed=1,
                    grad=grad)
