"""Argument checks shared by the layer specs: arrays, per-axis tuples, Lean/PyTorch sizes.

Scalar rule -> per-axis tuple -> validation with the values in the message. Every failure is
a :class:`ShapeError` naming the rule and the values; library code never uses ``assert``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import ShapeError

__all__ = [
    "FLOAT_DTYPES",
    "agreed_sizes",
    "as_float_array",
    "per_axis",
    "spatial_rank",
]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(op: str, name: str, value, *, ndim: int | tuple[int, ...] | None = None):
    """``value`` as a float32/float64 ndarray, or a ShapeError naming ``op`` and ``name``."""
    if not isinstance(value, np.ndarray):
        raise ShapeError(
            f"{op}: {name} must be a numpy array, got {type(value).__name__}", rule="array_type")
    if value.dtype not in FLOAT_DTYPES:
        raise ShapeError(
            f"{op}: {name} must be float32 or float64, got dtype {value.dtype}", rule="dtype")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if value.ndim not in allowed:
            raise ShapeError(
                f"{op}: {name} must have {' or '.join(map(str, allowed))} axes, got shape "
                f"{value.shape}", rule="array_rank")
    return value


def spatial_rank(op: str, x: np.ndarray) -> int:
    """Number of spatial axes of a channels-first sample ``(C, *S)``: 1, 2 or 3."""
    as_float_array(op, "x", x, ndim=(2, 3, 4))
    return x.ndim - 1


def per_axis(op: str, name: str, value, rank: int, *, minimum: int = 0) -> tuple[int, ...]:
    """An int or a length-``rank`` sequence of ints, as a tuple; each at least ``minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != rank:
            raise ShapeError(
                f"{op}: {name}={tuple(value)!r} has {len(value)} axes, the input has {rank} "
                "spatial axes", rule="axis_count")
        values = tuple(value)
    else:
        values = (value,) * rank
    out = []
    for axis, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ShapeError(
                f"{op}: {name}[{axis}] must be an integer, got {v!r} ({type(v).__name__})",
                rule="integer_size")
        if v < minimum:
            raise ShapeError(
                f"{op}: {name}[{axis}] must be at least {minimum}, got {name}={tuple(values)}",
                rule=f"{name}_positive" if minimum == 1 else "nonneg_size")
        out.append(int(v))
    return tuple(out)


def agreed_sizes(layer: str, formula, *args, **kwargs) -> tuple[int, ...]:
    """Output sizes where TorchLean's Nat reading and PyTorch's reading of ``formula`` agree.

    ``formula`` is one of the proved shape formulas of :mod:`nnbridge.spec.shapes`. Where the
    ``"lean"`` reading gives a size that PyTorch refuses or computes differently (a phantom
    cell from ``in + 2p < k``, a truncated transposed-conv size), the spec has no honest
    answer, so it raises a ShapeError with rule ``"lean_torch_divergence"`` naming both.
    """
    lean = formula(*args, semantics="lean", **kwargs)
    try:
        torch = formula(*args, semantics="torch", **kwargs)
    except ShapeError as exc:
        raise ShapeError(
            f"{layer}: TorchLean's Nat formula gives output size {lean} but PyTorch refuses these "
            f"sizes (rule {exc.rule!r}): {exc}", rule="lean_torch_divergence") from exc
    if lean != torch:
        raise ShapeError(
            f"{layer}: TorchLean's Nat formula gives output size {lean}, PyTorch gives {torch} "
            f"(arguments {args}); Lean's truncated subtraction makes a phantom size here",
            rule="lean_torch_divergence")
    return tuple(lean)
