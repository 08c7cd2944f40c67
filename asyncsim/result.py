"""Simulation results and event records (docs/semantics.md#results)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


def default_layer_names(n_layers: int) -> list[str]:
    """The neuron layers' names in metrics, plots and traces: ``layer1, ..., layer{L-1},
    output``."""
    return [f"layer{i}" for i in range(1, n_layers)] + ["output"]


def _concat(parts: list[torch.Tensor], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.cat(parts) if parts else torch.zeros(0, dtype=dtype, device=device)


@dataclass
class Records:
    """Columns of one record per event; ``value`` is ``v_pre`` for fires, the count for emissions.

    Rows are ordered by (sample, timestep, forward_step, neuron).
    """

    sample: torch.Tensor
    timestep: torch.Tensor
    forward_step: torch.Tensor
    neuron: torch.Tensor
    value: torch.Tensor

    @classmethod
    def gather(cls, chunks: list[tuple[torch.Tensor, ...]], device: torch.device) -> Records:
        """Build from per-step tuples ``(sample, timestep, forward_step, neuron, value)``."""
        cols = [_concat([c[i] for c in chunks], torch.int64, device) for i in range(4)]
        value = _concat([c[4] for c in chunks], torch.float32, device)
        records = cls(*cols, value)
        return records.sorted()

    def sorted(self) -> Records:
        order = torch.arange(len(self), device=self.sample.device)
        for col in (self.neuron, self.forward_step, self.timestep, self.sample):
            order = order[torch.sort(col[order], stable=True).indices]
        return Records(*(getattr(self, f.name)[order] for f in fields(self)))

    def __len__(self) -> int:
        return int(self.sample.numel())

    def equal(self, other: Records) -> bool:
        return all(torch.equal(getattr(self, f.name).cpu(), getattr(other, f.name).cpu())
                   for f in fields(self))


@dataclass
class SimResult:
    """What ``asyncsim.simulate`` returns.

    counts: ``[T, B, N]`` spikes fired per neuron and timestep (differentiable).
    forward_steps: ``[T, B]`` forward steps taken.
    emitted: ``[T, B]`` spikes delivered (sum of emitted counts), output layer included.
    synops: ``[T, B]`` synaptic events: emitted count times fan-out, summed.
    output_membrane: ``[T, B, n_out]`` output-layer membrane at the end of each timestep
        (differentiable; the logits of a ``readout="membrane"`` network).
    events: fire records (``value`` = v_pre) when ``record=True``.
    emissions: emission records (``value`` = count) when ``record=True``.
    """

    counts: torch.Tensor
    forward_steps: torch.Tensor
    emitted: torch.Tensor
    synops: torch.Tensor
    output_membrane: torch.Tensor
    layer_sizes: list[int]
    readout: str = "spikes"
    events: Records | None = None
    emissions: Records | None = None

    @classmethod
    def from_timesteps(cls, counts: list[torch.Tensor], forward_steps: list[torch.Tensor],
                       emitted: list[torch.Tensor], synops: list[torch.Tensor],
                       output_membrane: list[torch.Tensor], layer_sizes: list[int],
                       readout: str, events: Records | None = None,
                       emissions: Records | None = None) -> SimResult:
        """Stack per-timestep ``[B, ...]`` tensors along a new leading time axis."""
        return cls(torch.stack(counts), torch.stack(forward_steps), torch.stack(emitted),
                   torch.stack(synops), torch.stack(output_membrane), list(layer_sizes),
                   readout, events, emissions)

    @property
    def output_counts(self) -> torch.Tensor:
        """``[T, B, n_out]`` spike counts of the output layer."""
        return self.counts[..., -self.layer_sizes[-1]:]

    @property
    def logits(self) -> torch.Tensor:
        """``[B, n_out]`` class scores: summed output counts, or the final output membrane."""
        if self.readout == "membrane":
            return self.output_membrane[-1]
        return self.output_counts.sum(dim=0)

    def layer_counts(self, layer: int) -> torch.Tensor:
        start = sum(self.layer_sizes[:layer])
        return self.counts[..., start:start + self.layer_sizes[layer]]
