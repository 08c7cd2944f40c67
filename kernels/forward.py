"""The asynchronous forward pass in one Triton launch
(docs/semantics.md#dynamics, #strategies, #randomness).

``simulate_triton`` is the ``backend="triton"`` of ``asyncsim.simulate``. One program simulates
one sample for all T timesteps: its state (membrane ``u``, queue ``Q``, refractory flags,
pre-spike potential ``p``, pending-since step ``a`` and the timestep's spike counts) lives in
registers as ``BLOCK_N``-wide vectors over the flat neuron index, and a data-dependent while
loop runs a timestep's forward steps until *that* sample's timestep ends (docs/semantics.md#end), so
there is no host synchronisation per step and samples stop independently. Per forward step:

a. integrate the current delivered to the reached layers (k = 1: the input projection of the
   frame, computed for all T by one dense matmul before the launch, plus the biases);
b. fire, with refractory dropout drawn from stream 2 in training mode;
c. enqueue; d. rank the pending neurons with ``strategy_keys.ranking_key`` and select the top F
   with ``selection.select_top_f`` (no sort);
then propagate sparsely: the selected neurons that have targets are compacted into a per-sample
scratch list, and for each projection, chunks of ``BLOCK_TS`` of its sources load only the
weights of their own synapses (``synapses.py``) in tiles over the projection's own target layer,
``BLOCK_T`` lanes wide, so a step costs F x fan-out weight reads, not N x N.

For the backward pass the launch can also save every timestep's step-1 potential (``v`` after the
input and biases arrive) and, when a budget can carry entries over, its starting queue; the
backward kernel (``backward.py``) recomputes each timestep from them with the same
``forward_step``.

Results equal ``simulate_reference`` bit for bit whenever the reference's float32 sums are exact
(e.g. dyadic weights): the sparse sums add the same terms in another order. The kernel is
launched with ``enable_fp_fusion=False`` so that products and sums round like PyTorch's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl
from triton.runtime.interpreter import InterpretedFunction

from asyncsim.network import Network
from asyncsim.reference import RunOptions
from asyncsim.result import SimResult

from .chunked import launch_chunked
from .dynamics import integrate_fire_enqueue
from .layout import DeviceNetwork, device_network
from .records import EventBuffers, append_records
from .selection import by_rounds, select_top_f
from .strategy_keys import float32_scalar, ranking_key, strategy_id
from .synapses import IS_CONV, N_TGT, TGT_LO, projection_field, projection_segment, synapse_tile

# State vectors live in registers up to this many neurons; larger networks run the chunked
# kernel (kernels/chunked.py), whose state lives in global memory.
MAX_NEURONS = 16384
# Elements of one [BLOCK_S, BLOCK_N] weight tile of the backward (register budget); the
# propagation's [BLOCK_TS, BLOCK_T] tiles get half (a 4096-element one made Triton 3.6 spill).
_TILE = 4096
# Records preallocated per sample and kind before the first launch (rerun if exceeded).
_FIRST_CAPACITY = 8192
_NEVER = 2**30  # a step budget that is never reached


@triton.jit
def _sum_pair(a, b, c, d):
    return a + c, b + d


@triton.jit
def compact_sources(scratch_ptr, sources, sent, idx, BLOCK_N: tl.constexpr):
    """Write the ``sources`` lanes and their ``sent`` counts as a list into the sample's scratch;
    return its length. Followed by a barrier: other threads of the program read the list."""
    slot = tl.cumsum(sources.to(tl.int32), 0) - 1
    tl.store(scratch_ptr + slot, idx, mask=sources)
    tl.store(scratch_ptr + BLOCK_N + slot, sent, mask=sources)
    tl.debug_barrier()
    return tl.sum(sources.to(tl.int32), 0)


@triton.jit
def propagate(scratch_ptr, sources, sent, idx, weights_ptr, proj_ptr, n_proj,
              BLOCK_N: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_TS: tl.constexpr):
    """Deliver the ``sent`` counts of the ``sources`` lanes along their synapses only.

    Returns the currents ``[BLOCK_N]``, the reached neurons (every target of a source, whatever
    the weight) and the number of sources. Each projection's tiles span its own target layer
    (``BLOCK_T`` lanes, at least the widest: ``step_constants``; ``BLOCK_TS`` sources per
    tile), whose currents join the state's lanes by one ``tl.gather``. With
    ``BLOCK_T == BLOCK_N`` the tiles span every lane instead (no gather).
    """
    n_src = compact_sources(scratch_ptr, sources, sent, idx, BLOCK_N)
    current = tl.zeros([BLOCK_N], dtype=tl.float32)
    reach = idx < 0
    for p in range(0, n_proj):
        lo, hi = projection_segment(proj_ptr, p, sources, idx)
        if BLOCK_T == BLOCK_N:
            for start in range(lo, hi, BLOCK_TS):
                _, _, count, _, _, hit, w = synapse_tile(scratch_ptr, start, hi, proj_ptr, p,
                                                         idx, weights_ptr, BLOCK_N, BLOCK_TS)
                current += tl.sum(w * count[:, None], 0)
                reach = reach | (tl.max(hit.to(tl.int32), 0) > 0)
        elif lo < hi:
            tgt_lo = projection_field(proj_ptr, p, TGT_LO)
            part = tl.zeros([BLOCK_T], dtype=tl.float32)
            hits = tl.zeros([BLOCK_T], dtype=tl.int32)
            for start in range(lo, hi, BLOCK_TS):
                _, _, count, _, _, hit, w = synapse_tile(
                    scratch_ptr, start, hi, proj_ptr, p, tgt_lo + tl.arange(0, BLOCK_T),
                    weights_ptr, BLOCK_N, BLOCK_TS)
                part += tl.sum(w * count[:, None], 0)
                hits = hits | tl.max(hit.to(tl.int32), 0)
            # The layer's lane of each state lane (any in range where outside: masked).
            rel = idx - tgt_lo
            layer = (rel >= 0) & (rel < projection_field(proj_ptr, p, N_TGT))
            at = rel & (BLOCK_T - 1)
            current += tl.where(layer, tl.gather(part, at, 0), 0.0)
            if projection_field(proj_ptr, p, IS_CONV) != 0:
                reach = reach | (layer & (tl.gather(hits, at, 0) > 0))
            else:  # a dense projection with a source reaches its whole target layer
                reach = reach | layer
    # The next step overwrites the list.
    tl.debug_barrier()
    return current, reach, n_src


@triton.jit
def timestep_start(idx, BLOCK_N: tl.constexpr):
    """Step-loop state at the start of a timestep (docs/semantics.md#dynamics, Start): ``p``,
    refractory flags, the step counter, the step of the first output spike (none) and
    ``active``. Step 1's currents and reach (``first_reach``) are the caller's."""
    pre = tl.zeros([BLOCK_N], dtype=tl.float32)
    refractory = idx < 0
    return (pre, refractory, tl.zeros([], tl.int32), tl.full([], -1, tl.int32),
            tl.full([], 1, tl.int1))


@triton.jit
def forward_step(u, queue, since, pre, refractory, current, reach, first_out, t, k, seed, idx,
                 theta, fan_out, scratch, weights_ptr, proj_ptr, n_proj, out_start, f,
                 max_steps, stop_after, lam, dropout, STRATEGY: tl.constexpr,
                 BY_ROUNDS: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_T: tl.constexpr,
                 BLOCK_TS: tl.constexpr):
    """Forward step ``k`` (docs/semantics.md#dynamics, phases a-d) and its emissions' propagation.

    Shared by the forward kernel and the backward kernel's recomputation, so both take exactly
    the same decisions. Returns the new state, the currents and reach of step ``k + 1``, whether
    the timestep goes on, and the step's ``v``, tested, fired and selected lanes and sent counts.
    """
    u, queue, since, pre, refractory, v, tested, fired = integrate_fire_enqueue(
        u, queue, since, pre, refractory, current, reach, theta, seed, t, k, idx, dropout)
    # Both counts in one CTA-wide reduction (each is a shared-memory round trip and barrier).
    n_pending, n_out_fired = tl.reduce(
        ((queue > 0).to(tl.int32), (fired & (idx >= out_start)).to(tl.int32)), 0, _sum_pair)
    first_out = tl.where((first_out < 0) & (n_out_fired > 0), k, first_out)
    # d. select and emit, unless a budget ends the timestep at this step
    # (docs/semantics.md#budgets): then F = 0 selects nothing and the queue carries over.
    stop = (k >= max_steps) | ((first_out >= 0) & (k >= first_out + stop_after))
    f_step = tl.where(stop, 0, f)
    selected = queue > 0
    if n_pending > f_step:  # else everything fits: the ranking cannot matter
        key = ranking_key(STRATEGY, seed, t, k, idx, since, pre, lam)
        selected = select_top_f(key, selected, f_step, BY_ROUNDS)
    sent = tl.where(selected, queue, 0)
    queue = tl.where(selected, 0, queue)
    current, reach, n_src = propagate(
        scratch, selected & (fan_out > 0), sent, idx, weights_ptr, proj_ptr, n_proj, BLOCK_N,
        BLOCK_T, BLOCK_TS)
    # The timestep ends once nothing is queued and nothing emitted has a target.
    idle = (n_pending <= f_step) & (n_src == 0)
    active = ~(stop | idle)
    return (u, queue, since, pre, refractory, current, reach, first_out, active, v, tested,
            fired, selected, sent)


@triton.jit(do_not_specialize=["n_t", "batch", "n", "n_proj", "out_start", "f", "max_steps",
                               "stop_after", "capacity", "record", "save", "save_queue"])
def _event_loop_kernel(
    first_ptr, weights_ptr, proj_ptr, fan_out_ptr, first_reach_ptr, theta_ptr,
    decay_ptr, seeds_ptr, scratch_ptr, counts_ptr, membrane_ptr, steps_ptr, emitted_ptr,
    synops_ptr, fires_ptr, n_fires_ptr, emissions_ptr, n_emissions_ptr, v1_ptr, q_start_ptr,
    n_t, batch, n, n_proj, out_start, f, max_steps, stop_after, lam, dropout, capacity, record,
    save, save_queue,
    STRATEGY: tl.constexpr, BY_ROUNDS: tl.constexpr, BLOCK_N: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_TS: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    idx = tl.arange(0, BLOCK_N)
    valid = idx < n
    theta = tl.load(theta_ptr + idx, mask=valid, other=1.0)
    decay = tl.load(decay_ptr + idx, mask=valid, other=0.0)
    fan_out = tl.load(fan_out_ptr + idx, mask=valid, other=0)
    first_reach = tl.load(first_reach_ptr + idx, mask=valid, other=0) != 0
    seed = tl.load(seeds_ptr + b)
    scratch = scratch_ptr + b * (2 * BLOCK_N)
    fires_buf = fires_ptr + b * capacity * 4
    emits_buf = emissions_ptr + b * capacity * 4
    n_fires = tl.zeros([], tl.int32)
    n_emits = tl.zeros([], tl.int32)

    u = tl.zeros([BLOCK_N], dtype=tl.float32)
    queue = tl.zeros([BLOCK_N], dtype=tl.int32)
    since = tl.zeros([BLOCK_N], dtype=tl.int32)
    for t in range(0, n_t):
        out_row = t * batch + b
        # Start (docs/semantics.md#dynamics): leak; carried entries count as pending since
        # step 0; p and r reset.
        u = u * decay
        since = tl.where(queue > 0, 0, since)
        # The backward pass restarts timestep t from step 1's potential (stored below) and
        # the queue (kernels/backward.py). `since` needs no saving (0 for every entry pending
        # now), nor the queue unless a budget can carry entries over (else it is empty now).
        if save_queue != 0:
            tl.store(q_start_ptr + out_row * n + idx, queue, mask=valid)
        current = tl.load(first_ptr + out_row * n + idx, mask=valid, other=0.0)
        count = tl.zeros([BLOCK_N], dtype=tl.int32)
        sent_total = tl.zeros([BLOCK_N], dtype=tl.int32)
        reach = first_reach
        pre, refractory, k, first_out, active = timestep_start(idx, BLOCK_N)
        while active:
            k += 1
            (u, queue, since, pre, refractory, current, reach, first_out, active, v, _, fired,
             selected, sent) = forward_step(
                u, queue, since, pre, refractory, current, reach, first_out, t, k, seed, idx,
                theta, fan_out, scratch, weights_ptr, proj_ptr, n_proj, out_start, f, max_steps,
                stop_after, lam, dropout, STRATEGY, BY_ROUNDS, BLOCK_N, BLOCK_T, BLOCK_TS)
            # Step 1's v is dynamics.integrate at the first-reach lanes; stored from here, not
            # recomputed before the loop (that made Triton 3.6 spill 24 B more at the conv
            # shape).
            if (save != 0) & (k == 1):
                tl.store(v1_ptr + out_row * n + idx, v, mask=valid)
            count += fired.to(tl.int32)
            sent_total += sent
            if record != 0:
                n_fires = append_records(fires_buf, n_fires, capacity, fired, t, k, idx, v)
                n_emits = append_records(emits_buf, n_emits, capacity, selected, t, k, idx, sent)
        tl.store(counts_ptr + out_row * n + idx, count.to(tl.float32), mask=valid)
        tl.store(membrane_ptr + out_row * (n - out_start) + idx - out_start, u,
                 mask=valid & (idx >= out_start))
        tl.store(steps_ptr + out_row, k.to(tl.int64))
        tl.store(emitted_ptr + out_row, tl.sum(sent_total.to(tl.int64), 0))
        tl.store(synops_ptr + out_row, tl.sum(sent_total.to(tl.int64) * fan_out, 0))
    if record != 0:
        tl.store(n_fires_ptr + b, n_fires)
        tl.store(n_emissions_ptr + b, n_emits)


def _interpreted() -> bool:
    """Whether the kernels were defined under ``TRITON_INTERPRET=1`` (they run on CPU tensors)."""
    return isinstance(_event_loop_kernel, InterpretedFunction)


def check_call(net: Network, x: torch.Tensor) -> None:
    """Kernel-specific checks; ``asyncsim.simulate`` has validated everything generic."""
    if x.device.type == "cpu" and not _interpreted():
        raise ValueError("x: the Triton backend needs CUDA tensors; CPU tensors run only in "
                         "Triton's interpreter (set TRITON_INTERPRET=1 before importing "
                         "asyncsim.kernels)")


def first_step_currents(net: Network, x: torch.Tensor) -> torch.Tensor:
    """``[T, B, N]`` float32 deliveries of step k = 1: the input projections of every frame
    plus the biases.

    One dense op per input projection for all T (weights upcast to float32, as in the bf16
    comparison); differentiable in torch, which is how the input, the input weights and the
    biases get their gradients (asyncsim/triton_autograd.py).
    """
    steps_t, batch, n_in = x.shape
    current = net.first_step_currents(x.reshape(-1, n_in).float(), torch.float32)
    return current.reshape(steps_t, batch, net.n_neurons)


@dataclass(frozen=True)
class StepConstants:
    """Scalar arguments and meta-parameters of ``forward_step``, shared by both kernels."""

    f: int
    max_steps: int
    stop_after: int
    lam: float
    dropout: float
    strategy: int
    by_rounds: bool
    block_n: int
    block_s: int  # sources per [BLOCK_S, BLOCK_N] tile (the backward's weight gradients)
    block_t: int  # target lanes per tile of the propagation (docs/kernels.md#sparse-propagation)
    block_ts: int  # sources per [BLOCK_TS, BLOCK_T] tile of the propagation
    block_q: int  # synapses per lane and pass (unrolled) of the backward's per-lane pull-back
    num_warps: int

    def launch_options(self) -> dict[str, object]:
        """Compiler options of both kernels. One program per SM is the design (its state lives
        in registers): up to 8 warps, ptxas may otherwise aim at two programs per SM and spill
        (Triton 3.9 at the standard shape), so it is allowed every register a thread can
        have; at 16 warps the register file already caps a thread at 128, and an explicit cap
        only made ptxas spill more (docs/kernels.md#resources). No FMA contraction, so float
        sums round as the reference's do."""
        cap = {"maxnreg": 255} if self.num_warps <= 8 else {}
        return {"num_warps": self.num_warps, "enable_fp_fusion": False, **cap}


def step_constants(n: int, opts: RunOptions, dropout: float, target_width: int) -> StepConstants:
    """The launch constants of a run over ``n`` neurons whose widest target layer (of a
    stored projection, ``DeviceNetwork.target_width``) has ``target_width``."""
    block_n = triton.next_power_of_2(n)
    # Every target layer fits one tile's lanes (forward.propagate has no loop over windows).
    block_t = min(block_n, triton.next_power_of_2(target_width))
    f = n if opts.f is None else min(opts.f, n)
    return StepConstants(
        f=f, max_steps=opts.max_steps or _NEVER,
        stop_after=_NEVER if opts.stop_on_output is None else opts.stop_on_output,
        lam=float32_scalar(opts.lam), dropout=float32_scalar(dropout),
        strategy=strategy_id(opts.strategy.name), by_rounds=by_rounds(f), block_n=block_n,
        block_s=max(2, min(triton.next_power_of_2(f), _TILE // block_n)), block_t=block_t,
        block_ts=max(2, min(triton.next_power_of_2(f), _TILE // 2 // block_t)),
        block_q=max(1, min(8, _TILE // block_n)),
        num_warps=max(1, min(16, block_n // 128)))


def launch(dev: DeviceNetwork, first: torch.Tensor, seeds: torch.Tensor, opts: RunOptions,
           dropout: float, buffers: EventBuffers,
           start_state: tuple[torch.Tensor, torch.Tensor] | None = None) -> SimResult:
    """One launch of the event loop. ``start_state``: the buffers that receive, for the
    backward pass, every timestep's step-1 potential (``[T, B, N]`` float32) and starting queue
    (``[T, B, N]`` int32, or empty where no budget can carry entries over:
    ``RunOptions.carries_queue``)."""
    steps_t, batch, n = first.shape
    device = first.device
    consts = step_constants(n, opts, dropout, dev.target_width)
    counts = torch.empty(steps_t, batch, n, dtype=torch.float32, device=device)
    membrane = torch.empty(steps_t, batch, n - dev.out_start, dtype=torch.float32, device=device)
    stats = torch.empty(3, steps_t, batch, dtype=torch.int64, device=device)
    scratch = torch.empty(batch, 2, consts.block_n, dtype=torch.int32, device=device)
    v1, queue = start_state or (counts, counts)  # unused when not saving
    _event_loop_kernel[(batch,)](
        first, dev.weights, dev.projections, dev.fan_out, dev.first_reach, dev.theta,
        dev.decay, seeds, scratch, counts, membrane, stats[0], stats[1], stats[2],
        buffers.fires, buffers.n_fires, buffers.emissions, buffers.n_emissions, v1, queue,
        steps_t, batch, n, dev.projections.shape[0], dev.out_start, consts.f, consts.max_steps,
        consts.stop_after, consts.lam, consts.dropout, buffers.capacity, int(opts.record),
        int(start_state is not None), int(start_state is not None and queue.numel() > 0),
        STRATEGY=consts.strategy, BY_ROUNDS=consts.by_rounds,
        BLOCK_N=consts.block_n, BLOCK_T=consts.block_t, BLOCK_TS=consts.block_ts,
        **consts.launch_options(),
    )
    return SimResult(counts=counts, forward_steps=stats[0], emitted=stats[1], synops=stats[2],
                     output_membrane=membrane, layer_sizes=[])


def simulate_triton(net: Network, x: torch.Tensor, opts: RunOptions) -> SimResult:
    """``simulate_reference`` on the device: same fields, dtypes and records; no autograd graph
    (``asyncsim.triton_autograd`` is the differentiable path).

    ``x`` ``[T, B, n_in]`` (already validated and cast to the weights' dtype by
    ``asyncsim.simulate``); weights float32 or bfloat16, state and currents float32. Networks
    past ``MAX_NEURONS`` run the chunked kernel (kernels/chunked.py).
    """
    check_call(net, x)
    steps_t, batch, _ = x.shape
    dev = device_network(net, x.device)
    first = first_step_currents(net, x)
    seeds = opts.seeds.to(device=x.device, dtype=torch.int64).contiguous()
    dropout = net.refractory_dropout if net.training else 0.0
    capacity = min(steps_t * net.n_neurons, _FIRST_CAPACITY) if opts.record else 0
    buffers = EventBuffers(batch, capacity, x.device)
    run = launch if net.n_neurons <= MAX_NEURONS else launch_chunked
    res = run(dev, first, seeds, opts, dropout, buffers)
    if opts.record and buffers.needed() > capacity:
        buffers = EventBuffers(batch, buffers.needed(), x.device)
        res = run(dev, first, seeds, opts, dropout, buffers)
    res.layer_sizes = list(net.layer_sizes)
    res.readout = net.readout
    if opts.record:
        res.events, res.emissions = buffers.records()
    return res
