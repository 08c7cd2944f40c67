"""Event-driven delivery of emitted spikes along projections (docs/semantics.md#integrate),
reference backend.

``Deliveries`` turns the spikes a forward step sends (values ``[B, N]`` and the mask of neurons
that send) into the currents and *reached* neurons of the next step (docs/semantics.md#gradients:
the gradient-only deliveries of silent tests add zero current, reach nothing). A dense projection
reaches its whole target layer as soon as one of its sources sends (structurally, whatever the
weights) and is a matmul. A convolution touches only the targets whose receptive field holds a
sending neuron: each sending ``(sample, neuron)`` gathers its ``C_out*K*K`` synapses from the
projection's synapse table and adds ``count * weight / pool**2`` to their targets, never a dense
convolution over the whole map.
"""

from __future__ import annotations

import torch

from .architecture import CONV, Projection
from .network import Network


class _Conv:
    """One convolutional projection's synapse table on a device."""

    def __init__(self, proj: Projection, device: torch.device) -> None:
        self.proj = proj
        self.targets, self.widx = proj.synapse_table(device)

    def deliver(self, weight: torch.Tensor, values: torch.Tensor, sends: torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, n_target]`` currents of the ``values`` of the sending sources, and the targets
        they reach (the extra column of the flat ``[B, n_target + 1]`` buffers takes the
        synapses that fall off the map)."""
        batch, width = values.shape[0], self.proj.n_target + 1
        b_idx, j_idx = sends.nonzero(as_tuple=True)
        slots = (b_idx[:, None] * width + self.targets[j_idx]).reshape(-1)
        synapses = weight.reshape(-1)[self.widx[j_idx]] * self.proj.scale
        contrib = (values[b_idx, j_idx][:, None] * synapses).reshape(-1)
        current = values.new_zeros(batch * width).index_add(0, slots, contrib)
        reached = torch.zeros(batch * width, dtype=torch.bool, device=values.device)
        reached[slots] = True
        return current.reshape(batch, width)[:, :-1], reached.reshape(batch, width)[:, :-1]


class Deliveries:
    """Every projection of ``net`` whose source is a neuron layer, ready to deliver."""

    def __init__(self, net: Network, device: torch.device) -> None:
        self.net = net
        self.slices = [net.layer_slice(i) for i in range(net.n_layers)]
        self.has_targets = net.fan_out().to(device) > 0
        self.hidden = [(i, proj, proj.fan_out(device) > 0,
                        _Conv(proj, device) if proj.kind == CONV else None)
                       for i, proj in enumerate(net.projections) if proj.source > 0]

    def deliver(self, values: torch.Tensor, sends: torch.Tensor,
                ghosts: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(current, reached)`` ``[B, N]``: the currents of the ``values`` sent by the
        ``sends`` neurons (``[B, N]``) and the neurons they reach, plus the currents of the
        gradient-only deliveries ``ghosts`` (zero-valued, docs/semantics.md#gradients: often
        most of a layer, so they go through the dense form, which adds exact zeros, and reach
        nothing)."""
        current = torch.zeros_like(values)
        reached = torch.zeros_like(sends)
        sends = sends & self.has_targets
        for i, proj, kept, conv in self.hidden:
            src, tgt = self.slices[proj.source - 1], self.slices[proj.target - 1]
            weight = self.net.weights[i]
            if conv is None:
                sent = values[:, src] if ghosts is None else values[:, src] + ghosts[:, src]
                current[:, tgt] += proj.apply(weight, sent)
                reached[:, tgt] |= (sends[:, src] & kept).any(dim=1, keepdim=True)
            else:
                part, hit = conv.deliver(weight, values[:, src], sends[:, src])
                current[:, tgt] += part
                reached[:, tgt] |= hit
                if ghosts is not None:
                    current[:, tgt] += proj.apply(weight, ghosts[:, src])
        return current, reached
