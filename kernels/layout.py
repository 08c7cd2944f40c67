"""Device layout of a ``Network`` for the event-loop kernel (SPEC 1, SPEC 3.2a).

Sparse propagation reads only the outgoing weights of the spikes being delivered, so every
source neuron's outgoing weights must be one contiguous row: projection ``l -> l+1`` is stored
transposed, ``W_{l+1}^T`` ``[n_l, n_{l+1}]``, and all projections after the input one are
concatenated into one flat buffer. Neuron ``j`` of layer ``l`` sends to the ``fan_out[j]``
neurons starting at flat index ``target_start[j]``, with weights
``weights[row_start[j] : row_start[j] + fan_out[j]]``. Output neurons have no row
(``fan_out = 0``). The input projection is not stored here: it is a dense matmul done once per
run on the host side (see ``forward.first_step_currents``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from asyncsim.network import Network

WEIGHT_DTYPES = (torch.float32, torch.bfloat16)


@dataclass(frozen=True)
class DeviceNetwork:
    """Per-neuron tables ``[N]`` and the flat transposed weights, contiguous, on one device."""

    weights: torch.Tensor  # flat, float32 or bfloat16
    row_start: torch.Tensor  # int64
    target_start: torch.Tensor  # int32
    fan_out: torch.Tensor  # int32
    theta: torch.Tensor  # float32
    decay: torch.Tensor  # float32
    first_end: int  # neurons [0, first_end) are reached at k = 1: layer 1, all if biased
    out_start: int  # flat index of the first output neuron


def weight_dtype(net: Network) -> torch.dtype:
    """The one dtype of all weights and biases; ValueError if mixed or not float32/bfloat16."""
    params = list(net.weights) + (list(net.biases) if net.biases is not None else [])
    dtypes = {p.dtype for p in params}
    if len(dtypes) != 1 or next(iter(dtypes)) not in WEIGHT_DTYPES:
        raise ValueError(f"weights: the Triton backend needs every weight and bias in one of "
                         f"{[str(d) for d in WEIGHT_DTYPES]}, got {sorted(map(str, dtypes))}")
    return dtypes.pop()


def device_network(net: Network, device: torch.device) -> DeviceNetwork:
    """Build the kernel's view of ``net`` on ``device`` (copies: any input stride is fine)."""
    dtype = weight_dtype(net)
    sizes, offsets = net.layer_sizes, net.offsets
    rows = [w.detach().t().reshape(-1) for w in list(net.weights)[1:]]
    flat = torch.cat(rows) if rows else torch.zeros(0, dtype=dtype, device=device)
    row_start, target_start, fan_out = [], [], []
    base = 0
    for layer, size in enumerate(sizes):
        width = net.fan_out()[layer]
        row_start.append(base + torch.arange(size, dtype=torch.int64) * width)
        target_start.append(torch.full((size,), offsets[layer + 1] if width else 0))
        fan_out.append(torch.full((size,), width))
        base += size * width

    def table(parts: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
        return torch.cat(parts).to(device=device, dtype=dtype).contiguous()

    return DeviceNetwork(
        weights=flat.to(device).contiguous(),
        row_start=table(row_start, torch.int64),
        target_start=table(target_start, torch.int32),
        fan_out=table(fan_out, torch.int32),
        # A non-spiking (membrane readout) neuron integrates but never crosses threshold.
        theta=torch.where(net.spiking(), net.theta, torch.inf).to(device=device,
                                                                   dtype=torch.float32),
        # Network.decay() in float32 even for a bfloat16 network: the state is float32.
        decay=torch.exp(-net.dt / net.tau.to(device=device, dtype=torch.float32)),
        first_end=net.n_neurons if net.biases is not None else net.offsets[1],
        out_start=net.offsets[-2],
    )
