"""Layer shape formulas (convolution, pooling, transposed convolution), each written once.

Every public function reads its arguments with :func:`nnbridge.spec.arith.reading_for`, so
the same code gives an ``int``, a Z3 term or a SymPy expression. Two semantics are named:

``"lean"``
    TorchLean's ``Nat`` formula exactly: truncated subtraction, ``x / 0 = 0``, evaluated left
    to right as written. Total: ``k = 0`` or ``s = 0`` give Lean's value, never an error.
    Options Lean lacks (dilation, output_padding, ceil_mode) must stay at their defaults.
``"torch"``
    What PyTorch computes, with its errors: a :class:`ShapeError` wherever PyTorch raises.
    Each rule was checked against real PyTorch output shapes (see ``tests/spec``).

Scalar rules are lifted to per-axis tuples: if any argument is a tuple or list, the others
are broadcast to its length and a tuple comes back.
"""

from __future__ import annotations

import numbers
import sys
from typing import Any

from .arith import Reading, is_symbolic, reading_for, shown
from .errors import Rule, ShapeError

__all__ = [
    "MAX_SIZE",
    "SEMANTICS",
    "check_semantics",
    "check_size",
    "conv_out",
    "conv_transpose_out",
    "is_bool",
    "pool_out",
]

SEMANTICS = ("lean", "torch", "lean-2026-07")

#: TorchLean's current formulas (852c9c6, 2026-07-13; c2be276, 2026-07-21): total, with 0 for
#: invalid geometry. ``"lean"`` stays TorchLean's formulas up to c1043f1.
LEAN_2026_07 = "lean-2026-07"

# Sizes above this are refused: no tensor has 2**48 cells along one axis, and a number this
# large is almost always a unit or parsing mistake.
MAX_SIZE = 2**48


def check_semantics(semantics: Any) -> str:
    """``semantics`` itself when it is ``"lean"``, ``"torch"`` or ``"lean-2026-07"``; else a
    ShapeError."""
    if not (isinstance(semantics, str) and semantics in SEMANTICS):
        raise ShapeError(
            f"unknown semantics {shown(semantics)}: use 'lean' (TorchLean's Nat formulas to "
            "c1043f1), 'lean-2026-07' (TorchLean's formulas since 852c9c6: 0 for invalid "
            "geometry) or 'torch' (PyTorch's behaviour)",
            rule=Rule.SEMANTICS,
        )
    return semantics


def is_bool(value: Any) -> bool:
    """A Python or NumPy ``bool`` (without importing NumPy: if it is not loaded, no value
    can be a NumPy bool). NumPy integers need no such test: they are ``numbers.Integral``."""
    numpy = sys.modules.get("numpy")
    return isinstance(value, bool) or (numpy is not None and isinstance(value, numpy.bool_))


def _check_symbolic(op: str, name: str, value: Any) -> Any:
    """A Z3 integer term, or a SymPy expression that may be a non-negative integer."""
    if type(value).__module__.startswith("z3"):
        import z3

        ok = isinstance(value, z3.ArithRef) and value.is_int()
    else:
        import sympy

        ok = (isinstance(value, sympy.Expr) and value.is_integer is not False
              and value.is_negative is not True)
    if not ok:
        raise ShapeError(
            f"{op}: {name} must be a non-negative integer (an int, a Z3 Int term or a SymPy "
            f"integer expression), got {shown(value)} ({type(value).__name__})",
            rule=Rule.INTEGER_SIZE)
    return value


