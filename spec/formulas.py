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

from typing import Any

from .arith import Reading, is_symbolic, reading_for
from .errors import ShapeError

__all__ = [
    "SEMANTICS",
    "check_semantics",
    "conv_out",
    "conv_transpose_out",
    "pool_out",
]

SEMANTICS = ("lean", "torch")

# Sizes above this are refused: no tensor has 2**48 cells along one axis, and a number this
# large is almost always a unit or parsing mistake.
MAX_SIZE = 2**48


def check_semantics(semantics: str) -> str:
    if semantics not in SEMANTICS:
        raise ShapeError(
            f"unknown semantics {semantics!r}: use 'lean' (TorchLean's Nat formulas) or "
            "'torch' (PyTorch's behaviour)",
            rule="semantics",
        )
    return semantics


def _check_scalar(op: str, name: str, value: Any) -> None:
    """Integer, not bool, non-negative, not absurdly large; symbolic values pass through."""
    if is_symbolic(value):
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShapeError(
            f"{op}: {name} must be a non-negative integer, got {value!r} "
            f"({type(value).__name__})",
            rule="integer_size",
        )
    if value < 0:
        raise ShapeError(
            f"{op}: {name} must be non-negative, got {name}={value}", rule="nonneg_size"
        )
    if value > MAX_SIZE:
        raise ShapeError(
            f"{op}: {name}={value} exceeds the largest supported size 2**48", rule="huge_size"
        )


def _per_axis(opname: str, scalar_rule, names: tuple[str, ...], args: tuple, **options):
    """Lift ``scalar_rule`` to per-axis tuples, validating every value first."""
    lengths = {len(a) for a in args if isinstance(a, (tuple, list))}
    if len(lengths) > 1:
        shown = ", ".join(
            f"{n}={tuple(a)!r}"
            for n, a in zip(names, args, strict=True) if isinstance(a, (tuple, list))
        )
        raise ShapeError(
            f"{opname}: per-axis arguments disagree on the number of axes: {shown}",
            rule="axis_count",
        )
    if not lengths:
        for name, value in zip(names, args, strict=True):
            _check_scalar(opname, name, value)
        return scalar_rule(reading_for(*args), *args, **options)
    (rank,) = lengths
    if rank == 0:
        raise ShapeError(f"{opname}: per-axis arguments must have at least one axis",
                         rule="axis_count")
    columns = [tuple(a) if isinstance(a, (tuple, list)) else (a,) * rank for a in args]
    out = []
    for axis, values in enumerate(zip(*columns, strict=True)):
        for name, value in zip(names, values, strict=True):
            _check_scalar(opname, f"{name}[{axis}]", value)
        out.append(scalar_rule(reading_for(*values), *values, rank=rank, **options))
    return tuple(out)


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
                f"{defaults[name]!r}), got {name}={value!r}; use semantics='torch'",
                rule="lean_option",
            )


def _require_torch_params(r: Reading, op: str, k, s, p, d) -> None:
    r.require(r.ge(k, 1), "kernel_positive",
              "{op}: kernel size should be greater than zero, got kernel={k}", op=op, k=k)
    r.require(r.ge(s, 1), "stride_positive",
              "{op}: stride must be greater than zero, got stride={s}", op=op, s=s)
    r.require(r.ge(d, 1), "dilation_positive",
              "{op}: dilation must be greater than zero, got dilation={d}", op=op, d=d)
    r.require(r.ge(p, 0), "padding_nonneg",
              "{op}: padding must be non-negative, got padding={p}", op=op, p=p)


def _require_nonempty(r: Reading, op: str, n) -> None:
    r.require(r.ge(n, 1), "input_nonempty",
              "{op}: PyTorch rejects an empty spatial axis, got input size {n}; "
              "Lean's formula gives a size here", op=op, n=n)


