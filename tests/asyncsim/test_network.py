"""Network parameters, layout, initialization and validation (docs/semantics.md#network)."""

import math

import pytest
import torch

import asyncsim

from .helpers import binary_input


def test_layout_and_parameter_expansion():
    net = asyncsim.Network([5, 4, 3, 2], tau=[10.0, 20.0, torch.tensor([1.0, 2.0])],
                           theta=torch.arange(1.0, 10.0))
    assert net.n_neurons == 9 and net.n_out == 2 and net.offsets == [0, 4, 7, 9]
    assert net.tau.tolist() == [10.0] * 4 + [20.0] * 3 + [1.0, 2.0]
    assert net.theta.tolist() == list(range(1, 10))
    assert [tuple(w.shape) for w in net.weights] == [(4, 5), (3, 4), (2, 3)]
    assert net.layer_index().tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2]
    assert net.fan_out().tolist() == [3] * 4 + [2] * 3 + [0] * 2
    assert net.decay()[0].item() == pytest.approx(math.exp(-0.1))
    assert asyncsim.Network([3, 2], bias=True).biases[0].shape == (2,)


def test_fresh_network_spikes_in_every_layer():
    torch.manual_seed(0)
    net = asyncsim.Network([100, 64, 64, 10])
    x = binary_input(20, 16, 100, 0.1, 0)
    with torch.no_grad():
        res = asyncsim.simulate(net, x, strategy="random", F=8)
    rates = [res.layer_counts(i).mean().item() for i in range(3)]
    assert all(0.01 < r < 0.5 for r in rates), rates


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"tau": 0.0}, "tau"),
        ({"tau": [10.0, -1.0]}, "tau"),
        ({"tau": [1.0]}, "tau"),
        ({"theta": float("nan")}, "theta"),
        ({"theta": [1.0, torch.tensor([1.0, 2.0, 3.0])]}, "theta"),
        ({"dt": 0}, "dt"),
        ({"refractory_dropout": 1.0}, "refractory_dropout"),
        ({"surrogate": "relu"}, "surrogate"),
        ({"weight_gain": -1.0}, "weight_gain"),
        ({"sizes": [3]}, "sizes"),
        ({"sizes": [3, 0]}, "sizes"),
    ],
)
def test_invalid_parameters_raise_a_named_value_error(kwargs, name):
    args = {"sizes": [3, 4, 2], **kwargs}
    with pytest.raises(ValueError, match=name):
        asyncsim.Network(**args)


def test_non_finite_weights_are_named():
    net = asyncsim.Network([3, 4, 2])
    with torch.no_grad():
        net.weights[1][0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"weights\[1\].*inf"):
        asyncsim.simulate(net, torch.ones(2, 1, 3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_all_finite_agrees_with_elementwise_isfinite(dtype):
    gen = torch.Generator().manual_seed(3)
    for special in (None, float("nan"), float("inf"), float("-inf")):
        for where in range(0, 60, 17):
            t = (torch.randn(3, 4, 5, generator=gen) * 1e4).to(dtype)
            if special is not None:
                t.view(-1)[where] = special
            assert bool(asyncsim.network.all_finite(t)) == bool(torch.isfinite(t).all())
    assert bool(asyncsim.network.all_finite(torch.empty(0, 3)))


def test_weights_edited_after_a_passing_check_are_checked_again():
    # The check is skipped while no parameter changed; an in-place edit is a change.
    net = asyncsim.Network([3, 4, 2])
    x = torch.ones(2, 1, 3)
    asyncsim.simulate(net, x)
    asyncsim.simulate(net, x)
    with torch.no_grad():
        net.weights[0][1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"weights\[0\].*nan"):
        asyncsim.simulate(net, x)
    with torch.no_grad():
        net.weights[0][1, 2] = 0.5
    asyncsim.simulate(net, x)
    net.weights[1] = torch.nn.Parameter(torch.full_like(net.weights[1], float("-inf")))
    with pytest.raises(ValueError, match=r"weights\[1\].*inf"):
        asyncsim.simulate(net, x)
