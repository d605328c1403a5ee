"""Pooling: max, average, adaptive and smooth-max, with VJP and JVP, TorchLean's and PyTorch's.

Every pool reads windows of one plane (one channel of one sample) at a time:

    max:       y[n, c, o] = max_{k : cell(o, k) real} x[n, c, cell(o, k)]
    avg:       y[n, c, o] = (1 / divisor(o)) sum_{k : cell(o, k) real} x[n, c, cell(o, k)]

with, per spatial axis ``i``, the window cells

    pools:     cell_i(o, k) = o * stride_i - padding_i + k * dilation_i,   k < kernel_i
    adaptive:  cell_i(o, k) = start_i(o) + k,   k < end_i(o) - start_i(o),
               start_i(o) = floor(o * n_i / out_i),  end_i(o) = ceil((o + 1) * n_i / out_i)

A cell is *real* when it lies in the input (``0 <= cell < n``); the others are padding, or,
with ``ceil_mode``, the overhang of a last window past the right padding.

Options
-------
The names, meanings and positional order are ``torch.nn.functional``'s: ``max_pool(x, kernel,
stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False)``, ``avg_pool(x,
kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
divisor_override=None)``, ``adaptive_avg_pool(x, output_size)`` and ``adaptive_max_pool(x,
output_size, return_indices=False)``; ``kernel``, ``stride`` (default: the kernel),
``padding``, ``dilation`` and ``output_size`` are an int or one value per spatial axis
(``output_size`` may name ``None`` for an axis kept at its size).

* ``max_pool``: padded and overhang cells are ignored (PyTorch's ``-inf``); the selected cell of
  a window is its FIRST maximum in row-major window order (strict ``>`` while scanning), or its
  LAST NaN if it has one (PyTorch updates on ``val > max or isnan(val)``); a window of ``-inf``
  selects its first real cell. The gradient goes to the selected cell. ``return_indices=True``
  returns ``(y, indices)`` with PyTorch's indices: the selected cell flattened row-major within
  its plane, ``sum_i cell_i * prod(n_{i+1:})`` (int64).
* ``avg_pool``: the sum runs over the real cells (padded cells count as 0). The divisor is
  ``divisor_override`` if given, else the number of window cells inside the padded input
  (``count_include_pad=True``, TorchLean's and PyTorch's default: the kernel volume, less the
  ceil_mode overhang) or inside the input itself (``count_include_pad=False``).
* ``adaptive_avg_pool`` divides by the window's volume; ``adaptive_max_pool`` selects as
  ``max_pool`` does. Their windows may differ in size and overlap.
* ``smooth_max_pool`` (TorchLean's; single sample only): ``(1/beta) log sum exp(beta x)`` over
  the window, padded cells count as 0; its derivative weights are ``softmax(beta * window)``.

Batch axis
----------
The kernel (``output_size`` for the adaptive pools) fixes the number of spatial axes: given as
a tuple, ``D = len(kernel)``, and ``x`` is one sample ``(C, *S)`` with ``D + 1`` axes
(TorchLean's form, the default) or a batch ``(N, C, *S)`` with ``D + 2``. Given as an int, ``x``
is one sample. ``y``, ``grad_y``, the tangents and the indices take ``x``'s form.

Two semantics
-------------
Output sizes come from :func:`nnbridge.spec.formulas.pool_out`. With TorchLean's arguments only
(no dilation, ceil_mode, count_include_pad=False or divisor_override) they are the sizes
TorchLean's Nat reading and PyTorch's agree on; where they disagree the spec raises a
:class:`~nnbridge.spec.errors.ShapeError` (rule ``"lean_torch_divergence"``). As soon as one of
PyTorch's options is given, the sizes are PyTorch's (``semantics="torch"``), with its errors.
"""

from __future__ import annotations

import math

import numpy as np

from .arith import shown
from .checks import (
    MAX_LAYER_ARG,
    agreed_sizes,
    as_float_array,
    check_elements,
    cotangent,
    count,
    integer,
    number,
    per_axis,
    spatial_rank,
    tangent,
)
from .convolution import _fits, _lead, _sizes, crop_spatial, offset_slice, pad_spatial, windows
from .domains import pool_agreement
from .errors import Rule, ShapeError
from .formulas import pool_out
from .ops import Geometry, Op, declare, sizes_in

__all__ = [
    "adaptive_avg_pool",
    "adaptive_avg_pool_jvp",
    "adaptive_avg_pool_vjp",
    "adaptive_max_pool",
    "adaptive_max_pool_jvp",
    "adaptive_max_pool_vjp",
    "avg_pool",
    "avg_pool_jvp",
    "avg_pool_vjp",
    "max_pool",
    "max_pool_jvp",
    "max_pool_vjp",
    "smooth_max_pool",
    "smooth_max_pool_jvp",
    "smooth_max_pool_vjp",
]


# --------------------------------------------------------------------------------------
# arguments: the batch form and the flags
# --------------------------------------------------------------------------------------
def _flag(op: str, name: str, value) -> bool:
    """A bool option (``ceil_mode``, ``return_indices``, ``count_include_pad``)."""
    if not isinstance(value, (bool, np.bool_)):
        rule = Rule.CEIL_MODE if name == "ceil_mode" else Rule.FLAG
        raise ShapeError(rule, op=op, name=name, value=f"{shown(value)} "
                         f"({type(value).__name__})")
    return bool(value)


