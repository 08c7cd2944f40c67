"""The Triton forward pass equals the reference backend bit for bit
(docs/semantics.md#dynamics, #strategies, #randomness, #results).

Weights and biases are dyadic (multiples of 2**-8) and inputs are small integer counts, so every
current sums exactly in float32 whatever the order: the sparse sums of the kernel and the dense
matmuls of the reference agree to the bit, and so does everything downstream (spikes, steps,
records, v_pre). Runs are tiny: the interpreter costs ~0.05 s per forward step of a batch.
"""

from __future__ import annotations

import copy

import pytest
import torch
import triton

import asyncsim
from asyncsim.kernels import forward, selection
from asyncsim.kernels.layout import target_width
from asyncsim.reference import RunOptions, simulate_reference
from asyncsim.result import SimResult
from asyncsim.rng import sample_seeds
from asyncsim.strategies import get_strategy

from ..asyncsim.helpers import binary_input, dyadic_network

SIZES = [6, 9, 5, 3]
WIDEST = 9
RANKINGS = [("random", 0.0), ("momentum", 0.0), ("momentum", 0.375), ("fifo", 0.0)]
F_VALUES = [1, 2, 7, WIDEST, None]


def make_net(seed: int, device: torch.device, bias: bool = False,
             dtype: torch.dtype = torch.float32, **kwargs) -> asyncsim.Network:
    """Dyadic weights (and biases), per-layer tau and theta, no gradients.

    The input projection is excitatory, so that most of layer 1 fires at once and more than F
    spikes are pending.
    """
    net = dyadic_network(SIZES, seed, gain=3.0, tau=[10.0, 20.0, 5.0],
                         theta=[1.0, 0.75, 1.25], bias=bias, **kwargs)
    gen = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        net.weights[0].abs_()
        for b in net.biases if net.biases is not None else []:
            b.copy_(torch.randint(-64, 96, b.shape, generator=gen) / 256)
    return net.requires_grad_(False).to(device=device, dtype=dtype)


def make_input(steps: int, batch: int, seed: int, device: torch.device) -> torch.Tensor:
    """Binned event counts in {0, 1, 2}."""
    return (binary_input(steps, batch, SIZES[0], 0.4, seed)
            * binary_input(steps, batch, SIZES[0], 0.5, seed + 1).add(1)).to(device)


def run(net: asyncsim.Network, x: torch.Tensor, backend: str, **kwargs) -> SimResult:
    with torch.no_grad():
        return asyncsim.simulate(net, x, backend=backend, record=True, **kwargs)


