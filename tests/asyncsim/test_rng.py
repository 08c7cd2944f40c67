"""The random function of docs/semantics.md#randomness against a plain-integer implementation
written from that text."""

import random

import torch

from asyncsim.rng import fmix32, rng, sample_seeds, uniform

M = 2**32


def py_fmix32(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) % M
    h ^= h >> 13
    h = (h * 0xC2B2AE35) % M
    return h ^ (h >> 16)


def py_rng(seed: int, stream: int, t: int, k: int, j: int) -> int:
    h = seed
    for w in (stream, t, k, j):
        h = py_fmix32(h ^ ((w + 0x9E3779B9) % M))
    return h


def test_fmix32_matches_integer_arithmetic():
    values = [0, 1, 2**31, M - 1] + [random.Random(3).randrange(M) for _ in range(200)]
    got = fmix32(torch.tensor(values, dtype=torch.int64)).tolist()
    assert got == [py_fmix32(v) for v in values]


def test_rng_and_uniform_match_the_spec():
    gen = random.Random(7)
    cases = [(gen.randrange(M), gen.randrange(5), gen.randrange(1000), gen.randrange(1, 500),
              gen.randrange(5000)) for _ in range(300)]
    cols = [torch.tensor(c, dtype=torch.int64) for c in zip(*cases, strict=True)]
    bits = rng(cols[0], 0, 0, 0, 0)  # shape check only
    assert bits.shape == (300,)
    got = rng(cols[0], cols[1], cols[2], cols[3], cols[4]).tolist()
    assert got == [py_rng(*c) for c in cases]
    u = uniform(cols[0], 2, cols[2], cols[3], cols[4])
    assert u.dtype == torch.float32
    expected = [(py_rng(s, 2, t, k, j) >> 8) / 2**24 for s, _, t, k, j in cases]
    assert u.tolist() == expected
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0


def test_sample_seeds():
    assert sample_seeds(5, 3, torch.device("cpu")).tolist() == [5, 6, 7]
    assert sample_seeds(M - 1, 2, torch.device("cpu")).tolist() == [M - 1, 0]
    given = torch.tensor([9, 4], dtype=torch.int64)
    assert sample_seeds(given, 2, torch.device("cpu")).tolist() == [9, 4]
