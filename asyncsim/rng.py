"""Counter-based random numbers shared by every backend (docs/semantics.md#randomness).

All draws are a pure function of ``(seed, stream, t, k, j)``, so backends agree bit for bit and
runs reproduce. Arithmetic is done on int64 tensors holding uint32 values, because torch's
uint32 supports few operations; products are split into 16-bit halves so nothing overflows.
"""

from __future__ import annotations

from enum import IntEnum

import torch

MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9
_M1 = 0x85EBCA6B
_M2 = 0xC2B2AE35
Word = torch.Tensor | int  # a counter word: one value or a tensor of them


class Stream(IntEnum):
    """The random streams of docs/semantics.md#randomness."""

    SCHEDULE = 0
    MOMENTUM_NOISE = 1
    REFRACTORY_DROPOUT = 2
    INPUT_DROPOUT = 3
    SPIKE_DROPOUT = 4


def _mul32(h: torch.Tensor, c: int) -> torch.Tensor:
    """``h * c mod 2**32`` for uint32 values held in int64, without int64 overflow."""
    lo = (h & 0xFFFF) * c
    hi = ((h >> 16) * c) & 0xFFFF
    return (lo + (hi << 16)) & MASK32


def fmix32(h: torch.Tensor) -> torch.Tensor:
    """MurmurHash3's 32-bit finalizer."""
    h = h ^ (h >> 16)
    h = _mul32(h, _M1)
    h = h ^ (h >> 13)
    h = _mul32(h, _M2)
    return h ^ (h >> 16)


def mix_word(h: torch.Tensor, word: Word) -> torch.Tensor:
    """One round of ``rng``: ``fmix32(h ^ (word + GOLDEN mod 2**32))``."""
    return fmix32(h ^ ((word + GOLDEN) & MASK32))


def rng(seed: torch.Tensor, stream: int, t: Word, k: Word, j: Word) -> torch.Tensor:
    """``rng(seed, stream, t, k, j)`` as uint32 values in an int64 tensor (#randomness).

    Arguments broadcast against each other; ``seed`` must be an int64 tensor in [0, 2**32).
    """
    h = seed.to(torch.int64)
    for word in (stream, t, k, j):
        h = mix_word(h, word)
    return h


def uniform_from_bits(bits: torch.Tensor) -> torch.Tensor:
    """``U = (rng >> 8) * 2**-24``: a float32 in [0, 1), exact in float32."""
    return (bits >> 8).to(torch.float32) * (2.0**-24)


def uniform(seed: torch.Tensor, stream: int, t: Word, k: Word, j: Word) -> torch.Tensor:
    """``U(seed, stream, t, k, j)`` of docs/semantics.md#randomness."""
    return uniform_from_bits(rng(seed, stream, t, k, j))


def sample_seeds(seed: int | torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """Per-sample seeds (docs/semantics.md#tensors): an int gives ``seed + b mod 2**32``; a ``[B]``
    tensor as is.

    Returns an int64 tensor ``[B]`` of uint32 values on ``device``.
    """
    if isinstance(seed, torch.Tensor):
        if seed.dim() != 1 or seed.shape[0] != batch:
            raise ValueError(f"seed: expected an int or a tensor of shape [{batch}], "
                             f"got shape {list(seed.shape)}")
        if seed.dtype.is_floating_point or seed.dtype == torch.bool:
            raise ValueError(f"seed: expected an integer tensor, got dtype {seed.dtype}")
        seeds = seed.to(device=device, dtype=torch.int64)
        if bool(((seeds < 0) | (seeds > MASK32)).any()):
            raise ValueError("seed: values must lie in [0, 2**32)")
        return seeds
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: expected an int or a tensor, got {seed!r}")
    return (torch.arange(batch, device=device, dtype=torch.int64) + seed % 2**32) & MASK32
