"""Registry entries for the basic ops of :mod:`nnbridge.spec.basic`.

Linear maps: linear in ``x`` and in ``w``, global average pool (cell counts 4, 8, 16: the
division is dyadic, hence exact), flatten, concat, the ResNet channel shortcuts (pad, slice,
identity) and the spatial pad / crop pair. Linearisations (JVP as ``A``, VJP as ``A^T``):
linear in ``(w, b, x)``, ReLU at a point off its kink, batch norm in ``x`` and in
``(gamma, beta, x)`` (float modes: it divides by a square root).
"""

from __future__ import annotations

from nnbridge.spec.basic import (
    batch_norm,
    batch_norm_jvp,
    batch_norm_vjp,
    channel_pad,
    channel_pad_jvp,
    channel_pad_vjp,
    channel_slice,
    channel_slice_jvp,
    channel_slice_vjp,
    concat,
    concat_jvp,
    concat_vjp,
    crop,
    crop_jvp,
    crop_vjp,
    flatten,
    flatten_jvp,
    flatten_vjp,
    global_avg_pool,
    global_avg_pool_jvp,
    global_avg_pool_vjp,
    linear,
    linear_jvp,
    linear_vjp,
    pad,
    pad_jvp,
    pad_vjp,
    relu,
    relu_jvp,
    relu_vjp,
    shortcut,
    shortcut_jvp,
    shortcut_vjp,
)

from .registry import Case, entry

__all__: list[str] = []

IN_DIM, OUT_DIM = 7, 4


# --------------------------------------------------------------------------------------
# linear
# --------------------------------------------------------------------------------------
def _linear_case(s, wrt: str) -> Case:
    x, w, b = s.array((IN_DIM,)), s.array((OUT_DIM, IN_DIM)), s.array((OUT_DIM,))
    if wrt == "x":
        return Case((x,), forward=lambda x: linear(x, w, b),
                    jvp=lambda dx: linear_jvp(x, w, b, dx, None, None),
                    vjp=lambda g: (linear_vjp(x, w, b, g)[2],))
    if wrt == "w":
        return Case((w,), forward=lambda w: linear(x, w, b),
                    jvp=lambda dw: linear_jvp(x, w, b, None, dw, None),
                    vjp=lambda g: (linear_vjp(x, w, b, g)[0],))
    return Case((w, b, x), forward=lambda w, b, x: linear(x, w, b),
                jvp=lambda dw, db, dx: linear_jvp(x, w, b, dx, dw, db),
                vjp=lambda g: linear_vjp(x, w, b, g))


for _wrt in ("x", "w", "wbx"):
    entry(f"linear.{_wrt}")(lambda s, a=_wrt: _linear_case(s, a))


# --------------------------------------------------------------------------------------
# ReLU (at points with |x| >= 0.1, where the gate is constant within the FD step)
# --------------------------------------------------------------------------------------
def _relu_case(s, shape) -> Case:
    x = s.away_from_zero(shape)
    return Case((x,), forward=relu, jvp=lambda dx: relu_jvp(x, dx),
                vjp=lambda g: (relu_vjp(x, g),))


entry("relu.1d")(lambda s: _relu_case(s, (3, 8)))
entry("relu.2d")(lambda s: _relu_case(s, (3, 5, 4)))
entry("relu.3d")(lambda s: _relu_case(s, (2, 3, 4, 3)))


# --------------------------------------------------------------------------------------
# batch norm (one image, biased variance): not exact
# --------------------------------------------------------------------------------------
def _bn_case(s, shape, wrt: str) -> Case:
    x, gamma, beta = s.array(shape), s.array(shape[:1]), s.array(shape[:1])
    if wrt == "x":
        return Case((x,), forward=lambda x: batch_norm(x, gamma, beta),
                    jvp=lambda dx: batch_norm_jvp(x, gamma, beta, dx, None, None),
                    vjp=lambda g: (batch_norm_vjp(x, gamma, beta, g)[2],))
    return Case((gamma, beta, x), forward=lambda gamma, beta, x: batch_norm(x, gamma, beta),
                jvp=lambda dg, db, dx: batch_norm_jvp(x, gamma, beta, dx, dg, db),
                vjp=lambda g: batch_norm_vjp(x, gamma, beta, g))


