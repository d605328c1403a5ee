"""Registry entries for the kernels of :mod:`nnbridge.kernels`, one set per available backend.

Named ``kernels.<backend>.<op>``: the kernels' backward rules checked as adjoints of their
forward, batched (N = 2), 1 to 3 spatial axes, with stride and padding:

* conv and transposed conv in ``x`` and in ``w`` (linear maps: the kernel forward with a
  zero bias is ``A``, the kernel VJP's gradient is ``A^T``), and in ``(w, b, x)`` jointly
  (the linearisation ``dy = f(dx, w, db) + f(x, dw, 0)``, built from kernel forwards, since
  the op is bilinear in ``x, w`` and affine in ``b``);
* avg pool (linear: the kernel forward and the kernel VJP);
* max pool at a point without ties: the kernels have no JVP, so ``A`` is the spec's
  linearisation (``max_pool_jvp``, sample by sample) and ``A^T`` the kernel's VJP; the
  finite-difference check then compares that JVP with the KERNEL forward.

A backend that cannot run here (no GPU, no compiler) registers nothing.
"""

from __future__ import annotations

import numpy as np

from nnbridge.kernels import (
    available_backends,
    avg_pool,
    avg_pool_vjp,
    conv,
    conv_transpose,
    conv_transpose_vjp,
    conv_vjp,
    get_backend,
    max_pool,
    max_pool_vjp,
)
from nnbridge.spec.pool import max_pool_jvp

from .registry import Case, entry

__all__: list[str] = []

N, IN_C, OUT_C, C = 2, 3, 2, 2
# (spatial sizes, kernel, stride, padding) per rank
CONV_GEOMETRY = {
    1: ((9,), (3,), (2,), (1,)),
    2: ((6, 5), (3, 2), (2, 1), (1, 0)),
    3: ((4, 3, 4), (3, 2, 2), (1, 2, 2), (1, 0, 1)),
}
# kernel volumes 2, 4, 8: avg pool's division stays exact (dyadic)
POOL_GEOMETRY = {
    1: ((9,), (2,), (2,), (1,)),
    2: ((6, 7), (2, 2), (2, 1), (0, 1)),
    3: ((4, 5, 4), (2, 2, 2), (2, 1, 2), (1, 0, 0)),
}


def _conv_case(s, be, rank: int, wrt: str, transpose: bool) -> Case:
    size, kernel, stride, padding = CONV_GEOMETRY[rank]
    f, f_vjp = (conv_transpose, conv_transpose_vjp) if transpose else (conv, conv_vjp)
    x = s.array((N, IN_C, *size))
    w = s.array(((IN_C, OUT_C) if transpose else (OUT_C, IN_C)) + kernel)
    b = s.array((OUT_C,))
    zero_b = np.zeros_like(b)

    def fwd(x, w, b):
        return be.to_numpy(f(x, w, b, stride, padding, backend=be))

    def vjp(g):
        return tuple(be.to_numpy(a) for a in f_vjp(x, w, b, g, stride, padding, backend=be))

    if wrt == "x":
        return Case((x,), forward=lambda x: fwd(x, w, b), jvp=lambda dx: fwd(dx, w, zero_b),
                    vjp=lambda g: (vjp(g)[2],))
    if wrt == "w":
        return Case((w,), forward=lambda w: fwd(x, w, b), jvp=lambda dw: fwd(x, dw, zero_b),
                    vjp=lambda g: (vjp(g)[0],))
    return Case((w, b, x), forward=lambda w, b, x: fwd(x, w, b),
                jvp=lambda dw, db, dx: fwd(dx, w, db) + fwd(x, dw, zero_b), vjp=vjp)


def _avg_case(s, be, rank: int) -> Case:
    size, kernel, stride, padding = POOL_GEOMETRY[rank]
    x = s.array((N, C, *size))

    def fwd(x):
        return be.to_numpy(avg_pool(x, kernel, stride, padding, backend=be))

    return Case((x,), forward=fwd, jvp=fwd,
                vjp=lambda g: (be.to_numpy(avg_pool_vjp(x, g, kernel, stride, padding,
                                                        backend=be)),))


def _max_case(s, be, rank: int) -> Case:
    size, kernel, stride, padding = POOL_GEOMETRY[rank]
    x = s.unique((N, C, *size))

    def jvp(dx):
        return np.stack([max_pool_jvp(x[n], dx[n], kernel, stride, padding)
                         for n in range(N)])

    return Case((x,), forward=lambda x: be.to_numpy(max_pool(x, kernel, stride, padding,
                                                             backend=be)),
                jvp=jvp,
                vjp=lambda g: (be.to_numpy(max_pool_vjp(x, g, kernel, stride, padding,
                                                        backend=be)),))


def _register(name: str) -> None:
    be = get_backend(name)
    for transpose, op in ((False, "conv"), (True, "conv_transpose")):
        for rank in CONV_GEOMETRY:
            for wrt in ("x", "w", "wbx"):
                entry(f"kernels.{name}.{op}{rank}d.{wrt}")(
                    lambda s, r=rank, a=wrt, t=transpose: _conv_case(s, be, r, a, t))
    for rank in POOL_GEOMETRY:
        entry(f"kernels.{name}.avg_pool{rank}d")(lambda s, r=rank: _avg_case(s, be, r))
        entry(f"kernels.{name}.max_pool{rank}d")(lambda s, r=rank: _max_case(s, be, r))


for _name in available_backends():
    _register(_name)
