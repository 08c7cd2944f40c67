"""Hand-computed cases of the asynchronous dynamics one mechanism each
(docs/semantics.md#dynamics)."""

import torch

import asyncsim
from asyncsim.rng import Stream, uniform

from .helpers import set_weights

SLOW = 1e9  # tau so large that exp(-dt/tau) rounds to 1 in float32


def fires_of(res: asyncsim.SimResult, neuron: int) -> list[tuple[int, int, int, float]]:
    ev = res.events
    rows = (ev.neuron == neuron).nonzero().flatten().tolist()
    return [(int(ev.sample[i]), int(ev.timestep[i]), int(ev.forward_step[i]),
             float(ev.value[i])) for i in rows]


def emissions_of(res: asyncsim.SimResult) -> list[tuple[int, int, int, float]]:
    em = res.emissions
    return list(zip(em.timestep.tolist(), em.forward_step.tolist(), em.neuron.tolist(),
                    em.value.tolist(), strict=True))


def two_into_one(w_in: list[float], w_out: list[float], **kwargs) -> asyncsim.Network:
    """Input -> neurons A (0), B (1) -> output neuron C (2)."""
    net = asyncsim.Network([1, 2, 1], **{"tau": SLOW, **kwargs})
    return set_weights(net, [[w] for w in w_in], [w_out])


def test_all_ones_network_fires_seven_spikes_per_timestep():
    net = set_weights(asyncsim.Network([2, 3, 4], tau=SLOW, theta=1.0),
                      [[1.0, 1.0]] * 3, [[1.0] * 3] * 4)
    x = torch.ones(3, 2, 2)
    res = asyncsim.simulate(net, x, strategy="random", F=2, seed=11, record=True)
    assert res.counts.sum(dim=2).tolist() == [[7.0, 7.0]] * 3
    assert res.emitted.tolist() == [[7, 7]] * 3
    assert res.synops.tolist() == [[12, 12]] * 3  # 3 hidden spikes x 4 targets
    assert torch.equal(res.output_counts, torch.ones(3, 2, 4))
    em = res.emissions
    for t in range(3):
        for b in range(2):
            mine = (em.timestep == t) & (em.sample == b)
            last = em.neuron[mine][em.forward_step[mine] == em.forward_step[mine].max()]
            # One more step integrates a last hidden spike; an output spike has no target.
            expected = 5 if bool((last < 3).any()) else 4
            assert res.forward_steps[t, b].item() == expected


def test_no_leak_inside_a_timestep():
    net = two_into_one([2.0, 2.0], [0.5625, 0.5625], tau=0.1)
    res = asyncsim.simulate(net, torch.ones(1, 1, 1), strategy="random", F=1, record=True)
    assert fires_of(res, 2) == [(0, 0, 3, 1.125)]


def test_refractory_neuron_discards_current():
    net = two_into_one([2.0, 2.0], [2.0, 2.0])
    res = asyncsim.simulate(net, torch.ones(2, 1, 1), strategy="random", F=1, record=True)
    # Fires at step 2 in both timesteps from a zero membrane: the step-3 current was discarded.
    assert fires_of(res, 2) == [(0, 0, 2, 2.0), (0, 1, 2, 2.0)]


def test_inhibitory_last_emission_is_integrated():
    net = two_into_one([3.0, 2.0], [0.75, -0.25])
    res = asyncsim.simulate(net, torch.ones(2, 1, 1), strategy="momentum", F=1, record=True)
    assert res.forward_steps[0].tolist() == [3]
    decay = net.decay()[2]
    expected = float(torch.tensor(0.5) * decay + torch.tensor(0.75))
    assert fires_of(res, 2) == [(0, 1, 2, expected)]


