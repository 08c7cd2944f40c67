"""The unlayered backward pass in one Triton launch (docs/semantics.md#gradients).

``backward_event_loop`` differentiates the forward kernel (``forward.py``) exactly as the
reference backend's autograd does. One program per sample walks the timesteps in reverse. For
timestep t it first *recomputes* the forward steps from the saved state (step 1's potential
``v`` and, when a budget can carry entries over, the starting queue, ``[T, B, N]``: see
``dynamics.integrate``) with the forward kernel's own ``forward_step``, so every decision
(selection, reach, refractoriness, dropout, termination) is the forward's, and writes
each step's ``v`` and flags (tested, fired, selected, open, sent count) into a per-sample scratch
``[K, N]`` (K = the longest timestep). "Tested" is the gradient rule's: the forward's tests,
every open neuron (``grad="dense"``), or also the open targets of the previous step's silent
tests (``grad="surrogate"``; their reach is propagated during the recomputation). Then it runs
the steps backwards. Adjoints carried across steps: ``gu`` (membrane), ``gq`` (queue entries)
and ``gnext`` (the current integrated at the following step). Per step k, in reverse:

- pull back the deliveries of step k: ``g_delivery[j] = sum_i W[i, j] gnext[i]`` over the
  synapses of the emitted neurons and, unless ``grad="events"``, of the tested silent ones
  (their zero-valued spike variables' delivery), and ``dW[i, j] += gnext[i] * e_j`` for the
  emitted counts ``e_j`` (atomics into one flat buffer shaped like the forward's flat weights,
  ``layout``);
- the queue: an emitted entry takes ``g_delivery``, a kept one keeps ``gq``; a fired spike
  receives its entry's gradient (only real spikes enter the queue);
- the spike variable ``s``: counts (``dL/dc``), queue, silent delivery and the reset
  ``u = v (1 - s)`` (not detached: ``-gu * v``); ``dv = gu (1 - s) + g_s sigma'(v - theta)`` on
  tested lanes;
- ``v = u + I``: ``gu <- dv``; the current's gradient is ``dv`` on open lanes (at k = 1 on the
  neurons the first step reaches), which is ``gnext`` for step k - 1 or, at k = 1, the output
  ``dL/dI_1`` ``[T, B, N]``.

Between timesteps ``gu <- gu * decay`` (the leak), plus ``dL/d output_membrane`` at each end.
Torch turns ``dL/dI_1`` into the gradients of ``W_1``, the biases and the input.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from asyncsim.reference import RunOptions

from . import forward
from .dynamics import COUNT_SHIFT, FIRED, OPEN, RESTART_CURRENT, SELECTED, TESTED
from .forward import compact_sources, forward_step, propagate, step_constants, timestep_start
from .layout import DeviceNetwork
from .synapses import delivery_gradient, projection_segment, synapse_tile

ATAN: tl.constexpr = tl.constexpr(0)
FAST_SIGMOID: tl.constexpr = tl.constexpr(1)
SIGMOID: tl.constexpr = tl.constexpr(2)
SURROGATE_IDS: dict[str, int] = {
    "atan": ATAN.value,
    "fast_sigmoid": FAST_SIGMOID.value,
    "sigmoid": SIGMOID.value,
}
_PI: tl.constexpr = tl.constexpr(3.141592653589793)
# The gradient rules of docs/semantics.md#gradients.
EVENTS: tl.constexpr = tl.constexpr(0)
SURROGATE_RULE: tl.constexpr = tl.constexpr(1)
DENSE: tl.constexpr = tl.constexpr(2)
GRAD_IDS: dict[str, int] = {
    "events": EVENTS.value,
    "surrogate": SURROGATE_RULE.value,
    "dense": DENSE.value,
}


@triton.jit
def surrogate_grad(z, SURROGATE: tl.constexpr, scale):
    """``sigma'(z)`` of asyncsim.surrogates, in float32."""
    if SURROGATE == ATAN:
        a = _PI * scale * z / 2.0
        d = 1.0 / (_PI * (1.0 + a * a))
    elif SURROGATE == FAST_SIGMOID:
        a = 1.0 + scale * tl.abs(z)
        d = 1.0 / (a * a)
    else:
        tl.static_assert(SURROGATE == SIGMOID, "unknown surrogate id")
        sig = tl.sigmoid(scale * z)
        d = scale * sig * (1.0 - sig)
    return d


