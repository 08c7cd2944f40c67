# Sourced by the GPU scripts (gpu_check.sh, gpu_profile.sh) from the repository root: stage the
# checkout as an importable `asyncsim` package under /tmp (a bare GPU machine has it neither
# installed nor installable) and select compiled kernels. Sets `stage`, `out` ($OUT or a folder
# of the stage) and `py` (python -P: the checkout's own asyncsim/, which lacks kernels/, must
# not shadow the staged package).
stage=$(mktemp -d /tmp/asyncsim-stage.XXXXXX)
mkdir -p "$stage/asyncsim"
cp -r asyncsim/* "$stage/asyncsim/"
for sub in kernels training datasets; do
    rm -rf "${stage:?}/asyncsim/$sub"
    ln -s "$PWD/$sub" "$stage/asyncsim/$sub"
done
export PYTHONPATH="$stage${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# Compiled kernels, not the interpreter (tests/conftest.py defaults it to 1).
export TRITON_INTERPRET=0
out=${OUT:-$stage/out}
mkdir -p "$out"
py=(python -P)
