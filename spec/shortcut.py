"""Zero-padding and slicing as linear maps: ResNet's fallback shortcuts and spatial pad/crop.

Each pair is adjoint: padding with zeros is the adjoint of slicing, and the reverse, so each
op's vjp is its partner and its jvp is the op itself.

* Channels (ResNet, no projection): :func:`channel_pad` adds zero channels when
  ``inC < outC``, :func:`channel_slice` keeps the first ``outC`` channels when
  ``inC > outC``; :func:`shortcut` picks identity, pad or slice as TorchLean's fallback does.
* Space: :func:`pad` adds ``padding`` zero cells on both sides of every spatial axis,
  :func:`crop` removes them.
"""

from __future__ import annotations

import numpy as np

from .checks import as_float_array, check_elements, cotangent, count, tangent
from .errors import ShapeError

__all__ = [
    "channel_pad",
    "channel_pad_jvp",
    "channel_pad_vjp",
    "channel_slice",
    "channel_slice_jvp",
    "channel_slice_vjp",
    "crop",
    "crop_jvp",
    "crop_vjp",
    "pad",
    "pad_jvp",
    "pad_vjp",
    "shortcut",
    "shortcut_jvp",
    "shortcut_vjp",
]


# --------------------------------------------------------------------------------------
# Channels
# --------------------------------------------------------------------------------------
def _channel_args(op: str, x, out_channels, relation: str):
    x = as_float_array(op, "x", x, min_ndim=1)
    out_channels = count(op, "out_channels", out_channels)
    check_elements(op, "the output", (out_channels, *x.shape[1:]))
    in_channels = x.shape[0]
    ok = {"pad": in_channels <= out_channels, "slice": in_channels >= out_channels,
          "any": True}[relation]
    if not ok:
        need = "<=" if relation == "pad" else ">="
        raise ShapeError(
            f"{op}: needs inC {need} outC, got inC={in_channels}, outC={out_channels}",
            rule="channels")
    return x, out_channels


def channel_pad(x, out_channels):
    """``y[c] = x[c]`` for ``c < inC``, ``y[c] = 0`` for ``inC <= c < outC``."""
    x, out_channels = _channel_args("channel_pad", x, out_channels, "pad")
    y = np.zeros((out_channels,) + x.shape[1:], dtype=x.dtype)
    y[: x.shape[0]] = x
    return y


def channel_pad_vjp(x, out_channels, grad_y):
    """``grad_x = grad_y[:inC]``: the adjoint of zero-padding slices."""
    x, out_channels = _channel_args("channel_pad_vjp", x, out_channels, "pad")
    grad_y = cotangent("channel_pad_vjp", "grad_y", grad_y,
                         (out_channels,) + x.shape[1:], x.dtype)
    return grad_y[: x.shape[0]].copy()


def channel_pad_jvp(x, out_channels, dx):
    """``dy = channel_pad(dx, outC)`` (the op is linear)."""
    x, out_channels = _channel_args("channel_pad_jvp", x, out_channels, "pad")
    dx = tangent("channel_pad_jvp", "dx", dx, x)
    return channel_pad(dx, out_channels)


def channel_slice(x, out_channels):
    """``y[c] = x[c]`` for ``c < outC``: the first ``outC`` channels."""
    x, out_channels = _channel_args("channel_slice", x, out_channels, "slice")
    return x[:out_channels].copy()


def channel_slice_vjp(x, out_channels, grad_y):
    """``grad_x[c] = grad_y[c]`` for ``c < outC``, 0 above: the adjoint injects zeros."""
    x, out_channels = _channel_args("channel_slice_vjp", x, out_channels, "slice")
    grad_y = cotangent("channel_slice_vjp", "grad_y", grad_y,
                         (out_channels,) + x.shape[1:], x.dtype)
    grad_x = np.zeros_like(x)
    grad_x[:out_channels] = grad_y
    return grad_x


def channel_slice_jvp(x, out_channels, dx):
    """``dy = channel_slice(dx, outC)`` (the op is linear)."""
    x, out_channels = _channel_args("channel_slice_jvp", x, out_channels, "slice")
    dx = tangent("channel_slice_jvp", "dx", dx, x)
    return channel_slice(dx, out_channels)


def shortcut(x, out_channels):
    """TorchLean's fallback shortcut: ``x`` if ``inC = outC``, else channel pad or slice."""
    x, out_channels = _channel_args("shortcut", x, out_channels, "any")
    if x.shape[0] == out_channels:
        return x.copy()
    if x.shape[0] < out_channels:
        return channel_pad(x, out_channels)
    return channel_slice(x, out_channels)


