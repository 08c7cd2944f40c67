"""The forward event loop for networks past the register kernel's ``MAX_NEURONS``
(docs/semantics.md#dynamics, #strategies, #randomness; docs/kernels.md#large-networks).

``forward._event_loop_kernel`` keeps a sample's state in registers, which caps a network at
``MAX_NEURONS``. This kernel keeps the same state vectors in a per-sample workspace in global
memory (L2-resident on a GPU) and walks them in ``CHUNK``-wide pieces, phase by phase, with the
same per-lane rules (``integrate_fire_enqueue``, ``ranking_key``, ``synapse_tile``), so its
decisions and results are those of the register kernel and of the reference:

a-c. integrate, fire and enqueue chunk by chunk, summing the pending and output-fire counts;
d. when more than F are pending: every pending neuron's key is written once, the F-th smallest
   is found by the register kernel's search (rounds of the next smallest key for small F, else
   bisection over the keys' range), each round a pass over the chunks, and the selection takes
   the keys below it and fills the room with the tied ones in index order, the cumulative sum
   carried from chunk to chunk;
then the sending neurons are compacted into the sample's source list (offset carried across
chunks; the list stays in neuron order), and propagation runs per projection and target chunk
over the projection's source tiles, accumulating each lane's current in the register kernel's
order (projection, then sources in list order; tiles of another size, so the results are the
register kernel's bit for bit whenever the float32 sums are exact, docs/kernels.md).

A barrier follows every phase that stores what other threads of the program load next.
With gradients the launch saves each timestep's step-1 potential (and, when a budget can carry
entries over, its starting queue), and ``chunked_backward.py`` recomputes the timesteps from
them with this kernel's ``step`` (its ``TRACE`` hooks writing the trace).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import triton
import triton.language as tl

from asyncsim.reference import RunOptions
from asyncsim.result import SimResult

from .dynamics import (
    COUNT_SHIFT,
    FIRED,
    OPEN,
    RESTART_CURRENT,
    SELECTED,
    TESTED,
    integrate,
    integrate_fire_enqueue,
)
from .layout import DeviceNetwork
from .records import EventBuffers, append_records
from .selection import min_and_count
from .strategy_keys import ranking_key
from .synapses import N_TGT, SRC_HI, SRC_LO, TGT_LO, projection_field, synapse_tile

if TYPE_CHECKING:
    from .forward import StepConstants

# Lanes per chunk: one [CHUNK] vector per state field in registers at a time (8 warps).
CHUNK = 2048
# Elements of one [BLOCK_S, CHUNK] weight tile (as forward._TILE).
_TILE = 4096
_KEY_MAX: tl.constexpr = tl.constexpr(2**63 - 1)
_KEY_MIN: tl.constexpr = tl.constexpr(-(2**63))
# Rows of the float and int workspaces.
_U: tl.constexpr = tl.constexpr(0)
_PRE: tl.constexpr = tl.constexpr(1)
_CURRENT: tl.constexpr = tl.constexpr(2)
_QUEUE: tl.constexpr = tl.constexpr(0)
_SINCE: tl.constexpr = tl.constexpr(1)
_REFRACTORY: tl.constexpr = tl.constexpr(2)
_REACH: tl.constexpr = tl.constexpr(3)
_COUNT: tl.constexpr = tl.constexpr(4)
_SENT: tl.constexpr = tl.constexpr(5)
# The backward's recomputation (chunked_backward.py): the targets of the previous step's silent
# spike variables (grad="surrogate").
SILENT_REACH: tl.constexpr = tl.constexpr(6)
FLOAT_ROWS: tl.constexpr = tl.constexpr(3)
INT_ROWS: tl.constexpr = tl.constexpr(7)


@triton.jit
def lower_bound(list_ptr, length, value):
    """The first position of the ascending list ``[0, length)`` holding ``value`` or more."""
    lo = tl.zeros([], tl.int32)
    hi = length
    while lo < hi:
        mid = (lo + hi) // 2
        less = tl.load(list_ptr + mid) < value
        lo = tl.where(less, mid + 1, lo)
        hi = tl.where(less, hi, mid)
    return lo


@triton.jit
def sample_workspace(float_ptr, int_ptr, keys_ptr, scratch_ptr, n, STRIDE: tl.constexpr):
    """This program's sample and its rows of the workspaces: float and int state, keys and
    source list."""
    b = tl.program_id(0).to(tl.int64)
    return (b, float_ptr + b * (FLOAT_ROWS * n), int_ptr + b * (INT_ROWS * n),
            keys_ptr + b * n, scratch_ptr + b * (2 * STRIDE))


@triton.jit
def list_lanes(scratch, n_listed, lanes, values, idx, STRIDE: tl.constexpr):
    """Append the ``lanes`` of a chunk to the source list of length ``n_listed`` (their index,
    and ``values`` in the list's second row), in lane order; return the new length."""
    slot = n_listed + tl.cumsum(lanes.to(tl.int32), 0) - 1
    tl.store(scratch + slot, idx, mask=lanes)
    tl.store(scratch + STRIDE + slot, values, mask=lanes)
    return n_listed + tl.sum(lanes.to(tl.int32), 0)


@triton.jit
def listed_segment(scratch, n_listed, proj_ptr, p):
    """Projection ``p``'s sources in the list (positions ``[lo, hi)``: the list is in neuron
    order and layers are contiguous) and its target neurons ``[tgt_lo, tgt_hi)``."""
    lo = lower_bound(scratch, n_listed, projection_field(proj_ptr, p, SRC_LO))
    hi = lower_bound(scratch, n_listed, projection_field(proj_ptr, p, SRC_HI))
    tgt_lo = projection_field(proj_ptr, p, TGT_LO)
    return lo, hi, tgt_lo, tgt_lo + projection_field(proj_ptr, p, N_TGT)


@triton.jit
def start_timestep(fs, ws, first_ptr, out_row, decay_ptr, first_reach_ptr, n, v1_ptr,
                   q_start_ptr, save, save_queue, RESTORE: tl.constexpr, CHUNK: tl.constexpr):
    """The timestep's Start (docs/semantics.md#dynamics) for every chunk: leak; carried entries
    pending since step 0; p and r reset; the currents and reach of step 1; the timestep's
    counts zeroed. ``save``: also store step 1's potential (``dynamics.integrate``) at
    ``out_row`` of ``v1`` ``[T, B, N]``, and with ``save_queue`` the queue at that row of
    ``q_start``. ``RESTORE`` (the backward's recomputation): restart from the saved potential
    with ``RESTART_CURRENT`` instead (``first_ptr`` unread), the queue loaded with
    ``save_queue``, else empty; every pending entry is then pending since 0."""
    for c0 in range(0, n, CHUNK):
        idx = c0 + tl.arange(0, CHUNK)
        valid = idx < n
        zero = tl.zeros([CHUNK], tl.int32)
        first_reach = tl.load(first_reach_ptr + idx, mask=valid, other=0)
        if RESTORE:
            u = tl.load(v1_ptr + out_row * n + idx, mask=valid)
            queue = zero
            if save_queue != 0:
                queue = tl.load(q_start_ptr + out_row * n + idx, mask=valid)
            current = tl.full([CHUNK], RESTART_CURRENT, tl.float32)
            since = zero
            tl.store(ws + _QUEUE * n + idx, queue, mask=valid)
        else:
            u = tl.load(fs + _U * n + idx, mask=valid) * tl.load(decay_ptr + idx, mask=valid)
            queue = tl.load(ws + _QUEUE * n + idx, mask=valid)
            since = tl.where(queue > 0, 0, tl.load(ws + _SINCE * n + idx, mask=valid))
            current = tl.load(first_ptr + out_row * n + idx, mask=valid)
            if save != 0:
                tl.store(v1_ptr + out_row * n + idx, integrate(u, current, first_reach != 0),
                         mask=valid)
                if save_queue != 0:
                    tl.store(q_start_ptr + out_row * n + idx, queue, mask=valid)
        tl.store(fs + _U * n + idx, u, mask=valid)
        tl.store(fs + _PRE * n + idx, zero.to(tl.float32), mask=valid)
        tl.store(fs + _CURRENT * n + idx, current, mask=valid)
        tl.store(ws + _SINCE * n + idx, since, mask=valid)
        tl.store(ws + _REFRACTORY * n + idx, zero, mask=valid)
        tl.store(ws + _REACH * n + idx, first_reach, mask=valid)
        tl.store(ws + _COUNT * n + idx, zero, mask=valid)
        tl.store(ws + _SENT * n + idx, zero, mask=valid)
        tl.store(ws + SILENT_REACH * n + idx, zero, mask=valid)
    tl.debug_barrier()


@triton.jit
def _integrate_fire_enqueue(fs, ws, theta_ptr, seed, t, k, n, out_start, dropout, fires_buf,
                            n_fires, capacity, record, trace_v, trace_flags,
                            TRACE: tl.constexpr, CHUNK: tl.constexpr):
    """Phases a-c for every chunk; returns the pending count, the output fires and the fire
    records' count. ``TRACE``: also store the step's ``v`` and its tested (by the forward),
    fired and open lanes (``dynamics`` flag bits) at row ``k - 1`` of ``trace_v`` and
    ``trace_flags`` ``[K, N]``."""
    n_pending = tl.zeros([], tl.int32)
    n_out_fired = tl.zeros([], tl.int32)
    for c0 in range(0, n, CHUNK):
        idx = c0 + tl.arange(0, CHUNK)
        valid = idx < n
        u = tl.load(fs + _U * n + idx, mask=valid, other=0.0)
        pre = tl.load(fs + _PRE * n + idx, mask=valid, other=0.0)
        current = tl.load(fs + _CURRENT * n + idx, mask=valid, other=0.0)
        queue = tl.load(ws + _QUEUE * n + idx, mask=valid, other=0)
        since = tl.load(ws + _SINCE * n + idx, mask=valid, other=0)
        refractory = tl.load(ws + _REFRACTORY * n + idx, mask=valid, other=1) != 0
        reach = tl.load(ws + _REACH * n + idx, mask=valid, other=0) != 0
        theta = tl.load(theta_ptr + idx, mask=valid, other=1.0)
        if TRACE:
            open_ = ~refractory
        u, queue, since, pre, refractory, v, tested, fired = integrate_fire_enqueue(
            u, queue, since, pre, refractory, current, reach, theta, seed, t, k, idx, dropout)
        if TRACE:
            row = (k - 1).to(tl.int64) * n + idx
            tl.store(trace_v + row, v, mask=valid)
            tl.store(trace_flags + row, tl.where(tested, TESTED, 0) | tl.where(fired, FIRED, 0)
                     | tl.where(open_, OPEN, 0), mask=valid)
        tl.store(fs + _U * n + idx, u, mask=valid)
        tl.store(fs + _PRE * n + idx, pre, mask=valid)
        tl.store(ws + _QUEUE * n + idx, queue, mask=valid)
        tl.store(ws + _SINCE * n + idx, since, mask=valid)
        tl.store(ws + _REFRACTORY * n + idx, refractory.to(tl.int32), mask=valid)
        count = tl.load(ws + _COUNT * n + idx, mask=valid, other=0)
        tl.store(ws + _COUNT * n + idx, count + fired.to(tl.int32), mask=valid)
        n_pending += tl.sum((queue > 0).to(tl.int32), 0)
        n_out_fired += tl.sum((fired & (idx >= out_start)).to(tl.int32), 0)
        if record != 0:
            n_fires = append_records(fires_buf, n_fires, capacity, fired, t, k, idx, v)
    tl.debug_barrier()
    return n_pending, n_out_fired, n_fires


@triton.jit
def _merge_min(best, held, low, count):
    """Two (smallest key, lanes holding it) pairs merged: equal keys add their lanes."""
    held = tl.where(low < best, count, tl.where(low == best, held + count, held))
    return tl.minimum(best, low), held


@triton.jit
def _write_keys(fs, ws, keys, seed, t, k, lam, n, STRATEGY: tl.constexpr,
                BY_ROUNDS: tl.constexpr, CHUNK: tl.constexpr):
    """Write every lane's ranking key (``_KEY_MAX`` where nothing is pending); return the
    smallest pending key, how many lanes hold it (the first round; counted only
    ``BY_ROUNDS``), and the largest."""
    lo = tl.full([], _KEY_MAX, tl.int64)
    held = tl.zeros([], tl.int32)
    hi = tl.full([], _KEY_MIN, tl.int64)
    for c0 in range(0, n, CHUNK):
        idx = c0 + tl.arange(0, CHUNK)
        valid = idx < n
        pending = tl.load(ws + _QUEUE * n + idx, mask=valid, other=0) > 0
        since = tl.load(ws + _SINCE * n + idx, mask=valid, other=0)
        pre = tl.load(fs + _PRE * n + idx, mask=valid, other=0.0)
        key = tl.where(pending, ranking_key(STRATEGY, seed, t, k, idx, since, pre, lam), _KEY_MAX)
        tl.store(keys + idx, key, mask=valid)
        if BY_ROUNDS:
            low, count = min_and_count(key)
            lo, held = _merge_min(lo, held, low, count)
        else:
            lo = tl.minimum(lo, tl.min(key, 0))
        hi = tl.maximum(hi, tl.max(tl.where(pending, key, _KEY_MIN), 0))
    tl.debug_barrier()
    return lo, held, hi


@triton.jit
def _min_above(keys, floor, n, CHUNK: tl.constexpr):
    """The smallest key above ``floor`` and how many lanes hold it, over every chunk."""
    best = tl.full([], _KEY_MAX, tl.int64)
    held = tl.zeros([], tl.int32)
    for c0 in range(0, n, CHUNK):
        idx = c0 + tl.arange(0, CHUNK)
        key = tl.load(keys + idx, mask=idx < n, other=_KEY_MAX)
        low, count = min_and_count(tl.where(key > floor, key, _KEY_MAX))
        best, held = _merge_min(best, held, low, count)
    return best, held


@triton.jit
def _kth_key(fs, ws, keys, seed, t, k, lam, n, f, STRATEGY: tl.constexpr,
             BY_ROUNDS: tl.constexpr, CHUNK: tl.constexpr):
    """The ``f``-th smallest pending key, found as selection.select_top_f finds it: by rounds
    of the next smallest key (small F; the first round comes with the keys) or by bisection
    over the keys' range, each round a pass over the chunks; and the number of keys below
    it."""
    lo, taken, hi = _write_keys(fs, ws, keys, seed, t, k, lam, n, STRATEGY, BY_ROUNDS, CHUNK)
    if BY_ROUNDS:
        # More than f lanes are pending and no key reaches _KEY_MAX, so the rounds end on a
        # real key (as selection._kth_by_rounds).
        while taken < f:
            lo, more = _min_above(keys, lo, n, CHUNK)
            taken += more
    else:
        while lo < hi:
            # hi - lo >= 0, so the shift is a floor division whatever the signs.
            mid = lo + ((hi - lo) >> 1)
            at_most = tl.zeros([], tl.int32)
            for c0 in range(0, n, CHUNK):
                idx = c0 + tl.arange(0, CHUNK)
                at_most += tl.sum((tl.load(keys + idx, mask=idx < n, other=_KEY_MAX) <= mid)
                                  .to(tl.int32), 0)
            enough = at_most >= f
            hi = tl.where(enough, mid, hi)
            lo = tl.where(enough, lo, mid + 1)
    below = tl.zeros([], tl.int32)
    for c0 in range(0, n, CHUNK):
        idx = c0 + tl.arange(0, CHUNK)
        below += tl.sum((tl.load(keys + idx, mask=idx < n, other=_KEY_MAX) < lo).to(tl.int32), 0)
    return lo, below


@triton.jit
def _select_and_compact(fs, ws, keys, scratch, fan_out_ptr, kth, room, t, k, n,
                        emits_buf, n_emits, capacity, record, trace_flags, TRACE: tl.constexpr,
                        STRIDE: tl.constexpr, CHUNK: tl.constexpr):
    """Take the selected entries off the queue (the pending keys below ``kth`` and the first
    ``room`` tied ones; with ``kth = _KEY_MAX`` and ``room >= n``, every pending entry), list
    the selected neurons that have targets (with their counts) in the source list, clear the
    currents and reach for the next step; returns the list's length and the emission records'
    count. ``TRACE``: add the selected lanes and their sent counts to row ``k - 1`` of
    ``trace_flags``."""
    n_src = tl.zeros([], tl.int32)
    ties_before = tl.zeros([], tl.int32)
    for c0 in range(0, n, CHUNK):
        idx = c0 + tl.arange(0, CHUNK)
        valid = idx < n
        queue = tl.load(ws + _QUEUE * n + idx, mask=valid, other=0)
        key = tl.load(keys + idx, mask=valid, other=_KEY_MAX)
        tie = key == kth
        filled = (ties_before + tl.cumsum(tie.to(tl.int32), 0)) <= room
        ties_before += tl.sum(tie.to(tl.int32), 0)
        selected = (queue > 0) & ((key < kth) | (tie & filled))
        sent = tl.where(selected, queue, 0)
        tl.store(ws + _QUEUE * n + idx, tl.where(selected, 0, queue), mask=valid)
        total = tl.load(ws + _SENT * n + idx, mask=valid, other=0)
        tl.store(ws + _SENT * n + idx, total + sent, mask=valid)
        if TRACE:
            row = (k - 1).to(tl.int64) * n + idx
            flags = tl.load(trace_flags + row, mask=valid, other=0)
            tl.store(trace_flags + row, flags | tl.where(selected, SELECTED, 0)
                     | (sent << COUNT_SHIFT), mask=valid)
        sources = selected & (tl.load(fan_out_ptr + idx, mask=valid, other=0) > 0)
        n_src = list_lanes(scratch, n_src, sources, sent, idx, STRIDE)
        tl.store(fs + _CURRENT * n + idx, tl.zeros([CHUNK], tl.float32), mask=valid)
        tl.store(ws + _REACH * n + idx, tl.zeros([CHUNK], tl.int32), mask=valid)
        if record != 0:
            n_emits = append_records(emits_buf, n_emits, capacity, selected, t, k, idx, sent)
    tl.debug_barrier()
    return n_src, n_emits


@triton.jit
def propagate_listed(fs, ws, scratch, n_src, weights_ptr, proj_ptr, n_proj, n,
                     REACH_ROW: tl.constexpr, CURRENTS: tl.constexpr, STRIDE: tl.constexpr,
                     CHUNK: tl.constexpr, BLOCK_S: tl.constexpr):
    """Deliver the listed sources' counts along their synapses, target chunk by target chunk,
    marking their targets in row ``REACH_ROW``; without ``CURRENTS``, only the marks (the
    backward's silent reach)."""
    for p in range(0, n_proj):
        lo, hi, tgt_lo, tgt_hi = listed_segment(scratch, n_src, proj_ptr, p)
        if lo < hi:
            for c0 in range(tgt_lo - tgt_lo % CHUNK, tgt_hi, CHUNK):
                idx = c0 + tl.arange(0, CHUNK)
                valid = idx < n
                current = tl.load(fs + _CURRENT * n + idx, mask=valid, other=0.0)
                reach = tl.load(ws + REACH_ROW * n + idx, mask=valid, other=0) != 0
                for start in range(lo, hi, BLOCK_S):
                    _, _, count, _, _, hit, w = synapse_tile(scratch, start, hi, proj_ptr, p,
                                                             idx, weights_ptr, STRIDE, BLOCK_S)
                    if CURRENTS:
                        current += tl.sum(w * count[:, None], 0)
                    reach = reach | (tl.max(hit.to(tl.int32), 0) > 0)
                if CURRENTS:
                    tl.store(fs + _CURRENT * n + idx, current, mask=valid)
                tl.store(ws + REACH_ROW * n + idx, reach.to(tl.int32), mask=valid)
    tl.debug_barrier()


@triton.jit
def _timestep_end(fs, ws, fan_out_ptr, counts_ptr, membrane_ptr, out_row, n, out_start,
                  CHUNK: tl.constexpr):
    """Store the timestep's spike counts and output membranes; return emitted and SynOps."""
    emitted = tl.zeros([], tl.int64)
    synops = tl.zeros([], tl.int64)
    for c0 in range(0, n, CHUNK):
        idx = c0 + tl.arange(0, CHUNK)
        valid = idx < n
        count = tl.load(ws + _COUNT * n + idx, mask=valid, other=0)
        tl.store(counts_ptr + out_row * n + idx, count.to(tl.float32), mask=valid)
        u = tl.load(fs + _U * n + idx, mask=valid, other=0.0)
        tl.store(membrane_ptr + out_row * (n - out_start) + idx - out_start, u,
                 mask=valid & (idx >= out_start))
        sent = tl.load(ws + _SENT * n + idx, mask=valid, other=0).to(tl.int64)
        emitted += tl.sum(sent, 0)
        synops += tl.sum(sent * tl.load(fan_out_ptr + idx, mask=valid, other=0), 0)
    tl.debug_barrier()
    return emitted, synops


@triton.jit
def step(fs, ws, keys, scratch, t, k, first_out, seed, theta_ptr, fan_out_ptr, weights_ptr,
         proj_ptr, n_proj, n, out_start, f, max_steps, stop_after, lam, dropout, fires_buf,
         n_fires, emits_buf, n_emits, capacity, record, trace_v, trace_flags,
         STRATEGY: tl.constexpr, BY_ROUNDS: tl.constexpr, TRACE: tl.constexpr,
         STRIDE: tl.constexpr, CHUNK: tl.constexpr, BLOCK_S: tl.constexpr):
    """Forward step ``k`` over the workspace (phases a-d and the propagation), shared by the
    forward kernel and the backward's recomputation (``TRACE``: with the step's trace rows).
    Returns the step of the first output spike, whether the timestep goes on and the records'
    counts."""
    n_pending, n_out_fired, n_fires = _integrate_fire_enqueue(
        fs, ws, theta_ptr, seed, t, k, n, out_start, dropout, fires_buf, n_fires, capacity,
        record, trace_v, trace_flags, TRACE, CHUNK)
    first_out = tl.where((first_out < 0) & (n_out_fired > 0), k, first_out)
    # A budget ending the timestep here selects nothing (F = 0): the queue carries over.
    stop = (k >= max_steps) | ((first_out >= 0) & (k >= first_out + stop_after))
    f_step = tl.where(stop, 0, f)
    # Everything fits (no ranking): every key is at most _KEY_MAX, and n leaves room for
    # every tie.
    kth = tl.full([], _KEY_MAX, tl.int64)
    room = n + tl.zeros([], tl.int32)
    if n_pending > f_step:
        kth, below = _kth_key(fs, ws, keys, seed, t, k, lam, n, f_step, STRATEGY, BY_ROUNDS,
                              CHUNK)
        room = f_step - below
    n_src, n_emits = _select_and_compact(
        fs, ws, keys, scratch, fan_out_ptr, kth, room, t, k, n, emits_buf, n_emits, capacity,
        record, trace_flags, TRACE, STRIDE, CHUNK)
    propagate_listed(fs, ws, scratch, n_src, weights_ptr, proj_ptr, n_proj, n, _REACH, True,
                     STRIDE, CHUNK, BLOCK_S)
    # The timestep ends once nothing is queued and nothing emitted has a target.
    idle = (n_pending <= f_step) & (n_src == 0)
    return first_out, ~(stop | idle), n_fires, n_emits


@triton.jit(do_not_specialize=["n_t", "batch", "n", "n_proj", "out_start", "f", "max_steps",
                               "stop_after", "capacity", "record", "save", "save_queue"])
def _chunked_event_loop_kernel(
    first_ptr, weights_ptr, proj_ptr, fan_out_ptr, first_reach_ptr, theta_ptr, decay_ptr,
    seeds_ptr, float_ptr, int_ptr, keys_ptr, scratch_ptr, counts_ptr, membrane_ptr, steps_ptr,
    emitted_ptr, synops_ptr, fires_ptr, n_fires_ptr, emissions_ptr, n_emissions_ptr,
    v1_ptr, q_start_ptr,
    n_t, batch, n, n_proj, out_start, f, max_steps, stop_after, lam, dropout, capacity, record,
    save, save_queue,
    STRATEGY: tl.constexpr, BY_ROUNDS: tl.constexpr, STRIDE: tl.constexpr, CHUNK: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    b, fs, ws, keys, scratch = sample_workspace(float_ptr, int_ptr, keys_ptr, scratch_ptr, n,
                                                STRIDE)
    seed = tl.load(seeds_ptr + b)
    fires_buf = fires_ptr + b * capacity * 4
    emits_buf = emissions_ptr + b * capacity * 4
    n_fires = tl.zeros([], tl.int32)
    n_emits = tl.zeros([], tl.int32)
    for t in range(0, n_t):
        out_row = t * batch + b
        start_timestep(fs, ws, first_ptr, out_row, decay_ptr, first_reach_ptr, n, v1_ptr,
                       q_start_ptr, save, save_queue, False, CHUNK)
        k = tl.zeros([], tl.int32)
        first_out = tl.full([], -1, tl.int32)
        active = tl.full([], 1, tl.int1)
        while active:
            k += 1
            first_out, active, n_fires, n_emits = step(
                fs, ws, keys, scratch, t, k, first_out, seed, theta_ptr, fan_out_ptr,
                weights_ptr, proj_ptr, n_proj, n, out_start, f, max_steps, stop_after, lam,
                dropout, fires_buf, n_fires, emits_buf, n_emits, capacity, record, fs, ws,
                STRATEGY, BY_ROUNDS, False, STRIDE, CHUNK, BLOCK_S)
        emitted, synops = _timestep_end(fs, ws, fan_out_ptr, counts_ptr, membrane_ptr, out_row,
                                        n, out_start, CHUNK)
        tl.store(steps_ptr + out_row, k.to(tl.int64))
        tl.store(emitted_ptr + out_row, emitted)
        tl.store(synops_ptr + out_row, synops)
    if record != 0:
        tl.store(n_fires_ptr + b, n_fires)
        tl.store(n_emissions_ptr + b, n_emits)


def chunked_meta(consts: StepConstants) -> tuple[dict[str, int], dict[str, object]]:
    """Meta-parameters and compiler options of a chunked launch with the register kernel's
    constants ``consts`` (the source list's stride is ``consts.block_n``)."""
    chunk = min(CHUNK, consts.block_n)
    meta = {"STRATEGY": consts.strategy, "BY_ROUNDS": consts.by_rounds,
            "STRIDE": consts.block_n, "CHUNK": chunk,
            "BLOCK_S": max(2, min(triton.next_power_of_2(consts.f), _TILE // chunk))}
    return meta, {"num_warps": max(1, min(8, chunk // 256)), "enable_fp_fusion": False}


def launch_chunked(dev: DeviceNetwork, first: torch.Tensor, seeds: torch.Tensor,
                   opts: RunOptions, dropout: float, buffers: EventBuffers,
                   start_state: tuple[torch.Tensor, torch.Tensor] | None = None) -> SimResult:
    """One launch of the chunked event loop (same arguments and result as ``forward.launch``,
    ``start_state`` included)."""
    from .forward import step_constants

    steps_t, batch, n = first.shape
    device = first.device
    consts = step_constants(n, opts, dropout, dev.target_width)
    meta, options = chunked_meta(consts)
    counts = torch.empty(steps_t, batch, n, dtype=torch.float32, device=device)
    membrane = torch.empty(steps_t, batch, n - dev.out_start, dtype=torch.float32, device=device)
    stats = torch.empty(3, steps_t, batch, dtype=torch.int64, device=device)
    state_f = torch.zeros(batch, FLOAT_ROWS.value, n, dtype=torch.float32, device=device)
    state_i = torch.zeros(batch, INT_ROWS.value, n, dtype=torch.int32, device=device)
    keys = torch.empty(batch, n, dtype=torch.int64, device=device)
    scratch = torch.empty(batch, 2, consts.block_n, dtype=torch.int32, device=device)
    v1, queue = start_state or (counts, counts)  # unused when not saving
    _chunked_event_loop_kernel[(batch,)](
        first, dev.weights, dev.projections, dev.fan_out, dev.first_reach, dev.theta, dev.decay,
        seeds, state_f, state_i, keys, scratch, counts, membrane, stats[0], stats[1], stats[2],
        buffers.fires, buffers.n_fires, buffers.emissions, buffers.n_emissions, v1, queue,
        steps_t, batch, n, dev.projections.shape[0], dev.out_start, consts.f, consts.max_steps,
        consts.stop_after, consts.lam, consts.dropout, buffers.capacity, int(opts.record),
        int(start_state is not None), int(start_state is not None and queue.numel() > 0),
        **meta, **options,
    )
    return SimResult(counts=counts, forward_steps=stats[0], emitted=stats[1], synops=stats[2],
                     output_membrane=membrane, layer_sizes=[])