def _divisor(op: str, value) -> int | None:
    """``divisor_override``: None, or a non-zero int (PyTorch: "divisor must be not zero")."""
    if value is None:
        return None
    value = integer(op, "divisor_override", value)
    if value == 0:
        raise ShapeError(Rule.DIVISOR_NONZERO, op=op, value=value)
    if abs(value) > MAX_LAYER_ARG:
        raise ShapeError(f"{op}: divisor_override={shown(value)} is beyond +-{MAX_LAYER_ARG}, "
                         "the largest a layer takes", rule=Rule.HUGE_SIZE)
    return value


class _Planes:
    """``x`` as planes ``(L, *S)``, one per channel of each sample, and the way back.

    ``D`` is ``len(sizes)`` when the per-axis argument ``sizes`` (the kernel, or the adaptive
    output size) is a tuple; an int leaves ``x`` one sample, ``D = x.ndim - 1``.
    """

    def __init__(self, op: str, x, sizes):
        if isinstance(sizes, (tuple, list)):
            d = len(sizes)
            if d not in (1, 2, 3):
                raise ShapeError(f"{op}: {shown(tuple(sizes))} has {d} entries; pools have 1, "
                                 "2 or 3 spatial axes", rule=Rule.AXIS_COUNT)
            as_float_array(op, "x", x, ndim=(2, 3, 4, 5))
            if x.ndim not in (d + 1, d + 2):
                raise ShapeError(
                    f"{op}: {shown(tuple(sizes))} has {d} entries, so x must have {d + 1} axes "
                    f"(C, *S) or {d + 2} axes (N, C, *S); got x of shape {x.shape}",
                    rule=Rule.AXIS_COUNT)
        else:
            d = spatial_rank(op, x)
        self.d, self.batched, self.x = d, x.ndim == d + 2, x
        count(op, "channels", x.shape[-d - 1], minimum=1)  # PyTorch refuses 0 channels too
        self.lead, self.size = x.shape[:-d], x.shape[-d:]
        self.planes = x.reshape((math.prod(self.lead), *self.size))

    def form(self, y: np.ndarray) -> np.ndarray:
        """Planes ``(L, *out)`` back in ``x``'s form ``([N,] C, *out)``."""
        return y.reshape(self.lead + y.shape[1:])

    def of(self, a: np.ndarray) -> np.ndarray:
        """An array of ``x``'s form (a tangent) as planes."""
        return a.reshape(self.planes.shape)

    def out_shape(self, out) -> tuple[int, ...]:
        return (*self.lead, *out)