def test_budget_stop_carries_queued_spikes_and_delivers_nothing_late():
    net = two_into_one([3.0, 2.0], [0.75, 0.75])
    x = torch.tensor([1.0, 0.0, 0.0]).reshape(3, 1, 1)
    res = asyncsim.simulate(net, x, strategy="momentum", F=1, max_steps=2, record=True)
    assert res.forward_steps[:, 0].tolist() == [2, 2, 1]
    assert res.emitted[:, 0].tolist() == [1, 1, 1]
    assert emissions_of(res) == [(0, 1, 0, 1.0), (1, 1, 1, 1.0), (2, 1, 2, 1.0)]
    decay = net.decay()[2]
    assert fires_of(res, 2) == [(0, 1, 2, float(torch.tensor(0.75) * decay + 0.75))]


def test_refractory_dropout_queues_a_count_of_two():
    # A (0), B (1) -> C (2) -> output D (3)
    net = asyncsim.Network([1, 2, 1, 1], tau=SLOW, refractory_dropout=0.999)
    set_weights(net, [[4.0], [3.0]], [[2.0, 2.0]], [[0.75]])
    seed = 0
    stays_open = uniform(torch.tensor([seed]), Stream.REFRACTORY_DROPOUT, 0, 2, 2)
    assert float(stays_open) < 0.999
    x = torch.ones(1, 1, 1)
    net.train()
    res = asyncsim.simulate(net, x, strategy="momentum", F=1, seed=seed, record=True)
    assert [f[2] for f in fires_of(res, 2)] == [2, 3]
    assert (0, 3, 2, 2.0) in emissions_of(res)
    assert fires_of(res, 3) == [(0, 0, 4, 1.5)]  # twice the weight arrived at once
    net.eval()
    res = asyncsim.simulate(net, x, strategy="momentum", F=1, seed=seed, record=True)
    assert [f[2] for f in fires_of(res, 2)] == [2]
    assert fires_of(res, 3) == []


def test_emitting_only_output_spikes_ends_the_timestep():
    net = asyncsim.Network([1, 3], tau=SLOW)
    set_weights(net, [[2.0], [2.0], [0.5]])
    res = asyncsim.simulate(net, torch.ones(1, 1, 1), strategy="random", F=1)
    # Two output spikes queued, one emitted per step, no targets: two steps.
    assert res.forward_steps.tolist() == [[2]]
    assert res.synops.tolist() == [[0]]


def test_stop_on_output_ends_the_timestep_and_carries_the_queue():
    net = two_into_one([3.0, 2.0], [2.0, 2.0])
    x = torch.tensor([1.0, 0.0, 0.0]).reshape(3, 1, 1)
    full = asyncsim.simulate(net, x, strategy="momentum", F=1, record=True)
    assert full.forward_steps[:, 0].tolist() == [3, 1, 1]
    res = asyncsim.simulate(net, x, strategy="momentum", F=1, stop_on_output=0, record=True)
    # C fires at step 2 (from A); the timestep ends there with B and C still queued. Next
    # timestep B goes first (carried keys tie at p = 0; smaller index), C fires again at step 2
    # and stops that timestep too; its count of 2 leaves in the third.
    assert res.forward_steps[:, 0].tolist() == [2, 2, 1]
    assert emissions_of(res) == [(0, 1, 0, 1.0), (1, 1, 1, 1.0), (2, 1, 2, 2.0)]
    one_more = asyncsim.simulate(net, x, strategy="momentum", F=1, stop_on_output=1)
    assert one_more.forward_steps[0, 0].item() == 3


def test_membrane_readout_integrates_without_firing():
    net = asyncsim.Network([1, 2, 1], tau=SLOW, readout="membrane")
    set_weights(net, [[3.0], [2.0]], [[2.0, -0.5]])
    res = asyncsim.simulate(net, torch.ones(2, 1, 1), strategy="random", F=1)
    assert res.output_counts.sum().item() == 0
    decay = net.decay()[2]
    assert res.output_membrane[:, 0, 0].tolist() == [1.5, float(torch.tensor(1.5) * decay + 1.5)]
