"""Max and average pooling kernels, batched, 1 to 3 spatial axes.

Semantics of the specs: max pool ignores padded cells (PyTorch's ``-inf`` padding) and its
gradient goes to the FIRST maximum of each window in row-major order (strict ``>``), except
that a NaN wins, as in PyTorch (the window's LAST NaN: PyTorch updates on ``val > max or
isnan(val)``), so a NaN propagates to the output and the gradient goes to the NaN; avg
pool counts padded cells as zeros and divides by the kernel volume
(``count_include_pad=True``). Channels are folded into planes ``(N*C, *spatial)``.

The backward kernels are gathers (one thread per input cell sums over the windows that
contain it), so no atomics are needed and the host backend runs them faithfully. The max
pool backward reads the window's argmax (an index within the plane) written by the
forward kernel.
"""

from __future__ import annotations

import numpy as np

from .backends import KernelSource, get_backend
from .device import DEVICE_HELPERS
from .geometry import on_backend, operands, pool_geometry

__all__ = ["SOURCE", "avg_pool", "avg_pool_vjp", "max_pool", "max_pool_vjp"]

SOURCE = KernelSource(
    name="pool",
    kernels=("max_pool_forward", "max_pool_backward", "avg_pool_forward", "avg_pool_backward"),
    code=DEVICE_HELPERS + r"""
template <typename T> __device__ __forceinline__ T nnb_neg_inf();
template <> __device__ __forceinline__ float nnb_neg_inf<float>() {
  return __int_as_float((int)0xff800000u);
}
template <> __device__ __forceinline__ double nnb_neg_inf<double>() {
  return __longlong_as_double((long long)0xfff0000000000000ULL);
}


// y[plane, o] = max of the window's real cells; argmax[plane, o] = the index within the
// plane of the cell chosen, PyTorch's rule: the FIRST maximum in row-major window order
// (strict >), unless the window holds a NaN: then its LAST NaN (PyTorch updates on
// `val > max || isnan(val)`), so a NaN propagates and takes the gradient. -1 if the window
// has no real cell. The NaN is tracked apart so that both updates stay branch-free selects.
template <typename T>
__global__ void max_pool_forward(const T* __restrict__ x, T* __restrict__ y,
                                 int* __restrict__ argmax, int planes, int in_d, int in_h,
                                 int in_w, int out_d, int out_h, int out_w, int k_d, int k_h,
                                 int k_w, int s_d, int s_h, int s_w, int p_d, int p_h,
                                 int p_w) {
  const long long in_vol = (long long)in_d * in_h * in_w;
  const nnb_cells cells = nnb_make_cells(planes, out_d, out_h, out_w);
  for (long long idx = cells.first; idx < cells.total; idx += cells.step) {
    int o, t, u, v;
    const T* plane = x + nnb_unravel(idx, cells, &o, &t, &u, &v) * in_vol;
    T best = nnb_neg_inf<T>();
    int best_at = -1, nan_at = -1;
    for (int a = 0; a < k_d; ++a) {
      const int id = t * s_d - p_d + a;
      if (id < 0 || id >= in_d) continue;
      for (int b = 0; b < k_h; ++b) {
        const int ih = u * s_h - p_h + b;
        if (ih < 0 || ih >= in_h) continue;
        for (int e = 0; e < k_w; ++e) {
          const int iw = v * s_w - p_w + e;
          if (iw < 0 || iw >= in_w) continue;
          const int at = (id * in_h + ih) * in_w + iw;
          const T value = plane[at];
          if (best_at < 0 || value > best) { best = value; best_at = at; }
          if (value != value) nan_at = at;
        }
      }
    }
    if (nan_at >= 0) { best = plane[nan_at]; best_at = nan_at; }
    y[idx] = best;
    argmax[idx] = best_at;
  }
}

// grad_x[plane, i] = sum of grad_y[plane, o] over the windows o whose argmax is i.
template <typename T>
__global__ void max_pool_backward(const T* __restrict__ grad_y, const int* __restrict__ argmax,
                                  T* __restrict__ grad_x, int planes, int in_d, int in_h,
                                  int in_w, int out_d, int out_h, int out_w, int k_d, int k_h,
                                  int k_w, int s_d, int s_h, int s_w, int p_d, int p_h,
                                  int p_w) {
  const long long out_vol = (long long)out_d * out_h * out_w;
  const nnb_cells cells = nnb_make_cells(planes, in_d, in_h, in_w);
  const nnb_divisor d_sd = nnb_make_divisor(s_d), d_sh = nnb_make_divisor(s_h);
  const nnb_divisor d_sw = nnb_make_divisor(s_w);
  for (long long idx = cells.first; idx < cells.total; idx += cells.step) {
    int at, id, ih, iw;
    const long long plane = nnb_unravel(idx, cells, &at, &id, &ih, &iw);
    int t_lo, t_hi, u_lo, u_hi, v_lo, v_hi;
    nnb_window_range(id, k_d, d_sd, p_d, out_d, &t_lo, &t_hi);
    nnb_window_range(ih, k_h, d_sh, p_h, out_h, &u_lo, &u_hi);
    nnb_window_range(iw, k_w, d_sw, p_w, out_w, &v_lo, &v_hi);
    const long long base = plane * out_vol;
    T acc = (T)0;
    for (int t = t_lo; t <= t_hi; ++t)
      for (int u = u_lo; u <= u_hi; ++u)
        for (int v = v_lo; v <= v_hi; ++v) {
          const long long o = base + ((long long)t * out_h + u) * out_w + v;
          if (argmax[o] == at) acc += grad_y[o];
        }
    grad_x[idx] = acc;
  }
}

// y[plane, o] = (sum of the window's real cells) / (k_d * k_h * k_w): padding counts as 0.
template <typename T>
__global__ void avg_pool_forward(const T* __restrict__ x, T* __restrict__ y, int planes,
                                 int in_d, int in_h, int in_w, int out_d, int out_h, int out_w,
                                 int k_d, int k_h, int k_w, int s_d, int s_h, int s_w, int p_d,
                                 int p_h, int p_w) {
  const long long in_vol = (long long)in_d * in_h * in_w;
  const T count = (T)(k_d * k_h * k_w);
  const nnb_cells cells = nnb_make_cells(planes, out_d, out_h, out_w);
  for (long long idx = cells.first; idx < cells.total; idx += cells.step) {
    int o, t, u, v;
    const T* plane = x + nnb_unravel(idx, cells, &o, &t, &u, &v) * in_vol;
    T acc = (T)0;
    for (int a = 0; a < k_d; ++a) {
      const int id = t * s_d - p_d + a;
      if (id < 0 || id >= in_d) continue;
      for (int b = 0; b < k_h; ++b) {
        const int ih = u * s_h - p_h + b;
        if (ih < 0 || ih >= in_h) continue;
        for (int e = 0; e < k_w; ++e) {
          const int iw = v * s_w - p_w + e;
          if (iw < 0 || iw >= in_w) continue;
          acc += plane[(id * in_h + ih) * in_w + iw];
        }
      }
    }
    y[idx] = acc / count;
  }
}

// grad_x[plane, i] = (sum of grad_y over the windows containing i) / kernel volume.
template <typename T>
__global__ void avg_pool_backward(const T* __restrict__ grad_y, T* __restrict__ grad_x,
                                  int planes, int in_d, int in_h, int in_w, int out_d,
                                  int out_h, int out_w, int k_d, int k_h, int k_w, int s_d,
                                  int s_h, int s_w, int p_d, int p_h, int p_w) {
  const long long out_vol = (long long)out_d * out_h * out_w;
  const T count = (T)(k_d * k_h * k_w);
  const nnb_cells cells = nnb_make_cells(planes, in_d, in_h, in_w);
  const nnb_divisor d_sd = nnb_make_divisor(s_d), d_sh = nnb_make_divisor(s_h);
  const nnb_divisor d_sw = nnb_make_divisor(s_w);
  for (long long idx = cells.first; idx < cells.total; idx += cells.step) {
    int at, id, ih, iw;
    const long long plane = nnb_unravel(idx, cells, &at, &id, &ih, &iw);
    int t_lo, t_hi, u_lo, u_hi, v_lo, v_hi;
    nnb_window_range(id, k_d, d_sd, p_d, out_d, &t_lo, &t_hi);
    nnb_window_range(ih, k_h, d_sh, p_h, out_h, &u_lo, &u_hi);
    nnb_window_range(iw, k_w, d_sw, p_w, out_w, &v_lo, &v_hi);
    const long long base = plane * out_vol;
    T acc = (T)0;
    for (int t = t_lo; t <= t_hi; ++t)
      for (int u = u_lo; u <= u_hi; ++u)
        for (int v = v_lo; v <= v_hi; ++v)
          acc += grad_y[base + ((long long)t * out_h + u) * out_w + v];
    grad_x[idx] = acc / count;
  }
}
""",
)


