"""simulate(): validation, per-sample independence and seeding
(docs/semantics.md#tensors, #strategies, #api)."""

import pytest
import torch

import asyncsim

from .helpers import binary_input, dyadic_network

SIZES = [10, 8, 6, 3]
STRATEGIES = ["random", "momentum", "fifo", "sync"]


@pytest.fixture
def net() -> asyncsim.Network:
    return dyadic_network(SIZES, 0, gain=3.0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_batch_equals_single_sample_runs(net, strategy):
    x = binary_input(6, 5, SIZES[0], 0.3, 1)
    seeds = torch.tensor([7, 123, 2**32 - 1, 0, 99])
    net.train()
    net.refractory_dropout = 0.3
    kwargs = {"strategy": strategy, "F": 2, "lam": 0.5, "record": True}
    if strategy == "sync":
        kwargs.pop("F")
    with torch.no_grad():
        batch = asyncsim.simulate(net, x, seed=seeds, **kwargs)
        for b in range(5):
            one = asyncsim.simulate(net, x[:, b:b + 1], seed=seeds[b:b + 1], **kwargs)
            assert torch.equal(one.counts[:, 0], batch.counts[:, b])
            assert torch.equal(one.forward_steps[:, 0], batch.forward_steps[:, b])
            assert torch.equal(one.emitted[:, 0], batch.emitted[:, b])
            mine = batch.emissions.sample == b
            assert torch.equal(one.emissions.neuron, batch.emissions.neuron[mine])
            assert torch.equal(one.emissions.forward_step, batch.emissions.forward_step[mine])


@pytest.mark.parametrize("strategy", ["random", "momentum", "fifo"])
def test_same_seed_reproduces_and_other_seeds_reschedule(net, strategy):
    x = binary_input(5, 4, SIZES[0], 0.4, 2)
    kwargs = {"strategy": strategy, "F": 1, "lam": 1.0, "record": True}
    a = asyncsim.simulate(net, x, seed=3, **kwargs)
    b = asyncsim.simulate(net, x, seed=3, **kwargs)
    c = asyncsim.simulate(net, x, seed=4, **kwargs)
    assert a.emissions.equal(b.emissions) and torch.equal(a.counts, b.counts)
    assert not a.emissions.equal(c.emissions)


def test_random_selection_is_uniform_over_pending():
    # One hidden layer of 6 neurons all firing at step 1; F=1 picks one uniformly at random.
    net = asyncsim.Network([1, 6, 1], tau=1e9)
    with torch.no_grad():
        net.weights[0].fill_(2.0)
        net.weights[1].fill_(0.0)
    x = torch.ones(1, 3000, 1)
    res = asyncsim.simulate(net, x, strategy="random", F=1, seed=0, record=True)
    first = res.emissions.neuron[res.emissions.forward_step == 1]
    freq = torch.bincount(first, minlength=6).float() / 3000
    assert torch.allclose(freq, torch.full((6,), 1 / 6), atol=0.03)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"F": 0}, "F"),
        ({"F": -3}, "F"),
        ({"F": 1.5}, "F"),
        ({"strategy": "lifo"}, "strategy"),
        ({"backend": "cuda"}, "backend"),
        ({"grad": "straight"}, "grad"),
        ({"lam": float("nan")}, "lam"),
        ({"max_steps": 0}, "max_steps"),
        ({"stop_on_output": -1}, "stop_on_output"),
        ({"seed": torch.tensor([1, 2])}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"strategy": "sync", "max_steps": 3}, "sync"),
    ],
)
def test_invalid_arguments_raise_a_named_value_error(net, kwargs, name):
    with pytest.raises(ValueError, match=name):
        asyncsim.simulate(net, torch.ones(2, 3, SIZES[0]), **kwargs)


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 9), (0, 3, 10)])
def test_input_shape_mismatch_is_named(net, shape):
    with pytest.raises(ValueError, match=r"x: expected shape"):
        asyncsim.simulate(net, torch.ones(shape))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 1e300])
def test_non_finite_input_is_rejected(net, value):
    # 1e300 is finite as given but infinite in the weights' dtype, which x is cast to.
    x = torch.ones(2, 1, SIZES[0], dtype=torch.float64)
    x[1, 0, 3] = value
    with pytest.raises(ValueError, match="x: contains NaN or inf"):
        asyncsim.simulate(net, x)


def test_spike_inputs_skip_the_finiteness_check_and_match_float_inputs(net, monkeypatch):
    spikes = torch.rand(3, 2, SIZES[0], generator=torch.Generator().manual_seed(0)) < 0.5
    want = asyncsim.simulate(net, spikes.float())
    # Integer and boolean inputs cannot hold NaN or inf: no device-to-host check for them.
    monkeypatch.setattr(torch, "isfinite", lambda t: pytest.fail("x was checked for NaN"))
    for x in (spikes, spikes.to(torch.uint8)):
        assert torch.equal(asyncsim.simulate(net, x).counts, want.counts)


def test_infinite_f_spellings_agree(net):
    x = binary_input(4, 2, SIZES[0], 0.4, 5)
    runs = [asyncsim.simulate(net, x, F=f).counts for f in (None, float("inf"), "inf", 10**6)]
    assert all(torch.equal(runs[0], r) for r in runs[1:])


def test_float_weights_batch_equals_single_runs_to_rounding():
    """docs/semantics.md#tensors: with non-dyadic weights spikes, counts and steps are the same
    and membranes agree to float32 rounding (not bit for bit: the sums' order may differ)."""
    gen = torch.Generator().manual_seed(1)
    net = asyncsim.Network([12, 10, 4], weight_gain=3.0, generator=gen, readout="membrane")
    x = binary_input(8, 6, 12, 0.3, 3)
    with torch.no_grad():
        batch = asyncsim.simulate(net, x, strategy="random", F=3, seed=5)
        for b in range(6):
            one = asyncsim.simulate(net, x[:, b:b + 1], strategy="random", F=3, seed=5 + b)
            assert torch.equal(one.counts[:, 0], batch.counts[:, b])
            assert torch.equal(one.forward_steps[:, 0], batch.forward_steps[:, b])
            torch.testing.assert_close(one.output_membrane[:, 0], batch.output_membrane[:, b],
                                       rtol=0, atol=1e-5)


def test_int_seeds_are_taken_mod_2_to_the_32():
    """Before: seed=2**64 raised an OverflowError deep inside torch."""
    x = binary_input(4, 3, SIZES[0], 0.4, 2)
    net = dyadic_network(SIZES, 0)
    kwargs = {"strategy": "random", "F": 1, "record": True}
    base = asyncsim.simulate(net, x, seed=3, **kwargs)
    for seed in (2**64 + 3, 10**30 - (10**30 % 2**32) + 3, 3 - 2**32):
        assert base.emissions.equal(asyncsim.simulate(net, x, seed=seed, **kwargs).emissions)
