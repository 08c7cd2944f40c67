"""Synapses of the delivered spikes, located arithmetically (docs/semantics.md#integrate;
layout in layout.py).

The event loop keeps its state in registers as vectors over the flat neuron index, so a
delivery is computed as ``[BLOCK_S, BLOCK_N]`` tiles: ``BLOCK_S`` sources of one projection
(from the compacted list of sending neurons) against every neuron lane. For each lane
``(s, i)`` the tile says whether neuron ``i`` is a target of source ``j_s`` (``hit``) and where
the synapse's weight lies in the flat weights (``offset``): for a dense projection, row ``j``'s
pooled index of the transposed weights; for a convolution, ``W[c_out(i), c_in(j), ky, kx]``
with ``ky = y_pooled(j) + padding - y_out(i) * stride`` (and the same for x), a hit when the
kernel offset lies inside the kernel. Only hit lanes load a weight, so a step reads
``sources x fan-out`` weights. Every weight is scaled by ``1 / pool**2`` (average pooling).
"""

from __future__ import annotations

import triton
import triton.language as tl

N_FIELDS: tl.constexpr = tl.constexpr(17)


@triton.jit
def _field(proj_ptr, p, i):
    return tl.load(proj_ptr + p * N_FIELDS + i)


@triton.jit
def projection_segment(proj_ptr, p, sources, idx):
    """Positions ``[lo, hi)`` of projection ``p``'s sources in the compacted source list
    (compaction keeps neuron order and layers are contiguous)."""
    lo = tl.sum((sources & (idx < _field(proj_ptr, p, 0))).to(tl.int32), 0)
    hi = tl.sum((sources & (idx < _field(proj_ptr, p, 1))).to(tl.int32), 0)
    return lo, hi


@triton.jit
def synapse_tile(scratch_ptr, start, stop, proj_ptr, p, idx, weights_ptr, BLOCK_N: tl.constexpr,
                 BLOCK_S: tl.constexpr):
    """Sources ``start .. min(start + BLOCK_S, stop)`` of the compacted list, all of projection
    ``p``, against every lane: their neuron ``j``, whether the slot is live, their count, the
    pooling's weight ``scale``, and per lane the weight ``offset``, ``hit`` and the weight
    (times ``scale``; 0 where no hit)."""
    # Row p of the projection table, fields in layout.FIELDS order.
    src_lo, tgt_lo, n_tgt = _field(proj_ptr, p, 0), _field(proj_ptr, p, 2), _field(proj_ptr, p, 3)
    is_conv, w_base, c_in = _field(proj_ptr, p, 4), _field(proj_ptr, p, 5), _field(proj_ptr, p, 6)
    h_in, w_in, pool = _field(proj_ptr, p, 7), _field(proj_ptr, p, 8), _field(proj_ptr, p, 9)
    h_pooled, w_pooled = _field(proj_ptr, p, 10), _field(proj_ptr, p, 11)
    kernel, stride, padding = (_field(proj_ptr, p, 12), _field(proj_ptr, p, 13),
                               _field(proj_ptr, p, 14))
    h_out, w_out = _field(proj_ptr, p, 15), _field(proj_ptr, p, 16)
    # Targets: the lanes of the target layer. Lanes outside it are never dereferenced (every
    # load and atomic is masked by ``hit``), so their ``rel`` needs no clamp: a
    # ``tl.where(inside, rel, 0)`` here tied the lane vectors to the tile's layout and made
    # Triton 3.6 spill the step loop's state (docs/kernels.md#resources).
    rel = idx - tgt_lo
    inside = (rel >= 0) & (rel < n_tgt)
    # Sources, as (channel, pooled row, pooled column); floor pooling drops the map's edge.
    s = start + tl.arange(0, BLOCK_S)
    live = s < stop
    j = tl.load(scratch_ptr + s, mask=live, other=0)
    count = tl.load(scratch_ptr + BLOCK_N + s, mask=live, other=0).to(tl.float32)
    src = tl.where(live, j - src_lo, 0)
    ch = src // (h_in * w_in)
    y = (src % (h_in * w_in)) // w_in // pool
    x = src % w_in // pool
    kept = live & (y < h_pooled) & (x < w_pooled)
    scale = 1.0 / (pool * pool).to(tl.float32)
    # Each branch loads its own weights: a load after the branches join makes Triton 3.6 give
    # the lane vectors the tile's replicated layout (spills; docs/kernels.md#resources).
    if is_conv != 0:
        c_out, y_out, x_out = (rel // (h_out * w_out), (rel % (h_out * w_out)) // w_out,
                               rel % w_out)
        ky = y[:, None] + padding - y_out[None, :] * stride
        kx = x[:, None] + padding - x_out[None, :] * stride
        hit = (kept[:, None] & inside[None, :] & (ky >= 0) & (ky < kernel) & (kx >= 0)
               & (kx < kernel))
        offset = w_base + ((c_out[None, :] * c_in + ch[:, None]) * kernel + ky) * kernel + kx
        w = tl.load(weights_ptr + offset, mask=hit, other=0.0).to(tl.float32) * scale
    else:
        row = (ch * h_pooled + y) * w_pooled + x
        hit = kept[:, None] & inside[None, :]
        offset = w_base + row[:, None] * n_tgt + rel[None, :]
        w = tl.load(weights_ptr + offset, mask=hit, other=0.0).to(tl.float32) * scale
    return j, live, count, scale, offset, hit, w
