"""Kernels against torch.nn.functional (CPU, float64): an oracle independent of the specs."""

import nnbridge.kernels as K
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nnbridge.kernels import get_backend

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
# (spatial, kernel, stride, padding) per rank: strides and paddings differ per axis
GEOMETRY = {1: ((9,), (3,), (2,), (1,)), 2: ((7, 6), (3, 2), (2, 1), (1, 0)),
            3: ((5, 4, 5), (3, 2, 3), (1, 2, 2), (1, 1, 0))}


def _torch_grads(fn, grad_y, *arrays):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    y.backward(torch.tensor(grad_y(y.shape)))
    return y.detach().numpy(), [t.grad.numpy() for t in ts]


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_conv_and_transpose_match_torch(backend, rank):
    be = get_backend(backend)
    size, k, s, p = GEOMETRY[rank]
    rng = np.random.default_rng(rank)
    x, b = rng.standard_normal((2, 3, *size)), rng.standard_normal(4)
    grad = {}

    def grad_y(shape):
        grad["g"] = rng.standard_normal(tuple(shape))
        return grad["g"]

    for transpose in (False, True):
        w = rng.standard_normal(((3, 4) if transpose else (4, 3)) + k)
        fn = CONV_T[rank] if transpose else CONV[rank]
        y, (gx, gw, gb) = _torch_grads(lambda x, w, b, fn=fn: fn(x, w, b, stride=s, padding=p),
                                       grad_y, x, w, b)
        fwd, vjp = (K.conv_transpose, K.conv_transpose_vjp) if transpose else (K.conv, K.conv_vjp)
        _close(be.to_numpy(fwd(x, w, b, s, p, backend=be)), y)
        got = [be.to_numpy(a) for a in vjp(x, w, b, grad["g"], s, p, backend=be)]
        for g, want in zip(got, (gw, gb, gx), strict=True):
            _close(g, want)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_pools_match_torch(backend, rank):
    be = get_backend(backend)
    size, k, s, p = GEOMETRY[rank]
    p = tuple(min(pi, ki // 2) for pi, ki in zip(p, k, strict=True))
    rng = np.random.default_rng(10 + rank)
    x = rng.permutation(2 * 3 * int(np.prod(size))).reshape(2, 3, *size) * 0.5  # no ties
    grad = {}

    def grad_y(shape):
        grad["g"] = rng.standard_normal(tuple(shape))
        return grad["g"]

    y, (gx,) = _torch_grads(lambda x: MAX[rank](x, k, s, p), grad_y, x)
    _close(be.to_numpy(K.max_pool(x, k, s, p, backend=be)), y)
    _close(be.to_numpy(K.max_pool_vjp(x, grad["g"], k, s, p, backend=be)), gx)
    y, (gx,) = _torch_grads(lambda x: AVG[rank](x, k, s, p, count_include_pad=True), grad_y, x)
    _close(be.to_numpy(K.avg_pool(x, k, s, p, backend=be)), y)
    _close(be.to_numpy(K.avg_pool_vjp(x, grad["g"], k, s, p, backend=be)), gx)


def _specials(rng, shape):
    """Small integers (many ties), with NaN, -inf and +inf cells sprinkled in: windows with
    no NaN, one NaN and several NaNs, and windows of -inf only."""
    x = rng.integers(-2, 3, size=shape).astype(np.float64)
    u = rng.random(shape)
    x[u < 0.12] = np.nan
    x[(u >= 0.12) & (u < 0.3)] = -np.inf
    x[(u >= 0.3) & (u < 0.33)] = np.inf
    return x


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_max_pool_nan_inf_and_ties_follow_torch(backend, rank):
    """PyTorch's max pool selects with ``val > max || isnan(val)``: the first maximum, but a
    NaN wins (the window's last NaN), and the gradient goes to the selected cell."""
    be = get_backend(backend)
    size, k, s, p = GEOMETRY[rank]
    p = tuple(min(pi, ki // 2) for pi, ki in zip(p, k, strict=True))
    rng = np.random.default_rng(20 + rank)
    x = _specials(rng, (2, 3, *size))
    grad = {}

    def grad_y(shape):
        grad["g"] = rng.integers(-4, 5, size=tuple(shape)).astype(np.float64)
        return grad["g"]

    y, (gx,) = _torch_grads(lambda x: MAX[rank](x, k, s, p), grad_y, x)
    nan_windows = np.isnan(y).mean()
    assert 0 < nan_windows < 1, "the sample must have windows with and without NaN"
    got = be.to_numpy(K.max_pool(x, k, s, p, backend=be))
    np.testing.assert_array_equal(got, y)  # NaN where torch has NaN, everything else equal
    np.testing.assert_array_equal(be.to_numpy(K.max_pool_vjp(x, grad["g"], k, s, p,
                                                             backend=be)), gx)


def test_max_pool_nan_in_one_window_matches_torch_exactly(backend):
    """``[1, nan, 3, nan]``, one window of 4: y is NaN and the gradient goes to index 3."""
    be = get_backend(backend)
    x = np.array([[[1.0, np.nan, 3.0, np.nan]]])
    t = torch.tensor(x, requires_grad=True)
    y, index = F.max_pool1d(t, 4, return_indices=True)
    y.backward(torch.ones_like(y))
    assert index.item() == 3
    got = be.to_numpy(K.max_pool(x, 4, backend=be))
    assert np.isnan(got).all() and got.shape == (1, 1, 1)
    grad_x = be.to_numpy(K.max_pool_vjp(x, np.ones((1, 1, 1)), 4, backend=be))
    np.testing.assert_array_equal(grad_x, t.grad.numpy())
    np.testing.assert_array_equal(grad_x, [[[0.0, 0.0, 0.0, 1.0]]])
