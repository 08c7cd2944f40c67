#!/usr/bin/env bash
# GPU check of the Triton kernels (docs/kernels.md): the kernel tests on CUDA (forward, backward,
# torch.compile), the forward benchmark, then the forward + backward benchmark (time and peak
# memory against the reference at 2312-256-256-10, B=256, T=10; memory growth with F and T),
# whose table is printed last. Made for a bare GPU machine where the repository is not installed
# and nothing can be installed: it stages an importable tree under /tmp and runs from there.
# Each part has its own time limit; together at most 8 minutes.
# Output is also written to $OUT (when set) as pytest.log, benchmark.txt and backward.txt.
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

timeout 240 "${py[@]}" -m pytest tests/kernels -q -p no:cacheprovider 2>&1 | tee "$out/pytest.log"
tests=${PIPESTATUS[0]}
echo "pytest tests/kernels on CUDA: exit status $tests"

timeout 150 "${py[@]}" -m asyncsim.kernels.benchmark --device cuda 2>&1 | tee "$out/benchmark.txt"
bench=${PIPESTATUS[0]}

# F=1 is left out: the reference would run thousands of Python-level steps per batch, each
# saving [B, N] tensors for its autograd graph (estimated minutes and tens of GiB).
timeout 90 "${py[@]}" -m asyncsim.kernels.benchmark --device cuda --backward --strategies random \
    --F 8,64,inf --grow-steps 5,20 2>&1 | tee "$out/backward.txt"
backward=${PIPESTATUS[0]}
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ] && [ "$backward" -eq 0 ]
