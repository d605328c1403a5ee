"""Registry entries for the layer specs of :mod:`nnbridge.spec.conv` and :mod:`nnbridge.spec.pool`.

Linear maps: conv in ``x`` and in ``w``, transposed conv in ``x`` and in ``w``, avg pool, the
padding and cropping of spatial axes. Linearisations (JVP as ``A``, VJP as ``A^T``): conv and
transposed conv in ``(w, b, x)`` jointly (TorchLean's theorem
``<jvp(delta), g> = <dK, deltaK> + <dB, deltaB> + <dX, deltaX>``), max pool at a point without
ties, smooth max pool. 1, 2 and 3 spatial axes, with and without stride and padding.
"""

from __future__ import annotations

import numpy as np

from nnbridge.spec.conv import (
    conv,
    conv_jvp,
    conv_transpose,
    conv_transpose_jvp,
    conv_transpose_vjp,
    conv_vjp,
    crop_spatial,
    pad_spatial,
)
from nnbridge.spec.pool import (
    avg_pool,
    avg_pool_jvp,
    avg_pool_vjp,
    max_pool,
    max_pool_jvp,
    max_pool_vjp,
    smooth_max_pool,
    smooth_max_pool_jvp,
    smooth_max_pool_vjp,
)

from .registry import Case, entry

__all__: list[str] = []

# (spatial sizes, kernel, stride, padding) per rank
CONV_GEOMETRY = {
    1: ((9,), (3,), (2,), (1,)),
    2: ((7, 6), (3, 2), (2, 1), (1, 0)),
    3: ((5, 4, 5), (3, 2, 2), (1, 2, 2), (1, 0, 1)),
}
IN_C, OUT_C = 3, 2


def _conv_case(s, rank: int, wrt: str, transpose: bool) -> Case:
    size, kernel, stride, padding = CONV_GEOMETRY[rank]
    f, f_jvp, f_vjp = ((conv_transpose, conv_transpose_jvp, conv_transpose_vjp) if transpose
                       else (conv, conv_jvp, conv_vjp))
    x = s.array((IN_C, *size))
    w = s.array(((IN_C, OUT_C) if transpose else (OUT_C, IN_C)) + kernel)
    b = s.array((OUT_C,))
    opts = {"stride": stride, "padding": padding}
    if wrt == "x":
        return Case((x,), forward=lambda x: f(x, w, b, **opts),
                    jvp=lambda dx: f_jvp(x, w, b, dx, None, None, **opts),
                    vjp=lambda g: (f_vjp(x, w, b, g, **opts)[2],))
    if wrt == "w":
        return Case((w,), forward=lambda w: f(x, w, b, **opts),
                    jvp=lambda dw: f_jvp(x, w, b, None, dw, None, **opts),
                    vjp=lambda g: (f_vjp(x, w, b, g, **opts)[0],))
    return Case((w, b, x), forward=lambda w, b, x: f(x, w, b, **opts),
                jvp=lambda dw, db, dx: f_jvp(x, w, b, dx, dw, db, **opts),
                vjp=lambda g: f_vjp(x, w, b, g, **opts))


def _register_conv() -> None:
    for transpose, op in ((False, "conv"), (True, "conv_transpose")):
        for rank in (1, 2, 3):
            for wrt in ("x", "w", "wbx"):
                entry(f"{op}{rank}d.{wrt}")(
                    lambda s, r=rank, a=wrt, t=transpose: _conv_case(s, r, a, t))


_register_conv()


# --------------------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------------------
# (spatial sizes, kernel, stride, padding); avg-pool kernel volumes 2, 4, 8 keep the
# division by the volume exact, so these are exact-mode entries.
POOL_GEOMETRY = {
    "1d": ((9,), (2,), (2,), (1,)),
    "2d": ((6, 7), (2, 2), (2, 1), (0, 1)),
    "3d": ((4, 5, 4), (2, 2, 2), (2, 1, 2), (1, 0, 0)),
}
C = 3


def _pool_args(tag):
    size, kernel, stride, padding = POOL_GEOMETRY[tag]
    return size, {"kernel": kernel, "stride": stride, "padding": padding}


def _avg_case(s, size, opts) -> Case:
    x = s.array((C, *size))
    return Case((x,), forward=lambda x: avg_pool(x, **opts),
                jvp=lambda dx: avg_pool_jvp(x, dx, **opts),
                vjp=lambda g: (avg_pool_vjp(x, g, **opts),))


def _max_case(s, size, opts) -> Case:
    x = s.unique((C, *size))
    return Case((x,), forward=lambda x: max_pool(x, **opts),
                jvp=lambda dx: max_pool_jvp(x, dx, **opts),
                vjp=lambda g: (max_pool_vjp(x, g, **opts),))


def _smooth_case(s, size, opts, beta) -> Case:
    x = s.array((C, *size))
    return Case((x,), forward=lambda x: smooth_max_pool(x, beta=beta, **opts),
                jvp=lambda dx: smooth_max_pool_jvp(x, dx, beta=beta, **opts),
                vjp=lambda g: (smooth_max_pool_vjp(x, g, beta=beta, **opts),))


def _register_pools() -> None:
    for tag in POOL_GEOMETRY:
        size, opts = _pool_args(tag)
        entry(f"avg_pool{tag}")(lambda s, z=size, o=opts: _avg_case(s, z, o))
        entry(f"max_pool{tag}")(lambda s, z=size, o=opts: _max_case(s, z, o))
        entry(f"smooth_max_pool{tag}", exact=False)(
            lambda s, z=size, o=opts: _smooth_case(s, z, o, 1.5))
    # TorchLean's unpadded 2D pools (maxPool2d, avgPool2d) and a 3x3 average (divisor 9,
    # not exact), overlapping windows
    size, opts = (6, 6), {"kernel": 2, "stride": 2, "padding": 0}
    entry("max_pool2d.nopad")(lambda s: _max_case(s, size, opts))
    entry("avg_pool2d.nopad")(lambda s: _avg_case(s, size, opts))
    over = {"kernel": 3, "stride": 2, "padding": 1}
    entry("avg_pool2d.k3", exact=False)(lambda s: _avg_case(s, (7, 6), over))
    entry("max_pool2d.k3")(lambda s: _max_case(s, (7, 6), over))
    entry("smooth_max_pool2d.k3.beta4", exact=False)(
        lambda s: _smooth_case(s, (7, 6), over, 4.0))


_register_pools()


# --------------------------------------------------------------------------------------
# pad and crop of spatial axes (adjoints of each other)
# --------------------------------------------------------------------------------------
@entry("pad_spatial")
def _pad(s) -> Case:
    """Zero padding of the spatial axes; its adjoint crops."""
    x, padding = s.array((2, 4, 5)), (1, 2)
    return Case((x,), forward=lambda x: pad_spatial(x, padding),
                jvp=lambda dx: pad_spatial(dx, padding),
                vjp=lambda g: (crop_spatial(g, padding, x.shape[1:]),))


@entry("crop_spatial")
def _crop(s) -> Case:
    """Cropping of the spatial axes; its adjoint pads with zeros."""
    x, padding = s.array((2, 6, 3, 5)), (2, 0, 1)
    size = (2, 3, 3)
    return Case((x,), forward=lambda x: crop_spatial(x, padding, size),
                jvp=lambda dx: np.ascontiguousarray(crop_spatial(dx, padding, size)),
                vjp=lambda g: (np.pad(g, [(0, 0)] + [(p, n - c - p) for p, n, c in
                                                     zip(padding, x.shape[1:], size,
                                                         strict=True)]),))
