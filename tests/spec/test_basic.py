"""The basic ops against PyTorch (float64 forward, vjp via autograd, jvp via forward mode).

Hypothesis draws shapes first (channels, rank, sizes, paddings, explicit bounds), then the
arrays; ReLU inputs stay away from the kink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


@st.composite
def linear_args(draw):
    in_dim, out_dim, seed = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(seeds)
    return (_array(seed, (in_dim,)), _array(seed + 1, (out_dim, in_dim)),
            _array(seed + 2, (out_dim,))), {}


@st.composite
def image_args(draw, *, away_from_zero=False):
    shape = (draw(channels),) + draw(spatial)
    return (_array(draw(seeds), shape, away_from_zero=away_from_zero),), {}


@st.composite
def bn_args(draw):
    c, s, seed = draw(channels), draw(spatial), draw(seeds)
    return (_array(seed, (c,) + s), _array(seed + 1, (c,)), _array(seed + 2, (c,))), {}


@st.composite
def concat_args(draw):
    rest, seed = draw(spatial), draw(seeds)
    return (_array(seed, (draw(channels),) + rest), _array(seed + 1, (draw(channels),) + rest)), {}


@st.composite
def channel_args(draw, relation):
    in_c, delta, s, seed = draw(channels), draw(st.integers(0, 3)), draw(spatial), draw(seeds)
    out_c = {"pad": in_c + delta, "slice": max(in_c - delta, 0),
             "any": draw(st.integers(0, 6))}[relation]
    return (_array(seed, (in_c,) + s),), {"out_channels": out_c}


@st.composite
def pad_args(draw, *, crop=False):
    s, seed = draw(spatial), draw(seeds)
    pads = tuple(draw(st.integers(0, n // 2 if crop else 2)) for n in s)
    padding = pads if draw(st.booleans()) or len(set(pads)) > 1 else pads[0]
    return (_array(seed, (draw(channels),) + s),), {"padding": padding}


# --------------------------------------------------------------------------------------
# The torch references
# --------------------------------------------------------------------------------------
def _torch_gap(x):
    d = x.dim() - 1
    pool = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[d - 1]
    return pool(x[None], 1).flatten()


def _torch_bn(x, gamma, beta):
    return F.batch_norm(x[None], None, None, gamma, beta, training=True, eps=1e-6)[0]


def _torch_channel_pad(x, out_channels):
    return F.pad(x, (0, 0) * (x.dim() - 1) + (0, out_channels - x.shape[0]))


def _torch_shortcut(x, out_channels):
    return F.pad(x, (0, 0) * (x.dim() - 1) + (0, out_channels - x.shape[0]))


def _torch_pad(x, padding, sign=1):
    pads = padding if isinstance(padding, tuple) else (padding,) * (x.dim() - 1)
    flat = tuple(sign * p for p in reversed(pads) for _ in range(2))
    return F.pad(x, flat)


@dataclass
class Case:
    name: str
    strategy: Any
    torch_fn: Callable
    n_params: int = 0  # vjp returns (params..., input): rotate to argument order


CASES = [
    Case("linear", linear_args(), F.linear, n_params=2),
    Case("relu", image_args(away_from_zero=True), F.relu),
    Case("batch_norm", bn_args(), _torch_bn, n_params=2),
    Case("global_avg_pool", image_args(), _torch_gap),
    Case("flatten", image_args(), torch.flatten),
    Case("concat", concat_args(), lambda a, b: torch.cat([a, b], 0)),
    Case("channel_pad", channel_args("pad"), _torch_channel_pad),
    Case("channel_slice", channel_args("slice"), lambda x, out_channels: x[:out_channels]),
    Case("shortcut", channel_args("any"), _torch_shortcut),
    Case("pad", pad_args(), _torch_pad),
    Case("crop", pad_args(crop=True), lambda x, padding: _torch_pad(x, padding, sign=-1)),
]


def _argument_order(case: Case, grads):
    """The vjp's result in the forward's argument order (input first)."""
    if not isinstance(grads, tuple):
        return (grads,)
    if case.n_params:
        return (grads[-1],) + grads[:-1]
    return grads


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_forward_vjp_jvp_agree_with_torch(case: Case):
    spec_fn = getattr(basic, case.name)
    spec_vjp = getattr(basic, f"{case.name}_vjp")
    spec_jvp = getattr(basic, f"{case.name}_jvp")

    @given(case.strategy, seeds)
    def check(drawn, seed):
        arrays, static = drawn
        y = spec_fn(*arrays, **static)
        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        y_ref = case.torch_fn(*tensors, **static)
        assert y.shape == tuple(y_ref.shape)
        assert y.dtype == np.float64
        np.testing.assert_allclose(y, y_ref.detach().numpy(), rtol=1e-12, atol=1e-12)

        grad_y = _array(seed, y.shape)
        grads = _argument_order(case, spec_vjp(*arrays, **static, grad_y=grad_y))
        refs = torch.autograd.grad(y_ref, tensors, torch.tensor(grad_y), allow_unused=True)
        assert len(grads) == len(arrays)
        for g, r, a in zip(grads, refs, arrays, strict=True):
            assert g.shape == a.shape and g.dtype == a.dtype
            r = np.zeros_like(a) if r is None else r.numpy()
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10)

        tangents = [_array(seed + 7 + i, a.shape) for i, a in enumerate(arrays)]
        dy = spec_jvp(*arrays, **static, **dict(zip(_tangent_names(spec_jvp, len(arrays)),
                                                      tangents, strict=True)))
        _, dy_ref = torch.func.jvp(lambda *t: case.torch_fn(*t, **static),
                                   tuple(torch.tensor(a) for a in arrays),
                                   tuple(torch.tensor(t) for t in tangents))
        np.testing.assert_allclose(dy, dy_ref.numpy(), rtol=1e-10, atol=1e-10)

    check()


def _tangent_names(fn, n):
    """The last ``n`` positional parameter names of a jvp: its tangents."""
    import inspect

    names = [p.name for p in inspect.signature(fn).parameters.values()
             if p.default is inspect.Parameter.empty]
    return names[-n:]


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
