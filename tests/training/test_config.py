"""Configs: defaults < YAML < overrides, and one clear error per bad value before any work."""

import pytest
import torch

from asyncsim.cli import main
from asyncsim.training.config import load_yaml, make_config


def test_yaml_and_overrides_merge(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("strategy: momentum\nF: 4\nhidden: [32, 16]\nlr: 0.01\n")
    cfg = make_config(load_yaml(path), lr=0.02, F=None)
    assert (cfg.strategy, cfg.f, cfg.hidden, cfg.lr) == ("momentum", 4, [32, 16], 0.02)
    assert make_config({"F": "inf"}).f is None
    assert make_config({"loss": "membrane"}).readout == "membrane"
    assert [make_config({"grad": g}).grad for g in ("dense", "events")] == ["dense", "events"]


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"strategy": "lifo"}, "strategy"),
        ({"F": 0}, "F"),
        ({"lr": -0.1}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"hidden": [0]}, "hidden"),
        ({"loss": "mse"}, "loss"),
        ({"refractory_dropout": 1.5}, "refractory_dropout"),
        ({"surrogate": "relu"}, "surrogate"),
        ({"grad": "layered"}, "grad"),
        ({"learning_rate": 0.1}, "learning_rate"),
        ({"device": "gpu"}, "device"),
        ({"device": "cuda:x"}, "device"),
    ],
)
def test_bad_values_are_named(values, key):
    with pytest.raises(ValueError, match=key):
        make_config(values)


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_yaml(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        load_yaml(listing)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--strategy", "lifo"], "strategy"),
        (["--F", "0"], "F"),
        (["--lr", "-1"], "lr"),
        (["--dataset", "nmnist", "--data-dir", "/nonexistent/folder"], "/nonexistent/folder"),
        *([(["--device", "cuda"], "device")] if not torch.cuda.is_available() else []),
    ],
)
def test_train_command_rejects_bad_configs_before_work(tmp_path, capsys, argv, message):
    out = tmp_path / "runs"
    assert main(["train", "--no-wandb", "--quiet", "--out-dir", str(out), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing was started or written
