"""The chunked forward kernel (state in global memory, for networks past ``MAX_NEURONS``) equals
the reference backend bit for bit (docs/semantics.md#dynamics, #strategies, #results;
docs/kernels.md#large-networks).

Most cases shrink ``MAX_NEURONS`` and the chunk width so that the small dyadic networks of
test_forward.py (23 neurons) run through the chunked kernel in chunks of 8 lanes: every phase
then crosses chunk boundaries (carried tie fill, compaction offset, per-chunk propagation). One
case runs a network of more than 20,000 neurons at the shipped sizes.
"""

from __future__ import annotations

import pytest

from asyncsim.architecture import Conv, Dense
from asyncsim.kernels import chunked, forward, selection

from ..asyncsim.helpers import binary_input, dyadic_network
from .test_conv_recurrent import make_input as conv_input
from .test_conv_recurrent import make_net as conv_net
from .test_forward import RANKINGS, check, make_input, make_net


@pytest.fixture
def small_chunks(monkeypatch):
    """Every network of more than 4 neurons runs the chunked kernel, 8 lanes per chunk."""
    monkeypatch.setattr(forward, "MAX_NEURONS", 4)
    monkeypatch.setattr(chunked, "CHUNK", 8)
    launches = []
    real = chunked._chunked_event_loop_kernel
    monkeypatch.setattr(chunked, "_chunked_event_loop_kernel", _Counting(real, launches))
    return launches


class _Counting:
    """The kernel, counting its launches (so a test knows the chunked path ran)."""

    def __init__(self, kernel, launches: list[int]) -> None:
        self.kernel, self.launches = kernel, launches

    def __getitem__(self, grid):
        self.launches.append(1)
        return self.kernel[grid]


CASES = [(*ranking, f) for ranking in RANKINGS for f in (1, 3)] + [("random", 0.0, None)]


@pytest.mark.parametrize(("strategy", "lam", "f"), CASES, ids=str)
def test_matches_reference(device, small_chunks, strategy, lam, f):
    case = CASES.index((strategy, lam, f))
    net = make_net(case, device, bias=case % 2 == 1)
    check(net, make_input(2, 3, case, device), strategy=strategy, F=f, lam=lam,
          seed=17 * case)
    assert small_chunks


def test_rounds_and_bisection_searches_agree_with_the_chunked_bisection(device, small_chunks,
                                                                        monkeypatch):
    # The register kernel searches F = 7 by rounds by default; the chunked one always bisects.
    net, x = make_net(47, device), make_input(3, 3, 7, device)
    check(net, x, strategy="fifo", F=7, seed=7)
    monkeypatch.setattr(selection, "ROUNDS_MAX_F", 0)
    check(net, x, strategy="momentum", F=7, lam=0.25, seed=7)


@pytest.mark.parametrize(("strategy", "budget"), [
    ("random", {"max_steps": 2}), ("fifo", {"stop_on_output": 0}),
    ("momentum", {"stop_on_output": 1, "max_steps": 4}),
], ids=str)
def test_budgets_and_dropout(device, small_chunks, strategy, budget):
    net = make_net(50, device, bias=True, refractory_dropout=0.5).train()
    want = check(net, make_input(4, 3, 50, device), strategy=strategy, F=1, seed=5, **budget)
    fired = want.counts.sum(dim=2).cumsum(dim=0)
    assert bool((fired > want.emitted.cumsum(dim=0)).any())  # a queue carried over


@pytest.mark.parametrize(("arch", "strategy", "f"), [("conv-pool", "momentum", 5),
                                                      ("recurrent", "random", 3)])
def test_conv_and_recurrent_projections(device, small_chunks, monkeypatch, arch, strategy, f):
    monkeypatch.setattr(chunked, "CHUNK", 32)  # 87 and 21 neurons: 3 and 1 chunks
    net = conv_net(arch, 3, device, bias=True)
    check(net, conv_input(net, 2, 2, 3, device), strategy=strategy, F=f, seed=3)


def test_record_overflow_reruns(device, small_chunks, monkeypatch):
    monkeypatch.setattr(forward, "_FIRST_CAPACITY", 2)
    check(make_net(90, device), make_input(2, 2, 90, device), strategy="random", F=None)
    assert len(small_chunks) == 2


def test_a_network_of_twenty_thousand_neurons(device, monkeypatch):
    # 2 x 64 x 64 input -> conv(16, 3, s2, p1): 16 x 32 x 32 -> conv(16, 3, s2, p1): 16 x 16 x
    # 16 -> 10 outputs: 20,490 neurons, past MAX_NEURONS at the shipped chunk width. Deeper
    # source tiles (32 instead of 2 sources per tile) only keep the interpreter fast.
    monkeypatch.setattr(chunked, "_TILE", 32 * chunked.CHUNK)
    arch = [(2, 64, 64), Conv(16, 3, stride=2, padding=1), Conv(16, 3, stride=2, padding=1),
            Dense(10)]
    net = dyadic_network(arch, 5, gain=4.0).requires_grad_(False).to(device)
    assert net.n_neurons == 20490 > forward.MAX_NEURONS
    x = binary_input(1, 1, net.n_in, 0.05, 5).to(device)
    want = check(net, x, strategy="random", F=64, seed=11)
    assert int(want.counts[:, :, :16384].sum()) > 64  # layer 1 sent more than one step's F
    assert int(want.counts[:, :, 16384:].sum()) > 0
