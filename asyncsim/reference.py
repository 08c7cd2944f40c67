"""Pure-PyTorch reference backend: the asynchronous dynamics and its autograd
(docs/semantics.md#dynamics, #gradients).

See docs/semantics.md#dynamics. Vectorized over the batch: every sample runs its own event loop
(its own forward steps and termination) inside shared tensors; a finished sample is masked out.
Each forward step integrates the currents delivered to the layers it reaches, tests reached
non-refractory neurons, enqueues the spikes and emits the F best-ranked pending entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .delivery import Deliveries
from .network import Network
from .result import Records, SimResult
from .rng import Stream, uniform
from .strategies import INT64_MAX, RankState, Strategy, select_top_f
from .surrogates import spike


@dataclass(frozen=True)
class RunOptions:
    """Validated options of one simulation (see ``asyncsim.simulate``)."""

    strategy: Strategy
    f: int | None
    seeds: torch.Tensor
    lam: float
    max_steps: int | None
    stop_on_output: int | None
    grad: str  # the gradient rule: "surrogate", "dense" or "events" (docs/semantics.md#gradients)
    record: bool

    @property
    def carries_queue(self) -> bool:
        """Whether a timestep can end with entries still queued: only when a budget ends it
        (docs/semantics.md#budgets); otherwise it ends with an empty queue (#end)."""
        return self.max_steps is not None or self.stop_on_output is not None


class _Layout:
    """Per-neuron views of the network's layer structure on one device and dtype."""

    def __init__(self, net: Network, dtype: torch.dtype, device: torch.device) -> None:
        self.neuron = torch.arange(net.n_neurons, device=device)
        self.spiking = net.spiking().to(device)
        self.decay = net.decay().to(device=device, dtype=dtype)
        self.theta = net.theta.to(device=device, dtype=dtype)
        self.fan_out = net.fan_out().to(device=device, dtype=dtype)
        self.first_reach = net.first_reach().to(device)


def needs_grad(net: Network, x: torch.Tensor) -> bool:
    """Whether this call must build an autograd graph."""
    return torch.is_grad_enabled() and (
        x.requires_grad or any(p.requires_grad for p in net.parameters())
    )


def simulate_reference(net: Network, x: torch.Tensor, opts: RunOptions) -> SimResult:
    """Run ``x`` ``[T, B, n_in]`` through ``net`` with the asynchronous dynamics."""
    steps_t, batch, _ = x.shape
    device, dtype = x.device, x.dtype
    n = net.n_neurons
    layout = _Layout(net, dtype, device)
    deliveries = Deliveries(net, device)
    out = net.layer_slice(net.n_layers - 1)
    dropout = net.refractory_dropout if net.training else 0.0
    key_fn = opts.strategy.key
    assert key_fn is not None, "sync runs on the layered backend"
    # The gradient rule decides which open neurons are tested for the gradient and whether
    # silent tests send their zero spike variables on (docs/semantics.md#gradients); without a
    # gradient to carry, only the forward's tests matter.
    rule = opts.grad if needs_grad(net, x) else "events"

    u = x.new_zeros(batch, n)
    queue = x.new_zeros(batch, n)
    pending_since = torch.zeros(batch, n, dtype=torch.int64, device=device)
    counts, forward_steps, emitted, synops, membrane = [], [], [], [], []
    fire_log: list[tuple[torch.Tensor, ...]] = []
    emit_log: list[tuple[torch.Tensor, ...]] = []

    for t in range(steps_t):
        u = u * layout.decay
        pending_since = pending_since.masked_fill(queue.detach() > 0, 0)
        pre_spike = torch.zeros(batch, n, dtype=torch.float32, device=device)
        refractory = torch.zeros(batch, n, dtype=torch.bool, device=device)
        count = x.new_zeros(batch, n)
        current = net.first_step_currents(x[t])
        reached = layout.first_reach.expand(batch, n)
        ghost_reached = torch.zeros(batch, n, dtype=torch.bool, device=device)
        active = torch.ones(batch, dtype=torch.bool, device=device)
        steps = torch.zeros(batch, dtype=torch.int64, device=device)
        n_emitted = torch.zeros(batch, dtype=dtype, device=device)
        n_synops = torch.zeros(batch, dtype=dtype, device=device)
        first_out = torch.full((batch,), -1, dtype=torch.int64, device=device)
        k = 0
        while True:
            k += 1
            # a. integrate: only reached neurons get current (structurally: the deliveries'
            # targets), and only open ones keep it.
            open_ = ~refractory & active[:, None]
            tested = reached & open_ & layout.spiking
            v = u + current * open_
            # b. fire. The forward tests `tested`; the gradient rule tests `grad_tested`, a
            # superset whose extra neurons were not reached, so v = u <= theta and s = 0 there.
            if rule == "dense":
                grad_tested = open_ & layout.spiking
            elif rule == "surrogate":
                grad_tested = tested | (ghost_reached & open_ & layout.spiking)
            else:
                grad_tested = tested
            s = spike(v - layout.theta, net.surrogate) * grad_tested
            fired = (v.detach() > layout.theta) & tested
            u = v * (1.0 - s)
            count = count + s
            if dropout > 0.0:
                keep_open = (
                    uniform(
                        opts.seeds[:, None], Stream.REFRACTORY_DROPOUT, t, k, layout.neuron[None, :]
                    )
                    < dropout
                )
                refractory = refractory | (fired & ~keep_open)
            else:
                refractory = refractory | fired
            pre_spike = torch.where(fired, v.detach().to(torch.float32), pre_spike)
            # c. enqueue
            pending_since = pending_since.masked_fill(fired & (queue.detach() == 0), k)
            # Only real spikes join the queue: a silent test's zero must not ride along with a
            # later emission of the same neuron (docs/semantics.md#queue, #reference-code).
            queue = queue + s * fired
            if opts.record:
                b_idx, j_idx = fired.nonzero(as_tuple=True)
                fire_log.append(
                    (
                        b_idx,
                        torch.full_like(b_idx, t),
                        torch.full_like(b_idx, k),
                        j_idx,
                        v.detach()[b_idx, j_idx].float(),
                    )
                )
            first_out = torch.where((first_out < 0) & fired[:, out].any(dim=1), k, first_out)
            # d. select and emit, unless a budget ends the timestep here.
            stop = torch.zeros_like(active)
            if opts.max_steps is not None and k >= opts.max_steps:
                stop = ~stop
            if opts.stop_on_output is not None:
                stop = stop | ((first_out >= 0) & (k >= first_out + opts.stop_on_output))
            pending = (queue.detach() > 0) & (active & ~stop)[:, None]
            if opts.f is None or int(pending.sum(dim=1).max()) <= opts.f:
                selected = pending  # everything fits: the ranking cannot matter
            else:
                # Keys of the pending entries only (hashing all N would cost more); others
                # are masked out by the selection anyway.
                b_idx, j_idx = pending.nonzero(as_tuple=True)
                rank = RankState(
                    opts.seeds[b_idx],
                    t,
                    k,
                    j_idx,
                    pending_since[b_idx, j_idx],
                    pre_spike[b_idx, j_idx],
                    opts.lam,
                )
                key = torch.full((batch, n), INT64_MAX, dtype=torch.int64, device=device)
                key[b_idx, j_idx] = key_fn(rank)
                selected = select_top_f(key, pending, opts.f)
            emission = queue * selected
            queue = queue * ~selected
            sent = emission.detach()
            n_emitted = n_emitted + sent.sum(dim=1)
            n_synops = n_synops + (sent * layout.fan_out).sum(dim=1)
            if opts.record:
                b_idx, j_idx = selected.nonzero(as_tuple=True)
                emit_log.append(
                    (
                        b_idx,
                        torch.full_like(b_idx, t),
                        torch.full_like(b_idx, k),
                        j_idx,
                        sent[b_idx, j_idx].float(),
                    )
                )
            # grad="surrogate"/"dense": silent tests send their zero-valued spike variable along
            # with the next step's deliveries; under "surrogate" they reach (and get tested).
            silent = zeros = None
            if rule != "events":
                silent = grad_tested & ~fired
                zeros = s * silent
            current, reached, ghost_reached = deliveries.deliver(
                emission, selected, zeros, silent, ghost_reach=rule == "surrogate"
            )
            # The timestep ends once nothing is queued and nothing emitted has a target.
            idle = ~(queue.detach() > 0).any(dim=1) & ~(selected & deliveries.has_targets).any(
                dim=1
            )
            ends = active & (stop | idle)
            steps = torch.where(ends, k, steps)
            active = active & ~ends
            if not bool(active.any()):
                break
        counts.append(count)
        membrane.append(u[:, out])
        forward_steps.append(steps)
        emitted.append(n_emitted.round().long())
        synops.append(n_synops.round().long())

    if needs_grad(net, x):
        # A projection that never delivered was never computed (Deliveries skips it): a zero
        # term keeps every weight in the graph, so its gradient is zeros, as on Triton.
        counts[0] = counts[0] + sum(w.sum() for w in net.weights) * 0.0
    return SimResult.from_timesteps(
        counts,
        forward_steps,
        emitted,
        synops,
        membrane,
        net.layer_sizes,
        net.readout,
        events=Records.gather(fire_log, device) if opts.record else None,
        emissions=Records.gather(emit_log, device) if opts.record else None,
    )
