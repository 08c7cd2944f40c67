"""The Triton backward pass equals the reference backend's autograd (docs/semantics.md#gradients).

Networks are dyadic (weights and biases multiples of 2**-8, integer inputs), so both backends
take the same forward decisions bit for bit (tests/kernels/test_forward.py); the gradients then
differ only by float32 summation order. Shapes are tiny: the interpreter runs every step.
"""

from __future__ import annotations

import pytest
import torch

import asyncsim

from ..asyncsim.helpers import dyadic_network
from .test_forward import make_input, make_net


def loss_of(res: asyncsim.SimResult) -> torch.Tensor:
    """A loss on every differentiable output: counts (all layers, quadratic too) and membrane."""
    readout = torch.linspace(-1.0, 1.0, res.counts.shape[-1], device=res.counts.device)
    return ((res.counts * readout).sum() + 0.1 * res.counts.pow(2).sum()
            + 0.3 * (res.output_membrane * torch.linspace(0.5, -1.0, res.output_membrane.shape[-1],
                                                          device=res.counts.device)).sum())


def gradients(net: asyncsim.Network, x: torch.Tensor, backend: str, loss=loss_of, **kwargs):
    """Weight, bias and input gradients of ``loss`` and the result, on ``backend``."""
    net.requires_grad_(True).zero_grad()
    x = x.clone().requires_grad_()
    res = asyncsim.simulate(net, x, backend=backend, **kwargs)
    loss(res).backward()
    params = list(net.weights) + (list(net.biases) if net.biases is not None else [])
    return [p.grad.clone() for p in params] + [x.grad.clone()], res


def check(net: asyncsim.Network, x: torch.Tensor, loss=loss_of, **kwargs) -> list[torch.Tensor]:
    """Assert equal forward results and gradients on both backends; return the reference's."""
    got, res = gradients(net, x, "triton", loss, **kwargs)
    want, ref = gradients(net, x, "reference", loss, **kwargs)
    assert torch.equal(res.counts.detach(), ref.counts.detach())
    assert torch.equal(res.forward_steps, ref.forward_steps)
    assert any(bool(w.abs().sum() > 0) for w in want)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)
    return want


# (strategy, lam, F, surrogate, grad rule, bias, seed): every strategy, surrogate and rule.
CASES = [
    ("random", 0.0, 1, "atan", "surrogate", False, 0),
    ("random", 0.0, 2, "fast_sigmoid", "events", True, 1),
    ("random", 0.0, None, "sigmoid:2", "surrogate", True, 2),
    ("momentum", 0.0, 2, "atan:3", "events", False, 3),
    ("momentum", 0.375, 1, "sigmoid", "surrogate", True, 4),
    ("momentum", 0.0, None, "fast_sigmoid:10", "surrogate", False, 5),
    ("fifo", 0.0, 1, "fast_sigmoid", "surrogate", True, 6),
    ("fifo", 0.0, 2, "sigmoid", "events", False, 7),
    ("fifo", 0.0, None, "atan", "events", True, 8),
    ("random", 0.0, 1, "atan", "dense", False, 9),
    ("fifo", 0.0, 2, "sigmoid", "dense", True, 10),
]


@pytest.mark.parametrize(("strategy", "lam", "f", "surrogate", "grad", "bias", "seed"), CASES,
                         ids=lambda v: str(v))
def test_gradients_equal_reference(device, strategy, lam, f, surrogate, grad, bias, seed):
    net = make_net(seed, device, bias=bias, surrogate=surrogate)
    check(net, make_input(3, 2, seed, device), strategy=strategy, F=f, lam=lam, grad=grad,
          seed=11 * seed)


def test_surrogate_rule_reaches_silent_neurons(device):
    # The silent spike variables matter: the rules are compared above, here they differ.
    net = make_net(12, device)
    x = make_input(3, 2, 12, device)
    rules = [check(net, x, strategy="random", F=2, grad=grad)
             for grad in ("surrogate", "dense", "events")]
    assert not torch.allclose(rules[0][0], rules[2][0])
    assert not torch.allclose(rules[0][0], rules[1][0])


