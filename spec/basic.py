"""Basic layers: linear, ReLU, global average pool, flatten and concat, with vjp and jvp.

Single sample, channels first, no batch axis (as TorchLean); float32 and float64, the
result's dtype is the input's. For each op ``<op>``:

* ``<op>_vjp`` takes the forward's arguments, then ``grad_y``, and returns the gradients,
  parameters first and input last (a tuple when the op has parameters, the bare ``grad_x``
  when it has none);
* ``<op>_jvp`` takes the forward's arguments, then the tangent of each, in the same order,
  and returns the output tangent ``dy``; a tangent given as ``None`` is zero.

Batch norm lives in :mod:`nnbridge.spec.norm`, the ResNet shortcuts and the spatial pad /
crop pair in :mod:`nnbridge.spec.shortcut`; they are re-exported here so that one import
gives every basic op.

>>> import numpy as np
>>> x = np.arange(6.0).reshape(2, 3)
>>> flatten(x).tolist()
[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
>>> global_avg_pool(x).tolist()
[1.0, 4.0]
"""

from __future__ import annotations

import numpy as np

from .checks import as_float_array, cotangent, same_dtype, tangent
from .errors import ShapeError
from .norm import batch_norm, batch_norm_jvp, batch_norm_vjp
from .shortcut import (
    channel_pad,
    channel_pad_jvp,
    channel_pad_vjp,
    channel_slice,
    channel_slice_jvp,
    channel_slice_vjp,
    crop,
    crop_jvp,
    crop_vjp,
    pad,
    pad_jvp,
    pad_vjp,
    shortcut,
    shortcut_jvp,
    shortcut_vjp,
)

__all__ = [
    "batch_norm",
    "batch_norm_jvp",
    "batch_norm_vjp",
    "channel_pad",
    "channel_pad_jvp",
    "channel_pad_vjp",
    "channel_slice",
    "channel_slice_jvp",
    "channel_slice_vjp",
    "concat",
    "concat_jvp",
    "concat_vjp",
    "crop",
    "crop_jvp",
    "crop_vjp",
    "flatten",
    "flatten_jvp",
    "flatten_vjp",
    "global_avg_pool",
    "global_avg_pool_jvp",
    "global_avg_pool_vjp",
    "linear",
    "linear_jvp",
    "linear_vjp",
    "pad",
    "pad_jvp",
    "pad_vjp",
    "relu",
    "relu_jvp",
    "relu_vjp",
    "shortcut",
    "shortcut_jvp",
    "shortcut_vjp",
]


# --------------------------------------------------------------------------------------
# Linear
# --------------------------------------------------------------------------------------
def _linear_args(op: str, x, w, b):
    x = as_float_array(op, "x", x, ndim=1)
    w = as_float_array(op, "w", w, ndim=2)
    b = as_float_array(op, "b", b, ndim=1)
    same_dtype(op, x=x, w=w, b=b)
    out_dim, in_dim = w.shape
    if x.shape[0] != in_dim or b.shape[0] != out_dim:
        raise ShapeError(
            f"{op}: w is (out, in) = {w.shape}, so x must have shape ({in_dim},) and b "
            f"({out_dim},); got x {x.shape}, b {b.shape}", rule="shape_match")
    return x, w, b


def linear(x, w, b):
    """``y[o] = sum_i w[o, i] x[i] + b[o]``, that is ``y = W x + b``.

    Parameters
    ----------
    x : ndarray, shape (in_dim,)
    w : ndarray, shape (out_dim, in_dim)
        TorchLean's and PyTorch's layout (out x in).
    b : ndarray, shape (out_dim,)

    Returns
    -------
    y : ndarray, shape (out_dim,)
    """
    x, w, b = _linear_args("linear", x, w, b)
    return np.einsum("oi,i->o", w, x) + b


def linear_vjp(x, w, b, grad_y):
    """``grad_w = g x^T``, ``grad_b = g``, ``grad_x = W^T g`` with ``g = grad_y``.

    Returns
    -------
    (grad_w, grad_b, grad_x) : tuple of ndarray
        Shapes of ``w``, ``b`` and ``x``.
    """
    x, w, b = _linear_args("linear_vjp", x, w, b)
    grad_y = cotangent("linear_vjp", "grad_y", grad_y, (w.shape[0],), x.dtype)
    grad_w = np.einsum("o,i->oi", grad_y, x)
    grad_x = np.einsum("oi,o->i", w, grad_y)
    return grad_w, grad_y.copy(), grad_x


def linear_jvp(x, w, b, dx, dw, db):
    """``dy = W dx + dW x + db`` (the product rule; linear in ``(dx, dW, db)``)."""
    x, w, b = _linear_args("linear_jvp", x, w, b)
    dx = tangent("linear_jvp", "dx", dx, x)
    dw = tangent("linear_jvp", "dw", dw, w)
    db = tangent("linear_jvp", "db", db, b)
    return np.einsum("oi,i->o", w, dx) + np.einsum("oi,i->o", dw, x) + db


# --------------------------------------------------------------------------------------
# ReLU
# --------------------------------------------------------------------------------------
def relu(x):
    """``y = max(x, 0)`` elementwise."""
    x = as_float_array("relu", "x", x)
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def relu_vjp(x, grad_y):
    """``grad_x = grad_y * [x > 0]`` (the derivative at the kink 0 is taken as 0, as PyTorch)."""
    x = as_float_array("relu_vjp", "x", x)
    grad_y = cotangent("relu_vjp", "grad_y", grad_y, x.shape, x.dtype)
    return np.where(x > 0, grad_y, 0).astype(x.dtype, copy=False)


