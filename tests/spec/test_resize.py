"""``interpolate``, ``pad_nd`` and ``cat`` against ``torch.nn.functional`` and autograd.

Shape first (Hypothesis draws the sizes and options, then a seed for the values): float64
forward and VJP to 1e-12 against PyTorch, float32 within a derived tolerance, the JVP against
central differences, planted defects caught (align_corners ignored, nearest's source index
floored in float64 instead of PyTorch's float32, pad sides swapped, a cat split in the wrong
place), and bad arguments refused with a rule.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from nnbridge.spec.errors import Rule, ShapeError
from nnbridge.spec.resize import (
    cat,
    cat_jvp,
    cat_vjp,
    interpolate,
    interpolate_jvp,
    interpolate_vjp,
    pad_nd,
    pad_nd_jvp,
    pad_nd_vjp,
)

torch.set_num_threads(1)

EPS32 = float(np.finfo(np.float32).eps)
LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}
FACTORS = (0.3, 0.5, 0.75, 1.0, 1.3, 1.5, 2.0, 2.5, 3.0, 1 / 3)


def _value(seed, shape, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _torch_vjp(fn, x, g):
    t = torch.tensor(x, requires_grad=True)
    y = fn(t)
    (grad,) = torch.autograd.grad(y, [t], torch.tensor(g))
    return y.detach().numpy(), grad.numpy()


def _close(got, want, tol=1e-12):
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# -- interpolate ----------------------------------------------------------------------------
@st.composite
def resizes(draw):
    """``(x shape, kwargs, batched, seed)``: rank, sizes, then mode and size or factor."""
    rank = draw(st.integers(1, 3))
    batched = draw(st.booleans())
    sizes = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    shape = ((2,) if batched else ()) + (draw(st.integers(1, 2)),) + sizes
    mode = draw(st.sampled_from(("nearest", LINEAR[rank])))
    kwargs = {"mode": mode}
    if mode != "nearest":
        kwargs["align_corners"] = draw(st.sampled_from((None, False, True)))
    if draw(st.booleans()):
        kwargs["size"] = tuple(draw(st.integers(1, 9)) for _ in range(rank))
    else:
        kwargs["scale_factor"] = tuple(
            draw(st.sampled_from([f for f in FACTORS if math.floor(n * f) >= 1])) for n in sizes)
    return shape, kwargs, batched, draw(st.integers(0, 2**32 - 1))


def _torch_interpolate(x, batched, **kwargs):
    y = F.interpolate(x if batched else x[None], **kwargs)
    return y if batched else y[0]


def _torch_backward_differs(shape, kwargs) -> bool:
    """PyTorch's 1-d and 3-d nearest backward on CPU takes other source indices than its
    forward where ``out = n`` or ``out = 2n`` but the factor is not 1 or 2 (see
    :mod:`nnbridge.spec.resize`)."""
    factors = kwargs.get("scale_factor")
    if kwargs["mode"] != "nearest" or factors is None or len(factors) == 2:
        return False
    sizes = shape[len(shape) - len(factors):]
    return any(n > 1 and math.floor(n * f) in (n, 2 * n) and math.floor(n * f) != n * f
               for n, f in zip(sizes, factors, strict=True))


@given(resizes())
def test_interpolate_and_its_vjp_agree_with_torch(case):
    shape, kwargs, batched, seed = case
    x = _value(seed, shape)
    y = interpolate(x, **kwargs)
    g = _value(seed + 1, y.shape)
    y_ref, grad_ref = _torch_vjp(lambda t: _torch_interpolate(t, batched, **kwargs), x, g)
    _close(y, y_ref)
    grad_x = interpolate_vjp(x, g, **kwargs)
    # the VJP is the forward's adjoint: <interpolate(x), g> = <x, grad_x>
    assert math.isclose(float((y * g).sum()), float((x * grad_x).sum()), rel_tol=1e-12,
                        abs_tol=1e-12)
    if not _torch_backward_differs(shape, kwargs):
        _close(grad_x, grad_ref)
    _close(interpolate_jvp(x, x, **kwargs), y)  # linear: the JVP along x is y


def test_pytorchs_nearest_backward_is_not_its_forwards_adjoint_where_out_is_n():
    """The spec's VJP is the adjoint of the forward they share; PyTorch's autograd is not here
    (forward: cell 0 twice; backward: cells 0 and 1)."""
    x, g = np.array([[[1.0, 2.0]]]), np.array([[[10.0, 100.0]]])
    kwargs = {"scale_factor": 1.3, "mode": "nearest"}
    y_ref, grad_ref = _torch_vjp(lambda t: F.interpolate(t, **kwargs), x, g)
    _close(interpolate(x, **kwargs), y_ref)
    _close(y_ref, np.array([[[1.0, 1.0]]]))
    _close(interpolate_vjp(x, g, **kwargs), np.array([[[110.0, 0.0]]]))
    _close(grad_ref, np.array([[[10.0, 100.0]]]))


@given(resizes())
def test_interpolate_float32_within_the_derived_tolerance(case):
    """Each output is a convex combination of at most 2**D inputs: 2**D + 1 roundings of a
    value at most max|x|, plus the float32 rounding of each weight (D of them per term)."""
    shape, kwargs, batched, seed = case
    x = _value(seed, shape)
    rank = len(kwargs.get("size", kwargs.get("scale_factor")))
    y32 = interpolate(x.astype(np.float32), **kwargs)
    assert y32.dtype == np.float32
    ref32 = _torch_interpolate(torch.tensor(x.astype(np.float32)), batched, **kwargs).numpy()
    tol = (2**rank + 1 + 2**rank * rank * max(shape)) * EPS32 * np.abs(x).max()
    np.testing.assert_allclose(y32, ref32, rtol=0, atol=tol)
    np.testing.assert_allclose(y32, interpolate(x, **kwargs), rtol=0, atol=tol)


@given(resizes())
def test_interpolate_jvp_matches_central_differences(case):
    shape, kwargs, _, seed = case
    x, dx = _value(seed, shape), _value(seed + 2, shape)
    h = 1e-3  # the op is linear: differences are exact up to rounding
    fd = (interpolate(x + h * dx, **kwargs) - interpolate(x - h * dx, **kwargs)) / (2 * h)
    np.testing.assert_allclose(interpolate_jvp(x, dx, **kwargs), fd, rtol=1e-9, atol=1e-9)


def test_nearest_floors_pytorchs_float32_rounding_of_the_source_index():
    """PyTorch floors ``float32(o * ratio)`` (``floorf``); flooring the float64 product (the
    planted defect) takes the cell before wherever the product is just below an integer."""
    cases = 0
    for n in range(2, 40):
        kwargs = {"scale_factor": 0.1 * 6, "mode": "nearest"}
        out = math.floor(n * kwargs["scale_factor"])
        ratio = 1.0 / kwargs["scale_factor"]
        o = np.arange(out)
        in_float64 = np.minimum(np.floor(o * ratio), n - 1).astype(int)
        x = _value(n, (1, 1, n))
        ref = F.interpolate(torch.tensor(x), **kwargs).numpy()
        _close(interpolate(x, **kwargs), ref)
        if (np.take(x, in_float64, axis=-1) != ref).any():
            cases += 1
    assert cases > 0


def _align_corners_ignored(x, **kwargs):
    """The defect: align_corners dropped (always the half-pixel formula)."""
    return interpolate(x, **{**kwargs, "align_corners": False})


def test_align_corners_ignored_is_caught():
    x = _value(1, (1, 4, 5))
    kwargs = {"size": (7, 3), "mode": "bilinear", "align_corners": True}
    ref = F.interpolate(torch.tensor(x)[None], **kwargs)[0].numpy()
    _close(interpolate(x, **kwargs), ref)
    assert np.abs(_align_corners_ignored(x, **kwargs) - ref).max() > 1e-3


# -- pad ----------------------------------------------------------------------------------
@st.composite
def pads(draw):
    """``(x shape, pad, mode, value, seed)``: sizes, then amounts per side within the mode's
    limits (negative ones in constant mode: crops)."""
    mode = draw(st.sampled_from(("constant", "reflect", "replicate", "circular")))
    axes = draw(st.integers(1, 3))
    lead = draw(st.sampled_from(((1,), (2, 1))) if mode != "constant"
                else st.sampled_from(((), (2,), (2, 1))))
    shape = lead + tuple(draw(st.integers(1, 5)) for _ in range(axes))
    pad = []
    for n in reversed(shape[len(shape) - axes:]):
        lo = -n if mode == "constant" else 0
        hi = {"reflect": n - 1, "circular": n}.get(mode, 3)
        pad += [draw(st.integers(lo, hi)), draw(st.integers(lo, hi))]
    if mode == "constant" and any(n + a + b < 0 for n, a, b in zip(
            reversed(shape[len(shape) - axes:]), pad[::2], pad[1::2], strict=True)):
        pad = [max(p, 0) for p in pad]
    value = draw(st.sampled_from((0.0, 1.5, -3.0))) if mode == "constant" else 0.0
    return shape, tuple(pad), mode, value, draw(st.integers(0, 2**32 - 1))


@given(pads())
def test_pad_and_its_vjp_agree_with_torch(case):
    shape, pad, mode, value, seed = case
    x = _value(seed, shape)
    y = pad_nd(x, pad, mode, value)
    g = _value(seed + 1, y.shape)
    kw = {"value": value} if mode == "constant" else {}
    y_ref, grad_ref = _torch_vjp(lambda t: F.pad(t, pad, mode=mode, **kw), x, g)
    _close(y, y_ref)
    _close(pad_nd_vjp(x, g, pad, mode, value), grad_ref)
    y32 = pad_nd(x.astype(np.float32), pad, mode, value)
    assert y32.dtype == np.float32
    np.testing.assert_array_equal(y32, y.astype(np.float32))  # a gather: exact in float32
    dx = _value(seed + 2, shape)
    fd = (pad_nd(x + dx, pad, mode, value) - pad_nd(x - dx, pad, mode, value)) / 2
    _close(pad_nd_jvp(x, dx, pad, mode, value), fd, 1e-12)


def test_pad_with_sides_swapped_is_caught():
    """F.pad's order is (left, right) of the LAST axis first; reading it as (right, left), or
    the first axis first, differs from PyTorch."""
    x = _value(2, (1, 3, 4))
    pad = (1, 2, 0, -1)
    ref = F.pad(torch.tensor(x), pad, value=0.5).numpy()
    _close(pad_nd(x, pad, value=0.5), ref)
    assert pad_nd(x, (2, 1, -1, 0), value=0.5).shape == ref.shape
    assert np.abs(pad_nd(x, (2, 1, -1, 0), value=0.5) - ref).max() > 0.1
    assert pad_nd(x, (0, -1, 1, 2), value=0.5).shape != ref.shape


# -- cat ----------------------------------------------------------------------------------
@st.composite
def cats(draw):
    """``(shapes, dim, seed)``: any number of arrays that differ only along ``dim``."""
    ndim = draw(st.integers(1, 4))
    base = [draw(st.integers(1, 4)) for _ in range(ndim)]
    dim = draw(st.integers(-ndim, ndim - 1))
    shapes = []
    for _ in range(draw(st.integers(1, 5))):
        shape = list(base)
        shape[dim] = draw(st.integers(0, 3))
        shapes.append(tuple(shape))
    return shapes, dim, draw(st.integers(0, 2**32 - 1))


@given(cats())
def test_cat_and_its_split_agree_with_torch(case):
    shapes, dim, seed = case
    xs = [_value(seed + i, s) for i, s in enumerate(shapes)]
    y = cat(xs, dim)
    g = _value(seed - 1 if seed else 7, y.shape)
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    y_ref = torch.cat(ts, dim)
    refs = torch.autograd.grad(y_ref, ts, torch.tensor(g))
    _close(y, y_ref.detach().numpy())
    grads = cat_vjp(xs, g, dim)
    assert len(grads) == len(xs)
    for got, want in zip(grads, refs, strict=True):
        _close(got, want.numpy())
    dxs = [_value(seed + 50 + i, s) for i, s in enumerate(shapes)]
    _close(cat_jvp(xs, dxs, dim), cat(dxs, dim))
    none = cat_jvp(xs, [None] * len(xs), dim)
    assert none.shape == y.shape and not none.any()
    assert cat([x.astype(np.float32) for x in xs], dim).dtype == np.float32


def test_cat_split_in_the_wrong_place_is_caught():
    """An adjoint check of cat's VJP: <cat(u), g> = sum_i <u_i, grad_i>; splitting at the
    wrong offsets breaks it."""
    xs = [_value(i, (2, n)) for i, n in enumerate((1, 3, 2))]
    g = _value(9, (2, 6))
    lhs = float((cat(xs, 1) * g).sum())
    assert math.isclose(lhs, sum(float((x * gi).sum()) for x, gi in
                                 zip(xs, cat_vjp(xs, g, 1), strict=True)), rel_tol=1e-12)
    wrong = np.split(g, [2, 4], axis=1)  # sizes 2, 2, 2 instead of 1, 3, 2
    with pytest.raises(ValueError):
        sum(float((x * gi).sum()) for x, gi in zip(xs, wrong, strict=True))
    shifted = np.split(np.roll(g, 1, axis=1), [1, 4], axis=1)
    assert not math.isclose(lhs, sum(float((x * gi).sum()) for x, gi in
                                     zip(xs, shifted, strict=True)), rel_tol=1e-6)


# -- bad input ----------------------------------------------------------------------------
X = np.ones((1, 2, 4))


@pytest.mark.parametrize("call, rule, words", [
    (lambda: interpolate(X, size=3, scale_factor=2.0), Rule.ONE_OF, "scale_factor=2.0"),
    (lambda: interpolate(X), Rule.ONE_OF, "size=None"),
    (lambda: interpolate(X, size=3, mode="bicubic"), Rule.MODE, "'bicubic'"),
    (lambda: interpolate(X, size=3, align_corners=True), Rule.OPTION_MODE, "'nearest'"),
    (lambda: interpolate(X, scale_factor=0.2), Rule.OUTPUT_POSITIVE, "(0,)"),
    (lambda: interpolate(X, size=(3, 3), mode="linear"), Rule.AXIS_COUNT, "2"),
    (lambda: interpolate(X[0, 0], size=3, mode="bilinear"), Rule.RANK, "(4,)"),
    (lambda: interpolate(X, size=0), Rule.POSITIVE_SIZE, "size[0]=0"),
    (lambda: pad_nd(X, (1, 2, 3)), Rule.AXIS_COUNT, "3 entries"),
    (lambda: pad_nd(X, (1, 1) * 4), Rule.AXIS_COUNT, "4 (before, after) pairs"),
    (lambda: pad_nd(X, (4, 0), mode="reflect"), Rule.PADDING_WRAP, "(4, 0)"),
    (lambda: pad_nd(X, (-1, 0), mode="replicate"), Rule.PADDING_NONNEG, "(-1, 0)"),
    (lambda: pad_nd(X, (-3, -2)), Rule.OUTPUT_POSITIVE, "-1 cells"),
    (lambda: pad_nd(X, (1, 1), mode="reflect", value=2.0), Rule.OPTION_MODE, "value"),
    (lambda: pad_nd(X, 1), Rule.INTEGER_SIZE, "pad"),
    (lambda: cat([X, np.ones((1, 3, 5))], 1), Rule.SHAPE_MATCH, "(1, 3, 5)"),
    (lambda: cat([X, X], 3), Rule.AXIS, "dim=3"),
    (lambda: cat([], 0), Rule.POSITIVE_SIZE, "len(tensors)"),
    (lambda: cat([X, X.astype(np.float32)], 0), Rule.DTYPE_MIX, "float32"),
    (lambda: cat(X, 0), Rule.ARRAY_TYPE, "ndarray"),
])
def test_bad_arguments_raise_shape_errors_naming_the_values(call, rule, words):
    with pytest.raises(ShapeError) as info:
        call()
    assert info.value.rule == rule and words in str(info.value)
