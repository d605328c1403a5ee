"""Argument checks and launch geometry shared by the kernel launchers.

Every size comes from the proved formulas of :mod:`nnbridge.spec.shapes`, with the specs'
rule (:func:`nnbridge.spec.checks.agreed_sizes`): the kernels compute where TorchLean's Nat
reading and PyTorch's agree, and raise :class:`~nnbridge.spec.errors.ShapeError` (rule
``"lean_torch_divergence"``) where they part ways, exactly where the specs do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from nnbridge.spec.checks import agreed_sizes
from nnbridge.spec.errors import ShapeError
from nnbridge.spec.shapes import conv_out, conv_transpose_out, pool_out

__all__ = ["Geometry", "conv_geometry", "conv_transpose_geometry", "pool_geometry", "prepare"]

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_INT_MAX = 2**31 - 1


def prepare(be, op: str, **arrays):
    """Check dtypes (float32 or float64, all the same) and return contiguous backend arrays.

    ``None`` passes through (an absent bias).
    """
    dtypes = {}
    for name, a in arrays.items():
        if a is None:
            continue
        dtype = getattr(a, "dtype", None)
        if dtype is None:
            raise ShapeError(
                f"{op}: {name} must be an array (numpy or cupy), got {type(a).__name__}",
                rule="array_type",
            )
        if np.dtype(dtype) not in _DTYPES:
            raise ShapeError(
                f"{op}: {name} has dtype {np.dtype(dtype)}; the kernels take float32 or float64",
                rule="dtype",
            )
        dtypes[name] = np.dtype(dtype)
    if len(set(dtypes.values())) > 1:
        shown = ", ".join(f"{n}={d}" for n, d in dtypes.items())
        raise ShapeError(f"{op}: arrays must share one dtype, got {shown}", rule="dtype")
    out = tuple(None if a is None else be.asarray(a) for a in arrays.values())
    return out


@dataclass(frozen=True)
class Geometry:
    """Sizes of one launch: ``in_shape`` is the image side of im2col / col2im, ``out_shape``
    the window positions; ``kernel, stride, padding`` per real axis."""

    n: int
    c_in: int
    c_out: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]

    @property
    def out_vol(self) -> int:
        return math.prod(self.out_shape)

    @property
    def in_vol(self) -> int:
        return math.prod(self.in_shape)

    @property
    def k_vol(self) -> int:
        return math.prod(self.kernel)

    def args(self) -> tuple[int, ...]:
        """The 15 ints the kernels take, embedded in three axes (leading axes: size 1,
        kernel 1, stride 1, padding 0)."""
        lead = 3 - len(self.in_shape)

        def three(values, fill):
            return (fill,) * lead + tuple(values)

        return (*three(self.in_shape, 1), *three(self.out_shape, 1), *three(self.kernel, 1),
                *three(self.stride, 1), *three(self.padding, 0))


def _spatial_rank(op: str, name: str, shape) -> int:
    if len(shape) not in (3, 4, 5):
        raise ShapeError(
            f"{op}: {name} must be (N, C, *spatial) with 1 to 3 spatial axes, got shape "
            f"{tuple(shape)}", rule="rank",
        )
    return len(shape) - 2


def _per_axis(op: str, name: str, value, rank: int, minimum: int = 0) -> tuple[int, ...]:
    values = _ints(op, name, value, rank)
    for axis, v in enumerate(values):
        if v < minimum:
            raise ShapeError(
                f"{op}: {name}[{axis}] must be at least {minimum}, got {name}={values}",
                rule=f"{name}_positive" if minimum == 1 else "nonneg_size")
    return values


def _ints(op: str, name: str, value, rank: int) -> tuple[int, ...]:
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * rank
    if isinstance(value, (tuple, list)):
        if len(value) != rank:
            raise ShapeError(
                f"{op}: {name}={tuple(value)!r} has {len(value)} entries for {rank} spatial "
                f"axes", rule="axis_count",
            )
        values = tuple(int(v) if isinstance(v, np.integer) else v for v in value)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int):
                raise ShapeError(f"{op}: {name} entries must be integers, got {value!r}",
                                 rule="integer_size")
        return values
    raise ShapeError(f"{op}: {name} must be an int or a tuple of {rank} ints, got {value!r}",
                     rule="integer_size")


def _check_int32(op: str, sizes) -> None:
    for size in sizes:
        if size > _INT_MAX:
            raise ShapeError(f"{op}: size {size} (an axis, or a per-plane volume) exceeds the "
                             "kernels' int32 index range 2**31 - 1", rule="too_large")


def _check_bias(op: str, b, c_out: int) -> None:
    if b is not None and tuple(b.shape) != (c_out,):
        raise ShapeError(f"{op}: bias must have shape ({c_out},), got {tuple(b.shape)}",
                         rule="shape_match")


def _check_grad(op: str, grad_y, expected: tuple[int, ...]) -> None:
    if grad_y is not None and tuple(grad_y) != expected:
        raise ShapeError(f"{op}: grad_y must have the output's shape {expected}, got "
                         f"{tuple(grad_y)}", rule="shape_match")


def conv_geometry(op, x_shape, w_shape, b, stride, padding, grad_y=None) -> Geometry:
    """Geometry of ``conv`` with x ``(N, C_in, *s)`` and w ``(C_out, C_in, *k)``."""
    rank = _spatial_rank(op, "x", x_shape)
    if len(w_shape) != len(x_shape):
        raise ShapeError(f"{op}: weight must be (C_out, C_in, *kernel) with {rank} kernel "
                         f"axes (x has shape {tuple(x_shape)}), got shape {tuple(w_shape)}",
                         rule="rank")
    n, c_in, *spatial = x_shape
    c_out, w_c_in, *kernel = w_shape
    if w_c_in != c_in:
        raise ShapeError(f"{op}: weight expects {w_c_in} input channels, x has {c_in}",
                         rule="channels")
    _check_bias(op, b, c_out)
    s = _per_axis(op, "stride", stride, rank, minimum=1)
    p = _per_axis(op, "padding", padding, rank)
    _per_axis(op, "kernel", tuple(kernel), rank, minimum=1)
    out = agreed_sizes(op, conv_out, tuple(spatial), tuple(kernel), s, p)
    _check_grad(op, grad_y, (n, c_out, *out))
    _check_int32(op, (*spatial, *out, *kernel, *s, *p, math.prod(spatial),
                      math.prod(kernel) * math.prod(out)))
    return Geometry(n, c_in, c_out, tuple(spatial), tuple(out), tuple(kernel), s, p)


def conv_transpose_geometry(op, x_shape, w_shape, b, stride, padding, grad_y=None) -> Geometry:
    """Geometry of ``conv_transpose``: the image side is the OUTPUT, the windows the input."""
    rank = _spatial_rank(op, "x", x_shape)
    if len(w_shape) != len(x_shape):
        raise ShapeError(f"{op}: weight must be (C_in, C_out, *kernel) with {rank} kernel "
                         f"axes (x has shape {tuple(x_shape)}), got shape {tuple(w_shape)}",
                         rule="rank")
    n, c_in, *spatial = x_shape
    w_c_in, c_out, *kernel = w_shape
    if w_c_in != c_in:
        raise ShapeError(f"{op}: weight expects {w_c_in} input channels, x has {c_in}",
                         rule="channels")
    _check_bias(op, b, c_out)
    s = _per_axis(op, "stride", stride, rank, minimum=1)
    p = _per_axis(op, "padding", padding, rank)
    _per_axis(op, "kernel", tuple(kernel), rank, minimum=1)
    out = agreed_sizes(op, conv_transpose_out, tuple(spatial), tuple(kernel), s, p)
    _check_grad(op, grad_y, (n, c_out, *out))
    _check_int32(op, (*spatial, *out, *kernel, *s, *p, math.prod(out),
                      math.prod(kernel) * math.prod(spatial)))
    return Geometry(n, c_in, c_out, tuple(out), tuple(spatial), tuple(kernel), s, p)


def pool_geometry(op, x_shape, kernel, stride, padding, kind, grad_y=None) -> Geometry:
    """Geometry of a pool over x ``(N, C, *s)``; channels are folded into planes."""
    rank = _spatial_rank(op, "x", x_shape)
    n, c, *spatial = x_shape
    k = _per_axis(op, "kernel", kernel, rank, minimum=1)
    s = k if stride is None else _per_axis(op, "stride", stride, rank, minimum=1)
    p = _per_axis(op, "padding", padding, rank)
    out = agreed_sizes(op, pool_out, tuple(spatial), k, s, p, op=kind)
    _check_grad(op, grad_y, (n, c, *out))
    _check_int32(op, (*spatial, *out, *k, *s, *p, math.prod(spatial), math.prod(out),
                      math.prod(k)))
    return Geometry(n, c, c, tuple(spatial), tuple(out), k, s, p)