# --------------------------------------------------------------------------------------
# the windows: per axis, the cells each output reads
# --------------------------------------------------------------------------------------
class _Windows:
    """The cells of every window, axis by axis, in a grid padded ``before`` each axis.

    ``taps[i][o, k]`` is the cell of the padded axis ``i`` that offset ``k`` of window ``o``
    reads (``cell_i(o, k) + before_i``); ``real[i]`` marks the taps inside the input and
    inside their window, ``counted[i]`` the taps an average's default divisor counts. A
    window's taps are the product of its axes' taps, in row-major order of ``k``.
    """

    def __init__(self, size, before, taps, real, counted, steps=None):
        self.size, self.before, self.steps = tuple(size), tuple(before), steps
        self.taps, self.real, self.counted = tuple(taps), tuple(real), tuple(counted)
        self.out = tuple(t.shape[0] for t in self.taps)
        self.kernel = tuple(t.shape[1] for t in self.taps)
        self.grid = tuple(max(b + n, int(t.max(initial=0)) + 1)
                          for b, n, t in zip(self.before, self.size, self.taps, strict=True))

    @classmethod
    def sliding(cls, size, kernel, stride, padding, dilation, out, *, include_pad=True):
        """``cell_i(o, k) = o*stride - padding + k*dilation``; counted: inside the padded
        input (``include_pad``) or inside the input."""
        taps, real, counted = [], [], []
        for n, k, s, p, di, o in zip(size, kernel, stride, padding, dilation, out, strict=True):
            t = np.arange(o)[:, None] * s + np.arange(k)[None, :] * di
            inside = (t >= p) & (t < p + n)
            taps.append(t)
            real.append(inside)
            counted.append(t < n + 2 * p if include_pad else inside)
        return cls(size, padding, taps, real, counted, steps=tuple(stride))

    @classmethod
    def adaptive(cls, size, out):
        """``cell_i(o, k) = start(o) + k`` for ``k < end(o) - start(o)``, with PyTorch's
        ``start(o) = floor(o*n/out)``, ``end(o) = ceil((o+1)*n/out)``."""
        taps, real = [], []
        for n, m in zip(size, out, strict=True):
            o = np.arange(m)
            start, end = (o * n) // m, -((-(o + 1) * n) // m)
            k = np.arange(max(int((end - start).max(initial=1)), 1))
            inside = k[None, :] < (end - start)[:, None]
            taps.append(np.where(inside, start[:, None] + k[None, :], start[:, None]))
            real.append(inside)
        return cls(size, (0,) * len(size), taps, real, real)

    def _index(self) -> tuple[np.ndarray, ...]:
        """The taps of axis ``i`` shaped to broadcast to ``(*out, *kernel)``."""
        d = len(self.taps)
        index = []
        for i, t in enumerate(self.taps):
            shape = [1] * (2 * d)
            shape[i], shape[d + i] = t.shape
            index.append(t.reshape(shape))
        return tuple(index)

    def _flat(self, a: np.ndarray) -> np.ndarray:
        """``(..., *out, *kernel)`` as ``(..., *out, prod(kernel))``."""
        return a.reshape(a.shape[:a.ndim - len(self.kernel)] + (math.prod(self.kernel),))

    def pad(self, planes: np.ndarray) -> np.ndarray:
        """Planes ``(L, *S)`` on the padded grid, zeros around."""
        pairs = [(b, g - b - n) for b, g, n in zip(self.before, self.grid, self.size,
                                                   strict=True)]
        return np.pad(planes, [(0, 0), *pairs]) if any(map(any, pairs)) else planes

    def gather(self, planes: np.ndarray) -> np.ndarray:
        """``win[l, o, k] = x_pad[l, cell(o, k)]``: ``(L, *out, prod(kernel))``."""
        return self._flat(self.pad(planes)[(slice(None),) + self._index()])

    def mask(self, which: tuple[np.ndarray, ...]) -> np.ndarray:
        """A per-axis mask (:attr:`real` or :attr:`counted`) on the windows: ``(*out, K)``."""
        d = len(which)
        full = np.ones((1,) * (2 * d), dtype=bool)
        for i, m in enumerate(which):
            shape = [1] * (2 * d)
            shape[i], shape[d + i] = m.shape
            full = full & m.reshape(shape)
        return self._flat(np.broadcast_to(full, self.out + self.kernel))

    def cells(self) -> np.ndarray:
        """The flat index into the padded plane of every tap: ``(*out, prod(kernel))``."""
        index = np.broadcast_arrays(*self._index())
        return self._flat(np.ravel_multi_index(index, self.grid))

    def scatter(self, weights: np.ndarray, dtype) -> np.ndarray:
        """The adjoint of :meth:`gather`: ``grad[l, cell(o, k)] += weights[l, o, k]``, the
        padding cropped off: ``(L, *S)``. Sliding windows add one offset ``k`` at a time
        (its cells are a strided slice); adaptive ones, whose windows may share cells, count
        every tap at once."""
        if self.steps is not None:
            grad = np.zeros((weights.shape[0], *self.grid), dtype=dtype)
            # offsets first, each one contiguous
            shaped = np.ascontiguousarray(np.moveaxis(weights, -1, 0)).reshape(
                self.kernel + weights.shape[:-1])
            for k in np.ndindex(*self.kernel):
                cells = tuple(slice(t[0, ki], t[0, ki] + (o - 1) * s + 1, s) if o else
                              slice(0, 0) for t, ki, s, o in zip(self.taps, k, self.steps,
                                                                self.out, strict=True))
                grad[(slice(None),) + cells] += shaped[k]
            return self._crop(grad)
        planes = weights.shape[0]
        plane = math.prod(self.grid)
        at = (np.arange(planes).reshape((-1,) + (1,) * (weights.ndim - 1)) * plane
              + self.cells())
        grad = np.bincount(at.ravel(), weights=weights.ravel(), minlength=planes * plane)
        return self._crop(grad.astype(dtype).reshape((planes, *self.grid)))

    def _crop(self, grad: np.ndarray) -> np.ndarray:
        kept = tuple(slice(b, b + n) for b, n in zip(self.before, self.size, strict=True))
        return grad[(slice(None),) + kept]

    def select(self, planes: np.ndarray) -> np.ndarray:
        """The offset ``k`` (flat, row-major) each window selects: its first maximum among
        the real taps, or its last NaN; a window without a real tap, PyTorch's start (the
        first tap past the left padding on each axis). ``(L, *out)``."""
        win = self.gather(planes)
        real = self.mask(self.real)
        top = np.where(real, win, -np.inf).max(axis=-1, keepdims=True)
        chosen = ((win == top) & real).argmax(axis=-1)
        nan = np.isnan(win) & real
        if nan.any():
            last_nan = nan.shape[-1] - 1 - nan[..., ::-1].argmax(axis=-1)
            chosen = np.where(nan.any(axis=-1), last_nan, chosen)
        if not real.any(axis=-1).all():
            starts = [(t >= b).argmax(axis=1) for t, b in zip(self.taps, self.before,
                                                               strict=True)]
            start = np.ravel_multi_index(np.meshgrid(*starts, indexing="ij"), self.kernel)
            chosen = np.where(real.any(axis=-1), chosen, start)
        return chosen

    def chosen_cells(self, chosen: np.ndarray) -> np.ndarray:
        """The flat index into the padded plane of each window's selected tap."""
        cells = np.broadcast_to(self.cells(), chosen.shape + (math.prod(self.kernel),))
        return np.take_along_axis(cells, chosen[..., None], axis=-1)[..., 0]

    def indices(self, chosen: np.ndarray) -> np.ndarray:
        """PyTorch's indices: the selected tap's cell flattened row-major in the unpadded
        plane, ``sum_i cell_i * prod(n_{i+1:})``."""
        offsets = np.unravel_index(chosen, self.kernel)
        d = len(self.taps)
        flat = np.zeros(chosen.shape, dtype=np.int64)
        for i, (t, b) in enumerate(zip(self.taps, self.before, strict=True)):
            o = np.arange(self.out[i]).reshape([-1 if j == i else 1 for j in range(d)])
            flat = flat * self.size[i] + (t[o, offsets[i]] - b)
        return flat


