"""Smoke test of the benchmark entry point on a tiny shape."""

from asyncsim.kernels import benchmark


def test_benchmark_main_prints_a_table(device, capsys):
    assert benchmark.main(["--sizes", "12,6,5,3", "--batch", "2", "--steps", "2", "--rate",
                           "0.5", "--strategies", "random,momentum", "--F", "1,inf",
                           "--device", str(device)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-6].startswith("strategy") and len(out) == 7
    assert out[-1].split()[:2] == ["momentum", "inf"] and out[-1].endswith("x")


def test_backward_mode_prints_a_table(device, capsys):
    assert benchmark.main(["--sizes", "8,5,3", "--batch", "2", "--steps", "2", "--rate", "0.5",
                           "--strategies", "fifo", "--F", "2", "--backward",
                           "--grow-steps", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-4].startswith("strategy") and len(out) == 5
    assert out[-2].split()[:3] == ["fifo", "2", "2"] and out[-1].split()[:3] == ["fifo", "2", "1"]
