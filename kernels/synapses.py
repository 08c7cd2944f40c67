"""Synapses of the delivered spikes, located arithmetically (docs/semantics.md#integrate;
layout in layout.py).

A delivery is computed as ``[BLOCK_S, lanes]`` tiles: ``BLOCK_S`` sources of one projection
(from the compacted list of sending neurons) against a vector of target neurons, the lanes
(the forward's propagation: a window of the projection's target layer; the backward: every
neuron of the state's vectors). For each lane
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

from .layout import FIELDS

N_FIELDS: tl.constexpr = tl.constexpr(len(FIELDS))
# The fields read one by one (layout.FIELDS order): a projection's source and target ranges.
SRC_LO: tl.constexpr = tl.constexpr(FIELDS.index("src_lo"))
SRC_HI: tl.constexpr = tl.constexpr(FIELDS.index("src_hi"))
TGT_LO: tl.constexpr = tl.constexpr(FIELDS.index("tgt_lo"))
N_TGT: tl.constexpr = tl.constexpr(FIELDS.index("n_tgt"))
IS_CONV: tl.constexpr = tl.constexpr(FIELDS.index("is_conv"))


@triton.jit
def projection_field(proj_ptr, p, i):
    """Field ``i`` of projection ``p`` (``SRC_LO`` ... or its index in layout.FIELDS)."""
    return tl.load(proj_ptr + p * N_FIELDS + i)


@triton.jit
def _projection(proj_ptr, p):
    """Row ``p`` of the projection table, its fields in layout.FIELDS order."""
    return (projection_field(proj_ptr, p, 0), projection_field(proj_ptr, p, 1),
            projection_field(proj_ptr, p, 2), projection_field(proj_ptr, p, 3),
            projection_field(proj_ptr, p, 4), projection_field(proj_ptr, p, 5),
            projection_field(proj_ptr, p, 6), projection_field(proj_ptr, p, 7),
            projection_field(proj_ptr, p, 8), projection_field(proj_ptr, p, 9),
            projection_field(proj_ptr, p, 10), projection_field(proj_ptr, p, 11),
            projection_field(proj_ptr, p, 12), projection_field(proj_ptr, p, 13),
            projection_field(proj_ptr, p, 14), projection_field(proj_ptr, p, 15),
            projection_field(proj_ptr, p, 16))


@triton.jit
def _pooled_position(src, h_in, w_in, pool):
    """Channel, pooled row and pooled column of source ``src`` (index in its layer)."""
    return src // (h_in * w_in), (src % (h_in * w_in)) // w_in // pool, src % w_in // pool


@triton.jit
def projection_segment(proj_ptr, p, sources, idx):
    """Positions ``[lo, hi)`` of projection ``p``'s sources in the compacted source list
    (compaction keeps neuron order and layers are contiguous)."""
    lo = tl.sum((sources & (idx < projection_field(proj_ptr, p, SRC_LO))).to(tl.int32), 0)
    hi = tl.sum((sources & (idx < projection_field(proj_ptr, p, SRC_HI))).to(tl.int32), 0)
    return lo, hi


@triton.jit
def synapse_tile(scratch_ptr, start, stop, proj_ptr, p, idx, weights_ptr, BLOCK_N: tl.constexpr,
                 BLOCK_S: tl.constexpr):
    """Sources ``start .. min(start + BLOCK_S, stop)`` of the compacted list (``BLOCK_N`` is
    its row stride), all of projection ``p``, against the neurons ``idx``: their neuron ``j``,
    whether the slot is live, their count, the pooling's weight ``scale``, and per lane the
    weight ``offset``, ``hit`` and the weight (times ``scale``; 0 where no hit)."""
    (src_lo, _, tgt_lo, n_tgt, is_conv, w_base, c_in, h_in, w_in, pool, h_pooled, w_pooled,
     kernel, stride, padding, h_out, w_out) = _projection(proj_ptr, p)
    # Targets: the lanes of the target layer. Lanes outside it are never dereferenced (every
    # load and atomic is masked by ``hit``), so their ``rel`` needs no clamp: a
    # ``tl.where(inside, rel, 0)`` here tied the lane vectors to the tile's layout and made
    # Triton 3.6 spill the step loop's state (docs/kernels.md#resources).
    rel = idx - tgt_lo
    inside = (rel >= 0) & (rel < n_tgt)
    s = start + tl.arange(0, BLOCK_S)
    live = s < stop
    j = tl.load(scratch_ptr + s, mask=live, other=0)
    count = tl.load(scratch_ptr + BLOCK_N + s, mask=live, other=0).to(tl.float32)
    # Sources, as (channel, pooled row, pooled column); floor pooling drops the map's edge.
    ch, y, x = _pooled_position(tl.where(live, j - src_lo, 0), h_in, w_in, pool)
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


@triton.jit
def delivery_gradient(gnext_ptr, proj_ptr, p, sources, idx, weights_by_target_ptr,
                      BLOCK_N: tl.constexpr, BLOCK_Q: tl.constexpr):
    """``sum_i W[i, j] * scale * gnext[i]`` over the synapses of projection ``p`` leaving each
    ``sources`` lane ``j`` (0 on other lanes), ``gnext`` read from memory at the flat index and
    the weights from the by-target layout (layout.py: for one target, consecutive sources
    have consecutive weights, so a dense pass's loads are contiguous along the lanes).

    The transpose of ``synapse_tile`` seen from the sources: each lane walks its own synapses,
    ``BLOCK_Q`` per pass (dense: targets ``i``; conv: kernel taps ``(c_out, ky, kx)``, whose
    target is ``y_out = (y_pooled(j) + padding - ky) / stride`` when that divides and lies in
    the map), so a whole layer's pull-back needs no reduction across lanes and no atomics.
    """
    (src_lo, src_hi, tgt_lo, n_tgt, is_conv, w_base, c_in, h_in, w_in, pool, h_pooled,
     w_pooled, kernel, stride, padding, h_out, w_out) = _projection(proj_ptr, p)
    # Lanes outside the source layer are masked at every load, so their (negative) ``src``
    # needs no clamp.
    src = idx - src_lo
    ch, y, x = _pooled_position(src, h_in, w_in, pool)
    kept = sources & (src >= 0) & (idx < src_hi) & (y < h_pooled) & (x < w_pooled)
    grad = tl.zeros([BLOCK_N], dtype=tl.float32)
    # BLOCK_Q synapses per lane and pass, unrolled: one-dimensional over the lanes like the
    # state (a [BLOCK_Q, BLOCK_N] tile made Triton 3.6 give the state the tile's layout, and
    # spill), with BLOCK_Q loads in flight.
    if is_conv != 0:
        taps = n_tgt // (h_out * w_out) * kernel * kernel
        for start in range(0, taps, BLOCK_Q):
            for dq in tl.static_range(BLOCK_Q):
                tap = start + dq
                c_out, ky, kx = tap // (kernel * kernel), tap // kernel % kernel, tap % kernel
                ny, nx = y + padding - ky, x + padding - kx
                y_out, x_out = ny // stride, nx // stride
                hit = (tl.where(tap < taps, kept, False) & (ny >= 0) & (nx >= 0)
                       & (ny % stride == 0) & (nx % stride == 0) & (y_out < h_out)
                       & (x_out < w_out))
                offset = w_base + ((c_out * c_in + ch) * kernel + ky) * kernel + kx
                w = tl.load(weights_by_target_ptr + offset, mask=hit, other=0.0)
                target = tgt_lo + (c_out * h_out + y_out) * w_out + x_out
                grad += w.to(tl.float32) * tl.load(gnext_ptr + target, mask=hit, other=0.0)
    else:
        row = (ch * h_pooled + y) * w_pooled + x
        n_row = c_in * h_pooled * w_pooled
        for start in range(0, n_tgt, BLOCK_Q):
            for dq in tl.static_range(BLOCK_Q):
                i = start + dq
                hit = tl.where(i < n_tgt, kept, False)
                w = tl.load(weights_by_target_ptr + w_base + i * n_row + row, mask=hit,
                            other=0.0)
                g = tl.load(gnext_ptr + tgt_lo + i, mask=i < n_tgt, other=0.0)
                grad += w.to(tl.float32) * g
    # The pooling's 1 / pool**2, once per sum (gradients are compared to 1e-4, not bitwise).
    return grad * (1.0 / (pool * pool).to(tl.float32))