def relu_jvp(x, dx):
    """``dy = dx * [x > 0]``: the same gate as the vjp, so the pair is self-adjoint."""
    x = as_float_array("relu_jvp", "x", x)
    dx = tangent("relu_jvp", "dx", dx, x)
    return np.where(x > 0, dx, 0).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------------------
# Global average pool
# --------------------------------------------------------------------------------------
def _spatial_axes(op: str, x) -> tuple[int, ...]:
    if x.ndim < 2:
        raise ShapeError(
            f"{op}: x must be (C, spatial...) with at least one spatial axis, got shape "
            f"{x.shape}", rule="rank")
    if any(n == 0 for n in x.shape[1:]):
        raise ShapeError(
            f"{op}: every spatial size must be positive (a mean over no cells is undefined), "
            f"got shape {x.shape}", rule="positive_size")
    return tuple(range(1, x.ndim))


def global_avg_pool(x):
    """``y[c] = (1 / |S|) sum_{s in S} x[c, s]`` over the spatial grid ``S`` of one image.

    Parameters
    ----------
    x : ndarray, shape (C, *spatial)

    Returns
    -------
    y : ndarray, shape (C,)
        PyTorch's ``AdaptiveAvgPool2d(1)`` followed by flattening.
    """
    x = as_float_array("global_avg_pool", "x", x)
    return x.mean(axis=_spatial_axes("global_avg_pool", x))


def global_avg_pool_vjp(x, grad_y):
    """``grad_x[c, s] = grad_y[c] / |S|``: each cell gets an equal share."""
    x = as_float_array("global_avg_pool_vjp", "x", x)
    _spatial_axes("global_avg_pool_vjp", x)
    grad_y = cotangent("global_avg_pool_vjp", "grad_y", grad_y, x.shape[:1], x.dtype)
    cells = x[0].size
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    return np.broadcast_to(grad_y.reshape(shape) / x.dtype.type(cells), x.shape).copy()


def global_avg_pool_jvp(x, dx):
    """``dy = global_avg_pool(dx)`` (the op is linear)."""
    x = as_float_array("global_avg_pool_jvp", "x", x)
    dx = tangent("global_avg_pool_jvp", "dx", dx, x)
    return global_avg_pool(dx)


# --------------------------------------------------------------------------------------
# Flatten
# --------------------------------------------------------------------------------------
def flatten(x):
    """``y[c * |S| + s] = x[c, s]``: channel-major (row-major, C order), as ``nn.Flatten``."""
    x = as_float_array("flatten", "x", x)
    return x.reshape(-1).copy()


def flatten_vjp(x, grad_y):
    """``grad_x = reshape(grad_y, x.shape)``: the inverse permutation-free reshape."""
    x = as_float_array("flatten_vjp", "x", x)
    grad_y = cotangent("flatten_vjp", "grad_y", grad_y, (x.size,), x.dtype)
    return grad_y.reshape(x.shape).copy()


def flatten_jvp(x, dx):
    """``dy = flatten(dx)`` (the op is linear)."""
    x = as_float_array("flatten_jvp", "x", x)
    dx = tangent("flatten_jvp", "dx", dx, x)
    return flatten(dx)


# --------------------------------------------------------------------------------------
# Concat along the leading (channel) axis
# --------------------------------------------------------------------------------------
def _concat_args(op: str, a, b):
    a = as_float_array(op, "a", a, min_ndim=1)
    b = as_float_array(op, "b", b, min_ndim=1)
    same_dtype(op, a=a, b=b)
    if a.shape[1:] != b.shape[1:]:
        raise ShapeError(
            f"{op}: a and b must agree on every axis but the leading one, got a {a.shape} "
            f"and b {b.shape}", rule="shape_match")
    return a, b


def concat(a, b):
    """``y[c] = a[c]`` for ``c < C_a``, ``y[C_a + c] = b[c]``: ``a`` FIRST, as UNet2's skip.

    Parameters
    ----------
    a : ndarray, shape (C_a, *rest)
        In UNet2, the skip feature map.
    b : ndarray, shape (C_b, *rest)
        In UNet2, the upsampled map.

    Returns
    -------
    y : ndarray, shape (C_a + C_b, *rest)
    """
    a, b = _concat_args("concat", a, b)
    return np.concatenate([a, b], axis=0)


def concat_vjp(a, b, grad_y):
    """``grad_a = grad_y[:C_a]``, ``grad_b = grad_y[C_a:]`` (the adjoint splits).

    Returns
    -------
    (grad_a, grad_b) : tuple of ndarray
        One gradient per input, in the inputs' order.
    """
    a, b = _concat_args("concat_vjp", a, b)
    shape = (a.shape[0] + b.shape[0],) + a.shape[1:]
    grad_y = cotangent("concat_vjp", "grad_y", grad_y, shape, a.dtype)
    return grad_y[: a.shape[0]].copy(), grad_y[a.shape[0]:].copy()


def concat_jvp(a, b, da, db):
    """``dy = concat(da, db)`` (the op is linear)."""
    a, b = _concat_args("concat_jvp", a, b)
    da = tangent("concat_jvp", "da", da, a)
    db = tangent("concat_jvp", "db", db, b)
    return concat(da, db)
