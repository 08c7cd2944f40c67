"""The profiler: work and traffic counters by hand, the JSON record, --compare, profiles."""

import json

import pytest
import torch

import asyncsim
from asyncsim.bench import (
    BenchConfig,
    count_work,
    cpu_peak_bytes,
    expand_grid,
    load_profile,
    make_workload,
)
from asyncsim.bench_report import SCHEMA, read_json
from asyncsim.cli import main

from .helpers import set_weights


def test_counters_of_the_all_ones_network():
    # 2 inputs -> 3 -> 4, all weights 1, input all ones: per sample and timestep 3 hidden and
    # 4 output spikes; each hidden spike reaches 4 targets (SPEC 7 SynOps).
    net = set_weights(asyncsim.Network([2, 3, 4], tau=1e9), [[1.0, 1.0]] * 3, [[1.0] * 3] * 4)
    res = asyncsim.simulate(net, torch.ones(3, 2, 2), strategy="random", F=2)
    work = count_work(net, res)
    assert work["spikes"] == 3 * 2 * 7
    assert work["synops"] == 3 * 2 * 12
    assert work["weight_bytes"] == (72 + 2 * 3) * 4  # one read per event + W_1 once
    assert work["state_bytes"] == 3 * 2 * (2 * 7 + 4) * 4
    assert work["forward_steps"] == int(res.forward_steps.sum())


def bench_argv(path, *extra):
    return ["bench", "--sizes", "20,12,4", "--batch", "3", "--steps", "4", "--F", "2,inf",
            "--strategy", "fifo", "--mode", "forward", "--repeats", "1", "--warmup", "0",
            "--json", str(path), *extra]


def test_json_record_round_trips_with_real_work(tmp_path):
    path = tmp_path / "bench.json"
    assert main(bench_argv(path, "--baselines", "layered", "--plot", str(tmp_path / "b.png"))) \
        == 0
    record = read_json(path)
    assert record["schema"] == SCHEMA and record["environment"]["torch"] == torch.__version__
    assert record["copy_bandwidth_gbs"] > 0
    rows = record["rows"]
    assert [(r["strategy"], r["f"], r["mode"]) for r in rows] == [
        ("fifo", 2, "forward"), ("fifo", "inf", "forward")]
    for row, f in zip(rows, (2, None), strict=True):
        cfg = BenchConfig((20, 12, 4), 3, 4, "fifo", f)
        net, x = make_workload(cfg)
        with torch.no_grad():
            res = asyncsim.simulate(net, x, strategy="fifo", F=f)
        assert row["forward_steps"] == int(res.forward_steps.sum())
        assert row["synops"] == int(res.synops.sum())
        assert row["synops_per_s"] * row["ms_median"] / 1e3 == pytest.approx(row["synops"])
        assert len(row["samples_ms"]) == 1 and row["speedup_vs_layered"] > 0
    assert (tmp_path / "b.png").stat().st_size > 1000


def test_compare_flags_a_twofold_slowdown(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(bench_argv(path)) == 0
    record = json.loads(path.read_text())
    for row in record["rows"]:
        row["ms_median"] /= 2.5  # the earlier run was 2.5x faster
    old = tmp_path / "old.json"
    old.write_text(json.dumps(record))
    assert main(bench_argv(tmp_path / "new.json", "--compare", str(old))) == 1
    assert "SLOWER" in capsys.readouterr().out
    for row in record["rows"]:
        row["ms_median"] *= 2.5 * 10  # now the earlier run was far slower
    old.write_text(json.dumps(record))
    assert main(bench_argv(tmp_path / "new.json", "--compare", str(old))) == 0
    assert "SLOWER" not in capsys.readouterr().out


def test_profiles_and_grid_errors(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text("- {sizes: [8, 4], batch: [1, 2], F: [1, inf], repeats: 2}\n"
                       "- {sizes: [[8, 4], [8, 6, 2]], mode: backward}\n")
    configs, options = load_profile(profile)
    assert options == {"repeats": 2}
    assert [(c.sizes, c.batch, c.f, c.mode) for c in configs] == [
        ((8, 4), 1, 1, "forward"), ((8, 4), 1, None, "forward"), ((8, 4), 2, 1, "forward"),
        ((8, 4), 2, None, "forward"), ((8, 4), 64, 8, "backward"),
        ((8, 6, 2), 64, 8, "backward")]
    with pytest.raises(ValueError, match="unknown key"):
        expand_grid({"layers": [3]})
    with pytest.raises(ValueError, match="mode"):
        expand_grid({"mode": "sideways"})
    with pytest.raises(ValueError, match="compare"):
        read_json(profile)


def test_bad_arguments_exit_with_a_message(capsys):
    assert main(["bench", "--F", "0", "--sizes", "4,2", "--repeats", "1"]) == 2
    assert "F" in capsys.readouterr().err


def test_cpu_peak_memory_is_measured_per_configuration():
    forward = BenchConfig((200, 128, 10), 64, 20, "random", 4, "forward")
    backward = BenchConfig((200, 128, 10), 64, 20, "random", 4, "backward")
    small, large = cpu_peak_bytes(forward, "self"), cpu_peak_bytes(backward, "self")
    assert 0 < small < 64 * 2**20
    assert large > small  # the autograd graph keeps every forward step's tensors
