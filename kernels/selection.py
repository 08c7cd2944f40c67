"""Top-F selection on the device without sorting (docs/semantics.md#select, #strategies).

``select_top_f`` equals ``asyncsim.strategies.select_top_f`` exactly: the F pending neurons with
the smallest int64 keys, ties at the boundary going to the smaller neuron index. It finds the
F-th smallest pending key (the threshold), takes everything below it and fills the remaining
room with the tied neurons in index order (a cumulative sum), like the reference. The threshold
comes from one of two searches, chosen per launch:

- rounds: repeated minimum above the previous one, with its multiplicity in the same
  reduction, at most F rounds (cheap for small F);
- bisection over the key range of the pending neurons: one count per halving, at most
  ~log2(range) rounds whatever F is (about 32 for hash keys).

``select_mask`` is the PyTorch-facing wrapper, used by the tests.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

# Largest F searched by rounds; above it bisection needs fewer reductions. Read at launch time.
ROUNDS_MAX_F = 16

_KEY_MAX: tl.constexpr = tl.constexpr(2**63 - 1)


@triton.jit
def _min_count_combine(key_a, count_a, key_b, count_b):
    smaller = key_a < key_b
    equal = key_a == key_b
    return (tl.where(smaller | equal, key_a, key_b),
            tl.where(equal, count_a + count_b, tl.where(smaller, count_a, count_b)))


@triton.jit
def min_and_count(keys):
    """The smallest key and the number of lanes holding it, in one CTA-wide reduction (two
    reductions would cost two shared-memory round trips and barriers; docs/kernels.md)."""
    return tl.reduce((keys, tl.full(keys.shape, 1, tl.int32)), 0, _min_count_combine)


@triton.jit
def _kth_by_rounds(masked, f):
    kth, taken = min_and_count(masked)
    while taken < f:
        # Lanes at or below kth become _KEY_MAX, which no key reaches (strategy_keys), and
        # more than f lanes are pending, so the loop ends on a real key: the lanes counted
        # are exactly those holding it.
        kth, more = min_and_count(tl.where(masked > kth, masked, _KEY_MAX))
        taken += more
    return kth


@triton.jit
def _kth_by_bisection(masked, pending, f):
    lo = tl.min(masked, 0)
    hi = tl.max(tl.where(pending, masked, lo), 0)
    while lo < hi:
        # hi - lo >= 0, so the shift is a floor division whatever the signs of lo and hi.
        mid = lo + ((hi - lo) >> 1)
        enough = tl.sum((masked <= mid).to(tl.int32), 0) >= f
        hi = tl.where(enough, mid, hi)
        lo = tl.where(enough, lo, mid + 1)
    return lo


@triton.jit
def select_top_f(key, pending, f, BY_ROUNDS: tl.constexpr):
    """Boolean mask of the ``f`` pending lanes with the smallest ``key``.

    Only for more than ``f`` pending lanes: with fewer, every pending lane is selected and the
    caller skips the ranking altogether.
    """
    masked = tl.where(pending, key, _KEY_MAX)
    kth = _kth_by_rounds(masked, f) if BY_ROUNDS else _kth_by_bisection(masked, pending, f)
    below = masked < kth
    tie = masked == kth
    room = f - tl.sum(below.to(tl.int32), 0)
    return below | (tie & (tl.cumsum(tie.to(tl.int32), 0) <= room))


def by_rounds(f: int) -> bool:
    """Whether the threshold for ``f`` is searched by rounds rather than by bisection."""
    return f <= ROUNDS_MAX_F


@triton.jit
def _select_kernel(sel_ptr, key_ptr, pending_ptr, f, n,
                   BY_ROUNDS: tl.constexpr, BLOCK_N: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    j = tl.arange(0, BLOCK_N)
    valid = j < n
    key = tl.load(key_ptr + b * n + j, mask=valid, other=0)
    pending = tl.load(pending_ptr + b * n + j, mask=valid, other=0) != 0
    selected = pending
    if tl.sum(pending.to(tl.int32), 0) > f:
        selected = select_top_f(key, pending, f, BY_ROUNDS)
    tl.store(sel_ptr + b * n + j, selected.to(tl.int8), mask=valid)


def select_mask(key: torch.Tensor, pending: torch.Tensor, f: int | None) -> torch.Tensor:
    """``[B, N]`` bool: ``strategies.select_top_f(key, pending, f)`` computed on the device."""
    batch, n = key.shape
    f = n if f is None else min(f, n)
    out = torch.empty(batch, n, dtype=torch.int8, device=key.device)
    _select_kernel[(batch,)](out, key.to(torch.int64).contiguous(),
                             pending.to(torch.int8).contiguous(), f, n,
                             BY_ROUNDS=by_rounds(f), BLOCK_N=triton.next_power_of_2(n))
    return out.bool()
