"""Spec conv forward and VJP against torch's CPU conv with PyTorch's options, as time ratios.

One process, one thread each (``torch.set_num_threads(1)``, OpenBLAS limited to one thread
before NumPy loads), the spec and torch timed in interleaved runs so that a load change on a
shared machine hits both alike. Layers, one sample ``(C, H, W)``, 64 -> 64 channels, 3 x 3:

* ``unet``: 128 x 128, padding 1, float32 (the layer of ``bench_spec_conv.py``);
* ``unet_float64``: the same in float64;
* ``grouped``: groups=8; ``depthwise``: groups=64;
* ``dilated``: dilation 2, padding 2; ``same_reflect``: padding="same", padding_mode="reflect".

The target: the spec forward within 1.5x of torch's at the ``unet`` layer. Results go to
benchmarks/results/conv_options.json.

    python benchmarks/bench_conv_options.py [--repeats N] [--size N]
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from nnbridge.spec.convolution import conv, conv_vjp  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "conv_options.json"
TARGET = 1.5

#: name -> (dtype, conv options)
LAYERS = {
    "unet": (np.float32, {"padding": 1}),
    "unet_float64": (np.float64, {"padding": 1}),
    "grouped": (np.float32, {"padding": 1, "groups": 8}),
    "depthwise": (np.float32, {"padding": 1, "groups": 64}),
    "dilated": (np.float32, {"padding": 2, "dilation": 2}),
    "same_reflect": (np.float32, {"padding": "same", "padding_mode": "reflect"}),
}


def interleaved_seconds(fns: dict, repeats: int) -> dict:
    """Each function ``repeats`` times, alternating between them; (median, minimum) each."""
    for fn in fns.values():
        fn()  # warm-up
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def _torch_layer(w: torch.Tensor, options: dict) -> torch.nn.Conv2d:
    """``nn.Conv2d`` carrying the options (its forward pads for the mode, as the spec does)."""
    module = torch.nn.Conv2d(w.shape[1] * options.get("groups", 1), w.shape[0], w.shape[2:],
                             padding=options.get("padding", 0),
                             dilation=options.get("dilation", 1),
                             groups=options.get("groups", 1),
                             padding_mode=options.get("padding_mode", "zeros"), device="meta")
    return module


def measure(name: str, dtype, options: dict, size: int, channels: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    groups = options.get("groups", 1)
    x = rng.standard_normal((channels, size, size)).astype(dtype)
    w = (rng.standard_normal((channels, channels // groups, 3, 3))
         / np.sqrt(9 * channels // groups)).astype(dtype)
    b = rng.standard_normal(channels).astype(dtype)
    y_spec = conv(x, w, b, **options)
    g = rng.standard_normal(y_spec.shape).astype(dtype)

    xt = torch.from_numpy(x)[None].requires_grad_(True)
    wt = torch.from_numpy(w).requires_grad_(True)
    bt = torch.from_numpy(b).requires_grad_(True)
    gt = torch.from_numpy(g)[None]
    layer = _torch_layer(wt, options)

    def torch_forward():
        with torch.no_grad():
            return layer._conv_forward(xt, wt, bt)

    y_graph = layer._conv_forward(xt, wt, bt)

    def torch_vjp():  # backward alone, as the spec's VJP: the forward is recorded outside
        return torch.autograd.grad(y_graph, (wt, bt, xt), gt, retain_graph=True)

    scale = max(1.0, float(np.abs(y_spec).max()))
    err_fwd = float(np.abs(y_spec - torch_forward()[0].numpy()).max()) / scale
    grads_spec = conv_vjp(x, w, b, g, **options)
    err_vjp = max(float(np.abs(a - r.numpy().reshape(a.shape)).max() / max(1.0, np.abs(a).max()))
                  for a, r in zip(grads_spec, torch_vjp(), strict=True))

    timed = interleaved_seconds({
        "spec_forward": lambda: conv(x, w, b, **options),
        "torch_forward": torch_forward,
        "spec_vjp": lambda: conv_vjp(x, w, b, g, **options),
        "torch_vjp": torch_vjp,
    }, repeats)
    med = {k: v[0] for k, v in timed.items()}
    low = {k: v[1] for k, v in timed.items()}
    return {
        "layer": {"channels": [channels, channels], "size": [size, size], "kernel": [3, 3],
                  "dtype": np.dtype(dtype).name, "batch": "none (1)", **options},
        **{f"{k}_s": round(v, 6) for k, v in med.items()},
        **{f"{k}_min_s": round(v, 6) for k, v in low.items()},
        "forward_ratio": round(med["spec_forward"] / med["torch_forward"], 3),
        "vjp_ratio": round(med["spec_vjp"] / med["torch_vjp"], 3),
        "forward_ratio_of_minima": round(low["spec_forward"] / low["torch_forward"], 3),
        "vjp_ratio_of_minima": round(low["spec_vjp"] / low["torch_vjp"], 3),
        "max_rel_forward_difference": err_fwd,
        "max_rel_vjp_difference": err_vjp,
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)

    layers = {name: measure(name, dtype, options, args.size, args.channels, args.repeats)
              for name, (dtype, options) in LAYERS.items()}
    for name, r in layers.items():
        print(f"{name:>14}: forward {r['forward_ratio']:.2f}x (minima "
              f"{r['forward_ratio_of_minima']:.2f}x), vjp {r['vjp_ratio']:.2f}x (minima "
              f"{r['vjp_ratio_of_minima']:.2f}x)")
    result = {
        "layers": layers,
        "forward_target_ratio": TARGET,
        "unet_forward_within_target": layers["unet"]["forward_ratio"] <= TARGET,
        "repeats": args.repeats,
        "statistic": "median of interleaved runs (ratios of minima too); ratio = spec / torch",
        "threads": {"torch": torch.get_num_threads(), "openblas": 1},
        "torch": torch.__version__, "numpy": np.__version__,
        "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
