"""The command line: bench does real work and reports it."""

import json

import pytest
import torch

import asyncsim
from asyncsim.bench import BenchConfig, make_input, make_network
from asyncsim.cli import main


def test_bench_reports_the_work_of_each_configuration(tmp_path):
    path = tmp_path / "bench.json"
    argv = ["bench", "--sizes", "20,12,4", "--batch", "3", "--steps", "4", "--F", "2,inf",
            "--strategy", "fifo", "--mode", "forward", "--repeats", "1", "--warmup", "0",
            "--json", str(path)]
    assert main(argv) == 0
    rows = json.loads(path.read_text())
    assert [(r["strategy"], r["f"], r["mode"]) for r in rows] == [
        ("fifo", 2, "forward"), ("fifo", "inf", "forward")]
    for row, f in zip(rows, (2, None), strict=True):
        cfg = BenchConfig((20, 12, 4), 3, 4, "fifo", f, "forward")
        with torch.no_grad():
            res = asyncsim.simulate(make_network(cfg), make_input(cfg), strategy="fifo", F=f)
        assert row["forward_steps"] == int(res.forward_steps.sum())
        assert row["synops"] == int(res.synops.sum())
        assert row["synops_per_s"] * row["ms_median"] / 1e3 == pytest.approx(row["synops"])


def test_bad_arguments_exit_with_a_message(capsys):
    assert main(["bench", "--F", "0", "--sizes", "4,2", "--repeats", "1"]) == 2
    assert "F" in capsys.readouterr().err
