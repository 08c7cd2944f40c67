#!/usr/bin/env bash
# GPU check of the Triton kernels (docs/kernels.md), numbers first, at most 8 minutes on a fresh
# GPU machine with nothing installed beyond torch + triton and no network. Parts, each with its
# own time limit, each printing its rows as they are measured and rewriting its JSON after
# every row (a part cut off by its limit keeps what it finished):
#   1. the standard profile: 2312-256-256-10, B=256, T=10, F 8/64/inf, forward and
#      forward + backward, against the reference and layered backends   (100 s)
#   2. fan-out 1024: weight-read bandwidth as a fraction of the copy bandwidth    (45 s)
#   3. batch 64/256/1024 at F=8                                                    (45 s)
#   4. the conv N-MNIST network (3,594 neurons)                                    (75 s)
#   5. a network past 50k neurons, forward and forward + backward (chunked kernels) (55 s)
#   6. training on the GPU: 2 epochs on the embedded digits (device cuda)        (60 s)
#   7. pytest on CUDA, last: the kernel tests only (no CPU ahead-of-time compile tests), -x,
#      a time limit per test, 8 worker processes where pytest-xdist is installed    (95 s)
# The checkout is staged as an importable tree under /tmp (it is not installed there).
# Output goes to $OUT (when set): gpu_check.log, bench_*.json, bench_standard.png, pytest.log.
set -uo pipefail
cd "$(dirname "$0")/.."

source scripts/stage.sh
exec > >(tee "$out/gpu_check.log") 2>&1

"${py[@]}" - <<'PY'
import sys, time, torch, triton, asyncsim.kernels.forward as fwd
print(time.strftime("%Y-%m-%d %H:%M:%S %Z"), f"python {sys.version.split()[0]}, "
      f"torch {torch.__version__}, triton {triton.__version__}")
print("device:", torch.cuda.get_device_name() if torch.cuda.is_available() else "NO CUDA",
      "| asyncsim from", fwd.__file__)
PY

status=0
bench() {  # name, time limit, extra arguments
    local name=$1 limit=$2
    shift 2
    echo "== bench $name (limit ${limit}s)"
    local start=$SECONDS
    timeout "$limit" "${py[@]}" -m asyncsim bench --config "benchmarks/profiles/gpu_$name.yaml" \
        --json "$out/bench_$name.json" "$@"
    local rc=$?
    echo "== bench $name: exit status $rc after $((SECONDS - start)) s"
    [ "$rc" -eq 0 ] || status=1
}
bench standard 100 --plot "$out/bench_standard.png"
bench fanout 45
bench batch 45
bench conv_nmnist 75
bench large 55

echo "== train on the GPU: digits, 3x64 hidden, random F=4, 2 epochs (limit 60s)"
start=$SECONDS
timeout 60 "${py[@]}" -m asyncsim train --dataset digits --device cuda --hidden "[64,64,64]" \
    --tau 0.5 --strategy random --F 4 --epochs 2 --no-wandb --out-dir "$stage/runs"
rc=$?
echo "== train: exit status $rc after $((SECONDS - start)) s"
[ "$rc" -eq 0 ] || status=1

echo "== pytest tests/kernels on CUDA (limit 95s)"
# Cold compiles of each kernel specialization dominate: spread them over worker processes
# (pytest-xdist, where installed; they share Triton's on-disk cache).
workers=()
"${py[@]}" -c "import xdist" 2>/dev/null && workers=(-n 8)
timeout 95 "${py[@]}" -m pytest tests/kernels -x -q -p no:cacheprovider --timeout 90 \
    "${workers[@]}" --ignore tests/kernels/test_kernel_resources.py 2>&1 | tee "$out/pytest.log"
tests=${PIPESTATUS[0]}
echo "== pytest: exit status $tests"
[ "$tests" -eq 0 ] || status=1
exit "$status"
