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

from .checks import agreed_sizes, per_axis, spatial_rank
from .conv import crop_spatial, offset_slice, pad_spatial, windows
from .errors import ShapeError
from .formulas import pool_out

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
    kernel = per_axis(op, "kernel", kernel, d, minimum=1)
    stride = kernel if stride is None else per_axis(op, "stride", stride, d, minimum=1)
    padding = per_axis(op, "padding", padding, d)
    out = agreed_sizes(op, pool_out, x.shape[1:], kernel, stride, padding, op=kind)
    return d, kernel, stride, padding, out


def _check_like(op, name, t, shape):
    if not isinstance(t, np.ndarray) or t.shape != tuple(shape):
        got = t.shape if isinstance(t, np.ndarray) else type(t).__name__
        raise ShapeError(f"{op}: {name} must be an array of shape {tuple(shape)}, got {got}",
                         rule="shape_match")


def _flat_windows(x_pad, kernel, stride, out):
    """``(C, *out, prod(kernel))``: each window's cells in row-major order."""
    win = windows(x_pad, kernel, stride, out)
    return win.reshape(win.shape[: 1 + len(out)] + (-1,))


# --------------------------------------------------------------------------------------
# max pool
# --------------------------------------------------------------------------------------
def _argmax_cells(x, kernel, stride, padding, out):
    """Flat index into ``pad(x)`` of each window's FIRST maximum (row-major window order)."""
    x_pad = pad_spatial(x, padding, -np.inf)
    first = _flat_windows(x_pad, kernel, stride, out).argmax(axis=-1)  # first occurrence
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
    _check_like("max_pool_vjp", "grad_y", grad_y, (x.shape[0], *out))
    cells = _argmax_cells(x, kernel, stride, padding, out)
    padded = tuple(n + 2 * p for n, p in zip(x.shape[1:], padding, strict=True))
    grad = np.bincount(cells.ravel(), weights=grad_y.ravel(),
                       minlength=x.shape[0] * math.prod(padded))
    grad_pad = grad.astype(np.result_type(x, grad_y)).reshape((x.shape[0], *padded))
    return crop_spatial(grad_pad, padding, x.shape[1:])


def max_pool_jvp(x, dx, kernel, stride=None, padding=0):
    """``dy[c, o] = dx[c, argmax(c, o)]``: the tangent at each window's first maximum."""
    d, kernel, stride, padding, out = _setup("max_pool_jvp", x, kernel, stride, padding, "max")
    _check_like("max_pool_jvp", "dx", dx, x.shape)
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
    _check_like("avg_pool_vjp", "grad_y", grad_y, (x.shape[0], *out))
    share = grad_y / grad_y.dtype.type(math.prod(kernel))
    padded = tuple(n + 2 * p for n, p in zip(x.shape[1:], padding, strict=True))
    grad_pad = np.zeros((x.shape[0], *padded), dtype=np.result_type(x, grad_y))
    for k in np.ndindex(*kernel):
        grad_pad[offset_slice(k, stride, out)] += share
    return crop_spatial(grad_pad, padding, x.shape[1:])


def avg_pool_jvp(x, dx, kernel, stride=None, padding=0):
    """``dy = avg_pool(dx)`` (the op is linear)."""
    _check_like("avg_pool_jvp", "dx", dx, x.shape)
    return avg_pool(dx, kernel, stride, padding)


# --------------------------------------------------------------------------------------
# smooth max pool (log-sum-exp)
# --------------------------------------------------------------------------------------
def _check_beta(op, beta):
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating, np.integer)) \
            or not math.isfinite(beta) or beta == 0:
        raise ShapeError(f"{op}: beta must be a finite non-zero number, got {beta!r}",
                         rule="number")
    return float(beta)


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
    _check_like("smooth_max_pool_vjp", "grad_y", grad_y, (x.shape[0], *out))
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
    _check_like("smooth_max_pool_jvp", "dx", dx, x.shape)
    _, weights = _softmax_windows(x, kernel, stride, padding, out, beta)
    tangent = _flat_windows(pad_spatial(dx, padding), kernel, stride, out)
    return (weights * tangent).sum(axis=-1).astype(np.result_type(x, dx), copy=False)
