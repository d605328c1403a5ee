"""Kernel throughput against the reference, in one run, as ratios (not timed tests).

GPU (``--gpu``, needs CuPy and torch with CUDA): the cupy backend against cuDNN
(``torch.nn.functional`` on CUDA, float32, TF32 off everywhere) for the conv forward and
backward at UNet-like sizes (N=8, 64 -> 64 channels, 128x128 and 256x256, 3x3, padding 1)
and for max/avg pooling (2x2, stride 2, 256x256), with each pool's achieved fraction of the
GPU's memory bandwidth. Targets: conv >= 0.5x cuDNN's throughput, pooling >= 0.8x.
Results: benchmarks/results/bench_kernels_gpu.json.

CPU (default): the host backend (the same CUDA source compiled by the C++ compiler)
against torch's CPU conv and pools, for information: a small case and the UNet-like conv
(N=8, 64 -> 64, 128x128), one thread each (OpenMP, OpenBLAS and torch each keep a thread
pool; on a small machine their spinning workers steal each other's cores and the figures
mean little; set OMP_NUM_THREADS to change it). The conv cases also report the kernel's
peak memory (tracemalloc) against the im2col columns of the whole batch, which the launcher
bounds by processing the batch in chunks. Results: benchmarks/results/bench_kernels_cpu.json.

A ratio is ``reference_time / kernel_time``: the kernel's throughput as a fraction of the
reference's (1.0 = as fast; above 1 = faster).

    python benchmarks/bench_kernels.py [--gpu] [--repeats N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

if "--gpu" not in sys.argv:  # before NumPy and torch start their thread pools
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import nnbridge.kernels as K  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from nnbridge.kernels import convolution  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def interleaved_seconds(fns: dict, repeats: int, sync=lambda: None) -> dict:
    """Median and minimum seconds per function, runs interleaved (a load change on a
    shared machine hits every function alike); ``sync`` waits for the device."""
    for fn in fns.values():
        fn()
    sync()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def _versions(extra: dict | None = None) -> dict:
    try:
        cxx = subprocess.run(["g++", "--version"], capture_output=True, text=True)
        compiler = cxx.stdout.splitlines()[0] if cxx.returncode == 0 else "?"
    except OSError:
        compiler = "?"
    return {"numpy": np.__version__, "torch": torch.__version__, "python":
            platform.python_version(), "host_compiler": compiler, **(extra or {})}


def _case(name, kernel_fn, torch_fn, repeats, sync, extra=None) -> dict:
    timed = interleaved_seconds({"kernel": kernel_fn, "reference": torch_fn}, repeats, sync)
    (k_med, k_min), (r_med, r_min) = timed["kernel"], timed["reference"]
    return {"case": name, "kernel_s": round(k_med, 7), "reference_s": round(r_med, 7),
            "kernel_min_s": round(k_min, 7), "reference_min_s": round(r_min, 7),
            "ratio": round(r_med / k_med, 3), "ratio_of_minima": round(r_min / k_min, 3),
            **(extra or {})}


def _conv_cases(xp, to_torch, backend, n, c, size, repeats, sync, dtype=np.float32):
    """conv forward and backward, kernel vs torch, on shared values."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, size, size)).astype(dtype)
    w = (rng.standard_normal((c, c, 3, 3)) / np.sqrt(9 * c)).astype(dtype)
    b = rng.standard_normal(c).astype(dtype)
    g = rng.standard_normal((n, c, size, size)).astype(dtype)
    xk, wk, bk, gk = (xp.asarray(a) for a in (x, w, b, g))
    xt, wt, bt, gt = (to_torch(a) for a in (x, w, b, g))
    label = f"N={n} {c}->{c} {size}x{size} 3x3 pad 1 float32"

    def torch_backward():
        return torch.ops.aten.convolution_backward(gt, xt, wt, [c], [1, 1], [1, 1], [1, 1],
                                                   False, [0, 0], 1, [True, True, True])

    with torch.no_grad():
        ref = F.conv2d(xt, wt, bt, padding=1)
    got = K.conv(xk, wk, bk, 1, 1, backend=backend)
    err = float(np.abs(np.asarray(K.get_backend(backend).to_numpy(got))
                       - ref.cpu().numpy()).max())
    columns = n * c * 9 * size * size * np.dtype(dtype).itemsize
    fwd = _case(f"conv forward, {label}", lambda: K.conv(xk, wk, bk, 1, 1, backend=backend),
                lambda: F.conv2d(xt, wt, bt, padding=1), repeats, sync,
                {"max_abs_difference": err, "whole_batch_columns_bytes": columns})
    bwd = _case(f"conv backward (grad_w, grad_b, grad_x), {label}",
                lambda: K.conv_vjp(xk, wk, bk, gk, 1, 1, backend=backend), torch_backward,
                repeats, sync, {"whole_batch_columns_bytes": columns})
    if xp is np:  # host: NumPy allocations are visible to tracemalloc
        fwd["kernel_peak_bytes"] = _peak(lambda: K.conv(xk, wk, bk, 1, 1, backend=backend))
        bwd["kernel_peak_bytes"] = _peak(
            lambda: K.conv_vjp(xk, wk, bk, gk, 1, 1, backend=backend))
    return [fwd, bwd]


