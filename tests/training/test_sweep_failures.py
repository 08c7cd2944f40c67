"""Sweeps that cannot run stop before their study starts; trials that fail make the sweep fail:
configuration errors are not retried, `sweep run` exits non-zero, a killed worker is reported."""

import pytest
import yaml

from asyncsim.cli import main
from asyncsim.training import sweep_worker
from asyncsim.training.sweep_study import latest_attempts, make_storage, sweep_from_study
from asyncsim.training.sweep_worker import launch, worst_status

TINY = {"epochs": {"value": 1}, "batch_size": {"value": 256}}


def run_sweep(tmp_path, parameters, *extra, **raw):
    path = tmp_path / "s.yaml"
    parameters = {**TINY, "hidden": {"value": [8]}, **parameters}
    if "arch" in parameters:
        del parameters["hidden"]
    path.write_text(yaml.safe_dump({"method": "grid", "parameters": parameters, **raw}))
    return main(["sweep", "run", str(path), "--dir", str(tmp_path / "sw"), "--heartbeat", "1",
                 "--quiet", "--no-wandb", *extra])


@pytest.mark.parametrize(("parameters", "raw", "message"), [
    ({"dataset": {"values": ["digits", "mnist"]}}, {}, "dataset: unknown 'mnist'"),
    ({"dataset": {"value": "nmnist"}, "data_dir": {"value": "/nonexistent/data"}}, {},
     "/nonexistent/data"),
    # conv fits the digits' 2x10x10 map, not the timing task's 1-D input (as SHD's): the
    # combination is refused, each value alone would pass.
    ({"dataset": {"values": ["digits", "timing"]}, "arch": {"values": ["conv(4,3,s2)"]}}, {},
     "does not fit the timing input"),
    ({"lr": {"values": [0.01]}}, {"metric": {"name": "test/acc", "goal": "maximize"}},
     "sweep metric.name: 'test/acc' is not logged"),
])
def test_a_sweep_whose_trials_cannot_run_stops_before_its_study(tmp_path, capsys, parameters,
                                                                raw, message):
    """Before: each trial failed and was retried 3 times, and `sweep run` exited 0; a bad
    metric name failed after trial 0 had trained, leaving study.db behind."""
    assert run_sweep(tmp_path, parameters, **raw) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sw" / "study.db").exists()


def test_random_sweeps_check_every_combination_of_choices(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"method": "random", "run_cap": 2, "parameters": {
        **TINY, "lr": {"min": 0.001, "max": 0.01},
        "dataset": {"values": ["digits", "timing"]}, "arch": {"values": ["conv(4,3,s2)"]}}}))
    assert main(["sweep", "run", str(path), "--dir", str(tmp_path / "sw"), "--quiet",
                 "--no-wandb"]) == 2
    assert "does not fit the timing input" in capsys.readouterr().err


def trial_states(sweep_dir):
    storage = make_storage(f"sqlite:///{sweep_dir / 'study.db'}")
    sweep = sweep_from_study(storage)
    study_id = storage.get_study_id_from_name(sweep.spec.name)
    return [(t.state.name, t.user_attrs.get("error", "")) for t in storage.get_all_trials(
        study_id)], latest_attempts(storage, study_id)


@pytest.mark.parametrize(("error", "attempts"), [(ValueError, 1), (RuntimeError, 3)])
def test_failed_trials_fail_the_sweep_and_only_crashes_are_retried(tmp_path, monkeypatch,
                                                                   capsys, error, attempts):
    """A ValueError (bad config or data, e.g. a data folder removed after the start) fails
    for good; any other crash is retried (--max-retries 2: 3 attempts). Either way the sweep
    exits 1 (before: 0)."""
    from asyncsim.training import trainer

    def fail(cfg, **_):
        raise error(f"boom in {cfg.name}")

    monkeypatch.setattr(trainer, "train", fail)
    assert run_sweep(tmp_path, {"lr": {"values": [0.01]}}) == 1
    states, latest = trial_states(tmp_path / "sw")
    assert states == [("FAIL", f"{error.__name__}: boom in trial-0000")] * attempts
    assert len(latest) == 1
    assert "1 trial(s) failed" in capsys.readouterr().err


def test_launch_reports_a_worker_killed_by_a_signal(monkeypatch, capsys):
    """Before: max() of the statuses, so a worker killed by SIGKILL (-9) hid behind 0."""
    entry = "import os, signal, sys; sys.argv[-1] == 'die' and os.kill(os.getpid(), signal.SIGKILL)"
    monkeypatch.setattr(sweep_worker, "WORKER_ENTRY", entry)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert launch(["live"], 2, 1) == 0
    assert launch(["die"], 2, 1) == 128 + 9
    assert "worker 0 was killed by SIGKILL" in capsys.readouterr().err


def test_worst_status():
    assert worst_status([0, 0]) == 0
    assert worst_status([0, -15, 1]) == 128 + 15
    assert worst_status([2, 0, 1]) == 2
