"""``check_numpy`` on hand-written NumPy backward rules: correct ones pass (nnbridge's own
specs among them), planted defects are caught with their reason, bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest
from nnbridge.spec.basic import global_avg_pool, global_avg_pool_vjp, relu, relu_jvp, relu_vjp
from nnbridge.spec.errors import UsageError

from nnbridge.adjoint import check_numpy


def by_check(report) -> dict:
    return {f"{r.check}[{r.mode}]": r for r in report.results}


def matmul(x, w):
    return x @ w


def matmul_vjp(x, w, g):
    return g @ w.T, x.T @ g


def matmul_jvp(x, w, dx, dw):
    return dx @ w + x @ dw


def bias_add(x, b):
    return x + b


def bias_add_vjp(x, b, g):
    return g, g.sum(axis=0)


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_vjp(x, g):
    y = softmax(x)
    return y * (g - (g * y).sum(axis=-1, keepdims=True))


def softmax_jvp(x, dx):
    y = softmax(x)
    return y * (dx - (dx * y).sum(axis=-1, keepdims=True))


def test_correct_rules_pass():
    report = check_numpy(matmul, matmul_vjp, (4, 3), (3, 5), jvp=matmul_jvp)
    assert report.passed, report.table()
    checks = by_check(report)
    assert checks["adjoint[exact]"].worst_residual == 0.0 and checks["jvp[fd]"].applicable
    assert report.jvp_source == "the given jvp"
    soft = check_numpy(softmax, softmax_vjp, (3, 6), jvp=softmax_jvp)
    assert soft.passed and not by_check(soft)["adjoint[exact]"].applicable, soft.table()
    fd = check_numpy(bias_add, bias_add_vjp, (4, 3), (3,))
    assert fd.passed and fd.jvp_source == "central differences (no jvp given)"


def test_nnbridge_specs_pass():
    """The specs follow the same convention: forward(x), vjp(x, grad_y), jvp(x, dx)."""
    assert check_numpy(relu, relu_vjp, (3, 4, 5), jvp=relu_jvp).passed
    assert check_numpy(global_avg_pool, global_avg_pool_vjp, (3, 4, 4)).passed


def test_missing_broadcast_sum_is_a_wrong_shape():
    report = check_numpy(bias_add, lambda x, b, g: (g, g), (4, 3), (3,))
    assert not report.passed
    detail = by_check(report)["backward[contract]"].detail
    assert "gradient of shape (4, 3) for input 1 of shape (3,)" in detail
    assert "not summed over the broadcast dimensions" in detail


def test_a_float64_gradient_for_float32_input_fails():
    def upcast(x, w, g):
        return tuple(a.astype(np.float64) for a in matmul_vjp(x, w, g))

    report = check_numpy(matmul, upcast, (2, 3), (3, 2))
    assert "float32: vjp returns float64 for input 0 of dtype float32" in by_check(
        report)["backward[contract]"].detail


def test_sign_and_shared_defects():
    sign = check_numpy(softmax, lambda x, g: -softmax_vjp(x, g), (3, 4))
    assert {"adjoint[float32]", "adjoint[float64]"} <= {f"{r.check}[{r.mode}]"
                                                       for r in sign.failures}

    def scaled_vjp(x, g):
        return 2 * softmax_vjp(x, g)

    def scaled_jvp(x, dx):
        return 2 * softmax_jvp(x, dx)

    shared = check_numpy(softmax, scaled_vjp, (3, 4), jvp=scaled_jvp)
    assert [f"{r.check}[{r.mode}]" for r in shared.failures] == ["jvp[fd]"], shared.table()


def test_a_vjp_that_ignores_strides_is_caught():
    def raw(g):  # what C code handed g's buffer would read
        return np.lib.stride_tricks.as_strided(
            g, g.shape, tuple(g.itemsize * int(np.prod(g.shape[i + 1:]))
                              for i in range(g.ndim)))

    report = check_numpy(lambda x: 3 * x, lambda x, g: 3 * raw(g), (4, 5))
    assert "grad_y is non-contiguous" in by_check(report)["backward[contract]"].detail


def test_a_vjp_that_raises_or_miscounts_fails():
    def boom(x, g):
        raise ArithmeticError("vjp exploded")

    report = check_numpy(relu, boom, (3,))
    assert "the vjp raised ArithmeticError: vjp exploded" in by_check(
        report)["backward[contract]"].detail
    assert not report.passed
    count = check_numpy(matmul, lambda x, w, g: (g @ w.T,), (2, 3), (3, 2))
    assert "one gradient per input (2), got 1" in by_check(count)["backward[contract]"].detail


def test_integer_inputs_are_constants():
    def take(x, index):
        return x[index]

    def take_vjp(x, index, g):
        grad = np.zeros_like(x)
        np.add.at(grad, index, g)
        return grad, None

    assert check_numpy(take, take_vjp, (5, 2), np.array([4, 0, 4])).passed


@pytest.mark.parametrize("call, rule", [
    (lambda: check_numpy(None, relu_vjp, (2,)), "param_value"),
    (lambda: check_numpy(relu, "vjp", (2,)), "param_value"),
    (lambda: check_numpy(relu, relu_vjp, (2,), jvp=1), "param_value"),
    (lambda: check_numpy(relu, relu_vjp, (2, -3)), "param_value"),
    (lambda: check_numpy(relu, relu_vjp, (2**30,)), "work_limit"),
    (lambda: check_numpy(relu, relu_vjp, np.arange(3)), "param_value"),
    (lambda: check_numpy(relu, relu_vjp, object()), "param_value"),
    (lambda: check_numpy(relu, relu_vjp, np.zeros(2, dtype=complex)), "param_value"),
    (lambda: check_numpy(relu, relu_vjp, (2,), trials=1001), "work_limit"),
])
def test_bad_input_is_a_usage_error(call, rule):
    with pytest.raises(UsageError) as info:
        call()
    assert info.value.rule == rule