def check_size(op: str, name: str, value: Any) -> Any:
    """``value`` as a size: a Python ``int`` in ``0..2**48``, or a symbolic integer.

    Python and NumPy integers are accepted (NumPy's become Python ints, so no formula ever
    computes in fixed width); ``bool``, floats, strings, ``None`` and containers are refused
    with rule ``integer_size``, negatives with ``nonneg_size``, and anything above
    :data:`MAX_SIZE` with ``huge_size``. Messages show the value, cut short when it is long.
    """
    if is_symbolic(value):
        return _check_symbolic(op, name, value)
    if is_bool(value) or not isinstance(value, numbers.Integral):
        raise ShapeError(
            f"{op}: {name} must be a non-negative integer, got {shown(value)} "
            f"({type(value).__name__})",
            rule=Rule.INTEGER_SIZE,
        )
    value = int(value)
    if value < 0:
        raise ShapeError(
            f"{op}: {name} must be non-negative, got {name}={shown(value)}",
            rule=Rule.NONNEG_SIZE)
    if value > MAX_SIZE:
        raise ShapeError(
            f"{op}: {name}={shown(value)} exceeds the largest supported size 2**48",
            rule=Rule.HUGE_SIZE)
    return value


def _per_axis(opname: str, scalar_rule, names: tuple[str, ...], args: tuple, **options):
    """Lift ``scalar_rule`` to per-axis tuples, validating every value first."""
    lengths = {len(a) for a in args if isinstance(a, (tuple, list))}
    if len(lengths) > 1:
        shown_args = ", ".join(
            f"{n}={shown(tuple(a))}"
            for n, a in zip(names, args, strict=True) if isinstance(a, (tuple, list))
        )
        raise ShapeError(
            f"{opname}: per-axis arguments disagree on the number of axes: {shown_args}",
            rule=Rule.AXIS_COUNT,
        )
    if not lengths:
        values = tuple(check_size(opname, name, value)
                       for name, value in zip(names, args, strict=True))
        return scalar_rule(reading_for(*values), *values, **options)
    (rank,) = lengths
    if rank == 0:
        shown_args = ", ".join(f"{n}=()" for n, a in zip(names, args, strict=True)
                               if isinstance(a, (tuple, list)))
        raise ShapeError(f"{opname}: per-axis arguments must have at least one axis, got "
                         f"{shown_args}", rule=Rule.AXIS_COUNT)
    columns = [tuple(a) if isinstance(a, (tuple, list)) else (a,) * rank for a in args]
    checked = [tuple(check_size(opname, f"{name}[{axis}]", value)
                     for name, value in zip(names, values, strict=True))
               for axis, values in enumerate(zip(*columns, strict=True))]
    return tuple(scalar_rule(reading_for(*values), *values, rank=rank, **options)
                 for values in checked)


def _lean_only(op: str, **options) -> None:
    """Lean's formulas have no dilation, output_padding or ceil_mode."""
    defaults = {"dilation": 1, "output_padding": 0, "ceil_mode": False}
    for name, value in options.items():
        default = defaults[name]
        at_default = (not is_symbolic(value) and type(value) is type(default)
                      and value == default)
        if not at_default:
            raise ShapeError(
                f"{op}: semantics='lean' has no {name} (TorchLean's formula fixes it at "
                f"{defaults[name]!r}), got {name}={shown(value)}; use semantics='torch'",
                rule=Rule.LEAN_OPTION,
            )


def _require_torch_params(r: Reading, op: str, k, s, p, d) -> None:
    r.require(r.ge(k, 1), Rule.KERNEL_POSITIVE,
              "{op}: kernel size should be greater than zero, got kernel={k}", op=op, k=k)
    r.require(r.ge(s, 1), Rule.STRIDE_POSITIVE,
              "{op}: stride must be greater than zero, got stride={s}", op=op, s=s)
    r.require(r.ge(d, 1), Rule.DILATION_POSITIVE,
              "{op}: dilation must be greater than zero, got dilation={d}", op=op, d=d)
    r.require(r.ge(p, 0), Rule.PADDING_NONNEG,
              "{op}: padding must be non-negative, got padding={p}", op=op, p=p)


def _require_nonempty(r: Reading, op: str, n) -> None:
    r.require(r.ge(n, 1), Rule.INPUT_NONEMPTY,
              "{op}: PyTorch rejects an empty spatial axis, got input size {n}; "
              "Lean's formula gives a size here", op=op, n=n)


