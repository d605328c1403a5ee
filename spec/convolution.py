"""Convolution and transposed convolution: forward, VJP and JVP, TorchLean's and PyTorch's.

``conv(x, w, b, stride, padding, dilation, groups, *, padding_mode)`` is the cross-correlation

    y[n, g*Og + oc, o] = b[g*Og + oc]
                         + sum_{c < Cg} sum_k w[g*Og + oc, c, k] x_pad[n, g*Cg + c, o*s + k*d]

and ``conv_transpose(x, w, b, stride, padding, output_padding, groups, dilation)`` its adjoint
in ``x`` plus a bias,

    y[n, g*Og + oc, o] = b[g*Og + oc]
                         + sum_{c < Cg} sum_{i, k : o + p = i*s + k*d}
                               x[n, g*Cg + c, i] w[g*Cg + c, oc, k]

(``s`` stride, ``d`` dilation, ``p`` padding, per spatial axis; ``g < groups``; ``Cg``, ``Og``
the input and output channels of one group). Kernels: ``(outC, inC/groups, *K)`` for ``conv``,
``(inC, outC/groups, *K)`` for ``conv_transpose``, as in PyTorch. float32 or float64, one dtype.

Options
-------
The names, meanings and positional order are ``torch.nn.functional``'s (``conv2d(input, weight,
bias, stride, padding, dilation, groups)``, ``conv_transpose2d(input, weight, bias, stride,
padding, output_padding, groups, dilation)``); every one is an int or one int per spatial axis.
``conv`` takes ``padding`` also as ``"valid"`` (none), ``"same"`` (stride 1 only; the total
``d*(k-1)`` split as PyTorch does, the odd cell after) or one ``(before, after)`` pair per axis,
and ``padding_mode`` (``nn.ConvNd``'s: ``"zeros"``, ``"reflect"``, ``"replicate"``,
``"circular"``; the input is padded in that mode, then convolved without padding).
``conv_transpose`` pads with zeros only, as PyTorch's transposed convolutions do. ``b`` may be
``None`` (no bias; the VJP then returns ``None`` for its gradient).

Batch axis
----------
The kernel fixes the number of spatial axes, ``D = w.ndim - 2``. An ``x`` with ``D + 1`` axes is
one sample ``(C, *S)`` (TorchLean's form, the default); an ``x`` with ``D + 2`` axes is a batch
``(N, C, *S)``. No other rank is accepted, so the reading is never ambiguous; ``y``, ``grad_y``
and the tangents take ``x``'s form.

Two semantics
-------------
With TorchLean's arguments only (dilation 1, groups 1, integer padding on both sides alike,
zero padding, output_padding 0) the output sizes are those TorchLean's Nat formula and PyTorch
agree on (:func:`nnbridge.spec.checks.agreed_sizes`): where they part ways (a phantom cell from
``in + 2p < k``, the truncated transposed-conv size) the spec raises a
:class:`~nnbridge.spec.errors.ShapeError` with rule ``lean_torch_divergence``. As soon as one of
PyTorch's options is given, the sizes are PyTorch's (``semantics="torch"`` of
:func:`~nnbridge.spec.formulas.conv_out` and :func:`~nnbridge.spec.formulas.conv_transpose_out`),
with PyTorch's errors. Per-side padding pads first: the formula is read at the padded size.

How it computes
---------------
One sum over kernel offsets ``k``: each term is a matrix product of ``w[..., k]`` with the cells
``o*s + k*d`` of the padded input (:class:`Cells`), or, stacked, one product of the kernel with
the cells of every offset gathered (:func:`gather`). The VJP reads the same cells: the input
gradient scatters back to them (the transposed conv's forward), the kernel gradient contracts
``grad_y`` with them. So the three maps :func:`correlate`, :func:`scatter` and
:func:`kernel_grad` are all there is, and the last two are the first's adjoints in its two
arguments. Nothing else computes: padding modes are gathers (:func:`_source`), groups a reshape,
the batch axis a leading axis, and the transposed conv is :func:`scatter` then a crop.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .arith import shown
from .checks import (
    agreed_sizes,
    as_float_array,
    check_elements,
    cotangent,
    integer,
    per_axis,
    same_dtype,
)
from .domains import conv_agreement, conv_transpose_agreement
from .errors import Rule, ShapeError
from .formulas import conv_out, conv_transpose_out
from .ops import Geometry, Op, declare, sizes_in

__all__ = [
    "PADDING_MODES",
    "conv",
    "conv_jvp",
    "conv_transpose",
    "conv_transpose_jvp",
    "conv_transpose_vjp",
    "conv_vjp",
]

#: ``nn.ConvNd``'s padding modes (``conv`` only).
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

#: Numbers gathered at once (:meth:`Cells.spans`): 2 MiB of float32, a cache's worth, and
#: the fewest columns a span takes.
SPAN, SPAN_COLUMNS = 2**19, 256

#: The fewest outputs per group for which :func:`correlate` gathers the cells first.
GATHER_OUTPUTS = 16


# --------------------------------------------------------------------------------------
# shared pieces for single samples (also read by the pooling specs)
# --------------------------------------------------------------------------------------
def pad_spatial(x: np.ndarray, padding: tuple[int, ...], value: float = 0.0) -> np.ndarray:
    """``x`` with ``padding[i]`` cells of ``value`` on both sides of spatial axis ``i``."""
    if not any(padding):
        return x
    return np.pad(x, [(0, 0)] + [(p, p) for p in padding], constant_values=value)


def crop_spatial(x_pad: np.ndarray, padding: tuple[int, ...], size: tuple[int, ...]):
    """Inverse of :func:`pad_spatial`: the ``size`` cells after ``padding`` on each axis."""
    kept = tuple(slice(p, p + n) for p, n in zip(padding, size, strict=True))
    return x_pad[(slice(None),) + kept]


def windows(x_pad: np.ndarray, kernel, stride, out, dilation=None) -> np.ndarray:
    """``win[c, o..., k...] = x_pad[c, o*stride + k*dilation]``: ``(C, *out, *kernel)``, a view."""
    d = len(kernel)
    dilation = dilation or (1,) * d
    reach = tuple(di * (k - 1) + 1 for k, di in zip(kernel, dilation, strict=True))
    win = sliding_window_view(x_pad, reach, axis=tuple(range(1, d + 1)))
    starts = tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, stride, strict=True))
    taps = tuple(slice(None, None, di) for di in dilation)
    return win[(slice(None),) + starts + taps]


def offset_slice(k, stride, out) -> tuple[slice, ...]:
    """The cells ``o*stride + k`` for ``o < out`` on every spatial axis (channels kept)."""
    return (slice(None),) + tuple(
        slice(ki, ki + (o - 1) * s + 1, s) for ki, s, o in zip(k, stride, out, strict=True))


# --------------------------------------------------------------------------------------
# the cells o*s + k*d, and the three maps built on them
# --------------------------------------------------------------------------------------
class Cells:
    """The cells ``o*stride + k*dilation`` (``o < out``) of a spatial ``grid``, per offset ``k``.

    An array ``a`` of shape ``(..., *grid)`` is read at those cells as a matrix ``(..., L)``, one
    column per output cell. With a stride above 1 that is the strided slice, copied, and
    ``L = prod(out)``. With every stride 1 the cells of one offset are, in the grid flattened
    row-major, the ``L`` consecutive cells from ``sum_i k_i d_i R_i`` (``R_i`` the grid's row
    strides) once the output is laid on a *wide* grid, ``out[0]`` rows of the grid's row
    length: a plain slice, which the matrix product reads in place. The wide columns past
    ``out[i]`` on the inner axes are cut off the result (:meth:`output`) and held at zero in a
    cotangent (:meth:`matrix`), so they never enter a sum.
    """

    def __init__(self, grid, kernel, stride, dilation, out):
        self.grid, self.kernel, self.stride = tuple(grid), tuple(kernel), tuple(stride)
        self.dilation, self.out = tuple(dilation), tuple(out)
        self.wide = all(s == 1 for s in self.stride)
        rows = [math.prod(self.grid[i + 1:]) for i in range(len(self.grid))]
        self.rows = rows
        if self.wide:
            self.length = sum((o - 1) * r for o, r in zip(self.out, rows, strict=True)) + 1
            self.shape = (self.out[0], *self.grid[1:])
        else:
            self.length = math.prod(self.out)
            self.shape = self.out

    @property
    def size(self) -> int:
        """Columns of a result buffer (:meth:`zeros`): the whole wide grid, or ``prod(out)``."""
        return math.prod(self.shape)

    def _slices(self, k) -> tuple[slice, ...]:
        return tuple(slice(ki * di, ki * di + (o - 1) * s + 1, s) for ki, di, s, o in zip(
            k, self.dilation, self.stride, self.out, strict=True))

    def spans(self, rows: int) -> list[slice]:
        """Column ranges to take one at a time, for a gather of ``rows`` numbers per column: on
        the wide grid, runs of about :data:`SPAN` numbers (at least :data:`SPAN_COLUMNS`
        columns) that stay in cache; with a stride, all ``L`` columns at once."""
        if not self.wide:
            return [slice(0, self.length)]
        step = max(SPAN_COLUMNS, SPAN // max(rows, 1))
        return [slice(j, min(j + step, self.length)) for j in range(0, self.length, step)]

    def _start(self, k) -> int:
        return sum(ki * di * r for ki, di, r in zip(k, self.dilation, self.rows, strict=True))

    def read(self, a: np.ndarray, k, cols: slice | None = None) -> np.ndarray:
        """``a[..., o*s + k*d]`` for ``o < out``, as a matrix ``(..., L)``; its columns
        ``cols`` alone (a span, wide grid only) if given."""
        lead = a.shape[:a.ndim - len(self.grid)]
        if self.wide:
            cols = cols or slice(0, self.length)
            start = self._start(k)
            return a.reshape(lead + (-1,))[..., start + cols.start:start + cols.stop]
        return a[(Ellipsis,) + self._slices(k)].reshape(lead + (-1,))

    def add(self, a: np.ndarray, k, m: np.ndarray, cols: slice | None = None) -> None:
        """``a[..., o*s + k*d] += m`` (columns ``cols`` of it, if given; ``a`` a fresh
        C-ordered array, so that the wide slice is a view)."""
        if self.wide:
            cols = cols or slice(0, self.length)
            start = self._start(k)
            a.reshape(a.shape[:a.ndim - len(self.grid)] + (-1,))[
                ..., start + cols.start:start + cols.stop] += m
        else:
            a[(Ellipsis,) + self._slices(k)] += m.reshape(m.shape[:-1] + self.out)

    def zeros(self, lead, dtype) -> np.ndarray:
        """A zero result buffer ``(*lead, size)``; its first ``L`` columns are the matrix."""
        return np.zeros((*lead, self.size), dtype=dtype)

    def output(self, buffer: np.ndarray) -> np.ndarray:
        """A result buffer as ``(..., *out)`` (the wide columns cut off)."""
        shaped = buffer.reshape(buffer.shape[:-1] + self.shape)
        if not self.wide:
            return shaped
        return shaped[(Ellipsis, slice(None)) + tuple(slice(0, o) for o in self.out[1:])]

    def matrix(self, y: np.ndarray) -> np.ndarray:
        """``y`` of shape ``(..., *out)`` as a matrix ``(..., L)`` (wide: zeros between rows)."""
        lead = y.shape[:y.ndim - len(self.out)]
        if not self.wide:
            return y.reshape(lead + (-1,))
        buffer = self.zeros(lead, y.dtype)
        self.output(buffer)[...] = y
        return buffer[..., :self.length]


def product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` over the last two axes, broadcast over the others. With an inner size of 1
    (one channel per group: a depthwise conv) it is an outer product, computed by
    broadcasting: NumPy's batched ``matmul`` is slow on 1 x 1 matrices."""
    if a.shape[-1] == 1:
        return a * b
    return np.matmul(a, b)


