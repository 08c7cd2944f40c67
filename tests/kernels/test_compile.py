"""``torch.compile`` around a model that simulates on the Triton backend
(docs/semantics.md#gradients).

The kernels are ``torch.library`` custom ops with fake implementations and a registered
autograd formula (asyncsim/triton_autograd.py): the compiled model must give the eager outputs
and gradients, with both ops inside the traced graphs. The ``aot_eager`` backend runs
AOTAutograd's tracing (fake tensors, forward and backward graphs) without inductor's code
generation, which is not what is under test here and costs minutes on this CPU.
"""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.testing import AotEagerAndRecordGraphs

import asyncsim

from .test_forward import make_input, make_net


class Model(torch.nn.Module):
    """A linear read-in feeding a spiking network: compiled code on both sides of the op."""

    def __init__(self, net: asyncsim.Network) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(net.n_in))
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = asyncsim.simulate(self.net, x * self.scale, strategy="fifo", F=2,
                                backend="triton")
        return (res.counts.sum(0) @ torch.linspace(-1.0, 1.0, res.counts.shape[-1],
                                                   device=x.device)).pow(2).sum()


@pytest.mark.filterwarnings("ignore:Your compiler for AOTAutograd is returning a function")
def test_compiled_model_gives_eager_outputs_and_gradients(device):
    x = make_input(2, 2, 3, device)
    results = []
    backend = AotEagerAndRecordGraphs()
    for compiled in (False, True):
        torch._dynamo.reset()
        model = Model(make_net(3, device, bias=True).requires_grad_(True)).to(device)
        run = torch.compile(model, backend=backend) if compiled else model
        loss = run(x)
        loss.backward()
        results.append([loss.detach()] + [p.grad for p in model.parameters()])
    for got, want in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    # The ops were traced into the compiled graphs, forward and backward (not run eagerly
    # behind a graph break).
    assert any("asyncsim.event_loop" in str(g.graph) for g in backend.fw_graphs)
    assert any("asyncsim.event_loop_backward" in str(g.graph) for g in backend.bw_graphs)
