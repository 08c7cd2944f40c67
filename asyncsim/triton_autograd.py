"""Differentiable Triton backend: unlayered backprop (docs/semantics.md#gradients) on the
event-loop kernels.

``simulate_triton`` is ``asyncsim.simulate(..., backend="triton")``. Without gradients it runs
the forward kernel alone (``kernels/forward.py``). With gradients the run is split where torch
can differentiate it by itself:

- ``first_step_currents`` (the input projections of every frame plus the biases, ``[T, B, N]``)
  and the flat hidden weights (``layout.flat_weights``) are computed by ordinary torch ops, so
  torch's autograd turns their gradients into those of ``x``, the input weights, the biases and
  the hidden weights;
- ``asyncsim::event_loop`` (forward kernel, saving each timestep's step-1 potential and, when
  a budget can carry entries over, its starting queue; not ``first_step_currents``) and
  ``asyncsim::event_loop_backward`` (``kernels/backward.py``; past ``MAX_NEURONS`` the chunked
  kernels, ``kernels/chunked.py`` and ``kernels/chunked_backward.py``) are ``torch.library``
  custom ops
  joined by ``register_autograd``, with fake implementations, so ``torch.compile`` can trace a
  model around them (the ops stay opaque: graph breaks elsewhere in ``simulate`` are harmless).

Every decision (selection, reach, refractoriness, termination) is a constant of the graph, as in
the reference backend; the backward kernel recomputes them from the saved state.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .kernels import forward
from .kernels.backward import GRAD_IDS, backward_event_loop
from .kernels.chunked import launch_chunked
from .kernels.layout import DeviceNetwork, device_network, flat_weights
from .kernels.records import EventBuffers
from .network import Network
from .reference import RunOptions, needs_grad
from .result import SimResult
from .strategies import get_strategy

# Integer options travel as one list; None (no limit, F = inf) is encoded as -1.
_NONE = -1
_GRAD_NAMES = {rule_id: name for name, rule_id in GRAD_IDS.items()}


def _encode(value: int | None) -> int:
    return _NONE if value is None else value


def _decode(value: int) -> int | None:
    return None if value == _NONE else value


def _unpack(
    weights: Tensor, tables: list[Tensor], ints: list[int], reals: list[float], strategy: str
) -> tuple[DeviceNetwork, Tensor, RunOptions, float]:
    """The kernels' network view, seeds, options and refractory dropout from the ops' inputs."""
    projections, fan_out, first_reach, theta, decay, seeds, weights_by_target = tables
    out_start, f, max_steps, stop_on_output, grad, target_width = ints
    lam, dropout, _ = reals
    dev = DeviceNetwork(
        weights=weights.contiguous(),
        projections=projections,
        fan_out=fan_out,
        first_reach=first_reach,
        theta=theta,
        decay=decay,
        out_start=out_start,
        target_width=target_width,
        weights_by_target=weights_by_target,
    )
    opts = RunOptions(
        get_strategy(strategy),
        _decode(f),
        seeds,
        lam,
        _decode(max_steps),
        _decode(stop_on_output),
        _GRAD_NAMES[grad],
        record=False,
    )
    return dev, seeds, opts, dropout


def _start_state(first: Tensor, opts: RunOptions) -> tuple[Tensor, Tensor]:
    """The buffers the forward kernel saves for the backward: step 1's potential ``[T, B, N]``
    and the starting queue, ``[T, B, N]`` int32 or, when no budget can carry entries over
    (it is then always empty), a tensor of no elements."""
    queue_shape = first.shape if opts.carries_queue else (0,)
    return torch.empty_like(first), first.new_empty(queue_shape, dtype=torch.int32)


@torch.library.custom_op("asyncsim::event_loop", mutates_args=())
def event_loop(
    first: Tensor,
    weights: Tensor,
    tables: list[Tensor],
    ints: list[int],
    reals: list[float],
    strategy: str,
    surrogate: str,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Forward kernel: counts, output membrane, forward steps, emitted, synops, and the state
    the backward pass restarts every timestep from (``_start_state``)."""
    dev, seeds, opts, dropout = _unpack(weights, tables, ints, reals, strategy)
    first = first.contiguous()
    start_state = _start_state(first, opts)
    run = forward.launch if first.shape[2] <= forward.MAX_NEURONS else launch_chunked
    res = run(
        dev, first, seeds, opts, dropout, EventBuffers(first.shape[1], 0, first.device), start_state
    )
    # The three statistics are views of one launch buffer: outputs of an op must not alias.
    return (
        res.counts,
        res.output_membrane,
        res.forward_steps.clone(),
        res.emitted.clone(),
        res.synops.clone(),
        *start_state,
    )


