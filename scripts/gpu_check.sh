#!/usr/bin/env bash
# GPU check of the Triton kernels (docs/kernels.md): the kernel tests on CUDA (forward, backward,
# torch.compile, conv and recurrent networks), then the standard profile of `asyncsim bench`
# (forward against the reference and layered backends; forward + backward time and peak memory,
# growth with T and F) and the convolutional N-MNIST profile, whose table is printed last. Made for a bare GPU machine where the repository is not installed
# and nothing can be installed: it stages an importable tree under /tmp and runs from there.
# Each part has its own time limit; together at most 8 minutes.
# Output is also written to $OUT (when set): pytest.log, bench.txt, bench_gpu.json, bench_gpu.png,
# bench_conv.txt, bench_conv.json.
set -uo pipefail
cd "$(dirname "$0")/.."

stage=$(mktemp -d /tmp/asyncsim-stage.XXXXXX)
mkdir -p "$stage/asyncsim"
cp -r asyncsim/* "$stage/asyncsim/"
for sub in kernels training datasets; do
    ln -s "$PWD/$sub" "$stage/asyncsim/$sub"
done
export PYTHONPATH="$stage${PYTHONPATH:+:$PYTHONPATH}"
# Compiled kernels, not the interpreter (tests/conftest.py defaults it to 1).
export TRITON_INTERPRET=0
out=${OUT:-$stage/out}
mkdir -p "$out"
# -P: the checkout's own asyncsim/ (without kernels/) must not shadow the staged package.
py=(python -P)

"${py[@]}" - <<'PY'
import sys, torch, triton, asyncsim.kernels.forward as fwd
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, triton {triton.__version__}")
print("device:", torch.cuda.get_device_name() if torch.cuda.is_available() else "NO CUDA")
print("asyncsim from", fwd.__file__)
PY

timeout 200 "${py[@]}" -m pytest tests/kernels -q -p no:cacheprovider 2>&1 | tee "$out/pytest.log"
tests=${PIPESTATUS[0]}
echo "pytest tests/kernels on CUDA: exit status $tests"

# The standard profile (benchmarks/profiles/gpu_standard.yaml): forward vs reference, layered
# and snnTorch (when installed); forward + backward time and peak memory over T and F. The
# reference backward at F=1 is left out (thousands of Python-level steps, each saving [B, N]
# tensors for autograd: estimated minutes and tens of GiB).
timeout 150 "${py[@]}" -m asyncsim bench --config benchmarks/profiles/gpu_standard.yaml \
    --json "$out/bench_gpu.json" --plot "$out/bench_gpu.png" 2>&1 | tee "$out/bench.txt"
bench=${PIPESTATUS[0]}

# The conv N-MNIST network (benchmarks/profiles/gpu_conv_nmnist.yaml): 2x34x34 -> conv 8 ->
# conv 16 -> conv 32 -> fc 10, B=256, F=8/64, Triton against the reference and layered.
timeout 90 "${py[@]}" -m asyncsim bench --config benchmarks/profiles/gpu_conv_nmnist.yaml \
    --json "$out/bench_conv.json" 2>&1 | tee "$out/bench_conv.txt"
conv=${PIPESTATUS[0]}
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ] && [ "$conv" -eq 0 ]
