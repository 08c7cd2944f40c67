"""Unlayered backprop
(docs/semantics.md#gradients) against layered BPTT and its event-only variant."""

import pytest
import torch

import asyncsim
from asyncsim.surrogates import spike

from .helpers import binary_input

SIZES = [16, 12, 10, 4]


def dense_network(seed: int, surrogate: str = "atan") -> asyncsim.Network:
    gen = torch.Generator().manual_seed(seed)
    return asyncsim.Network(SIZES, tau=15.0, weight_gain=8.0, surrogate=surrogate,
                            generator=gen).double()


def loss_of(counts: torch.Tensor, n_out: int) -> torch.Tensor:
    readout = torch.linspace(-1.0, 1.0, n_out, dtype=counts.dtype)
    return (counts[..., -n_out:] * readout).sum() + 0.05 * counts.pow(2).sum()


def weight_grads(net: asyncsim.Network, x: torch.Tensor, **kwargs) -> list[torch.Tensor]:
    net.zero_grad()
    res = asyncsim.simulate(net, x, **kwargs)
    loss_of(res.counts, net.n_out).backward()
    return [w.grad.clone() for w in net.weights]


def layered_grads(net: asyncsim.Network, x: torch.Tensor, silent_detached: bool):
    """Layered BPTT written out here; optionally without the silent neurons' surrogate path."""
    net.zero_grad()
    u = [x.new_zeros(x.shape[1], n) for n in net.layer_sizes]
    decay, theta = net.decay().double(), net.theta.double()
    counts = []
    for frame in x:
        below, spikes = frame, []
        for i, w in enumerate(net.weights):
            sl = net.layer_slice(i)
            v = u[i] * decay[sl] + below @ w.t()
            s = spike(v - theta[sl], net.surrogate)
            u[i] = v * (1 - s)
            spikes.append(s)
            below = torch.where(s > 0, s, s.detach()) if silent_detached else s
        counts.append(torch.cat(spikes, dim=1))
    loss_of(torch.stack(counts), net.n_out).backward()
    return [w.grad.clone() for w in net.weights]


def every_layer_fires(net, x) -> bool:
    with torch.no_grad():
        res = asyncsim.simulate(net, x, strategy="sync")
    return all(bool((res.layer_counts(i).sum(-1) > 0).all()) for i in range(net.n_layers))


@pytest.mark.parametrize("surrogate", ["atan", "fast_sigmoid", "sigmoid"])
@pytest.mark.parametrize("strategy", ["random", "momentum", "fifo"])
def test_unlayered_equals_layered_bptt_when_every_layer_fires(strategy, surrogate):
    net = dense_network(0, surrogate)
    x = binary_input(6, 3, SIZES[0], 0.7, 0).double()
    assert every_layer_fires(net, x)
    expected = layered_grads(net, x, silent_detached=False)
    assert all(bool(g.abs().sum() > 0) for g in expected)
    for g, e in zip(weight_grads(net, x, strategy="sync"), expected, strict=True):
        assert torch.equal(g, e)
    got = weight_grads(net, x, strategy=strategy, F=max(SIZES[1:]))
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-12)


def test_event_rule_drops_exactly_the_silent_surrogate_path():
    net = dense_network(0)
    x = binary_input(6, 3, SIZES[0], 0.7, 4).double()
    assert every_layer_fires(net, x)
    full = layered_grads(net, x, silent_detached=False)
    events_only = layered_grads(net, x, silent_detached=True)
    got = weight_grads(net, x, strategy="random", F=None, grad="events")
    for g, e in zip(got, events_only, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-12)
    # The surrogate path moves every layer but the last (whose inputs always fired or not).
    assert not torch.allclose(got[0], full[0]) and not torch.allclose(got[1], full[1])
    torch.testing.assert_close(got[-1], full[-1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("grad", ["surrogate", "events"])
@pytest.mark.parametrize("strategy", ["random", "momentum", "fifo"])
def test_small_f_gradients_are_finite_and_reach_every_layer(strategy, grad):
    net = dense_network(2)
    net.biases = None
    x = binary_input(5, 2, SIZES[0], 0.5, 2).double().requires_grad_()
    net.zero_grad()
    res = asyncsim.simulate(net, x, strategy=strategy, F=2, grad=grad)
    loss_of(res.counts, net.n_out).backward()
    for w in net.weights:
        assert bool(torch.isfinite(w.grad).all()) and bool(w.grad.abs().sum() > 0)
    assert bool(torch.isfinite(x.grad).all()) and bool(x.grad.abs().sum() > 0)


def test_input_gradient_equals_layered_with_large_f():
    net = dense_network(0)
    x = binary_input(6, 3, SIZES[0], 0.7, 0).double()
    grads = []
    for strategy in ("sync", "fifo"):
        xr = x.clone().requires_grad_()
        res = asyncsim.simulate(net, xr, strategy=strategy, F=None)
        loss_of(res.counts, net.n_out).backward()
        grads.append(xr.grad)
    assert bool(grads[0].abs().sum() > 0)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-12, atol=1e-12)


def test_bias_gradient_equals_layered_for_one_layer():
    # One layer: input and bias arrive together at step 1, as in the layered model. (Deeper
    # biased layers are also tested at step 1, before their inputs: see docs/semantics.md.)
    gen = torch.Generator().manual_seed(3)
    net = asyncsim.Network([16, 6], tau=15.0, weight_gain=2.0, bias=True, generator=gen).double()
    with torch.no_grad():
        net.biases[0].copy_(torch.linspace(-0.3, 0.3, 6))
    x = binary_input(8, 3, 16, 0.5, 3).double()
    grads = []
    for strategy in ("sync", "random"):
        net.zero_grad()
        res = asyncsim.simulate(net, x, strategy=strategy, F=1)
        loss_of(res.counts, net.n_out).backward()
        grads.append(net.biases[0].grad.clone())
    assert bool(grads[0].abs().sum() > 0)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-12, atol=1e-12)


def test_membrane_readout_gradients_equal_layered():
    gen = torch.Generator().manual_seed(0)
    net = asyncsim.Network(SIZES, tau=15.0, weight_gain=8.0, readout="membrane",
                           generator=gen).double()
    x = binary_input(6, 3, SIZES[0], 0.7, 0).double()
    labels = torch.tensor([0, 1, 3])
    grads = []
    for strategy in ("sync", "fifo"):
        net.zero_grad()
        res = asyncsim.simulate(net, x, strategy=strategy, F=None)
        fired = [res.layer_counts(i).sum(-1) for i in range(net.n_layers - 1)]
        assert all(bool((f > 0).all()) for f in fired)
        torch.nn.functional.cross_entropy(res.logits, labels).backward()
        grads.append([w.grad.clone() for w in net.weights])
    for a, b in zip(*grads, strict=True):
        assert bool(a.abs().sum() > 0)
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
