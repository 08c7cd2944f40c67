"""Conv and recurrent projections (docs/semantics.md#architecture): geometry, the
event-driven conv delivery against F.conv2d, layered conv LIF against snnTorch, layer-sync
equivalence of feed-forward conv nets, and a hand-computed recurrent cascade."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

import asyncsim
from asyncsim.architecture import Conv, Dense, Link, parse_arch
from asyncsim.delivery import Deliveries

from .helpers import binary_input, dyadic_network, set_weights

NMNIST_CNN = "conv(8,3,s2)-conv(16,3,s2,p1)-conv(32,3,s2,p1)-fc(10)"


def test_parse_arch_and_shapes():
    assert parse_arch("conv(8,3,s2)-conv(16,3,s2,p1,pool2)-fc(10,rec)-link(3,1)") == [
        Conv(8, 3, 2), Conv(16, 3, 2, 1, 2), Dense(10, recurrent=True), Link(3, 1)]
    assert parse_arch(["conv(4,5)", 7, {"conv": 2, "kernel": 3, "padding": 1}]) == [
        Conv(4, 5), Dense(7), Conv(2, 3, padding=1)]
    net = asyncsim.Network.from_arch((2, 34, 34), NMNIST_CNN)
    assert net.layer_shapes == [(8, 16, 16), (16, 8, 8), (32, 4, 4), (10, 1, 1)]
    assert net.n_in == 2 * 34 * 34 and net.layer_sizes == [2048, 1024, 512, 10]
    assert [tuple(w.shape) for w in net.weights] == [(8, 2, 3, 3), (16, 8, 3, 3),
                                                     (32, 16, 3, 3), (10, 512)]


@pytest.mark.parametrize(("arch", "match"), [
    ("conv(8,3,x2)", "bad arguments"), ("conv(8)", "bad arguments"), ("pool(2)", "arch"),
    ("conv(8,9)", "does not fit"), ("fc(0)", r"sizes\[1\]"), ("fc(4)-link(3,1)", "link")])
def test_bad_arch_names_the_problem(arch, match):
    with pytest.raises(ValueError, match=match):
        asyncsim.Network.from_arch((1, 6, 6), arch)


# Geometries: stride, padding, pooling (even and uneven maps), and both at once.
GEOMETRIES = [((2, 7, 7), Conv(3, 3)), ((2, 8, 8), Conv(4, 3, stride=2, padding=1)),
              ((1, 9, 9), Conv(2, 2, stride=2, pool=2)), ((2, 7, 6), Conv(3, 3, 1, 2, pool=2)),
              ((3, 5, 5), Conv(2, 5, stride=3, padding=2))]


@pytest.mark.parametrize(("shape", "conv"), GEOMETRIES, ids=str)
def test_event_driven_conv_equals_conv2d(shape, conv):
    """Currents, reach and fan-out of a conv projection between two neuron layers, against
    torch's own conv2d/avg_pool2d of the same spike map."""
    # A 1x1 conv gives the source layer its (C, H, W) shape.
    net = dyadic_network([(1, *shape[1:]), Conv(shape[0], 1), conv], seed=1)
    proj = net.projections[1]
    proj_in = Deliveries(net, torch.device("cpu"))
    n_src = net.layer_sizes[0]
    gen = torch.Generator().manual_seed(0)
    sends = torch.rand(4, n_src, generator=gen) < 0.2
    sends[0] = False  # a sample that sends nothing
    counts = sends * torch.randint(1, 4, (4, n_src), generator=gen).float()
    values = torch.cat([counts, torch.zeros(4, net.n_out)], dim=1)
    mask = torch.cat([sends, torch.zeros(4, net.n_out, dtype=torch.bool)], dim=1)
    current, reached, _ = proj_in.deliver(values, mask)
    current, reached = current[:, net.layer_slice(1)], reached[:, net.layer_slice(1)]

    fmap = counts.reshape(4, *shape)
    pooled = F.avg_pool2d(fmap, conv.pool) if conv.pool > 1 else fmap
    want = F.conv2d(pooled, net.weights[1], stride=conv.stride, padding=conv.padding)
    assert torch.equal(current, want.flatten(1))
    ones = torch.ones(1, shape[0], conv.kernel, conv.kernel)
    hit = F.conv2d(pooled.abs().sum(1, keepdim=True).expand(-1, shape[0], -1, -1), ones,
                   stride=conv.stride, padding=conv.padding) > 0
    assert torch.equal(reached, hit.expand(-1, conv.channels, -1, -1).flatten(1))
    assert not reached[0].any()
    # Zero-valued gradient-only deliveries from the same neurons reach the same targets.
    silent, _, ghost_reached = proj_in.deliver(torch.zeros_like(values), mask & False,
                                               torch.zeros_like(values), mask, ghost_reach=True)
    assert not silent.any() and torch.equal(ghost_reached[:, net.layer_slice(1)], reached)
    # Fan-out: the targets one spike of each source reaches.
    single = torch.eye(n_src).reshape(n_src, *shape)
    single = F.avg_pool2d(single, conv.pool) if conv.pool > 1 else single
    n_hit = (F.conv2d(single, torch.ones(conv.channels, shape[0], conv.kernel, conv.kernel),
                      stride=conv.stride, padding=conv.padding) > 0).flatten(1).sum(1)
    assert torch.equal(proj.fan_out(), n_hit)
    assert torch.equal(net.fan_out()[:n_src], n_hit)