def _peak(fn) -> int:
    """Peak bytes NumPy allocates during ``fn()`` (outputs and workspace)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _pool_cases(xp, to_torch, backend, n, c, size, repeats, sync, bandwidth=None):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c, size, size)).astype(np.float32)
    g = rng.standard_normal((n, c, size // 2, size // 2)).astype(np.float32)
    xk, gk = xp.asarray(x), xp.asarray(g)
    xt, gt = to_torch(x), to_torch(g)
    label = f"N={n} C={c} {size}x{size} 2x2 stride 2 float32"
    in_bytes, out_bytes = x.nbytes, g.nbytes
    cases = []
    for kind, k_fwd, t_fwd in (("max", K.max_pool, F.max_pool2d),
                               ("avg", K.avg_pool, F.avg_pool2d)):
        # bytes the kernel must move at least: read x, write y (max: also its argmax)
        moved = in_bytes + out_bytes * (2 if kind == "max" else 1)
        case = _case(f"{kind} pool forward, {label}",
                     lambda f=k_fwd: f(xk, 2, 2, 0, backend=backend),
                     lambda f=t_fwd: f(xt, 2, 2, 0), repeats, sync)
        if bandwidth:
            case["bandwidth_fraction"] = round(moved / case["kernel_s"] / bandwidth, 3)
            case["bytes_moved"] = moved
        cases.append(case)
    xg = xt.clone().requires_grad_(True)
    ym = F.max_pool2d(xg, 2, 2)
    ya = F.avg_pool2d(xg, 2, 2)
    cases.append(_case(f"max pool backward, {label}",
                       lambda: K.max_pool_vjp(xk, gk, 2, 2, 0, backend=backend),
                       lambda: torch.autograd.grad(ym, xg, gt, retain_graph=True),
                       repeats, sync))
    cases.append(_case(f"avg pool backward, {label}",
                       lambda: K.avg_pool_vjp(xk, gk, 2, 2, 0, backend=backend),
                       lambda: torch.autograd.grad(ya, xg, gt, retain_graph=True),
                       repeats, sync))
    return cases


def run_cpu(repeats: int) -> dict:
    sync = lambda: None  # noqa: E731
    threads = int(os.environ["OMP_NUM_THREADS"])
    torch.set_num_threads(threads)
    cases = _conv_cases(np, torch.from_numpy, "host", 2, 16, 32, repeats, sync)
    cases += _conv_cases(np, torch.from_numpy, "host", 8, 64, 128, max(3, repeats // 3), sync)
    cases += _pool_cases(np, torch.from_numpy, "host", 2, 16, 64, repeats, sync)
    return {"device": f"CPU ({platform.machine()}, {os.cpu_count()} cores), host backend "
                      "vs torch CPU", "backend": "host", "threads": threads,
            "torch_threads": torch.get_num_threads(),
            "workspace_bytes_bound": convolution.WORKSPACE_BYTES,
            "cases": cases, "versions": _versions()}


def _gpu_bandwidth(cupy) -> dict:
    """Theoretical peak (memory clock x bus width, when the runtime reports them) and the
    measured device-to-device copy bandwidth (read + write of 1 GiB)."""
    props = cupy.cuda.runtime.getDeviceProperties(0)
    clock_khz = props.get("memoryClockRate", 0)
    bus_bits = props.get("memoryBusWidth", 0)
    peak = 2.0 * clock_khz * 1e3 * bus_bits / 8 if clock_khz and bus_bits else None
    a = cupy.empty(2**28, dtype=cupy.float32)
    b = cupy.empty_like(a)
    sync = cupy.cuda.Device().synchronize
    timed = interleaved_seconds({"copy": lambda: b.__setitem__(Ellipsis, a)}, 10, sync)
    copy = 2 * a.nbytes / timed["copy"][1]
    name = props.get("name", b"?")
    return {"name": name.decode() if isinstance(name, bytes) else str(name),
            "peak_bytes_per_s": peak, "copy_bytes_per_s": copy}


def run_gpu(repeats: int) -> dict:
    if "cupy" not in K.available_backends():
        raise SystemExit(f"--gpu: {K.backend_unavailable_reason('cupy')}")
    import cupy

    if not torch.cuda.is_available():
        raise SystemExit("--gpu: torch has no CUDA device")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    os.environ.pop("CUPY_TF32", None)

    def sync():
        cupy.cuda.Device().synchronize()
        torch.cuda.synchronize()

    def to_torch(a):
        return torch.from_numpy(a).cuda()

    bw = _gpu_bandwidth(cupy)
    reference_bw = bw["peak_bytes_per_s"] or bw["copy_bytes_per_s"]
    cases = []
    for size in (128, 256):
        cases += _conv_cases(cupy, to_torch, "cupy", 8, 64, size, repeats, sync)
    cases += _pool_cases(cupy, to_torch, "cupy", 8, 64, 256, repeats, sync, reference_bw)
    return {"device": bw["name"], "backend": "cupy", "memory_bandwidth": bw,
            "bandwidth_reference": "peak" if bw["peak_bytes_per_s"] else "measured copy",
            "tf32": False, "targets": {"conv_ratio": 0.5, "pool_ratio": 0.8},
            "cases": cases,
            "versions": _versions({"cupy": cupy.__version__,
                                   "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
                                   "cudnn": torch.backends.cudnn.version()})}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="cupy backend vs cuDNN")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    if args.gpu:
        result = run_gpu(args.repeats or 20)
        out = RESULTS / "bench_kernels_gpu.json"
    else:
        result = run_cpu(args.repeats or 7)
        out = RESULTS / "bench_kernels_cpu.json"
    result = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "statistic": "median of interleaved runs; ratio = reference_s / kernel_s",
              **result}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
