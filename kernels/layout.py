"""Device layout of a ``Network`` for the event-loop kernels (docs/semantics.md#network,
#integrate).

Sparse propagation reads only the weights of the synapses of the spikes being delivered. The
weights of every projection whose source is a neuron layer are concatenated into one flat
buffer: a dense projection transposed (``W^T``, ``[n_source_pooled, n_target]``: the outgoing
weights of one source are one contiguous row), a convolution as ``weight.flatten()``
(``[C_out, C_in, K, K]``). The input projections are not stored here: they deliver the whole
frame at step 1, a dense op done for all T before the launch (``forward.first_step_currents``).

The backward pass also reads the dense projections by target (``flat_weights(net,
by_target=True)``: ``W`` ``[n_target, n_source_pooled]`` as stored, the conv parts unchanged, so
every projection keeps its offset): a pull-back in which each source lane sums its own synapses
then reads, for one target, consecutive weights on consecutive lanes.

``projections`` describes each stored projection by one row of int32 fields (``FIELDS``): its
source and target neuron ranges, kind, offset in the flat weights and geometry. The kernels
locate a synapse ``(source j, target i)`` arithmetically from them, which is the same rule as
``asyncsim.architecture.Projection.synapse_table``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch

from asyncsim.architecture import CONV, Projection
from asyncsim.network import Network

WEIGHT_DTYPES = (torch.float32, torch.bfloat16)
FIELDS = ("src_lo", "src_hi", "tgt_lo", "n_tgt", "is_conv", "w_base", "c_in", "h_in", "w_in",
          "pool", "h_pooled", "w_pooled", "kernel", "stride", "padding", "h_out", "w_out")
_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class DeviceNetwork:
    """Per-neuron tables ``[N]``, the projection table and the flat weights, on one device."""

    weights: torch.Tensor  # flat, float32 or bfloat16
    projections: torch.Tensor  # [P, len(FIELDS)] int32
    fan_out: torch.Tensor  # int32: targets of one spike of each neuron
    first_reach: torch.Tensor  # int32: 1 for the neurons reached at forward step 1
    theta: torch.Tensor  # float32
    decay: torch.Tensor  # float32
    out_start: int  # flat index of the first output neuron
    target_width: int  # neurons of the widest target layer of a stored projection (>= 1)
    # flat_weights(net, by_target=True): the backward pass's pull-back reads these.
    weights_by_target: torch.Tensor | None = None


def weight_dtype(net: Network) -> torch.dtype:
    """The one dtype of all weights and biases; ValueError if mixed or not float32/bfloat16."""
    params = list(net.weights) + (list(net.biases) if net.biases is not None else [])
    dtypes = {p.dtype for p in params}
    if len(dtypes) != 1 or next(iter(dtypes)) not in WEIGHT_DTYPES:
        raise ValueError(f"weights: the Triton backend needs every weight and bias in one of "
                         f"{[str(d) for d in WEIGHT_DTYPES]}, got {sorted(map(str, dtypes))}")
    return dtypes.pop()


def stored_projections(net: Network) -> list[tuple[Projection, torch.Tensor]]:
    """The projections the kernels propagate (source is a neuron layer) and their weights."""
    return [(p, w) for p, w in zip(net.projections, net.weights, strict=True) if p.source > 0]


def flat_weights(net: Network, by_target: bool = False) -> torch.Tensor:
    """The stored projections' weights in the kernels' flat layout, a differentiable function
    of ``net.weights``; ``by_target``: dense projections untransposed (one row per target)."""
    parts = [w.t().reshape(-1) if p.kind != CONV and not by_target else w.reshape(-1)
             for p, w in stored_projections(net)]
    if not parts:
        return net.weights[0].new_zeros(0)
    return torch.cat(parts)


def _fields(net: Network, proj: Projection, w_base: int) -> list[int]:
    src, tgt = net.layer_slice(proj.source - 1), net.layer_slice(proj.target - 1)
    c_in, h_in, w_in = proj.in_shape
    _, h_pooled, w_pooled = proj.pooled_shape
    row = {"src_lo": src.start, "src_hi": src.stop, "tgt_lo": tgt.start,
           "n_tgt": proj.n_target, "is_conv": int(proj.kind == CONV), "w_base": w_base,
           "c_in": c_in, "h_in": h_in, "w_in": w_in, "pool": proj.pool, "h_pooled": h_pooled,
           "w_pooled": w_pooled, "kernel": proj.kernel, "stride": proj.stride,
           "padding": proj.padding, "h_out": proj.out_shape[1], "w_out": proj.out_shape[2]}
    return [row[name] for name in FIELDS]


# Per network: the key its neuron tables were built for, and the tables (see device_network).
_TABLES: weakref.WeakKeyDictionary[Network, tuple[tuple, dict[str, torch.Tensor]]] = (
    weakref.WeakKeyDictionary())


def _tables_key(net: Network, device: torch.device) -> tuple:
    """What the neuron tables and the projection table depend on besides the (fixed)
    architecture: the device, ``dt``, the readout and the threshold and time-constant buffers
    (their storage and in-place version)."""
    buffers = tuple((b.data_ptr(), b._version) for b in (net.theta, net.tau))
    return (str(torch.device(device)), net.dt, net.readout, buffers)


def _tables(net: Network, device: torch.device) -> dict[str, torch.Tensor]:
    rows, base = [], 0
    for proj, weight in stored_projections(net):
        rows.append(_fields(net, proj, base))
        base += weight.numel()
    if base > _INT32_MAX:
        raise ValueError(f"weights: the Triton backend addresses at most {_INT32_MAX} hidden "
                         f"weights, got {base}")
    table = torch.tensor(rows, dtype=torch.int32).reshape(len(rows), len(FIELDS))
    return {
        "projections": table.to(device).contiguous(),
        "fan_out": net.fan_out().to(device=device, dtype=torch.int32).contiguous(),
        "first_reach": net.first_reach().to(device=device, dtype=torch.int32).contiguous(),
        # A non-spiking (membrane readout) neuron integrates but never crosses threshold.
        "theta": torch.where(net.spiking(), net.theta, torch.inf).to(device=device,
                                                                     dtype=torch.float32),
        # Network.decay() in float32 even for a bfloat16 network: the state is float32.
        "decay": torch.exp(-net.dt / net.tau.to(device=device, dtype=torch.float32)),
    }


def device_network(net: Network, device: torch.device) -> DeviceNetwork:
    """The kernels' view of ``net`` on ``device``.

    The flat weights are packed at every call (a device-side copy: weights change at every
    optimizer step, and an in-place edit through ``.data`` would not show in a version
    counter). The tables, built on the host and copied over, are cached per network and
    rebuilt when the key of ``_tables_key`` changes: repeated calls (evaluation, training)
    pay no host work and no host-to-device copy for them.
    """
    weight_dtype(net)
    key = _tables_key(net, device)
    cached = _TABLES.get(net)
    if cached is None or cached[0] != key:
        cached = (key, _tables(net, device))
        _TABLES[net] = cached
    return DeviceNetwork(weights=flat_weights(net).detach().to(device).contiguous(),
                         out_start=net.offsets[-2], target_width=target_width(net),
                         **cached[1])


def target_width(net: Network) -> int:
    """Neurons of the widest layer that a stored projection targets (1 if none): the
    propagation's tiles span at most this many lanes (``forward.step_constants``)."""
    return max((proj.n_target for proj, _ in stored_projections(net)), default=1)
