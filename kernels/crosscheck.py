"""Kernels against the NumPy specs, sample by sample, with figures.

Each ``*_checks`` function runs a kernel (batched, on one backend) and the spec (one sample
at a time, in float64) and returns one :class:`Comparison` per output. The spec only
produces the reference; the kernel's result never comes from it.

Modes
-----
``"exact"``
    Integer-valued float64 operands (``|v| <= 8``, sizes as in the tests): every product and
    partial sum the kernel and the spec form is an integer below ``2**53``, so every float64
    operation is exact and the summation order (BLAS blocking, the gather's window order,
    the batch sum) cannot matter: the results must be bit-equal. Divisions: the avg-pool
    forward divides an exact integer sum by the kernel volume once, in both (one correctly
    rounded operation, the same result); for the avg-pool backward the caller draws
    ``grad_y`` as multiples of the volume, so ``grad_y / volume`` is an integer again.
    Max pool compares and copies; its gradient sums integers.
``"float"``
    Random float32 operands. The reference is the spec in float64 on the same values (cast
    exactly), whose own error is negligible (``~1e-16`` relative). Each kernel output is a
    sum of at most ``L`` terms (products, or cells) computed in float32 in SOME order, then
    possibly divided once; Higham's bound for any summation order gives
    ``|kernel - exact| <= gamma_L * M`` with ``gamma_L = L u / (1 - L u)``, ``u = 2**-24``
    and ``M`` the same sum over the absolute values of the terms; one more ``u * M`` covers
    the final division or store. So the elementwise tolerance is
    ``(gamma_L + 2u) * M``, with ``M`` the spec applied to ``|x|, |w|, |b|, |grad_y|`` (every
    output is a sum of products of operand entries with non-negative coefficients), and
    ``L`` the op's longest reduction: ``C_in * prod(kernel) + 1`` for the conv forward,
    ``N * prod(out)`` for the weight and bias gradients, and so on. It fails a kernel that
    drops or shifts a single term of unit size, or that uses TF32 (10-bit mantissas).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from nnbridge.spec.convolution import conv as spec_conv
from nnbridge.spec.convolution import conv_transpose as spec_conv_transpose
from nnbridge.spec.convolution import conv_transpose_vjp as spec_conv_transpose_vjp
from nnbridge.spec.convolution import conv_vjp as spec_conv_vjp
from nnbridge.spec.errors import Rule, ShapeError, UsageError
from nnbridge.spec.pool import avg_pool as spec_avg_pool
from nnbridge.spec.pool import avg_pool_vjp as spec_avg_pool_vjp
from nnbridge.spec.pool import max_pool as spec_max_pool
from nnbridge.spec.pool import max_pool_vjp as spec_max_pool_vjp

from .backends import get_backend
from .convolution import conv as kernel_conv_fwd
from .convolution import conv_transpose as kernel_conv_transpose
from .convolution import conv_transpose_vjp as kernel_conv_transpose_vjp
from .convolution import conv_vjp as kernel_conv_vjp
from .pooling import avg_pool as kernel_avg_pool
from .pooling import avg_pool_vjp as kernel_avg_pool_vjp
from .pooling import max_pool as kernel_max_pool
from .pooling import max_pool_vjp as kernel_max_pool_vjp

__all__ = [
    "Comparison",
    "as_numpy",
    "compare",
    "conv_checks",
    "float32_tolerance",
    "pool_checks",
]

_U32 = 2.0**-24


@dataclass(frozen=True)
class Comparison:
    """One output of one kernel call against the spec.

    ``max_error`` is ``max |kernel - spec|``; ``worst_ratio`` is ``max |kernel - spec| /
    tolerance`` elementwise (exact mode: 0 when bit-equal, ``inf`` otherwise).
    """

    name: str
    mode: str
    max_error: float
    worst_ratio: float
    passed: bool
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def float32_tolerance(magnitude: np.ndarray, length: int) -> np.ndarray:
    """``(gamma_L + 2u) * magnitude`` with ``gamma_L = L u / (1 - L u)``, ``u = 2**-24``."""
    gamma = length * _U32 / (1.0 - length * _U32)
    return (gamma + 2.0 * _U32) * np.asarray(magnitude, dtype=np.float64)


def compare(name: str, got, want, mode: str, magnitude=None, length: int = 1) -> Comparison:
    """Compare ``got`` (kernel) with ``want`` (spec): bit-equal in exact mode, else within
    :func:`float32_tolerance` of ``magnitude`` and ``length``. A NaN must be where the spec
    has one (a NaN on one side only is an infinite error); equal infinities are equal."""
    got = np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape:
        return Comparison(name, mode, math.inf, math.inf, False,
                          f"shape {got.shape}, the spec's is {want.shape}")
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    same = (g64 == w64) | (np.isnan(g64) & np.isnan(w64))
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(g64 - w64))
    diff[np.isnan(diff)] = math.inf
    max_error = float(diff.max()) if diff.size else 0.0
    if mode == "exact":
        if got.dtype != want.dtype:
            return Comparison(name, mode, max_error, math.inf, False,
                              f"dtype {got.dtype}, expected {want.dtype}")
        equal = np.array_equal(got, want, equal_nan=True)
        return Comparison(name, mode, max_error, 0.0 if equal else math.inf, bool(equal))
    tol = float32_tolerance(magnitude, length)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff == 0, 0.0, diff / tol)
    worst = float(ratio.max()) if ratio.size else 0.0
    return Comparison(name, mode, max_error, worst, bool(worst <= 1.0))


def as_numpy(a) -> np.ndarray:
    """A result as a NumPy array: NumPy and array-likes as is, CuPy arrays copied from the
    GPU (``.get()``), torch tensors detached and moved to the CPU."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        a = a.detach().cpu().numpy()
    elif hasattr(a, "__cuda_array_interface__") and hasattr(a, "get"):
        a = a.get()
    return np.asarray(a)


