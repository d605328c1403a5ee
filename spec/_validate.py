"""Argument checks shared by the basic-op and model specs: arrays, dtypes, shapes.

Every failure is a :class:`ShapeError` that names the op, the argument and the values.
"""

from __future__ import annotations

import numpy as np

from .errors import ShapeError

__all__ = [
    "FLOAT_DTYPES",
    "as_float_array",
    "check_count",
    "check_same_dtype",
    "check_shape",
    "tangent",
]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(op: str, name: str, value, *, ndim: int | None = None,
                   min_ndim: int = 0) -> np.ndarray:
    """``value`` as an ndarray of float32 or float64 with the given rank, or a ShapeError."""
    if not isinstance(value, np.ndarray):
        raise ShapeError(
            f"{op}: {name} must be a numpy array of float32 or float64, got "
            f"{type(value).__name__}", rule="array_type")
    if value.dtype not in FLOAT_DTYPES:
        raise ShapeError(
            f"{op}: {name} must be float32 or float64, got dtype {value.dtype}",
            rule="float_dtype")
    if ndim is not None and value.ndim != ndim:
        raise ShapeError(
            f"{op}: {name} must have {ndim} axes, got shape {value.shape}", rule="rank")
    if value.ndim < min_ndim:
        raise ShapeError(
            f"{op}: {name} must have at least {min_ndim} axes, got shape {value.shape}",
            rule="rank")
    return value


def check_same_dtype(op: str, **arrays: np.ndarray) -> None:
    """All arrays share one dtype (no silent float32/float64 promotion)."""
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        shown = ", ".join(f"{n}: {d}" for n, d in dtypes.items())
        raise ShapeError(f"{op}: arguments must share one dtype, got {shown}", rule="dtype_mix")


def check_shape(op: str, name: str, value, shape: tuple, dtype) -> np.ndarray:
    """``value`` is a float array of exactly ``shape`` and ``dtype`` (a gradient or tangent)."""
    value = as_float_array(op, name, value)
    if value.shape != tuple(shape):
        raise ShapeError(
            f"{op}: {name} must have shape {tuple(shape)}, got {value.shape}", rule="shape_match")
    if value.dtype != dtype:
        raise ShapeError(
            f"{op}: {name} must have dtype {np.dtype(dtype)}, got {value.dtype}",
            rule="dtype_mix")
    return value


def tangent(op: str, name: str, value, like: np.ndarray) -> np.ndarray:
    """A jvp's tangent: ``None`` means zero, anything else must match ``like`` exactly."""
    if value is None:
        return np.zeros_like(like)
    return check_shape(op, name, value, like.shape, like.dtype)


def check_count(op: str, name: str, value, *, minimum: int = 0) -> int:
    """``value`` is a Python int (not bool) at least ``minimum``: a channel count, a size."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ShapeError(
            f"{op}: {name} must be an integer, got {value!r} ({type(value).__name__})",
            rule="integer_size")
    if value < minimum:
        raise ShapeError(
            f"{op}: {name} must be at least {minimum}, got {name}={value}", rule="nonneg_size")
    return int(value)