def gather(a: np.ndarray, cells: Cells, cols: slice) -> np.ndarray:
    """``a[n, g, c, j*s + k*d]`` for the columns ``j`` in ``cols`` and every offset ``k``:
    ``(N, G, K*C, len(cols))``, row ``k*C + c`` (offsets in row-major order)."""
    taps = list(np.ndindex(*cells.kernel))
    width = cols.stop - cols.start
    stacked = np.empty(a.shape[:2] + (len(taps),) + a.shape[2:3] + (width,), dtype=a.dtype)
    for i, k in enumerate(taps):
        stacked[:, :, i] = cells.read(a, k, cols)
    return stacked.reshape(a.shape[:2] + (-1, width))


def kernel_rows(w: np.ndarray) -> np.ndarray:
    """``(G, O, C, *K)`` as ``(G, O, K*C)``, column ``k*C + c`` (as :func:`gather`'s rows)."""
    return np.swapaxes(w.reshape(w.shape[:3] + (-1,)), 2, 3).reshape(w.shape[:2] + (-1,))


def correlate(a: np.ndarray, w: np.ndarray, cells: Cells) -> np.ndarray:
    """``y[n, g, o, j] = sum_{c, k} w[g, o, c, k] a[n, g, c, j*s + k*d]``: ``(N, G, O, *out)``.

    ``a`` is ``(N, G, C, *grid)``, ``w`` is ``(G, O, C, *K)``. Per span of columns: with many
    outputs per group (``O >= GATHER_OUTPUTS``), one matrix product of the kernel's rows with
    the gathered cells (each gathered number then serves many outputs); with few, one product
    per offset with the cells read in place (a copy would cost more than it saves).
    """
    y = cells.zeros(a.shape[:2] + (w.shape[1],), np.result_type(a, w))
    if w.shape[1] >= GATHER_OUTPUTS:
        rows = kernel_rows(w)
        for cols in cells.spans(math.prod(a.shape[:3]) * math.prod(cells.kernel)):
            y[..., cols] = np.matmul(rows, gather(a, cells, cols))
        return cells.output(y)
    for cols in cells.spans(math.prod(y.shape[:3])):
        part = y[..., cols]
        for k in np.ndindex(*cells.kernel):
            part += product(w[(Ellipsis,) + k], cells.read(a, k, cols))
    return cells.output(y)


