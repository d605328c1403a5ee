"""Argument checks and launch geometry shared by the kernel launchers.

The checks are :mod:`nnbridge.spec.checks`' (per-axis arguments, integers, one dtype,
element limits), so one bad value gives the same error, by the same rule, at a spec op and
at a kernel. What that module cannot see is added here, thinly: :func:`operands` and the
rank check read shapes and ``np.dtype(a.dtype)``, because the launchers also take CuPy
arrays (``checks.as_float_array`` and ``checks.spatial_rank`` take NumPy arrays only), and
the kernels' own limit, C ``int`` index arithmetic.

Every size comes from the proved formulas of :mod:`nnbridge.spec.shapes`, with the specs'
rule (:func:`nnbridge.spec.checks.agreed_sizes`): the kernels compute where TorchLean's Nat
reading and PyTorch's agree, and raise :class:`~nnbridge.spec.errors.ShapeError` (rule
``"lean_torch_divergence"``) where they part ways, exactly where the specs do. Before
anything is allocated, every array a launcher reads or makes (its operands' contiguous
copies, its results, the im2col workspace of one sample) is held to
:data:`~nnbridge.spec.checks.MAX_ELEMENTS` (rule ``"too_large"``), and every size the
kernels index with to C ``int``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from nnbridge.spec.checks import (
    FLOAT_DTYPES,
    agreed_sizes,
    check_elements,
    per_axis,
    same_dtype,
)
from nnbridge.spec.errors import Rule, ShapeError
from nnbridge.spec.shapes import conv_out, conv_transpose_out, pool_out

__all__ = [
    "Geometry",
    "conv_geometry",
    "conv_transpose_geometry",
    "on_backend",
    "operands",
    "pool_geometry",
]

#: The kernels index with C ``int``: every axis, volume and plane count must fit.
INT_MAX = 2**31 - 1


def operands(op: str, optional: tuple[str, ...] = (), **arrays):
    """Check the operands of one call; return them unchanged.

    Each is a NumPy or CuPy array (anything with ``__cuda_array_interface__``) of dtype
    float32 or float64 (bool and integer arrays are refused, not cast), all of one dtype
    (:func:`nnbridge.spec.checks.same_dtype`), of at most ``MAX_ELEMENTS`` elements. Only
    the names in ``optional`` may be ``None`` (an absent bias).
    """
    for name, a in arrays.items():
        if a is None and name in optional:
            continue
        if not (isinstance(a, np.ndarray) or hasattr(a, "__cuda_array_interface__")):
            got = "None" if a is None else type(a).__name__
            raise ShapeError(f"{op}: {name} must be an array (numpy or cupy), got {got}",
                             rule=Rule.ARRAY_TYPE)
        try:
            dtype = np.dtype(a.dtype)
        except TypeError:  # a CUDA array of another library (a torch dtype, say)
            dtype = None
        if dtype is None or dtype not in FLOAT_DTYPES:  # (np.dtype(None) is float64)
            raise ShapeError(Rule.DTYPE, op=op, name=name, got=a.dtype)
        check_elements(op, name, a.shape)
    same_dtype(op, **arrays)
    return tuple(arrays.values())


def on_backend(be, *arrays):
    """Each checked operand as a contiguous array of backend ``be`` (``None`` stays)."""
    return tuple(None if a is None else be.asarray(a) for a in arrays)


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


def _rank(op: str, name: str, shape, ranks: tuple[int, ...], layout: str) -> int:
    """The spatial rank of an ``(N, C, *spatial)`` or weight shape whose length is in
    ``ranks`` (``checks.spatial_rank`` takes NumPy arrays only; the launchers see CuPy
    arrays too)."""
    if len(shape) not in ranks:
        expected = " or ".join(map(str, ranks)).replace(" or ", ", ", len(ranks) - 2)
        raise ShapeError(Rule.RANK, op=op, name=f"{name} {layout}", expected=expected,
                         got=tuple(shape))
    return len(shape) - 2


def _check_int(op: str, g: Geometry) -> None:
    """Every size the kernels compute with in C ``int`` (``t*s - p + k`` and
    ``i + p + s`` stay below ``in + 2p + s`` on each axis) fits."""
    sizes = {"batch N": g.n, "channels": max(g.c_in, g.c_out),
             "planes N*C": g.n * max(g.c_in, g.c_out), "image volume": g.in_vol,
             "window positions": g.out_vol, "kernel volume": g.k_vol}
    for axis, (n, s, p) in enumerate(zip(g.in_shape, g.stride, g.padding, strict=True)):
        sizes[f"in + 2 * padding + stride on axis {axis}"] = n + 2 * p + s
    for what, size in sizes.items():
        if size > INT_MAX:
            raise ShapeError(
                f"{op}: {what} = {size} exceeds the kernels' C int range 2**31 - 1",
                rule=Rule.TOO_LARGE)


def _grad_y(op: str, grad_y, expected) -> None:
    if grad_y is not None and tuple(grad_y) != tuple(expected):
        raise ShapeError(Rule.SHAPE_MATCH, op=op, name="grad_y", expected=tuple(expected),
                         got=tuple(grad_y))


def _conv_like(op, transpose, x_shape, w_shape, b, stride, padding, grad_y) -> Geometry:
    """Both convolutions: the weight's two channel axes swap and the image side is the
    input (conv) or the output (transposed); everything else is shared."""
    rank = _rank(op, "x", x_shape, (3, 4, 5), "(N, C_in, *spatial)")
    layout = "(C_in, C_out, *kernel)" if transpose else "(C_out, C_in, *kernel)"
    _rank(op, "w", w_shape, (rank + 2,), f"{layout} for x of shape {tuple(x_shape)}")
    n, c_in, *spatial = x_shape
    w_c_in, c_out, *kernel = w_shape if transpose else (w_shape[1], w_shape[0], *w_shape[2:])
    if w_c_in != c_in:
        raise ShapeError(f"{op}: weight {tuple(w_shape)} (layout {layout}) expects {w_c_in} "
                         f"input channels, x {tuple(x_shape)} has {c_in}",
                         rule=Rule.CHANNELS)
    if b is not None and tuple(b.shape) != (c_out,):
        raise ShapeError(Rule.SHAPE_MATCH, op=op, name="b", expected=(c_out,),
                         got=tuple(b.shape))
    k = per_axis(op, "kernel", tuple(kernel), rank, minimum=1)
    s = per_axis(op, "stride", stride, rank, minimum=1)
    p = per_axis(op, "padding", padding, rank)
    formula = conv_transpose_out if transpose else conv_out
    out = agreed_sizes(op, formula, tuple(spatial), k, s, p)
    _grad_y(op, grad_y, (n, c_out, *out))
    check_elements(op, "the output", (n, c_out, *out))
    image, windows = (out, tuple(spatial)) if transpose else (tuple(spatial), out)
    g = Geometry(n, c_in, c_out, image, windows, k, s, p)
    # im2col columns of one sample: the channels of the image side, times taps, positions
    check_elements(op, "the im2col workspace of one sample",
                   ((c_out if transpose else c_in) * g.k_vol, g.out_vol))
    _check_int(op, g)
    return g


def conv_geometry(op, x_shape, w_shape, b, stride, padding, grad_y=None) -> Geometry:
    """Geometry of ``conv`` with x ``(N, C_in, *s)`` and w ``(C_out, C_in, *k)``;
    ``grad_y``, when given, is the shape the output gradient has."""
    return _conv_like(op, False, x_shape, w_shape, b, stride, padding, grad_y)


def conv_transpose_geometry(op, x_shape, w_shape, b, stride, padding, grad_y=None) -> Geometry:
    """Geometry of ``conv_transpose`` (w ``(C_in, C_out, *k)``): the image side is the
    OUTPUT, the windows the input."""
    return _conv_like(op, True, x_shape, w_shape, b, stride, padding, grad_y)


def pool_geometry(op, x_shape, kernel, stride, padding, kind, grad_y=None) -> Geometry:
    """Geometry of a pool over x ``(N, C, *s)``; channels are folded into planes."""
    rank = _rank(op, "x", x_shape, (3, 4, 5), "(N, C, *spatial)")
    n, c, *spatial = x_shape
    k = per_axis(op, "kernel", kernel, rank, minimum=1)
    s = k if stride is None else per_axis(op, "stride", stride, rank, minimum=1)
    p = per_axis(op, "padding", padding, rank)
    out = agreed_sizes(op, pool_out, tuple(spatial), k, s, p, op=kind)
    _grad_y(op, grad_y, (n, c, *out))
    check_elements(op, "the output", (n, c, *out))
    g = Geometry(n, c, c, tuple(spatial), tuple(out), k, s, p)
    _check_int(op, g)
    return g