def _call(fn, *args):
    """``fn(*args)``, its results as NumPy arrays (a tuple stays a tuple)."""
    out = fn(*args)
    if isinstance(out, (tuple, list)):
        return tuple(as_numpy(a) for a in out)
    return as_numpy(out)


def _per_sample(fn, *batched, shared=()):
    """Call the spec on each sample ``n``; stack outputs (tuples stacked element-wise)."""
    outs = [fn(*(a[n] for a in batched), *shared) for n in range(batched[0].shape[0])]
    if isinstance(outs[0], tuple):
        return tuple(np.stack(parts) for parts in zip(*outs, strict=True))
    return np.stack(outs)


def _f64(*arrays):
    return tuple(None if a is None else np.asarray(a, dtype=np.float64) for a in arrays)


def conv_checks(x, w, b, grad_y, stride, padding, mode: str, *, transpose: bool = False,
                backend=None, forward=None, vjp=None) -> list[Comparison]:
    """``conv``/``conv_vjp`` (or the transposed pair) against the spec.

    By default the package's kernels on ``backend``; with ``forward`` (and optionally
    ``vjp``), any implementation with the kernels' signatures, ``forward(x, w, b, stride,
    padding)`` and ``vjp(x, w, b, grad_y, stride, padding) -> (grad_w, grad_b, grad_x)``,
    called on NumPy arrays and returning array-likes (see :func:`as_numpy`). Without a
    ``vjp`` only ``y`` is compared.
    """
    s_fwd, s_vjp = ((spec_conv_transpose, spec_conv_transpose_vjp) if transpose
                    else (spec_conv, spec_conv_vjp))
    if forward is None:
        be = get_backend(backend)
        k_fwd, k_vjp = ((kernel_conv_transpose, kernel_conv_transpose_vjp) if transpose
                        else (kernel_conv_fwd, kernel_conv_vjp))
        y = be.to_numpy(k_fwd(x, w, b, stride, padding, backend=be))
        grad_w, grad_b, grad_x = (be.to_numpy(a) for a in
                                  k_vjp(x, w, b, grad_y, stride, padding, backend=be))
    else:
        y = _call(forward, x, w, b, stride, padding)
        grad_w = grad_b = grad_x = None
        if vjp is not None:
            grads = _call(vjp, x, w, b, grad_y, stride, padding)
            if not isinstance(grads, tuple) or len(grads) != 3:
                raise UsageError("conv_checks: vjp must return (grad_w, grad_b, grad_x)",
                                 rule=Rule.USER_CODE)
            grad_w, grad_b, grad_x = grads
    x64, w64, b64, gy64 = _f64(x, w, b, grad_y)
    want_y = _per_sample(lambda xn: s_fwd(xn, w64, b64, stride, padding), x64)
    want = _per_sample(lambda xn, gn: s_vjp(xn, w64, b64, gn, stride, padding), x64, gy64)
    want_w, want_b, want_x = want[0].sum(axis=0), want[1].sum(axis=0), want[2]
    if mode == "exact":
        mags = (None,) * 4
    else:
        ax, aw, ab, ag = (np.abs(a) for a in (x64, w64, b64, gy64))
        mag_y = _per_sample(lambda xn: s_fwd(xn, aw, ab, stride, padding), ax)
        mag = _per_sample(lambda xn, gn: s_vjp(xn, aw, ab, gn, stride, padding), ax, ag)
        mags = (mag_y, mag[0].sum(axis=0), mag[1].sum(axis=0), mag[2])
    n, c_x = x.shape[:2]
    c_y = grad_y.shape[1]
    k_vol = math.prod(w.shape[2:])
    out_vol = math.prod(grad_y.shape[2:])
    in_vol = math.prod(x.shape[2:])
    lengths = (
        c_x * k_vol + 1,                       # y: channels x window, plus the bias
        n * max(out_vol, in_vol),              # grad_w: batch x positions
        n * out_vol,                           # grad_b
        c_y * k_vol,                           # grad_x: channels x windows covering a cell
    )
    names = ("y", "grad_w", "grad_b", "grad_x")
    got = (y, grad_w, grad_b, grad_x)
    wanted = (want_y, want_w, want_b, want_x)
    op = "conv_transpose" if transpose else "conv"
    if mode == "exact":
        wanted = tuple(a.astype(np.float64) for a in wanted)
    return [compare(f"{op}.{name}", g, v, mode, m, length)
            for name, g, v, m, length in zip(names, got, wanted, mags, lengths, strict=True)
            if g is not None]


