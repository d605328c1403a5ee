#!/usr/bin/env bash
# The GPU part of the kernels' checks, in one call on a machine with an NVIDIA GPU and no
# network (the image there has CuPy for CUDA 13, PyTorch with CUDA, pytest, Hypothesis,
# SymPy and rich; z3-solver and MONAI travel as wheels).
#
# Here, once (downloads the missing wheels into .whl/, which git ignores):
#     bash benchmarks/gpu_session.sh fetch
# There, with .whl carried along, from the repository root:
#     bash benchmarks/gpu_session.sh run
# "run" installs nnbridge without dependencies, runs the whole kernel suite (which now
# includes the cupy backend), the adjoint registry (with its cupy kernel entries) and
# `nnbridge verify`'s kernel step, then the benchmarks against cuDNN; it writes
# benchmarks/results/bench_kernels_gpu.json and, when $OUT is set, copies the logs and the
# results there.
set -uo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
fetch)
  exclude="$(git rev-parse --git-path info/exclude)"
  mkdir -p "$(dirname "$exclude")"
  grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
  mkdir -p .whl
  for spec in z3-solver==5.4.0.0 monai==1.6.1; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform any -d .whl "$spec" || exit 1
  done
  ls -la .whl
  ;;
run)
  out="${OUT:-/tmp/nnbridge-gpu}"
  mkdir -p "$out"
  if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
      || exit 1
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  python3 -m pip install -q --no-deps --no-build-isolation -e . || exit 1
  export PYTHONUNBUFFERED=1 NNBRIDGE_CACHE=/tmp/nnbridge-cache
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
  python3 -c "import cupy, torch; print('cupy', cupy.__version__, 'torch', torch.__version__)" \
    | tee -a "$out/gpu.txt"
  # on a GPU machine a missing cupy backend is a failure, not a reason to skip
  python3 -c "import sys, nnbridge.kernels as K; r = K.backend_unavailable_reason('cupy'); \
print('cupy backend:', r or 'available'); sys.exit(1 if r else 0)" 2>&1 | tee -a "$out/gpu.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
  status=0
  python3 -m pytest -q -p no:cacheprovider tests/kernels tests/adjoint 2>&1 \
    | tee "$out/pytest_kernels.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  python3 -m nnbridge.cli adjoint -k kernel 2>&1 | tee "$out/adjoint_kernels.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  python3 -c "from nnbridge.kernels.verify import verify_kernels; \
import sys; sys.exit(0 if verify_kernels() else 1)" 2>&1 | tee "$out/verify_kernels.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  python3 benchmarks/bench_kernels.py --gpu 2>&1 | tee "$out/bench_kernels_gpu.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  cp benchmarks/results/bench_kernels_gpu.json "$out/" 2>/dev/null
  exit "$status"
  ;;
*)
  echo "usage: bash benchmarks/gpu_session.sh fetch|run" >&2
  exit 2
  ;;
esac