def conv_lif_net(seed: int, bias: bool = False) -> asyncsim.Network:
    net = dyadic_network([(2, 8, 8), Conv(4, 3, padding=1), Conv(6, 3, stride=2, pool=2),
                          Dense(5)], seed, gain=4.0, tau=[8.0, 20.0, 5.0], bias=bias)
    if bias:
        with torch.no_grad():
            for b in net.biases:
                b.copy_(torch.arange(b.numel()) % 3 / 16.0)
    return net


def snntorch_conv_spikes(net: asyncsim.Network, x: torch.Tensor) -> torch.Tensor:
    """The same network from nn.AvgPool2d + nn.Conv2d/nn.Linear + snnTorch Leaky layers."""
    snn = pytest.importorskip("snntorch")
    stages = []
    for i, (proj, w) in enumerate(zip(net.projections, net.weights, strict=True)):
        if proj.kind == "conv":
            layer = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride=proj.stride,
                                    padding=proj.padding, bias=net.biases is not None)
        else:
            layer = torch.nn.Linear(w.shape[1], w.shape[0], bias=net.biases is not None)
        layer.weight.data.copy_(w.data)
        if net.biases is not None:
            layer.bias.data.copy_(net.biases[i].data)
        pool = torch.nn.AvgPool2d(proj.pool) if proj.pool > 1 else torch.nn.Identity()
        beta = net.decay()[net.layer_slice(i)].reshape(proj.out_shape)[:, 0, 0]
        lif = snn.Leaky(beta=beta[:, None, None] if proj.kind == "conv" else beta,
                        threshold=1.0, reset_mechanism="zero", reset_delay=False)
        stages.append((proj, pool, layer, lif))
    mems = [lif.reset_mem() for *_, lif in stages]
    out = []
    with torch.no_grad():
        for frame in x:
            below, spikes = frame.reshape(frame.shape[0], *net.in_shape), []
            for i, (proj, pool, layer, lif) in enumerate(stages):
                below = pool(below)
                below = layer(below if proj.kind == "conv" else below.flatten(1))
                below, mems[i] = lif(below, mems[i])
                spikes.append(below.flatten(1))
            out.append(torch.cat(spikes, dim=1))
    return torch.stack(out)


@pytest.mark.parametrize("bias", [False, True])
def test_layered_conv_equals_snntorch_and_async_with_large_f(bias):
    net = conv_lif_net(3, bias).requires_grad_(False)
    x = binary_input(40, 3, net.n_in, 0.3, 3)
    layered = asyncsim.simulate(net, x, strategy="sync")
    assert torch.equal(snntorch_conv_spikes(net, x), layered.counts)
    per_layer = [layered.layer_counts(i).sum().item() for i in range(net.n_layers)]
    assert min(per_layer) > 5, per_layer  # every layer is active
    if bias:
        return  # docs/semantics.md#bias: biased deeper layers are tested before their inputs arrive
    widest = max(net.layer_sizes)
    for strategy, f in [("random", widest), ("momentum", None), ("fifo", widest + 7)]:
        res = asyncsim.simulate(net, x, strategy=strategy, F=f)
        for name in ("counts", "forward_steps", "emitted", "synops"):
            assert torch.equal(getattr(res, name), getattr(layered, name)), (strategy, name)


