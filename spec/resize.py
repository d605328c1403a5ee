"""Resizing and joining with PyTorch's meanings: ``interpolate``, ``pad_nd`` and ``cat``.

* :func:`interpolate` is ``F.interpolate`` for ``mode`` ``"nearest"``, ``"linear"``,
  ``"bilinear"``, ``"trilinear"``: per spatial axis, a fixed ``(out, in)`` matrix ``A`` (one 1
  per row for nearest, two weights per row for the linear modes), applied axis after axis,

      y = x  x_1 A_1  x_2 A_2 ...        (``x_i``: the product along spatial axis ``i``)

  so the op is linear in ``x``: its VJP applies the transposes, its JVP is the op itself.
  The output size is ``size``, or ``floor(n * scale_factor)`` as PyTorch computes it.
  Source indices are those of PyTorch's CPU forward: nearest ``min(floor(o * scale), n - 1)``
  with ``scale = 1 / scale_factor`` when a scale factor is given and ``n / out`` otherwise
  (in 2-d, as PyTorch's 2-d kernel, the identity for ``out = n`` and ``o // 2`` for
  ``out = 2n`` whatever the factor: :func:`_nearest_source`);
  linear ``o * (n - 1) / (out - 1)`` with ``align_corners=True``, else
  ``max(scale * (o + 1/2) - 1/2, 0)``, weights ``1 - t`` and ``t`` at ``floor`` and the next
  cell (the last cell alone at the edge), and a copy when ``out = n``.

  Where PyTorch differs from itself: in 1-d and 3-d its nearest BACKWARD on CPU takes the 2-d
  kernel's source indices, not its forward's, when ``out = n`` or ``out = 2n`` but the scale
  factor is not ``1`` or ``2`` (e.g. ``n = 2``, ``scale_factor=1.3``: the forward copies cell
  0 twice, autograd sends the gradient to cells 0 and 1). The spec follows the forward; its
  VJP is the forward's adjoint.
* :func:`pad_nd` is ``F.pad(x, pad, mode, value)``: ``pad`` lists ``(before, after)`` amounts
  for the LAST axis first, then the one before it, as PyTorch does; in ``"constant"`` mode an
  amount may be negative (that side is cropped), and the new cells hold ``value``. The other
  modes (``"reflect"``, ``"replicate"``, ``"circular"``) take the index of a source cell per
  new cell; every mode is a gather, so the VJP is the scatter-add back.
* :func:`cat` is ``torch.cat(tensors, dim)`` of any number of arrays; its VJP splits.

Batch axis
----------
The spatial rank ``D`` of :func:`interpolate` is the mode's (linear 1, bilinear 2, trilinear
3) or, for nearest, the length of a tuple ``size``/``scale_factor``. An ``x`` of ``D + 1``
axes is one sample ``(C, *S)``, of ``D + 2`` axes a batch ``(N, C, *S)``; a nearest resize
with a scalar size or factor reads ``x`` as PyTorch does, ``(N, C, *S)``. :func:`pad_nd` and
:func:`cat` work on any axes, so a batch axis is simply one more axis.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .checks import as_float_array, check_elements, cotangent, integer, number, tangent
from .errors import Rule, ShapeError
from .ops import Geometry, Op, declare

__all__ = [
    "cat",
    "cat_jvp",
    "cat_vjp",
    "interpolate",
    "interpolate_jvp",
    "interpolate_vjp",
    "pad_nd",
    "pad_nd_jvp",
    "pad_nd_vjp",
]

INTERPOLATE_MODES = {"nearest": None, "linear": 1, "bilinear": 2, "trilinear": 3}
PAD_MODES = ("constant", "reflect", "replicate", "circular")


# --------------------------------------------------------------------------------------
# interpolate
# --------------------------------------------------------------------------------------
def _mode(op: str, mode, allowed) -> str:
    if not isinstance(mode, str) or mode not in allowed:
        raise ShapeError(Rule.MODE, op=op, name="mode", allowed=", ".join(allowed),
                         value=mode)
    return mode


def _per_axis_values(value, rank: int | None):
    return tuple(value) if isinstance(value, (tuple, list)) else None if rank is None \
        else (value,) * rank


def _resize_plan(op: str, x, size, scale_factor, mode, align_corners):
    """``(x, lead axes, input sizes, output sizes, scales)`` with every argument checked."""
    mode = _mode(op, mode, tuple(INTERPOLATE_MODES))
    if (size is None) == (scale_factor is None):
        raise ShapeError(Rule.ONE_OF, op=op, names="size, scale_factor",
                         got=f"size={size!r}, scale_factor={scale_factor!r}")
    if align_corners is not None and not isinstance(align_corners, bool):
        raise ShapeError(f"{op}: align_corners must be None or a bool, got {align_corners!r}",
                         rule=Rule.OPTION_MODE)
    if mode == "nearest" and align_corners is not None:
        raise ShapeError(Rule.OPTION_MODE, op=op, name="align_corners",
                         modes="linear, bilinear, trilinear", mode=mode)
    given = size if size is not None else scale_factor
    rank = INTERPOLATE_MODES[mode]
    if rank is None and isinstance(given, (tuple, list)):
        rank = len(given)
    x = as_float_array(op, "x", x)
    if rank is None:
        if x.ndim not in (3, 4, 5):
            raise ShapeError(Rule.RANK, op=op, name="x", expected="3, 4 or 5 (N, C, *S)",
                             got=x.shape)
        rank = x.ndim - 2
    if rank not in (1, 2, 3) or x.ndim not in (rank + 1, rank + 2):
        raise ShapeError(Rule.RANK, op=op, name="x",
                         expected=f"{rank + 1} or {rank + 2} ((C, *S) or (N, C, *S))",
                         got=x.shape)
    values = _per_axis_values(given, rank)
    if len(values) != rank:
        raise ShapeError(Rule.AXIS_COUNT, op=op, name="size" if size is not None
                         else "scale_factor", got=len(values), expected=rank)
    sizes_in = x.shape[x.ndim - rank:]
    if size is not None:
        out = tuple(integer(op, f"size[{i}]", n, minimum=1) for i, n in enumerate(values))
        scales = (None,) * rank
    else:
        scales = tuple(number(op, f"scale_factor[{i}]", s, positive=True)
                       for i, s in enumerate(values))
        out = tuple(math.floor(float(n) * s) for n, s in zip(sizes_in, scales, strict=True))
        if any(n < 1 for n in out):
            raise ShapeError(
                f"{op}: input sizes {sizes_in} times scale_factor {scales} give output sizes "
                f"{out}; each must be at least 1", rule=Rule.OUTPUT_POSITIVE)
    if any(n < 1 for n in sizes_in):
        raise ShapeError(Rule.INPUT_NONEMPTY, op=op)
    check_elements(op, "the output", x.shape[:x.ndim - rank] + out)
    return x, mode, bool(align_corners), sizes_in, out, scales


def _nearest_source(n_in: int, n_out: int, scale, real, rank: int) -> np.ndarray:
    """Nearest's source cell per output cell, as PyTorch's CPU forward takes it.

    2-d (PyTorch's own 2-d kernel, ``nearest_idx``): the identity when ``n_out == n_in``,
    ``o // 2`` when ``n_out == 2 n_in``, else ``min(floor(o * s), n_in - 1)`` all in float32,
    ``s = float32(1 / scale_factor)`` or ``float32(n_in) / n_out``. 1-d and 3-d (its generic
    kernel): ``min(floor(float32(real)), n_in - 1)``, ``real = o * ratio`` in the dtype.
    """
    o = np.arange(n_out)
    if rank != 2:
        return np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), n_in - 1)
    if n_out == n_in:
        return o
    if n_out == 2 * n_in:
        return o >> 1
    s = np.float32(1.0 / scale) if scale is not None else np.float32(n_in) / np.float32(n_out)
    return np.minimum(np.floor(o.astype(np.float32) * s).astype(np.int64), n_in - 1)


def _axis_matrix(n_in: int, n_out: int, mode: str, align_corners: bool, scale, dtype,
                 rank: int):
    """The ``(n_out, n_in)`` matrix of one axis: PyTorch's CPU forward, index for index.

    The ratio is computed in the dtype (PyTorch's opmath type for float32 and float64), the
    real source index rounded to float32 before its floor (PyTorch's ``floorf``), and the
    linear modes copy the input when ``n_out == n_in`` whatever the scale factor.
    """
    a = np.zeros((n_out, n_in), dtype)
    o = np.arange(n_out)
    t = np.dtype(dtype).type
    if mode != "nearest" and n_out == n_in:
        a[o, o] = 1
        return a
    if align_corners:
        ratio = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
    else:
        ratio = t(1.0 / scale) if scale is not None else t(n_in) / t(n_out)
    if mode == "nearest":
        a[o, _nearest_source(n_in, n_out, scale, ratio * o.astype(dtype), rank)] = 1
        return a
    real = ratio * o.astype(dtype) if align_corners \
        else np.maximum(ratio * (o.astype(dtype) + t(0.5)) - t(0.5), t(0))
    i0 = np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), n_in - 1)
    i1 = i0 + (i0 < n_in - 1)
    lam1 = np.clip(real - i0.astype(dtype), 0, 1).astype(dtype)
    np.add.at(a, (o, i0), 1 - lam1)
    np.add.at(a, (o, i1), lam1)
    return a


def _apply(x: np.ndarray, mats, *, transpose: bool) -> np.ndarray:
    first = x.ndim - len(mats)
    for i, m in enumerate(mats):
        axis = first + i
        x = np.moveaxis(np.tensordot(m.T if transpose else m, x, axes=(1, axis)), 0, axis)
    return x


def _matrices(x, mode, align_corners, sizes_in, out, scales):
    return [_axis_matrix(n, m, mode, align_corners, s, x.dtype, len(out))
            for n, m, s in zip(sizes_in, out, scales, strict=True)]


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """``y = x x_1 A_1 ... x_D A_D``: PyTorch's ``F.interpolate`` (module docstring).

    Parameters
    ----------
    x : ndarray, (C, *S) or (N, C, *S)
    size : int or tuple of int, one per spatial axis; or
    scale_factor : float or tuple of float (output ``floor(n * scale_factor)``)
    mode : "nearest", "linear", "bilinear" or "trilinear"
    align_corners : None, False or True (the linear modes only)
    """
    x, *plan = _resize_plan("interpolate", x, size, scale_factor, mode, align_corners)
    return _apply(x, _matrices(x, *plan), transpose=False)


def interpolate_vjp(x, grad_y, size=None, scale_factor=None, mode="nearest",
                    align_corners=None):
    """``grad_x = grad_y x_1 A_1^T ... x_D A_D^T``: every output cell's gradient goes back to
    its source cells with its weights."""
    op = "interpolate_vjp"
    x, *plan = _resize_plan(op, x, size, scale_factor, mode, align_corners)
    out_shape = x.shape[:x.ndim - len(plan[3])] + plan[3]
    g = cotangent(op, "grad_y", grad_y, out_shape, x.dtype)
    return _apply(g, _matrices(x, *plan), transpose=True)


def interpolate_jvp(x, dx, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """``dy = interpolate(dx)`` (the op is linear)."""
    x, *plan = _resize_plan("interpolate_jvp", x, size, scale_factor, mode, align_corners)
    dx = tangent("interpolate_jvp", "dx", dx, x)
    return _apply(dx, _matrices(x, *plan), transpose=False)


# --------------------------------------------------------------------------------------
# pad (F.pad)
# --------------------------------------------------------------------------------------
def _source(mode: str, n: int, lo: int, hi: int) -> np.ndarray:
    """Per new cell ``o`` of one axis, the source cell ``o - lo`` mapped into ``0..n-1`` by the
    mode; ``-1`` where the cell holds the constant value."""
    j = np.arange(-lo, n + hi)
    if mode == "constant":
        return np.where((j >= 0) & (j < n), j, -1)
    if mode == "reflect":
        period = 2 * (n - 1)
        j = np.abs(j) % period if period else np.zeros_like(j)
        return np.where(j < n, j, period - j)
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    return j % n  # circular


def _pad_plan(op: str, x, pad, mode, value):
    x = as_float_array(op, "x", x)
    mode = _mode(op, mode, PAD_MODES)
    if not isinstance(pad, (tuple, list)):
        raise ShapeError(f"{op}: pad must be a tuple of ints (before, after) per axis, last "
                         f"axis first, got {pad!r}", rule=Rule.INTEGER_SIZE)
    amounts = tuple(integer(op, f"pad[{i}]", p) for i, p in enumerate(pad))
    axes = len(amounts) // 2
    if len(amounts) % 2 or not amounts:
        raise ShapeError(Rule.AXIS_COUNT, op=op, name="pad", got=f"{len(amounts)} entries",
                         expected="an even number, at least 2")
    if mode == "constant":
        if axes > x.ndim:
            raise ShapeError(Rule.AXIS_COUNT, op=op, name="pad", got=f"{axes} (before, after) "
                             f"pairs", expected=f"at most {x.ndim}, the axes of x {x.shape}")
        fill = number(op, "value", value)
    else:
        if axes > 3 or x.ndim not in (axes + 1, axes + 2):
            raise ShapeError(Rule.RANK, op=op, name="x", expected=f"{axes + 1} or {axes + 2} "
                             f"for mode={mode!r} with {axes} padded axes", got=x.shape)
        if value not in (None, 0, 0.0) or isinstance(value, bool):
            raise ShapeError(Rule.OPTION_MODE, op=op, name="value", modes="constant",
                             mode=mode)
        fill = 0.0
    pairs = [(amounts[2 * i], amounts[2 * i + 1]) for i in range(axes)][::-1]
    sizes = x.shape[x.ndim - axes:]
    for axis, ((lo, hi), n) in enumerate(zip(pairs, sizes, strict=True)):
        where = f"axis {x.ndim - axes + axis} (size {n})"
        if mode != "constant" and min(lo, hi) < 0:
            raise ShapeError(f"{op}: mode={mode!r} takes no negative amounts, got {(lo, hi)} "
                             f"for {where}", rule=Rule.PADDING_NONNEG)
        bound = {"reflect": n - 1, "circular": n}.get(mode)
        if (bound is not None and max(lo, hi) > bound) or (mode != "constant" and n < 1):
            raise ShapeError(Rule.PADDING_WRAP, op=op, mode=mode, bound="below" if
                             mode == "reflect" else "at most", padding=(lo, hi), size=n)
        if n + lo + hi < 0:
            raise ShapeError(f"{op}: {where} padded by {(lo, hi)} would have {n + lo + hi} "
                             "cells", rule=Rule.OUTPUT_POSITIVE)
    check_elements(op, "the padded array", x.shape[:x.ndim - axes] + tuple(
        n + lo + hi for (lo, hi), n in zip(pairs, sizes, strict=True)))
    sources = [_source(mode, n, lo, hi) for (lo, hi), n in zip(pairs, sizes, strict=True)]
    return x, sources, fill


def _gather(x: np.ndarray, sources, fill: float) -> np.ndarray:
    first = x.ndim - len(sources)
    for i, src in enumerate(sources):
        axis = first + i
        x = np.take(x, np.maximum(src, 0), axis=axis)
        if (src < 0).any():
            shape = [1] * x.ndim
            shape[axis] = -1
            x = np.where((src < 0).reshape(shape), x.dtype.type(fill), x)
    return x


def _scatter(g: np.ndarray, sources, sizes) -> np.ndarray:
    first = g.ndim - len(sources)
    for i in reversed(range(len(sources))):
        axis, src = first + i, sources[i]
        moved = np.moveaxis(g, axis, 0)
        out = np.zeros((sizes[i],) + moved.shape[1:], g.dtype)
        keep = src >= 0
        np.add.at(out, src[keep], moved[keep])
        g = np.moveaxis(out, 0, axis)
    return g


def pad_nd(x, pad, mode="constant", value=0.0):
    """``y[..., o] = x[..., src(o)]`` (``value`` where there is no source): ``F.pad``.

    ``pad = (last_before, last_after, prev_before, prev_after, ...)``; negative amounts crop
    (constant mode). See the module docstring for the modes.
    """
    x, sources, fill = _pad_plan("pad_nd", x, pad, mode, value)
    return _gather(x, sources, fill)


def pad_nd_vjp(x, grad_y, pad, mode="constant", value=0.0):
    """``grad_x[..., i] = sum_{o : src(o) = i} grad_y[..., o]``: the scatter-add of the gather
    (the fill value has no gradient in ``x``)."""
    op = "pad_nd_vjp"
    x, sources, _ = _pad_plan(op, x, pad, mode, value)
    out = x.shape[:x.ndim - len(sources)] + tuple(len(s) for s in sources)
    g = cotangent(op, "grad_y", grad_y, out, x.dtype)
    return _scatter(g, sources, x.shape[x.ndim - len(sources):])


def pad_nd_jvp(x, dx, pad, mode="constant", value=0.0):
    """``dy = pad_nd(dx, pad, mode, 0)``: the value is constant, so its cells have tangent 0."""
    x, sources, _ = _pad_plan("pad_nd_jvp", x, pad, mode, value)
    dx = tangent("pad_nd_jvp", "dx", dx, x)
    return _gather(dx, sources, 0.0)


# --------------------------------------------------------------------------------------
# cat
# --------------------------------------------------------------------------------------
def _cat_plan(op: str, tensors, dim):
    if not isinstance(tensors, Sequence) or isinstance(tensors, (str, bytes)):
        raise ShapeError(Rule.ARRAY_TYPE, op=op, name="tensors",
                         got=f"{type(tensors).__name__} (expected a list of arrays)")
    arrays = [as_float_array(op, f"tensors[{i}]", t, min_ndim=1) for i, t in enumerate(tensors)]
    if not arrays:
        raise ShapeError(Rule.POSITIVE_SIZE, op=op, name="len(tensors)", value=0)
    first = arrays[0]
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, numbers.Integral) \
            or not -first.ndim <= dim < first.ndim:
        raise ShapeError(Rule.AXIS, op=op, value=dim, ndim=first.ndim)
    dim = int(dim) % first.ndim
    for i, a in enumerate(arrays):
        if a.dtype != first.dtype:
            raise ShapeError(Rule.DTYPE_MIX, op=op, got=f"tensors[0]: {first.dtype}, "
                             f"tensors[{i}]: {a.dtype}")
        if a.ndim != first.ndim or a.shape[:dim] + a.shape[dim + 1:] != \
                first.shape[:dim] + first.shape[dim + 1:]:
            raise ShapeError(
                f"{op}: tensors[{i}] of shape {a.shape} must match tensors[0] {first.shape} on "
                f"every axis but dim={dim}", rule=Rule.SHAPE_MATCH)
    return arrays, dim


def cat(tensors, dim=0):
    """``y = [t_0 | t_1 | ... ]`` along axis ``dim``: ``torch.cat(tensors, dim)``."""
    arrays, dim = _cat_plan("cat", tensors, dim)
    return np.concatenate(arrays, axis=dim)


def cat_vjp(tensors, grad_y, dim=0):
    """``grad_t_i = grad_y[..., offset_i : offset_i + n_i, ...]`` (a split along ``dim``); one
    gradient per tensor, as a tuple."""
    arrays, dim = _cat_plan("cat_vjp", tensors, dim)
    shape = list(arrays[0].shape)
    shape[dim] = sum(a.shape[dim] for a in arrays)
    g = cotangent("cat_vjp", "grad_y", grad_y, tuple(shape), arrays[0].dtype)
    cuts = np.cumsum([a.shape[dim] for a in arrays])[:-1]
    return tuple(part.copy() for part in np.split(g, cuts, axis=dim))


def cat_jvp(tensors, tangents, dim=0):
    """``dy = cat(tangents, dim)`` (the op is linear); a ``None`` tangent is zero."""
    arrays, dim = _cat_plan("cat_jvp", tensors, dim)
    if not isinstance(tangents, Sequence) or len(tangents) != len(arrays):
        raise ShapeError(Rule.AXIS_COUNT, op="cat_jvp", name="tangents",
                         got=len(tangents) if isinstance(tangents, Sequence) else tangents,
                         expected=len(arrays))
    return np.concatenate([tangent("cat_jvp", f"tangents[{i}]", t, a)
                           for i, (t, a) in enumerate(zip(tangents, arrays, strict=True))],
                          axis=dim)


# --------------------------------------------------------------------------------------
# the records (cat takes a list of any length, which a record's named operands cannot say:
# it is tested on its own, in tests/spec/test_resize.py)
# --------------------------------------------------------------------------------------
def _sample_interpolate(choose, rank, exact):
    mode = choose(("nearest", ("linear", "bilinear", "trilinear")[rank - 1]))
    lead = choose(((), (2,)))
    x = (*lead, choose((1, 2)), *(choose(range(1, 6)) for _ in range(rank)))
    static = {"mode": mode}
    if mode != "nearest":
        static["align_corners"] = False if exact else choose((None, False, True))
    if exact or choose((False, True)):
        factors = (0.5, 2.0, 4.0) if exact else (0.5, 0.75, 1.5, 2.0, 2.5, 3.0)
        scales = tuple(choose([f for f in factors if math.floor(n * f) >= 1])
                       for n in x[len(x) - rank:])
        static["scale_factor"] = scales if not lead or choose((True, False)) else scales[0]
        if not isinstance(static["scale_factor"], tuple) and len(set(scales)) > 1:
            static["scale_factor"] = scales
    else:
        static["size"] = tuple(choose(range(1, 8)) for _ in range(rank))
    return Geometry({"x": x}, static)


def _torch_interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    import torch.nn.functional as F

    rank = {"linear": 1, "bilinear": 2, "trilinear": 3}.get(mode)
    given = size if size is not None else scale_factor
    rank = rank or (len(given) if isinstance(given, (tuple, list)) else x.dim() - 2)
    batched = x.dim() == rank + 2
    y = F.interpolate(x if batched else x[None], size=size, scale_factor=scale_factor,
                      mode=mode, align_corners=align_corners)
    return y if batched else y[0]


def _sample_pad_nd(choose, rank, exact):
    mode = choose(PAD_MODES)
    lead = choose(((), (2,)))
    x = (*lead, choose((1, 2)), *(choose(range(2, 6)) for _ in range(rank)))
    axes = rank if mode != "constant" else choose(range(1, len(x) + 1))
    pad = []
    for n in reversed(x[len(x) - axes:]):
        low = -(n // 2) if mode == "constant" else 0
        high = {"reflect": n - 1, "circular": n}.get(mode, 2)
        pad += [choose(range(low, high + 1)), choose(range(low, high + 1))]
    static = {"pad": tuple(pad), "mode": mode}
    if mode == "constant":
        static["value"] = choose((0.0, 1.5, -2.0))
    return Geometry({"x": x}, static)


def _torch_pad_nd(x, pad, mode="constant", value=0.0):
    import torch.nn.functional as F

    if mode == "constant":
        return F.pad(x, pad, mode=mode, value=value)
    batched = x.dim() == len(pad) // 2 + 2
    y = F.pad(x if batched else x[None], pad, mode=mode)
    return y if batched else y[0]


INTERPOLATE = declare(Op(
    "interpolate", interpolate, interpolate_vjp, interpolate_jvp, operands=("x",),
    order=("x",), linear_in=("x",), static=("size", "scale_factor", "mode", "align_corners"),
    sample=_sample_interpolate, torch=_torch_interpolate,
    doc="F.interpolate: nearest, linear, bilinear, trilinear"))

PAD_ND = declare(Op(
    "pad_nd", pad_nd, pad_nd_vjp, pad_nd_jvp, operands=("x",), order=("x",),
    static=("pad", "mode", "value"), sample=_sample_pad_nd, torch=_torch_pad_nd,
    doc="F.pad: per-side amounts, last axis first; a value; crop by negative amounts"))
