#!/usr/bin/env bash
# The CUDA path in one go, for a machine with an NVIDIA GPU (issue #10, item 3):
#
#     bash benchmarks/cuda_check.sh [OUT_DIR]        # default OUT_DIR: $OUT, else benchmarks/out-cuda
#
# 1. the gpu-marked tests (tests/test_gpu.py: placement and dtype policy, same-seed images on CPU and GPU,
#    eviction freeing GPU memory), then
# 2. every model benchmark with STUDIO_DEVICE=cuda (each prints its `# device:` line and `RESULT` lines),
#    then the app's start to first answer on the GPU.
# Each part's output goes to OUT_DIR/<part>.txt, and every RESULT line to OUT_DIR/results.txt, so the
# figures can go into benchmarks/README.md with the device named. A part that fails is reported and the
# rest still run; the exit status is the number of parts that failed (99: this torch sees no CUDA GPU).
#
# Needs this project's requirements installed with a CUDA build of torch (`pip install torch` on a GPU
# machine, then `pip install -r requirements.txt -r requirements-dev.txt`).
set -u
cd "$(dirname "$0")/.."
out="${1:-${OUT:-benchmarks/out-cuda}}"
mkdir -p "$out"
export STUDIO_DEVICE="${STUDIO_DEVICE:-cuda}" PYTHONUNBUFFERED=1
py="${PYTHON:-python3}"
failed=0

part() {  # part NAME COMMAND...: run it, keep its output, note a failure
    local name=$1
    shift
    echo "== $name: $*" | tee "$out/$name.txt"
    local start=$SECONDS
    if "$@" >>"$out/$name.txt" 2>&1; then
        echo "   ok in $((SECONDS - start)) s"
    else
        echo "   FAILED (rc $?) in $((SECONDS - start)) s; the end of its output:"
        tail -n 20 "$out/$name.txt"
        failed=$((failed + 1))
    fi
    grep '^RESULT\|^# device' "$out/$name.txt" | tee -a "$out/results.txt"
}

: >"$out/results.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$out/nvidia-smi.txt" 2>&1 || true
check="import torch; assert torch.cuda.is_available(), 'this torch sees no CUDA GPU'; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())"
"$py" -c "$check" >"$out/torch.txt" 2>&1
rc=$?
cat "$out/torch.txt"
[ "$rc" = 0 ] || exit 99

part test_gpu "$py" -m pytest -m gpu tests/test_gpu.py -v -rs -p no:cacheprovider
part text_decode "$py" benchmarks/text_decode.py
part gan_grid "$py" benchmarks/gan_grid.py
part vae_grid "$py" benchmarks/vae_grid.py
part diffusion_capture "$py" benchmarks/diffusion_capture.py
part registry "$py" benchmarks/registry.py
part app_start "$py" benchmarks/app_start.py --runs 1
echo "parts failed: $failed; results in $out/results.txt"
exit "$failed"
