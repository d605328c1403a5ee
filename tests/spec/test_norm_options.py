"""PyTorch's norms in the spec: batch norm over the batch (training, eval, running statistics),
layer norm and group norm, against ``torch.nn.functional`` and autograd.

Shape first (Hypothesis draws the sizes, then a seed for the values), float64 to 1e-12 against
PyTorch, float32 within a tolerance derived from the number of values normalised, the JVP
against central differences, planted defects that the comparisons catch, and bad arguments
refused with a rule.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from nnbridge.spec.errors import Rule, ShapeError
from nnbridge.spec.norm import (
    batch_norm_eval,
    batch_norm_eval_jvp,
    batch_norm_eval_vjp,
    batch_norm_running_stats,
    batch_norm_train,
    batch_norm_train_jvp,
    batch_norm_train_vjp,
    group_norm,
    group_norm_jvp,
    group_norm_vjp,
    layer_norm,
    layer_norm_jvp,
    layer_norm_vjp,
)

torch.set_num_threads(1)

EPS32 = float(np.finfo(np.float32).eps)


@st.composite
def batches(draw, *, min_batch: int = 1, group: bool = False):
    """``(shape, groups, seed)``: ``(N, C, *S)`` with 0..3 spatial axes of 3..5 cells (at
    least one for group norm, which, as PyTorch, needs two values per group)."""
    rank = draw(st.integers(1 if group else 0, 3))
    groups = draw(st.integers(1, 3)) if group else 1
    channels = groups * draw(st.integers(1, 2))
    shape = (draw(st.integers(min_batch, 3)), channels,
             *(draw(st.integers(3, 5)) for _ in range(rank)))
    return shape, groups, draw(st.integers(0, 2**32 - 1))


def _arrays(seed, shape, dtype=np.float64):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = rng.standard_normal(shape) * 2.0 + 0.5
    w, b, g = rng.standard_normal(c), rng.standard_normal(c), rng.standard_normal(shape)
    return (a.astype(dtype) for a in (x, w, b, g))


def _torch_grads(fn, x, w, b, g):
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = fn(*ts)
    grads = torch.autograd.grad(y, ts, torch.tensor(g))
    return y.detach().numpy(), [t.numpy() for t in grads]


def _close(got, want, tol=1e-12):
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# -- batch norm, training ------------------------------------------------------------------
@given(batches(min_batch=2))
def test_batch_norm_train_and_running_stats_agree_with_torch(case):
    shape, _, seed = case
    x, w, b, g = _arrays(seed, shape)
    rm, rv = np.linspace(-1, 1, shape[1]), np.linspace(0.5, 2, shape[1])
    trm, trv = torch.tensor(rm), torch.tensor(rv)  # updated in place by PyTorch
    y_ref, (gx, gw, gb) = _torch_grads(
        lambda *t: F.batch_norm(t[0], trm, trv, t[1], t[2], training=True, momentum=0.25,
                                eps=1e-5), x, w, b, g)
    _close(batch_norm_train(x, w, b), y_ref)
    grad_w, grad_b, grad_x = batch_norm_train_vjp(x, w, b, g)
    _close(grad_x, gx, 1e-10), _close(grad_w, gw, 1e-10), _close(grad_b, gb, 1e-10)
    new_mean, new_var = batch_norm_running_stats(x, rm, rv, momentum=0.25)
    _close(new_mean, trm.numpy()), _close(new_var, trv.numpy())


@given(batches(min_batch=2))
def test_batch_norm_train_without_affine_parameters(case):
    shape, _, seed = case
    x, _, _, g = _arrays(seed, shape)
    y_ref = F.batch_norm(torch.tensor(x), None, None, training=True).numpy()
    _close(batch_norm_train(x, None, None), y_ref)
    grad_w, grad_b, _ = batch_norm_train_vjp(x, None, None, g)
    assert grad_w is None and grad_b is None


# -- batch norm, eval ----------------------------------------------------------------------
@given(batches())
def test_batch_norm_eval_agrees_with_torch(case):
    shape, _, seed = case
    x, w, b, g = _arrays(seed, shape)
    rm, rv = np.linspace(-1, 1, shape[1]), np.linspace(0.5, 2, shape[1])
    y_ref, (gx, gw, gb) = _torch_grads(
        lambda *t: F.batch_norm(t[0], torch.tensor(rm), torch.tensor(rv), t[1], t[2],
                                training=False, eps=1e-5), x, w, b, g)
    _close(batch_norm_eval(x, w, b, rm, rv), y_ref)
    _close(batch_norm_eval(x, w, b, tuple(rm), list(rv)), y_ref)  # sequences, as records pass
    grad_w, grad_b, grad_x = batch_norm_eval_vjp(x, w, b, rm, rv, g)
    _close(grad_x, gx), _close(grad_w, gw), _close(grad_b, gb)


# -- layer norm and group norm --------------------------------------------------------------
@given(batches(), st.data())
def test_layer_norm_agrees_with_torch(case, data):
    shape, _, seed = case
    k = data.draw(st.integers(1, len(shape) - 1))
    norm_shape = shape[len(shape) - k:]
    x, _, _, g = _arrays(seed, shape)
    rng = np.random.default_rng(seed + 1)
    w, b = rng.standard_normal(norm_shape), rng.standard_normal(norm_shape)
    y_ref, (gx, gw, gb) = _torch_grads(lambda *t: F.layer_norm(t[0], norm_shape, t[1], t[2]),
                                       x, w, b, g)
    _close(layer_norm(x, norm_shape, w, b), y_ref)
    grad_w, grad_b, grad_x = layer_norm_vjp(x, norm_shape, w, b, g)
    _close(grad_x, gx, 1e-10), _close(grad_w, gw, 1e-10), _close(grad_b, gb, 1e-10)
    _close(layer_norm(x, norm_shape), F.layer_norm(torch.tensor(x), norm_shape).numpy())


@given(batches(group=True))
def test_group_norm_agrees_with_torch(case):
    shape, groups, seed = case
    x, w, b, g = _arrays(seed, shape)
    y_ref, (gx, gw, gb) = _torch_grads(lambda *t: F.group_norm(t[0], groups, t[1], t[2]),
                                       x, w, b, g)
    _close(group_norm(x, groups, w, b), y_ref)
    grad_w, grad_b, grad_x = group_norm_vjp(x, groups, w, b, g)
    _close(grad_x, gx, 1e-10), _close(grad_w, gw, 1e-10), _close(grad_b, gb, 1e-10)


# -- float32 ------------------------------------------------------------------------------
def _tol32(values_normalised: int) -> float:
    """Forward error bound in float32: the mean and the variance each sum ``n`` terms
    (``n * eps`` relative), the square root and the affine map a few ``eps`` more; ``x_hat``
    is O(1) for the drawn values (|x_hat| <= sqrt(n)), so the bound is absolute."""
    n = values_normalised
    return 4 * (n + 4) * EPS32 * np.sqrt(n)


@given(batches(min_batch=2, group=True))
def test_float32_within_the_derived_tolerance(case):
    shape, groups, seed = case
    x, w, b, _ = _arrays(seed, shape)
    x32, w32, b32 = (a.astype(np.float32) for a in (x, w, b))
    n_bn = x.size // shape[1]
    n_gn = x.size // shape[0] // groups
    scale = 1 + np.abs(w).max()
    for got, want, n in (
        (batch_norm_train(x32, w32, b32), batch_norm_train(x, w, b), n_bn),
        (group_norm(x32, groups, w32, b32), group_norm(x, groups, w, b), n_gn),
        (layer_norm(x32, shape[-1:]), layer_norm(x, shape[-1:]), shape[-1]),
    ):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=_tol32(n) * scale)


# -- JVP against finite differences -----------------------------------------------------------
@settings(max_examples=20)
@given(batches(min_batch=2, group=True))
def test_jvps_match_central_differences(case):
    shape, groups, seed = case
    x, w, b, _ = _arrays(seed, shape)
    dx, dw, db, _ = _arrays(seed + 7, shape)
    rm, rv = np.linspace(-1, 1, shape[1]), np.linspace(0.5, 2, shape[1])
    h = 1e-6
    ops = [
        (lambda x, w, b: batch_norm_train(x, w, b),
         batch_norm_train_jvp(x, w, b, dx, dw, db)),
        (lambda x, w, b: batch_norm_eval(x, w, b, rm, rv),
         batch_norm_eval_jvp(x, w, b, rm, rv, dx, dw, db)),
        (lambda x, w, b: group_norm(x, groups, w, b),
         group_norm_jvp(x, groups, w, b, dx, dw, db)),
    ]
    for fn, jvp in ops:
        fd = (fn(x + h * dx, w + h * dw, b + h * db) - fn(x - h * dx, w - h * dw, b - h * db))
        np.testing.assert_allclose(jvp, fd / (2 * h), rtol=1e-5, atol=1e-6)
    ns = shape[-1:]
    ws, bs = w[:1].repeat(shape[-1]), b[:1].repeat(shape[-1])
    dws, dbs = dw[:1].repeat(shape[-1]), db[:1].repeat(shape[-1])
    fd = (layer_norm(x + h * dx, ns, ws + h * dws, bs + h * dbs)
          - layer_norm(x - h * dx, ns, ws - h * dws, bs - h * dbs)) / (2 * h)
    np.testing.assert_allclose(layer_norm_jvp(x, ns, ws, bs, dx, dws, dbs), fd, rtol=1e-5,
                               atol=1e-6)


# -- planted defects ------------------------------------------------------------------------
def _unbiased_batch_norm(x, w, b, eps=1e-5):
    """The defect: the unbiased variance where PyTorch normalises with the biased one."""
    axes = (0, *range(2, x.ndim))
    view = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, ddof=1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w.reshape(view) + b.reshape(view)


def test_unbiased_variance_in_training_is_caught():
    x, w, b, _ = _arrays(3, (2, 3, 4))
    y_ref = F.batch_norm(torch.tensor(x), None, None, torch.tensor(w), torch.tensor(b),
                         training=True).numpy()
    _close(batch_norm_train(x, w, b), y_ref)
    assert np.abs(_unbiased_batch_norm(x, w, b) - y_ref).max() > 1e-3


def test_biased_variance_in_the_running_update_is_caught():
    x, *_ = _arrays(4, (2, 3, 4))
    rm, rv = np.zeros(3), np.ones(3)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    F.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=0.1)
    _, new_var = batch_norm_running_stats(x, rm, rv, momentum=0.1)
    _close(new_var, trv.numpy())
    biased = 0.9 * rv + 0.1 * x.var(axis=(0, 2))
    assert np.abs(biased - trv.numpy()).max() > 1e-4


def test_group_norm_that_mixes_groups_is_caught():
    """Normalising over all channels (one group) instead of ``num_groups`` differs from
    PyTorch, and the spec does not."""
    x, w, b, _ = _arrays(5, (2, 4, 3))
    y_ref = F.group_norm(torch.tensor(x), 2, torch.tensor(w), torch.tensor(b)).numpy()
    _close(group_norm(x, 2, w, b), y_ref)
    assert np.abs(group_norm(x, 1, w, b) - y_ref).max() > 1e-3


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("call, rule, words", [
    (lambda x: group_norm(x, 3), Rule.CHANNELS, "num_groups=3"),
    (lambda x: group_norm(x[:1, :, 0], 4), Rule.POSITIVE_SIZE, "num_groups=4"),
    (lambda x: batch_norm_train(x[:1, :, :1]), Rule.POSITIVE_SIZE, "(1, 4, 1)"),
    (lambda x: layer_norm(x, (4,)), Rule.SHAPE_MATCH, "normalized_shape=(4,)"),
    (lambda x: batch_norm_train(x, np.ones(3)), Rule.SHAPE_MATCH, "(4,)"),
    (lambda x: batch_norm_eval(x, None, None, np.zeros(4), -np.ones(4)), Rule.NUMBER,
     "running_var"),
    (lambda x: batch_norm_train(x, eps=0.0), Rule.NUMBER, "eps"),
    (lambda x: batch_norm_train(x.astype(np.float32), np.ones(4)), Rule.DTYPE_MIX, "float32"),
])
def test_bad_arguments_raise_shape_errors_naming_the_values(call, rule, words):
    x = np.ones((2, 4, 3))
    with pytest.raises(ShapeError) as info:
        call(x)
    assert info.value.rule == rule and words in str(info.value)
