"""Layer-sync equivalence (docs/semantics.md#layered):
async with F >= widest layer == layered == snnTorch."""

import pytest
import torch

import asyncsim

from .helpers import binary_input, dyadic_network

SIZES = [24, 12, 10, 5]
TAU = [8.0, 20.0, 5.0]


def snntorch_spikes(net: asyncsim.Network, x: torch.Tensor) -> torch.Tensor:
    """The same network built from nn.Linear + snnTorch Leaky layers."""
    snn = pytest.importorskip("snntorch")
    layers = []
    for i, w in enumerate(net.weights):
        linear = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
        linear.weight.data.copy_(w.data)
        beta = net.decay()[net.layer_slice(i)]
        lif = snn.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero", reset_delay=False)
        layers.append((linear, lif, lif.reset_mem()))
    mems = [m for _, _, m in layers]
    out = []
    with torch.no_grad():
        for frame in x:
            spikes, below = [], frame
            for i, (linear, lif, _) in enumerate(layers):
                below, mems[i] = lif(linear(below), mems[i])
                spikes.append(below)
            out.append(torch.cat(spikes, dim=1))
    return torch.stack(out)


@pytest.mark.parametrize("seed", [0, 1])
def test_async_with_large_f_equals_layered_and_snntorch(seed):
    net = dyadic_network(SIZES, seed, gain=4.0, tau=TAU)
    x = binary_input(1000, 3, SIZES[0], 0.15, seed)
    with torch.no_grad():
        layered = asyncsim.simulate(net, x, strategy="sync")
        assert torch.equal(snntorch_spikes(net, x), layered.counts)
        per_layer = [layered.layer_counts(i).sum().item() for i in range(3)]
        assert min(per_layer) > 100, per_layer  # every layer is active
        assert layered.forward_steps.max().item() == 3
        for strategy, f in [("random", 12), ("momentum", None), ("fifo", 40), ("random", None)]:
            res = asyncsim.simulate(net, x, strategy=strategy, F=f, seed=seed)
            assert torch.equal(res.counts, layered.counts), strategy
            assert torch.equal(res.forward_steps, layered.forward_steps), strategy
            assert torch.equal(res.emitted, layered.emitted), strategy
            assert torch.equal(res.synops, layered.synops), strategy


def test_layered_records_match_async_records():
    net = dyadic_network(SIZES, 3, gain=4.0, tau=TAU)
    x = binary_input(20, 2, SIZES[0], 0.2, 3)
    layered = asyncsim.simulate(net, x, strategy="sync", record=True)
    res = asyncsim.simulate(net, x, strategy="fifo", F=None, record=True)
    assert layered.events.equal(res.events)
    assert layered.emissions.equal(res.emissions)


def test_bias_with_nonnegative_weights_keeps_equivalence():
    net = dyadic_network(SIZES, 4, gain=4.0, tau=TAU, bias=True)
    with torch.no_grad():
        for w, b in zip(net.weights, net.biases, strict=True):
            w.abs_()
            b.fill_(0.25)
    x = binary_input(200, 2, SIZES[0], 0.05, 4)
    with torch.no_grad():
        layered = asyncsim.simulate(net, x, strategy="sync")
        res = asyncsim.simulate(net, x, strategy="random", F=None)
    assert torch.equal(res.counts, layered.counts)


def test_small_f_differs_from_layered():
    net = dyadic_network(SIZES, 5, gain=4.0, tau=TAU)
    x = binary_input(50, 2, SIZES[0], 0.15, 5)
    with torch.no_grad():
        layered = asyncsim.simulate(net, x, strategy="sync")
        res = asyncsim.simulate(net, x, strategy="random", F=1)
    assert not torch.equal(res.counts, layered.counts)
    assert res.forward_steps.sum() > layered.forward_steps.sum()


def test_membrane_readout_equals_layered():
    net = dyadic_network(SIZES, 6, gain=4.0, tau=TAU, readout="membrane")
    x = binary_input(30, 2, SIZES[0], 0.15, 6)
    with torch.no_grad():
        layered = asyncsim.simulate(net, x, strategy="sync")
        res = asyncsim.simulate(net, x, strategy="momentum", F=None)
    assert layered.output_counts.sum() == 0 and layered.output_membrane.abs().sum() > 0
    assert torch.equal(res.counts, layered.counts)
    assert torch.equal(res.output_membrane, layered.output_membrane)
