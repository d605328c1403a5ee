"""Convolution and transposed convolution kernels, batched, 1 to 3 spatial axes.

The contractions go through ``matmul`` (cuBLAS on the GPU, BLAS on the host); the index
work is in two CUDA kernels, :data:`SOURCE`:

``im2col``
    ``cols[n, (c, k), o] = x_pad[n, c, o*s - p + k]`` (zero outside the input);
``col2im``
    its adjoint as a gather: ``img[n, c, i] = sum over o, k with o*s - p + k = i of
    cols[n, (c, k), o]``, so no atomics are needed.

Then, with ``W`` the weight as a matrix and ``@`` a per-sample matmul (the batch goes in
chunks whose columns fit :data:`WORKSPACE_BYTES`):

* conv: ``y = W @ im2col(x) + b``;
* conv vjp: ``grad_w = sum_n grad_y[n] @ im2col(x)[n]^T``, ``grad_x = col2im(W^T @ grad_y)``;
* conv transpose: ``y = col2im(W^T @ x) + b`` (the conv's input gradient);
* conv transpose vjp: ``grad_x = W @ im2col(grad_y)``,
  ``grad_w = sum_n x[n] @ im2col(grad_y)[n]^T``.

Layouts follow the specs: ``x`` is ``(N, C_in, *spatial)``; the conv weight is
``(C_out, C_in, *kernel)``, the transposed conv weight ``(C_in, C_out, *kernel)``.
Shorter inputs are embedded in three axes (leading axes of size 1, kernel 1, stride 1,
padding 0), so one kernel serves 1-D, 2-D and 3-D.
"""

from __future__ import annotations

from .backends import KernelSource, get_backend
from .device import DEVICE_HELPERS
from .geometry import conv_geometry, conv_transpose_geometry, on_backend, operands

__all__ = [
    "SOURCE",
    "WORKSPACE_BYTES",
    "conv",
    "conv_transpose",
    "conv_transpose_vjp",
    "conv_vjp",
]

SOURCE = KernelSource(
    name="conv",
    kernels=("im2col", "col2im"),
    code=DEVICE_HELPERS + r"""
// cols[n, ((c*kd + a)*kh + b)*kw + e, (od*oh + u)*ow + v] = x[n, c, u*s - p + ...] or 0.
// Consecutive threads take consecutive elements of cols, in its row-major order (coalesced
// writes): a row of cols is one (sample, channel, kernel tap), its columns the positions.
template <typename T>
__global__ void im2col(const T* __restrict__ x, T* __restrict__ cols, int n_batch,
                       int channels, int in_d, int in_h, int in_w, int out_d, int out_h,
                       int out_w, int k_d, int k_h, int k_w, int s_d, int s_h, int s_w,
                       int p_d, int p_h, int p_w) {
  const nnb_cells taps = nnb_make_cells((long long)n_batch * channels, k_d, k_h, k_w);
  const nnb_cells cells = nnb_make_cells(taps.total, out_d, out_h, out_w);
  for (long long idx = cells.first; idx < cells.total; idx += cells.step) {
    int o, t, u, v, k, a, b, e;
    const long long row = nnb_unravel(idx, cells, &o, &t, &u, &v);
    const long long plane = nnb_unravel(row, taps, &k, &a, &b, &e);
    const int id = t * s_d - p_d + a;
    const int ih = u * s_h - p_h + b;
    const int iw = v * s_w - p_w + e;
    T value = (T)0;
    if (id >= 0 && id < in_d && ih >= 0 && ih < in_h && iw >= 0 && iw < in_w)
      value = x[((plane * in_d + id) * in_h + ih) * in_w + iw];
    cols[idx] = value;
  }
}

// The adjoint of im2col, as a gather: one thread per image element sums the columns that
// read it, windows in row-major order.
template <typename T>
__global__ void col2im(const T* __restrict__ cols, T* __restrict__ img, int n_batch,
                       int channels, int in_d, int in_h, int in_w, int out_d, int out_h,
                       int out_w, int k_d, int k_h, int k_w, int s_d, int s_h, int s_w,
                       int p_d, int p_h, int p_w) {
  const long long out_vol = (long long)out_d * out_h * out_w;
  const long long k_vol = (long long)k_d * k_h * k_w;
  const nnb_cells cells = nnb_make_cells((long long)n_batch * channels, in_d, in_h, in_w);
  const nnb_divisor d_sd = nnb_make_divisor(s_d), d_sh = nnb_make_divisor(s_h);
  const nnb_divisor d_sw = nnb_make_divisor(s_w);
  for (long long idx = cells.first; idx < cells.total; idx += cells.step) {
    int at, id, ih, iw;
    const long long plane = nnb_unravel(idx, cells, &at, &id, &ih, &iw);
    int t_lo, t_hi, u_lo, u_hi, v_lo, v_hi;
    nnb_window_range(id, k_d, d_sd, p_d, out_d, &t_lo, &t_hi);
    nnb_window_range(ih, k_h, d_sh, p_h, out_h, &u_lo, &u_hi);
    nnb_window_range(iw, k_w, d_sw, p_w, out_w, &v_lo, &v_hi);
    const T* base = cols + plane * k_vol * out_vol;
    T acc = (T)0;
    for (int t = t_lo; t <= t_hi; ++t) {
      const int a = id + p_d - t * s_d;
      for (int u = u_lo; u <= u_hi; ++u) {
        const int b = ih + p_h - u * s_h;
        for (int v = v_lo; v <= v_hi; ++v) {
          const int e = iw + p_w - v * s_w;
          const long long row = ((long long)a * k_h + b) * k_w + e;
          acc += base[row * out_vol + ((long long)t * out_h + u) * out_w + v];
        }
      }
    }
    img[idx] = acc;
  }
}
""",
)


