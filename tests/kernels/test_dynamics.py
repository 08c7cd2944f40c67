"""The backward kernels' restart of a timestep: integrating the saved step-1 potential with
``RESTART_CURRENT`` gives it back bit for bit (kernels/dynamics.py, docs/kernels.md#backward)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from asyncsim.kernels.dynamics import RESTART_CURRENT, integrate


@triton.jit
def _restart_kernel(v1_ptr, reach_ptr, out_ptr, n, BLOCK: tl.constexpr):
    idx = tl.arange(0, BLOCK)
    valid = idx < n
    v1 = tl.load(v1_ptr + idx, mask=valid)
    reach = tl.load(reach_ptr + idx, mask=valid) != 0
    tl.store(out_ptr + idx, integrate(v1, tl.full([BLOCK], RESTART_CURRENT, tl.float32), reach),
             mask=valid)


def test_restart_current_gives_back_the_saved_potential(device):
    tiny = torch.finfo(torch.float32).tiny
    values = torch.tensor([0.0, -0.0, 1.0, -1.0, tiny, -tiny, tiny / 8, -tiny / 8, 1e-45,
                           -1e-45, 3.4e38, -3.4e38, float("inf"), float("-inf"), 0.1, -7.25])
    v1 = torch.cat([values, values]).to(device)
    reach = torch.tensor([1] * len(values) + [0] * len(values), dtype=torch.int32, device=device)
    out = torch.empty_like(v1)
    _restart_kernel[(1,)](v1, reach, out, v1.numel(), BLOCK=triton.next_power_of_2(v1.numel()))
    # Bits, not values: -0.0 must stay -0.0 (a current of +0.0 would turn it into +0.0).
    assert torch.equal(out.view(torch.int32).cpu(), v1.view(torch.int32).cpu())
    plus_zero = v1 + 0.0
    assert not torch.equal(plus_zero.view(torch.int32).cpu(), v1.view(torch.int32).cpu())
