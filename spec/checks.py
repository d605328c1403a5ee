"""The one place arguments are checked: integers, per-axis tuples, arrays, dtypes, gradients.

Scalar rule -> per-axis tuple -> validation with the values in the message (as JAX's lax
does). Used by every spec op, every kernel launcher and the command line, so that one bad
value gives one error whichever door it came in by. Every failure is a
:class:`~nnbridge.spec.errors.ShapeError` naming a :class:`~nnbridge.spec.errors.Rule` and
the values; library code never uses ``assert``.

Dtype policy
------------
Operands are float32 or float64, and all operands of one call share one dtype: nnbridge
never promotes silently (PyTorch refuses ``conv2d`` of a float32 input with a float64 kernel
too). Gradients and tangents must have the dtype of the value they belong to. Boolean and
integer arrays are refused, not cast: a bool ``grad_y`` would otherwise count as 0/1.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .arith import shown
from .errors import Rule, ShapeError

__all__ = [
    "FLOAT_DTYPES",
    "MAX_ELEMENTS",
    "agreed_sizes",
    "as_float_array",
    "check_elements",
    "cotangent",
    "count",
    "integer",
    "number",
    "per_axis",
    "same_dtype",
    "spatial_rank",
    "tangent",
]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: The largest kernel, stride, padding or dilation a layer takes: PyTorch keeps them in a C
#: ``int`` (a larger stride raises "value cannot be converted to type int without overflow").
MAX_LAYER_ARG = 2**31 - 1

#: The most elements one array an op allocates may have (2**31: 16 GiB of float64). Larger
#: sizes are refused by name before NumPy's allocator sees them.
MAX_ELEMENTS = 2**31


def integer(op: str, name: str, value, *, minimum: int | None = None) -> int:
    """``value`` as an ``int``: a Python or NumPy integer, never a bool, float or string."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ShapeError(Rule.INTEGER_SIZE, op=op, name=name,
                         value=f"{shown(value)} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        rule = Rule.NONNEG_SIZE if minimum == 0 else _positive_rule(name)
        raise ShapeError(
            f"{op}: {name} must be at least {minimum}, got {name}={shown(value)}", rule=rule)
    return value


def count(op: str, name: str, value, *, minimum: int = 0) -> int:
    """A channel count or size: an integer at least ``minimum``."""
    return integer(op, name, value, minimum=minimum)


def _positive_rule(name: str) -> Rule:
    base = name.split("[")[0]
    return {"kernel": Rule.KERNEL_POSITIVE, "stride": Rule.STRIDE_POSITIVE,
            "dilation": Rule.DILATION_POSITIVE}.get(base, Rule.POSITIVE_SIZE)


def number(op: str, name: str, value, *, positive: bool = False, nonzero: bool = False) -> float:
    """A finite real number (not a bool) as a ``float``; optionally ``> 0`` or ``!= 0``."""
    extra = " above 0" if positive else " other than 0" if nonzero else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ShapeError(Rule.NUMBER, op=op, name=name, extra=extra, value=shown(value))
    try:
        result = float(value)
    except OverflowError:
        raise ShapeError(Rule.NUMBER, op=op, name=name, extra=extra, value=shown(value)) from None
    if not math.isfinite(result) or (positive and result <= 0) or (nonzero and result == 0):
        raise ShapeError(Rule.NUMBER, op=op, name=name, extra=extra, value=shown(value))
    return result


def per_axis(op: str, name: str, value, rank: int, *, minimum: int = 0,
             maximum: int = MAX_LAYER_ARG) -> tuple[int, ...]:
    """An int, or one int per spatial axis, as a ``rank``-tuple; each in ``minimum..maximum``.

    >>> per_axis("conv", "stride", 2, 3)
    (2, 2, 2)
    """
    if isinstance(value, (tuple, list)):
        if len(value) != rank:
            raise ShapeError(
                f"{op}: {name}={tuple(value)!r} has {len(value)} entries, the input has {rank} "
                "spatial axes", rule=Rule.AXIS_COUNT)
        values = tuple(value)
    elif isinstance(value, np.ndarray):
        raise ShapeError(f"{op}: {name} must be an int or a tuple of ints, got an array",
                         rule=Rule.INTEGER_SIZE)
    else:
        values = (value,) * rank
    out = tuple(integer(op, f"{name}[{axis}]" if isinstance(value, (tuple, list)) else name, v)
                for axis, v in enumerate(values))
    for axis, v in enumerate(out):
        if v < minimum:
            rule = Rule.NONNEG_SIZE if minimum == 0 else _positive_rule(name)
            raise ShapeError(
                f"{op}: {name}[{axis}] must be at least {minimum}, got {name}={shown(out)}",
                rule=rule)
        if v > maximum:
            raise ShapeError(
                f"{op}: {name}[{axis}]={shown(v)} is above {maximum}, the largest a layer takes "
                "(PyTorch keeps it in a C int)", rule=Rule.HUGE_SIZE)
    return out


