"""The basic ops: dtypes, shape properties and bad arguments (the agreement with PyTorch is
generated from the op records in tests/spec/test_ops.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from nnbridge.spec import ShapeError, basic

torch.set_num_threads(1)


# --------------------------------------------------------------------------------------
# Strategies: shapes first, then arrays
# --------------------------------------------------------------------------------------
def _array(seed: int, shape, *, away_from_zero: bool = False, dtype=np.float64):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if away_from_zero:
        a = np.sign(a) * (0.1 + np.abs(a))
        a[a == 0] = 0.5
    return a.astype(dtype)


seeds = st.integers(0, 2**32 - 1)
channels = st.integers(1, 4)
spatial = st.lists(st.integers(2, 5), min_size=1, max_size=3).map(tuple)














# --------------------------------------------------------------------------------------
# The torch references
# --------------------------------------------------------------------------------------


def _torch_bn(x, gamma, beta):
    return F.batch_norm(x[None], None, None, gamma, beta, training=True, eps=1e-6)[0]


















@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    x = _array(0, (3, 4, 4), dtype=dtype)
    gamma, beta = np.ones(3, dtype), np.zeros(3, dtype)
    w, b = _array(1, (2, 48), dtype=dtype), _array(2, (2,), dtype=dtype)
    outs = [basic.relu(x), basic.batch_norm(x, gamma, beta), basic.global_avg_pool(x),
            basic.flatten(x), basic.concat(x, x), basic.channel_pad(x, 5),
            basic.channel_slice(x, 2), basic.pad(x, 1), basic.crop(x, 1),
            basic.linear(basic.flatten(x), w, b)]
    outs += list(basic.batch_norm_vjp(x, gamma, beta, x))
    outs += list(basic.linear_vjp(basic.flatten(x), w, b, b))
    assert all(o.dtype == dtype for o in outs)


def test_float32_agrees_with_float64():
    x = _array(3, (4, 6, 5))
    gamma, beta, g = _array(4, (4,)), _array(5, (4,)), _array(6, (4, 6, 5))
    lo = basic.batch_norm_vjp(x.astype(np.float32), gamma.astype(np.float32),
                              beta.astype(np.float32), g.astype(np.float32))
    hi = basic.batch_norm_vjp(x, gamma, beta, g)
    for a, b in zip(lo, hi, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------
# Shapes as properties, and the bad inputs
# --------------------------------------------------------------------------------------
@given(channels, spatial, st.integers(0, 3))
def test_shape_properties(c, s, p):
    x = np.zeros((c,) + s)
    assert basic.pad(x, p).shape == (c,) + tuple(n + 2 * p for n in s)
    assert basic.crop(basic.pad(x, p), p).shape == x.shape
    assert basic.flatten(x).shape == (c * int(np.prod(s)),)
    assert basic.global_avg_pool(x).shape == (c,)
    assert basic.concat(x, basic.channel_pad(x, c + p)).shape == (2 * c + p,) + s
    assert basic.shortcut(x, p).shape == (p,) + s


def test_batch_norm_normalises_each_channel():
    x = _array(11, (3, 5, 7)) * 4 + 2
    y = basic.batch_norm(x, np.ones(3), np.zeros(3))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1, rtol=1e-5)


def test_vjp_defect_is_seen_by_the_torch_comparison():
    """A BN backward without its mean term disagrees with autograd: the test can fail."""
    x, gamma, beta, g = _array(1, (2, 3, 3)), _array(2, (2,)), _array(3, (2,)), _array(4, (2, 3, 3))
    _, _, grad_x = basic.batch_norm_vjp(x, gamma, beta, g)
    defect = grad_x + (gamma[:, None, None] / np.sqrt(x.var(axis=(1, 2), keepdims=True) + 1e-6)
                       * g.mean(axis=(1, 2), keepdims=True))
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    ref = torch.autograd.grad(_torch_bn(*tensors), tensors[0], torch.tensor(g))[0].numpy()
    np.testing.assert_allclose(grad_x, ref, rtol=1e-10, atol=1e-10)
    assert not np.allclose(defect, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("call, rule", [
    (lambda: basic.linear(np.ones(3), np.ones((2, 4)), np.ones(2)), "shape_match"),
    (lambda: basic.linear([1.0], np.ones((1, 1)), np.ones(1)), "array_type"),
    (lambda: basic.relu(np.ones(3, dtype=np.int64)), "dtype"),
    (lambda: basic.linear(np.ones(2), np.ones((2, 2), np.float32), np.ones(2)), "dtype_mix"),
    (lambda: basic.relu_vjp(np.ones(3), np.ones(4)), "shape_match"),
    (lambda: basic.batch_norm(np.ones((2, 3)), np.ones(3), np.ones(3)), "shape_match"),
    (lambda: basic.batch_norm(np.ones((2, 3)), np.ones(2), np.ones(2), eps=0), "number"),
    (lambda: basic.batch_norm(np.ones(2), np.ones(2), np.ones(2)), "rank"),
    (lambda: basic.global_avg_pool(np.ones((2, 0))), "positive_size"),
    (lambda: basic.concat(np.ones((2, 3)), np.ones((2, 4))), "shape_match"),
    (lambda: basic.channel_pad(np.ones((3, 2)), 2), "channels"),
    (lambda: basic.channel_slice(np.ones((3, 2)), 4), "channels"),
    (lambda: basic.shortcut(np.ones((3, 2)), -1), "nonneg_size"),
    (lambda: basic.shortcut(np.ones((3, 2)), 2.0), "integer_size"),
    (lambda: basic.pad(np.ones((3, 2, 2)), (1, 1, 1)), "axis_count"),
    (lambda: basic.crop(np.ones((3, 3)), 2), "shape_match"),
])
def test_bad_input_names_the_rule(call, rule):
    with pytest.raises(ShapeError) as info:
        call()
    assert info.value.rule == rule
    assert str(info.value)
