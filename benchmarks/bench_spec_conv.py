"""Spec conv forward and VJP against torch's CPU conv, in one process, as time ratios.

A UNet-sized layer: 64 -> 64 channels, 128 x 128, 3 x 3 kernel, padding 1, float32, one sample.
Target: the spec forward within 2x of torch's forward. Results go to
benchmarks/results/bench_spec_conv.json.

    python benchmarks/bench_spec_conv.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from nnbridge.spec.convolution import conv, conv_vjp

RESULTS = Path(__file__).parent / "results" / "bench_spec_conv.json"


def interleaved_seconds(fns: dict, repeats: int) -> dict:
    """Time each function ``repeats`` times, alternating between them so that a load change
    on a shared machine hits all of them alike; median and minimum per function."""
    for fn in fns.values():
        fn()  # warm-up
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    c, n, k, padding = 64, 128, 3, 1
    x = rng.standard_normal((c, n, n)).astype(np.float32)
    w = (rng.standard_normal((c, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    g = rng.standard_normal((c, n, n)).astype(np.float32)

    xt = torch.from_numpy(x)[None].requires_grad_(True)
    wt = torch.from_numpy(w).requires_grad_(True)
    bt = torch.from_numpy(b).requires_grad_(True)
    gt = torch.from_numpy(g)[None]

    def torch_forward():
        with torch.no_grad():
            return F.conv2d(xt, wt, bt, padding=padding)

    def torch_vjp():  # backward alone, as the spec's VJP: the forward is recorded outside
        return torch.autograd.grad(y_graph, (wt, bt, xt), gt, retain_graph=True)

    y_graph = F.conv2d(xt, wt, bt, padding=padding)

    # the two agree (float32: relative to the output scale)
    y_spec = conv(x, w, b, 1, padding)
    err_fwd = float(np.abs(y_spec - torch_forward()[0].numpy()).max())
    grads_spec = conv_vjp(x, w, b, g, 1, padding)
    grads_torch = [t.numpy().reshape(s.shape) for t, s in zip(torch_vjp(), grads_spec,
                                                              strict=True)]
    err_vjp = max(float(np.abs(a - r).max() / max(1.0, np.abs(r).max()))
                  for a, r in zip(grads_spec, grads_torch, strict=True))

    timed = interleaved_seconds({
        "spec_forward": lambda: conv(x, w, b, 1, padding),
        "torch_forward": torch_forward,
        "spec_vjp": lambda: conv_vjp(x, w, b, g, 1, padding),
        "torch_vjp": torch_vjp,
    }, args.repeats)
    times = {f"{name}_s": round(med, 6) for name, (med, _) in timed.items()}
    fastest = {f"{name}_min_s": round(low, 6) for name, (_, low) in timed.items()}
    result = {
        "layer": {"in_channels": c, "out_channels": c, "size": [n, n], "kernel": [k, k],
                  "stride": 1, "padding": padding, "dtype": "float32", "batch": "none (1)"},
        **times, **fastest,
        "forward_ratio_spec_over_torch": round(timed["spec_forward"][0]
                                               / timed["torch_forward"][0], 3),
        "vjp_ratio_spec_over_torch": round(timed["spec_vjp"][0] / timed["torch_vjp"][0], 3),
        "forward_ratio_of_minima": round(timed["spec_forward"][1] / timed["torch_forward"][1], 3),
        "vjp_ratio_of_minima": round(timed["spec_vjp"][1] / timed["torch_vjp"][1], 3),
        "forward_target_ratio": 2.0,
        "max_abs_forward_difference": err_fwd,
        "max_rel_vjp_difference": err_vjp,
        "repeats": args.repeats,
        "statistic": "median of interleaved runs (ratios of minima too)",
        "torch": torch.__version__, "numpy": np.__version__,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