def _planes(g) -> int:
    return g.n * g.c_in


def _max_pool_forward(be, x, g):
    y = be.xp.empty((g.n, g.c_in, *g.out_shape), dtype=x.dtype)
    argmax = be.xp.empty(y.shape, dtype=np.int32)
    be.launch("max_pool_forward", x.dtype, y.size, (x, y, argmax, _planes(g), *g.args()))
    return y, argmax


def max_pool(x, kernel, stride=None, padding=0, *, backend=None):
    """y[n, c, o] = max over k, in range, of x[n, c, o*s - p + k] (padding ignored).

    Parameters
    ----------
    x : array, (N, C, *spatial), 1 to 3 spatial axes, float32 or float64
    kernel, stride, padding : int or per-axis tuple; stride defaults to the kernel
    backend : "cupy", "host", a Backend, or None for the fastest available

    Returns
    -------
    y : array of the backend, (N, C, *pool_out(spatial, kernel, stride, padding))
    """
    be = get_backend(backend)
    (x,) = operands("max_pool", x=x)
    g = pool_geometry("max_pool", x.shape, kernel, stride, padding, "max")
    (x,) = on_backend(be, x)
    return _max_pool_forward(be, x, g)[0]


def max_pool_vjp(x, grad_y, kernel, stride=None, padding=0, *, backend=None):
    """grad_x[n, c, i] = sum of grad_y[n, c, o] over the windows o that select cell i: their
    FIRST maximum, or their last NaN (PyTorch's rule, see the module docstring).

    Returns
    -------
    grad_x : array of the backend, the shape of ``x``
    """
    be = get_backend(backend)
    x, grad_y = operands("max_pool_vjp", x=x, grad_y=grad_y)
    g = pool_geometry("max_pool_vjp", x.shape, kernel, stride, padding, "max",
                      grad_y=grad_y.shape)
    x, grad_y = on_backend(be, x, grad_y)
    _, argmax = _max_pool_forward(be, x, g)
    grad_x = be.xp.empty(x.shape, dtype=x.dtype)
    be.launch("max_pool_backward", x.dtype, grad_x.size,
              (grad_y, argmax, grad_x, _planes(g), *g.args()))
    return grad_x