def as_float_array(op: str, name: str, value, *, ndim: int | tuple[int, ...] | None = None,
                   min_ndim: int = 0) -> np.ndarray:
    """``value`` itself when it is a float32/float64 ndarray of an allowed rank."""
    if not isinstance(value, np.ndarray):
        got = "None" if value is None else type(value).__name__
        raise ShapeError(Rule.ARRAY_TYPE, op=op, name=name, got=got)
    if value.dtype not in FLOAT_DTYPES:
        raise ShapeError(Rule.DTYPE, op=op, name=name, got=value.dtype)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            raise ShapeError(Rule.RANK, op=op, name=name,
                             expected=" or ".join(map(str, allowed)), got=value.shape)
    if value.ndim < min_ndim:
        raise ShapeError(Rule.RANK, op=op, name=name, expected=f"at least {min_ndim}",
                         got=value.shape)
    return value


def same_dtype(op: str, **arrays) -> np.dtype:
    """The one dtype every given array shares (``None`` entries skipped); see the policy."""
    dtypes = {name: a.dtype for name, a in arrays.items() if a is not None}
    if len(set(dtypes.values())) > 1:
        shown = ", ".join(f"{n}: {d}" for n, d in dtypes.items())
        raise ShapeError(Rule.DTYPE_MIX, op=op, got=shown)
    return next(iter(dtypes.values()))


def cotangent(op: str, name: str, value, shape, dtype) -> np.ndarray:
    """A gradient of the output (``grad_y``): a float array of exactly ``shape`` and ``dtype``.

    ``None`` is refused (a VJP needs its cotangent), as are bool and integer arrays.
    """
    value = as_float_array(op, name, value)
    if value.shape != tuple(shape):
        raise ShapeError(Rule.SHAPE_MATCH, op=op, name=name, expected=tuple(shape),
                         got=value.shape)
    if value.dtype != np.dtype(dtype):
        raise ShapeError(
            f"{op}: {name} must have dtype {np.dtype(dtype)} like the value it belongs to, got "
            f"{value.dtype}", rule=Rule.DTYPE_MIX)
    return value


def tangent(op: str, name: str, value, like: np.ndarray) -> np.ndarray:
    """A JVP's tangent: ``None`` means zero; anything else must match ``like`` exactly."""
    if value is None:
        return np.zeros_like(like)
    return cotangent(op, name, value, like.shape, like.dtype)


def spatial_rank(op: str, x, *, lead: int = 1) -> int:
    """The number of spatial axes of ``(C, *S)`` (``lead=2``: ``(N, C, *S)``): 1, 2 or 3."""
    as_float_array(op, "x", x, ndim=tuple(lead + r for r in (1, 2, 3)))
    return x.ndim - lead


def check_elements(op: str, what: str, shape) -> tuple[int, ...]:
    """Refuse an array of ``shape`` with more than :data:`MAX_ELEMENTS` elements."""
    total = math.prod(int(n) for n in shape)
    if total > MAX_ELEMENTS:
        raise ShapeError(Rule.TOO_LARGE, op=op, what=f"{what} of shape {tuple(shape)}",
                         got=total, limit=MAX_ELEMENTS)
    return tuple(shape)


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
            f"sizes (rule {exc.rule.value!r}): {exc}",
            rule=Rule.LEAN_TORCH_DIVERGENCE) from exc
    if lean != torch:
        raise ShapeError(
            f"{layer}: TorchLean's Nat formula gives output size {lean}, PyTorch gives {torch} "
            f"(arguments {args}); Lean's truncated subtraction makes a phantom size here",
            rule=Rule.LEAN_TORCH_DIVERGENCE)
    return tuple(lean)
