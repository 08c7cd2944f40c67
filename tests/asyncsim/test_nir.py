"""NIR interchange (docs/semantics.md#nir-interchange): the LIF mapping on a hand-computed case,
the refusals, asyncsim -> NIR -> asyncsim, and snnTorch's own NIR export and import."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import asyncsim

nir = pytest.importorskip("nir", reason="the NIR interchange needs the nir extra")

DT = 0.5


def _lif(n: int = 1, **params: object) -> "nir.LIF":
    """NIR LIF neurons whose Euler step at DT is asyncsim's with decay 0.75, threshold 1."""
    values = {"tau": 2.0, "r": 4.0, "v_leak": 0.0, "v_threshold": 1.0, "v_reset": 0.0}
    values.update(params)
    return nir.LIF(**{k: np.full(n, v, dtype=np.float64) for k, v in values.items()})


def _dense_graph(neuron: "nir.NIRNode", extra: dict | None = None) -> "nir.NIRGraph":
    """input [2] -> (extra nodes) -> Linear [[0.5, 0.25]] -> neuron -> output."""
    nodes = {
        "input": nir.Input({"input": np.array([2])}),
        "w": nir.Linear(weight=np.array([[0.5, 0.25]], dtype=np.float32)),
        "lif": neuron,
        "output": nir.Output({"output": np.array([1])}),
    }
    chain = ["input", *(extra or {}), "w", "lif", "output"]
    nodes.update(extra or {})
    return nir.NIRGraph(
        nodes=nodes, edges=list(zip(chain, chain[1:], strict=False)), type_check=False
    )


