"""Scheduling strategies as ranking keys; top-F selection (docs/semantics.md#strategies).

A strategy is data: a function from the scheduling state to an int64 key per neuron, smaller
keys first. ``select_top_f`` picks the F smallest keys among pending neurons, ties going to the
smaller neuron index, so every backend schedules identically given the same keys. ``sync`` is
not a ranking: it selects everything and runs the layered model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .rng import Stream, rng, uniform_from_bits

INT64_MAX = torch.iinfo(torch.int64).max


@dataclass(frozen=True)
class RankState:
    """What a ranking key may look at during phase d of forward step ``k`` of timestep ``t``.

    Keys are elementwise: the tensors broadcast against each other, e.g. ``[B, 1]`` seeds with
    ``[1, N]`` neurons and ``[B, N]`` state, or one entry per pending ``(sample, neuron)``.
    """

    seeds: torch.Tensor  # int64 uint32 seed of each entry's sample
    t: int
    k: int
    neuron: torch.Tensor  # flat neuron index j
    pending_since: torch.Tensor  # int64: the step a of docs/semantics.md#enqueue (0 = carried over)
    pre_spike: torch.Tensor  # float: p, the potential before the latest spike
    lam: float


def float_order_key(x: torch.Tensor) -> torch.Tensor:
    """Map float32 values to int64 keys with the same order (``-0.0`` and ``0.0`` equal)."""
    bits = (x.to(torch.float32) + 0.0).view(torch.int32).to(torch.int64)
    return torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)


def schedule_bits(state: RankState) -> torch.Tensor:
    """``rng(seed_b, stream=0, t, k, j)`` of every entry."""
    return rng(state.seeds, Stream.SCHEDULE, state.t, state.k, state.neuron)


def random_key(state: RankState) -> torch.Tensor:
    """A uniformly random order, fresh at every step."""
    return schedule_bits(state)


def momentum_key(state: RankState) -> torch.Tensor:
    """Largest ``p_j + lam * U(seed, 1, t, k, j)`` first: the neuron driven furthest past
    threshold goes first."""
    score = state.pre_spike.to(torch.float32)
    if state.lam != 0.0:
        bits = rng(state.seeds, Stream.MOMENTUM_NOISE, state.t, state.k, state.neuron)
        score = score + state.lam * uniform_from_bits(bits)
    return -float_order_key(score)


def fifo_key(state: RankState) -> torch.Tensor:
    """Oldest pending step first, random among equals (keys ``a * 2**32 + rng``)."""
    return (state.pending_since << 32) + schedule_bits(state)


@dataclass(frozen=True)
class Strategy:
    """A named scheduling strategy; ``key`` is None for ``sync`` (select everything)."""

    name: str
    key: Callable[[RankState], torch.Tensor] | None


STRATEGIES: dict[str, Strategy] = {
    "random": Strategy("random", random_key),
    "momentum": Strategy("momentum", momentum_key),
    "fifo": Strategy("fifo", fifo_key),
    "sync": Strategy("sync", None),
}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise ValueError(f"strategy: unknown {name!r}; choose from {sorted(STRATEGIES)}")
    return STRATEGIES[name]


def select_top_f(key: torch.Tensor, pending: torch.Tensor, f: int | None) -> torch.Tensor:
    """Boolean ``[B, N]`` mask of the ``f`` pending neurons with the smallest keys per row.

    Ties at the boundary go to the smaller neuron index. ``f=None`` selects every pending neuron.
    Uses a k-th value threshold and a cumulative-sum fill, never a sort of the queue.
    """
    if f is None or f >= key.shape[1]:
        return pending
    masked = key.masked_fill(~pending, INT64_MAX)
    kth = masked.kthvalue(f, dim=1, keepdim=True).values
    below = masked < kth
    tie = (masked == kth) & pending
    room = f - below.sum(dim=1, keepdim=True)
    return below | (tie & (tie.cumsum(dim=1) <= room))
