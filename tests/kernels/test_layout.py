"""The kernels' device layout (kernels/layout.py): tables cached per network, rebuilt when
what they depend on changes; weights packed afresh at every call."""

from __future__ import annotations

import logging

import torch

import asyncsim
from asyncsim.kernels.layout import device_network, flat_weights
from asyncsim.simulate import auto_uses_triton


def test_tables_are_reused_until_threshold_tau_or_device_change(device):
    net = asyncsim.Network([6, 5, 3], tau=4.0, theta=[0.5, 1.5]).to(device)
    first = device_network(net, device)
    again = device_network(net, device)
    assert again.projections is first.projections and again.theta is first.theta
    with torch.no_grad():
        net.theta[:5] = 0.25
        net.tau.fill_(2.0)
    changed = device_network(net, device)
    assert changed.theta is not first.theta
    assert torch.equal(changed.theta.cpu(), torch.tensor([0.25] * 5 + [1.5] * 3))
    assert torch.allclose(changed.decay.cpu(), torch.full((8,), torch.exp(torch.tensor(-0.5))))


def test_weights_are_packed_at_every_call(device):
    net = asyncsim.Network([6, 5, 4, 3]).to(device)
    before = device_network(net, device).weights.clone()
    with torch.no_grad():
        net.weights[1].mul_(2.0)
        net.weights[2].data.add_(1.0)  # bypasses the version counter: still seen
    after = device_network(net, device).weights
    assert torch.equal(after, torch.cat([2 * before[:20], before[20:] + 1]))


def test_auto_backend_takes_triton_for_cuda_and_says_when_it_runs_the_chunked_kernels(caplog):
    class CudaLike(torch.Tensor):
        @property
        def is_cuda(self) -> bool:
            return True

    from asyncsim.kernels.forward import MAX_NEURONS

    x = torch.zeros(1, 1, 2).as_subclass(CudaLike)
    with caplog.at_level(logging.INFO, logger="asyncsim"):
        assert auto_uses_triton(asyncsim.Network([2, 3]), x)
        assert "chunked" not in caplog.text
        assert auto_uses_triton(asyncsim.Network([2, MAX_NEURONS + 1]), x)
        assert not auto_uses_triton(asyncsim.Network([2, 3]), torch.zeros(1, 1, 2))
    assert f"{MAX_NEURONS + 1} neurons exceed the register kernels'" in caplog.text


def test_weights_by_target_keep_offsets_and_untranspose_dense_projections():
    net = asyncsim.Network([(1, 4, 4), asyncsim.Conv(2, 3, padding=1),
                            asyncsim.Conv(2, 3, padding=1), asyncsim.Dense(5, pool=2),
                            asyncsim.Dense(3)])
    by_source, by_target = flat_weights(net), flat_weights(net, by_target=True)
    conv, dense, out = (w.detach() for w in net.weights[1:])
    assert torch.equal(by_source, torch.cat([conv.flatten(), dense.t().flatten(),
                                             out.t().flatten()]))
    assert torch.equal(by_target, torch.cat([conv.flatten(), dense.flatten(), out.flatten()]))