@pytest.mark.parametrize("grad", ["surrogate", "dense", "events"])
def test_rules_on_four_layers_at_f1(device, grad):
    # Four layers at F = 1: silent spike variables reach layers that no real spike reaches at
    # that step, which the surrogate rule then tests (tests/asyncsim/test_gradient_rules.py).
    net = dyadic_network([6, 5, 4, 4, 3], 21, tau=[10.0, 20.0, 5.0, 8.0],
                         theta=[1.0, 0.75, 1.25, 0.5])
    with torch.no_grad():
        net.weights[0].abs_()
    net = net.requires_grad_(False).to(device)
    check(net, make_input(2, 2, 21, device), strategy="random", F=1, grad=grad, seed=3)


@pytest.mark.parametrize(("strategy", "budget"), [
    ("random", {"max_steps": 2}), ("fifo", {"stop_on_output": 0}),
    ("momentum", {"stop_on_output": 1, "max_steps": 3}),
], ids=str)
def test_budgets_carry_gradient_through_the_queue(device, strategy, budget):
    net = make_net(50, device, bias=True)
    check(net, make_input(3, 2, 50, device), strategy=strategy, F=1, seed=5, **budget)


@pytest.mark.parametrize(("strategy", "f"), [("random", 1), ("fifo", 2)])
def test_refractory_dropout_in_training_mode(device, strategy, f):
    net = make_net(64, device, refractory_dropout=0.75).train()
    check(net, make_input(2, 2, 64, device), strategy=strategy, F=f, seed=9)


def test_membrane_readout_cross_entropy(device):
    net = make_net(85, device, readout="membrane", bias=True)
    labels = torch.tensor([0, 2, 1], device=device)

    def loss(res: asyncsim.SimResult) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(res.logits, labels)

    check(net, make_input(3, 3, 85, device), loss, strategy="momentum", F=2, lam=0.25)


def _sum_of_counts(res: asyncsim.SimResult) -> torch.Tensor:
    return res.counts.sum()


def _last_output_counts(res: asyncsim.SimResult) -> torch.Tensor:
    return res.counts[-1, :, -3:].sum()


@pytest.mark.parametrize("loss", [_sum_of_counts, _last_output_counts], ids=["sum", "slice"])
def test_broadcast_and_missing_incoming_gradients(device, loss):
    # A sum's dL/d counts arrives as an expanded view (every stride 0) and the output membrane
    # gets none (None): the kernels read the one in place and take the other as zeros.
    net = make_net(60, device)
    check(net, make_input(3, 2, 60, device), loss, strategy="random", F=2, seed=4)


def test_record_with_gradients(device):
    net, x = make_net(95, device), make_input(2, 2, 95, device)
    got, res = gradients(net, x, "triton", strategy="fifo", F=1, record=True)
    with torch.no_grad():
        want = asyncsim.simulate(net, x, backend="reference", strategy="fifo", F=1, record=True)
    assert res.events.equal(want.events) and res.emissions.equal(want.emissions)


@pytest.mark.filterwarnings("ignore:Input #0 requires gradient and is not a double")
def test_one_layer_membrane_gradcheck(device):
    # The surrogate derivative is not the derivative of the spiking forward pass, so gradcheck
    # applies only where no spike variable lies on the path: a one-layer membrane readout is
    # linear in its input (float32 kernel: loose tolerances).
    net = dyadic_network([4, 3], 0, readout="membrane").requires_grad_(False).to(device)
    x = make_input(2, 1, 0, device)[..., :4].clone().requires_grad_()

    def membrane(inp: torch.Tensor) -> torch.Tensor:
        return asyncsim.simulate(net, inp, backend="triton", F=1).output_membrane

    assert torch.autograd.gradcheck(membrane, (x,), eps=1e-2, atol=1e-3, rtol=1e-3,
                                    nondet_tol=1e-6)


def test_training_matches_reference(device):
    # A few Adam steps on a tiny task: identical losses with either backend.
    data = make_input(3, 3, 7, device)
    labels = torch.tensor([0, 1, 2], device=device)
    losses = {}
    for backend in ("triton", "reference"):
        net = dyadic_network([6, 5, 3], 3, readout="membrane").to(device)
        opt = torch.optim.Adam(net.parameters(), lr=2**-6)
        trace = []
        for _ in range(4):
            opt.zero_grad()
            res = asyncsim.simulate(net, data, backend=backend, strategy="random", F=2)
            loss = torch.nn.functional.cross_entropy(res.logits, labels)
            loss.backward()
            opt.step()
            trace.append(float(loss.detach()))
        losses[backend] = trace
    assert losses["reference"][-1] < losses["reference"][0]
    torch.testing.assert_close(losses["triton"], losses["reference"], rtol=1e-5, atol=1e-5)
