"""Pooling: max, average and smooth-max, with VJP and JVP, as TorchLean specifies them.

Single sample, channels first, 1 to 3 spatial axes, float32 or float64. ``kernel``, ``stride``
(default: the kernel) and ``padding`` are an int or one int per spatial axis. Output sizes come
from :func:`nnbridge.spec.shapes.pool_out`; sizes where TorchLean's Nat reading and PyTorch's
disagree raise :class:`~nnbridge.spec.errors.ShapeError` (rule ``"lean_torch_divergence"``).

Padding semantics differ by op, as in TorchLean and PyTorch:

* ``max_pool``: padded cells are ignored (PyTorch's ``-inf``); the gradient goes to the FIRST
  maximum of each window in row-major order (strict ``>`` while scanning).
* ``avg_pool``: padded cells count as 0 and the divisor is the kernel volume
  (``count_include_pad=True``).
* ``smooth_max_pool``: ``(1/beta) log sum exp(beta x)`` over the window, padded cells count
  as 0; its derivative weights are ``softmax(beta * window)``.
"""

from __future__ import annotations

import math

import numpy as np

from .checks import (
    agreed_sizes,
    check_elements,
    cotangent,
    count,
    number,
    per_axis,
    spatial_rank,
    tangent,
)
from .convolution import crop_spatial, offset_slice, pad_spatial, windows
from .domains import pool_agreement
from .formulas import pool_out
from .ops import Geometry, Op, declare, sizes_in

__all__ = [
    "avg_pool",
    "avg_pool_jvp",
    "avg_pool_vjp",
    "max_pool",
    "max_pool_jvp",
    "max_pool_vjp",
    "smooth_max_pool",
    "smooth_max_pool_jvp",
    "smooth_max_pool_vjp",
]


def _setup(op, x, kernel, stride, padding, kind):
    d = spatial_rank(op, x)
    count(op, "channels", x.shape[0], minimum=1)  # PyTorch refuses 0 channels too
    kernel = per_axis(op, "kernel", kernel, d, minimum=1)
    stride = kernel if stride is None else per_axis(op, "stride", stride, d, minimum=1)
    padding = per_axis(op, "padding", padding, d)
    out = agreed_sizes(op, pool_out, x.shape[1:], kernel, stride, padding, op=kind)
    check_elements(op, "the windows", (x.shape[0], *out, math.prod(kernel)))
    return d, kernel, stride, padding, out


def _flat_windows(x_pad, kernel, stride, out):
    """``(C, *out, prod(kernel))``: each window's cells in row-major order."""
    win = windows(x_pad, kernel, stride, out)
    return win.reshape(win.shape[: 1 + len(out)] + (-1,))


# --------------------------------------------------------------------------------------
# max pool
# --------------------------------------------------------------------------------------
def _argmax_cells(x, kernel, stride, padding, out):
    """Flat index into ``pad(x)`` of each window's selected cell, PyTorch's rule: the FIRST
    maximum in row-major window order among the real (unpadded) cells, or the LAST NaN if the
    window has one (PyTorch updates on ``val > max or isnan(val)``). A window of -inf selects
    its first real cell, never a padded one."""
    x_pad = pad_spatial(x, padding, -np.inf)
    real = pad_spatial(np.ones(x.shape, dtype=bool), padding, False)
    win = _flat_windows(x_pad, kernel, stride, out)
    real_win = _flat_windows(real, kernel, stride, out)
    top = np.where(real_win, win, -np.inf).max(axis=-1, keepdims=True)
    first = ((win == top) & real_win).argmax(axis=-1)
    nan = np.isnan(win) & real_win
    if nan.any():
        last_nan = nan.shape[-1] - 1 - nan[..., ::-1].argmax(axis=-1)
        first = np.where(nan.any(axis=-1), last_nan, first)
    offsets = np.unravel_index(first, kernel)
    grids = np.meshgrid(*[np.arange(o) for o in out], indexing="ij")
    cells = tuple(g * s + k for g, s, k in zip(grids, stride, offsets, strict=True))
    channel = np.arange(x.shape[0]).reshape((-1,) + (1,) * len(out))
    return np.ravel_multi_index((np.broadcast_to(channel, first.shape),) + cells, x_pad.shape)


def max_pool(x, kernel, stride=None, padding=0):
    """``y[c, o] = max_k x_pad[c, o*stride + k]``, padded cells ignored.

    Parameters
    ----------
    x : ndarray, shape ``(C, *S)``
    kernel, stride, padding : int or tuple of int (``stride`` defaults to ``kernel``)

    Returns
    -------
    y : ndarray, shape ``(C, *pool_out(S, kernel, stride, padding))``
    """
    d, kernel, stride, padding, out = _setup("max_pool", x, kernel, stride, padding, "max")
    return _flat_windows(pad_spatial(x, padding, -np.inf), kernel, stride, out).max(axis=-1)


