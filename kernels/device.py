"""Device helpers every kernel source starts with: literal CUDA C, index arithmetic only.

``nnb_divisor``
    Division by a fixed positive ``int`` ``d`` of any ``0 <= n < 2**31`` by one multiply
    and a shift (Granlund and Montgomery's method, as CUTLASS's ``FastDivmod``): with
    ``l = ceil(log2 d)`` and ``m = ceil(2**(31 + l) / d)`` (which fits 32 bits),
    ``n / d = (n * m) >> (31 + l)``, exact because ``m d - 2**(31 + l) < d`` and
    ``n < 2**31`` keep the error below ``1 / d``. GPUs have no integer divider (a division
    is a sequence of some twenty instructions) and a CPU's takes tens of cycles; the kernels
    split every flat index into coordinates, several divisions per element, so each
    kernel sets its divisors up once per thread and runs a grid-stride loop over many
    elements (the launchers cap the grid).
``nnb_split``
    ``idx = plane * volume + at``: the fast path while ``idx < 2**31``, 64-bit otherwise.
``nnb_cells``, ``nnb_make_cells``, ``nnb_unravel``
    Every kernel's index set-up, written once: a kernel walks ``planes`` row-major planes
    of ``d x h x w`` cells in a grid-stride loop, ``for (long long idx = cells.first;
    idx < cells.total; idx += cells.step)``, and ``nnb_unravel`` splits each flat index
    into ``plane`` (the fused batch and channel index), the flat offset ``at`` within the
    plane, and the coordinates ``z, y, x``: one split and two fixed-divisor divisions. A
    kernel with more coordinates (``im2col``: the plane, a kernel tap and an output
    position) unravels twice, the first call's plane being the second call's index.
``nnb_window_range``
    The windows along one axis that contain an input position (for the gathers).

Guarded by ``NNBRIDGE_KERNEL_HELPERS``: each source compiles alone (nvcc, NVRTC), and the
host build, which joins the sources in one translation unit, defines them once.
"""

from __future__ import annotations

__all__ = ["DEVICE_HELPERS"]

DEVICE_HELPERS = r"""
#ifndef NNBRIDGE_KERNEL_HELPERS
#define NNBRIDGE_KERNEL_HELPERS
// A fixed divisor d >= 1: n / d = umulhi(n, m) >> s for 0 <= n < 2**31 (d == 1: n).
struct nnb_divisor {
  unsigned int d, m, s;
};

__device__ __forceinline__ nnb_divisor nnb_make_divisor(int d) {
  nnb_divisor v;
  v.d = (unsigned int)d;
  unsigned int l = 0;  // ceil(log2 d)
  while ((1ull << l) < v.d) ++l;
  if (v.d == 1) {
    v.m = 0;
    v.s = 0;
  } else {  // m = ceil(2**(31 + l) / d) < 2**32; q = (n m) >> (31 + l) = umulhi(n, m) >> (l - 1)
    v.m = (unsigned int)(((1ull << (31 + l)) + v.d - 1) / v.d);
    v.s = l - 1;
  }
  return v;
}

__device__ __forceinline__ int nnb_div(int n, nnb_divisor v) {
  return v.d == 1 ? n : (int)(__umulhi((unsigned int)n, v.m) >> v.s);
}

// q = n / d, *rem = n % d, for 0 <= n < 2**31.
__device__ __forceinline__ int nnb_divmod(int n, nnb_divisor v, int* rem) {
  const int q = nnb_div(n, v);
  *rem = n - q * (int)v.d;
  return q;
}

// idx = plane * volume + at with 0 <= at < volume < 2**31; returns plane.
__device__ __forceinline__ long long nnb_split(long long idx, nnb_divisor volume, int* at) {
  if (idx <= 0x7fffffffLL) return nnb_divmod((int)idx, volume, at);
  const long long q = idx / volume.d;
  *at = (int)(idx - q * volume.d);
  return q;
}

// This thread's share of a grid-stride loop over `planes` row-major planes of d x h x w
// cells, and the divisors that split a flat index, set up once per thread:
//   for (long long idx = cells.first; idx < cells.total; idx += cells.step) { ... }
struct nnb_cells {
  long long first, step, total;
  nnb_divisor volume, h, w;
};

__device__ __forceinline__ nnb_cells nnb_make_cells(long long planes, int d, int h, int w) {
  nnb_cells c;
  c.first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  c.step = (long long)blockDim.x * gridDim.x;
  c.total = planes * d * h * w;
  c.volume = nnb_make_divisor(d * h * w);
  c.h = nnb_make_divisor(h);
  c.w = nnb_make_divisor(w);
  return c;
}

// idx = plane * (d h w) + at with at = (z h + y) w + x: returns plane; sets at, z, y, x.
__device__ __forceinline__ long long nnb_unravel(long long idx, const nnb_cells& c, int* at,
                                                 int* z, int* y, int* x) {
  const long long plane = nnb_split(idx, c.volume, at);
  *z = nnb_divmod(nnb_divmod(*at, c.w, x), c.h, y);
  return plane;
}

// Windows o along one axis that contain input position i: o*s - p <= i <= o*s - p + k - 1.
__device__ __forceinline__ void nnb_window_range(int i, int k, nnb_divisor s, int p, int n_out,
                                                 int* lo, int* hi) {
  const int top = i + p;               // o*s <= i + p
  const int bottom = top - k + 1;      // o*s >= i + p - k + 1
  *hi = nnb_div(top, s);
  if (*hi > n_out - 1) *hi = n_out - 1;
  *lo = bottom <= 0 ? 0 : nnb_div(bottom + (int)s.d - 1, s);
}
#endif
"""