entry("batch_norm2d.x", exact=False)(lambda s: _bn_case(s, (3, 5, 6), "x"))
entry("batch_norm2d.gbx", exact=False)(lambda s: _bn_case(s, (3, 5, 6), "gbx"))
entry("batch_norm1d.gbx", exact=False)(lambda s: _bn_case(s, (4, 7), "gbx"))
entry("batch_norm3d.gbx", exact=False)(lambda s: _bn_case(s, (2, 3, 4, 3), "gbx"))


# --------------------------------------------------------------------------------------
# linear maps without parameters: one input, its adjoint returns one gradient
# --------------------------------------------------------------------------------------
def _unary_case(s, shape, fn, fn_jvp, fn_vjp, **static) -> Case:
    x = s.array(shape)
    return Case((x,), forward=lambda x: fn(x, **static),
                jvp=lambda dx: fn_jvp(x, **static, dx=dx),
                vjp=lambda g: (fn_vjp(x, **static, grad_y=g),))


_UNARY = {
    # cell counts 8, 16, 8: dyadic divisors keep global average pool exact
    "global_avg_pool1d": ((3, 8), global_avg_pool, global_avg_pool_jvp, global_avg_pool_vjp, {}),
    "global_avg_pool2d": ((3, 4, 4), global_avg_pool, global_avg_pool_jvp,
                          global_avg_pool_vjp, {}),
    "global_avg_pool3d": ((2, 2, 2, 2), global_avg_pool, global_avg_pool_jvp,
                          global_avg_pool_vjp, {}),
    "flatten": ((3, 4, 5), flatten, flatten_jvp, flatten_vjp, {}),
    "channel_pad": ((3, 4, 5), channel_pad, channel_pad_jvp, channel_pad_vjp,
                    {"out_channels": 5}),
    "channel_slice": ((5, 4, 3), channel_slice, channel_slice_jvp, channel_slice_vjp,
                      {"out_channels": 2}),
    "shortcut.identity": ((3, 4, 4), shortcut, shortcut_jvp, shortcut_vjp,
                          {"out_channels": 3}),
    "shortcut.pad": ((2, 4, 4), shortcut, shortcut_jvp, shortcut_vjp, {"out_channels": 5}),
    "shortcut.slice": ((6, 3, 4), shortcut, shortcut_jvp, shortcut_vjp, {"out_channels": 4}),
    "pad.2d": ((2, 4, 5), pad, pad_jvp, pad_vjp, {"padding": (1, 2)}),
    "pad.3d": ((2, 3, 2, 3), pad, pad_jvp, pad_vjp, {"padding": 1}),
    "crop.2d": ((2, 6, 5), crop, crop_jvp, crop_vjp, {"padding": (2, 1)}),
    "crop.1d": ((3, 7), crop, crop_jvp, crop_vjp, {"padding": 3}),
}

for _name, (_shape, _fn, _jvp, _vjp, _static) in _UNARY.items():
    entry(_name)(lambda s, z=_shape, f=_fn, j=_jvp, v=_vjp, o=_static:
                 _unary_case(s, z, f, j, v, **o))


# --------------------------------------------------------------------------------------
# concat: two inputs, the skip first
# --------------------------------------------------------------------------------------
@entry("concat")
def _concat(s) -> Case:
    """Channel concat ``(skip, up)``; its adjoint splits the gradient."""
    a, b = s.array((2, 4, 3)), s.array((3, 4, 3))
    return Case((a, b), forward=concat, jvp=lambda da, db: concat_jvp(a, b, da, db),
                vjp=lambda g: concat_vjp(a, b, g))
