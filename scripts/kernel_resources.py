"""Resource budget of the event-loop kernels, compiled ahead of time without a GPU.

Compiles the kernel specializations that the launchers pick (``kernels.forward.step_constants``
decides BLOCK_N, the propagation's tile (BLOCK_T target lanes, BLOCK_TS sources), the
backward's BLOCK_S and the warp count from the network's size, widest target layer and F) for a
GPU target with Triton's bundled ptxas, and reads what each needs from the cubin with the
bundled ``cuobjdump``: registers per thread, stack (local memory: register spills) bytes per
thread, static shared memory, and the SASS instruction count. A kernel that spills reads and
writes its state through local memory at every forward step (docs/kernels.md#resources).

    python scripts/kernel_resources.py                       # the standard shapes, sm_90
    python scripts/kernel_resources.py --all --arch 90,80    # every specialization
    PYTHONPATH=/path/to/triton-3.6 python scripts/kernel_resources.py  # another Triton

Prints a table; ``--json FILE`` writes the rows. The GPU machine's Triton is 3.6: check both.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

# The kernels must be compiled, not interpreted: decide before anything imports triton.
os.environ.pop("TRITON_INTERPRET", None)

import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

STRATEGIES = {"random": 0, "momentum": 1, "fifo": 2}
# The shapes the issue's budget names: the standard dense network and the conv N-MNIST one.
SHAPES = {"dense": 522, "conv_nmnist": 3594}
# Each shape's widest target layer of a stored projection (layout.target_width): 2312-256-256-10;
# conv 8x16x16 -> 16x8x8 -> 32x4x4 -> 10; the 98k network's 32x64x64.
TARGET_WIDTHS = {"dense": 256, "conv_nmnist": 1024, "large": 32768}
# Past MAX_NEURONS: the DVS-resolution network of benchmarks/profiles/gpu_large.yaml.
LARGE = 98314
FLOAT_POINTERS = ("first", "theta", "decay", "counts", "membrane", "v1", "grad_counts",
                  "grad_membrane", "grad_first", "grad_weights", "gdel", "trace_v", "float")
INT64_POINTERS = ("seeds", "steps", "emitted", "synops", "keys", "trace_start")
FLOAT_SCALARS = ("lam", "dropout", "scale")


@dataclass(frozen=True)
class Spec:
    """One specialization: kernel, network size and F (they fix the launch constants)."""

    kernel: str  # "forward", "backward", "chunked" or "chunked_backward" (past MAX_NEURONS)
    shape: str
    n: int
    f: int | None
    strategy: str
    weights: str  # "fp32" or "bf16"
    arch: int


@dataclass(frozen=True)
class Resources:
    registers: int
    stack_bytes: int
    shared_bytes: int
    sass_instructions: int
    barriers: int  # BAR instructions in the SASS (static count: CTA-wide syncs in the code)
    fences: int  # MEMBAR instructions: GPU-wide fences (an acq_rel atomic brings one, and an
    # L1 invalidation)
    block_n: int
    block_s: int
    block_t: int
    block_ts: int
    num_warps: int


def kernels():
    from asyncsim.kernels.backward import _backward_kernel
    from asyncsim.kernels.chunked import _chunked_event_loop_kernel
    from asyncsim.kernels.chunked_backward import _chunked_backward_kernel
    from asyncsim.kernels.forward import _event_loop_kernel

    return {"forward": _event_loop_kernel, "backward": _backward_kernel,
            "chunked": _chunked_event_loop_kernel, "chunked_backward": _chunked_backward_kernel}


def launch_constants(spec: Spec):
    """What the launchers would pick for this network size and F."""
    from types import SimpleNamespace

    from asyncsim.kernels.forward import step_constants
    from asyncsim.strategies import get_strategy

    # The run options step_constants reads (no budgets, lam = 0).
    opts = SimpleNamespace(strategy=get_strategy(spec.strategy), f=spec.f, max_steps=None,
                           stop_on_output=None, lam=0.0)
    return step_constants(spec.n, opts, 0.0, TARGET_WIDTHS[spec.shape])


def signature_of(kernel, constants: dict, weights: str) -> dict[str, str]:
    signature = {}
    for name in kernel.arg_names:
        base = name.removesuffix("_ptr")
        if name in constants:
            signature[name] = "constexpr"
        elif name in ("weights_ptr", "weights_by_target_ptr"):
            signature[name] = "*" + weights
        elif name.endswith("_ptr"):
            kind = "fp32" if base in FLOAT_POINTERS else "i64" if base in INT64_POINTERS else "i32"
            signature[name] = "*" + kind
        else:
            signature[name] = "fp32" if name in FLOAT_SCALARS else "i32"
    return signature


def compile_spec(spec: Spec) -> Resources:
    from asyncsim.kernels.chunked import chunked_meta
    from asyncsim.kernels.chunked_backward import chunked_backward_meta

    kernel = kernels()[spec.kernel]
    consts = launch_constants(spec)
    constants = {"STRATEGY": consts.strategy, "BY_ROUNDS": consts.by_rounds,
                 "BLOCK_N": consts.block_n, "BLOCK_S": consts.block_s, "BLOCK_T": consts.block_t,
                 "BLOCK_TS": consts.block_ts, "BLOCK_Q": consts.block_q,
                 "SURROGATE": 0,
                 "GRAD": 1}  # grad="surrogate", the default rule
    options = consts.launch_options()
    if spec.kernel == "chunked":
        constants, options = chunked_meta(consts)
    elif spec.kernel == "chunked_backward":
        constants, options = chunked_backward_meta(consts, "atan", "surrogate")
    if spec.kernel.startswith("chunked"):
        # Its propagation's windows are CHUNK wide, BLOCK_S sources per tile.
        consts = replace(consts, block_n=constants["CHUNK"], block_s=constants["BLOCK_S"],
                         block_t=constants["CHUNK"], block_ts=constants["BLOCK_S"],
                         num_warps=options["num_warps"])
    missing = [name for name in kernel.arg_names
               if name.isupper() and name not in constants]
    if missing:
        raise SystemExit(f"kernel_resources: no value for the meta-parameter(s) {missing} of "
                         f"the {spec.kernel} kernel: add them to compile_spec")
    constants = {k: v for k, v in constants.items() if k in kernel.arg_names}
    compiled = triton.compile(
        ASTSource(fn=kernel, signature=signature_of(kernel, constants, spec.weights),
                  constexprs=constants),
        target=GPUTarget("cuda", spec.arch, 32),
        options=options)
    return _read_cubin(compiled.asm["cubin"], consts)


def _tool(name: str) -> str:
    return str(Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name)


def _read_cubin(cubin: bytes, consts) -> Resources:
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        usage = subprocess.run([_tool("cuobjdump"), "-res-usage", f.name], check=True,
                               capture_output=True, text=True).stdout
        sass = subprocess.run([_tool("cuobjdump"), "-sass", f.name], check=True,
                              capture_output=True, text=True).stdout

    def field(name: str) -> int:
        match = re.search(rf"\b{name}:(\d+)", usage)
        return int(match.group(1)) if match else 0

    instructions = len(re.findall(r"^\s+/\*[0-9a-f]{4,}\*/\s+\S", sass, re.MULTILINE))
    barriers, fences = (len(re.findall(rf"^\s+/\*[0-9a-f]{{4,}}\*/\s+(?:@!?U?P\w+\s+)?{op}\.",
                                       sass, re.MULTILINE)) for op in ("BAR", "MEMBAR"))
    return Resources(registers=field("REG"), stack_bytes=field("STACK"),
                     shared_bytes=field("SHARED"), sass_instructions=instructions,
                     barriers=barriers, fences=fences, block_n=consts.block_n,
                     block_s=consts.block_s, block_t=consts.block_t,
                     block_ts=consts.block_ts,
                     num_warps=consts.num_warps)


def specs(everything: bool, archs: list[int]) -> list[Spec]:
    """The budgeted set: at both shapes the forward and backward kernels (random, F = 8,
    float32), at the dense shape the other forward specializations the launchers pick
    (momentum with bisection selection and bfloat16 weights at F = 64, fifo at F = 8), and the
    chunked kernels of networks past MAX_NEURONS (forward: random, F = 8 and 64; backward:
    random, F = 8). With
    ``everything``: every strategy x F (8: rounds, 64: bisection) x weight dtype x kernel."""
    out = []
    for arch in archs:
        if everything:
            for (shape, n), kernel, strategy, f, weights in itertools.product(
                    SHAPES.items(), ("forward", "backward"), STRATEGIES, (8, 64),
                    ("fp32", "bf16")):
                out.append(Spec(kernel, shape, n, f, strategy, weights, arch))
            continue
        for shape, n in SHAPES.items():
            out += [Spec(kernel, shape, n, 8, "random", "fp32", arch)
                    for kernel in ("forward", "backward")]
        n = SHAPES["dense"]
        out += [Spec("forward", "dense", n, 64, "momentum", "bf16", arch),
                Spec("forward", "dense", n, 8, "fifo", "fp32", arch)]
        out += [Spec("chunked", "large", LARGE, f, "random", "fp32", arch) for f in (8, 64)]
        out.append(Spec("chunked_backward", "large", LARGE, 8, "random", "fp32", arch))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true",
                        help="every strategy, selection method and weight dtype")
    parser.add_argument("--arch", default="90", help="compute capabilities, e.g. 90,80")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    archs = [int(a) for a in args.arch.split(",")]
    rows = []
    print(f"triton {triton.__version__}")
    header = (f"{'kernel':17}{'shape':12}{'sm':>3}{'strategy':>9}{'F':>4}{'w':>5}{'BLOCK_N':>8}"
              f"{'BLOCK_S':>8}{'BLOCK_T':>8}{'TS':>4}{'warps':>6}{'regs':>5}{'stack B':>8}"
              f"{'smem B':>7}{'SASS':>7}{'BAR':>5}{'MEMBAR':>7}")
    print(header)
    for spec in specs(args.all, archs):
        res = compile_spec(spec)
        rows.append({**asdict(spec), **asdict(res)})
        print(f"{spec.kernel:17}{spec.shape:12}{spec.arch:>3}{spec.strategy:>9}{spec.f:>4}"
              f"{spec.weights:>5}{res.block_n:>8}{res.block_s:>8}{res.block_t:>8}"
              f"{res.block_ts:>4}{res.num_warps:>6}"
              f"{res.registers:>5}{res.stack_bytes:>8}{res.shared_bytes:>7}"
              f"{res.sass_instructions:>7}{res.barriers:>5}{res.fences:>7}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"triton": triton.__version__, "rows": rows},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