# --------------------------------------------------------------------------------------
# the three pools on windows (shared by the sliding and adaptive forms)
# --------------------------------------------------------------------------------------
def _max(planes, wins, return_indices):
    win = np.where(wins.mask(wins.real), wins.gather(planes), -np.inf).astype(planes.dtype)
    y = win.max(axis=-1)
    return (y, wins.indices(wins.select(planes))) if return_indices else (y, None)


def _max_vjp(planes, grad_y, wins):
    chosen = wins.select(planes)
    weights = np.zeros(grad_y.shape + (math.prod(wins.kernel),), dtype=grad_y.dtype)
    np.put_along_axis(weights, chosen[..., None], grad_y[..., None], axis=-1)
    weights = np.where(wins.mask(wins.real), weights, 0)
    return wins.scatter(weights, np.result_type(planes, grad_y))


def _max_jvp(planes, dx, wins):
    cells = wins.chosen_cells(wins.select(planes))
    dx_pad = wins.pad(dx).reshape(dx.shape[0], math.prod(wins.grid))
    flat = cells.reshape(cells.shape[0], math.prod(wins.out))
    return np.take_along_axis(dx_pad, flat, axis=1).reshape(cells.shape)


def _avg(planes, wins, divisor):
    total = np.where(wins.mask(wins.real), wins.gather(planes), 0).sum(axis=-1)
    return (total / divisor).astype(planes.dtype, copy=False)


def _avg_vjp(planes, grad_y, wins, divisor):
    share = (grad_y / divisor).astype(grad_y.dtype, copy=False)
    weights = np.where(wins.mask(wins.real), share[..., None], 0)
    return wins.scatter(weights, np.result_type(planes, grad_y))


def _divisors(wins, override, dtype):
    """``divisor_override``, or the counted taps of each window."""
    if override is not None:
        return np.asarray(override, dtype=dtype)
    return wins.mask(wins.counted).sum(axis=-1).astype(dtype)