@triton.jit
def _pull_back(
    scratch_ptr,
    gbuf_ptr,
    emitted,
    ghosts,
    sent,
    gnext,
    idx,
    weights_ptr,
    weights_by_target_ptr,
    grad_weights_ptr,
    proj_ptr,
    n_proj,
    GATHER: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_S: tl.constexpr,
    BLOCK_Q: tl.constexpr,
):
    """Transpose of ``forward.propagate``: ``sum_i W[i, j] gnext[i]`` over the synapses of
    every ``emitted`` or ``ghosts`` lane j (zero elsewhere); adds ``gnext[i] * sent[j]`` to the
    gradient of the weight of each synapse of an emitted j (atomics: samples, and conv
    synapses, share weights).

    The weight gradients walk the forward's tiles of the compacted emitted list (F sources a
    step). The pull-back of the ghosts is the product of whole layers with ``gnext`` (a
    reached layer's silent neurons are all tested), so with ``GATHER`` every source lane sums
    its own synapses (``synapses.delivery_gradient``: one pass per projection, no reduction
    across lanes) from ``gnext`` published in ``gbuf``; without (``grad="events"``: F sources,
    no ghosts) each tile row is reduced across the lanes and added to ``gbuf``."""
    if GATHER:
        tl.store(gbuf_ptr + idx, gnext)
        listed = emitted
    else:
        tl.store(gbuf_ptr + idx, tl.zeros([BLOCK_N], dtype=tl.float32))
        listed = emitted | ghosts
    # Its barrier also publishes gbuf.
    compact_sources(scratch_ptr, listed, sent, idx, BLOCK_N)
    gdel = tl.zeros([BLOCK_N], dtype=tl.float32)
    for p in range(0, n_proj):
        lo, hi = projection_segment(proj_ptr, p, listed, idx)
        for start in range(lo, hi, BLOCK_S):
            j, live, count, scale, offset, hit, w = synapse_tile(
                scratch_ptr, start, hi, proj_ptr, p, idx, weights_ptr, BLOCK_N, BLOCK_S
            )
            if not GATHER:
                # A source with several projections (recurrent ones) sums their pull-backs.
                tl.atomic_add(gbuf_ptr + j, tl.sum(w * gnext[None, :], 1), mask=live, sem="relaxed")
            tl.atomic_add(
                grad_weights_ptr + offset,
                gnext[None, :] * count[:, None] * scale,
                mask=hit & (count[:, None] > 0),
                sem="relaxed",
            )
        if GATHER:
            gdel += delivery_gradient(
                gbuf_ptr,
                proj_ptr,
                p,
                emitted | ghosts,
                idx,
                weights_by_target_ptr,
                BLOCK_N,
                BLOCK_Q,
            )
    # The next step overwrites gbuf and the list; without GATHER, other threads stored gdel.
    tl.debug_barrier()
    if not GATHER:
        gdel = tl.load(gbuf_ptr + idx, mask=emitted | ghosts, other=0.0)
    return gdel


