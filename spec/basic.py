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

from .checks import as_float_array, cotangent, number, same_dtype, tangent
from .errors import Rule, ShapeError
from .norm import batch_norm, batch_norm_jvp, batch_norm_vjp
from .ops import Geometry, Op, declare
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
    "add",
    "add_jvp",
    "add_vjp",
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
    "leaky_relu",
    "leaky_relu_jvp",
    "leaky_relu_vjp",
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


# --------------------------------------------------------------------------------------
# Residual add
# --------------------------------------------------------------------------------------
def _add_args(op: str, a, b):
    a = as_float_array(op, "a", a)
    b = as_float_array(op, "b", b)
    same_dtype(op, a=a, b=b)
    if a.shape != b.shape:
        raise ShapeError(Rule.SHAPE_MATCH, op=op, name="b", expected=a.shape, got=b.shape)
    return a, b


def add(a, b):
    """``y = a + b`` (the residual sum; no broadcasting)."""
    a, b = _add_args("add", a, b)
    return a + b


def add_vjp(a, b, grad_y):
    """``grad_a = grad_b = grad_y``."""
    a, b = _add_args("add_vjp", a, b)
    grad_y = cotangent("add_vjp", "grad_y", grad_y, a.shape, a.dtype)
    return grad_y.copy(), grad_y.copy()


def add_jvp(a, b, da, db):
    """``dy = da + db``."""
    a, b = _add_args("add_jvp", a, b)
    return tangent("add_jvp", "da", da, a) + tangent("add_jvp", "db", db, b)


# --------------------------------------------------------------------------------------
# Leaky ReLU
# --------------------------------------------------------------------------------------
def _slope(op: str, negative_slope) -> float:
    return number(op, "negative_slope", negative_slope)


def leaky_relu(x, negative_slope=0.01):
    """``y = x`` where ``x > 0``, else ``negative_slope * x`` (``F.leaky_relu``)."""
    x = as_float_array("leaky_relu", "x", x)
    a = x.dtype.type(_slope("leaky_relu", negative_slope))
    return np.where(x > 0, x, a * x).astype(x.dtype, copy=False)


def leaky_relu_vjp(x, grad_y, negative_slope=0.01):
    """``grad_x = grad_y * (1 if x > 0 else negative_slope)`` (at 0: the slope, as PyTorch)."""
    x = as_float_array("leaky_relu_vjp", "x", x)
    a = x.dtype.type(_slope("leaky_relu_vjp", negative_slope))
    grad_y = cotangent("leaky_relu_vjp", "grad_y", grad_y, x.shape, x.dtype)
    return np.where(x > 0, grad_y, a * grad_y).astype(x.dtype, copy=False)


def leaky_relu_jvp(x, dx, negative_slope=0.01):
    """``dy = dx * (1 if x > 0 else negative_slope)``: the same gate as the vjp."""
    x = as_float_array("leaky_relu_jvp", "x", x)
    a = x.dtype.type(_slope("leaky_relu_jvp", negative_slope))
    dx = tangent("leaky_relu_jvp", "dx", dx, x)
    return np.where(x > 0, dx, a * dx).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------------------
# the records
# --------------------------------------------------------------------------------------
def _image(choose, rank: int, *, sizes=range(1, 6), channels=range(1, 4)) -> tuple[int, ...]:
    return (choose(channels), *(choose(sizes) for _ in range(rank)))


def _x_only(**static_choices):
    """A sampler of one image ``x``; each static argument drawn from its options."""
    def sample(choose, rank, exact):
        return Geometry({"x": _image(choose, rank)},
                        {k: choose(v) for k, v in static_choices.items()})
    return sample


def _torch_linear(x, w, b):
    import torch.nn.functional as F

    return F.linear(x, w, b)


def _sample_linear(choose, rank, exact):
    n_in, n_out = choose(range(1, 7)), choose(range(1, 7))
    return Geometry({"x": (n_in,), "w": (n_out, n_in), "b": (n_out,)})


LINEAR = declare(Op(
    "linear", linear, linear_vjp, linear_jvp, operands=("x", "w", "b"), order=("w", "b", "x"),
    linear_in=("x", "w"), sample=_sample_linear, ranks=(0,), torch=_torch_linear,
    doc="y = W x + b"))


def _torch_relu(x):
    import torch.nn.functional as F

    return F.relu(x)


RELU = declare(Op(
    "relu", relu, relu_vjp, relu_jvp, operands=("x",), order=("x",), sample=_x_only(),
    draws={"x": "away_from_zero"}, torch=_torch_relu, doc="max(x, 0)"))


def _torch_leaky_relu(x, negative_slope):
    import torch.nn.functional as F

    return F.leaky_relu(x, negative_slope)


def _sample_leaky_relu(choose, rank, exact):
    # dyadic slopes in exact mode: every product stays exact
    slopes = (0.25, 0.5, 2.0) if exact else (0.01, 0.2, 0.25)
    return Geometry({"x": _image(choose, rank)}, {"negative_slope": choose(slopes)})


LEAKY_RELU = declare(Op(
    "leaky_relu", leaky_relu, leaky_relu_vjp, leaky_relu_jvp, operands=("x",), order=("x",),
    static=("negative_slope",), sample=_sample_leaky_relu, draws={"x": "away_from_zero"},
    torch=_torch_leaky_relu, doc="x if x > 0 else negative_slope * x"))


