"""Surrogate derivatives at chosen points computed by hand from the formulas
(docs/semantics.md#gradients)."""

import math

import pytest
import torch

from asyncsim.surrogates import Surrogate, make_surrogate, spike


@pytest.mark.parametrize(
    ("name", "scale", "z", "expected"),
    [
        ("atan", 2.0, 0.0, 1 / math.pi),
        ("atan", 2.0, 0.5, 1 / (math.pi * (1 + (math.pi * 2 * 0.5 / 2) ** 2))),
        ("atan", 3.0, -1.0, 1 / (math.pi * (1 + (math.pi * 3 / 2) ** 2))),
        ("fast_sigmoid", 25.0, 0.0, 1.0),
        ("fast_sigmoid", 25.0, -0.2, 1 / 36),
        ("sigmoid", 1.0, 0.0, 0.25),
        ("sigmoid", 4.0, 0.5, 4 * (1 / (1 + math.exp(-2))) * (1 - 1 / (1 + math.exp(-2)))),
    ],
)
def test_surrogate_derivative(name, scale, z, expected):
    zt = torch.tensor([z], dtype=torch.float64, requires_grad=True)
    s = spike(zt, Surrogate(name, scale))
    s.sum().backward()
    assert s.item() == float(z > 0)
    assert zt.grad.item() == pytest.approx(expected, rel=1e-12)


def test_heaviside_is_strict():
    z = torch.tensor([-1.0, 0.0, 1e-7])
    assert spike(z, make_surrogate("atan")).tolist() == [0.0, 0.0, 1.0]


def test_defaults_and_parsing():
    assert make_surrogate("atan") == Surrogate("atan", 2.0)
    assert make_surrogate("fast_sigmoid") == Surrogate("fast_sigmoid", 25.0)
    assert make_surrogate("sigmoid:3") == Surrogate("sigmoid", 3.0)
    for bad in ("tanh", "atan:x", "atan:-1", 3):
        with pytest.raises(ValueError, match="surrogate"):
            make_surrogate(bad)
