"""The profiler drives the Triton backend (interpreter on CPU, compiled on a GPU)."""

import json

from asyncsim.cli import main


def test_bench_profiles_the_triton_backend_against_its_baselines(device, tmp_path):
    path = tmp_path / "bench.json"
    argv = ["bench", "--backend", "triton", "--device", str(device), "--sizes", "12,6,5,3",
            "--batch", "2", "--steps", "2", "--rate", "0.5", "--strategy", "momentum",
            "--F", "2", "--mode", "forward,backward", "--baselines", "reference,layered",
            "--repeats", "1", "--warmup", "0", "--json", str(path)]
    assert main(argv) == 0
    rows = json.loads(path.read_text())["rows"]
    assert [r["mode"] for r in rows] == ["forward", "backward"]
    for row in rows:
        assert row["backend"] == "triton" and row["forward_steps"] > 0
        assert row["speedup_vs_reference"] > 0 and row["speedup_vs_layered"] > 0
        assert row["reference_peak_mib"] > 0
