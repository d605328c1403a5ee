"""Max, average and smooth-max pooling against torch.nn.functional and autograd (float64)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from nnbridge.spec.errors import ShapeError
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

MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


@st.composite
def geometries(draw):
    """Shape first: rank, kernel, stride, padding (at most kernel // 2, PyTorch's rule), then
    sizes with n + 2p >= k and n >= k (avg_pool3d's extra rule), channels, a seed."""
    rank = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(draw(st.integers(k, k + 5)) for k in kernel)
    return rank, size, kernel, stride, padding, draw(st.integers(1, 3)), draw(
        st.integers(0, 2**31 - 1))


def _autograd(fn, x, g):
    xt = torch.tensor(x, requires_grad=True)
    yt = fn(xt)
    yt.backward(torch.tensor(g))
    return yt.detach().numpy(), xt.grad.numpy()


@given(geometries())
def test_max_pool_matches_torch_on_unique_values(geom):
    rank, size, kernel, stride, padding, c, seed = geom
    rng = np.random.default_rng(seed)
    x = rng.permutation(c * int(np.prod(size))).reshape((c, *size)).astype(np.float64)
    y = max_pool(x, kernel, stride, padding)
    g = rng.standard_normal(y.shape)
    y_ref, gx_ref = _autograd(lambda t: MAX[rank](t[None], kernel, stride, padding)[0], x, g)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_allclose(max_pool_vjp(x, g, kernel, stride, padding), gx_ref, atol=1e-12)
    dx = rng.standard_normal(x.shape)
    _, dy_ref = torch.func.jvp(lambda t: MAX[rank](t[None], kernel, stride, padding)[0],
                               (torch.tensor(x),), (torch.tensor(dx),))
    np.testing.assert_allclose(max_pool_jvp(x, dx, kernel, stride, padding), dy_ref.numpy())


@given(geometries())
def test_avg_pool_matches_torch(geom):
    rank, size, kernel, stride, padding, c, seed = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c, *size))
    y = avg_pool(x, kernel, stride, padding)
    g = rng.standard_normal(y.shape)
    y_ref, gx_ref = _autograd(lambda t: AVG[rank](t[None], kernel, stride, padding)[0], x, g)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(avg_pool_vjp(x, g, kernel, stride, padding), gx_ref,
                               rtol=1e-12, atol=1e-12)
    dx = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(avg_pool_jvp(x, dx, kernel, stride, padding),
                                  avg_pool(dx, kernel, stride, padding))


def _torch_smooth_max(t, kernel, stride, padding, beta):
    pads = [q for p in reversed(padding) for q in (p, p)]
    win = F.pad(t, pads)
    for axis, (k, s) in enumerate(zip(kernel, stride, strict=True)):
        win = win.unfold(1 + axis, k, s)
    return torch.logsumexp(beta * win.flatten(-len(kernel)), -1) / beta


@given(geometries(), st.sampled_from([0.5, 1.0, 3.0]))
def test_smooth_max_pool_matches_torch_logsumexp(geom, beta):
    rank, size, kernel, stride, padding, c, seed = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c, *size))
    y = smooth_max_pool(x, kernel, stride, padding, beta)
    g = rng.standard_normal(y.shape)
    y_ref, gx_ref = _autograd(lambda t: _torch_smooth_max(t, kernel, stride, padding, beta),
                              x, g)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(smooth_max_pool_vjp(x, g, kernel, stride, padding, beta), gx_ref,
                               rtol=1e-11, atol=1e-12)
    dx = rng.standard_normal(x.shape)
    _, dy_ref = torch.func.jvp(lambda t: _torch_smooth_max(t, kernel, stride, padding, beta),
                               (torch.tensor(x),), (torch.tensor(dx),))
    np.testing.assert_allclose(smooth_max_pool_jvp(x, dx, kernel, stride, padding, beta),
                               dy_ref.numpy(), rtol=1e-11, atol=1e-12)


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = np.array([[[0.0, 0.0], [5.0, 3.0]], [[7.0, 7.0], [7.0, 1.0]]])
    grad = max_pool_vjp(x, np.ones((2, 1, 1)), 2)
    np.testing.assert_array_equal(grad, [[[0, 0], [1, 0]], [[1, 0], [0, 0]]])
    np.testing.assert_array_equal(max_pool_jvp(x, np.arange(8.0).reshape(2, 2, 2), 2),
                                  [[[2.0]], [[4.0]]])


def test_padding_is_ignored_by_max_and_counted_by_avg():
    x = -np.ones((1, 3))
    np.testing.assert_array_equal(max_pool(x, 3, 1, 1), [[-1, -1, -1]])
    np.testing.assert_allclose(avg_pool(x, 3, 1, 1), [[-2 / 3, -1, -2 / 3]])
    # smooth max: a padded cell contributes exp(0) = 1
    np.testing.assert_allclose(smooth_max_pool(np.zeros((1, 1)), 3, 1, 1), [[np.log(3.0)]])


def test_float32_stays_float32():
    x = np.random.default_rng(0).standard_normal((2, 6, 6)).astype(np.float32)
    for fn in (max_pool, avg_pool, smooth_max_pool):
        assert fn(x, 2).dtype == np.float32
    g = np.ones((2, 3, 3), np.float32)
    for fn in (max_pool_vjp, avg_pool_vjp, smooth_max_pool_vjp):
        assert fn(x, g, 2).dtype == np.float32


@pytest.mark.parametrize("call, rule", [
    (lambda: max_pool(np.zeros((1, 2)), 3), "lean_torch_divergence"),   # phantom window
    (lambda: avg_pool(np.zeros((1, 6)), 2, 1, 2), "lean_torch_divergence"),  # p > k // 2
    (lambda: max_pool(np.zeros((1, 6)), 0), "kernel_positive"),
    (lambda: max_pool(np.zeros((1, 6)), 2, 0), "stride_positive"),
    (lambda: max_pool(np.zeros((1, 6, 6)), (2, 2, 2)), "axis_count"),
    (lambda: smooth_max_pool(np.zeros((1, 6)), 2, beta=0.0), "number"),
    (lambda: max_pool_vjp(np.zeros((1, 6)), np.zeros((1, 2)), 2), "shape_match"),
    (lambda: avg_pool(np.zeros((1, 6), dtype=np.int64), 2), "dtype"),
])
def test_bad_arguments_raise_shape_error(call, rule):
    with pytest.raises(ShapeError) as err:
        call()
    assert err.value.rule == rule