def max_pool_vjp(x, grad_y, kernel, stride=None, padding=0):
    """``grad_x[c, i] = sum_{o : argmax(c, o) = i} grad_y[c, o]``.

    ``argmax(c, o)`` is the first maximum of window ``o`` in row-major order. Returns
    ``grad_x`` alone (the op has no parameters).
    """
    d, kernel, stride, padding, out = _setup("max_pool_vjp", x, kernel, stride, padding, "max")
    grad_y = cotangent("max_pool_vjp", "grad_y", grad_y, (x.shape[0], *out), x.dtype)
    cells = _argmax_cells(x, kernel, stride, padding, out)
    padded = tuple(n + 2 * p for n, p in zip(x.shape[1:], padding, strict=True))
    grad = np.bincount(cells.ravel(), weights=grad_y.ravel(),
                       minlength=x.shape[0] * math.prod(padded))
    grad_pad = grad.astype(np.result_type(x, grad_y)).reshape((x.shape[0], *padded))
    return crop_spatial(grad_pad, padding, x.shape[1:])


def max_pool_jvp(x, dx, kernel, stride=None, padding=0):
    """``dy[c, o] = dx[c, argmax(c, o)]``: the tangent at each window's first maximum."""
    d, kernel, stride, padding, out = _setup("max_pool_jvp", x, kernel, stride, padding, "max")
    dx = tangent("max_pool_jvp", "dx", dx, x)
    cells = _argmax_cells(x, kernel, stride, padding, out)
    return pad_spatial(dx, padding).ravel()[cells]


# --------------------------------------------------------------------------------------
# average pool (count_include_pad)
# --------------------------------------------------------------------------------------
def avg_pool(x, kernel, stride=None, padding=0):
    """``y[c, o] = (1 / prod(kernel)) sum_k x_pad[c, o*stride + k]``, zero padding counted."""
    d, kernel, stride, padding, out = _setup("avg_pool", x, kernel, stride, padding, "avg")
    total = _flat_windows(pad_spatial(x, padding), kernel, stride, out).sum(axis=-1)
    return total / x.dtype.type(math.prod(kernel))


def avg_pool_vjp(x, grad_y, kernel, stride=None, padding=0):
    """``grad_x = crop(sum_k scatter_k(grad_y / prod(kernel)))``; returns ``grad_x``."""
    d, kernel, stride, padding, out = _setup("avg_pool_vjp", x, kernel, stride, padding, "avg")
    grad_y = cotangent("avg_pool_vjp", "grad_y", grad_y, (x.shape[0], *out), x.dtype)
    share = grad_y / grad_y.dtype.type(math.prod(kernel))
    padded = tuple(n + 2 * p for n, p in zip(x.shape[1:], padding, strict=True))
    grad_pad = np.zeros((x.shape[0], *padded), dtype=np.result_type(x, grad_y))
    for k in np.ndindex(*kernel):
        grad_pad[offset_slice(k, stride, out)] += share
    return crop_spatial(grad_pad, padding, x.shape[1:])


def avg_pool_jvp(x, dx, kernel, stride=None, padding=0):
    """``dy = avg_pool(dx)`` (the op is linear)."""
    spatial_rank("avg_pool_jvp", x)
    dx = tangent("avg_pool_jvp", "dx", dx, x)
    return avg_pool(dx, kernel, stride, padding)


# --------------------------------------------------------------------------------------
# smooth max pool (log-sum-exp)
# --------------------------------------------------------------------------------------
def _check_beta(op, beta):
    return number(op, "beta", beta, nonzero=True)


def _softmax_windows(x, kernel, stride, padding, out, beta):
    """``(lse, weights)``: ``lse = log sum exp(beta * window)``, ``weights = softmax``."""
    z = beta * _flat_windows(pad_spatial(x, padding), kernel, stride, out)
    top = z.max(axis=-1, keepdims=True)
    e = np.exp(z - top)
    total = e.sum(axis=-1, keepdims=True)
    return (top + np.log(total))[..., 0], e / total


def smooth_max_pool(x, kernel, stride=None, padding=0, beta=1.0):
    """``y[c, o] = (1/beta) log sum_k exp(beta * x_pad[c, o*stride + k])``, padded cells 0."""
    d, kernel, stride, padding, out = _setup("smooth_max_pool", x, kernel, stride, padding, "max")
    beta = _check_beta("smooth_max_pool", beta)
    lse, _ = _softmax_windows(x, kernel, stride, padding, out, beta)
    return (lse / beta).astype(x.dtype, copy=False)


