"""Sweeps: W&B sweep files validated, run by Optuna workers, resumed after kill -9, shared over
PostgreSQL. Trainings are tiny (hidden [16], 1-2 epochs, large F) on the embedded digits."""

import itertools
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from asyncsim.cli import main
from asyncsim.training.checkpoint import LAST, load_checkpoint
from asyncsim.training.sweep_spec import parse_sweep
from asyncsim.training.sweep_study import latest_attempts, make_storage, sweep_from_study
from asyncsim.training.sweep_worker import WORKER_ENTRY

TINY = {"hidden": {"value": [16]}, "epochs": {"value": 1}, "batch_size": {"value": 128}}
GRID = {"strategy": ["random", "momentum"], "F": [16, "inf"]}


def sweep_file(tmp_path, name="s", **raw):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def grid_sweep(tmp_path, name="grid", grid=None, **extra):
    params = {key: {"values": values} for key, values in (grid or GRID).items()}
    return sweep_file(tmp_path, name, method="grid", parameters={**TINY, **params},
                      metric={"name": "test/accuracy", "goal": "maximize"}, **extra)


def sweep_args(path, sweep_dir, *extra):
    return ["sweep", "run", str(path), "--dir", str(sweep_dir), "--heartbeat", "1", "--quiet",
            "--no-wandb", *extra]


def trials(sweep_dir, storage_url=None):
    storage = make_storage(storage_url or f"sqlite:///{sweep_dir / 'study.db'}")
    sweep = sweep_from_study(storage)
    study_id = storage.get_study_id_from_name(sweep.spec.name)
    return sweep, storage.get_all_trials(study_id), latest_attempts(storage, study_id)


def current_states(sweep_dir):
    """Trial states while a sweep starts up (no study yet: none)."""
    if not (sweep_dir / "study.db").exists():
        return []
    try:
        return [t.state.name for t in trials(sweep_dir)[1]]
    except ValueError:
        return []


def settings(sweep, frozen_trials):
    return sorted((t["strategy"], str(t["F"])) for t in map(
        lambda trial: sweep.spec.decode(trial.params), frozen_trials))


def expected_grid(grid=None):
    return sorted(itertools.product(*(map(str, v) for v in (grid or GRID).values())))


def test_grid_sweep_runs_exactly_the_grid_and_reports(tmp_path):
    path = grid_sweep(tmp_path)
    assert main(sweep_args(path, tmp_path / "sw")) == 0
    sweep, all_trials, latest = trials(tmp_path / "sw")
    assert len(all_trials) == 4 and all(t.state.name == "COMPLETE" for t in all_trials)
    assert settings(sweep, latest) == expected_grid()
    for trial in latest:
        state = load_checkpoint(trial.user_attrs["run_dir"] + f"/{LAST}")
        assert (state["config"]["strategy"], state["config"]["wandb_group"]) == \
            (trial.params["strategy"], "grid")
    assert main(["sweep", "report", str(tmp_path / "sw"), "--no-wandb"]) == 0
    assert (tmp_path / "sw" / "report" / "metric_vs_F.png").stat().st_size > 0
    assert (tmp_path / "sw" / "report" / "parallel_coordinates.png").stat().st_size > 0
    # Running a finished sweep again runs nothing.
    assert main(sweep_args(path, tmp_path / "sw")) == 0
    assert len(trials(tmp_path / "sw")[1]) == 4


def test_random_sweep_with_two_workers_respects_run_cap(tmp_path):
    path = sweep_file(tmp_path, "rand", method="random", run_cap=3, parameters={
        **TINY, "strategy": {"value": "random"}, "F": {"min": 8, "max": 64},
        "lr": {"distribution": "log_uniform_values", "min": 1e-3, "max": 1e-1}})
    assert main(sweep_args(path, tmp_path / "sw", "--workers", "2")) == 0
    sweep, all_trials, latest = trials(tmp_path / "sw")
    assert len(all_trials) == 3 and all(t.state.name == "COMPLETE" for t in all_trials)
    lrs = {t.params["lr"] for t in all_trials}
    assert len(lrs) == 3 and all(1e-3 <= lr <= 1e-1 for lr in lrs)
    assert all(8 <= t.params["F"] <= 64 for t in all_trials)


def test_kill_9_of_all_workers_then_resume_loses_and_repeats_no_trial(tmp_path):
    grid = {"strategy": ["random", "momentum", "fifo"], "F": [16, 32]}
    path = grid_sweep(tmp_path, grid=grid)
    sweep_dir = tmp_path / "sw"
    command = [sys.executable, "-c", WORKER_ENTRY, *sweep_args(path, sweep_dir, "--workers", "2")]
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once a trial is done and others are running
        states = current_states(sweep_dir)
        if "COMPLETE" in states and "RUNNING" in states:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {t.number: t for t in trials(sweep_dir)[1] if t.state.name == "COMPLETE"}
    assert before and len(before) < 6

    assert main(sweep_args(path, sweep_dir)) == 0
    sweep, all_trials, latest = trials(sweep_dir)
    assert settings(sweep, latest) == expected_grid(grid)
    complete = [t for t in all_trials if t.state.name == "COMPLETE"]
    assert len(complete) == 6  # each grid point completed exactly once
    for number, trial in before.items():  # finished trials kept, never re-run
        assert all_trials[number].state.name == "COMPLETE"
        assert all_trials[number].datetime_complete == trial.datetime_complete
    retried = [t for t in latest if t.system_attrs.get("asyncsim_attempt")]
    assert retried and all(t.state.name == "COMPLETE" for t in retried)


