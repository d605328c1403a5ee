"""Max and average pooling kernels, batched, 1 to 3 spatial axes.

Semantics of the specs: max pool ignores padded cells (PyTorch's ``-inf`` padding) and its
gradient goes to the FIRST maximum of each window in row-major order (strict ``>``); avg
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
from .geometry import pool_geometry, prepare

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


// y[plane, o] = max of the window's real cells; argmax[plane, o] = index of the FIRST
// maximum within the plane (row-major window order, strict >), -1 if the window is empty.
template <typename T>
__global__ void max_pool_forward(const T* __restrict__ x, T* __restrict__ y,
                                 int* __restrict__ argmax, int planes, int in_d, int in_h,
                                 int in_w, int out_d, int out_h, int out_w, int k_d, int k_h,
                                 int k_w, int s_d, int s_h, int s_w, int p_d, int p_h,
                                 int p_w) {
  const long long out_vol = (long long)out_d * out_h * out_w;
  const long long in_vol = (long long)in_d * in_h * in_w;
  const long long total = (long long)planes * out_vol;
  const long long step = (long long)blockDim.x * gridDim.x;
  const nnb_divisor d_plane = nnb_make_divisor(out_d * out_h * out_w);
  const nnb_divisor d_ow = nnb_make_divisor(out_w), d_oh = nnb_make_divisor(out_h);
  for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += step) {
    int r, v, u;
    const T* plane = x + nnb_split(idx, d_plane, &r) * in_vol;
    r = nnb_divmod(r, d_ow, &v);
    const int t = nnb_divmod(r, d_oh, &u);
    T best = nnb_neg_inf<T>();
    int best_at = -1;
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
        }
      }
    }
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
  const long long in_vol = (long long)in_d * in_h * in_w;
  const long long total = (long long)planes * in_vol;
  const long long step = (long long)blockDim.x * gridDim.x;
  const nnb_divisor d_plane = nnb_make_divisor(in_d * in_h * in_w);
  const nnb_divisor d_iw = nnb_make_divisor(in_w), d_ih = nnb_make_divisor(in_h);
  const nnb_divisor d_sd = nnb_make_divisor(s_d), d_sh = nnb_make_divisor(s_h);
  const nnb_divisor d_sw = nnb_make_divisor(s_w);
  for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += step) {
    int at, r, iw, ih;
    const long long plane = nnb_split(idx, d_plane, &at);
    r = nnb_divmod(at, d_iw, &iw);
    const int id = nnb_divmod(r, d_ih, &ih);
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
  const long long out_vol = (long long)out_d * out_h * out_w;
  const long long in_vol = (long long)in_d * in_h * in_w;
  const long long total = (long long)planes * out_vol;
  const long long step = (long long)blockDim.x * gridDim.x;
  const T count = (T)(k_d * k_h * k_w);
  const nnb_divisor d_plane = nnb_make_divisor(out_d * out_h * out_w);
  const nnb_divisor d_ow = nnb_make_divisor(out_w), d_oh = nnb_make_divisor(out_h);
  for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += step) {
    int r, v, u;
    const T* plane = x + nnb_split(idx, d_plane, &r) * in_vol;
    r = nnb_divmod(r, d_ow, &v);
    const int t = nnb_divmod(r, d_oh, &u);
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
  const long long in_vol = (long long)in_d * in_h * in_w;
  const long long total = (long long)planes * in_vol;
  const long long step = (long long)blockDim.x * gridDim.x;
  const T count = (T)(k_d * k_h * k_w);
  const nnb_divisor d_plane = nnb_make_divisor(in_d * in_h * in_w);
  const nnb_divisor d_iw = nnb_make_divisor(in_w), d_ih = nnb_make_divisor(in_h);
  const nnb_divisor d_sd = nnb_make_divisor(s_d), d_sh = nnb_make_divisor(s_h);
  const nnb_divisor d_sw = nnb_make_divisor(s_w);
  for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += step) {
    int at, r, iw, ih;
    const long long plane = nnb_split(idx, d_plane, &at);
    r = nnb_divmod(at, d_iw, &iw);
    const int id = nnb_divmod(r, d_ih, &ih);
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
    (x,) = prepare(be, "max_pool", x=x)
    g = pool_geometry("max_pool", x.shape, kernel, stride, padding, "max")
    return _max_pool_forward(be, x, g)[0]


def max_pool_vjp(x, grad_y, kernel, stride=None, padding=0, *, backend=None):
    """grad_x[n, c, i] = sum of grad_y[n, c, o] over the windows o whose FIRST maximum is i.

    Returns
    -------
    grad_x : array of the backend, the shape of ``x``
    """
    be = get_backend(backend)
    x, grad_y = prepare(be, "max_pool_vjp", x=x, grad_y=grad_y)
    g = pool_geometry("max_pool_vjp", x.shape, kernel, stride, padding, "max",
                      grad_y=grad_y.shape)
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
    (x,) = prepare(be, "avg_pool", x=x)
    g = pool_geometry("avg_pool", x.shape, kernel, stride, padding, "avg")
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
    x, grad_y = prepare(be, "avg_pool_vjp", x=x, grad_y=grad_y)
    g = pool_geometry("avg_pool_vjp", x.shape, kernel, stride, padding, "avg",
                      grad_y=grad_y.shape)
    grad_x = be.xp.empty(x.shape, dtype=x.dtype)
    be.launch("avg_pool_backward", x.dtype, grad_x.size,
              (grad_y, grad_x, _planes(g), *g.args()))
    return grad_x