def smooth_max_pool_vjp(x, grad_y, kernel, stride=None, padding=0, beta=1.0):
    """``grad_x = crop(sum_k scatter_k(softmax(beta * window)[k] * grad_y))``."""
    d, kernel, stride, padding, out = _setup("smooth_max_pool_vjp", x, kernel, stride, padding,
                                             "max")
    beta = _check_beta("smooth_max_pool_vjp", beta)
    grad_y = cotangent("smooth_max_pool_vjp", "grad_y", grad_y, (x.shape[0], *out), x.dtype)
    _, weights = _softmax_windows(x, kernel, stride, padding, out, beta)
    weights = weights.reshape(weights.shape[:-1] + kernel)
    padded = tuple(n + 2 * p for n, p in zip(x.shape[1:], padding, strict=True))
    grad_pad = np.zeros((x.shape[0], *padded), dtype=np.result_type(x, grad_y))
    for k in np.ndindex(*kernel):
        grad_pad[offset_slice(k, stride, out)] += weights[(Ellipsis,) + k] * grad_y
    return crop_spatial(grad_pad, padding, x.shape[1:])


def smooth_max_pool_jvp(x, dx, kernel, stride=None, padding=0, beta=1.0):
    """``dy[c, o] = sum_k softmax(beta * window)[k] * dx_pad[c, o*stride + k]``."""
    d, kernel, stride, padding, out = _setup("smooth_max_pool_jvp", x, kernel, stride, padding,
                                             "max")
    beta = _check_beta("smooth_max_pool_jvp", beta)
    dx = tangent("smooth_max_pool_jvp", "dx", dx, x)
    _, weights = _softmax_windows(x, kernel, stride, padding, out, beta)
    dx_win = _flat_windows(pad_spatial(dx, padding), kernel, stride, out)
    return (weights * dx_win).sum(axis=-1).astype(np.result_type(x, dx), copy=False)


# --------------------------------------------------------------------------------------
# the records
# --------------------------------------------------------------------------------------
def _avg3d_agreement(n, k, s, p):
    """The proved pool domain and PyTorch's ``avg_pool3d`` rule ``n >= k`` (avg3d_kernel_fits)."""
    return pool_agreement(n, k, s, p) and n >= k


def _sample_pool(choose, rank: int, exact: bool, *, avg: bool = False) -> Geometry:
    """Kernel 1..3 (1..2 in exact mode: a dyadic window volume keeps the average exact),
    stride 1..3, padding 0..1 inside the proved domain; sizes inside it too."""
    kernel = tuple(choose(range(1, 3) if exact else range(1, 4)) for _ in range(rank))
    stride = tuple(choose(range(1, 4)) for _ in range(rank))
    padding = tuple(choose([p for p in range(0, 2) if pool_agreement(k, k, s, p)])
                    for k, s in zip(kernel, stride, strict=True))
    domain = _avg3d_agreement if avg and rank == 3 else pool_agreement
    size = sizes_in(choose, domain, kernel, stride, padding)
    return Geometry({"x": (choose(range(1, 4)), *size)},
                    {"kernel": kernel, "stride": stride, "padding": padding})


def _torch_pool(kind: str):
    def reference(x, kernel, stride, padding, beta=None):
        import torch
        import torch.nn.functional as F

        rank = x.dim() - 1
        if kind == "smooth":  # (1/beta) log sum exp(beta x) over zero-padded windows
            stride = kernel if stride is None else stride
            # an int applies to every axis, as in torch.nn.functional's pools
            kernel, stride, padding = ((v,) * rank if isinstance(v, int) else tuple(v)
                                       for v in (kernel, stride, padding))
            z = F.pad(beta * x, [q for p in reversed(padding) for q in (p, p)])
            for axis, (k, s) in enumerate(zip(kernel, stride, strict=True)):
                z = z.unfold(1 + axis, k, s)
            return torch.logsumexp(z.flatten(-rank), dim=-1) / beta
        fn = getattr(F, f"{kind}_pool{rank}d")
        return fn(x[None], kernel, stride, padding)[0]

    return reference


MAX_POOL = declare(Op(
    "max_pool", max_pool, max_pool_vjp, max_pool_jvp, operands=("x",), order=("x",),
    static=("kernel", "stride", "padding"), draws={"x": "unique"}, sample=_sample_pool,
    torch=_torch_pool("max"), doc="max pool, padded cells ignored, first maximum"))

AVG_POOL = declare(Op(
    "avg_pool", avg_pool, avg_pool_vjp, avg_pool_jvp, operands=("x",), order=("x",),
    linear_in=("x",), static=("kernel", "stride", "padding"),
    sample=lambda choose, rank, exact: _sample_pool(choose, rank, exact, avg=True),
    torch=_torch_pool("avg"), doc="average pool, count_include_pad"))


def _sample_smooth(choose, rank: int, exact: bool) -> Geometry:
    g = _sample_pool(choose, rank, exact)
    return Geometry(g.shapes, {**g.static, "beta": choose((0.5, 1.5, 4.0))})


SMOOTH_MAX_POOL = declare(Op(
    "smooth_max_pool", smooth_max_pool, smooth_max_pool_vjp, smooth_max_pool_jvp,
    operands=("x",), order=("x",), static=("kernel", "stride", "padding", "beta"),
    sample=_sample_smooth, exact=False, torch=_torch_pool("smooth"),
    doc="log-sum-exp pool, padded cells 0"))
