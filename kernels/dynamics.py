"""Phases a-c of a forward step over a vector of neurons (docs/semantics.md#dynamics):
integrate the delivered current into the reached, non-refractory neurons, fire (with refractory
dropout drawn from docs/semantics.md#randomness's stream 2 in training mode), enqueue.

One rule for both event-loop kernels: the register kernel (``forward.forward_step``) calls it on
the whole state, the chunked kernel (``chunked.py``) on each chunk. The flag bits below encode a
recomputed step for the backward kernels (``backward.py``, ``chunked_backward.py``).
"""

from __future__ import annotations

import triton
import triton.language as tl

from asyncsim.rng import Stream

from .hashing import uniform

_DROPOUT: tl.constexpr = tl.constexpr(int(Stream.REFRACTORY_DROPOUT))
# Flag bits of a recomputed step's lanes; the sent count is stored above them.
TESTED: tl.constexpr = tl.constexpr(1)
FIRED: tl.constexpr = tl.constexpr(2)
SELECTED: tl.constexpr = tl.constexpr(4)
OPEN: tl.constexpr = tl.constexpr(8)
COUNT_SHIFT: tl.constexpr = tl.constexpr(4)
# The currents with which the backward kernels restart a timestep from its saved step-1
# potential: x + (-0.0) == x for every float, -0.0 included, so step 1 integrates to exactly
# the saved v.
RESTART_CURRENT: tl.constexpr = tl.constexpr(-0.0)


@triton.jit
def integrate(u, current, lanes):
    """``v = u + I`` on ``lanes`` (the reached, non-refractory neurons), ``u`` elsewhere
    (docs/semantics.md#integrate). At step 1 the lanes are ``first_reach`` (no neuron is
    refractory yet): with gradients the forward kernels save that ``v`` for every timestep and
    the backward kernels restart the timestep from it with ``RESTART_CURRENT``, so they need
    neither the start membrane nor ``first_step_currents``."""
    return tl.where(lanes, u + current, u)


@triton.jit
def integrate_fire_enqueue(u, queue, since, pre, refractory, current, reach, theta, seed, t, k,
                           idx, dropout):
    """Returns the new ``u``, queue, pending-since step, pre-spike potential and refractory
    flags, and the step's ``v``, tested and fired lanes."""
    tested = reach & ~refractory
    v = integrate(u, current, tested)
    fired = tested & (v > theta)
    u = tl.where(fired, 0.0, v)
    closes = fired
    if dropout > 0.0:
        keep_open = uniform(seed, _DROPOUT, t, k, idx) < dropout
        closes = fired & ~keep_open
    refractory = refractory | closes
    pre = tl.where(fired, v, pre)
    since = tl.where(fired & (queue == 0), k, since)
    queue += fired.to(tl.int32)
    return u, queue, since, pre, refractory, v, tested, fired