def scatter(m: np.ndarray, w: np.ndarray, cells: Cells) -> np.ndarray:
    """``a[n, g, c, j*s + k*d] += sum_o w[g, o, c, k] m[n, g, o, j]``: ``(N, G, C, *grid)``.

    The adjoint of :func:`correlate` in ``a``; ``m`` is a matrix ``(N, G, O, L)``
    (:meth:`Cells.matrix`).
    """
    a = np.zeros(m.shape[:2] + (w.shape[2],) + cells.grid, dtype=np.result_type(m, w))
    for cols in cells.spans(math.prod(m.shape[:3])):
        part = m[..., cols]
        for k in np.ndindex(*cells.kernel):
            cells.add(a, k, product(np.swapaxes(w[(Ellipsis,) + k], -1, -2), part), cols)
    return a


def kernel_grad(a: np.ndarray, m: np.ndarray, cells: Cells) -> np.ndarray:
    """``gw[g, o, c, k] = sum_{n, j} m[n, g, o, j] a[n, g, c, j*s + k*d]``: ``(G, O, C, *K)``.

    The adjoint of :func:`correlate` in ``w``; ``m`` is a matrix ``(N, G, O, L)``.
    """
    rows = np.zeros(m.shape[1:3] + (math.prod(cells.kernel) * a.shape[2],),
                    dtype=np.result_type(a, m))
    for cols in cells.spans(math.prod(a.shape[:3]) * math.prod(cells.kernel)):
        rows += np.matmul(m[..., cols], np.swapaxes(gather(a, cells, cols), -1, -2)).sum(axis=0)
    shape = rows.shape[:2] + (math.prod(cells.kernel), a.shape[2])
    return np.swapaxes(rows.reshape(shape), 2, 3).reshape(shape[:2] + (a.shape[2],) + cells.kernel)


# --------------------------------------------------------------------------------------
# arguments: operands, batch axis, groups, padding, sizes
# --------------------------------------------------------------------------------------
def _operands(op: str, x, w, b, groups, *, transpose: bool):
    """Check the operands; ``(D, batched, groups, out channels)``."""
    as_float_array(op, "w", w, ndim=(3, 4, 5))
    d = w.ndim - 2
    as_float_array(op, "x", x)
    if x.ndim not in (d + 1, d + 2):
        raise ShapeError(
            f"{op}: x must have {d + 1} axes (C, *S) or {d + 2} axes (N, C, *S): the kernel "
            f"{w.shape} has {d} spatial axes; got x of shape {x.shape}", rule=Rule.RANK)
    if b is not None:
        as_float_array(op, "b", b, ndim=1)
    same_dtype(op, x=x, w=w, b=b)
    batched = x.ndim == d + 2
    groups = integer(op, "groups", groups, minimum=1)
    in_c = x.shape[1 if batched else 0]
    if transpose:
        layout, per_group_in, out_c = "(inC, outC/groups, k...)", w.shape[0], w.shape[1] * groups
        divided, what = w.shape[0], "input"
    else:
        layout, per_group_in, out_c = "(outC, inC/groups, k...)", w.shape[1] * groups, w.shape[0]
        divided, what = w.shape[0], "output"
    if divided % groups:
        raise ShapeError(
            f"{op}: groups={groups} must divide the {what} channels, got kernel {w.shape} "
            f"(layout {layout}) with {divided} {what} channels", rule=Rule.CHANNELS)
    if in_c != per_group_in:
        raise ShapeError(
            f"{op}: kernel {w.shape} (layout {layout}) with groups={groups} expects "
            f"{per_group_in} input channels, x {x.shape} has {in_c}", rule=Rule.CHANNELS)
    if b is not None and b.shape != (out_c,):
        raise ShapeError(Rule.SHAPE_MATCH, op=op, name="b", expected=(out_c,), got=b.shape)
    return d, batched, groups, out_c