def test_conv_synops_count_receptive_fields():
    """SynOps of one timestep = sum over emitted spikes of their structural fan-out."""
    net = conv_lif_net(4).requires_grad_(False)
    x = binary_input(6, 2, net.n_in, 0.3, 4)
    res = asyncsim.simulate(net, x, strategy="random", F=3, record=True)
    em = res.emissions
    fan = net.fan_out()[em.neuron].double() * em.value.double()
    per_step = torch.zeros(6, 2, dtype=torch.float64).index_put_(
        (em.timestep, em.sample), fan, accumulate=True)
    assert torch.equal(res.synops, per_step.long())
    assert res.synops.sum() > 0


def test_recurrent_cascade_by_hand():
    """Input → fc(2, rec) → fc(1). Neuron 0 fires on the input at step 1; its recurrent spike
    reaches neuron 1 at step 2 (same timestep), which fires; at step 3 neuron 1's spike reaches
    two refractory neurons and the silent output, and the timestep ends. The layered model
    delivers recurrent spikes one timestep later instead."""
    net = asyncsim.Network([1, Dense(2, recurrent=True), 1], tau=1e9)
    set_weights(net, [[2.0], [0.0]], [[0.0, 0.0]], [[0.0, 0.0], [2.0, 0.0]])
    assert [p.describe() for p in net.projections] == ["dense 0->1", "dense 1->2",
                                                         "dense 1->1"]
    x = torch.tensor([[[1.0]], [[0.0]]])
    with torch.no_grad():
        res = asyncsim.simulate(net, x, strategy="fifo", F=8, record=True)
        layered = asyncsim.simulate(net, x, strategy="sync")
    assert res.counts[:, 0].tolist() == [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert res.forward_steps[:, 0].tolist() == [3, 1]
    assert res.events.forward_step.tolist() == [1, 2]
    assert res.synops[:, 0].tolist() == [6, 0]  # each spike: 2 recurrent + 1 output target
    assert layered.counts[:, 0].tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def test_link_projection_feeds_back():
    """A Link from the output layer back to layer 1 makes output spikes reach layer 1."""
    net = asyncsim.Network([1, 1, 1, Link(2, 1)], tau=1e9)
    set_weights(net, [[2.0]], [[2.0]], [[-5.0]])
    assert net.fan_out().tolist() == [1, 1]
    x = torch.tensor([[[1.0]], [[3.0]]])
    with torch.no_grad():
        res = asyncsim.simulate(net, x, strategy="random", F=1)
    # t=0: layer 1 fires (step 1), output fires (step 2), its -5 reaches the refractory
    # layer-1 neuron (discarded) at step 3. t=1: input 6 fires layer 1 again.
    assert res.counts[:, 0].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert res.forward_steps[:, 0].tolist() == [3, 3]


def test_conv_unlayered_gradient_equals_layered_bptt():
    """docs/semantics.md#layered for a conv chain with F >= widest: the unlayered gradient
    equals layered BPTT when every neuron is reached by a real spike in every timestep (a conv
    target is reached only through its receptive field, so a silent neuron's surrogate path
    needs that)."""
    gen = torch.Generator().manual_seed(5)
    net = asyncsim.Network([(1, 5, 5), Conv(3, 3, padding=1), Conv(4, 3, padding=1, pool=1),
                            Dense(3)], tau=15.0, weight_gain=6.0, generator=gen).double()
    with torch.no_grad():
        net.weights[0].abs_()
        net.weights[1].abs_()
    x = binary_input(5, 2, net.n_in, 0.8, 5).double()
    with torch.no_grad():
        layered = asyncsim.simulate(net, x, strategy="sync")
    for layer in (0, 1):  # every target of layers 2 and 3 is reached at every timestep
        below = layered.layer_counts(layer)
        assert bool((below.sum(-1) > 0).all())
        if layer == 0:
            fmap = below.reshape(-1, *net.layer_shapes[0])
            field = F.conv2d(fmap, torch.ones(1, 3, 3, 3, dtype=fmap.dtype), padding=1)
            assert bool((field > 0).all())

    def grads(**kwargs):
        net.zero_grad()
        res = asyncsim.simulate(net, x, **kwargs)
        readout = torch.linspace(-1.0, 1.0, net.n_out, dtype=torch.float64)
        ((res.output_counts * readout).sum() + 0.05 * res.counts.pow(2).sum()).backward()
        return [w.grad.clone() for w in net.weights]

    want = grads(strategy="sync")
    assert all(bool(g.abs().sum() > 0) for g in want)
    for strategy in ("random", "fifo"):
        for g, w in zip(grads(strategy=strategy, F=None), want, strict=True):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)
