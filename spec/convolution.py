"""Convolution and transposed convolution: forward, VJP and JVP, as TorchLean specifies them.

Single sample, channels first, no batch axis, 1 to 3 spatial axes, float32 or float64, per-axis
``stride`` and ``padding`` (an int or one int per spatial axis). Output sizes come from the
proved formulas :func:`nnbridge.spec.shapes.conv_out` and
:func:`nnbridge.spec.shapes.conv_transpose_out`; where TorchLean's Nat reading and PyTorch's
part ways (a phantom cell from ``in + 2p < k``, the truncated transposed-conv size) the spec
raises :class:`~nnbridge.spec.errors.ShapeError` with rule ``"lean_torch_divergence"``.

The forward reads sliding windows (``sliding_window_view``) and contracts them with the kernel
by ``tensordot``, so BLAS does the arithmetic. The backward of a window read is a scatter: one
strided slice per kernel offset, accumulated.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .checks import (
    agreed_sizes,
    as_float_array,
    check_elements,
    cotangent,
    per_axis,
    same_dtype,
    spatial_rank,
    tangent,
)
from .domains import conv_agreement, conv_transpose_agreement
from .errors import Rule, ShapeError
from .formulas import conv_out, conv_transpose_out
from .ops import Geometry, Op, declare, sizes_in

__all__ = [
    "conv",
    "conv_jvp",
    "conv_transpose",
    "conv_transpose_jvp",
    "conv_transpose_vjp",
    "conv_vjp",
]


# --------------------------------------------------------------------------------------
# shared pieces: padding, windows, the scatter that is their adjoint
# --------------------------------------------------------------------------------------
def pad_spatial(x: np.ndarray, padding: tuple[int, ...], value: float = 0.0) -> np.ndarray:
    """``x`` with ``padding[i]`` cells of ``value`` on both sides of spatial axis ``i``."""
    if not any(padding):
        return x
    return np.pad(x, [(0, 0)] + [(p, p) for p in padding], constant_values=value)


def crop_spatial(x_pad: np.ndarray, padding: tuple[int, ...], size: tuple[int, ...]):
    """Inverse of :func:`pad_spatial`: the ``size`` cells after ``padding`` on each axis."""
    kept = tuple(slice(p, p + n) for p, n in zip(padding, size, strict=True))
    return x_pad[(slice(None),) + kept]


def windows(x_pad: np.ndarray, kernel, stride, out) -> np.ndarray:
    """``win[c, o..., k...] = x_pad[c, o*stride + k]``: shape ``(C, *out, *kernel)`` (a view)."""
    d = len(kernel)
    win = sliding_window_view(x_pad, tuple(kernel), axis=tuple(range(1, d + 1)))
    starts = tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, stride, strict=True))
    return win[(slice(None),) + starts]


def offset_slice(k, stride, out) -> tuple[slice, ...]:
    """The cells ``o*stride + k`` for ``o < out`` on every spatial axis (channels kept)."""
    return (slice(None),) + tuple(
        slice(ki, ki + (o - 1) * s + 1, s) for ki, s, o in zip(k, stride, out, strict=True))


def _spatial_axes(d: int, start: int = 1) -> list[int]:
    return list(range(start, start + d))


def _check_params(op: str, x, w, b, *, in_axis: int):
    d = spatial_rank(op, x)
    as_float_array(op, "w", w, ndim=d + 2)
    as_float_array(op, "b", b, ndim=1)
    same_dtype(op, x=x, w=w, b=b)
    if w.shape[in_axis] != x.shape[0]:
        layout = "(outC, inC, k...)" if in_axis == 1 else "(inC, outC, k...)"
        raise ShapeError(
            f"{op}: kernel {w.shape} (layout {layout}) expects {w.shape[in_axis]} input "
            f"channels, x {x.shape} has {x.shape[0]}", rule=Rule.CHANNELS)
    out_c = w.shape[1 - in_axis]
    if b.shape != (out_c,):
        raise ShapeError(Rule.SHAPE_MATCH, op=op, name="b", expected=(out_c,), got=b.shape)
    return d


def _setup(op, x, w, b, stride, padding):
    d = _check_params(op, x, w, b, in_axis=1)
    stride = per_axis(op, "stride", stride, d, minimum=1)
    padding = per_axis(op, "padding", padding, d)
    kernel = w.shape[2:]
    out = agreed_sizes(op, conv_out, x.shape[1:], kernel, stride, padding)
    check_elements(op, "the output", (w.shape[0], *out))
    check_elements(op, "the padded input",
                   (x.shape[0], *(n + 2 * p for n, p in zip(x.shape[1:], padding, strict=True))))
    return d, kernel, stride, padding, out


def _bias(b, d):
    return b.reshape((-1,) + (1,) * d)


# --------------------------------------------------------------------------------------
# convolution (cross-correlation), kernel (outC, inC, k...)
# --------------------------------------------------------------------------------------
def conv(x, w, b, stride=1, padding=0):
    """``y[oc, o] = sum_{ic, k} x_pad[ic, o*stride + k] * w[oc, ic, k] + b[oc]``.

    Parameters
    ----------
    x : ndarray, shape ``(inC, *S)``, 1 to 3 spatial axes
    w : ndarray, shape ``(outC, inC, *K)``
    b : ndarray, shape ``(outC,)``
    stride, padding : int or tuple of int, one per spatial axis (zero padding)

    Returns
    -------
    y : ndarray, shape ``(outC, *conv_out(S, K, stride, padding))``
    """
    d, kernel, stride, padding, out = _setup("conv", x, w, b, stride, padding)
    win = windows(pad_spatial(x, padding), kernel, stride, out)
    y = np.tensordot(w, win, axes=(_spatial_axes(d + 1), [0] + _spatial_axes(d, d + 1)))
    return y + _bias(b, d)


def conv_vjp(x, w, b, grad_y, stride=1, padding=0):
    """``grad_w = sum_o grad_y[oc, o] x_pad[ic, o*s + k]``, ``grad_b = sum_o grad_y``, and
    ``grad_x = crop(sum_k scatter_k(w[:, :, k]^T grad_y))``.

    Returns
    -------
    (grad_w, grad_b, grad_x) : parameters first, input last (TorchLean's order).

    Notes
    -----
    The forward reads ``x_pad`` at ``o*s + k``; its adjoint adds ``w[oc, ic, k] grad_y[oc, o]``
    back at the same cells, for each kernel offset ``k``, then drops the padding.
    """
    d, kernel, stride, padding, out = _setup("conv_vjp", x, w, b, stride, padding)
    grad_y = cotangent("conv_vjp", "grad_y", grad_y, (w.shape[0], *out), x.dtype)
    x_pad = pad_spatial(x, padding)
    win = windows(x_pad, kernel, stride, out)
    grad_w = np.tensordot(grad_y, win, axes=(_spatial_axes(d), _spatial_axes(d)))
    grad_b = grad_y.sum(axis=tuple(_spatial_axes(d)))
    grad_x_pad = np.zeros(x_pad.shape, dtype=np.result_type(w, grad_y))
    for k in np.ndindex(*kernel):
        w_k = w[(slice(None), slice(None)) + k]
        grad_x_pad[offset_slice(k, stride, out)] += np.tensordot(w_k, grad_y, axes=(0, 0))
    return grad_w, grad_b, crop_spatial(grad_x_pad, padding, x.shape[1:])


def _tangents(op, x, w, b, dx, dw, db):
    _check_params(op, x, w, b, in_axis=1 if op == "conv_jvp" else 0)
    return (tangent(op, "dx", dx, x), tangent(op, "dw", dw, w), tangent(op, "db", db, b))


def conv_jvp(x, w, b, dx, dw, db, stride=1, padding=0):
    """``dy = conv(dx, w, db) + conv(x, dw, 0)`` (conv is bilinear in ``x, w``, affine in ``b``).

    A tangent given as ``None`` is zero; any other must have its operand's shape and dtype.
    """
    dx, dw, db = _tangents("conv_jvp", x, w, b, dx, dw, db)
    return conv(dx, w, db, stride, padding) + conv(x, dw, np.zeros_like(db), stride, padding)


# --------------------------------------------------------------------------------------
# transposed convolution, kernel (inC, outC, k...)
# --------------------------------------------------------------------------------------
def _setup_t(op, x, w, b, stride, padding):
    d = _check_params(op, x, w, b, in_axis=0)
    stride = per_axis(op, "stride", stride, d, minimum=1)
    padding = per_axis(op, "padding", padding, d)
    kernel = w.shape[2:]
    out = agreed_sizes(op, conv_transpose_out, x.shape[1:], kernel, stride, padding)
    full = tuple((n - 1) * s + k for n, s, k in zip(x.shape[1:], stride, kernel, strict=True))
    check_elements(op, "the uncropped output", (w.shape[1], *full))
    return d, kernel, stride, padding, out, full


def conv_transpose(x, w, b, stride=1, padding=0):
    """``y[oc, o] = sum_{ic, k : o + p = i*s + k} x[ic, i] * w[ic, oc, k] + b[oc]``.

    Parameters
    ----------
    x : ndarray, shape ``(inC, *S)``
    w : ndarray, shape ``(inC, outC, *K)``
    b : ndarray, shape ``(outC,)``
    stride, padding : int or tuple of int

    Returns
    -------
    y : ndarray, shape ``(outC, *conv_transpose_out(S, K, stride, padding))``

    Notes
    -----
    Each input cell ``i`` spreads ``x[:, i] w[:, :, k]`` to the cell ``i*s + k`` of a full
    grid of size ``(n-1)*s + k``; ``padding`` cells are then cut from both ends.
    """
    d, kernel, stride, padding, out, full = _setup_t("conv_transpose", x, w, b, stride, padding)
    y_full = np.zeros((w.shape[1], *full), dtype=np.result_type(x, w))
    for k in np.ndindex(*kernel):
        w_k = w[(slice(None), slice(None)) + k]
        y_full[offset_slice(k, stride, x.shape[1:])] += np.tensordot(w_k, x, axes=(0, 0))
    return crop_spatial(y_full, padding, out) + _bias(b, d)


def conv_transpose_vjp(x, w, b, grad_y, stride=1, padding=0):
    """``grad_x[ic, i] = sum_{oc, k} grad_full[oc, i*s + k] w[ic, oc, k]``, with
    ``grad_full = pad(grad_y, padding)``; ``grad_w[ic, oc, k] = sum_i x[ic, i]
    grad_full[oc, i*s + k]``; ``grad_b = sum_o grad_y``.

    Returns
    -------
    (grad_w, grad_b, grad_x)

    Notes
    -----
    The forward scatters to ``i*s + k``, so the backward reads the same cells: a strided
    cross-correlation of the re-padded ``grad_y`` with the kernel, channel axes swapped.
    """
    d, kernel, stride, padding, out, full = _setup_t("conv_transpose_vjp", x, w, b, stride,
                                                     padding)
    grad_y = cotangent("conv_transpose_vjp", "grad_y", grad_y, (w.shape[1], *out), x.dtype)
    win = windows(pad_spatial(grad_y, padding), kernel, stride, x.shape[1:])
    k_axes = _spatial_axes(d, d + 1)
    grad_x = np.tensordot(w, win, axes=(_spatial_axes(d + 1), [0] + k_axes))
    grad_w = np.tensordot(x, win, axes=(_spatial_axes(d), _spatial_axes(d)))
    grad_b = grad_y.sum(axis=tuple(_spatial_axes(d)))
    return grad_w, grad_b, grad_x


def conv_transpose_jvp(x, w, b, dx, dw, db, stride=1, padding=0):
    """``dy = conv_transpose(dx, w, db) + conv_transpose(x, dw, 0)``; ``None`` is zero."""
    dx, dw, db = _tangents("conv_transpose_jvp", x, w, b, dx, dw, db)
    return (conv_transpose(dx, w, db, stride, padding)
            + conv_transpose(x, dw, np.zeros_like(db), stride, padding))


# --------------------------------------------------------------------------------------
# the records
# --------------------------------------------------------------------------------------
def _sample_conv(choose, rank: int, exact: bool, *, transpose: bool) -> Geometry:
    """Kernel 1..3, stride 1..2, padding 0..2 per axis; sizes inside the proved domain."""
    kernel = tuple(choose(range(1, 4)) for _ in range(rank))
    stride = tuple(choose(range(1, 3)) for _ in range(rank))
    padding = tuple(choose(range(0, 3)) for _ in range(rank))
    domain = conv_transpose_agreement if transpose else conv_agreement
    size = sizes_in(choose, domain, kernel, stride, padding)
    c_in, c_out = choose(range(1, 4)), choose(range(1, 4))
    w = (c_in, c_out) if transpose else (c_out, c_in)
    return Geometry({"x": (c_in, *size), "w": (*w, *kernel), "b": (c_out,)},
                    {"stride": stride, "padding": padding})


def _torch_conv(transpose: bool):
    def reference(x, w, b, stride, padding):
        import torch.nn.functional as F

        rank = x.dim() - 1
        fn = getattr(F, f"conv_transpose{rank}d" if transpose else f"conv{rank}d")
        return fn(x[None], w, b, stride=stride, padding=padding)[0]

    return reference


CONV = declare(Op(
    "conv", conv, conv_vjp, conv_jvp, operands=("x", "w", "b"), order=("w", "b", "x"),
    linear_in=("x", "w"), static=("stride", "padding"),
    sample=lambda choose, rank, exact: _sample_conv(choose, rank, exact, transpose=False),
    torch=_torch_conv(False), doc="cross-correlation, kernel (outC, inC, k...)"))

CONV_TRANSPOSE = declare(Op(
    "conv_transpose", conv_transpose, conv_transpose_vjp, conv_transpose_jvp,
    operands=("x", "w", "b"), order=("w", "b", "x"), linear_in=("x", "w"),
    static=("stride", "padding"),
    sample=lambda choose, rank, exact: _sample_conv(choose, rank, exact, transpose=True),
    torch=_torch_conv(True), doc="transposed convolution, kernel (inC, outC, k...)"))