def test_asyncsim_and_its_command_line_work_without_nir():
    code = (
        "import sys; sys.modules['nir'] = None\n"
        "import asyncsim\n"
        "try:\n    asyncsim.from_nir\nexcept ImportError as err:\n    print(err)\n"
        "from asyncsim.cli import main\n"
        "print('exit', main(['nir', 'export', 'best.pt', 'model.nir']))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'asyncsim[nir]'" in run.stdout
    assert "exit 2" in run.stdout  # a user error, not a crash
    assert "needs the nir package" in run.stderr


def test_forward_euler_lif_step_by_hand():
    net = asyncsim.from_nir(_dense_graph(_lif()), dt=DT)
    # Euler factor 1 - dt/tau = 0.75, input gain r*dt/tau = 1: asyncsim's own decay.
    assert net.decay().tolist() == [0.75]
    assert net.theta.tolist() == [1.0]
    x = torch.tensor([[1, 0], [1, 0], [0, 1], [1, 1], [0, 1]], dtype=torch.float32)[:, None]
    # v: 0.5; 0.5*.75+.5 = .875; .875*.75+.25 = .90625; .90625*.75+.75 = 1.4296875 > 1 (fires,
    # reset to 0); 0*.75 + .25 = .25.
    res = asyncsim.simulate(net, x, strategy="sync")
    assert res.counts[:, 0, 0].tolist() == [0, 0, 0, 1, 0]


@pytest.mark.parametrize(
    "node, param",
    [
        (_lif(v_leak=0.1), "v_leak"),
        (_lif(v_reset=0.2), "v_reset"),
        (_lif(r=1.0), "r"),  # input gain dt/tau = 0.25 (Norse's convention): not asyncsim's
        (_lif(tau=DT), "tau"),  # Euler factor 0: no membrane left
        (_lif(v_threshold=-1.0), "v_threshold"),
        (_lif(n=3), "tau"),  # three neurons' parameters for a layer of one
    ],
)
def test_unrepresentable_lif_parameters_are_refused_by_name(node, param):
    with pytest.raises(ValueError, match=rf"NIR node 'lif' \(LIF\): {param} "):
        asyncsim.from_nir(_dense_graph(node), dt=DT)


def test_an_input_gain_is_folded_into_the_weights_only_on_request():
    # Norse's convention: r = 1, so a current enters with gain dt/tau = 0.25.
    graph = _dense_graph(_lif(r=1.0))
    with pytest.raises(ValueError, match=r"NIR node 'lif' \(LIF\): r .*fold_input_gain=True"):
        asyncsim.from_nir(graph, dt=DT)
    with pytest.warns(UserWarning, match=r"node 'lif' \(LIF\): input gain r\*dt/tau"):
        net = asyncsim.from_nir(graph, dt=DT, fold_input_gain=True)
    assert net.weights[0].tolist() == [[0.125, 0.0625]]  # 0.25 x [[0.5, 0.25]], exact
    assert net.decay().tolist() == [0.75]
    x = torch.tensor([[4, 0], [4, 0], [0, 4], [4, 4]], dtype=torch.float32)[:, None]
    # v <- 0.75 v + 0.25 (W x): 0.5; 0.875; 0.90625; 1.4296875 > 1 fires.
    res = asyncsim.simulate(net, x, strategy="sync")
    assert res.counts[:, 0, 0].tolist() == [0, 0, 0, 1]


def test_unrepresentable_nodes_are_refused_by_name():
    cuba = nir.CubaLIF(
        tau_syn=np.ones(1),
        tau_mem=np.full(1, 2.0),
        r=np.full(1, 4.0),
        v_leak=np.zeros(1),
        v_threshold=np.ones(1),
    )
    with pytest.raises(ValueError, match=r"NIR node 'lif' \(CubaLIF\): tau_syn "):
        asyncsim.from_nir(_dense_graph(cuba), dt=DT)
    non_leaky = nir.IF(r=np.ones(1), v_threshold=np.ones(1))
    with pytest.raises(ValueError, match=r"NIR node 'lif' \(IF\): r .*without leak"):
        asyncsim.from_nir(_dense_graph(non_leaky), dt=DT)
    flat = nir.Flatten({"input": np.array([2])}, start_dim=0)
    overlapping = nir.AvgPool2d(
        kernel_size=np.array([2, 2]), stride=np.array([1, 1]), padding=np.array([0, 0])
    )
    with pytest.raises(ValueError, match=r"NIR node 'pool' \(AvgPool2d\): stride "):
        asyncsim.from_nir(_dense_graph(_lif(), {"pool": overlapping, "flat": flat}), dt=DT)
    with pytest.raises(ValueError, match=r"^dt: .*pass dt="):
        asyncsim.from_nir(_dense_graph(_lif()))


def _mixed_network(readout: str = "spikes") -> asyncsim.Network:
    """Conv, pooled dense with a recurrent projection, a skip link, per-neuron thresholds,
    per-layer tau, biases."""
    gen = torch.Generator().manual_seed(1)
    net = asyncsim.Network.from_arch(
        (2, 8, 8),
        "conv(4,3,s2,p1)-fc(6,rec,pool2)-link(1,3)-fc(5)",
        tau=[5.0, 7.0, 9.0],
        theta=torch.rand(64 + 6 + 5, generator=gen) + 0.5,
        bias=True,
        readout=readout,
        generator=gen,
    )
    with torch.no_grad():
        for bias in net.biases:
            bias.uniform_(-0.2, 0.2, generator=gen)
    return net


@pytest.mark.parametrize("readout", ["spikes", "membrane"])
def test_asyncsim_nir_asyncsim_round_trip_is_exact(tmp_path, readout):
    net = _mixed_network(readout)
    nir.write(tmp_path / "net.nir", asyncsim.to_nir(net))
    back = asyncsim.from_nir(tmp_path / "net.nir")  # dt from the graph's metadata
    assert [p.describe() for p in back.projections] == [p.describe() for p in net.projections]
    assert back.dt == net.dt and back.readout == readout
    assert back.in_shape == net.in_shape and back.layer_shapes == net.layer_shapes
    for mine, theirs in zip(
        [*net.weights, *net.biases], [*back.weights, *back.biases], strict=True
    ):
        assert torch.equal(mine, theirs)
    assert torch.equal(back.tau, net.tau) and torch.equal(back.decay(), net.decay())
    if readout == "spikes":
        assert torch.equal(back.theta, net.theta)
    x = (torch.rand(8, 3, 128, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    for kwargs in ({"strategy": "sync"}, {"strategy": "random", "F": 3}):
        ours, theirs = asyncsim.simulate(net, x, **kwargs), asyncsim.simulate(back, x, **kwargs)
        assert ours.counts.sum() > 0
        assert torch.equal(ours.counts, theirs.counts)
        assert torch.equal(ours.output_membrane, theirs.output_membrane)
        assert torch.equal(ours.forward_steps, theirs.forward_steps)


def test_a_nested_graph_is_spliced_in():
    net = asyncsim.Network(
        [3, asyncsim.Dense(4, recurrent=True)], tau=4.0, generator=torch.Generator().manual_seed(8)
    )
    flat = asyncsim.to_nir(net)
    # The recurrent layer and its weights as a subgraph, the way NIR nests an RNN cell.
    cell = nir.NIRGraph(
        nodes={
            "input": nir.Input({"input": np.array([4])}),
            "lif": flat.nodes["layer1"],
            "w_rec": flat.nodes["weight1"],
            "output": nir.Output({"output": np.array([4])}),
        },
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        type_check=False,
    )
    nested = nir.NIRGraph(
        nodes={
            "input": flat.nodes["input"],
            "w": flat.nodes["weight0"],
            "cell": cell,
            "output": flat.nodes["output"],
        },
        edges=[("input", "w"), ("w", "cell"), ("cell", "output")],
        metadata=flat.metadata,
        type_check=False,
    )
    back = asyncsim.from_nir(nested)
    assert [p.describe() for p in back.projections] == ["dense 0->1", "dense 1->1"]
    for mine, theirs in zip(net.weights, back.weights, strict=True):
        assert torch.equal(mine, theirs)
    assert torch.equal(back.decay(), net.decay())


def test_a_folded_gain_scales_conv_kernels_dense_rows_and_biases():
    net = _mixed_network()
    graph = asyncsim.to_nir(net)
    for name in ("layer1", "layer2", "layer3"):
        graph.nodes[name].r = graph.nodes[name].r * 0.5  # every current enters halved
    with pytest.warns(UserWarning, match="folded"):
        folded = asyncsim.from_nir(graph, fold_input_gain=True)
    for mine, theirs in zip(
        [*net.weights, *net.biases], [*folded.weights, *folded.biases], strict=True
    ):
        assert torch.equal(theirs, mine * 0.5)  # halving is exact in float32
    assert torch.equal(folded.decay(), net.decay())


def _snntorch_conv_net(snn: object) -> torch.nn.Sequential:
    """Conv2d -> Leaky -> AvgPool2d -> Flatten -> Linear -> Leaky, reset to zero without
    delay. snnTorch 1.0's export needs beta and threshold per neuron (a scalar fails NIR's
    type check). Betas in [0.7, 0.95): there the decay survives snnTorch's float32 export and
    asyncsim's float32 exp(-dt/tau) bit for bit (docs/nir.md: below 0.5 it does not)."""
    torch.manual_seed(3)
    leaky = {"reset_mechanism": "zero", "reset_delay": False, "init_hidden": True}
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, stride=2, padding=1),
        snn.Leaky(
            beta=torch.rand(4, 4, 4) * 0.25 + 0.7, threshold=torch.full((4, 4, 4), 0.5), **leaky
        ),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 5),
        snn.Leaky(beta=torch.full((5,), 0.8), threshold=torch.ones(5), output=True, **leaky),
    )
    with torch.no_grad():
        net[4].weight.mul_(4.0)  # so that the output layer fires
    return net


