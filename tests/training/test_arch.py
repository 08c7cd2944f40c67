"""``arch``: convolutional and recurrent networks in ``asyncsim train`` / ``eval``: the option's
validation, the network built on the data set's input shape, checkpoints that rebuild it."""

import json

import pytest
import torch

from asyncsim.architecture import Conv, Dense, Link
from asyncsim.cli import build_parser, main
from asyncsim.training.checkpoint import BEST, LAST, load_checkpoint
from asyncsim.training.config import load_yaml, make_config, network_layers
from asyncsim.training.experiment import load_model
from asyncsim.training.trainer import build_network, train

CNN = "conv(4,3,s2)-conv(8,3,s2,p1)"


def tiny(tmp_path, **values):
    """One epoch at a large F: a few seconds on one CPU thread."""
    return make_config({"dataset": "digits", "epochs": 1, "batch_size": 128, "F": 32,
                        "strategy": "random", "out_dir": str(tmp_path), "wandb": False,
                        **values})


def test_arch_lists_the_hidden_layers_and_the_output_layer_is_appended():
    cfg = make_config({"arch": "conv(8,3,s2)-fc(16,rec)-link(0,3)"})
    assert network_layers(cfg, 10) == [Conv(8, 3, 2), Dense(16, recurrent=True), Link(0, 3),
                                       Dense(10)]
    assert network_layers(make_config({"hidden": [32, 16]}), 4) == [32, 16, 4]
    net = build_network(cfg, (2, 10, 10), 10)
    assert net.layer_shapes == [(8, 4, 4), (16, 1, 1), (10, 1, 1)]
    assert [(p.source, p.target, p.kind) for p in net.projections] == [
        (0, 1, "conv"), (1, 2, "dense"), (2, 3, "dense"), (2, 2, "dense"), (0, 3, "dense")]
    # the YAML list form gives the same network
    listed = make_config({"arch": ["conv(8,3,s2)", {"fc": 16, "recurrent": True},
                                   "link(0,3)"]})
    assert network_layers(listed, 10) == network_layers(cfg, 10)


def test_yaml_file_and_command_line_keep_the_arch_string(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("arch: conv(8,3,s2)-conv(16,3,s2,p1)\n")
    assert make_config(load_yaml(path)).arch == "conv(8,3,s2)-conv(16,3,s2,p1)"
    parser = build_parser()
    args = parser.parse_args(["train", "--arch", "conv(8,3,s2)-conv(16,3,s2,p1)"])
    assert args.arch == "conv(8,3,s2)-conv(16,3,s2,p1)"
    # a YAML list on the command line keeps the commas inside each layer's parentheses
    assert parser.parse_args(["train", "--arch", "[conv(8,3,s2), fc(16,rec)]"]).arch == [
        "conv(8,3,s2)", "fc(16,rec)"]
    assert parser.parse_args(["train", "--arch", "[64, 32]"]).arch == [64, 32]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"arch": "conv(8)"}, "arch"),
        ({"arch": "fc(16)-pool(2)"}, "arch"),
        ({"arch": "fc(16,recurrent)"}, "arch"),
        ({"arch": 64}, "arch"),
        ({"arch": []}, "arch"),
        ({"arch": [{"conv": 8, "size": 3}]}, "arch"),
        ({"arch": "fc(16)", "hidden": [32]}, "either arch or hidden"),
    ],
)
def test_bad_arch_values_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        make_config(values)


def test_arch_that_does_not_fit_the_data_is_named():
    # the output layer is the trainer's: an arch ending in fc(n_classes) is refused
    with pytest.raises(ValueError, match=r"arch: .*appends the output layer fc\(10\)"):
        build_network(make_config({"arch": "conv(8,3,s2)-fc(10)"}), (2, 10, 10), 10)
    # a 1-D data set is (n_in, 1, 1): a 3x3 kernel does not fit it
    with pytest.raises(ValueError, match=r"arch: .*\(C, H, W\) = \(40, 1, 1\)"):
        build_network(make_config({"dataset": "timing", "arch": "conv(8,3)"}), (40, 1, 1), 10)
    # an int n_in is (n_in, 1, 1) too; a link to a missing layer is named
    with pytest.raises(ValueError, match="arch"):
        build_network(make_config({"arch": "fc(8)-link(0,5)"}), 40, 10)


def test_train_command_rejects_a_misfit_arch_before_work(tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["train", "--no-wandb", "--quiet", "--out-dir", str(out), "--dataset", "timing",
            "--arch", "conv(8,3,s2)"]
    assert main(argv) == 2
    assert "arch" in capsys.readouterr().err
    assert not out.exists()


def test_conv_training_checkpoint_rebuilds_the_same_network_and_evaluates(tmp_path, capsys):
    cfg = tiny(tmp_path, arch=CNN, binning={"n_steps": 8})
    outcome = train(cfg, progress=False)
    net = outcome.net
    assert net.in_shape == (2, 10, 10)  # the digits' ON/OFF 10x10 frames
    assert net.layer_shapes == [(4, 4, 4), (8, 2, 2), (10, 1, 1)]
    assert outcome.history[0]["test/spike_density"] > 0
    assert load_checkpoint(outcome.run_dir / LAST)["config"]["arch"] == CNN

    model = load_model(outcome.run_dir / LAST)
    assert model.config.arch == CNN
    assert model.net.projections == net.projections
    assert model.net.layer_shapes == net.layer_shapes
    for mine, theirs in zip(net.state_dict().items(), model.net.state_dict().items(),
                            strict=True):
        assert mine[0] == theirs[0] and torch.equal(mine[1], theirs[1])

    rows_path = tmp_path / "rows.json"
    argv = ["eval", str(outcome.run_dir / BEST), "--strategies", "sync,random", "--F", "32",
            "--out", str(tmp_path / "eval"), "--json", str(rows_path), "--no-wandb", "--quiet"]
    assert main(argv) == 0
    rows = json.loads(rows_path.read_text())
    assert [r["label"] for r in rows] == ["sync", "random F=32"]
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["spike_density"] > 0 for r in rows)


@pytest.mark.parametrize("strategy", ["sync", "random"])
def test_recurrent_training_and_resume(tmp_path, strategy):
    cfg = tiny(tmp_path, arch="fc(16,rec)", strategy=strategy, epochs=2)
    outcome = train(cfg, progress=False)
    assert [(p.source, p.target) for p in outcome.net.projections] == [(0, 1), (1, 2), (1, 1)]
    assert outcome.history[-1]["test/spike_density"] > 0
    losses = [h["train/loss"] for h in outcome.history]
    assert all(torch.isfinite(torch.tensor(losses)))
    # resuming the finished run rebuilds the recurrent network from its checkpoint
    resumed = train(cfg, resume=True, progress=False)
    assert resumed.history == outcome.history
    for a, b in zip(outcome.net.parameters(), resumed.net.parameters(), strict=True):
        assert torch.equal(a, b)