def _torch_batch_norm(x, gamma, beta, eps):
    import torch.nn.functional as F

    return F.batch_norm(x[None], None, None, gamma, beta, training=True, eps=eps)[0]


def _sample_batch_norm(choose, rank, exact):
    # several values per channel (PyTorch needs two; with few, the variance is ill-conditioned
    # and a float32 adjoint residual is dominated by cancellation, not by the rule)
    x = _image(choose, rank, sizes=range(4, 8) if rank == 1 else range(2, 6))
    return Geometry({"x": x, "gamma": x[:1], "beta": x[:1]}, {"eps": 1e-6})


BATCH_NORM = declare(Op(
    "batch_norm", batch_norm, batch_norm_vjp, batch_norm_jvp, operands=("x", "gamma", "beta"),
    order=("gamma", "beta", "x"), static=("eps",), sample=_sample_batch_norm, exact=False,
    torch=_torch_batch_norm, doc="per-image batch norm, biased variance (TorchLean)"))


def _torch_global_avg_pool(x):
    return x.mean(dim=tuple(range(1, x.dim())))


def _sample_gap(choose, rank, exact):
    # dyadic cell counts in exact mode keep the mean exact
    sizes = (1, 2, 4) if exact else range(1, 6)
    return Geometry({"x": _image(choose, rank, sizes=sizes)})


GLOBAL_AVG_POOL = declare(Op(
    "global_avg_pool", global_avg_pool, global_avg_pool_vjp, global_avg_pool_jvp,
    operands=("x",), order=("x",), linear_in=("x",), sample=_sample_gap,
    torch=_torch_global_avg_pool, doc="mean over the spatial grid"))


def _torch_flatten(x):
    return x.reshape(-1)


FLATTEN = declare(Op(
    "flatten", flatten, flatten_vjp, flatten_jvp, operands=("x",), order=("x",),
    linear_in=("x",), sample=_x_only(), torch=_torch_flatten, doc="channel-major flatten"))


def _torch_concat(a, b):
    import torch

    return torch.cat([a, b], 0)


def _sample_concat(choose, rank, exact):
    rest = _image(choose, rank)[1:]
    return Geometry({"a": (choose(range(1, 4)), *rest), "b": (choose(range(1, 4)), *rest)})


CONCAT = declare(Op(
    "concat", concat, concat_vjp, concat_jvp, operands=("a", "b"), order=("a", "b"),
    linear_in=("a", "b"), sample=_sample_concat, torch=_torch_concat,
    doc="channel concat, the skip first"))


def _torch_channel_pad(x, out_channels):
    import torch.nn.functional as F

    if out_channels <= x.shape[0]:
        return x[:out_channels]
    return F.pad(x, (0, 0) * (x.dim() - 1) + (0, out_channels - x.shape[0]))


def _sample_channels(relation: str):
    def sample(choose, rank, exact):
        x = _image(choose, rank)
        delta = choose(range(0, 3))
        out = {"pad": x[0] + delta, "slice": max(x[0] - delta, 0),
               "any": choose(range(0, 6))}[relation]
        return Geometry({"x": x}, {"out_channels": out})
    return sample


for _name, _relation in (("channel_pad", "pad"), ("channel_slice", "slice"),
                         ("shortcut", "any")):
    declare(Op(
        _name, globals()[_name], globals()[f"{_name}_vjp"], globals()[f"{_name}_jvp"],
        operands=("x",), order=("x",), linear_in=("x",), static=("out_channels",),
        sample=_sample_channels(_relation), torch=_torch_channel_pad,
        doc="ResNet channel shortcut: zero channels appended, or the first kept"))


def _torch_pad(x, padding, sign=1):
    import torch.nn.functional as F

    pads = padding if isinstance(padding, tuple) else (padding,) * (x.dim() - 1)
    return F.pad(x, tuple(sign * p for p in reversed(pads) for _ in range(2)))


def _sample_pad(crop_: bool):
    def sample(choose, rank, exact):
        x = _image(choose, rank, sizes=range(1, 7))
        pads = tuple(choose(range(0, n // 2 + 1) if crop_ else range(0, 3)) for n in x[1:])
        return Geometry({"x": x}, {"padding": pads if choose((True, False)) else pads[0]}
                        if len(set(pads)) == 1 else {"padding": pads})
    return sample


PAD = declare(Op(
    "pad", pad, pad_vjp, pad_jvp, operands=("x",), order=("x",), linear_in=("x",),
    static=("padding",), sample=_sample_pad(False), torch=_torch_pad,
    doc="zero cells on both sides of each spatial axis"))

CROP = declare(Op(
    "crop", crop, crop_vjp, crop_jvp, operands=("x",), order=("x",), linear_in=("x",),
    static=("padding",), sample=_sample_pad(True),
    torch=lambda x, padding: _torch_pad(x, padding, sign=-1),
    doc="cells removed from both sides of each spatial axis"))


def _torch_add(a, b):
    return a + b


def _sample_add(choose, rank, exact):
    x = _image(choose, rank)
    return Geometry({"a": x, "b": x})


ADD = declare(Op(
    "add", add, add_vjp, add_jvp, operands=("a", "b"), order=("a", "b"), linear_in=("a", "b"),
    sample=_sample_add, torch=_torch_add, doc="the residual sum"))
