"""The event-loop kernels compile for a Hopper GPU (sm_90) without a GPU, and fit its registers
at the standard dense shape, and the chunked kernels (forward and backward) of networks past
MAX_NEURONS at a 98,314-neuron network: no stack (spilled) bytes and no GPU-wide fences
(docs/kernels.md#resources).

Triton's bundled ptxas compiles ahead of time and its bundled cuobjdump reads the cubin
(scripts/kernel_resources.py). That runs in a subprocess without ``TRITON_INTERPRET``, since in
this process the kernels are interpreted functions; it also catches what the interpreter
accepts but the compiler rejects. The GPU machine's Triton is 3.6, so the budget is checked
under the installed Triton and, where ``ASYNCSIM_TEST_TRITON36`` names a folder holding
Triton 3.6 (``pip install --target DIR triton==3.6.0``; .ci/run does), under that one too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kernel_resources.py"


def resources(tmp_path: Path, triton_dir: str | None = None) -> dict:
    pytest.importorskip("triton.backends.nvidia")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    # Compiled kernels go to the test's folder, not the user's ~/.triton.
    env["TRITON_CACHE_DIR"] = str(tmp_path / "triton-cache")
    if triton_dir is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [triton_dir, env.get("PYTHONPATH")]))
    out = tmp_path / "resources.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--json", str(out)], env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def check_budget(record: dict) -> None:
    rows = record["rows"]
    kinds = {(r["kernel"], r["shape"]) for r in rows}
    assert kinds == {(k, s) for k in ("forward", "backward") for s in ("dense", "conv_nmnist")} \
        | {("chunked", "large"), ("chunked_backward", "large")}
    for row in rows:
        assert 0 < row["registers"] <= 255 and row["sass_instructions"] > 1000, row
        # One program per SM: the registers the launch allows for its warp count.
        assert row["registers"] * row["num_warps"] * 32 <= 65536, row
        # An atomic with the default acq_rel order brings a GPU-wide fence and an L1
        # invalidation into the step loop; the kernels' atomics need no ordering.
        assert row["fences"] == 0, row
        if row["shape"] in ("dense", "large"):
            assert row["stack_bytes"] == 0, (f"Triton {record['triton']}: the {row['kernel']} "
                                             f"kernel spills at the standard shape: {row}")


@pytest.mark.slow
def test_kernels_compile_for_sm90_without_spills_at_the_standard_shape(tmp_path):
    check_budget(resources(tmp_path))


@pytest.mark.slow
def test_kernels_fit_the_budget_under_the_gpu_machines_triton(tmp_path):
    folder = os.environ.get("ASYNCSIM_TEST_TRITON36")
    if not folder:
        pytest.skip("ASYNCSIM_TEST_TRITON36 is not set (a folder with Triton 3.6; .ci/run "
                    "installs one)")
    record = resources(tmp_path, folder)
    assert record["triton"].startswith("3.6"), record["triton"]
    check_budget(record)