def test_snntorch_export_runs_in_asyncsim_with_snntorch_spikes():
    snn = pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch", reason="snnTorch's NIR export needs nirtorch")
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    model = _snntorch_conv_net(snn)
    graph = export_to_nir(model, torch.zeros(1, 2, 8, 8), ignore_dims=[0])
    net = asyncsim.from_nir(graph, dt=1e-4)  # snnTorch writes tau = 1e-4 / (1 - beta)
    assert torch.equal(net.decay()[:64], model[1].beta.flatten())
    x = (torch.rand(20, 3, 2, 8, 8, generator=torch.Generator().manual_seed(4)) < 0.3).float()
    hidden: list[torch.Tensor] = []
    model[1].register_forward_hook(lambda m, i, out: hidden.append(out.flatten(1)))
    utils.reset(model)
    with torch.no_grad():
        out = torch.stack([model(x[t])[0] for t in range(len(x))])
    res = asyncsim.simulate(net, x.flatten(2), strategy="sync")
    assert out.sum() > 0 and torch.stack(hidden).sum() > 0
    # Bit-exact: the same float32 decay, and the same float32 currents (snnTorch's addmm and
    # conv2d with bias give what asyncsim's matmul/conv2d plus bias gives here).
    assert torch.equal(res.counts, torch.cat([torch.stack(hidden), out], dim=2))


