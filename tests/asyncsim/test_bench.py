"""The profiler: work and traffic counters by hand, the JSON record, --compare, profiles."""

import json
from pathlib import Path

import pytest
import torch

import asyncsim
from asyncsim.bench import (
    BenchConfig,
    baseline_note,
    build_runner,
    count_work,
    cpu_peak_bytes,
    expand_grid,
    load_profile,
    make_workload,
)
from asyncsim.bench_report import SCHEMA, read_json
from asyncsim.cli import main
from asyncsim.simulate import parse_f

from .helpers import set_weights


def test_counters_of_the_all_ones_network():
    # 2 inputs -> 3 -> 4, all weights 1, input all ones: per sample and timestep 3 hidden and
    # 4 output spikes; each hidden spike reaches 4 targets (docs/semantics.md#results: SynOps).
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
        # The earlier run was 10x faster: far beyond the 2x threshold, so that the timing noise
        # of two tiny runs (one of them the first in its process) cannot hide it.
        row["ms_median"] /= 10
    old = tmp_path / "old.json"
    old.write_text(json.dumps(record))
    assert main(bench_argv(tmp_path / "new.json", "--compare", str(old))) == 1
    assert "SLOWER" in capsys.readouterr().out
    for row in record["rows"]:
        row["ms_median"] *= 10 * 10  # now the earlier run was far slower
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


PROFILES = Path(__file__).resolve().parents[2] / "benchmarks" / "profiles"
CONV_ARCH = "conv(4,3,s2)-conv(6,3,s2,p1)-fc(16,rec)-fc(5)"


def test_conv_arch_runs_through_the_profiler_and_counts_synops_per_neuron(tmp_path, capsys):
    path = tmp_path / "conv.json"
    argv = ["bench", "--arch", CONV_ARCH, "--in-shape", "2,9,9", "--batch", "3", "--steps", "3",
            "--F", "2", "--strategy", "random", "--mode", "forward,backward",
            "--rate", "0.3", "--repeats", "1", "--warmup", "0", "--json", str(path),
            "--baselines", "snntorch"]
    assert main(argv) == 0
    assert "baseline snntorch skipped: dense feed-forward networks only" in \
        capsys.readouterr().out
    rows = read_json(path)["rows"]
    assert [row["mode"] for row in rows] == ["forward", "backward"]
    for row in rows:
        assert row["arch"] == CONV_ARCH and row["in_shape"] == [2, 9, 9]
        assert row["sizes"] == [162, 64, 24, 16, 5]  # 4x4x4 and 6x2x2 maps
        assert row["key"].startswith(f"2x9x9 {CONV_ARCH} B=3 T=3 random")
        assert "snntorch_ms" not in row and row["snntorch_note"].startswith("dense feed-forward")
        cfg = BenchConfig(tuple(row["sizes"]), 3, 3, "random", parse_f(row["f"]), row["mode"],
                          rate=0.3, arch=CONV_ARCH, in_shape=(2, 9, 9))
        net, x = make_workload(cfg)
        with torch.no_grad():
            res = asyncsim.simulate(net, x, strategy="random", F=cfg.f, record=True)
        fan_out = net.fan_out()
        # a conv neuron at the border reaches fewer targets than one inside
        assert len(set(fan_out[net.layer_slice(0)].tolist())) > 1
        emitted = res.emissions
        expected = int((emitted.value * fan_out[emitted.neuron]).sum())
        assert row["synops"] == expected > 0
        assert row["spikes"] == int(emitted.value.sum())
        inputs = sum(w.numel() for w, p in zip(net.weights, net.projections, strict=True)
                     if p.source == 0)
        assert row["weight_bytes"] == (expected + inputs) * 4


def test_arch_grids_and_profiles(tmp_path):
    configs = expand_grid({"arch": ["conv(2,3)-fc(3)", "fc(4,rec)-fc(2)"],
                           "in_shape": [1, 5, 5], "F": [1, 4]})
    assert [(c.arch, c.in_shape, c.sizes, c.f) for c in configs] == [
        ("conv(2,3)-fc(3)", (1, 5, 5), (25, 18, 3), 1),
        ("conv(2,3)-fc(3)", (1, 5, 5), (25, 18, 3), 4),
        ("fc(4,rec)-fc(2)", (1, 5, 5), (25, 4, 2), 1),
        ("fc(4,rec)-fc(2)", (1, 5, 5), (25, 4, 2), 4)]
    net, x = make_workload(configs[2])
    assert x.shape == (10, 64, 25) and [(p.source, p.target) for p in net.projections] == [
        (0, 1), (1, 2), (1, 1)]
    # the dense baseline runs a dense chain only; the layered one runs every network
    assert baseline_note(configs[2], net, "snntorch").startswith("dense feed-forward")
    assert build_runner(configs[2], net, x, "layered") is not None
    for grid, message in [({"arch": "conv(2,3)-fc(3)"}, "in_shape"),
                          ({"arch": "conv(2,9)-fc(3)", "in_shape": [1, 5, 5]}, "arch"),
                          ({"arch": "conv(2)", "in_shape": [1, 5, 5]}, "arch"),
                          ({"arch": "fc(3)", "in_shape": [1, 5]}, "in_shape"),
                          ({"arch": "fc(3)", "sizes": [4, 3], "in_shape": [1, 2, 2]}, "not both"),
                          ({"in_shape": [1, 2, 2]}, "in_shape")]:
        with pytest.raises(ValueError, match=message):
            expand_grid(grid)
    nmnist = "conv(8,3,s2)-conv(16,3,s2,p1)-conv(32,3,s2,p1)-fc(10)"
    for name, backend, steps in (("cpu_conv_nmnist", "reference", 5),
                                 ("gpu_conv_nmnist", "triton", 10)):
        configs, options = load_profile(PROFILES / f"{name}.yaml")
        assert options["baselines"] == ["reference", "layered"]
        assert {(c.arch, c.in_shape, c.sizes, c.batch, c.steps, c.backend) for c in configs} == {
            (nmnist, (2, 34, 34), (2312, 2048, 1024, 512, 10), 256, steps, backend)}
        assert sorted((c.f, c.mode) for c in configs) == [
            (8, "backward"), (8, "forward"), (64, "backward"), (64, "forward")]


def test_bench_network_flags_are_checked(capsys):
    assert main(["bench", "--arch", "fc(3)", "--repeats", "1"]) == 2
    assert "--in-shape" in capsys.readouterr().err
    assert main(["bench", "--arch", "fc(3)", "--in-shape", "1,2,2", "--sizes", "4,3"]) == 2
    assert "not both" in capsys.readouterr().err
