"""Conv and transposed conv against torch.nn.functional and autograd (float64), plus errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from nnbridge.spec.conv import (
    conv,
    conv_jvp,
    conv_transpose,
    conv_transpose_jvp,
    conv_transpose_vjp,
    conv_vjp,
)
from nnbridge.spec.errors import ShapeError

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@st.composite
def geometries(draw, transpose=False):
    """Shape first: rank, kernel, stride, padding, then sizes in the well-formed domain."""
    rank = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(rank))
    if transpose:  # PyTorch and Lean agree when (n - 1) * s >= 2p
        size = tuple(draw(st.integers(max(1, -(-2 * p // s) + 1), 6))
                     for s, p in zip(stride, padding, strict=True))
    else:  # n + 2p >= k, n >= 1
        size = tuple(draw(st.integers(max(1, k - 2 * p), max(1, k - 2 * p) + 5))
                     for k, p in zip(kernel, padding, strict=True))
    channels = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    seed = draw(st.integers(0, 2**31 - 1))
    return rank, size, kernel, stride, padding, channels, seed


def _operands(size, kernel, channels, seed, transpose=False):
    rng = np.random.default_rng(seed)
    in_c, out_c = channels
    x = rng.standard_normal((in_c, *size))
    w = rng.standard_normal(((in_c, out_c) if transpose else (out_c, in_c)) + kernel)
    return x, w, rng.standard_normal(out_c), rng


def _torch_reference(fn, x, w, b, g, stride, padding):
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = fn(xt[None], wt, bt, stride=stride, padding=padding)[0]
    if g is None:
        return yt.detach().numpy(), None
    yt.backward(torch.tensor(g))
    return yt.detach().numpy(), (wt.grad.numpy(), bt.grad.numpy(), xt.grad.numpy())


@given(geometries())
def test_conv_forward_and_vjp_match_torch(geom):
    rank, size, kernel, stride, padding, channels, seed = geom
    x, w, b, rng = _operands(size, kernel, channels, seed)
    y = conv(x, w, b, stride, padding)
    g = rng.standard_normal(y.shape)
    y_ref, grads_ref = _torch_reference(CONV[rank], x, w, b, g, stride, padding)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    for got, ref in zip(conv_vjp(x, w, b, g, stride, padding), grads_ref, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@given(geometries(transpose=True))
def test_conv_transpose_forward_and_vjp_match_torch(geom):
    rank, size, kernel, stride, padding, channels, seed = geom
    x, w, b, rng = _operands(size, kernel, channels, seed, transpose=True)
    y = conv_transpose(x, w, b, stride, padding)
    g = rng.standard_normal(y.shape)
    y_ref, grads_ref = _torch_reference(CONV_T[rank], x, w, b, g, stride, padding)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    for got, ref in zip(conv_transpose_vjp(x, w, b, g, stride, padding), grads_ref,
                        strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("transpose", [False, True])
def test_jvp_matches_torch_forward_mode(transpose):
    fn, spec, spec_jvp = ((CONV_T[2], conv_transpose, conv_transpose_jvp) if transpose
                          else (CONV[2], conv, conv_jvp))
    x, w, b, rng = _operands((5, 6), (3, 2), (2, 3), 7, transpose)
    dx, dw, db = (rng.standard_normal(a.shape) for a in (x, w, b))
    primals = tuple(torch.tensor(a) for a in (x, w, b))
    tangents = tuple(torch.tensor(a) for a in (dx, dw, db))
    _, dy_ref = torch.func.jvp(lambda x, w, b: fn(x[None], w, b, stride=2, padding=1)[0],
                               primals, tangents)
    np.testing.assert_allclose(spec_jvp(x, w, b, dx, dw, db, stride=2, padding=1),
                               dy_ref.numpy(), rtol=1e-12, atol=1e-12)
    assert spec(x, w, b, 2, 1).shape == tuple(dy_ref.shape)


def test_float32_stays_float32():
    x, w, b, _ = _operands((6, 6), (3, 3), (2, 2), 1)
    x, w, b = (a.astype(np.float32) for a in (x, w, b))
    y = conv(x, w, b, 1, 1)
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv_vjp(x, w, b, np.ones_like(y), 1, 1))
    assert conv_transpose(x, w, b, 2, 0).dtype == np.float32


def test_phantom_cell_raises_with_the_divergence():
    # in + 2p < k: Lean's Nat formula gives 1, PyTorch raises
    x, w, b = np.zeros((1, 2)), np.zeros((1, 1, 3)), np.zeros(1)
    with pytest.raises(ShapeError, match="Nat formula gives output size") as err:
        conv(x, w, b)
    assert err.value.rule == "lean_torch_divergence"


def test_transposed_truncation_raises_with_both_sizes():
    # convTransposeOutDim 1 3 1 1: Lean 3, PyTorch 1
    x, w, b = np.zeros((1, 1)), np.zeros((1, 1, 3)), np.zeros(1)
    with pytest.raises(ShapeError, match=r"gives output size \(3,\), PyTorch gives \(1,\)"):
        conv_transpose(x, w, b, stride=1, padding=1)


@pytest.mark.parametrize("call, rule", [
    (lambda: conv(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(1), stride=0), "stride_positive"),
    (lambda: conv(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(1), padding=-1), "nonneg_size"),
    (lambda: conv(np.zeros((1, 5)), np.zeros((1, 2, 3)), np.zeros(1)), "channels"),
    (lambda: conv(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(2)), "shape_match"),
    (lambda: conv(np.zeros((1, 5), dtype=int), np.zeros((1, 1, 3)), np.zeros(1)), "dtype"),
    (lambda: conv([[0.0] * 5], np.zeros((1, 1, 3)), np.zeros(1)), "array_type"),
    (lambda: conv(np.zeros((1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), stride=(1, 2, 3)),
     "axis_count"),
    (lambda: conv(np.zeros((1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), stride=1.5),
     "integer_size"),
    (lambda: conv(np.zeros((5,)), np.zeros((1, 1, 3)), np.zeros(1)), "rank"),
    (lambda: conv_vjp(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(1), np.zeros((1, 4))),
     "shape_match"),
])
def test_bad_arguments_raise_shape_error(call, rule):
    with pytest.raises(ShapeError) as err:
        call()
    assert err.value.rule == rule