def test_snntorch_recurrent_export_runs_in_asyncsim_with_snntorch_spikes():
    snn = pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch", reason="snnTorch's NIR export needs nirtorch")
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(6)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 5),
        snn.RLeaky(
            beta=torch.full((5,), 0.8),
            threshold=torch.ones(5),
            linear_features=5,
            all_to_all=True,
            reset_mechanism="zero",
            reset_delay=False,
            init_hidden=True,
            output=True,
        ),
    )
    with torch.no_grad():
        model[0].weight.mul_(3.0)
    graph = export_to_nir(model, torch.zeros(1, 6), ignore_dims=[0])
    # The recurrent Linear's own bias would be a second bias into the layer: refused.
    with pytest.raises(ValueError, match=r"NIR node '1.w_rec' \(Affine\): bias "):
        asyncsim.from_nir(graph, dt=1e-4)
    with torch.no_grad():
        model[1].recurrent.bias.zero_()
    net = asyncsim.from_nir(export_to_nir(model, torch.zeros(1, 6), ignore_dims=[0]), dt=1e-4)
    assert [p.describe() for p in net.projections] == ["dense 0->1", "dense 1->1"]
    x = (torch.rand(20, 4, 6, generator=torch.Generator().manual_seed(7)) < 0.5).float()
    utils.reset(model)
    with torch.no_grad():
        out = torch.stack([model(x[t])[0] for t in range(len(x))])
    res = asyncsim.simulate(net, x, strategy="sync")
    assert out.sum() > 0
    # The recurrent projection carries the previous timestep's spikes, as in RLeaky.
    assert torch.equal(res.output_counts, out)


def test_asyncsim_export_runs_in_snntorch_with_asyncsim_spikes():
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch", reason="snnTorch's NIR import needs nirtorch")
    from snntorch import utils
    from snntorch.import_nir import import_from_nir

    # snnTorch's importer assumes dt = 1e-4 and one threshold per layer.
    net = asyncsim.Network.from_arch(
        (2, 8, 8),
        "conv(4,3,s2,p1)-fc(6,pool2)-fc(5)",
        tau=1e-3,
        dt=1e-4,
        theta=[0.5, 1.0, 1.0],
        bias=True,
        generator=torch.Generator().manual_seed(1),
    )
    model = import_from_nir(asyncsim.to_nir(net))
    x = (torch.rand(20, 3, 2, 8, 8, generator=torch.Generator().manual_seed(5)) < 0.3).float()
    res = asyncsim.simulate(net, x.flatten(2), strategy="sync")
    hidden = torch.zeros(20, 3, 64)

    def record_hidden(module: torch.nn.Module, inputs: object, spikes: torch.Tensor) -> None:
        hidden[t, b] = spikes.flatten()

    model.layer1.register_forward_hook(record_hidden)
    out = torch.zeros_like(res.output_counts)
    with torch.no_grad():
        # One sample at a time: snnTorch imports NIR's Flatten(start_dim=0) as torch's, which
        # would flatten a batch dimension too.
        for b in range(x.shape[1]):
            utils.reset(model)
            state = None
            for t in range(x.shape[0]):
                out[t, b], state = model(x[t, b], state)
    assert out.sum() > 0 and hidden.sum() > 0
    assert torch.equal(out, res.output_counts)
    assert torch.equal(hidden, res.counts[:, :, :64])


def test_cli_exports_a_checkpoint_and_evaluates_the_nir_file_like_it(tmp_path, capsys):
    from asyncsim.cli import main
    from asyncsim.training.checkpoint import save_atomic
    from asyncsim.training.config import make_config
    from asyncsim.training.trainer import build_network, load_splits

    cfg = make_config({"dataset": "digits", "hidden": [12], "wandb": False})
    train_set, _ = load_splits(cfg)
    net = build_network(cfg, train_set.in_shape, train_set.n_classes)
    save_atomic({"model": net.state_dict(), "config": cfg.to_dict()}, tmp_path / "best.pt")
    model = tmp_path / "model.nir"
    assert main(["nir", "export", str(tmp_path / "best.pt"), str(model)]) == 0
    assert torch.equal(asyncsim.from_nir(model).weights[0], net.weights[0])
    rows = tmp_path / "rows.json"
    argv = [
        "eval",
        str(tmp_path / "best.pt"),
        str(model),
        "--strategies",
        "sync,random",
        "--F",
        "2",
        "--no-wandb",
        "--quiet",
        "--out",
        str(tmp_path / "ev"),
        "--json",
        str(rows),
    ]
    assert main(argv) == 0
    by_model: dict[str, list] = {}
    for row in json.loads(rows.read_text()):
        by_model.setdefault(row.pop("trained"), []).append(row)
    assert by_model["model.nir"] == by_model["sync"]  # the checkpoint's label: trained sync
    foreign = tmp_path / "foreign.nir"
    nir.write(foreign, asyncsim.to_nir(net))  # no asyncsim config in its metadata
    assert main(["eval", str(foreign), "--no-wandb", "--quiet"]) == 2
    assert "pass --dataset" in capsys.readouterr().err
