"""Pooling: selection rules, padding semantics and bad arguments (the agreement with PyTorch
is generated from the op records in tests/spec/test_ops.py)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nnbridge.spec.errors import ShapeError
from nnbridge.spec.pool import (
    avg_pool,
    avg_pool_vjp,
    max_pool,
    max_pool_jvp,
    max_pool_vjp,
    smooth_max_pool,
    smooth_max_pool_vjp,
)

MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}










def _torch_smooth_max(t, kernel, stride, padding, beta):
    pads = [q for p in reversed(padding) for q in (p, p)]
    win = F.pad(t, pads)
    for axis, (k, s) in enumerate(zip(kernel, stride, strict=True)):
        win = win.unfold(1 + axis, k, s)
    return torch.logsumexp(beta * win.flatten(-len(kernel)), -1) / beta




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


@pytest.mark.parametrize("x", [
    np.full((1, 3, 3), -np.inf),                                   # every cell -inf
    np.array([[[1.0, np.nan, 3.0], [np.nan, 0.0, 2.0], [5.0, 4.0, np.nan]]]),  # NaNs win
])
def test_max_pool_selection_follows_torch_on_inf_and_nan(x):
    """A window of -inf that touches padding sends its gradient to its first real cell, and
    a NaN wins (the last one in the window), as PyTorch's kernel selects."""
    import torch.nn.functional as F

    g = np.arange(1.0, 5.0).reshape(1, 2, 2)
    xt = torch.tensor(x, requires_grad=True)
    yt = F.max_pool2d(xt[None], 2, 2, 1)[0]
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(max_pool(x, 2, 2, 1), yt.detach().numpy())
    np.testing.assert_array_equal(max_pool_vjp(x, g, 2, 2, 1), xt.grad.numpy())


@pytest.mark.parametrize("grad_y, rule", [
    (None, "array_type"), (np.ones((1, 3), dtype=bool), "dtype"),
    (np.ones((1, 3), dtype=np.float32), "dtype_mix"), (np.ones((1, 4)), "shape_match")])
def test_bad_gradients_are_refused(grad_y, rule):
    with pytest.raises(ShapeError) as err:
        max_pool_vjp(np.zeros((1, 6)), grad_y, 2)
    assert err.value.rule == rule


def test_sizes_beyond_memory_are_refused_by_name():
    with pytest.raises(ShapeError, match="elements") as err:
        max_pool(np.zeros((1, 4)), 2**30, 1, padding=2**29)
    assert err.value.rule == "too_large"
