"""Device ranking keys and top-F selection equal the reference's bit for bit
(docs/semantics.md#strategies, #randomness)."""

from __future__ import annotations

import pytest
import torch

from asyncsim.kernels import selection
from asyncsim.kernels.selection import select_mask
from asyncsim.kernels.strategy_keys import ranking_keys
from asyncsim.strategies import STRATEGIES, RankState, select_top_f

N = 23
SEEDS = [0, 1, 7, 2**31, 2**32 - 1]


@pytest.mark.parametrize("lam", [0.0, 0.3, 1e-3])
@pytest.mark.parametrize("strategy", ["random", "momentum", "fifo"])
def test_ranking_keys(device, strategy, lam):
    gen = torch.Generator().manual_seed(len(strategy))
    seeds = torch.tensor(SEEDS, device=device)
    since = torch.randint(0, 6, (len(SEEDS), N), generator=gen).to(device)
    pre = (torch.randn(len(SEEDS), N, generator=gen) * 3).to(device)
    pre[0, :4] = torch.tensor([0.0, -0.0, -1.5, 1e-30])
    for t, k in [(0, 1), (3, 17), (2**20, 2**16)]:
        want = STRATEGIES[strategy].key(RankState(seeds[:, None], t, k,
                                                  torch.arange(N, device=device)[None, :],
                                                  since, pre, lam))
        assert torch.equal(ranking_keys(strategy, seeds, t, k, since, pre, lam).cpu(), want.cpu())


@pytest.mark.parametrize("rounds_max_f", [0, 16], ids=["bisection", "rounds"])
def test_select_top_f(device, monkeypatch, rounds_max_f):
    monkeypatch.setattr(selection, "ROUNDS_MAX_F", rounds_max_f)
    gen = torch.Generator().manual_seed(rounds_max_f)
    for scale in (1, 2**40, -(2**31)):
        # Few distinct values: ties at the F-th key in most rows.
        key = (torch.randint(-4, 5, (6, N), generator=gen) * scale).to(device)
        pending = (torch.rand(6, N, generator=gen) < 0.6).to(device)
        pending[0] = False
        for f in (1, 2, 3, 7, N, None):
            want = select_top_f(key, pending, f)
            assert torch.equal(select_mask(key, pending, f).cpu(), want.cpu()), (scale, f)
