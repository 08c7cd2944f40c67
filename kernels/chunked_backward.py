"""The unlayered backward pass for networks past ``MAX_NEURONS`` (docs/semantics.md#gradients;
docs/kernels.md#large-networks).

The computation of ``backward.py`` (read it first) on the chunked kernel's workspace: one
program per sample walks the timesteps in reverse; for timestep t it restores the saved state
(step 1's potential, the queue) and recomputes the forward steps with the chunked kernel's own
``step`` (so every decision is the forward's), writing each step's ``v`` and flags into the
trace ``[K, N]``; the gradient rule's tested lanes and, under ``grad="surrogate"``, the reach
of the silent tests (listed and propagated like emissions, into the workspace's
``SILENT_REACH`` row) follow each step. Then it runs the steps backwards with the adjoints
``gu``, ``gq``, ``gnext`` and the pulled-back delivery ``gdel`` in a per-sample adjoint
workspace ``[4, N]``, phase by phase over the chunks:

- pull-back (every step but the timestep's last): the emitted lanes with targets are listed
  and walk the forward's tiles for the weight gradients (relaxed atomics); every emitted or
  ghost lane then sums ``W gnext`` over its own synapses (``synapses.delivery_gradient``),
  source chunk by source chunk of each projection;
- the adjoint step per chunk: queue, spike variable, surrogate derivative, membrane, and the
  current's gradient (``gnext`` of the step before; at step 1, ``dL/dI_1``).

A barrier separates phases that read what other threads stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import triton
import triton.language as tl

from .backward import DENSE, EVENTS, GRAD_IDS, SURROGATE_IDS, SURROGATE_RULE, surrogate_grad
from .chunked import (
    FLOAT_ROWS,
    INT_ROWS,
    SILENT_REACH,
    chunked_meta,
    list_lanes,
    listed_segment,
    propagate_listed,
    sample_workspace,
    start_timestep,
    step,
)
from .dynamics import COUNT_SHIFT, FIRED, OPEN, SELECTED, TESTED
from .layout import DeviceNetwork
from .synapses import SRC_HI, SRC_LO, delivery_gradient, projection_field, synapse_tile

if TYPE_CHECKING:
    from .forward import StepConstants

# Rows of the adjoint workspace.
_GU: tl.constexpr = tl.constexpr(0)
_GQ: tl.constexpr = tl.constexpr(1)
_GNEXT: tl.constexpr = tl.constexpr(2)
_GDEL: tl.constexpr = tl.constexpr(3)
ADJOINT_ROWS: tl.constexpr = tl.constexpr(4)
# Elements of one pull-back pass over a chunk (as forward._TILE).
_TILE = 4096


@triton.jit
def _apply_rule(ws, trace_flags, k, theta_ptr, fan_out_ptr, scratch, n, GRAD: tl.constexpr,
                STRIDE: tl.constexpr, CHUNK: tl.constexpr):
    """The gradient rule's tested lanes of step ``k`` (its trace flags keep ``TESTED`` only on
    spiking neurons); under ``grad="surrogate"`` also list the silent tests that have targets
    in the scratch (count 0) and clear ``SILENT_REACH`` for their reach. Returns the list's
    length."""
    n_silent = tl.zeros([], tl.int32)
    for c0 in range(0, n, CHUNK):
        idx = c0 + tl.arange(0, CHUNK)
        valid = idx < n
        row = (k - 1).to(tl.int64) * n + idx
        flags = tl.load(trace_flags + row, mask=valid, other=0)
        # A membrane-readout output neuron (theta = inf) integrates but is never tested.
        spiking = tl.load(theta_ptr + idx, mask=valid, other=1.0) < float("inf")
        open_ = (flags & OPEN) != 0
        tested = (flags & TESTED) != 0
        if GRAD == DENSE:
            tested = open_ & valid
        elif GRAD == SURROGATE_RULE:
            reached = tl.load(ws + SILENT_REACH * n + idx, mask=valid, other=0) != 0
            tested = tested | (reached & open_)
            silent = (tested & spiking & ((flags & FIRED) == 0)
                      & (tl.load(fan_out_ptr + idx, mask=valid, other=0) > 0))
            n_silent = list_lanes(scratch, n_silent, silent, tl.zeros([CHUNK], tl.int32), idx,
                                  STRIDE)
            tl.store(ws + SILENT_REACH * n + idx, tl.zeros([CHUNK], tl.int32), mask=valid)
        flags = (flags & ~TESTED) | tl.where(tested & spiking, TESTED, 0)
        tl.store(trace_flags + row, flags, mask=valid)
    tl.debug_barrier()
    return n_silent


@triton.jit
def _pull_back(adj, trace_flags, kk, scratch, fan_out_ptr, weights_ptr, weights_by_target_ptr,
               grad_weights_ptr, proj_ptr, n_proj, n, GRAD: tl.constexpr, STRIDE: tl.constexpr,
               CHUNK: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_Q: tl.constexpr):
    """Step ``kk``'s deliveries, transposed: ``dW += gnext[i] * sent[j]`` over the synapses of
    the emitted lanes, and ``gdel[j] = sum_i W[i, j] gnext[i]`` for the emitted and (unless
    ``grad="events"``) the ghost lanes."""
    n_src = tl.zeros([], tl.int32)
    for c0 in range(0, n, CHUNK):
        idx = c0 + tl.arange(0, CHUNK)
        valid = idx < n
        flags = tl.load(trace_flags + (kk - 1).to(tl.int64) * n + idx, mask=valid, other=0)
        emitted = (((flags & SELECTED) != 0)
                   & (tl.load(fan_out_ptr + idx, mask=valid, other=0) > 0))
        n_src = list_lanes(scratch, n_src, emitted, flags >> COUNT_SHIFT, idx, STRIDE)
    tl.debug_barrier()
    for p in range(0, n_proj):
        lo, hi, tgt_lo, tgt_hi = listed_segment(scratch, n_src, proj_ptr, p)
        if lo < hi:
            for c0 in range(tgt_lo - tgt_lo % CHUNK, tgt_hi, CHUNK):
                idx = c0 + tl.arange(0, CHUNK)
                gnext = tl.load(adj + _GNEXT * n + idx, mask=idx < n, other=0.0)
                for start in range(lo, hi, BLOCK_S):
                    _, _, count, scale, offset, hit, _ = synapse_tile(
                        scratch, start, hi, proj_ptr, p, idx, weights_ptr, STRIDE, BLOCK_S)
                    tl.atomic_add(grad_weights_ptr + offset,
                                  gnext[None, :] * count[:, None] * scale,
                                  mask=hit & (count[:, None] > 0), sem="relaxed")
        src_lo = projection_field(proj_ptr, p, SRC_LO)
        src_hi = projection_field(proj_ptr, p, SRC_HI)
        for c0 in range(src_lo - src_lo % CHUNK, src_hi, CHUNK):
            idx = c0 + tl.arange(0, CHUNK)
            valid = idx < n
            flags = tl.load(trace_flags + (kk - 1).to(tl.int64) * n + idx, mask=valid, other=0)
            sources = (flags & SELECTED) != 0
            if GRAD != EVENTS:
                sources = sources | (((flags & TESTED) != 0) & ((flags & FIRED) == 0))
            sources = sources & (tl.load(fan_out_ptr + idx, mask=valid, other=0) > 0)
            gdel = tl.load(adj + _GDEL * n + idx, mask=valid, other=0.0)
            gdel += delivery_gradient(adj + _GNEXT * n, proj_ptr, p, sources, idx,
                                      weights_by_target_ptr, CHUNK, BLOCK_Q)
            tl.store(adj + _GDEL * n + idx, gdel, mask=valid)
    tl.debug_barrier()


@triton.jit
def _adjoint_step(adj, trace_v, trace_flags, kk, grad_counts_row, gc_sn, theta_ptr,
                  first_reach_ptr, n, scale, SURROGATE: tl.constexpr, GRAD: tl.constexpr,
                  CHUNK: tl.constexpr):
    """Step ``kk`` backwards, lane by lane (backward.py, steps 2-4): the queue, the spike
    variable, the membrane and the current's gradient, which becomes ``gnext``; ``gdel`` is
    consumed. ``grad_counts_row``: the timestep's and sample's ``dL/d counts``, ``gc_sn`` apart."""
    for c0 in range(0, n, CHUNK):
        idx = c0 + tl.arange(0, CHUNK)
        valid = idx < n
        row = (kk - 1).to(tl.int64) * n + idx
        v = tl.load(trace_v + row, mask=valid, other=0.0)
        flags = tl.load(trace_flags + row, mask=valid, other=0)
        tested = (flags & TESTED) != 0
        fired = (flags & FIRED) != 0
        ghost = tested & ~fired
        if GRAD == EVENTS:
            ghost = idx < 0
        gdel = tl.load(adj + _GDEL * n + idx, mask=valid, other=0.0)
        gu = tl.load(adj + _GU * n + idx, mask=valid, other=0.0)
        gq = tl.where((flags & SELECTED) != 0, gdel,
                      tl.load(adj + _GQ * n + idx, mask=valid, other=0.0))
        g_spike = (tl.load(grad_counts_row + idx * gc_sn, mask=valid, other=0.0)
                   + tl.where(fired, gq, 0.0) - gu * v)
        g_spike += tl.where(ghost, gdel, 0.0)
        theta = tl.load(theta_ptr + idx, mask=valid, other=1.0)
        dsdv = tl.where(tested, surrogate_grad(v - theta, SURROGATE, scale), 0.0)
        gu = tl.where(fired, 0.0, gu) + g_spike * dsdv
        integrates = (flags & OPEN) != 0
        if kk == 1:
            integrates = tl.load(first_reach_ptr + idx, mask=valid, other=0) != 0
        tl.store(adj + _GU * n + idx, gu, mask=valid)
        tl.store(adj + _GQ * n + idx, gq, mask=valid)
        tl.store(adj + _GNEXT * n + idx, tl.where(integrates, gu, 0.0), mask=valid)
        tl.store(adj + _GDEL * n + idx, tl.zeros([CHUNK], tl.float32), mask=valid)
    tl.debug_barrier()


@triton.jit(do_not_specialize=["n_t", "batch", "n", "n_proj", "out_start", "f", "max_steps",
                               "stop_after", "save_queue", "gc_st", "gc_sb", "gc_sn", "gm_st",
                               "gm_sb", "gm_sn"])
def _chunked_backward_kernel(
    weights_ptr, weights_by_target_ptr, proj_ptr, fan_out_ptr, first_reach_ptr,
    theta_ptr, decay_ptr, seeds_ptr, v1_ptr, q_start_ptr, grad_counts_ptr,
    grad_membrane_ptr, grad_first_ptr, grad_weights_ptr, float_ptr, int_ptr, keys_ptr,
    scratch_ptr, adjoint_ptr, trace_v_ptr, trace_flags_ptr, trace_start_ptr,
    n_t, batch, n, n_proj, out_start, f, max_steps, stop_after, lam, dropout, scale, save_queue,
    gc_st, gc_sb, gc_sn, gm_st, gm_sb, gm_sn,
    STRATEGY: tl.constexpr, BY_ROUNDS: tl.constexpr, SURROGATE: tl.constexpr,
    GRAD: tl.constexpr, STRIDE: tl.constexpr, CHUNK: tl.constexpr, BLOCK_S: tl.constexpr,
    BLOCK_Q: tl.constexpr,
):
    b, fs, ws, keys, scratch = sample_workspace(float_ptr, int_ptr, keys_ptr, scratch_ptr, n,
                                                STRIDE)
    adj = adjoint_ptr + b * (ADJOINT_ROWS * n)
    trace_start = tl.load(trace_start_ptr + b)
    trace_v = trace_v_ptr + trace_start
    trace_flags = trace_flags_ptr + trace_start
    seed = tl.load(seeds_ptr + b)
    no_records = tl.zeros([], tl.int32)
    for rt in range(0, n_t):
        t = n_t - 1 - rt
        out_row = t * batch + b
        # Recompute timestep t exactly as the forward kernel ran it, from step 1's potential
        # (the input currents are not read: v1_ptr stands in for them).
        start_timestep(fs, ws, v1_ptr, out_row, decay_ptr, first_reach_ptr, n, v1_ptr,
                       q_start_ptr, 0, save_queue, True, CHUNK)
        k = tl.zeros([], tl.int32)
        first_out = tl.full([], -1, tl.int32)
        active = tl.full([], 1, tl.int1)
        while active:
            k += 1
            first_out, active, _, _ = step(
                fs, ws, keys, scratch, t, k, first_out, seed, theta_ptr, fan_out_ptr,
                weights_ptr, proj_ptr, n_proj, n, out_start, f, max_steps, stop_after, lam,
                dropout, scratch, no_records, scratch, no_records, 0, 0, trace_v, trace_flags,
                STRATEGY, BY_ROUNDS, True, STRIDE, CHUNK, BLOCK_S)
            n_silent = _apply_rule(ws, trace_flags, k, theta_ptr, fan_out_ptr, scratch, n, GRAD,
                                   STRIDE, CHUNK)
            # A compile-time branch around a run-time one (Triton does not mix them in `and`).
            if GRAD == SURROGATE_RULE:  # noqa: SIM102
                if active:
                    propagate_listed(fs, ws, scratch, n_silent, weights_ptr, proj_ptr, n_proj,
                                     n, SILENT_REACH, False, STRIDE, CHUNK, BLOCK_S)
        n_steps = k

        # Backwards through the steps of timestep t: dL/d output_membrane joins gu.
        for c0 in range(0, n, CHUNK):
            idx = c0 + tl.arange(0, CHUNK)
            valid = idx < n
            gu = tl.load(adj + _GU * n + idx, mask=valid, other=0.0)
            gu += tl.load(grad_membrane_ptr + t.to(tl.int64) * gm_st + b * gm_sb
                          + (idx - out_start) * gm_sn, mask=valid & (idx >= out_start),
                          other=0.0)
            tl.store(adj + _GU * n + idx, gu, mask=valid)
        tl.debug_barrier()
        for rk in range(0, n_steps):
            kk = n_steps - rk
            if rk > 0:  # the last step's deliveries are never integrated
                _pull_back(adj, trace_flags, kk, scratch, fan_out_ptr, weights_ptr,
                           weights_by_target_ptr, grad_weights_ptr, proj_ptr, n_proj, n, GRAD,
                           STRIDE, CHUNK, BLOCK_S, BLOCK_Q)
            _adjoint_step(adj, trace_v, trace_flags, kk,
                          grad_counts_ptr + t.to(tl.int64) * gc_st + b * gc_sb, gc_sn,
                          theta_ptr, first_reach_ptr, n, scale, SURROGATE, GRAD, CHUNK)
        # dL/dI_1, and the leak at the start of timestep t: u_t = u_(t-1, end) * decay.
        for c0 in range(0, n, CHUNK):
            idx = c0 + tl.arange(0, CHUNK)
            valid = idx < n
            tl.store(grad_first_ptr + out_row * n + idx,
                     tl.load(adj + _GNEXT * n + idx, mask=valid, other=0.0), mask=valid)
            gu = tl.load(adj + _GU * n + idx, mask=valid, other=0.0)
            tl.store(adj + _GU * n + idx, gu * tl.load(decay_ptr + idx, mask=valid, other=0.0),
                     mask=valid)
        tl.debug_barrier()


def chunked_backward_meta(consts: StepConstants, surrogate: str,
                          grad: str) -> tuple[dict, dict]:
    """Meta-parameters and compiler options of a chunked backward launch: the forward's
    (``chunked.chunked_meta``) plus the pull-back's synapses per pass and the rule ids."""
    meta, options = chunked_meta(consts)
    meta.update(BLOCK_Q=max(1, min(8, _TILE // meta["CHUNK"])), SURROGATE=SURROGATE_IDS[surrogate],
                GRAD=GRAD_IDS[grad])
    return meta, options


def launch_chunked_backward(dev: DeviceNetwork, seeds: torch.Tensor, consts: StepConstants,
                            start_state: tuple[torch.Tensor, torch.Tensor],
                            incoming: tuple[torch.Tensor, torch.Tensor],
                            outputs: tuple[torch.Tensor, torch.Tensor],
                            trace: tuple[torch.Tensor, torch.Tensor, torch.Tensor], surrogate: str,
                            grad: str, scale: float) -> None:
    """The launch of ``backward.backward_event_loop`` past ``MAX_NEURONS``: ``incoming`` are
    ``dL/d counts`` and ``dL/d output_membrane`` (float32, read through their strides),
    ``outputs`` receive ``dL/dI_1`` and the flat weight gradient (zeroed), ``trace`` is
    ``backward.recompute_trace``; the workspaces are allocated here."""
    steps_t, batch, n = start_state[0].shape
    device = start_state[0].device
    meta, options = chunked_backward_meta(consts, surrogate, grad)
    state_f = torch.zeros(batch, FLOAT_ROWS.value, n, dtype=torch.float32, device=device)
    state_i = torch.zeros(batch, INT_ROWS.value, n, dtype=torch.int32, device=device)
    keys = torch.empty(batch, n, dtype=torch.int64, device=device)
    scratch = torch.empty(batch, 2, consts.block_n, dtype=torch.int32, device=device)
    adjoint = torch.zeros(batch, ADJOINT_ROWS.value, n, dtype=torch.float32, device=device)
    _chunked_backward_kernel[(batch,)](
        dev.weights, dev.weights_by_target, dev.projections, dev.fan_out,
        dev.first_reach, dev.theta, dev.decay, seeds, *start_state, *incoming, *outputs,
        state_f, state_i, keys, scratch, adjoint, *trace,
        steps_t, batch, n, dev.projections.shape[0], dev.out_start, consts.f, consts.max_steps,
        consts.stop_after, consts.lam, consts.dropout, scale, int(start_state[1].numel() > 0),
        *incoming[0].stride(),
        *incoming[1].stride(), **meta, **options,
    )
