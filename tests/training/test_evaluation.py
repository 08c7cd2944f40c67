"""Evaluation settings and metrics on a hand-built network, against hand-computed values."""

import math

import pytest
import torch

import asyncsim
from asyncsim.training.evaluation import ExecSetting, evaluate, parse_stop, settings_grid


def switching_network() -> asyncsim.Network:
    """Channel i drives hidden neuron i, which drives output i (tau so large it never leaks)."""
    net = asyncsim.Network([2, 2, 2], tau=1e9)
    eye = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    with torch.no_grad():
        net.weights[0].copy_(eye)
        net.weights[1].copy_(eye)
    return net


def test_hand_built_network_metrics():
    # Sample 0: class-0 input then class-1 input twice; sample 1: class 0 once.
    x = torch.zeros(3, 2, 2)
    x[0, 0, 0] = x[1, 0, 1] = x[2, 0, 1] = 1.0
    x[0, 1, 0] = 1.0
    labels = torch.tensor([1, 1])
    batches = [(x[:, :1], labels[:1]), (x[:, 1:], labels[1:])]
    summary, per_sample = evaluate(switching_network(), batches, ExecSetting("random", 1))
    # Sample 0 (see tests/asyncsim/test_metrics.py): decides for class 1 at step 6 after 5
    # spikes. Sample 1: one hidden and one output spike, steps 2 then 1 and 1, predicts 0.
    assert per_sample["prediction"].tolist() == [1.0, 0.0]
    assert summary["accuracy"] == 0.5
    assert per_sample["decision_steps"].tolist() == [6.0, 2.0]
    assert summary["decision_steps"] == 4.0 and summary["decision_steps_correct"] == 6.0
    assert summary["spikes_before_decision_correct"] == 5.0
    assert per_sample["forward_steps"].tolist() == [6.0, 4.0]
    assert summary["spike_density"] == pytest.approx((6 / 12 + 2 / 12) / 2)
    assert summary["synops"] == pytest.approx((3 * 2 + 1 * 2) / 2)  # hidden fan-out 2
    assert summary["no_output"] == 0.0


def test_stopping_modes():
    assert parse_stop("complete") == {}
    assert parse_stop("output") == {"stop_on_output": 0}
    assert parse_stop("output+3") == {"stop_on_output": 3}
    assert parse_stop("budget:5") == {"max_steps": 5}
    for bad in ("soon", "output+x", "budget:"):
        with pytest.raises(ValueError, match="stop"):
            parse_stop(bad)


def test_settings_grid_has_sync_once():
    grid = settings_grid(["sync", "random"], [1, "inf"], ["complete", "output"])
    assert [s.label for s in grid] == ["sync", "random F=1", "random F=1 output",
                                      "random F=inf", "random F=inf output"]
    with pytest.raises(ValueError, match="strategy"):
        settings_grid(["lifo"], [1], ["complete"])


def test_stop_on_output_shortens_decisions():
    gen = torch.Generator().manual_seed(0)
    net = asyncsim.Network([30, 20, 5], generator=gen)
    x = (torch.rand(8, 16, 30, generator=gen) < 0.3).float()
    labels = torch.zeros(16, dtype=torch.int64)
    full, _ = evaluate(net, [(x, labels)], ExecSetting("fifo", 2))
    early, _ = evaluate(net, [(x, labels)], ExecSetting("fifo", 2, "output"))
    assert early["forward_steps"] < full["forward_steps"]
    assert not math.isnan(early["steps_to_first_output"])