# --------------------------------------------------------------------------------------
# max and average pool
# --------------------------------------------------------------------------------------
class _Pool:
    """One checked ``max_pool``/``avg_pool`` call: planes, options, output sizes, windows."""

    def __init__(self, op, x, kernel, stride, padding, kind, *, dilation=1, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        self.p = _Planes(op, x, kernel)
        d = self.p.d
        self.kernel = per_axis(op, "kernel", kernel, d, minimum=1)
        self.stride = (self.kernel if stride is None
                       else per_axis(op, "stride", stride, d, minimum=1))
        self.padding = per_axis(op, "padding", padding, d)
        self.dilation = per_axis(op, "dilation", dilation, d, minimum=1)
        ceil_mode = _flag(op, "ceil_mode", ceil_mode)
        include_pad = _flag(op, "count_include_pad", count_include_pad)
        self.divisor_override = _divisor(op, divisor_override)
        torch = (ceil_mode or not include_pad or self.divisor_override is not None
                 or any(di != 1 for di in self.dilation))
        size = self.p.size
        if torch:
            out = pool_out(size, self.kernel, self.stride, self.padding, self.dilation,
                           ceil_mode, semantics="torch", op=kind)
        else:
            out = agreed_sizes(op, pool_out, size, self.kernel, self.stride, self.padding,
                               op=kind)
        self.out = tuple(out)
        check_elements(op, "the windows", (self.p.planes.shape[0], *self.out,
                                           math.prod(self.kernel)))
        self.windows = _Windows.sliding(size, self.kernel, self.stride, self.padding,
                                        self.dilation, self.out, include_pad=include_pad)

    @property
    def y_shape(self):
        return self.p.out_shape(self.out)

    def divisor(self, dtype):
        return _divisors(self.windows, self.divisor_override, dtype)


def max_pool(x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False,
             return_indices=False):
    """``y[n, c, o] = max_k x[n, c, o*stride - padding + k*dilation]``, real cells only.

    Parameters
    ----------
    x : ndarray, shape ``(C, *S)`` or ``(N, C, *S)`` (module docstring, Batch axis)
    kernel, stride, padding, dilation : int or tuple of int (``stride`` defaults to ``kernel``)
    ceil_mode, return_indices : bool, PyTorch's

    Returns
    -------
    y : ndarray, shape ``([N,] C, *pool_out(S, kernel, stride, padding, dilation, ceil_mode))``
    indices : int64 ndarray of ``y``'s shape, only with ``return_indices=True``: the
        selected cell flattened row-major in its plane, as PyTorch returns it
    """
    c = _Pool("max_pool", x, kernel, stride, padding, "max", dilation=dilation,
              ceil_mode=ceil_mode)
    y, indices = _max(c.p.planes, c.windows, _flag("max_pool", "return_indices",
                                                   return_indices))
    return (c.p.form(y), c.p.form(indices)) if indices is not None else c.p.form(y)


def max_pool_vjp(x, grad_y, kernel, stride=None, padding=0, dilation=1, ceil_mode=False,
                 return_indices=False):
    """``grad_x[n, c, i] = sum_{o : selected(n, c, o) = i} grad_y[n, c, o]``.

    ``selected(n, c, o)`` is the first maximum of window ``o`` in row-major order (module
    docstring). Returns ``grad_x`` alone (the op has no parameters); ``return_indices`` is
    checked and changes nothing (the indices carry no gradient).
    """
    c = _Pool("max_pool_vjp", x, kernel, stride, padding, "max", dilation=dilation,
              ceil_mode=ceil_mode)
    _flag("max_pool_vjp", "return_indices", return_indices)
    grad_y = cotangent("max_pool_vjp", "grad_y", grad_y, c.y_shape, x.dtype)
    g = grad_y.reshape((c.p.planes.shape[0], *c.out))
    return c.p.form(_max_vjp(c.p.planes, g, c.windows))


def max_pool_jvp(x, dx, kernel, stride=None, padding=0, dilation=1, ceil_mode=False,
                 return_indices=False):
    """``dy[n, c, o] = dx[n, c, selected(n, c, o)]``: the tangent at each window's maximum."""
    c = _Pool("max_pool_jvp", x, kernel, stride, padding, "max", dilation=dilation,
              ceil_mode=ceil_mode)
    _flag("max_pool_jvp", "return_indices", return_indices)
    dx = tangent("max_pool_jvp", "dx", dx, x)
    return c.p.form(_max_jvp(c.p.planes, c.p.of(dx), c.windows))


def avg_pool(x, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None):
    """``y[n, c, o] = (1 / divisor(o)) sum_k x[n, c, o*stride - padding + k]``, real cells.

    ``divisor(o)``: ``divisor_override``, else the window's cells inside the padded input
    (``count_include_pad=True``: the kernel volume away from a ceil_mode overhang) or inside
    the input. Returns ``y`` of shape ``([N,] C, *pool_out(S, kernel, stride, padding, 1,
    ceil_mode))``.
    """
    c = _Pool("avg_pool", x, kernel, stride, padding, "avg", ceil_mode=ceil_mode,
              count_include_pad=count_include_pad, divisor_override=divisor_override)
    return c.p.form(_avg(c.p.planes, c.windows, c.divisor(x.dtype)))


def avg_pool_vjp(x, grad_y, kernel, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
    """``grad_x[n, c, i] = sum_{(o, k) : cell(o, k) = i} grad_y[n, c, o] / divisor(o)``;
    returns ``grad_x``."""
    c = _Pool("avg_pool_vjp", x, kernel, stride, padding, "avg", ceil_mode=ceil_mode,
              count_include_pad=count_include_pad, divisor_override=divisor_override)
    grad_y = cotangent("avg_pool_vjp", "grad_y", grad_y, c.y_shape, x.dtype)
    g = grad_y.reshape((c.p.planes.shape[0], *c.out))
    return c.p.form(_avg_vjp(c.p.planes, g, c.windows, c.divisor(x.dtype)))


def avg_pool_jvp(x, dx, kernel, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
    """``dy = avg_pool(dx)`` (the op is linear)."""
    _Planes("avg_pool_jvp", x, kernel)
    dx = tangent("avg_pool_jvp", "dx", dx, x)
    return avg_pool(dx, kernel, stride, padding, ceil_mode, count_include_pad,
                    divisor_override)


# --------------------------------------------------------------------------------------
# adaptive pools
# --------------------------------------------------------------------------------------
class _Adaptive:
    """One checked adaptive pool call: planes, output size, windows."""

    def __init__(self, op, x, output_size):
        self.p = _Planes(op, x, output_size)
        d, size = self.p.d, self.p.size
        if isinstance(output_size, (tuple, list)):
            kept = tuple(n if o is None else o for o, n in zip(output_size, size, strict=True))
        else:
            kept = output_size
        self.out = per_axis(op, "output_size", kept, d)
        if 0 in size:
            raise ShapeError(f"{op}: PyTorch rejects an empty spatial axis, got x of shape "
                             f"{x.shape}", rule=Rule.INPUT_NONEMPTY)
        longest = tuple(-(-n // o) + 1 if o else 1 for n, o in zip(size, self.out, strict=True))
        check_elements(op, "the windows", (self.p.planes.shape[0], *self.out, *longest))
        self.windows = _Windows.adaptive(size, self.out)

    @property
    def y_shape(self):
        return self.p.out_shape(self.out)

    def grad(self, op, grad_y, dtype):
        grad_y = cotangent(op, "grad_y", grad_y, self.y_shape, dtype)
        return grad_y.reshape((self.p.planes.shape[0], *self.out))


def adaptive_avg_pool(x, output_size):
    """``y[n, c, o] = (1 / prod_i (end_i - start_i)) sum_{start <= j < end} x[n, c, j]`` with
    ``start_i = floor(o_i n_i / out_i)``, ``end_i = ceil((o_i + 1) n_i / out_i)``.

    ``output_size``: an int or one per spatial axis (``None``: that axis's size). Returns
    ``y`` of shape ``([N,] C, *output_size)``.
    """
    c = _Adaptive("adaptive_avg_pool", x, output_size)
    w = c.windows
    return c.p.form(_avg(c.p.planes, w, _divisors(w, None, x.dtype)))


def adaptive_avg_pool_vjp(x, grad_y, output_size):
    """``grad_x[n, c, j] = sum_{o : start(o) <= j < end(o)} grad_y[n, c, o] / |window(o)|``."""
    c = _Adaptive("adaptive_avg_pool_vjp", x, output_size)
    w = c.windows
    g = c.grad("adaptive_avg_pool_vjp", grad_y, x.dtype)
    return c.p.form(_avg_vjp(c.p.planes, g, w, _divisors(w, None, x.dtype)))


def adaptive_avg_pool_jvp(x, dx, output_size):
    """``dy = adaptive_avg_pool(dx)`` (the op is linear)."""
    _Adaptive("adaptive_avg_pool_jvp", x, output_size)
    return adaptive_avg_pool(tangent("adaptive_avg_pool_jvp", "dx", dx, x), output_size)


def adaptive_max_pool(x, output_size, return_indices=False):
    """``y[n, c, o] = max_{start <= j < end} x[n, c, j]`` over :func:`adaptive_avg_pool`'s
    windows; with ``return_indices=True`` also PyTorch's flat per-plane indices."""
    c = _Adaptive("adaptive_max_pool", x, output_size)
    y, indices = _max(c.p.planes, c.windows, _flag("adaptive_max_pool", "return_indices",
                                                   return_indices))
    return (c.p.form(y), c.p.form(indices)) if indices is not None else c.p.form(y)


def adaptive_max_pool_vjp(x, grad_y, output_size, return_indices=False):
    """``grad_x[n, c, j] = sum_{o : selected(n, c, o) = j} grad_y[n, c, o]``."""
    c = _Adaptive("adaptive_max_pool_vjp", x, output_size)
    _flag("adaptive_max_pool_vjp", "return_indices", return_indices)
    g = c.grad("adaptive_max_pool_vjp", grad_y, x.dtype)
    return c.p.form(_max_vjp(c.p.planes, g, c.windows))


def adaptive_max_pool_jvp(x, dx, output_size, return_indices=False):
    """``dy[n, c, o] = dx[n, c, selected(n, c, o)]``."""
    c = _Adaptive("adaptive_max_pool_jvp", x, output_size)
    _flag("adaptive_max_pool_jvp", "return_indices", return_indices)
    dx = tangent("adaptive_max_pool_jvp", "dx", dx, x)
    return c.p.form(_max_jvp(c.p.planes, c.p.of(dx), c.windows))


# --------------------------------------------------------------------------------------
# smooth max pool (log-sum-exp), TorchLean's single-sample form
# --------------------------------------------------------------------------------------
def _setup(op, x, kernel, stride, padding, kind):
    d = spatial_rank(op, x)
    count(op, "channels", x.shape[0], minimum=1)  # PyTorch refuses 0 channels too
    kernel = per_axis(op, "kernel", kernel, d, minimum=1)
    stride = kernel if stride is None else per_axis(op, "stride", stride, d, minimum=1)
    padding = per_axis(op, "padding", padding, d)
    out = agreed_sizes(op, pool_out, x.shape[1:], kernel, stride, padding, op=kind)
    check_elements(op, "the windows", (x.shape[0], *out, math.prod(kernel)))
    return d, kernel, stride, padding, out


def _flat_windows(x_pad, kernel, stride, out):
    """``(C, *out, prod(kernel))``: each window's cells in row-major order."""
    win = windows(x_pad, kernel, stride, out)
    return win.reshape(win.shape[: 1 + len(out)] + (-1,))


def _check_beta(op, beta):
    return number(op, "beta", beta, nonzero=True)


def _softmax_windows(x, kernel, stride, padding, out, beta):
    """``(lse, weights)``: ``lse = log sum exp(beta * window)``, ``weights = softmax``."""
    z = beta * _flat_windows(pad_spatial(x, padding), kernel, stride, out)
    top = z.max(axis=-1, keepdims=True)
    e = np.exp(z - top)
    total = e.sum(axis=-1, keepdims=True)
    return (top + np.log(total))[..., 0], e / total


def smooth_max_pool(x, kernel, stride=None, padding=0, beta=1.0):
    """``y[c, o] = (1/beta) log sum_k exp(beta * x_pad[c, o*stride + k])``, padded cells 0."""
    d, kernel, stride, padding, out = _setup("smooth_max_pool", x, kernel, stride, padding, "max")
    beta = _check_beta("smooth_max_pool", beta)
    lse, _ = _softmax_windows(x, kernel, stride, padding, out, beta)
    return (lse / beta).astype(x.dtype, copy=False)


def smooth_max_pool_vjp(x, grad_y, kernel, stride=None, padding=0, beta=1.0):
    """``grad_x = crop(sum_k scatter_k(softmax(beta * window)[k] * grad_y))``."""
    d, kernel, stride, padding, out = _setup("smooth_max_pool_vjp", x, kernel, stride, padding,
                                             "max")
    beta = _check_beta("smooth_max_pool_vjp", beta)
    grad_y = cotangent("smooth_max_pool_vjp", "grad_y", grad_y, (x.shape[0], *out), x.dtype)
    _, weights = _softmax_windows(x, kernel, stride, padding, out, beta)
    weights = weights.reshape(weights.shape[:-1] + kernel)
    padded = tuple(n + 2 * p for n, p in zip(x.shape[1:], padding, strict=True))
    grad_pad = np.zeros((x.shape[0], *padded), dtype=np.result_type(x, grad_y))
    for k in np.ndindex(*kernel):
        grad_pad[offset_slice(k, stride, out)] += weights[(Ellipsis,) + k] * grad_y
    return crop_spatial(grad_pad, padding, x.shape[1:])


def smooth_max_pool_jvp(x, dx, kernel, stride=None, padding=0, beta=1.0):
    """``dy[c, o] = sum_k softmax(beta * window)[k] * dx_pad[c, o*stride + k]``."""
    d, kernel, stride, padding, out = _setup("smooth_max_pool_jvp", x, kernel, stride, padding,
                                             "max")
    beta = _check_beta("smooth_max_pool_jvp", beta)
    dx = tangent("smooth_max_pool_jvp", "dx", dx, x)
    _, weights = _softmax_windows(x, kernel, stride, padding, out, beta)
    dx_win = _flat_windows(pad_spatial(dx, padding), kernel, stride, out)
    return (weights * dx_win).sum(axis=-1).astype(np.result_type(x, dx), copy=False)




# --------------------------------------------------------------------------------------
# the records
# --------------------------------------------------------------------------------------
def _avg3d_agreement(n, k, s, p):
    """The proved pool domain and PyTorch's ``avg_pool3d`` rule ``n >= k`` (avg3d_kernel_fits)."""
    return pool_agreement(n, k, s, p) and n >= k


def _sample_pool(choose, rank: int, exact: bool, *, avg: bool = False,
                 options: bool = True) -> Geometry:
    """TorchLean's arguments (kernel 1..3, 1..2 in exact mode: every divisor is then a product
    of 1s and 2s, dyadic; stride 1..3, padding 0..1, sizes inside the proved domain) or
    PyTorch's options too: ceil_mode; max: dilation 1..2; avg: count_include_pad and
    divisor_override (1, 2, 4 in exact mode), sizes PyTorch's pool_out accepts with an input
    cell in every window. A batch of 2
    a third of the time. ``options=False``: TorchLean's arguments, one sample."""
    kernel = tuple(choose(range(1, 3) if exact else range(1, 4)) for _ in range(rank))
    lead = _lead(choose) if options else ()
    channels = choose(range(1, 4))
    if not (options and choose((False, True))):
        stride = tuple(choose(range(1, 4)) for _ in range(rank))
        padding = tuple(choose([p for p in range(0, 2) if pool_agreement(k, k, s, p)])
                        for k, s in zip(kernel, stride, strict=True))
        domain = _avg3d_agreement if avg and rank == 3 else pool_agreement
        size = sizes_in(choose, domain, kernel, stride, padding)
        return Geometry({"x": (*lead, channels, *size)},
                        {"kernel": kernel, "stride": stride, "padding": padding})
    stride = tuple(choose(range(1, 4)) for _ in range(rank))
    padding = tuple(choose(range(0, k // 2 + 1)) for k in kernel)
    options = {"ceil_mode": choose((False, True))}
    if avg:
        options["count_include_pad"] = choose((True, False))
        options["divisor_override"] = choose((None, 1, 2, 4) if exact else (None, 3, 5))
        dilation = (1,) * rank
    else:
        dilation = options["dilation"] = tuple(choose(range(1, 3)) for _ in range(rank))
    kind = "avg" if avg else "max"

    def out(axis, n):
        return pool_out(n, kernel[axis], stride[axis], padding[axis], dilation[axis],
                        options["ceil_mode"], semantics="torch", op=kind, rank=rank)

    def fits(axis, n):
        # and every window reads an input cell (PyTorch's backward fails on a window of
        # padding alone, which dilation can make)
        return _fits(lambda: out(axis, n)) and _Windows.sliding(
            (n,), kernel[axis:axis + 1], stride[axis:axis + 1], padding[axis:axis + 1],
            dilation[axis:axis + 1], (out(axis, n),)).real[0].any(axis=1).all()

    size = _sizes(choose, fits, rank)
    return Geometry({"x": (*lead, channels, *size)},
                    {"kernel": kernel, "stride": stride, "padding": padding, **options})


def _window_lengths(n: int, out: int) -> np.ndarray:
    return _Windows.adaptive((n,), (out,)).real[0].sum(axis=1)


def _sample_adaptive(choose, rank: int, exact: bool, *, avg: bool = False) -> Geometry:
    """Sizes 1..7 and output sizes 1..8 (above the size too: windows then share cells); in
    exact mode an average keeps only output sizes whose windows all have a power-of-2 length
    (a dyadic divisor). A batch of 2 a third of the time."""
    lead = _lead(choose)
    channels = choose(range(1, 4))
    size, out = [], []
    for _ in range(rank):
        n = choose(range(1, 8))
        dyadic = [m for m in range(1, 9)
                  if not (exact and avg) or all(v & (v - 1) == 0 for v in _window_lengths(n, m))]
        size.append(n)
        out.append(choose(dyadic))
    return Geometry({"x": (*lead, channels, *size)}, {"output_size": tuple(out)})


def _rank_and_batch(x, sizes):
    rank = len(sizes) if isinstance(sizes, (tuple, list)) else x.dim() - 1
    batched = x.dim() == rank + 2
    return rank, batched, (x if batched else x[None])


def _axes(value, rank: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def _torch_pool(kind: str):
    def reference(x, kernel, stride=None, padding=0, beta=None, **options):
        import torch
        import torch.nn.functional as F

        rank, batched, xb = _rank_and_batch(x, kernel)
        # an int applies to every axis, as in torch.nn.functional's pools
        kernel, padding = (_axes(v, rank) for v in (kernel, padding))
        stride = kernel if stride is None else _axes(stride, rank)
        if kind == "smooth":  # (1/beta) log sum exp(beta x) over zero-padded windows
            z = F.pad(beta * xb, [q for p in reversed(padding) for q in (p, p)])
            for axis, (k, s) in enumerate(zip(kernel, stride, strict=True)):
                z = z.unfold(2 + axis, k, s)
            y = torch.logsumexp(z.flatten(-rank), dim=-1) / beta
        elif kind == "avg" and rank == 1 and "divisor_override" in options:
            # avg_pool1d has no divisor_override: avg_pool2d over a unit second axis
            y = F.avg_pool2d(xb[..., None], (*kernel, 1), (*stride, 1), (*padding, 0),
                             **options)[..., 0]
        else:
            y = getattr(F, f"{kind}_pool{rank}d")(xb, kernel, stride, padding, **options)
        return y if batched else y[0]

    return reference


def _torch_adaptive(kind: str):
    def reference(x, output_size):
        import torch.nn.functional as F

        rank, batched, xb = _rank_and_batch(x, output_size)
        size = tuple(None if o is None else int(o) for o in _axes(output_size, rank))
        y = getattr(F, f"adaptive_{kind}_pool{rank}d")(xb, size)
        return y if batched else y[0]

    return reference


MAX_POOL = declare(Op(
    "max_pool", max_pool, max_pool_vjp, max_pool_jvp, operands=("x",), order=("x",),
    static=("kernel", "stride", "padding", "dilation", "ceil_mode"), draws={"x": "unique"},
    sample=_sample_pool, torch=_torch_pool("max"),
    doc="max pool, padded cells ignored, first maximum"))

AVG_POOL = declare(Op(
    "avg_pool", avg_pool, avg_pool_vjp, avg_pool_jvp, operands=("x",), order=("x",),
    linear_in=("x",),
    static=("kernel", "stride", "padding", "ceil_mode", "count_include_pad",
            "divisor_override"),
    sample=lambda choose, rank, exact: _sample_pool(choose, rank, exact, avg=True),
    torch=_torch_pool("avg"), doc="average pool, count_include_pad by default"))

ADAPTIVE_AVG_POOL = declare(Op(
    "adaptive_avg_pool", adaptive_avg_pool, adaptive_avg_pool_vjp, adaptive_avg_pool_jvp,
    operands=("x",), order=("x",), linear_in=("x",), static=("output_size",),
    sample=lambda choose, rank, exact: _sample_adaptive(choose, rank, exact, avg=True),
    torch=_torch_adaptive("avg"), doc="adaptive average pool to any output size"))

ADAPTIVE_MAX_POOL = declare(Op(
    "adaptive_max_pool", adaptive_max_pool, adaptive_max_pool_vjp, adaptive_max_pool_jvp,
    operands=("x",), order=("x",), static=("output_size",), draws={"x": "unique"},
    sample=_sample_adaptive, torch=_torch_adaptive("max"),
    doc="adaptive max pool to any output size, first maximum"))


def _sample_smooth(choose, rank: int, exact: bool) -> Geometry:
    """TorchLean's arguments only (the op has no batch axis nor PyTorch options)."""
    g = _sample_pool(choose, rank, exact, options=False)
    return Geometry(g.shapes, {**g.static, "beta": choose((0.5, 1.5, 4.0))})


SMOOTH_MAX_POOL = declare(Op(
    "smooth_max_pool", smooth_max_pool, smooth_max_pool_vjp, smooth_max_pool_jvp,
    operands=("x",), order=("x",), static=("kernel", "stride", "padding", "beta"),
    sample=_sample_smooth, exact=False, torch=_torch_pool("smooth"),
    doc="log-sum-exp pool, padded cells 0"))