@pytest.mark.parametrize(("change", "key"), [
    ({"bogus": 1}, "bogus"),
    ({"method": "hillclimb"}, "method"),
    ({"parameters": {"not_a_key": {"values": [1]}}}, "parameters.not_a_key"),
    ({"parameters": {"F": {"values": [8, 0]}}}, "parameters.F"),
    ({"parameters": {"lr": {"distribution": "normal", "mu": 0, "sigma": 1}}},
     "parameters.lr.distribution"),
    ({"parameters": {"lr": {"min": 0.1, "max": 0.01}}}, "parameters.lr"),
    ({"parameters": {"out_dir": {"value": "x"}}}, "parameters.out_dir"),
    ({"parameters": {"epochs": {"distribution": "uniform", "min": 1, "max": 3}}},
     "parameters.epochs"),
    ({"method": "random"}, "run_cap"),
    ({"metric": {"name": "test/accuracy", "goal": "up"}}, "metric.goal"),
    ({"early_terminate": {"type": "envelope"}}, "early_terminate.type"),
    ({"early_terminate": {"type": "hyperband", "strict": True}}, "early_terminate.strict"),
])
def test_invalid_sweep_files_name_the_key(change, key):
    raw = {"method": "grid", "parameters": {"lr": {"values": [0.01]}}, **change}
    with pytest.raises(ValueError, match=f"^sweep {key}"):
        parse_sweep(raw, "bad", {})


def test_grid_needs_values_and_cli_reports_errors_cleanly(tmp_path, capsys):
    path = sweep_file(tmp_path, method="grid", parameters={"lr": {"min": 0.001, "max": 0.1}})
    assert main(["sweep", "run", str(path), "--dir", str(tmp_path / "sw")]) == 2
    err = capsys.readouterr().err
    assert "parameters.lr: grid search needs `values`" in err and "Traceback" not in err
    assert not (tmp_path / "sw" / "study.db").exists()


def test_w_and_b_conventions_map_to_optuna():
    spec = parse_sweep({"method": "bayes", "run_cap": 4, "metric": {"name": "train/loss"},
                        "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2},
                        "program": "x", "command": ["${env}", "${args}"],
                        "parameters": {"hidden": {"values": [[16], [16, 16]]},
                                       "tau": {"distribution": "q_uniform", "min": 5,
                                               "max": 20, "q": 5},
                                       "seed": {"value": 3}}}, "w", {})
    assert (spec.metric, spec.goal, spec.fixed) == ("train/loss", "minimize", {"seed": 3})
    assert spec.hyperband == {"min_resource": 2, "max_resource": "auto", "reduction_factor": 2}
    hidden = spec.params[0]
    assert [hidden.decode(c) for c in hidden.distribution.choices] == [[16], [16, 16]]
    assert spec.params[1].distribution.step == 5


POSTGRES = os.environ.get("ASYNCSIM_TEST_POSTGRES")


@pytest.mark.skipif(not POSTGRES, reason="no PostgreSQL server: set ASYNCSIM_TEST_POSTGRES to a "
                    "postgresql:// URL (.ci/run starts one)")
def test_two_workers_share_one_postgres_study(tmp_path):
    name = f"pg-{uuid.uuid4().hex[:8]}"
    path = grid_sweep(tmp_path, name=name)
    command = [sys.executable, "-c", WORKER_ENTRY, "sweep", "worker", str(path), "--dir",
               str(tmp_path / "sw"), "--storage", POSTGRES, "--heartbeat", "1", "--quiet",
               "--no-wandb"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=240)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    ran = [int(re.search(r"ran (\d+) trial", out).group(1)) for out in outputs]
    assert sum(ran) == 4  # between them, each trial ran once
    storage = make_storage(POSTGRES)
    sweep = sweep_from_study(storage, name)
    all_trials = storage.get_all_trials(storage.get_study_id_from_name(name))
    assert len(all_trials) == 4 and all(t.state.name == "COMPLETE" for t in all_trials)
    assert settings(sweep, all_trials) == expected_grid()


def test_processes_opening_a_new_storage_at_once_all_succeed(tmp_path):
    # Workers of a new sweep race to create the database schema; none may fail for it.
    code = ("from asyncsim.training.sweep_study import make_storage; "
            f"make_storage('sqlite:///{tmp_path}/study.db')")
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
             for _ in range(4)]
    errors = [proc.communicate()[1].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], errors


def test_grid_runs_sync_once_whatever_f():
    """The layered model has no F: grid points that differ only in F under sync are one trial,
    in file order, and run_cap counts the remaining points."""
    raw = {"method": "grid", "parameters": {"strategy": {"values": ["sync", "random"]},
                                            "F": {"values": [2, 8]},
                                            "lr": {"values": [0.01, 0.1]}}}
    spec = parse_sweep(raw, "g", {})
    points = [(p["strategy"], p["F"], p["lr"]) for p in map(spec.decode, spec.grid())]
    assert points == [("sync", 2, 0.01), ("sync", 2, 0.1), ("random", 2, 0.01),
                      ("random", 2, 0.1), ("random", 8, 0.01), ("random", 8, 0.1)]
    assert parse_sweep({**raw, "run_cap": 3}, "g", {}).n_trials == 3
    fixed = {"method": "grid", "parameters": {"strategy": {"value": "sync"},
                                              "F": {"values": [2, 8, "inf"]}}}
    assert parse_sweep(fixed, "g", {}).n_trials == 1