def avg_pool(x, kernel, stride=None, padding=0, *, backend=None):
    """y[n, c, o] = (1 / prod(kernel)) * sum_k x_pad[n, c, o*s + k] (count_include_pad).

    Parameters and returns as for :func:`max_pool`.
    """
    be = get_backend(backend)
    (x,) = operands("avg_pool", x=x)
    g = pool_geometry("avg_pool", x.shape, kernel, stride, padding, "avg")
    (x,) = on_backend(be, x)
    y = be.xp.empty((g.n, g.c_in, *g.out_shape), dtype=x.dtype)
    be.launch("avg_pool_forward", x.dtype, y.size, (x, y, _planes(g), *g.args()))
    return y


def avg_pool_vjp(x, grad_y, kernel, stride=None, padding=0, *, backend=None):
    """grad_x[n, c, i] = (1 / prod(kernel)) * sum of grad_y[n, c, o] over windows o containing i.

    Returns
    -------
    grad_x : array of the backend, the shape of ``x``
    """
    be = get_backend(backend)
    x, grad_y = operands("avg_pool_vjp", x=x, grad_y=grad_y)
    g = pool_geometry("avg_pool_vjp", x.shape, kernel, stride, padding, "avg",
                      grad_y=grad_y.shape)
    x, grad_y = on_backend(be, x, grad_y)
    grad_x = be.xp.empty(x.shape, dtype=x.dtype)
    be.launch("avg_pool_backward", x.dtype, grad_x.size,
              (grad_y, grad_x, _planes(g), *g.args()))
    return grad_x
