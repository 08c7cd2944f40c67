"""Ranking keys of the scheduling strategies on the device
(docs/semantics.md#strategies, #randomness).

A strategy is data: ``ranking_key`` maps the scheduling state of one sample to an int64 key per
neuron, smaller first, bit for bit equal to ``asyncsim.strategies.random_key``, ``momentum_key``
and ``fifo_key``. The event loop calls it with a constexpr strategy id and never branches on the
strategy itself, so adding a strategy means adding an id and a branch here, nothing else.
``ranking_keys`` is its PyTorch-facing wrapper (one program per sample), used by the tests.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from asyncsim.rng import Stream

from .hashing import rng_bits, uniform

RANDOM: tl.constexpr = tl.constexpr(0)
MOMENTUM: tl.constexpr = tl.constexpr(1)
FIFO: tl.constexpr = tl.constexpr(2)
STRATEGY_IDS: dict[str, int] = {"random": RANDOM.value, "momentum": MOMENTUM.value,
                                 "fifo": FIFO.value}

_SCHEDULE: tl.constexpr = tl.constexpr(int(Stream.SCHEDULE))
_MOMENTUM_NOISE: tl.constexpr = tl.constexpr(int(Stream.MOMENTUM_NOISE))


@triton.jit
def ranking_key(strategy: tl.constexpr, seed, t, k, j, pending_since, pre_spike, lam):
    """int64 key per neuron ``j`` at forward step ``k`` of timestep ``t``; smaller goes first.

    ``pending_since`` (int32) and ``pre_spike`` (float32) are the FIFO ``a`` and momentum ``p``
    of docs/semantics.md#dynamics; ``lam`` must already be rounded to float32 (as torch does).
    The kernel must be launched with ``enable_fp_fusion=False`` so ``p + lam * U`` rounds twice.
    """
    if strategy == MOMENTUM:
        # lam == 0 adds +0.0, which float_order_key adds anyway: the reference's skip is the same.
        score = pre_spike + lam * uniform(seed, _MOMENTUM_NOISE, t, k, j)
        # strategies.float_order_key: float32 bits -> int64 of the same order, -0.0 == 0.0.
        bits = (score + 0.0).to(tl.int32, bitcast=True).to(tl.int64)
        key = -tl.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    elif strategy == FIFO:
        key = (pending_since.to(tl.int64) << 32) + rng_bits(seed, _SCHEDULE, t, k, j)
    else:
        tl.static_assert(strategy == RANDOM, "unknown strategy id")
        key = rng_bits(seed, _SCHEDULE, t, k, j)
    return key


@triton.jit
def _keys_kernel(key_ptr, seeds_ptr, since_ptr, pre_ptr, t, k, lam, n,
                 STRATEGY: tl.constexpr, BLOCK_N: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    j = tl.arange(0, BLOCK_N)
    valid = j < n
    since = tl.load(since_ptr + b * n + j, mask=valid, other=0)
    pre = tl.load(pre_ptr + b * n + j, mask=valid, other=0.0)
    key = ranking_key(STRATEGY, tl.load(seeds_ptr + b), t, k, j, since, pre, lam)
    tl.store(key_ptr + b * n + j, key, mask=valid)


def float32_scalar(value: float) -> float:
    """``value`` rounded to float32, as torch rounds a Python scalar used with float32 tensors."""
    return float(torch.tensor(value, dtype=torch.float32))


def strategy_id(name: str) -> int:
    """The constexpr id of a strategy the kernels implement; ValueError for any other."""
    if name not in STRATEGY_IDS:
        raise ValueError(f"strategy: {name!r} has no Triton ranking key; the Triton backend "
                         f"implements {sorted(STRATEGY_IDS)}")
    return STRATEGY_IDS[name]


def ranking_keys(strategy: str, seeds: torch.Tensor, t: int, k: int,
                 pending_since: torch.Tensor, pre_spike: torch.Tensor, lam: float) -> torch.Tensor:
    """``[B, N]`` int64 keys of ``strategy`` computed on the device (equal to the reference's).

    ``seeds`` ``[B]`` int64; ``pending_since`` ``[B, N]`` int; ``pre_spike`` ``[B, N]`` float.
    """
    batch, n = pre_spike.shape
    key = torch.empty(batch, n, dtype=torch.int64, device=pre_spike.device)
    _keys_kernel[(batch,)](
        key, seeds.to(torch.int64).contiguous(), pending_since.to(torch.int32).contiguous(),
        pre_spike.to(torch.float32).contiguous(), t, k, float32_scalar(lam), n,
        STRATEGY=strategy_id(strategy), BLOCK_N=triton.next_power_of_2(n),
        enable_fp_fusion=False)
    return key
