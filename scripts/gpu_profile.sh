#!/usr/bin/env bash
# Where a forward step's time goes on the GPU (docs/kernels.md#performance-model), after
# scripts/gpu_check.sh: (1) scripts/tune_launch.py, the kernels' time under other warp counts
# and tile sizes (time limit $1, default 120 s); (2) Nsight Compute on one forward launch and
# one backward launch at the standard shape (2312-256-256-10, B=256, T=10, random, F=8):
# warp-state (stall reasons), scheduler, occupancy, launch and speed-of-light sections (time
# limit $2, default 150 s). Needs `ncu` (the GPU machine has it; on some runtimes it cannot
# read the counters, then it says so). Staged like scripts/gpu_check.sh. Output: $OUT/tune.txt,
# $OUT/ncu.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/stage.sh
cat > "$stage/standard_step.py" <<'PY'
import torch
import asyncsim

gen = torch.Generator().manual_seed(0)
net = asyncsim.Network([2312, 256, 256, 10], generator=gen).cuda()
x = (torch.rand(10, 256, 2312, generator=gen) < 0.015).float().cuda()
with torch.no_grad():
    asyncsim.simulate(net, x, strategy="random", F=8, backend="triton")
net.requires_grad_(True)
res = asyncsim.simulate(net, x, strategy="random", F=8, backend="triton")
(res.counts.sum() + res.output_membrane.sum()).backward()
torch.cuda.synchronize()
PY
echo "== tune_launch (limit ${1:-120}s)"
timeout "${1:-120}" "${py[@]}" scripts/tune_launch.py 2>&1 | tee "$out/tune.txt"
echo "== ncu (limit ${2:-150}s)"
sections=(--section WarpStateStats --section SchedulerStats --section Occupancy
          --section LaunchStats --section SpeedOfLight)
# Launches: 1 the plain forward, 2 the forward saving state for the backward, 3 the backward.
timeout "${2:-150}" ncu --clock-control none -k "regex:_event_loop_kernel|_backward_kernel" \
    -c 3 "${sections[@]}" "${py[@]}" "$stage/standard_step.py" 2>&1 | tee "$out/ncu.txt"