def pool_checks(kind: str, x, grad_y, kernel, stride, padding, mode: str, *,
                backend=None, forward=None, vjp=None) -> list[Comparison]:
    """``max_pool``/``avg_pool`` and their vjp against the spec.

    By default the package's kernels on ``backend``; with ``forward`` (and optionally
    ``vjp``), any implementation with the kernels' signatures, ``forward(x, kernel,
    stride, padding)`` and ``vjp(x, grad_y, kernel, stride, padding) -> grad_x``, on NumPy
    arrays. Without a ``vjp`` only ``y`` is compared.
    """
    if kind == "max":
        k_fwd, k_vjp = kernel_max_pool, kernel_max_pool_vjp
        s_fwd, s_vjp = spec_max_pool, spec_max_pool_vjp
    elif kind == "avg":
        k_fwd, k_vjp = kernel_avg_pool, kernel_avg_pool_vjp
        s_fwd, s_vjp = spec_avg_pool, spec_avg_pool_vjp
    else:
        raise ShapeError(f"pool_checks: kind must be 'max' or 'avg', got {kind!r}",
                         rule=Rule.POOL_OP)
    if forward is None:
        be = get_backend(backend)
        y = be.to_numpy(k_fwd(x, kernel, stride, padding, backend=be))
        grad_x = be.to_numpy(k_vjp(x, grad_y, kernel, stride, padding, backend=be))
    else:
        y = _call(forward, x, kernel, stride, padding)
        grad_x = None if vjp is None else _call(vjp, x, grad_y, kernel, stride, padding)
    x64, gy64 = _f64(x, grad_y)
    want_y = _per_sample(lambda xn: s_fwd(xn, kernel, stride, padding), x64)
    want_x = _per_sample(lambda xn, gn: s_vjp(xn, gn, kernel, stride, padding), x64, gy64)
    d = x.ndim - 2
    k = (kernel,) * d if isinstance(kernel, int) else tuple(kernel)
    s = k if stride is None else ((stride,) * d if isinstance(stride, int) else tuple(stride))
    k_vol = math.prod(k)
    covering = math.prod(-(-ki // si) for ki, si in zip(k, s, strict=True))
    if mode == "exact":
        mag_y = mag_x = None
    else:
        # max pool copies: its forward must be bit-equal in any mode (tolerance 0)
        mag_y = (_per_sample(lambda xn: spec_avg_pool(xn, kernel, stride, padding),
                             np.abs(x64)) if kind == "avg" else np.zeros_like(want_y))
        mag_x = _per_sample(lambda xn, gn: s_vjp(xn, gn, kernel, stride, padding),
                            x64, np.abs(gy64))
    results = [compare(f"{kind}_pool.y", y, want_y, mode, mag_y, k_vol + 1)]
    if grad_x is not None:
        results.append(compare(f"{kind}_pool.grad_x", grad_x, want_x, mode, mag_x,
                               covering + 1))
    return results
