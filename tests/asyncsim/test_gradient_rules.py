"""The gradient rules of docs/semantics.md#gradients against independent expectations: a case
derived by hand, and a brute-force float64 re-implementation that replays the forward pass's
schedule neuron layer by neuron layer, one sample at a time."""

from __future__ import annotations

import math

import pytest
import torch

import asyncsim

from .helpers import binary_input, set_weights

RULES = ("surrogate", "dense", "events")


def atan_grad(z: float) -> float:
    """sigma'(z) of the atan surrogate with alpha = 2, written out."""
    return 1.0 / (math.pi * (1.0 + (math.pi * z) ** 2))


def test_silent_spike_variable_tests_a_layer_no_real_spike_reaches():
    # Layers 1..4 of 2, 1, 1, 1 neurons, F = 1, momentum (the larger pre-spike potential first).
    # Step 1: both layer-1 neurons fire (v = 3 and 2); neuron 0 is emitted. Step 2: layer 2
    # gets 0.25 and stays silent; neuron 1 is emitted. Step 3: layer 2 gets 0.25 more (silent);
    # layer 3 receives no real spike, only layer 2's zero spike variable of step 2, so it is
    # tested (v = 0, silent); nothing is left to emit, so step 3 ends the timestep.
    net = asyncsim.Network([1, 2, 1, 1, 1], tau=10.0).double()
    set_weights(net, [[3.0], [2.0]], [[0.25, 0.25]], [[0.5]], [[0.75]])
    x = torch.ones(1, 1, 1, dtype=torch.float64)
    grads = {}
    for rule in ("surrogate", "events"):
        res = asyncsim.simulate(net, x, strategy="momentum", F=1, grad=rule)
        assert res.forward_steps.tolist() == [[3]]
        assert res.counts[0, 0].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
        grads[rule] = gradients(net, res.counts[0, 0, 3])  # layer 3's (zero) spike count
    # d s3 / d W2[0, 0] = sigma'(v3 - 1) * W3 * sigma'(v2 - 1) * e_0, with v3 = 0, v2 = 0.25,
    # e_0 = 1; through W1[0]: times W2[0, 0] * sigma'(3 - 1) * x.
    path = atan_grad(-1.0) * 0.5 * atan_grad(-0.75)
    want = [[[path * 0.25 * atan_grad(2.0)], [0.0]], [[path, 0.0]], [[0.0]], [[0.0]]]
    for got, expected in zip(grads["surrogate"], want, strict=True):
        torch.testing.assert_close(
            got, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-15
        )
    # Without the silent path, layer 3 is never tested: no gradient at all.
    assert all(not bool(g.any()) for g in grads["events"])


def spike(z: torch.Tensor, surrogate) -> torch.Tensor:
    """Heaviside forward, ``surrogate.grad`` backward (straight through)."""
    return (z > 0).to(z.dtype) + (z - z.detach()) * surrogate.grad(z.detach())


def brute_force_counts(
    net: asyncsim.Network,
    x: torch.Tensor,
    res: asyncsim.SimResult,
    rule: str,
    test_silent_reach: bool = True,
) -> torch.Tensor:
    """``[T, B, N]`` counts of a dense feed-forward ``net`` without bias, differentiable under
    ``rule``, replaying the selections recorded in ``res`` (``record=True``): for every sample,
    timestep and forward step, layer by layer. ``test_silent_reach=False`` is the former
    surrogate rule, whose silent spike variables reached no test."""
    sizes, n_layers = net.layer_sizes, net.n_layers
    offsets = net.offsets
    theta = [net.theta[net.layer_slice(i)].double() for i in range(n_layers)]
    decay = [net.decay()[net.layer_slice(i)].double() for i in range(n_layers)]
    emitted = res.emissions
    per_sample = []
    for b in range(x.shape[1]):
        u = [x.new_zeros(n) for n in sizes]
        queue = [x.new_zeros(n) for n in sizes]
        rows = []
        for t in range(x.shape[0]):
            u = [u_l * d for u_l, d in zip(u, decay, strict=True)]
            closed = [torch.zeros(n, dtype=torch.bool) for n in sizes]
            count = [x.new_zeros(n) for n in sizes]
            real = [x[t, b] @ net.weights[0].t()] + [None] * (n_layers - 1)
            silent_in: list[torch.Tensor | None] = [None] * n_layers
            for k in range(1, int(res.forward_steps[t, b]) + 1):
                next_real: list[torch.Tensor | None] = [None] * n_layers
                next_silent: list[torch.Tensor | None] = [None] * n_layers
                chosen = emitted.neuron[
                    (emitted.sample == b) & (emitted.timestep == t) & (emitted.forward_step == k)
                ]
                for i in range(n_layers):
                    current = x.new_zeros(sizes[i])
                    if real[i] is not None:
                        current = current + real[i]
                    if silent_in[i] is not None:
                        current = current + silent_in[i] @ net.weights[i].t()
                    v = torch.where(closed[i], u[i], u[i] + current)
                    reached = torch.full((sizes[i],), real[i] is not None) & ~closed[i]
                    # dense: every open neuron; surrogate: every open neuron of a layer that a
                    # silent spike variable reaches (dense projections reach the whole layer).
                    silent_reach = test_silent_reach and silent_in[i] is not None
                    if rule == "dense" or (rule == "surrogate" and silent_reach):
                        probed = ~closed[i]
                    else:
                        probed = reached
                    s = spike(v - theta[i], net.surrogate) * probed
                    fired = (v.detach() > theta[i]) & reached
                    u[i] = v * (1 - s)
                    closed[i] = closed[i] | fired
                    count[i] = count[i] + s
                    queue[i] = queue[i] + s * fired
                    silent = probed & ~fired
                    if rule != "events" and i + 1 < n_layers and bool(silent.any()):
                        next_silent[i + 1] = s * silent
                    selected = torch.zeros(sizes[i], dtype=torch.bool)
                    in_layer = chosen[(chosen >= offsets[i]) & (chosen < offsets[i + 1])]
                    selected[in_layer - offsets[i]] = True
                    assert bool((queue[i].detach()[selected] > 0).all()), "replay diverged"
                    if i + 1 < n_layers and bool(selected.any()):
                        next_real[i + 1] = (queue[i] * selected) @ net.weights[i + 1].t()
                    queue[i] = queue[i] * ~selected
                real, silent_in = next_real, next_silent
            rows.append(torch.cat(count))
        per_sample.append(torch.stack(rows))
    return torch.stack(per_sample, dim=1)