#: Bytes of im2col columns a launcher holds at once: the batch is processed in chunks of
#: samples whose columns fit (at least one sample per chunk), so memory stays bounded and
#: every weight-gradient product is a plain 2-D GEMM (no transposed batched copy).
WORKSPACE_BYTES = 256 * 2**20


def _chunks(g, channels, itemsize):
    """``(start, stop)`` sample ranges whose im2col columns fit :data:`WORKSPACE_BYTES`."""
    per_sample = channels * g.k_vol * g.out_vol * itemsize
    step = max(1, min(g.n, WORKSPACE_BYTES // max(1, per_sample)))
    return [(start, min(start + step, g.n)) for start in range(0, g.n, step)]


def _im2col(be, x, g, channels):
    """Columns of the samples of ``x`` (a leading slice of the batch is C-contiguous)."""
    n = x.shape[0]
    cols = be.xp.empty((n, channels * g.k_vol, g.out_vol), dtype=x.dtype)
    be.launch("im2col", x.dtype, cols.size, (x, cols, n, channels, *g.args()))
    return cols


def _col2im(be, cols, g, channels, out=None):
    n = cols.shape[0]
    img = be.xp.empty((n, channels, *g.in_shape), dtype=cols.dtype) if out is None else out
    be.launch("col2im", cols.dtype, img.size, (cols, img, n, channels, *g.args()))
    return img


def _accumulate_weight_grad(xp, grad_w, left, cols):
    """``grad_w += sum_i left[i] @ cols[i]^T``, one 2-D GEMM per sample."""
    for i in range(cols.shape[0]):
        grad_w += xp.matmul(left[i], cols[i].T)


def conv(x, w, b=None, stride=1, padding=0, *, backend=None):
    """y[n, oc, o] = sum_{ic, k} x_pad[n, ic, o*s + k] * w[oc, ic, k] + b[oc].

    Parameters
    ----------
    x : array, (N, C_in, *spatial), 1 to 3 spatial axes, float32 or float64
    w : array, (C_out, C_in, *kernel)
    b : array, (C_out,), or None for no bias
    stride, padding : int or per-axis tuple
    backend : "cupy", "host", a Backend, or None for the fastest available

    Returns
    -------
    y : array of the backend, (N, C_out, *out) with out = conv_out(spatial, kernel, stride,
        padding) (PyTorch's rules; a ShapeError where PyTorch raises)
    """
    be = get_backend(backend)
    x, w, b = operands("conv", ("b",), x=x, w=w, b=b)
    g = conv_geometry("conv", x.shape, w.shape, b, stride, padding)
    x, w, b = on_backend(be, x, w, b)
    w2 = w.reshape(g.c_out, g.c_in * g.k_vol)
    y = be.xp.empty((g.n, g.c_out, g.out_vol), dtype=x.dtype)
    for start, stop in _chunks(g, g.c_in, x.dtype.itemsize):
        be.xp.matmul(w2, _im2col(be, x[start:stop], g, g.c_in), out=y[start:stop])
    if b is not None:
        y += b[:, None]
    return y.reshape(g.n, g.c_out, *g.out_shape)


def conv_vjp(x, w, b, grad_y, stride=1, padding=0, *, backend=None):
    """grad_w = sum_{n,o} grad_y[n, :, o] x_pad[n, :, o*s + k]; grad_x = conv^T(grad_y).

    Parameters
    ----------
    x, w, b, stride, padding, backend
        As for :func:`conv` (``b`` only fixes the shape of ``grad_b``; it may be None).
    grad_y : array, (N, C_out, *out)

    Returns
    -------
    (grad_w, grad_b, grad_x)
        Summed over the batch for ``grad_w`` and ``grad_b``; ``grad_x`` per sample.
    """
    be = get_backend(backend)
    x, w, b, grad_y = operands("conv_vjp", ("b",), x=x, w=w, b=b, grad_y=grad_y)
    g = conv_geometry("conv_vjp", x.shape, w.shape, b, stride, padding, grad_y=grad_y.shape)
    x, w, b, grad_y = on_backend(be, x, w, b, grad_y)
    xp = be.xp
    gy = grad_y.reshape(g.n, g.c_out, g.out_vol)
    w2 = w.reshape(g.c_out, g.c_in * g.k_vol)
    grad_w = xp.zeros(w2.shape, dtype=x.dtype)
    grad_x = xp.empty(x.shape, dtype=x.dtype)
    for start, stop in _chunks(g, g.c_in, x.dtype.itemsize):
        cols = _im2col(be, x[start:stop], g, g.c_in)
        _accumulate_weight_grad(xp, grad_w, gy[start:stop], cols)
        grad_cols = xp.matmul(w2.T, gy[start:stop], out=cols)
        _col2im(be, grad_cols, g, g.c_in, out=grad_x[start:stop])
    grad_b = gy.sum(axis=(0, 2))
    return grad_w.reshape(w.shape), grad_b, grad_x


def conv_transpose(x, w, b=None, stride=1, padding=0, *, backend=None):
    """y[n, oc, o] = sum_{ic, k: o + p - k = i*s} x[n, ic, i] * w[ic, oc, k] + b[oc].

    Parameters
    ----------
    x : array, (N, C_in, *spatial)
    w : array, (C_in, C_out, *kernel)
    b : array, (C_out,), or None
    stride, padding, backend
        As for :func:`conv`.

    Returns
    -------
    y : array, (N, C_out, *out) with out = conv_transpose_out(spatial, kernel, stride,
        padding) = (spatial - 1) * stride - 2 * padding + kernel
    """
    be = get_backend(backend)
    x, w, b = operands("conv_transpose", ("b",), x=x, w=w, b=b)
    g = conv_transpose_geometry("conv_transpose", x.shape, w.shape, b, stride, padding)
    x, w, b = on_backend(be, x, w, b)
    w2t = w.reshape(g.c_in, g.c_out * g.k_vol).T
    x3 = x.reshape(g.n, g.c_in, g.out_vol)
    y = be.xp.empty((g.n, g.c_out, *g.in_shape), dtype=x.dtype)
    for start, stop in _chunks(g, g.c_out, x.dtype.itemsize):
        _col2im(be, be.xp.matmul(w2t, x3[start:stop]), g, g.c_out, out=y[start:stop])
    if b is not None:
        y += b.reshape(g.c_out, *([1] * len(g.in_shape)))
    return y


def conv_transpose_vjp(x, w, b, grad_y, stride=1, padding=0, *, backend=None):
    """grad_x = conv(grad_y, w as (C_in, C_out, *k)); grad_w[ic, oc, k] = sum x * grad_y_pad.

    Returns
    -------
    (grad_w, grad_b, grad_x)
        ``grad_w`` and ``grad_b`` summed over the batch, ``grad_x`` per sample.
    """
    be = get_backend(backend)
    x, w, b, grad_y = operands("conv_transpose_vjp", ("b",), x=x, w=w, b=b,
                               grad_y=grad_y)
    g = conv_transpose_geometry("conv_transpose_vjp", x.shape, w.shape, b, stride, padding,
                                grad_y=grad_y.shape)
    x, w, b, grad_y = on_backend(be, x, w, b, grad_y)
    xp = be.xp
    x3 = x.reshape(g.n, g.c_in, g.out_vol)
    w2 = w.reshape(g.c_in, g.c_out * g.k_vol)
    grad_w = xp.zeros(w2.shape, dtype=x.dtype)
    grad_x = xp.empty((g.n, g.c_in, g.out_vol), dtype=x.dtype)
    for start, stop in _chunks(g, g.c_out, x.dtype.itemsize):
        cols = _im2col(be, grad_y[start:stop], g, g.c_out)
        xp.matmul(w2, cols, out=grad_x[start:stop])
        _accumulate_weight_grad(xp, grad_w, x3[start:stop], cols)
    grad_b = grad_y.reshape(g.n, g.c_out, g.in_vol).sum(axis=(0, 2))
    return grad_w.reshape(w.shape), grad_b, grad_x.reshape(x.shape)
