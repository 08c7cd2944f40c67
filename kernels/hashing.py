"""Counter-based hash on the device: ``rng(seed, stream, t, k, j)`` and ``U``
(docs/semantics.md#randomness).

Bit for bit the same as ``asyncsim.rng``: the arithmetic runs on uint32, where Triton's
multiplication wraps mod 2**32 (docs/semantics.md#randomness). Bits are returned as int64 holding
the uint32 value, the representation every ranking key uses. The four rounds are unrolled in
one function rather than calling an ``fmix32`` helper: each nested jit call costs milliseconds
in Triton's interpreter, which runs the CI tests.
"""

from __future__ import annotations

import triton
import triton.language as tl

from asyncsim.rng import GOLDEN

# uint32 constants, so that Triton types the products as uint32 (wrapping mod 2**32).
_M1: tl.constexpr = tl.constexpr(0x85EBCA6B)
_M2: tl.constexpr = tl.constexpr(0xC2B2AE35)
_GOLDEN: tl.constexpr = tl.constexpr(GOLDEN)


@triton.jit
def rng_bits(seed, stream: tl.constexpr, t, k, j):
    """``rng(seed, stream, t, k, j)`` as int64 in [0, 2**32); ``seed`` an int64 in [0, 2**32).

    ``seed``, ``t`` and ``k`` are scalars, ``j`` a tensor of neuron indices: the first three
    rounds are hashed once and only the last runs per neuron.
    """
    h = tl.cast(seed & 0xFFFFFFFF, tl.uint32)
    for r in tl.static_range(4):
        if r == 0:
            word = tl.cast(stream, tl.uint32)
        elif r == 1:
            word = tl.cast(t, tl.uint32)
        elif r == 2:
            word = tl.cast(k, tl.uint32)
        else:
            word = tl.cast(j, tl.uint32)
        # h = fmix32(h ^ (word + GOLDEN)), MurmurHash3's 32-bit finalizer.
        h = h ^ (word + _GOLDEN)
        h = h ^ (h >> 16)
        h = h * _M1
        h = h ^ (h >> 13)
        h = h * _M2
        h = h ^ (h >> 16)
    # A uint32 -> int64 cast may sign- or zero-extend depending on the Triton version: mask it.
    return h.to(tl.int64) & 0xFFFFFFFF


@triton.jit
def uniform(seed, stream: tl.constexpr, t, k, j):
    """``U(seed, stream, t, k, j) = (rng >> 8) * 2**-24``: a float32 in [0, 1), exact."""
    bits = rng_bits(seed, stream, t, k, j)
    return (bits >> 8).to(tl.int32).to(tl.float32) * (1.0 / 16777216.0)