def loss_of(counts: torch.Tensor) -> torch.Tensor:
    readout = torch.linspace(-1.0, 1.0, counts.shape[-1], dtype=counts.dtype)
    return (counts * readout).sum() + 0.05 * counts.pow(2).sum()


def gradients(net: asyncsim.Network, loss: torch.Tensor) -> list[torch.Tensor]:
    """``dloss / dW`` for every weight (zero where the loss does not depend on it)."""
    grads = torch.autograd.grad(loss, list(net.weights), allow_unused=True)
    return [
        torch.zeros_like(w) if g is None else g for g, w in zip(grads, net.weights, strict=True)
    ]


def deep_network(seed: int) -> asyncsim.Network:
    gen = torch.Generator().manual_seed(seed)
    return asyncsim.Network(
        [10, 6, 5, 4, 3],
        tau=[4.0, 8.0, 2.0, 6.0],
        theta=[1.0, 0.75, 1.0, 0.5],
        weight_gain=5.0,
        generator=gen,
    ).double()


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(
    ("strategy", "f", "seed"),
    [("random", 1, 0), ("fifo", 1, 1), ("momentum", 2, 2), ("random", 3, 3)],
)
def test_reference_equals_brute_force_replay(rule, strategy, f, seed):
    net = deep_network(seed)
    x = binary_input(4, 2, 10, 0.5, seed).double()
    res = asyncsim.simulate(net, x, strategy=strategy, F=f, seed=seed, grad=rule, record=True)
    want_counts = brute_force_counts(net, x, res, rule)
    assert torch.equal(want_counts.detach(), res.counts.detach())
    want = gradients(net, loss_of(want_counts))
    got = gradients(net, loss_of(res.counts))
    assert any(bool(g.any()) for g in want[1:])
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    if rule == "surrogate" and f == 1:
        # The case exercises what the rule adds: silent spike variables that reach layers no
        # real spike reaches at that step are tested there.
        former = gradients(
            net, loss_of(brute_force_counts(net, x, res, rule, test_silent_reach=False))
        )
        assert not all(torch.allclose(g, w) for g, w in zip(got, former, strict=True))


@pytest.mark.parametrize("rule", RULES)
def test_forward_results_do_not_depend_on_the_rule(rule):
    net = deep_network(5)
    x = binary_input(5, 3, 10, 0.5, 5).double()
    base = asyncsim.simulate(net, x, strategy="random", F=1, grad="events", record=True)
    res = asyncsim.simulate(net, x, strategy="random", F=1, grad=rule, record=True)
    for name in ("counts", "forward_steps", "emitted", "synops", "output_membrane"):
        assert torch.equal(getattr(res, name).detach(), getattr(base, name).detach()), name
    assert res.events.equal(base.events) and res.emissions.equal(base.emissions)


def test_unknown_rule_is_named():
    net = deep_network(0)
    with pytest.raises(ValueError, match="grad: unknown 'layered'"):
        asyncsim.simulate(net, torch.zeros(1, 1, 10, dtype=torch.float64), grad="layered")


@pytest.mark.parametrize("rule", RULES)
def test_a_weight_that_carried_nothing_gets_a_zero_gradient(rule):
    # Layers 2-4 never fire (the hand case above): nothing is ever delivered through W3 and W4.
    net = asyncsim.Network([1, 2, 1, 1, 1], tau=10.0).double()
    set_weights(net, [[3.0], [2.0]], [[0.25, 0.25]], [[0.5]], [[0.75]])
    net.zero_grad(set_to_none=True)
    res = asyncsim.simulate(net, torch.ones(2, 1, 1, dtype=torch.float64), F=1, grad=rule)
    res.counts.sum().backward()
    assert all(w.grad is not None for w in net.weights)
    assert not net.weights[3].grad.any()