# --------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------
def _conv_out(r: Reading, n, k, s, p, d, *, semantics: str, rank: int = 1):
    if semantics == "lean":
        _lean_only("conv_out", dilation=d)
        # (n + 2*p - k) / s + 1, in Nat, left to right
        return r.add(r.nat_div(r.nat_sub(r.add(n, r.mul(2, p)), k), s), 1)
    _require_torch_params(r, "conv_out", k, s, p, d)
    _require_nonempty(r, "conv_out", n)
    padded = r.add(n, r.mul(2, p))
    reach = r.add(r.mul(d, r.sub(k, 1)), 1)
    r.require(r.ge(padded, reach), "kernel_fits",
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
    if semantics == "lean":
        _lean_only("pool_out", dilation=d, ceil_mode=ceil_mode)
        # (n + 2*p - k) / s + 1; with p = 0 this is TorchLean's poolOut (n - k) / s + 1
        return r.add(r.nat_div(r.nat_sub(r.add(n, r.mul(2, p)), k), s), 1)
    _require_torch_params(r, "pool_out", k, s, p, d)
    _require_nonempty(r, "pool_out", n)
    # PyTorch compares padding with kernel // 2 for max and avg pooling alike (dilation
    # does not enter: max_pool2d(k=3, dilation=2, padding=2) raises).
    r.require(r.ge(r.floor_div(k, 2), p), "pool_padding",
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
    r.require(r.ge(out, 1), "output_positive",
              "pool_out: calculated output size {out} is too small (input {n}, kernel {k}, "
              "stride {s}, padding {p}, dilation {d}); PyTorch raises, Lean gives 1",
              out=out, n=n, k=k, s=s, p=p, d=d)
    if op == "avg" and rank == 3:
        # avg_pool3d alone checks each input axis against the kernel, ignoring padding.
        r.require(r.ge(n, k), "avg3d_kernel_fits",
                  "pool_out: avg_pool3d needs every input axis at least the kernel size "
                  "(padding not counted), got input {n} < kernel {k}", n=n, k=k)
    return out


def pool_out(n, kernel, stride, padding=0, dilation=1, ceil_mode=False, *,
             semantics: str = "lean", op: str = "max"):
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

    Notes
    -----
    PyTorch raises when ``padding > kernel // 2``, when the output would be below 1, and
    for ``avg_pool3d`` when an input axis is smaller than the kernel. TorchLean's unpadded
    ``poolOut in k s = (in - k) / s + 1`` is the ``padding = 0`` case.
    """
    check_semantics(semantics)
    if op not in ("max", "avg"):
        raise ShapeError(f"pool_out: op must be 'max' or 'avg', got {op!r}", rule="pool_op")
    if not isinstance(ceil_mode, bool):
        raise ShapeError(f"pool_out: ceil_mode must be a bool, got {ceil_mode!r}",
                         rule="ceil_mode")
    return _per_axis("pool_out", _pool_out, ("n", "kernel", "stride", "padding", "dilation"),
                     (n, kernel, stride, padding, dilation), ceil_mode=ceil_mode,
                     semantics=semantics, op=op)


# --------------------------------------------------------------------------------------
# Transposed convolution
# --------------------------------------------------------------------------------------
def _conv_transpose_out(r: Reading, n, k, s, p, op_, d, *, semantics: str, rank: int = 1):
    if semantics == "lean":
        _lean_only("conv_transpose_out", output_padding=op_, dilation=d)
        # (n - 1) * s - 2*p + k, in Nat, left to right
        return r.add(r.nat_sub(r.mul(r.nat_sub(n, 1), s), r.mul(2, p)), k)
    _require_torch_params(r, "conv_transpose_out", k, s, p, d)
    r.require(r.ge(op_, 0), "output_padding_nonneg",
              "conv_transpose_out: output_padding must be non-negative, got {op}", op=op_)
    _require_nonempty(r, "conv_transpose_out", n)
    r.require(r.or_(r.lt(op_, s), r.lt(op_, d)), "output_padding_small",
              "conv_transpose_out: output padding must be smaller than either stride or "
              "dilation, got output_padding={op}, stride={s}, dilation={d}", op=op_, s=s, d=d)
    out = r.add(r.add(r.sub(r.mul(r.sub(n, 1), s), r.mul(2, p)),
                      r.add(r.mul(d, r.sub(k, 1)), op_)), 1)
    r.require(r.ge(out, 1), "output_positive",
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