@event_loop.register_fake
def _(first, weights, tables, ints, reals, strategy, surrogate):
    steps_t, batch, n = first.shape
    stat = first.new_empty(steps_t, batch, dtype=torch.int64)
    return (
        first.new_empty(steps_t, batch, n),
        first.new_empty(steps_t, batch, n - ints[0]),
        stat,
        torch.empty_like(stat),
        torch.empty_like(stat),
        *_start_state(first, _unpack(weights, tables, ints, reals, strategy)[2]),
    )


@torch.library.custom_op("asyncsim::event_loop_backward", mutates_args=())
def event_loop_backward(
    grad_counts: Tensor,
    grad_membrane: Tensor,
    weights: Tensor,
    tables: list[Tensor],
    v1: Tensor,
    queue: Tensor,
    forward_steps: Tensor,
    ints: list[int],
    reals: list[float],
    strategy: str,
    surrogate: str,
) -> tuple[Tensor, Tensor]:
    """Backward kernel: ``dL/d first`` ``[T, B, N]`` and ``dL/d weights`` (flat, float32)."""
    dev, seeds, opts, dropout = _unpack(weights, tables, ints, reals, strategy)
    return backward_event_loop(
        dev,
        seeds,
        opts,
        dropout,
        (v1, queue),
        forward_steps,
        grad_counts,
        grad_membrane,
        surrogate,
        reals[2],
    )


@event_loop_backward.register_fake
def _(
    grad_counts,
    grad_membrane,
    weights,
    tables,
    v1,
    queue,
    forward_steps,
    ints,
    reals,
    strategy,
    surrogate,
):
    return torch.empty_like(v1), weights.new_empty(weights.shape, dtype=torch.float32)


def _setup_context(ctx, inputs, output) -> None:
    _, weights, tables, ints, reals, strategy, surrogate = inputs
    # Not `first`: the backward restarts each timestep from step 1's potential (output 5), so
    # the [T, B, N] input currents are freed after the forward.
    ctx.save_for_backward(weights, output[2], output[5], output[6], *tables)
    ctx.config = (ints, reals, strategy, surrogate)
    # Outputs without a gradient (the saved state always, counts or membrane when the loss
    # leaves them out) come as None, not as zeros of their size (two [T, B, N] for nothing).
    ctx.set_materialize_grads(False)


def _backward(ctx, grad_counts, grad_membrane, *_):
    weights, steps, v1, queue, *tables = ctx.saved_tensors
    ints, reals, strategy, surrogate = ctx.config
    steps_t, batch, n = v1.shape
    # The kernels read the incoming gradients through their strides: zeros cost one element.
    zero = v1.new_zeros(())
    if grad_counts is None:
        grad_counts = zero.expand(steps_t, batch, n)
    if grad_membrane is None:
        grad_membrane = zero.expand(steps_t, batch, n - ints[0])
    grad_first, grad_weights = torch.ops.asyncsim.event_loop_backward(
        grad_counts,
        grad_membrane,
        weights,
        tables,
        v1,
        queue,
        steps,
        ints,
        reals,
        strategy,
        surrogate,
    )
    return (
        grad_first,
        grad_weights.to(weights.dtype),
        [None] * len(tables),
        None,
        None,
        None,
        None,
    )


event_loop.register_autograd(_backward, setup_context=_setup_context)


def simulate_triton(net: Network, x: Tensor, opts: RunOptions) -> SimResult:
    """``simulate_reference`` on the Triton kernels, differentiable like it
    (docs/semantics.md#gradients).

    ``record=True`` with gradients runs the forward kernel a second time, without autograd,
    for the records.
    """
    if not needs_grad(net, x):
        return forward.simulate_triton(net, x, opts)
    forward.check_call(net, x)
    dev = device_network(net, x.device)
    tables = [
        dev.projections,
        dev.fan_out,
        dev.first_reach,
        dev.theta,
        dev.decay,
        opts.seeds.to(device=x.device, dtype=torch.int64).contiguous(),
        # Read by the backward kernel only; their gradient is the flat weights'.
        flat_weights(net, by_target=True).detach().contiguous(),
    ]
    ints = [
        dev.out_start,
        _encode(opts.f),
        _encode(opts.max_steps),
        _encode(opts.stop_on_output),
        GRAD_IDS[opts.grad],
        dev.target_width,
    ]
    dropout = net.refractory_dropout if net.training else 0.0
    reals = [float(opts.lam), float(dropout), net.surrogate.scale]
    counts, membrane, steps, emitted, synops, _, _ = event_loop(
        forward.first_step_currents(net, x),
        flat_weights(net),
        tables,
        ints,
        reals,
        opts.strategy.name,
        net.surrogate.name,
    )
    res = SimResult(
        counts=counts,
        forward_steps=steps,
        emitted=emitted,
        synops=synops,
        output_membrane=membrane,
        layer_sizes=list(net.layer_sizes),
        readout=net.readout,
    )
    if opts.record:
        with torch.no_grad():
            recorded = forward.simulate_triton(net, x, opts)
        res.events, res.emissions = recorded.events, recorded.emissions
    return res
