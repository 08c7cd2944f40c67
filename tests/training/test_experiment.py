"""``asyncsim eval`` end to end: checkpoints x settings, tables, plots, traces, W&B offline."""

import json

import pytest

from asyncsim.cli import main
from asyncsim.traces import load
from asyncsim.training.checkpoint import BEST
from asyncsim.training.config import make_config
from asyncsim.training.trainer import train


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    paths = []
    for strategy, f in (("sync", None), ("momentum", 4)):
        cfg = make_config({"dataset": "digits", "hidden": [24], "epochs": 1, "F": f,
                           "strategy": strategy, "out_dir": str(root), "wandb": False})
        paths.append(str(train(cfg, progress=False).run_dir / BEST))
    return paths


def test_eval_command_cross_evaluates_and_writes_everything(checkpoints, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    out, rows_path, trace = tmp_path / "eval", tmp_path / "rows.json", tmp_path / "t.h5"
    argv = ["eval", *checkpoints, "--strategies", "sync,fifo", "--F", "2,inf",
            "--stops", "complete,output", "--out", str(out), "--json", str(rows_path),
            "--trace", str(trace), "--quiet"]
    assert main(argv) == 0
    rows = json.loads(rows_path.read_text())
    settings = ["sync", "fifo F=2", "fifo F=2 output", "fifo F=inf", "fifo F=inf output"]
    assert [(r["trained"], r["label"]) for r in rows] == [
        (trained, s) for trained in ("sync", "momentum F=4") for s in settings]
    for row in rows:
        assert 0.0 <= row["accuracy"] <= 1.0 and row["spike_density"] > 0
    printed = capsys.readouterr().out
    assert "executed with (rows) x trained under (columns)" in " ".join(printed.split())
    for name in ("accuracy_vs_F.png", "spike_density_per_layer.png", "decision_times.png",
                 "spike_raster.png"):
        assert (out / name).stat().st_size > 1000
    assert list((out / "wandb").glob("offline-run-*"))
    files = sorted(tmp_path.glob("t_*.h5"))
    assert len(files) == len(rows)
    sync_trace = load(tmp_path / "t_sync_sync.h5")
    assert sync_trace.metadata["trained"] == "sync"
    assert len(sync_trace.labels) == 400  # the whole digits test split, streamed by batch


def test_eval_rejects_a_bad_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    assert main(["eval", str(bad), "--no-wandb", "--quiet"]) == 2
    assert "bad.pt" in capsys.readouterr().err
