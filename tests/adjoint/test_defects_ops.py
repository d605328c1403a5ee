"""Planted defects in the op records: every record's generated entries catch a wrong backward.

Generic: for every op, a VJP whose gradient for one operand is off by 1% (a missing epsilon, a
wrong scale) is caught by the adjoint identity, in exact mode where the op is exact. Specific:
``leaky_relu``, the op added as one record, with a wrong slope in its backward alone (the
identity catches it) and in both its backward and forward derivative (finite differences do).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from nnbridge.spec.basic import leaky_relu_jvp, leaky_relu_vjp
from nnbridge.spec.ops import get_op, ops

from nnbridge.adjoint import check_adjoint, check_jvp
from nnbridge.adjoint.entries_ops import entry_names, op_entry


def _scaled_vjp(op, operand: str, factor: float):
    index = op.order.index(operand)

    def vjp(**kwargs):
        grads = op.call_vjp({n: kwargs[n] for n in op.operands}, kwargs.pop("grad_y"),
                            **{k: v for k, v in kwargs.items() if k not in op.operands})
        return tuple(g * factor if i == index else g for i, g in enumerate(grads))

    return vjp


CASES = [(op, rank, wrt) for op in ops() for _, rank, wrt in entry_names(op)
         if len(wrt) == 1]


@pytest.mark.parametrize("op, rank, wrt", CASES,
                         ids=[f"{op.name}{rank}d.{wrt[0]}" for op, rank, wrt in CASES])
def test_a_gradient_off_by_one_percent_is_caught(op, rank, wrt):
    defect = dataclasses.replace(op, vjp=_scaled_vjp(op, wrt[0], 1.0 + 2.0**-7))
    entry = op_entry(defect, rank, wrt)
    mode = "exact" if op.exact else "float64"
    assert check_adjoint(op_entry(op, rank, wrt), mode).passed
    result = check_adjoint(entry, mode)
    assert not result.passed, (op.name, result.detail)


def test_leaky_relu_backward_with_the_wrong_slope_is_caught_exactly():
    op = get_op("leaky_relu")

    def wrong(x, grad_y, negative_slope=0.01):  # slope squared on the negative side
        return np.where(x > 0, grad_y, negative_slope**2 * grad_y)

    for rank in op.ranks:
        result = check_adjoint(op_entry(dataclasses.replace(op, vjp=wrong), rank, ("x",)),
                               "exact")
        assert not result.passed and result.worst_residual > 0


def test_leaky_relu_slope_shared_by_jvp_and_vjp_is_caught_by_finite_differences():
    op = get_op("leaky_relu")

    def vjp(x, grad_y, negative_slope=0.01):
        return leaky_relu_vjp(x, grad_y, 2 * negative_slope)

    def jvp(x, dx, negative_slope=0.01):
        return leaky_relu_jvp(x, dx, 2 * negative_slope)

    shared = op_entry(dataclasses.replace(op, vjp=vjp, jvp=jvp), 2, ("x",))
    assert check_adjoint(shared, "float64").passed  # the two wrong rules are adjoint
    assert check_jvp(op_entry(op, 2, ("x",))).passed
    result = check_jvp(shared)
    assert not result.passed and result.worst_residual > 100 * result.tolerance