def assert_same(got: SimResult, want: SimResult) -> None:
    for name in ("counts", "forward_steps", "emitted", "synops", "output_membrane"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and not a.requires_grad, name
        assert torch.equal(a.cpu(), b.cpu()), name
    assert got.layer_sizes == want.layer_sizes and got.readout == want.readout
    assert got.events.equal(want.events), "fire records"
    assert got.emissions.equal(want.emissions), "emission records"


def check(net: asyncsim.Network, x: torch.Tensor, **kwargs) -> SimResult:
    """Run both backends, assert equality, return the reference's result."""
    want = run(net, x, "reference", **kwargs)
    assert_same(run(net, x, "triton", **kwargs), want)
    return want


@pytest.mark.parametrize("f", F_VALUES, ids=lambda f: f"F{f}")
@pytest.mark.parametrize(("strategy", "lam"), RANKINGS, ids=lambda v: str(v))
def test_matches_reference(device, strategy, lam, f):
    case = RANKINGS.index((strategy, lam)) * len(F_VALUES) + F_VALUES.index(f)
    net = make_net(case, device, bias=case % 2 == 1)
    x = make_input(2, 3, case, device)
    want = check(net, x, strategy=strategy, F=f, lam=lam, seed=17 * case)
    if f is not None and f < WIDEST:  # the ranking decided something
        unlimited = run(net, x, "reference", strategy=strategy, F=None, lam=lam, seed=17 * case)
        assert not want.emissions.equal(unlimited.emissions)


@pytest.mark.parametrize("sizes", [[6, 3, 12], SIZES], ids=["every-lane", "target-local"])
def test_propagation_tiles_match_reference(device, sizes):
    """The propagation's tiles span each projection's own target layer, or every lane when a
    target layer is wider than half the network (kernels/forward.py, propagate)."""
    net = dyadic_network(sizes, 80, gain=3.0).requires_grad_(False).to(device)
    every_lane = (triton.next_power_of_2(target_width(net))
                  == triton.next_power_of_2(net.n_neurons))
    assert every_lane == (sizes[-1] == 12)
    for f in (2, None):
        check(net, make_input(3, 3, 80, device), strategy="random", F=f, seed=3)


@pytest.mark.parametrize("f", [2, 7])
def test_bisection_search_matches_reference(device, monkeypatch, f):
    monkeypatch.setattr(selection, "ROUNDS_MAX_F", 0)
    net = make_net(40 + f, device)
    check(net, make_input(3, 3, f, device), strategy="fifo", F=f, seed=f)


@pytest.mark.parametrize(("strategy", "budget"), [
    ("random", {"max_steps": 1}), ("momentum", {"max_steps": 2}), ("fifo", {"max_steps": 3}),
    ("random", {"stop_on_output": 0}), ("fifo", {"stop_on_output": 1}),
    ("momentum", {"stop_on_output": 2, "max_steps": 4}),
], ids=str)
def test_budgets_carry_the_queue_over(device, strategy, budget):
    net = make_net(50, device, bias=True)
    want = check(net, make_input(4, 3, 50, device), strategy=strategy, F=1, seed=5, **budget)
    if "max_steps" in budget:
        assert int(want.forward_steps.max()) == budget["max_steps"]
    # Some timestep ended with spikes still queued (fired so far > emitted so far).
    fired = want.counts.sum(dim=2).cumsum(dim=0)
    assert bool((fired > want.emitted.cumsum(dim=0)).any())


@pytest.mark.parametrize(("strategy", "f"), [("random", 1), ("momentum", 2), ("fifo", 2)])
def test_refractory_dropout_in_training_mode(device, strategy, f):
    net = make_net(64, device, refractory_dropout=0.75).train()
    want = check(net, make_input(2, 3, 64, device), strategy=strategy, F=f, lam=0.25, seed=9)
    # Neurons kept open fired again in the same timestep, and queued entries counted 2.
    assert float(want.counts.max()) >= 2 and float(want.emissions.value.max()) >= 2


@pytest.mark.parametrize("batch", [1, 5])
def test_batch_sizes(device, batch):
    net = make_net(70 + batch, device, bias=True)
    seeds = torch.randint(0, 2**32, (batch,), generator=torch.Generator().manual_seed(batch))
    check(net, make_input(3, batch, batch, device), strategy="random", F=2, seed=seeds)


def test_bfloat16_network_equals_reference_on_its_float32_upcast(device):
    # What is compared: the kernel on a bfloat16 network (weights read as bfloat16, state,
    # currents and decay in float32) against the float32 reference on the same network upcast
    # (weights, biases, tau, theta). Values rounded to bfloat16 stay dyadic: sums are exact.
    net16 = make_net(80, device, bias=True, dtype=torch.bfloat16)
    net32 = copy.deepcopy(net16).float()
    x = make_input(3, 3, 80, device)
    assert_same(run(net16, x, "triton", strategy="momentum", F=2, lam=0.5),
                run(net32, x, "reference", strategy="momentum", F=2, lam=0.5))


def test_membrane_readout(device):
    # asyncsim.simulate keeps readout="membrane" on the reference for now: call the kernel.
    net = make_net(85, device, readout="membrane")
    x = make_input(3, 3, 85, device)
    opts = RunOptions(get_strategy("random"), 2, sample_seeds(3, 3, device), 0.0, None, None,
                      "surrogate", True)
    with torch.no_grad():
        assert_same(forward.simulate_triton(net, x, opts), simulate_reference(net, x, opts))


def test_record_buffer_overflow_reruns_with_the_needed_capacity(device, monkeypatch):
    monkeypatch.setattr(forward, "_FIRST_CAPACITY", 2)
    check(make_net(90, device), make_input(2, 2, 90, device), strategy="random", F=None)


def test_without_records(device):
    net, x = make_net(95, device), make_input(2, 3, 95, device)
    with torch.no_grad():
        got = asyncsim.simulate(net, x, strategy="fifo", F=1, backend="triton")
    assert got.events is None and got.emissions is None
    want = run(net, x, "reference", strategy="fifo", F=1)
    assert torch.equal(got.counts.cpu(), want.counts.cpu())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_unsupported_weight_dtypes(device, dtype):
    net = make_net(0, device, dtype=dtype)
    with pytest.raises(ValueError, match="weights"), torch.no_grad():
        asyncsim.simulate(net, make_input(1, 1, 0, device).to(dtype), backend="triton")


def test_mixed_weight_dtypes(device):
    net = make_net(0, device)
    net.weights[1].data = net.weights[1].data.bfloat16()
    with pytest.raises(ValueError, match="weights"), torch.no_grad():
        asyncsim.simulate(net, make_input(1, 1, 0, device), backend="triton")


def test_cpu_tensors_need_the_interpreter(monkeypatch):
    monkeypatch.setattr(forward, "_interpreted", lambda: False)
    with pytest.raises(ValueError, match="TRITON_INTERPRET"), torch.no_grad():
        asyncsim.simulate(make_net(0, torch.device("cpu")), make_input(1, 1, 0, "cpu"),
                          backend="triton")
