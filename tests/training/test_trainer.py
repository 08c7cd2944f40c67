"""Real training runs on the embedded digits: learning, checkpoints, resume, W&B offline."""

import pytest
import torch

import asyncsim.training.trainer as trainer_module
from asyncsim.traces import load
from asyncsim.training.checkpoint import BEST, LAST, load_checkpoint
from asyncsim.training.config import make_config
from asyncsim.training.trainer import train


def config(tmp_path, **values):
    return make_config({"dataset": "digits", "hidden": [64], "epochs": 3, "batch_size": 64,
                        "out_dir": str(tmp_path), "wandb": False, **values})


@pytest.mark.parametrize(("strategy", "f", "epochs"), [("sync", None, 3), ("random", 8, 2)])
def test_training_reduces_loss_and_beats_chance(tmp_path, strategy, f, epochs):
    outcome = train(config(tmp_path, strategy=strategy, F=f, epochs=epochs), progress=False)
    losses = [h["train/loss"] for h in outcome.history]
    assert losses[-1] < losses[0]
    assert outcome.history[-1]["test/accuracy"] > 0.35  # chance is about 0.12
    assert (outcome.run_dir / LAST).exists() and (outcome.run_dir / BEST).exists()
    best = load_checkpoint(outcome.run_dir / BEST)
    assert best["best_accuracy"] == max(h["test/accuracy"] for h in outcome.history)


def test_resume_after_a_kill_mid_epoch_continues_identically(tmp_path, monkeypatch):
    straight = train(config(tmp_path / "a", epochs=2), progress=False)

    calls = {"n": 0}
    real_simulate = trainer_module.simulate

    def dies_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 25:  # epoch 1 has 22 batches: this is inside epoch 2
            raise KeyboardInterrupt
        return real_simulate(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "simulate", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(config(tmp_path / "b", epochs=2), progress=False)
    monkeypatch.setattr(trainer_module, "simulate", real_simulate)
    assert load_checkpoint(tmp_path / "b" / straight.run_dir.name / LAST)["epoch"] == 0
    resumed = train(config(tmp_path / "b", epochs=2), resume=True, progress=False)
    for a, b in zip(straight.net.parameters(), resumed.net.parameters(), strict=True):
        assert torch.equal(a, b)
    drop = {"seconds"}
    assert [{k: v for k, v in h.items() if k not in drop} for h in straight.history] == \
        [{k: v for k, v in h.items() if k not in drop} for h in resumed.history]


def test_wandb_offline_run_writes_its_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    outcome = train(config(tmp_path, epochs=1, wandb=True), progress=False)
    assert outcome.wandb_dir is not None
    run_files = list((outcome.run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert run_files and run_files[0].stat().st_size > 0


def test_trace_option_streams_the_last_test_evaluation(tmp_path):
    outcome = train(config(tmp_path, epochs=1, trace=True), progress=False)
    trace = load(outcome.run_dir / "trace_test.h5")
    assert len(trace.labels) == 400 and trace.metadata["split"] == "test"
    assert sum(len(layer.node_ids) for layer in trace.layers.values()) > 0