def shortcut_vjp(x, out_channels, grad_y):
    """The adjoint of :func:`shortcut`: identity, slice or zero injection."""
    x, out_channels = _channel_args("shortcut_vjp", x, out_channels, "any")
    if x.shape[0] == out_channels:
        return cotangent("shortcut_vjp", "grad_y", grad_y, x.shape, x.dtype).copy()
    if x.shape[0] < out_channels:
        return channel_pad_vjp(x, out_channels, grad_y)
    return channel_slice_vjp(x, out_channels, grad_y)


def shortcut_jvp(x, out_channels, dx):
    """``dy = shortcut(dx, outC)`` (the op is linear)."""
    x, out_channels = _channel_args("shortcut_jvp", x, out_channels, "any")
    dx = tangent("shortcut_jvp", "dx", dx, x)
    return shortcut(dx, out_channels)


# --------------------------------------------------------------------------------------
# Space
# --------------------------------------------------------------------------------------
def _padding_tuple(op: str, x, padding) -> tuple[int, ...]:
    x = as_float_array(op, "x", x)
    if x.ndim < 2:
        raise ShapeError(
            f"{op}: x must be (C, spatial...) with at least one spatial axis, got shape "
            f"{x.shape}", rule="rank")
    axes = x.ndim - 1
    if isinstance(padding, (tuple, list)):
        if len(padding) != axes:
            raise ShapeError(
                f"{op}: padding {tuple(padding)!r} has {len(padding)} entries but x {x.shape} "
                f"has {axes} spatial axes", rule="axis_count")
        pads = tuple(count(op, f"padding[{i}]", p) for i, p in enumerate(padding))
    else:
        pads = (count(op, "padding", padding),) * axes
    check_elements(op, "the padded array",
                   (x.shape[0], *(n + 2 * p for n, p in zip(x.shape[1:], pads, strict=True))))
    return pads


def pad(x, padding):
    """``y[c, s + p] = x[c, s]``, zero elsewhere: ``p`` zero cells on both sides of each axis.

    Parameters
    ----------
    x : ndarray, shape (C, *spatial)
    padding : int or tuple of int, one per spatial axis

    Returns
    -------
    y : ndarray, shape (C, *(n + 2p))
    """
    pads = _padding_tuple("pad", x, padding)
    return np.pad(x, ((0, 0),) + tuple((p, p) for p in pads))


def _crop_view(x, pads):
    inner = tuple(slice(p, n - p) for p, n in zip(pads, x.shape[1:], strict=True))
    return x[(slice(None),) + inner]


def pad_vjp(x, padding, grad_y):
    """``grad_x[c, s] = grad_y[c, s + p]``: the adjoint of padding crops."""
    pads = _padding_tuple("pad_vjp", x, padding)
    shape = x.shape[:1] + tuple(n + 2 * p for n, p in zip(x.shape[1:], pads, strict=True))
    grad_y = cotangent("pad_vjp", "grad_y", grad_y, shape, x.dtype)
    return _crop_view(grad_y, pads).copy()


def pad_jvp(x, padding, dx):
    """``dy = pad(dx, padding)`` (the op is linear)."""
    _padding_tuple("pad_jvp", x, padding)
    dx = tangent("pad_jvp", "dx", dx, x)
    return pad(dx, padding)


def _crop_pads(op: str, x, padding):
    pads = _padding_tuple(op, x, padding)
    for i, (n, p) in enumerate(zip(x.shape[1:], pads, strict=True)):
        if n < 2 * p:
            raise ShapeError(
                f"{op}: spatial axis {i} has {n} cells, fewer than the 2*padding={2 * p} "
                "to remove", rule="shape_match")
    return pads


def crop(x, padding):
    """``y[c, s] = x[c, s + p]`` for ``0 <= s < n - 2p``: removes ``p`` cells from each side."""
    pads = _crop_pads("crop", x, padding)
    return _crop_view(x, pads).copy()


def crop_vjp(x, padding, grad_y):
    """``grad_x = pad(grad_y, padding)``: the adjoint of cropping injects zeros."""
    pads = _crop_pads("crop_vjp", x, padding)
    shape = x.shape[:1] + tuple(n - 2 * p for n, p in zip(x.shape[1:], pads, strict=True))
    grad_y = cotangent("crop_vjp", "grad_y", grad_y, shape, x.dtype)
    return pad(grad_y, pads)


def crop_jvp(x, padding, dx):
    """``dy = crop(dx, padding)`` (the op is linear)."""
    _crop_pads("crop_jvp", x, padding)
    dx = tangent("crop_jvp", "dx", dx, x)
    return crop(dx, padding)
