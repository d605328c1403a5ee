"""Planted defects in the basic ops' backward rules, each caught by the adjoint checks.

The defective rules are built here beside the true ones; every test first shows the true
rule passing the same check, so a failure of the defective one is the defect's doing.
"""

from __future__ import annotations

import numpy as np
import pytest
from nnbridge.spec.basic import (
    batch_norm,
    batch_norm_jvp,
    batch_norm_vjp,
    channel_slice,
    channel_slice_jvp,
    global_avg_pool,
    global_avg_pool_jvp,
)

from nnbridge.adjoint import Case, Entry, check_adjoint, check_jvp, get

AXES = (1, 2)


def _bn_pieces(x):
    mean = x.mean(axis=AXES, keepdims=True)
    inv_std = 1 / np.sqrt(((x - mean) ** 2).mean(axis=AXES, keepdims=True) + 1e-6)
    return (x - mean) * inv_std, inv_std


def bn_vjp_without_mean_term(x, gamma, beta, g):
    """The classic slip: ``grad_x = gamma * inv_std * (g - x_hat * mean(g * x_hat))``."""
    x_hat, inv_std = _bn_pieces(x)
    grad_x = gamma[:, None, None] * inv_std * (
        g - x_hat * (g * x_hat).mean(axis=AXES, keepdims=True))
    return (g * x_hat).sum(axis=AXES), g.sum(axis=AXES), grad_x


def bn_jvp_without_mean_term(x, gamma, beta, dx):
    """The same slip made in forward mode: JVP and VJP then share the defect."""
    x_hat, inv_std = _bn_pieces(x)
    return gamma[:, None, None] * inv_std * (
        dx - x_hat * (dx * x_hat).mean(axis=AXES, keepdims=True))


def _bn_entry(vjp_defect: bool, jvp_defect: bool) -> Entry:
    def build(s):
        x, gamma, beta = s.array((3, 4, 5)), s.array((3,)), s.array((3,))
        jvp = ((lambda dx: bn_jvp_without_mean_term(x, gamma, beta, dx)) if jvp_defect
               else (lambda dx: batch_norm_jvp(x, gamma, beta, dx, None, None)))
        vjp = ((lambda g: (bn_vjp_without_mean_term(x, gamma, beta, g)[2],)) if vjp_defect
               else (lambda g: (batch_norm_vjp(x, gamma, beta, g)[2],)))
        return Case((x,), forward=lambda x: batch_norm(x, gamma, beta), jvp=jvp, vjp=vjp)
    return Entry(f"bn(vjp_defect={vjp_defect}, jvp_defect={jvp_defect})", build, exact=False)


@pytest.mark.parametrize("mode", ["float32", "float64"])
def test_bn_backward_missing_mean_term_is_caught_by_the_adjoint_identity(mode):
    assert check_adjoint(_bn_entry(False, False), mode).passed
    result = check_adjoint(_bn_entry(True, False), mode)
    assert not result.passed
    assert result.worst_residual > 100 * result.tolerance


def test_bn_defect_shared_by_jvp_and_vjp_is_caught_by_finite_differences():
    """The adjoint identity holds between two equally wrong rules; the FD check does not."""
    shared = _bn_entry(True, True)
    assert check_adjoint(shared, "float64").passed
    assert check_jvp(_bn_entry(False, False)).passed
    result = check_jvp(shared)
    assert not result.passed
    assert result.worst_residual > 100 * result.tolerance


def test_the_registered_bn_entries_pass():
    for name in ("batch_norm2d.x", "batch_norm2d.gbx"):
        assert check_adjoint(get(name), "float64").passed
        assert check_jvp(get(name)).passed


def _unary_entry(fn, fn_jvp, vjp, shape, **static) -> Entry:
    def build(s):
        x = s.array(shape)
        return Case((x,), forward=lambda x: fn(x, **static),
                    jvp=lambda dx: fn_jvp(x, **static, dx=dx), vjp=lambda g: (vjp(x, g),))
    return Entry(fn.__name__, build)


def test_global_avg_pool_wrong_divisor_is_caught_exactly():
    """Dividing by one axis' size instead of the cell count breaks bit-equality."""
    def wrong(x, g):
        return np.broadcast_to(g[:, None, None] / x.shape[1], x.shape).copy()

    def right(x, g):
        return np.broadcast_to(g[:, None, None] / (x.shape[1] * x.shape[2]), x.shape).copy()

    assert check_adjoint(_unary_entry(global_avg_pool, global_avg_pool_jvp, right, (2, 4, 4)),
                         "exact").passed
    result = check_adjoint(_unary_entry(global_avg_pool, global_avg_pool_jvp, wrong, (2, 4, 4)),
                           "exact")
    assert not result.passed and result.worst_residual > 0


def test_channel_slice_adjoint_injecting_at_the_wrong_end_is_caught_exactly():
    """The adjoint of keeping the FIRST channels injects zeros ABOVE them, not below."""
    def wrong(x, g):
        out = np.zeros_like(x)
        out[x.shape[0] - g.shape[0]:] = g
        return out

    def right(x, g):
        out = np.zeros_like(x)
        out[: g.shape[0]] = g
        return out

    ok = _unary_entry(channel_slice, channel_slice_jvp, right, (5, 3, 3), out_channels=2)
    bad = _unary_entry(channel_slice, channel_slice_jvp, wrong, (5, 3, 3), out_channels=2)
    assert check_adjoint(ok, "exact").passed
    assert not check_adjoint(bad, "exact").passed


def test_model_backward_missing_a_relu_gate_is_caught_exactly():
    """CNN2's vjp with the second ReLU's gate dropped: the exact identity is broken."""
    from nnbridge.spec import basic
    from nnbridge.spec.models import CNN2
    from nnbridge.spec.models import cnn as cnn_module
    from nnbridge.spec.shapes import CNN2Config

    from nnbridge.adjoint.entries_models import model_case

    def build(s):
        model = CNN2(CNN2Config(c1=2, c2=3, out_dim=4), 1, 8, 8, dtype=s.dtype)
        return model_case(s, model, (1, 8, 8))

    assert check_adjoint(Entry("cnn2", build), "exact").passed
    calls = []

    def gate_once(x, grad_y):  # the first gate the backward meets (ReLU 2) is skipped
        calls.append(1)
        return grad_y if len(calls) % 2 == 1 else basic.relu_vjp(x, grad_y)

    original = cnn_module.relu_vjp
    cnn_module.relu_vjp = gate_once
    try:
        result = check_adjoint(Entry("cnn2.defect", build), "exact")
    finally:
        cnn_module.relu_vjp = original
    assert not result.passed and result.worst_residual > 0


def test_every_model_entry_passes_its_headline_check():
    from nnbridge.adjoint import registry

    models = [e for e in registry() if e.name.startswith(("model.", "block."))]
    assert len(models) >= 10
    for item in models:
        assert check_adjoint(item, "exact" if item.exact else "float64").passed, item.name