def _sliding_window(r: Reading, n, k, s, p):
    """TorchLean's ``slidingWindowOutDim n k s p`` (852c9c6):
    ``if k = 0 or s = 0 or n + 2p < k then 0 else (n + 2p - k) / s + 1``."""
    padded = r.add(n, r.mul(2, p))
    invalid = r.or_(r.eq(k, 0), r.eq(s, 0), r.lt(padded, k))
    return r.ite(invalid, 0, r.add(r.nat_div(r.nat_sub(padded, k), s), 1))


# --------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------
def _conv_out(r: Reading, n, k, s, p, d, *, semantics: str, rank: int = 1):
    if semantics == LEAN_2026_07:
        _lean_only("conv_out", dilation=d)
        return _sliding_window(r, n, k, s, p)
    if semantics == "lean":
        _lean_only("conv_out", dilation=d)
        # (n + 2*p - k) / s + 1, in Nat, left to right
        return r.add(r.nat_div(r.nat_sub(r.add(n, r.mul(2, p)), k), s), 1)
    _require_torch_params(r, "conv_out", k, s, p, d)
    _require_nonempty(r, "conv_out", n)
    padded = r.add(n, r.mul(2, p))
    reach = r.add(r.mul(d, r.sub(k, 1)), 1)
    r.require(r.ge(padded, reach), Rule.KERNEL_FITS,
              "conv_out: padded input size {padded} (n={n} + 2*padding={p}) is smaller than the "
              "kernel's reach dilation*(kernel-1)+1 = {reach}; PyTorch raises \"Kernel size "
              "can't be greater than actual input size\" (Lean gives 1: a phantom cell). "
              "Fix: pad by at least {need} or use a smaller kernel",
              padded=padded, n=n, p=p, reach=reach,
              need=(reach - n + 1) // 2 if isinstance(reach, int) and isinstance(n, int) else "?")
    return r.add(r.floor_div(r.sub(padded, reach), s), 1)


def conv_out(n, kernel, stride, padding=0, dilation=1, *, semantics: str = "lean"):
    """Lean: ``(n + 2p - k) / s + 1``; torch: ``floor((n + 2p - d(k-1) - 1) / s) + 1``.

    Parameters
    ----------
    n, kernel, stride, padding, dilation
        Non-negative integers, Z3 integer terms or SymPy expressions; or per-axis tuples.
    semantics
        ``"lean"`` (``Nat`` arithmetic, total, no dilation) or ``"torch"``.

    Notes
    -----
    Domain of agreement: with ``d = 1``, ``k >= 1``, ``s >= 1`` and ``n >= 1``, the two
    semantics agree exactly when ``n + 2p >= k``. Below that Lean yields 1 (a phantom cell)
    and PyTorch raises; ``s = 0`` yields 1 in Lean and an error in PyTorch.
    """
    check_semantics(semantics)
    return _per_axis("conv_out", _conv_out, ("n", "kernel", "stride", "padding", "dilation"),
                     (n, kernel, stride, padding, dilation), semantics=semantics)


# --------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------
def _pool_out(r: Reading, n, k, s, p, d, ceil_mode, *, semantics: str, op: str, rank: int = 1):
    if semantics == LEAN_2026_07:
        _lean_only("pool_out", dilation=d, ceil_mode=ceil_mode)
        # poolOutSpatialPad (c2be276): if n = 0 or k = 0 or p > k/2 then 0 else W(n, k, s, p)
        invalid = r.or_(r.eq(n, 0), r.eq(k, 0), r.lt(r.nat_div(k, 2), p))
        return r.ite(invalid, 0, _sliding_window(r, n, k, s, p))
    if semantics == "lean":
        _lean_only("pool_out", dilation=d, ceil_mode=ceil_mode)
        # (n + 2*p - k) / s + 1; with p = 0 this is TorchLean's poolOut (n - k) / s + 1
        return r.add(r.nat_div(r.nat_sub(r.add(n, r.mul(2, p)), k), s), 1)
    _require_torch_params(r, "pool_out", k, s, p, d)
    _require_nonempty(r, "pool_out", n)
    # PyTorch compares padding with kernel // 2 for max and avg pooling alike (dilation
    # does not enter: max_pool2d(k=3, dilation=2, padding=2) raises).
    r.require(r.ge(r.floor_div(k, 2), p), Rule.POOL_PADDING,
              "pool_out: padding should be at most half of kernel size, got padding={p} and "
              "kernel={k} (limit {lim})", p=p, k=k,
              lim=k // 2 if isinstance(k, int) else "k//2")
    reach = r.add(r.mul(d, r.sub(k, 1)), 1)
    num = r.sub(r.add(n, r.mul(2, p)), reach)
    if ceil_mode:
        num = r.add(num, r.sub(s, 1))
    out = r.add(r.floor_div(num, s), 1)
    if ceil_mode:
        # a last window that would start inside the right padding is dropped
        out = r.ite(r.ge(r.mul(r.sub(out, 1), s), r.add(n, p)), r.sub(out, 1), out)
    r.require(r.ge(out, 1), Rule.OUTPUT_POSITIVE,
              "pool_out: calculated output size {out} is too small (input {n}, kernel {k}, "
              "stride {s}, padding {p}, dilation {d}); PyTorch raises, Lean gives 1",
              out=out, n=n, k=k, s=s, p=p, d=d)
    if op == "avg" and rank == 3:
        # avg_pool3d alone checks each input axis against the kernel, ignoring padding.
        r.require(r.ge(n, k), Rule.AVG3D_KERNEL_FITS,
                  "pool_out: avg_pool3d needs every input axis at least the kernel size "
                  "(padding not counted), got input {n} < kernel {k}", n=n, k=k)
    return out


def pool_out(n, kernel, stride, padding=0, dilation=1, ceil_mode=False, *,
             semantics: str = "lean", op: str = "max", rank: int | None = None):
    """Lean: ``(n + 2p - k) / s + 1``; torch: ``floor((n + 2p - d(k-1) - 1 [+ s-1]) / s) + 1``.

    Parameters
    ----------
    n, kernel, stride, padding, dilation
        Non-negative integers, Z3 terms or SymPy expressions; or per-axis tuples.
    ceil_mode
        PyTorch's ``ceil_mode`` (torch semantics only): round up, then drop a last window
        that would start inside the right padding, ``(out - 1) * s >= n + p``.
    semantics
        ``"lean"`` or ``"torch"``.
    op
        ``"max"`` or ``"avg"``: the same formula; PyTorch's ``avg_pool3d`` adds one check.
    rank
        The layer's number of spatial axes, for a call on one axis of a 2-D or 3-D pool
        (per-axis tuples carry their own); ``None``: 1 for a scalar call.

    Notes
    -----
    PyTorch raises when ``padding > kernel // 2``, when the output would be below 1, and
    for ``avg_pool3d`` when an input axis is smaller than the kernel. TorchLean's unpadded
    ``poolOut in k s = (in - k) / s + 1`` is the ``padding = 0`` case.
    """
    check_semantics(semantics)
    if not (isinstance(op, str) and op in ("max", "avg")):
        raise ShapeError(f"pool_out: op must be 'max' or 'avg', got {shown(op)}",
                         rule=Rule.POOL_OP)
    if not is_bool(ceil_mode):
        raise ShapeError(f"pool_out: ceil_mode must be a bool, got {shown(ceil_mode)} "
                         f"({type(ceil_mode).__name__})", rule=Rule.CEIL_MODE)
    ceil_mode = bool(ceil_mode)
    args = (n, kernel, stride, padding, dilation)
    scalar = not any(isinstance(a, (tuple, list)) for a in args)
    if rank not in (None, 1, 2, 3):
        raise ShapeError(f"pool_out: rank must be 1, 2 or 3, got {shown(rank)}",
                         rule=Rule.AXIS_COUNT)
    extra = {"rank": rank} if scalar and rank is not None else {}
    return _per_axis("pool_out", _pool_out, ("n", "kernel", "stride", "padding", "dilation"),
                     args, ceil_mode=ceil_mode, semantics=semantics, op=op, **extra)


# --------------------------------------------------------------------------------------
# Transposed convolution
# --------------------------------------------------------------------------------------
def _conv_transpose_out(r: Reading, n, k, s, p, op_, d, *, semantics: str, rank: int = 1):
    if semantics == LEAN_2026_07:
        _lean_only("conv_transpose_out", output_padding=op_, dilation=d)
        # convTransposeOutDim (852c9c6): if n = 0 or k = 0 or s = 0 then 0
        # else (n - 1) * s + k - 2p, in Nat, left to right
        invalid = r.or_(r.eq(n, 0), r.eq(k, 0), r.eq(s, 0))
        return r.ite(invalid, 0, r.nat_sub(r.add(r.mul(r.nat_sub(n, 1), s), k), r.mul(2, p)))
    if semantics == "lean":
        _lean_only("conv_transpose_out", output_padding=op_, dilation=d)
        # (n - 1) * s - 2*p + k, in Nat, left to right
        return r.add(r.nat_sub(r.mul(r.nat_sub(n, 1), s), r.mul(2, p)), k)
    _require_torch_params(r, "conv_transpose_out", k, s, p, d)
    r.require(r.ge(op_, 0), Rule.OUTPUT_PADDING_NONNEG,
              "conv_transpose_out: output_padding must be non-negative, got {op}", op=op_)
    _require_nonempty(r, "conv_transpose_out", n)
    r.require(r.or_(r.lt(op_, s), r.lt(op_, d)), Rule.OUTPUT_PADDING_SMALL,
              "conv_transpose_out: output padding must be smaller than either stride or "
              "dilation, got output_padding={op}, stride={s}, dilation={d}", op=op_, s=s, d=d)
    out = r.add(r.add(r.sub(r.mul(r.sub(n, 1), s), r.mul(2, p)),
                      r.add(r.mul(d, r.sub(k, 1)), op_)), 1)
    r.require(r.ge(out, 1), Rule.OUTPUT_POSITIVE,
              "conv_transpose_out: calculated output size {out} is too small "
              "((n-1)*s - 2p + d(k-1) + output_padding + 1 with n={n}, s={s}, p={p}, d={d}, "
              "k={k}, output_padding={op}); reduce the padding", out=out, n=n, s=s, p=p, d=d,
              k=k, op=op_)
    return out


def conv_transpose_out(n, kernel, stride, padding=0, output_padding=0, dilation=1, *,
                       semantics: str = "lean"):
    """Lean: ``(n - 1) * s - 2p + k``; torch: ``(n - 1)s - 2p + d(k-1) + output_padding + 1``.

    Notes
    -----
    Lean truncates left to right, so ``conv_transpose_out(1, 3, 1, 1)`` is
    ``(0*1 - 2) + 3 = 0 + 3 = 3`` in Lean and ``1`` in PyTorch; the two agree whenever
    ``(n - 1) * s >= 2p`` (and ``n >= 1``, ``k >= 1``, ``s >= 1``). PyTorch raises when
    ``output_padding`` is not smaller than the stride or the dilation, and when the output
    is below 1.
    """
    check_semantics(semantics)
    return _per_axis("conv_transpose_out", _conv_transpose_out,
                     ("n", "kernel", "stride", "padding", "output_padding", "dilation"),
                     (n, kernel, stride, padding, output_padding, dilation),
                     semantics=semantics)
