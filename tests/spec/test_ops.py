"""Every op record against PyTorch: forward, VJP (autograd) and JVP (forward-mode AD), float64.

Generated from :mod:`nnbridge.spec.ops`: a new record is tested here without a line added.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from nnbridge.spec.ops import ops
from nnbridge.spec.strategies import draw_operand, op_cases

torch.set_num_threads(1)

WITH_TORCH = [op for op in ops() if op.torch is not None]


def test_every_op_has_a_torch_reference_and_its_functions():
    assert {op.name for op in ops()} >= {
        "conv", "conv_transpose", "max_pool", "avg_pool", "smooth_max_pool", "linear", "relu",
        "leaky_relu", "batch_norm", "global_avg_pool", "flatten", "concat", "shortcut", "pad",
        "crop", "add"}
    assert WITH_TORCH == ops()


@pytest.mark.parametrize("op", WITH_TORCH, ids=lambda op: op.name)
def test_op_agrees_with_torch(op):
    @given(op_cases(op))
    def check(case):
        values, static = case.values, case.static
        y = op.call(values, **static)
        tensors = {n: torch.tensor(v, requires_grad=True) for n, v in values.items()}
        y_ref = op.torch(**tensors, **static)
        assert y.shape == tuple(y_ref.shape) and y.dtype == np.float64
        np.testing.assert_allclose(y, y_ref.detach().numpy(), rtol=1e-12, atol=1e-12)

        rng = np.random.default_rng(case.seed + 1)
        grad_y = draw_operand(rng, y.shape)
        grads = op.call_vjp(values, grad_y, **static)
        refs = torch.autograd.grad(y_ref, [tensors[n] for n in op.order], torch.tensor(grad_y),
                                   allow_unused=True)
        assert len(grads) == len(op.order)
        for name, g, r in zip(op.order, grads, refs, strict=True):
            assert g.shape == values[name].shape and g.dtype == values[name].dtype, name
            r = np.zeros_like(values[name]) if r is None else r.numpy()
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10, err_msg=name)

        tangents = {n: draw_operand(rng, v.shape) for n, v in values.items()}
        dy = op.call_jvp(values, tangents, **static)
        _, dy_ref = torch.func.jvp(
            lambda *t: op.torch(**dict(zip(op.operands, t, strict=True)), **static),
            tuple(torch.tensor(values[n]) for n in op.operands),
            tuple(torch.tensor(tangents[n]) for n in op.operands))
        np.testing.assert_allclose(dy, dy_ref.numpy(), rtol=1e-10, atol=1e-10)

    check()


@pytest.mark.parametrize("op", ops(), ids=lambda op: op.name)
def test_float32_follows_float64(op):
    """float32 operands give float32 results within float32 rounding of the float64 ones."""
    @given(op_cases(op, dtype=np.float32))
    def check(case):
        y32 = op.call(case.values, **case.static)
        y64 = op.call({n: v.astype(np.float64) for n, v in case.values.items()}, **case.static)
        assert y32.dtype == np.float32
        np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4)

    check()


@pytest.mark.parametrize("op", ops(), ids=lambda op: op.name)
def test_sampled_geometries_are_valid_in_exact_mode_too(op):
    """The record's sampler gives configurations the op accepts, in both modes."""
    rng = np.random.default_rng(0)
    for exact in (False, True):
        for rank in op.ranks:
            for _ in range(20):
                g = op.sample(lambda o: list(o)[rng.integers(len(o))], rank, exact)
                values = {n: np.zeros(g.shapes[n]) for n in op.operands}
                op.call(values, **g.static)
