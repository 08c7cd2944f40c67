"""Malformed input to `asyncsim train|eval|demo`: one `asyncsim: error:` line naming the thing
at fault, exit status 2, nothing written; no code from checkpoints; a traceback only for bugs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from asyncsim.cli import main
from asyncsim.training.checkpoint import BEST, LAST, load_checkpoint
from asyncsim.training.config import bool_value, make_config
from asyncsim.training.sweep_spec import parse_sweep
from asyncsim.training.trainer import train

TINY = ["--no-wandb", "--quiet", "--epochs", "1", "--hidden", "[8]", "--batch-size", "256"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny training run (hidden [8], one epoch)."""
    cfg = make_config({"hidden": [8], "epochs": 1, "batch_size": 256, "name": "tiny",
                       "out_dir": str(tmp_path_factory.mktemp("runs")), "wandb": False})
    return train(cfg, progress=False).run_dir


def one_error_line(capsys, *expected: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("asyncsim: error: ") and len(err.strip().splitlines()) == 1, err
    for text in expected:
        assert text in err, err
    return err


class Payload:
    """Unpickling this runs ``open(marker, "w")``: what a crafted checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_checkpoints_never_run_code_from_the_file(run, tmp_path, capsys):
    """Before: torch.load(weights_only=False) ran the payload on `eval` and `--resume`."""
    marker = tmp_path / "pwned"
    state = load_checkpoint(run / LAST)  # what this version writes loads safely
    assert torch.load(run / LAST, weights_only=True).keys() == state.keys()
    evil = tmp_path / "evil.pt"
    torch.save({**state, "history": Payload(marker)}, evil)
    assert main(["eval", str(evil), "--no-wandb", "--quiet"]) == 2
    one_error_line(capsys, f"refusing {evil}", "open")
    resumed = tmp_path / "runs" / "r"
    resumed.mkdir(parents=True)
    torch.save({**state, "history": Payload(marker)}, resumed / LAST)
    assert main(["train", *TINY, "--out-dir", str(tmp_path / "runs"), "--name", "r",
                 "--resume"]) == 2
    one_error_line(capsys, f"refusing {resumed / LAST}")
    assert not marker.exists()


@pytest.mark.parametrize(("argv", "names"), [
    (["--binning", "{foo: 1}"], ["binning", "foo"]),
    (["--dataset-options", "{bogus: 1}"], ["dataset_options", "bogus"]),
    (["--binning", "{dt_ms: fast}"], ["binning", "dt_ms"]),
    (["--wandb", "maybe"], ["wandb", "maybe"]),
    (["--bias", "maybe"], ["bias", "maybe"]),
    (["--seed", str(2**64)], ["seed", str(2**64)]),
    (["--seed", str(10**30)], ["seed"]),
    (["--name", "../../escape"], ["name", "../../escape"]),
    (["--name", ".."], ["name"]),
    (["--hidden", "[1,"], ["hidden", "[1,"]),
    (["--dataset", "mnist"], ["dataset", "mnist"]),
    (["--wandb-project", "a/b"], ["wandb_project"]),
])
def test_bad_training_flags_are_one_line_before_anything_is_written(tmp_path, capsys, argv,
                                                                    names):
    """Before: TypeError tracebacks (binning, options), any string taken as true (booleans),
    OverflowError (seed), a run folder outside --out-dir (name)."""
    runs = tmp_path / "a" / "runs"
    assert main(["train", *TINY[1:], "--out-dir", str(runs), *argv]) == 2  # W&B on: see wandb
    one_error_line(capsys, *names)
    assert not (tmp_path / "a").exists() and not (tmp_path / "escape").exists()


def test_out_dir_that_is_a_file(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("")
    assert main(["train", *TINY, "--out-dir", str(taken)]) == 2
    one_error_line(capsys, f"out_dir: {taken} is a file")


def test_booleans_take_true_false_yes_no_1_0_only():
    for word, value in (("true", True), ("No", False), ("1", True), ("0", False)):
        assert make_config({}, bias=bool_value(word)).bias is value
    assert make_config({"bias": 1}).bias is True  # YAML's 1 in a config file
    for bad in ("maybe", "on", 2, 0.5):
        with pytest.raises(ValueError, match="bias: expected true or false"):
            make_config({"bias": bad})


def test_sweep_names_cannot_leave_the_sweeps_folder():
    with pytest.raises(ValueError, match="^sweep name"):
        parse_sweep({"method": "grid", "name": "..", "parameters": {"lr": {"value": 0.01}}},
                    "x", {}, preflight=False)


def test_resume_with_another_network_names_the_keys_that_differ(run, capsys):
    """Before: torch's raw `size mismatch for weights.0`."""
    assert main(["train", *TINY, "--out-dir", str(run.parent), "--name", run.name,
                 "--hidden", "[16]", "--resume"]) == 2
    one_error_line(capsys, f"{run / LAST} does not fit", "hidden [8] in the checkpoint, [16] now")


def test_triton_without_cuda_fails_before_anything_is_written(tmp_path):
    """Outside Triton's interpreter the kernels need CUDA tensors, and the trainer's are on the
    CPU: before, this failed at the first batch, leaving the run folder and W&B's behind."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    env = {**os.environ, "WANDB_MODE": "offline", "HOME": str(home),
           "MPLCONFIGDIR": str(tmp_path / "mpl"), "ASYNCSIM_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("TRITON_INTERPRET", None)
    done = subprocess.run([sys.executable, "-m", "asyncsim", "train", "--quiet", "--backend",
                           "triton", "--strategy", "random", "--out-dir", "runs"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("asyncsim: error: backend: 'triton' cannot run here")
    assert len(done.stderr.strip().splitlines()) == 1
    assert list(work.iterdir()) == [] and not home.exists()


def test_a_bug_shows_its_traceback_and_asks_for_a_report(monkeypatch, capsys):
    from asyncsim.training import demo

    def broken(*_, **__):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(demo, "run_demo", broken)
    assert main(["demo", "--no-wandb", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: kaboom" in err and "please report it" in err

    def denied(*_, **__):
        raise PermissionError(13, "Permission denied", "/some/folder")

    monkeypatch.setattr(demo, "run_demo", denied)
    assert main(["demo", "--no-wandb", "--quiet"]) == 2
    assert capsys.readouterr().err == "asyncsim: error: /some/folder: Permission denied\n"


def test_eval_outputs_are_checked_before_the_work(run, tmp_path, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    assert main(["eval", str(run / BEST), "--no-wandb", "--json", str(folder)]) == 2
    one_error_line(capsys, f"--json: {folder} is a folder")
    taken = tmp_path / "taken"
    taken.write_text("")
    assert main(["eval", str(run / BEST), "--no-wandb", "--out", str(taken / "eval")]) == 2
    one_error_line(capsys, f"--out: {taken} is a file")
    assert main(["eval", str(run / BEST), "--no-wandb", "--batch-size", "0"]) == 2
    one_error_line(capsys, "--batch-size: must be >= 1, got 0")


def test_eval_with_only_early_stops_makes_its_folders_plots_and_artifacts(run, tmp_path,
                                                                          monkeypatch):
    """Before: --trace in a missing folder was a FileNotFoundError; `output+2` made an invalid
    W&B artifact name, failing after the work; `--stops output` alone crashed the plots."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    trace = tmp_path / "new" / "folder" / "t.h5"
    out = tmp_path / "eval"
    assert main(["eval", str(run / BEST), "--strategies", "random", "--F", "8", "--stops",
                 "output,output+2", "--trace", str(trace), "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in trace.parent.iterdir()) == [
        "t_sync_random_F_8_output.h5", "t_sync_random_F_8_output_2.h5"]
    assert (out / "accuracy_vs_F.png").stat().st_size > 1000
    assert list((out / "wandb").glob("offline-run-*"))


def test_disabled_wandb_writes_nothing_under_home(run, tmp_path, monkeypatch):
    """Before: every run staged its trace copies under ~/.local/share/wandb even when
    disabled. Disabled by --no-wandb, or by WANDB_MODE=disabled with W&B on."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ASYNCSIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    out = tmp_path / "eval"
    assert main(["eval", str(run / BEST), "--strategies", "random", "--F", "8", "--trace",
                 str(tmp_path / "t.h5"), "--out", str(out), "--quiet"]) == 0
    assert main(["train", "--quiet", "--epochs", "1", "--hidden", "[8]", "--trace", "true",
                 "--out-dir", str(tmp_path / "runs")]) == 0
    assert main(["eval", str(run / BEST), "--no-wandb", "--strategies", "random", "--F", "8",
                 "--trace", str(tmp_path / "t.h5"), "--out", str(out), "--quiet"]) == 0
    assert list(home.rglob("*")) == []
    assert not [p for p in tmp_path.rglob("*wandb*") if p.is_dir()]


def test_artifact_names_are_sanitized(tmp_path, monkeypatch):
    """Before: a trace of the stop mode `output+2` made an invalid W&B artifact name, which
    failed at the very end of an evaluation."""
    from asyncsim.training.tracking import Tracker, artifact_name

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    tracker = Tracker(enabled=True, project="p", name="n", run_dir=tmp_path / "run",
                      config={}, job_type="eval")
    (tmp_path / "t.h5").write_bytes(b"x")
    tracker.log_artifact(tmp_path / "t.h5", name="trace-t_random_F_8_output+2",
                         kind="spike-trace")
    tracker.finish()
    assert artifact_name("trace-t_random_F_8_output+2") == "trace-t_random_F_8_output_2"
    assert artifact_name("trace-my run/1") == "trace-my_run_1"


def test_accuracy_plot_of_early_stops_only(tmp_path):
    """Before: `--stops output` (no `complete` rows) crashed with a figure of 0 columns."""
    from asyncsim.training.plots import accuracy_vs_f

    rows = [{"trained": "sync", "strategy": s, "F": f, "stop": "output", "accuracy": a}
            for s, f, a in (("random", "2", 0.5), ("random", "inf", 0.7), ("fifo", "2", 0.6))]
    assert accuracy_vs_f(rows, tmp_path / "a.png").stat().st_size > 1000


def test_preflight_names_exactly_the_metrics_a_training_logs(run):
    """The sweep's metric is checked against this list before its study starts."""
    from asyncsim.training.preflight import preflight

    state = load_checkpoint(run / LAST)
    assert sorted(preflight(make_config(state["config"]))) == sorted(state["history"][-1])