def _mode(op: str, padding_mode) -> str:
    if not (isinstance(padding_mode, str) and padding_mode in PADDING_MODES):
        raise ShapeError(Rule.PADDING_MODE, op=op, allowed=", ".join(map(repr, PADDING_MODES)),
                         value=shown(padding_mode))
    return padding_mode


def _pairs(op: str, padding, kernel, stride, dilation) -> tuple[tuple[tuple[int, int], ...], bool]:
    """``padding`` as one ``(before, after)`` pair per axis, and whether it is a PyTorch form
    (a string or a per-side pair; plain integers are TorchLean's)."""
    d = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * d, True
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ShapeError(Rule.PADDING_SAME, op=op, stride=shown(stride))
            totals = [di * (k - 1) for k, di in zip(kernel, dilation, strict=True)]
            return tuple((t // 2, t - t // 2) for t in totals), True
        raise ShapeError(
            f"{op}: padding must be an int, one int per spatial axis, one (before, after) pair "
            f"per axis, 'same' or 'valid'; got {shown(padding)}", rule=Rule.INTEGER_SIZE)
    if isinstance(padding, (tuple, list)) and any(isinstance(p, (tuple, list)) for p in padding):
        if len(padding) != d:
            raise ShapeError(
                f"{op}: padding={shown(padding)} has {len(padding)} entries, the input has {d} "
                "spatial axes", rule=Rule.AXIS_COUNT)
        pairs = []
        for axis, p in enumerate(padding):
            pair = tuple(p) if isinstance(p, (tuple, list)) else (p, p)
            if len(pair) != 2:
                raise ShapeError(
                    f"{op}: padding[{axis}]={shown(p)} must be an int or a (before, after) pair",
                    rule=Rule.AXIS_COUNT)
            pairs.append(per_axis(op, f"padding[{axis}]", pair, 2))
        return tuple(pairs), any(lo != hi for lo, hi in pairs)
    return tuple((p, p) for p in per_axis(op, "padding", padding, d)), False


def _check_mode_fits(op: str, mode: str, size, pairs) -> None:
    """Reflect needs the padding below the input size, circular at most the input size."""
    bound = {"reflect": "below", "circular": "at most"}.get(mode)
    for n, (lo, hi) in zip(size, pairs, strict=True):
        if bound and (max(lo, hi) >= n if mode == "reflect" else max(lo, hi) > n):
            raise ShapeError(Rule.PADDING_WRAP, op=op, mode=mode, bound=bound,
                             padding=shown(pairs), size=shown(tuple(size)))


def torch_options(padding_form: bool, mode: str, groups: int, dilation, output_padding=()):
    """Whether a call uses one of PyTorch's options: a string or per-side padding, a padding
    mode other than zeros, groups, dilation or output_padding (then sizes are PyTorch's)."""
    return (padding_form or mode != "zeros" or groups != 1 or any(di != 1 for di in dilation)
            or any(output_padding))


def conv_sizes(op: str, size, kernel, stride, pairs, dilation, *, torch: bool):
    """The output size of ``conv`` (module docstring, Two semantics); a ShapeError where none."""
    if not torch:
        return agreed_sizes(op, conv_out, tuple(size), kernel, stride,
                            tuple(lo for lo, _ in pairs))
    if all(lo == hi for lo, hi in pairs):
        return conv_out(tuple(size), kernel, stride, tuple(lo for lo, _ in pairs), dilation,
                        semantics="torch")
    if 0 in size:
        raise ShapeError(Rule.INPUT_NONEMPTY, op=op)
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(size, pairs, strict=True))
    return conv_out(padded, kernel, stride, 0, dilation, semantics="torch")


def conv_transpose_sizes(op: str, size, kernel, stride, padding, output_padding, dilation, *,
                         torch: bool):
    """The output size of ``conv_transpose`` (module docstring, Two semantics)."""
    if not torch:
        return agreed_sizes(op, conv_transpose_out, tuple(size), kernel, stride, padding)
    return conv_transpose_out(tuple(size), kernel, stride, padding, output_padding, dilation,
                              semantics="torch")


def _source(mode: str, n: int, lo: int, hi: int) -> np.ndarray:
    """The input cell each padded cell copies, along one axis (``reflect``: mirror without
    repeating the edge; ``replicate``: the edge; ``circular``: wrap around)."""
    j = np.arange(-lo, n + hi)
    if mode == "reflect":
        j = np.abs(j)
        return np.where(j > n - 1, 2 * (n - 1) - j, j)
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    return np.mod(j, n)


def _pad(x: np.ndarray, pairs, mode: str) -> np.ndarray:
    """``(N, C, *S)`` padded by ``pairs`` in ``mode``: ``(N, C, *(S + before + after))``, in
    C order (the cells are read as flat slices of it)."""
    if mode == "zeros":
        if not any(map(any, pairs)):
            return np.ascontiguousarray(x)
        return np.pad(x, [(0, 0), (0, 0), *pairs])
    for axis, (lo, hi) in enumerate(pairs):
        x = np.take(x, _source(mode, x.shape[2 + axis], lo, hi), axis=2 + axis)
    return x


def _pad_adjoint(g: np.ndarray, pairs, mode: str, size) -> np.ndarray:
    """The adjoint of :func:`_pad`: each padded cell's value added back to its source cell."""
    if mode == "zeros":
        kept = tuple(slice(lo, lo + n) for (lo, _), n in zip(pairs, size, strict=True))
        return g[(slice(None), slice(None)) + kept]
    for axis in reversed(range(len(pairs))):
        lo, hi = pairs[axis]
        n = size[axis]
        source = _source(mode, n, lo, hi)

        def at(i, axis=axis):
            return (slice(None),) * (2 + axis) + (i,)

        back = g[at(slice(lo, lo + n))].copy()
        for j in [*range(lo), *range(lo + n, lo + n + hi)]:
            back[at(source[j])] += g[at(j)]
        g = back
    return g


class _Conv:
    """One checked ``conv`` call: operands in batch form, padding pairs, sizes, cells."""

    def __init__(self, op, x, w, b, stride, padding, dilation, groups, padding_mode):
        d, self.batched, self.groups, self.out_c = _operands(op, x, w, b, groups,
                                                             transpose=False)
        self.x = x if self.batched else x[None]
        self.kernel = w.shape[2:]
        self.stride = per_axis(op, "stride", stride, d, minimum=1)
        self.dilation = per_axis(op, "dilation", dilation, d, minimum=1)
        self.mode = _mode(op, padding_mode)
        self.pairs, torch_form = _pairs(op, padding, self.kernel, self.stride, self.dilation)
        torch = torch_options(torch_form, self.mode, self.groups, self.dilation)
        size = self.x.shape[2:]
        self.out = conv_sizes(op, size, self.kernel, self.stride, self.pairs, self.dilation,
                              torch=torch)
        _check_mode_fits(op, self.mode, size, self.pairs)
        n = self.x.shape[0]
        grid = tuple(s + lo + hi for s, (lo, hi) in zip(size, self.pairs, strict=True))
        check_elements(op, "the output", (n, self.out_c, *self.out))
        check_elements(op, "the padded input", (n, self.x.shape[1], *grid))
        self.cells = Cells(grid, self.kernel, self.stride, self.dilation, self.out)
        check_elements(op, "the output rows", (n, self.out_c, self.cells.size))

    def grouped(self, a: np.ndarray) -> np.ndarray:
        """``(N, C, ...)`` as ``(N, G, C/G, ...)``."""
        return a.reshape((a.shape[0], self.groups, a.shape[1] // self.groups) + a.shape[2:])

    def kernel_groups(self, w: np.ndarray) -> np.ndarray:
        """The kernel's first axis split by groups: conv's ``(outC, inC/G, *K)`` as
        ``(G, outC/G, inC/G, *K)``, conv_transpose's ``(inC, outC/G, *K)`` as
        ``(G, inC/G, outC/G, *K)``."""
        return w.reshape((self.groups, w.shape[0] // self.groups) + w.shape[1:])

    @property
    def y_shape(self) -> tuple[int, ...]:
        """The output's shape, in the form of ``x``."""
        shape = (self.x.shape[0], self.out_c, *self.out)
        return shape if self.batched else shape[1:]

    def form(self, y: np.ndarray) -> np.ndarray:
        """A batch-form result in the form of ``x`` (no batch axis for one sample)."""
        return y if self.batched else y[0]

    def empty(self, w: np.ndarray) -> bool:
        """No channel (or no sample) to sum over: the output is the bias alone."""
        return self.x.size == 0 or w.size == 0

    def zeros(self, x: np.ndarray, b) -> np.ndarray:
        y = np.zeros((x.shape[0], self.out_c) + self.out, dtype=x.dtype)
        return self.form(_with_bias(y, b))

    def forward(self, x: np.ndarray, w: np.ndarray, b) -> np.ndarray:
        if self.empty(w):
            return self.zeros(x, b)
        a = self.grouped(_pad(x, self.pairs, self.mode))
        y = correlate(a, self.kernel_groups(w), self.cells)
        y = y.reshape((y.shape[0], self.out_c) + self.out)
        return self.form(_with_bias(y, b))


def _with_bias(y: np.ndarray, b) -> np.ndarray:
    """``y + b`` over the channel axis of ``(N, C, *out)``, in C order (``b`` None: ``y``)."""
    if b is None:
        return np.ascontiguousarray(y)
    return y + b.reshape((-1,) + (1,) * (y.ndim - 2))


def _bias_grad(grad_y: np.ndarray, b):
    return None if b is None else grad_y.sum(axis=(0, *range(2, grad_y.ndim)))


# --------------------------------------------------------------------------------------
# convolution (cross-correlation), kernel (outC, inC/groups, k...)
# --------------------------------------------------------------------------------------
def conv(x, w, b, stride=1, padding=0, dilation=1, groups=1, *, padding_mode="zeros"):
    """``y[n, g*Og+oc, o] = sum_{c<Cg, k} x_pad[n, g*Cg+c, o*s + k*d] w[g*Og+oc, c, k] + b``.

    Parameters
    ----------
    x : ndarray ``(inC, *S)`` or ``(N, inC, *S)``, 1 to 3 spatial axes (module docstring)
    w : ndarray ``(outC, inC/groups, *K)``
    b : ndarray ``(outC,)`` or None
    stride, dilation : int or one int per spatial axis, at least 1
    padding : int, one int per axis, one ``(before, after)`` pair per axis, ``"same"`` or
        ``"valid"``
    groups : int dividing ``inC`` and ``outC``
    padding_mode : ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``

    Returns
    -------
    y : ndarray ``([N,] outC, *out)``; ``out = conv_out(S, K, stride, padding)`` with
        TorchLean's arguments, PyTorch's ``conv_out(..., dilation, semantics="torch")`` else.
    """
    c = _Conv("conv", x, w, b, stride, padding, dilation, groups, padding_mode)
    return c.forward(c.x, w, b)


def conv_vjp(x, w, b, grad_y, stride=1, padding=0, dilation=1, groups=1, *,
             padding_mode="zeros"):
    """``grad_w[g*Og+oc, c, k] = sum_{n, o} grad_y[n, g*Og+oc, o] x_pad[n, g*Cg+c, o*s + k*d]``,
    ``grad_b = sum_{n, o} grad_y``, and ``grad_x = pad^T(scatter(w^T grad_y))``.

    Returns
    -------
    (grad_w, grad_b, grad_x) : parameters first, input last (TorchLean's order); ``grad_b``
        is None when ``b`` is.

    Notes
    -----
    The forward reads ``x_pad`` at ``o*s + k*d``; its adjoint adds ``w[oc, c, k] grad_y[oc, o]``
    back at the same cells for each offset ``k`` (:func:`scatter`), then gives each padded cell
    back to the input cell it copied (zeros: dropped; reflect, replicate, circular: added to
    its source).
    """
    c = _Conv("conv_vjp", x, w, b, stride, padding, dilation, groups, padding_mode)
    grad_y = cotangent("conv_vjp", "grad_y", grad_y, c.y_shape, x.dtype)
    g = grad_y if c.batched else grad_y[None]
    if c.empty(w):
        return np.zeros_like(w), _bias_grad(g, b), np.zeros_like(x)
    m = c.cells.matrix(c.grouped(g))
    a = c.grouped(_pad(c.x, c.pairs, c.mode))
    grad_w = kernel_grad(a, m, c.cells).reshape(w.shape)
    grad_pad = scatter(m, c.kernel_groups(w), c.cells)
    grad_x = _pad_adjoint(grad_pad.reshape((grad_pad.shape[0], -1) + c.cells.grid), c.pairs,
                          c.mode, c.x.shape[2:])
    return grad_w, _bias_grad(g, b), c.form(grad_x)


def _tangents(op, x, w, b, dx, dw, db):
    dx = _tangent(op, "dx", dx, x)
    dw = _tangent(op, "dw", dw, w)
    if b is None:
        if db is not None:
            raise ShapeError(f"{op}: db must be None when b is None (no bias), got "
                             f"{type(db).__name__}", rule=Rule.SHAPE_MATCH)
        return dx, dw, None
    return dx, dw, _tangent(op, "db", db, b)


def _tangent(op, name, value, like):
    if value is None:
        return np.zeros_like(like)
    return cotangent(op, name, value, like.shape, like.dtype)


def conv_jvp(x, w, b, dx, dw, db, stride=1, padding=0, dilation=1, groups=1, *,
             padding_mode="zeros"):
    """``dy = conv(dx, w, db) + conv(x, dw, 0)`` (conv is bilinear in ``x, w``, affine in ``b``).

    A tangent given as ``None`` is zero; any other must have its operand's shape and dtype.
    """
    c = _Conv("conv_jvp", x, w, b, stride, padding, dilation, groups, padding_mode)
    dx, dw, db = _tangents("conv_jvp", x, w, b, dx, dw, db)
    dxb = dx if c.batched else dx[None]
    return c.forward(dxb, w, db) + c.forward(c.x, dw, None)


# --------------------------------------------------------------------------------------
# transposed convolution, kernel (inC, outC/groups, k...)
# --------------------------------------------------------------------------------------
class _ConvTranspose(_Conv):
    """One checked ``conv_transpose`` call; :attr:`cells` read the uncropped output grid."""

    def __init__(self, op, x, w, b, stride, padding, output_padding, groups, dilation):
        d, self.batched, self.groups, self.out_c = _operands(op, x, w, b, groups,
                                                             transpose=True)
        self.x = x if self.batched else x[None]
        self.kernel = w.shape[2:]
        self.stride = per_axis(op, "stride", stride, d, minimum=1)
        self.padding = per_axis(op, "padding", padding, d)
        self.output_padding = per_axis(op, "output_padding", output_padding, d)
        self.dilation = per_axis(op, "dilation", dilation, d, minimum=1)
        torch = torch_options(False, "zeros", self.groups, self.dilation, self.output_padding)
        size = self.x.shape[2:]
        self.out = conv_transpose_sizes(op, size, self.kernel, self.stride, self.padding,
                                        self.output_padding, self.dilation, torch=torch)
        # the uncropped grid: every cell i*s + k*d, and every output cell o + p
        grid = tuple(max((n - 1) * s + di * (k - 1) + 1, p + o) for n, s, di, k, p, o in zip(
            size, self.stride, self.dilation, self.kernel, self.padding, self.out, strict=True))
        n = self.x.shape[0]
        check_elements(op, "the uncropped output", (n, self.out_c, *grid))
        self.cells = Cells(grid, self.kernel, self.stride, self.dilation, size)
        check_elements(op, "the input rows", (n, self.x.shape[1], self.cells.size))
        self.kept = tuple(slice(p, p + o) for p, o in zip(self.padding, self.out, strict=True))

    def forward(self, x: np.ndarray, w: np.ndarray, b) -> np.ndarray:
        if self.empty(w):
            return self.zeros(x, b)
        full = scatter(self.cells.matrix(self.grouped(x)), self.kernel_groups(w), self.cells)
        y = full.reshape((full.shape[0], self.out_c) + self.cells.grid)
        return self.form(_with_bias(y[(slice(None), slice(None)) + self.kept], b))


def conv_transpose(x, w, b, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """``y[n, g*Og+oc, o] = sum_{c<Cg, i, k : o + p = i*s + k*d} x[n, g*Cg+c, i] w[g*Cg+c, oc, k]
    + b``.

    Parameters
    ----------
    x : ndarray ``(inC, *S)`` or ``(N, inC, *S)``
    w : ndarray ``(inC, outC/groups, *K)``
    b : ndarray ``(outC,)`` or None
    stride, padding, output_padding, dilation : int or one int per spatial axis
    groups : int dividing ``inC`` and ``outC``

    Returns
    -------
    y : ndarray ``([N,] outC, *conv_transpose_out(S, K, stride, padding, ...))``

    Notes
    -----
    Each input cell ``i`` spreads ``x[:, i] w[:, :, k]`` to the cell ``i*s + k*d`` of a grid
    that holds them all (:func:`scatter`); the output is the ``out`` cells after the first
    ``padding``. ``output_padding`` cells past the last spread cell get the bias alone.
    """
    c = _ConvTranspose("conv_transpose", x, w, b, stride, padding, output_padding, groups,
                       dilation)
    return c.forward(c.x, w, b)


def conv_transpose_vjp(x, w, b, grad_y, stride=1, padding=0, output_padding=0, groups=1,
                       dilation=1):
    """``grad_x[n, g*Cg+c, i] = sum_{oc, k} grad_full[n, g*Og+oc, i*s + k*d] w[g*Cg+c, oc, k]``
    with ``grad_full`` = ``grad_y`` placed after ``padding`` cells on the uncropped grid;
    ``grad_w[g*Cg+c, oc, k] = sum_{n, i} x[n, g*Cg+c, i] grad_full[n, g*Og+oc, i*s + k*d]``;
    ``grad_b = sum_{n, o} grad_y``.

    Returns
    -------
    (grad_w, grad_b, grad_x)

    Notes
    -----
    The forward scatters to ``i*s + k*d``, so the backward reads the same cells: a strided,
    dilated cross-correlation of the re-placed ``grad_y`` with the kernel (:func:`correlate`),
    channel axes swapped.
    """
    c = _ConvTranspose("conv_transpose_vjp", x, w, b, stride, padding, output_padding, groups,
                       dilation)
    grad_y = cotangent("conv_transpose_vjp", "grad_y", grad_y, c.y_shape, x.dtype)
    g = grad_y if c.batched else grad_y[None]
    if c.empty(w):
        return np.zeros_like(w), _bias_grad(g, b), np.zeros_like(x)
    full = np.zeros(g.shape[:2] + c.cells.grid, dtype=g.dtype)
    full[(slice(None), slice(None)) + c.kept] = g
    full = c.grouped(full)
    wg = c.kernel_groups(w)
    grad_x = correlate(full, wg, c.cells).reshape(c.x.shape)
    grad_w = kernel_grad(full, c.cells.matrix(c.grouped(c.x)), c.cells).reshape(w.shape)
    return grad_w, _bias_grad(g, b), c.form(grad_x)


def conv_transpose_jvp(x, w, b, dx, dw, db, stride=1, padding=0, output_padding=0, groups=1,
                       dilation=1):
    """``dy = conv_transpose(dx, w, db) + conv_transpose(x, dw, 0)``; ``None`` is zero."""
    c = _ConvTranspose("conv_transpose_jvp", x, w, b, stride, padding, output_padding, groups,
                       dilation)
    dx, dw, db = _tangents("conv_transpose_jvp", x, w, b, dx, dw, db)
    dxb = dx if c.batched else dx[None]
    return c.forward(dxb, w, db) + c.forward(c.x, dw, None)


# --------------------------------------------------------------------------------------
# the records
# --------------------------------------------------------------------------------------
def _fits(check) -> bool:
    try:
        check()
    except ShapeError:
        return False
    return True


def _sizes(choose, fits, rank: int, *, largest: int = 7) -> tuple[int, ...]:
    """One spatial size per axis from ``1..largest`` with ``fits(axis, n)``."""
    sizes = []
    for axis in range(rank):
        inside = [n for n in range(1, largest + 1) if fits(axis, n)]
        if not inside:
            raise ValueError(f"no size up to {largest} fits axis {axis}")
        sizes.append(choose(inside))
    return tuple(sizes)


def _channels(choose, groups: int) -> tuple[int, int]:
    return groups * choose(range(1, 3)), groups * choose(range(1, 3))


def _lead(choose) -> tuple[int, ...]:
    """No batch axis (TorchLean's form) twice as often as a batch of 2."""
    return choose(((), (), (2,)))


def _sample_conv(choose, rank: int, exact: bool) -> Geometry:
    """TorchLean's arguments (kernel 1..3, stride 1..2, padding 0..2; sizes inside the proved
    domain) or PyTorch's options too: dilation 1..2, groups 1..3, padding as ints, per-side
    pairs, ``"same"`` (stride 1) or ``"valid"``, any padding mode; sizes where the spec's
    own size rule (the torch formula) and the mode's limit hold. Every option is exact."""
    kernel = tuple(choose(range(1, 4)) for _ in range(rank))
    lead = _lead(choose)
    if not choose((False, True)):
        stride = tuple(choose(range(1, 3)) for _ in range(rank))
        padding = tuple(choose(range(0, 3)) for _ in range(rank))
        size = sizes_in(choose, conv_agreement, kernel, stride, padding)
        c_in, c_out = choose(range(1, 4)), choose(range(1, 4))
        return Geometry({"x": (*lead, c_in, *size), "w": (c_out, c_in, *kernel), "b": (c_out,)},
                        {"stride": stride, "padding": padding})
    dilation = tuple(choose(range(1, 3)) for _ in range(rank))
    groups = choose(range(1, 4))
    form = choose(("ints", "pairs", "same", "valid"))
    stride = tuple(1 if form == "same" else choose(range(1, 3)) for _ in range(rank))
    padding = {"ints": lambda: tuple(choose(range(0, 3)) for _ in range(rank)),
               "pairs": lambda: tuple((choose(range(0, 3)), choose(range(0, 3)))
                                      for _ in range(rank)),
               "same": lambda: "same", "valid": lambda: "valid"}[form]()
    mode = choose(PADDING_MODES)
    pairs, form = _pairs("conv", padding, kernel, stride, dilation)
    torch = torch_options(form, mode, groups, dilation)

    def fits(axis, n):
        one = (pairs[axis],)
        return _fits(lambda: conv_sizes("conv", (n,), kernel[axis:axis + 1],
                                        stride[axis:axis + 1], one, dilation[axis:axis + 1],
                                        torch=torch)) \
            and _fits(lambda: _check_mode_fits("conv", mode, (n,), one))

    size = _sizes(choose, fits, rank)
    c_in, c_out = _channels(choose, groups)
    return Geometry({"x": (*lead, c_in, *size), "w": (c_out, c_in // groups, *kernel),
                     "b": (c_out,)},
                    {"stride": stride, "padding": padding, "dilation": dilation,
                     "groups": groups, "padding_mode": mode})


def _sample_conv_transpose(choose, rank: int, exact: bool) -> Geometry:
    """TorchLean's arguments (sizes inside the proved domain) or PyTorch's options too:
    dilation 1..2, groups 1..3, output_padding below max(stride, dilation)."""
    kernel = tuple(choose(range(1, 4)) for _ in range(rank))
    lead = _lead(choose)
    padding = tuple(choose(range(0, 3)) for _ in range(rank))
    if not choose((False, True)):
        stride = tuple(choose(range(1, 3)) for _ in range(rank))
        size = sizes_in(choose, conv_transpose_agreement, kernel, stride, padding)
        c_in, c_out = choose(range(1, 4)), choose(range(1, 4))
        return Geometry({"x": (*lead, c_in, *size), "w": (c_in, c_out, *kernel), "b": (c_out,)},
                        {"stride": stride, "padding": padding})
    stride = tuple(choose(range(1, 4)) for _ in range(rank))
    dilation = tuple(choose(range(1, 3)) for _ in range(rank))
    output_padding = tuple(choose(range(max(s, d))) for s, d in zip(stride, dilation,
                                                                      strict=True))
    groups = choose(range(1, 4))
    torch = torch_options(False, "zeros", groups, dilation, output_padding)

    def fits(axis, n):
        one = slice(axis, axis + 1)
        return _fits(lambda: conv_transpose_sizes(
            "conv_transpose", (n,), kernel[one], stride[one], padding[one],
            output_padding[one], dilation[one], torch=torch))

    size = _sizes(choose, fits, rank)
    c_in, c_out = _channels(choose, groups)
    return Geometry({"x": (*lead, c_in, *size), "w": (c_in, c_out // groups, *kernel),
                     "b": (c_out,)},
                    {"stride": stride, "padding": padding, "output_padding": output_padding,
                     "groups": groups, "dilation": dilation})


def _torch_conv(x, w, b, stride, padding, dilation=1, groups=1, padding_mode="zeros"):
    """PyTorch's value: ``nn.ConvNd``'s own forward for its padding forms and modes; per-side
    pairs (not a PyTorch form) through ``F.pad`` and ``F.convNd`` without padding, the way
    ``nn.ConvNd`` pads for a mode."""
    import torch
    import torch.nn.functional as F

    rank = w.dim() - 2
    batched = x.dim() == w.dim()
    xb = x if batched else x[None]
    per_side = isinstance(padding, (tuple, list)) and any(
        isinstance(p, (tuple, list)) for p in padding)
    if per_side:
        flat = [int(v) for p in reversed(padding)
                for v in (tuple(p) if isinstance(p, (tuple, list)) else (p, p))]
        mode = "constant" if padding_mode == "zeros" else padding_mode
        fn = getattr(F, f"conv{rank}d")
        y = fn(F.pad(xb, flat, mode=mode), w, b, stride, 0, dilation, groups)
    else:
        module = getattr(torch.nn, f"Conv{rank}d")(
            xb.shape[1], w.shape[0], w.shape[2:], stride, padding, dilation, groups,
            bias=b is not None, padding_mode=padding_mode, device="meta")
        y = module._conv_forward(xb, w, b)
    return y if batched else y[0]


def _torch_conv_transpose(x, w, b, stride, padding, output_padding=0, groups=1, dilation=1):
    """``F.conv_transposeNd`` (batch axis added for one sample)."""
    import torch.nn.functional as F

    batched = x.dim() == w.dim()
    fn = getattr(F, f"conv_transpose{w.dim() - 2}d")
    y = fn(x if batched else x[None], w, b, stride, padding, output_padding, groups, dilation)
    return y if batched else y[0]


CONV = declare(Op(
    "conv", conv, conv_vjp, conv_jvp, operands=("x", "w", "b"), order=("w", "b", "x"),
    linear_in=("x", "w"), static=("stride", "padding", "dilation", "groups", "padding_mode"),
    sample=_sample_conv, torch=_torch_conv,
    doc="cross-correlation, kernel (outC, inC/groups, k...)"))

CONV_TRANSPOSE = declare(Op(
    "conv_transpose", conv_transpose, conv_transpose_vjp, conv_transpose_jvp,
    operands=("x", "w", "b"), order=("w", "b", "x"), linear_in=("x", "w"),
    static=("stride", "padding", "output_padding", "groups", "dilation"),
    sample=_sample_conv_transpose, torch=_torch_conv_transpose,
    doc="transposed convolution, kernel (inC, outC/groups, k...)"))
