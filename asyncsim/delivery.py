"""Event-driven delivery of emitted spikes along projections (docs/semantics.md#integrate
and #gradients), reference backend.

``Deliveries`` turns what a forward step sends into the currents and the *reached* neurons of the
next step. Two kinds of sending:

- Emitted spikes: counts ``[B, N]`` of the sending neurons. A dense projection reaches its whole
  target layer as soon as one of its sources sends (structurally, whatever the weights) and is a
  matmul. A convolution touches only the targets whose receptive field holds a sending neuron:
  each sending ``(sample, neuron)`` gathers its ``C_out*K*K`` synapses from the projection's
  synapse table and adds ``count * weight / pool**2`` to their targets, never a dense
  convolution over the whole map.
- Gradient-only deliveries (``grad="surrogate"`` and ``"dense"``): the zero-valued spike
  variables of silent tests. They add exact zeros: where a dense projection also delivers
  spikes, one product carries both; elsewhere their forward is not computed (``_ZeroCurrent``:
  zeros forward, the projection's transpose backward). They reach their structural targets
  (``ghost_reached``), which ``grad="surrogate"`` tests.

A projection whose source layer sends nothing in the whole batch is skipped. The parts are joined
with ``torch.cat``: in-place writes into slices of a graph tensor would add a copy node to the
autograd graph per write.
"""

from __future__ import annotations

import torch

from .architecture import CONV, DENSE, Projection
from .network import Network


class _ZeroCurrent(torch.autograd.Function):
    """Currents ``[B, n_target]`` of zero-valued spike variables ``[B, n_source]``: exact zeros,
    whose backward is the projection's transpose (their weight gradient, ``grad x 0``, is 0)."""

    @staticmethod
    def forward(ctx, zeros: torch.Tensor, proj: Projection, weight: torch.Tensor) -> torch.Tensor:
        ctx.proj = proj
        ctx.save_for_backward(weight)
        return zeros.new_zeros(zeros.shape[0], proj.n_target)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (weight,) = ctx.saved_tensors
        proj = ctx.proj
        if proj.kind == DENSE and proj.pool == 1:
            return grad @ weight, None, None
        with torch.enable_grad():
            probe = grad.new_zeros(grad.shape[0], proj.n_source, requires_grad=True)
            (grad_in,) = torch.autograd.grad(proj.apply(weight, probe), probe, grad)
        return grad_in, None, None


class _Conv:
    """One convolutional projection's synapse table on a device."""

    def __init__(self, proj: Projection, device: torch.device) -> None:
        self.proj = proj
        self.targets, self.widx = proj.synapse_table(device)
        self.ones = torch.ones(proj.weight_shape, device=device)  # float32, like the mask

    def deliver(
        self,
        weight: torch.Tensor,
        values: torch.Tensor,
        sends: torch.Tensor,
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

    def reach(self, sends: torch.Tensor) -> torch.Tensor:
        """``[B, n_target]``: the targets of the ``sends`` sources (a dense convolution of the
        mask with unit weights: gradient-only deliveries often come from most of a map)."""
        return self.proj.apply(self.ones, sends.to(torch.float32)) > 0


class Deliveries:
    """Every projection of ``net`` whose source is a neuron layer, ready to deliver."""

    def __init__(self, net: Network, device: torch.device) -> None:
        self.net = net
        self.slices = [net.layer_slice(i) for i in range(net.n_layers)]
        self.layer_masks = torch.stack([net.layer_index() == i for i in range(net.n_layers)])
        self.layer_masks = self.layer_masks.to(device)
        self.has_targets = net.fan_out().to(device) > 0
        self.hidden = [
            (i, proj, proj.fan_out(device) > 0, _Conv(proj, device) if proj.kind == CONV else None)
            for i, proj in enumerate(net.projections)
            if proj.source > 0
        ]

    def _sending_layers(self, *sends: torch.Tensor) -> list[list[bool]]:
        """For each ``[B, N]`` mask, which layers have a sending neuron in some sample; one
        host sync for all of them (this runs at every forward step)."""
        busy = torch.stack([(s.any(dim=0) & self.layer_masks).any(dim=1) for s in sends])
        return busy.tolist()

    def deliver(
        self,
        values: torch.Tensor,
        sends: torch.Tensor,
        ghosts: torch.Tensor | None = None,
        ghost_sends: torch.Tensor | None = None,
        ghost_reach: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(current, reached, ghost_reached)`` ``[B, N]``: the currents of the ``values`` sent
        by the ``sends`` neurons and the neurons they reach, plus the (zero) currents of the
        gradient-only deliveries ``ghosts`` of the ``ghost_sends`` neurons and, if
        ``ghost_reach``, the neurons those reach (else None)."""
        batch = values.shape[0]
        sends = sends & self.has_targets
        if ghosts is not None:
            ghost_sends = ghost_sends & self.has_targets
            busy, ghost_busy = self._sending_layers(sends, ghost_sends)
        else:
            (busy,) = self._sending_layers(sends)
        currents: dict[int, list[torch.Tensor]] = {}
        reaches: dict[int, list[torch.Tensor]] = {}
        ghost_reaches: dict[int, list[torch.Tensor]] = {}
        for i, proj, kept, conv in self.hidden:
            source, target = proj.source - 1, proj.target - 1
            src = self.slices[source]
            weight = self.net.weights[i]
            silent = ghosts is not None and ghost_busy[source]
            # A dense projection's one product carries both kinds (the silent ones add zeros).
            joint = busy[source] and conv is None
            if joint:
                sent = values[:, src] + ghosts[:, src] if silent else values[:, src]
                currents.setdefault(target, []).append(proj.apply(weight, sent))
                hit = (sends[:, src] & kept).any(dim=1, keepdim=True)
                reaches.setdefault(target, []).append(hit.expand(batch, proj.n_target))
            elif busy[source]:
                part, hit = conv.deliver(weight, values[:, src], sends[:, src])
                currents.setdefault(target, []).append(part)
                reaches.setdefault(target, []).append(hit)
            if silent and not joint:
                currents.setdefault(target, []).append(
                    _ZeroCurrent.apply(ghosts[:, src], proj, weight.detach())
                )
            if silent and ghost_reach:
                mask = ghost_sends[:, src]
                hit = (
                    conv.reach(mask)
                    if conv is not None
                    else (mask & kept).any(dim=1, keepdim=True).expand(batch, proj.n_target)
                )
                ghost_reaches.setdefault(target, []).append(hit)
        current = self._join(currents, values.new_zeros(batch, 1), torch.add)
        reached = self._join(reaches, sends.new_zeros(batch, 1), torch.logical_or)
        ghost_reached = (
            self._join(ghost_reaches, sends.new_zeros(batch, 1), torch.logical_or)
            if ghost_reach
            else None
        )
        return current, reached, ghost_reached

    def _join(
        self, parts: dict[int, list[torch.Tensor]], empty: torch.Tensor, combine
    ) -> torch.Tensor:
        """``[B, N]`` from the parts per target layer (combined), ``empty`` expanded elsewhere."""
        layers = []
        for layer, sl in enumerate(self.slices):
            terms = parts.get(layer)
            if terms is None:
                layers.append(empty.expand(-1, sl.stop - sl.start))
                continue
            total = terms[0]
            for term in terms[1:]:
                total = combine(total, term)
            layers.append(total)
        return torch.cat(layers, dim=1)
