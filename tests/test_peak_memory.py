"""benchmarks/peak_memory.py counts live tensor storages as a GPU allocator's peak would:
hand-computed sums over a known sequence of allocations and frees."""

from __future__ import annotations

import torch


def test_peak_is_the_largest_sum_of_live_storages_above_what_existed(benchmark_script):
    peak_memory = benchmark_script("peak_memory")
    before = torch.ones(1000)  # 4,000 B that existed before: not counted
    mode = peak_memory.LiveTensors([before])
    with mode:
        a = torch.zeros(1024)  # 4,096 B
        view = a[:10]  # a view: no new storage
        b = before * 2  # 4,000 B
        del a, view
        c = torch.zeros(256)  # 1,024 B: below the peak of a + b
        # The sum (4 B) is alive while the addition makes d (4,000 B): b + c + sum + d =
        # 9,028 B, above a + b = 8,096 B.
        d = b.view(-1) + c.sum()
    assert mode.peak == 4000 + 1024 + 4 + 4000
    assert sorted(size for size, _ in mode.at_peak) == [4, 1024, 4000, 4000]
    assert d.shape == (1000,)