@triton.jit(
    do_not_specialize=[
        "n_t",
        "batch",
        "n",
        "n_proj",
        "out_start",
        "f",
        "max_steps",
        "stop_after",
        "save_queue",
        "gc_st",
        "gc_sb",
        "gc_sn",
        "gm_st",
        "gm_sb",
        "gm_sn",
    ]
)
def _backward_kernel(
    weights_ptr,
    weights_by_target_ptr,
    proj_ptr,
    fan_out_ptr,
    first_reach_ptr,
    theta_ptr,
    decay_ptr,
    seeds_ptr,
    v1_ptr,
    q_start_ptr,
    grad_counts_ptr,
    grad_membrane_ptr,
    grad_first_ptr,
    grad_weights_ptr,
    scratch_ptr,
    gdel_ptr,
    trace_v_ptr,
    trace_flags_ptr,
    trace_start_ptr,
    n_t,
    batch,
    n,
    n_proj,
    out_start,
    f,
    max_steps,
    stop_after,
    lam,
    dropout,
    scale,
    save_queue,
    gc_st,
    gc_sb,
    gc_sn,
    gm_st,
    gm_sb,
    gm_sn,
    STRATEGY: tl.constexpr,
    BY_ROUNDS: tl.constexpr,
    SURROGATE: tl.constexpr,
    GRAD: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_S: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_TS: tl.constexpr,
    BLOCK_Q: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    idx = tl.arange(0, BLOCK_N)
    valid = idx < n
    theta = tl.load(theta_ptr + idx, mask=valid, other=1.0)
    # A membrane-readout output neuron (theta = inf) integrates but is never tested.
    spiking = theta < float("inf")
    decay = tl.load(decay_ptr + idx, mask=valid, other=0.0)
    fan_out = tl.load(fan_out_ptr + idx, mask=valid, other=0)
    first_reach = tl.load(first_reach_ptr + idx, mask=valid, other=0) != 0
    seed = tl.load(seeds_ptr + b)
    scratch = scratch_ptr + b * (2 * BLOCK_N)
    gdel_buf = gdel_ptr + b * BLOCK_N
    trace_start = tl.load(trace_start_ptr + b)
    trace_v = trace_v_ptr + trace_start
    trace_flags = trace_flags_ptr + trace_start

    gu = tl.zeros([BLOCK_N], dtype=tl.float32)
    gq = tl.zeros([BLOCK_N], dtype=tl.float32)
    for rt in range(0, n_t):
        t = n_t - 1 - rt
        out_row = t * batch + b
        # Recompute timestep t exactly as the forward kernel ran it, from step 1's potential.
        u = tl.load(v1_ptr + out_row * n + idx, mask=valid, other=0.0)
        queue = tl.zeros([BLOCK_N], dtype=tl.int32)
        if save_queue != 0:
            queue = tl.load(q_start_ptr + out_row * n + idx, mask=valid, other=0)
        since = tl.zeros([BLOCK_N], dtype=tl.int32)
        current = tl.full([BLOCK_N], RESTART_CURRENT, tl.float32)
        reach = first_reach
        pre, refractory, k, first_out, active = timestep_start(idx, BLOCK_N)
        # grad="surrogate": the targets of the previous step's silent spike variables.
        silent_reach = idx < 0
        while active:
            k += 1
            open_ = ~refractory
            (
                u,
                queue,
                since,
                pre,
                refractory,
                current,
                reach,
                first_out,
                active,
                v,
                tested,
                fired,
                selected,
                sent,
            ) = forward_step(
                u,
                queue,
                since,
                pre,
                refractory,
                current,
                reach,
                first_out,
                t,
                k,
                seed,
                idx,
                theta,
                fan_out,
                scratch,
                weights_ptr,
                proj_ptr,
                n_proj,
                out_start,
                f,
                max_steps,
                stop_after,
                lam,
                dropout,
                STRATEGY,
                BY_ROUNDS,
                BLOCK_N,
                BLOCK_T,
                BLOCK_TS,
            )
            # The neurons the gradient rule tests: a superset of the forward's tests whose
            # extra neurons were not reached (v = u, silent).
            if GRAD == DENSE:
                tested = open_ & valid
            elif GRAD == SURROGATE_RULE:
                tested = tested | (silent_reach & open_)
                if active:
                    silent = tested & spiking & ~fired & (fan_out > 0)
                    _, silent_reach, _ = propagate(
                        scratch,
                        silent,
                        tl.zeros([BLOCK_N], tl.int32),
                        idx,
                        weights_ptr,
                        proj_ptr,
                        n_proj,
                        BLOCK_N,
                        BLOCK_T,
                        BLOCK_TS,
                    )
            flags = (
                tl.where(tested & spiking, TESTED, 0)
                | tl.where(fired, FIRED, 0)
                | tl.where(selected, SELECTED, 0)
                | tl.where(open_, OPEN, 0)
                | (sent << COUNT_SHIFT)
            )
            step_row = (k - 1).to(tl.int64) * n + idx
            tl.store(trace_v + step_row, v, mask=valid)
            tl.store(trace_flags + step_row, flags, mask=valid)
        n_steps = k
        tl.debug_barrier()

        # Backwards through the steps of timestep t.
        grad_count = tl.load(
            grad_counts_ptr + t.to(tl.int64) * gc_st + b * gc_sb + idx * gc_sn,
            mask=valid,
            other=0.0,
        )
        gu += tl.load(
            grad_membrane_ptr + t.to(tl.int64) * gm_st + b * gm_sb + (idx - out_start) * gm_sn,
            mask=valid & (idx >= out_start),
            other=0.0,
        )
        gnext = tl.zeros([BLOCK_N], dtype=tl.float32)
        for rk in range(0, n_steps):
            kk = n_steps - rk
            step_row = (kk - 1).to(tl.int64) * n + idx
            v = tl.load(trace_v + step_row, mask=valid, other=0.0)
            flags = tl.load(trace_flags + step_row, mask=valid, other=0)
            tested = (flags & TESTED) != 0
            fired = (flags & FIRED) != 0
            selected = (flags & SELECTED) != 0
            # Silent tests pass their spike variable on, except under grad="events".
            ghost = tested & ~fired
            if GRAD == EVENTS:
                ghost = idx < 0
            if rk > 0:  # the last step's deliveries are never integrated
                gdel = _pull_back(
                    scratch,
                    gdel_buf,
                    selected & (fan_out > 0),
                    ghost & (fan_out > 0),
                    flags >> COUNT_SHIFT,
                    gnext,
                    idx,
                    weights_ptr,
                    weights_by_target_ptr,
                    grad_weights_ptr,
                    proj_ptr,
                    n_proj,
                    GRAD != EVENTS,
                    BLOCK_N,
                    BLOCK_S,
                    BLOCK_Q,
                )
            else:
                gdel = tl.zeros([BLOCK_N], dtype=tl.float32)
            gq = tl.where(selected, gdel, gq)
            g_spike = grad_count + tl.where(fired, gq, 0.0) - gu * v
            g_spike += tl.where(ghost, gdel, 0.0)
            dsdv = tl.where(tested, surrogate_grad(v - theta, SURROGATE, scale), 0.0)
            gu = tl.where(fired, 0.0, gu) + g_spike * dsdv
            integrates = (flags & OPEN) != 0
            if kk == 1:
                integrates = first_reach
            gnext = tl.where(integrates, gu, 0.0)
        tl.store(grad_first_ptr + out_row * n + idx, gnext, mask=valid)
        # The leak at the start of timestep t: u_t = u_(t-1, end) * decay.
        gu = gu * decay


def recompute_trace(
    forward_steps: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The backward kernels' record of one timestep's recomputation: ``v`` (float32) and flags
    (int32) of every neuron at every step, and where each sample's rows start. A sample gets as
    many rows as its own longest timestep has steps, not the batch's longest (F = 8 at the
    standard shape: 37% less). Sizing it is the backward's one host synchronisation."""
    rows = forward_steps.amax(0)
    start = (torch.cumsum(rows, 0) - rows) * n
    size = int(rows.sum()) * n
    device = forward_steps.device
    return (
        torch.empty(size, dtype=torch.float32, device=device),
        torch.empty(size, dtype=torch.int32, device=device),
        start.contiguous(),
    )


def backward_event_loop(
    dev: DeviceNetwork,
    seeds: torch.Tensor,
    opts: RunOptions,
    dropout: float,
    start_state: tuple[torch.Tensor, torch.Tensor],
    forward_steps: torch.Tensor,
    grad_counts: torch.Tensor,
    grad_membrane: torch.Tensor,
    surrogate: str,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dL/dI_1 [T, B, N], dL/d dev.weights)``, both float32.

    ``dev``, ``seeds``, ``opts`` and ``dropout`` are those of the forward launch
    (``forward.launch``), ``start_state`` what it saved (step 1's potentials ``[T, B, N]``, the
    starting queues or an empty tensor) and ``forward_steps`` its ``[T, B]`` steps;
    ``grad_counts`` ``[T, B, N]`` and ``grad_membrane`` ``[T, B, n_out]`` the incoming
    gradients; ``surrogate`` a name of ``SURROGATE_IDS`` with its ``scale``. Networks past
    ``MAX_NEURONS`` run the chunked backward kernel (kernels/chunked_backward.py).
    """
    steps_t, batch, n = start_state[0].shape
    device = start_state[0].device
    consts = step_constants(n, opts, dropout, dev.target_width)
    save_queue = int(start_state[1].numel() > 0)
    grad_first = torch.empty(steps_t, batch, n, dtype=torch.float32, device=device)
    grad_weights = torch.zeros(dev.weights.numel(), dtype=torch.float32, device=device)
    trace = recompute_trace(forward_steps, n)
    # Read through their strides: an expanded gradient (of a sum; zeros for an output the
    # loss does not use) is never materialised.
    incoming = (grad_counts.float(), grad_membrane.float())
    if n > forward.MAX_NEURONS:
        # Imported here: chunked_backward imports this module's rules and surrogates.
        from .chunked_backward import launch_chunked_backward

        launch_chunked_backward(
            dev,
            seeds,
            consts,
            start_state,
            incoming,
            (grad_first, grad_weights),
            trace,
            surrogate,
            opts.grad,
            scale,
        )
        return grad_first, grad_weights
    scratch = torch.empty(batch, 2, consts.block_n, dtype=torch.int32, device=device)
    gdel = torch.empty(batch, consts.block_n, dtype=torch.float32, device=device)
    _backward_kernel[(batch,)](
        dev.weights,
        dev.weights_by_target,
        dev.projections,
        dev.fan_out,
        dev.first_reach,
        dev.theta,
        dev.decay,
        seeds,
        *start_state,
        *incoming,
        grad_first,
        grad_weights,
        scratch,
        gdel,
        *trace,
        steps_t,
        batch,
        n,
        dev.projections.shape[0],
        dev.out_start,
        consts.f,
        consts.max_steps,
        consts.stop_after,
        consts.lam,
        consts.dropout,
        scale,
        save_queue,
        *incoming[0].stride(),
        *incoming[1].stride(),
        STRATEGY=consts.strategy,
        BY_ROUNDS=consts.by_rounds,
        SURROGATE=SURROGATE_IDS[surrogate],
        GRAD=GRAD_IDS[opts.grad],
        BLOCK_N=consts.block_n,
        BLOCK_S=consts.block_s,
        BLOCK_T=consts.block_t,
        BLOCK_TS=consts.block_ts,
        BLOCK_Q=consts.block_q,
        **consts.launch_options(),
    )
    return grad_first, grad_weights
