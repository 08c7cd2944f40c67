"""The chunked backward kernel (gradients of networks past ``MAX_NEURONS``) equals the reference
backend's autograd (docs/semantics.md#gradients; docs/kernels.md#large-networks).

The register kernels' gradient tests (test_backward.py, test_conv_recurrent.py), rerun with
``MAX_NEURONS`` and the chunk width shrunk as in test_chunked.py: their small dyadic networks
then run through the chunked forward and backward kernels in 8-lane chunks, so every phase
(the recomputation with its trace, the silent reach, the listing of the emitted lanes, the
per-chunk pull-back and adjoint step) crosses chunk boundaries. Each case asserts that the
chunked backward kernel ran.
"""

from __future__ import annotations

import pytest

from asyncsim.kernels import chunked, chunked_backward

from . import test_backward as register
from . import test_conv_recurrent as conv
from .test_chunked import _Counting, small_chunks  # noqa: F401 - the fixture


@pytest.fixture
def chunked_grads(small_chunks, monkeypatch):  # noqa: F811 - the fixture above
    """Every network of more than 4 neurons runs both chunked kernels, 8 lanes per chunk;
    returns the backward launches."""
    launches = []
    real = chunked_backward._chunked_backward_kernel
    monkeypatch.setattr(chunked_backward, "_chunked_backward_kernel", _Counting(real, launches))
    return launches


# Every strategy and surrogate, the surrogate and events rules (dense: the recurrent case).
@pytest.mark.parametrize("case", [register.CASES[i] for i in (0, 5, 7)], ids=str)
def test_gradients_equal_reference(device, chunked_grads, case):
    register.test_gradients_equal_reference(device, *case)
    assert chunked_grads


def test_silent_reach_on_four_layers_at_f1(device, chunked_grads):
    register.test_rules_on_four_layers_at_f1(device, "surrogate")
    assert chunked_grads


def test_budgets_and_dropout(device, chunked_grads):
    register.test_budgets_carry_gradient_through_the_queue(device, "momentum",
                                                           {"stop_on_output": 1, "max_steps": 3})
    register.test_refractory_dropout_in_training_mode(device, "fifo", 2)
    assert chunked_grads


def test_broadcast_and_missing_incoming_gradients(device, chunked_grads):
    register.test_broadcast_and_missing_incoming_gradients(device, register._sum_of_counts)
    assert chunked_grads


# Conv layers in 32-lane chunks (several per layer): 8 would take the interpreter minutes.
@pytest.mark.parametrize(("case", "chunk"), [(("conv-stride", "random", 4, "surrogate"), 32),
                                             (("conv-pool", "random", 1, "surrogate"), 32),
                                             (("recurrent", "fifo", 2, "dense"), 8)], ids=str)
def test_conv_and_recurrent(device, chunked_grads, monkeypatch, case, chunk):
    arch, strategy, f, grad = case
    monkeypatch.setattr(chunked, "CHUNK", chunk)
    # test_conv_recurrent.py's gradient case on one sample: the interpreter walks every chunk
    # of every step.
    net = conv.make_net(arch, 30 + len(arch), device, bias=True)
    register.check(net, conv.make_input(net, 2, 1, 30, device), strategy=strategy, F=f, seed=1,
                   grad=grad)
    assert chunked_grads


def test_membrane_readout_cross_entropy(device, chunked_grads):
    register.test_membrane_readout_cross_entropy(device)
    assert chunked_grads
