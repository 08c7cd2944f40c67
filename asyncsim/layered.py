"""Layered (layer-synchronized) backend: ``strategy="sync"`` (docs/semantics.md#layered).

Every timestep, each layer in order integrates all spikes of the layer below, then fires:
``u <- u*exp(-dt/tau) + W s_below (+b)``, ``s = 1[u > theta]``, ``u <- u*(1-s)`` — snnTorch's
``Leaky(reset_mechanism="zero", reset_delay=False)``; a conv projection is ``F.conv2d`` of the
(pooled) map below. A projection from a layer that has not fired yet in this timestep (recurrent
or backward: source >= target) carries its spikes of the previous timestep, as in snnTorch's
``RLeaky`` (docs/semantics.md#architecture). Trained with plain BPTT through autograd.
Step statistics are those of the equivalent event run with every pending spike selected: layer
l fires at forward step l, and a wave that dies out ends the timestep.
"""

from __future__ import annotations

import torch

from .network import Network
from .result import Records, SimResult
from .surrogates import spike


def simulate_layered(net: Network, x: torch.Tensor, record: bool) -> SimResult:
    """Run ``x`` ``[T, B, n_in]`` through ``net`` layer by layer."""
    steps_t, batch, _ = x.shape
    device = x.device
    slices = [net.layer_slice(i) for i in range(net.n_layers)]
    decay = net.decay().to(x.dtype)
    theta = net.theta.to(x.dtype)
    fan_out = net.fan_out().to(x.dtype)
    bias = net.bias_vector()
    into = [[(p, w) for p, w in zip(net.projections, net.weights, strict=True)
             if p.target == layer + 1] for layer in range(net.n_layers)]
    u = [x.new_zeros(batch, size) for size in net.layer_sizes]
    spikes = [x.new_zeros(batch, size) for size in net.layer_sizes]  # of the last timestep
    counts, forward_steps, emitted, synops, membrane = [], [], [], [], []
    fire_log: list[tuple[torch.Tensor, ...]] = []
    for t in range(steps_t):
        for layer, sl in enumerate(slices):
            current = x.new_zeros(batch, net.layer_sizes[layer])
            for proj, weight in into[layer]:
                source = x[t] if proj.source == 0 else spikes[proj.source - 1]
                current = current + proj.apply(weight, source)
            if bias is not None:
                current = current + bias[sl]
            v = u[layer] * decay[sl] + current
            if layer == net.n_layers - 1 and net.readout == "membrane":
                s = torch.zeros_like(v)  # a non-spiking readout layer only integrates
            else:
                s = spike(v - theta[sl], net.surrogate)
            u[layer] = v * (1.0 - s)
            spikes[layer] = s
            if record:
                b_idx, j_idx = (s.detach() > 0).nonzero(as_tuple=True)
                fire_log.append((b_idx, torch.full_like(b_idx, t),
                                 torch.full_like(b_idx, layer + 1), j_idx + sl.start,
                                 v.detach()[b_idx, j_idx].float()))
        count = torch.cat(spikes, dim=1)
        membrane.append(u[-1])
        per_layer = torch.stack([sp.detach().sum(dim=1) for sp in spikes], dim=1)
        # Forward steps of the equivalent event run: 1 + the leading layers whose spikes have
        # targets (each such layer's emission makes one more step).
        sending = torch.stack([(sp.detach() * (fan_out[sl] > 0)).sum(dim=1) > 0
                               for sp, sl in zip(spikes, slices, strict=True)], dim=1)
        leading = sending[:, :-1].long().cumprod(dim=1).sum(dim=1)
        counts.append(count)
        forward_steps.append(1 + leading)
        emitted.append(per_layer.sum(dim=1).round().long())
        synops.append((count.detach() * fan_out).sum(dim=1).round().long())
    events = Records.gather(fire_log, device) if record else None
    emissions = None
    if events is not None:
        emissions = Records(events.sample, events.timestep, events.forward_step, events.neuron,
                            torch.ones_like(events.value))
    return SimResult.from_timesteps(counts, forward_steps, emitted, synops, membrane,
                                    net.layer_sizes, net.readout, events, emissions)
