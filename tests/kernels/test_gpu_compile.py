"""The event-loop kernels (forward, backward) compile for a Hopper GPU (sm_90) with the
installed Triton.

No GPU is needed: Triton's bundled ptxas compiles ahead of time. It runs in a subprocess
without ``TRITON_INTERPRET``, since in this process the kernels are interpreted functions.
This catches what the interpreter accepts but the compiler rejects (typing of loop-carried
values, non-constexpr globals, ...).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import sys
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from asyncsim.kernels.backward import _backward_kernel
from asyncsim.kernels.forward import _event_loop_kernel

strategy, by_rounds, weight_type = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
kernel = _backward_kernel if sys.argv[4] == "backward" else _event_loop_kernel
fp32 = ("first", "theta", "decay", "counts", "membrane", "u_start", "grad_counts",
        "grad_membrane", "grad_first", "grad_weights", "gdel", "trace_v")
pointers = {f"{name}_ptr": "fp32" for name in fp32}
pointers.update({"weights_ptr": weight_type, "seeds_ptr": "i64", "steps_ptr": "i64",
                 "emitted_ptr": "i64", "synops_ptr": "i64"})
constants = {"STRATEGY": strategy, "BY_ROUNDS": by_rounds, "BLOCK_N": 1024, "BLOCK_S": 8,
             "SURROGATE": 0, "GHOSTS": True}
constants = {name: value for name, value in constants.items() if name in kernel.arg_names}
signature = {}
for name in kernel.arg_names:
    if name in constants:
        signature[name] = "constexpr"
    elif name.endswith("_ptr"):
        signature[name] = "*" + pointers.get(name, "i32")
    else:
        signature[name] = "fp32" if name in ("lam", "dropout", "scale") else "i32"
options = {"num_warps": 8, "enable_fp_fusion": False}
triton.compile(ASTSource(fn=kernel, signature=signature, constexprs=constants),
               target=GPUTarget("cuda", 90, 32), options=options)
"""


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "by_rounds", "weights", "kernel"),
                         [(1, 1, "fp32", "forward"), (2, 0, "bf16", "forward"),
                          (0, 1, "fp32", "backward")],
                         ids=["momentum-rounds-fp32", "fifo-bisection-bf16", "backward"])
def test_event_loop_compiles_for_sm90(strategy, by_rounds, weights, kernel):
    pytest.importorskip("triton.backends.nvidia")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(strategy), str(by_rounds), weights,
                           kernel],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
