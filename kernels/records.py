"""Event record buffers of the event-loop kernel (``events``, docs/semantics.md#results).

Each sample owns a preallocated buffer per record kind (fires, emissions) of ``capacity`` rows
``(timestep, forward_step, neuron, value bits)``, int32, ``value`` being the float32 ``v_pre``
of a fire or the count of an emission. The kernel appends one row per lane of a mask, in
neuron order, at the sample's running count; rows past the capacity are not written but still
counted, so the host sees an overflow and reruns with the exact capacity needed: records are
never silently truncated. As every sample appends in (timestep, step, neuron) order, the rows
are already in the canonical order of ``Records``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from asyncsim.result import Records

_FIELDS: tl.constexpr = tl.constexpr(4)


@triton.jit
def append_records(buf_ptr, n, capacity, mask, t, k, j, value):
    """Append ``(t, k, j, value)`` for every True lane of ``mask``; return the new count."""
    slot = n + tl.cumsum(mask.to(tl.int32), 0) - 1
    keep = mask & (slot < capacity)
    # One [BLOCK_N, 4] tile: each record is one contiguous 16-byte row.
    field = tl.arange(0, _FIELDS)[None, :]
    value_bits = value.to(tl.float32).to(tl.int32, bitcast=True)
    row = tl.where(field == 0, t, tl.where(field == 1, k, tl.where(field == 2, j[:, None],
                                                                    value_bits[:, None])))
    tl.store(buf_ptr + slot.to(tl.int64)[:, None] * _FIELDS + field, row, mask=keep[:, None])
    return n + tl.sum(mask.to(tl.int32), 0)


class EventBuffers:
    """Fire and emission buffers ``[B, capacity, 4]`` with their row counts ``[B]``."""

    def __init__(self, batch: int, capacity: int, device: torch.device) -> None:
        self.capacity = capacity
        self.fires = torch.empty(batch, capacity, 4, dtype=torch.int32, device=device)
        self.emissions = torch.empty_like(self.fires)
        self.n_fires = torch.zeros(batch, dtype=torch.int32, device=device)
        self.n_emissions = torch.zeros_like(self.n_fires)

    def needed(self) -> int:
        """The capacity this run needed (known after the launch)."""
        return int(torch.cat([self.n_fires, self.n_emissions]).max()) if len(self.n_fires) else 0

    def records(self) -> tuple[Records, Records]:
        """Fire and emission ``Records`` in canonical order."""
        if self.needed() > self.capacity:
            raise RuntimeError(f"event buffer overflow: {self.needed()} rows for a capacity of "
                               f"{self.capacity}")
        return _to_records(self.fires, self.n_fires), _to_records(self.emissions, self.n_emissions)


def _to_records(rows: torch.Tensor, count: torch.Tensor) -> Records:
    batch, capacity, _ = rows.shape
    count = count.long()
    used = torch.arange(capacity, device=rows.device)[None, :] < count[:, None]
    kept = rows[used]
    sample = torch.repeat_interleave(torch.arange(batch, device=rows.device), count)
    return Records(sample, kept[:, 0].long(), kept[:, 1].long(), kept[:, 2].long(),
                   kept[:, 3].contiguous().view(torch.float32))
