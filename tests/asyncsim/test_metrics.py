"""Metrics (docs/semantics.md#metrics) on hand-built networks, against values worked out by hand."""

import math

import pytest
import torch

import asyncsim
from asyncsim.metrics import predict, sample_metrics, summarize

from .helpers import set_weights

SLOW = 1e9


def test_budget_case_metrics():
    # input -> A (0), B (1) -> output C (2); see test_reference_cases for the schedule.
    net = set_weights(asyncsim.Network([1, 2, 1], tau=SLOW), [[3.0], [2.0]], [[0.75, 0.75]])
    x = torch.tensor([1.0, 0.0, 0.0]).reshape(3, 1, 1)
    res = asyncsim.simulate(net, x, strategy="momentum", F=1, max_steps=2, record=True)
    m = sample_metrics(res, torch.tensor([0]))
    # Steps per timestep 2, 2, 1: C fires at cumulative step 2 + 2 = 4; A (step 1) and B
    # (step 3) were emitted before it.
    assert m["forward_steps"].item() == 5
    assert m["spike_density"].item() == pytest.approx(3 / 9)
    assert m["spike_density/layer1"].item() == pytest.approx(2 / 6)
    assert m["spike_density/output"].item() == pytest.approx(1 / 3)
    assert m["synops"].item() == 2
    assert m["emitted"].item() == 3
    assert m["steps_to_first_output"].item() == 4
    assert m["spikes_before_first_output"].item() == 2
    assert m["decision_steps"].item() == 4
    assert m["spikes_before_decision"].item() == 2
    assert m["correct"].item() == 1 and m["no_output"].item() == 0


def switching_network() -> asyncsim.Network:
    """Channel i drives hidden neuron i, which drives output i."""
    eye = [[2.0, 0.0], [0.0, 2.0]]
    return set_weights(asyncsim.Network([2, 2, 2], tau=SLOW), eye, eye)


def test_decision_time_follows_the_running_argmax():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]).reshape(3, 1, 2)
    res = asyncsim.simulate(switching_network(), x, strategy="random", F=1, record=True)
    assert res.forward_steps[:, 0].tolist() == [2, 2, 2]
    m = sample_metrics(res, torch.tensor([1]))
    # Output fires at cumulative steps 2 (class 0), 4 (class 1: a tie, argmax stays 0) and
    # 6 (class 1 leads): the decision is taken at step 6, after 5 emitted spikes.
    assert m["prediction"].item() == 1
    assert m["steps_to_first_output"].item() == 2
    assert m["spikes_before_first_output"].item() == 1
    assert m["decision_steps"].item() == 6
    assert m["spikes_before_decision"].item() == 5
    summary = summarize(m)
    assert summary["accuracy"] == 1.0 and summary["decision_steps_correct"] == 6


def test_silent_samples_predict_zero_and_have_no_latency():
    x = torch.zeros(3, 2, 2)
    x[0, 1, 1] = 1.0
    res = asyncsim.simulate(switching_network(), x, strategy="fifo", F=1, record=True)
    m = sample_metrics(res, torch.tensor([0, 0]))
    assert m["no_output"].tolist() == [1.0, 0.0]
    assert m["prediction"].tolist() == [0.0, 1.0]
    assert math.isnan(m["decision_steps"][0].item()) and m["decision_steps"][1].item() == 2
    summary = summarize(m)
    assert summary["accuracy"] == 0.5 and summary["no_output"] == 0.5
    assert summary["decision_steps"] == 2.0
    assert math.isnan(summary["decision_steps_correct"])


def result_with_output(counts: torch.Tensor, membrane: torch.Tensor, readout: str):
    steps, batch = counts.shape[:2]
    empty = torch.zeros(steps, batch, dtype=torch.int64)
    return asyncsim.SimResult(counts, empty, empty, empty, membrane, [counts.shape[2]], readout)


def test_predict_breaks_ties_to_the_lowest_index():
    counts = torch.tensor([[[0.0, 1.0, 1.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]] * 2])
    membrane = torch.tensor([[[9.0, 0.0, 0.0]] * 2, [[0.0, 2.0, 2.0], [-1.0, -3.0, 0.5]]])
    assert predict(result_with_output(counts, membrane, "spikes")).tolist() == [1, 0]
    assert predict(result_with_output(counts, membrane, "membrane")).tolist() == [1, 2]


def test_latency_needs_records():
    res = asyncsim.simulate(switching_network(), torch.ones(1, 1, 2))
    assert "decision_steps" not in sample_metrics(res)
    with pytest.raises(ValueError, match="record"):
        asyncsim.metrics.latency_metrics(res)
