"""check_implementation: a kernel author's implementation searched against the specs.

PyTorch's CPU ops stand in for a user's kernels: as they are, they pass (an independent
check of the specs and of the float32 bound on batched inputs); with a planted defect each
fails, shrunk to a minimal configuration that names the defect.
"""

import json

import numpy as np
import pytest
from nnbridge.kernels.implementation import check_implementation
from nnbridge.spec.errors import UsageError

from nnbridge.cli import main

torch = pytest.importorskip("torch", reason="torch (CPU build) is a test dependency")
F = torch.nn.functional
T = torch.from_numpy

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def conv(x, w, b, stride, padding):
    return CONV[x.ndim - 2](T(x), T(w), None if b is None else T(b), stride, padding)


def conv_vjp(x, w, b, grad_y, stride, padding):
    d = x.ndim - 2
    gx, gw, gb = torch.ops.aten.convolution_backward(
        T(grad_y), T(x), T(w), [w.shape[0]], list(stride), list(padding), [1] * d, False,
        [0] * d, 1, [True, True, True])
    return gw, gb, gx


def conv_transpose(x, w, b, stride, padding):
    return CONV_T[x.ndim - 2](T(x), T(w), None if b is None else T(b), stride, padding)


def max_pool(x, kernel, stride, padding):
    return MAX[x.ndim - 2](T(x), kernel, stride, padding)


def max_pool_vjp(x, grad_y, kernel, stride, padding):
    xt = T(x).requires_grad_(True)
    (g,) = torch.autograd.grad(MAX[x.ndim - 2](xt, kernel, stride, padding), xt, T(grad_y))
    return g


def avg_pool(x, kernel, stride, padding):
    return AVG[x.ndim - 2](T(x), kernel, stride, padding)


FAST = {"max_examples": 25}


@pytest.mark.parametrize("op, forward, vjp", [
    ("conv", conv, conv_vjp),
    ("conv_transpose", conv_transpose, None),
    ("max_pool", max_pool, max_pool_vjp),
    ("avg_pool", avg_pool, None),
])
def test_torch_ops_pass_against_the_spec(op, forward, vjp):
    report = check_implementation(op, forward, vjp, **FAST)
    assert report.passed, report.summary()
    assert report.examples >= 2 * FAST["max_examples"]
    assert report.comparisons >= report.examples
    assert 0 <= report.worst_ratio <= 1


def _fails(op, forward, vjp=None, **kw):
    report = check_implementation(op, forward, vjp, **{**FAST, **kw})
    assert not report.passed
    assert report.counterexample is not None
    return report


def test_planted_wrong_padding_is_caught_as_a_shape():
    def shifted(x, w, b, stride, padding):
        return conv(x, w, b, stride, tuple(p + 1 for p in padding))

    report = _fails("conv", shifted)
    assert "shape" in report.failures[0].detail
    c = report.counterexample
    assert (c.n, c.c_in, c.c_out, c.rank) == (1, 1, 1, 1)  # shrunk to the smallest case


def test_planted_flipped_kernel_is_caught_minimally():
    def flipped(x, w, b, stride, padding):
        return conv(x, np.flip(w, axis=-1).copy(), b, stride, padding)

    report = _fails("conv", flipped)
    assert report.mode == "exact"
    assert report.counterexample.kernel == (2,)  # the least kernel a flip changes
    assert report.failures[0].name == "conv.y"


def test_planted_backward_defect_is_caught():
    def half_grad_x(x, w, b, grad_y, stride, padding):
        gw, gb, gx = conv_vjp(x, w, b, grad_y, stride, padding)
        return gw, gb, gx * 0.5

    report = _fails("conv", conv, half_grad_x)
    assert [f.name for f in report.failures] == ["conv.grad_x"]


def test_planted_count_exclude_pad_is_caught_with_padding():
    def exclude_pad(x, kernel, stride, padding):
        return AVG[x.ndim - 2](T(x), kernel, stride, padding, count_include_pad=False)

    report = _fails("avg_pool", exclude_pad)
    assert any(p > 0 for p in report.counterexample.padding)


def test_planted_tf32_rounding_is_caught_in_float_mode_only():
    """Inputs cut to 10 mantissa bits (as TF32 does): small integers survive, so only the
    float32 bound can catch it."""

    def tf32(a):
        if a is None or a.dtype != np.float32:
            return a
        return (a.view(np.int32) & ~0x1FFF).view(np.float32)

    def tf32_conv(x, w, b, stride, padding):
        return conv(tf32(x), tf32(w), tf32(b), stride, padding)

    assert check_implementation("conv", tf32_conv, modes=("exact",), **FAST).passed
    report = _fails("conv", tf32_conv, modes=("float",))
    assert report.mode == "float"
    assert report.failures[0].worst_ratio > 1


def test_an_implementation_that_raises_is_a_failure_with_the_error():
    def only_2d(x, w, b, stride, padding):
        if x.ndim != 4:
            raise NotImplementedError(f"rank {x.ndim - 2}")
        return conv(x, w, b, stride, padding)

    report = _fails("conv", only_2d)
    assert "NotImplementedError" in report.error
    assert check_implementation("conv", only_2d, ranks=(2,), **FAST).passed


def test_a_wrong_dtype_is_named():
    report = _fails("max_pool", lambda x, k, s, p: max_pool(x.astype(np.float32), k, s, p))
    assert "dtype float32, expected float64" in report.failures[0].detail


@pytest.mark.parametrize("kwargs, rule, match", [
    ({"op": "softmax"}, "unknown_name", "op must be one of"),
    ({"modes": ("fast",)}, "param_value", "modes must be among"),
    ({"ranks": (4,)}, "param_value", "ranks must be drawn from 1, 2, 3"),
    ({"forward": 3}, "user_code", "must be callable"),
])
def test_bad_arguments_are_clear_errors(kwargs, rule, match):
    args = {"op": "conv", "forward": conv, **kwargs}
    with pytest.raises(UsageError, match=match) as info:
        check_implementation(args.pop("op"), args.pop("forward"), **args, max_examples=2)
    assert info.value.rule == rule


USER_MODULE = '''
import torch, torch.nn.functional as F
def avg_pool(x, kernel, stride, padding):
    return F.avg_pool2d(torch.from_numpy(x), kernel, stride, padding)
def avg_pool_exclude_pad(x, kernel, stride, padding):
    return F.avg_pool2d(torch.from_numpy(x), kernel, stride, padding, count_include_pad=False)
'''


def test_cli_checks_a_users_file(tmp_path, capsys):
    module = tmp_path / "mykernels.py"
    module.write_text(USER_MODULE)
    assert main(["kernels", "check", "avg_pool", f"{module}:avg_pool", "--ranks", "2",
                 "--examples", "20"]) == 0
    assert "PASS" in capsys.readouterr().out
    report = tmp_path / "report.json"
    assert main(["kernels", "check", "avg_pool", f"{module}:avg_pool_exclude_pad", "--ranks",
                 "2", "--examples", "20", "--json", str(report)]) == 1
    data = json.loads(report.read_text())
    assert data["passed"] is False and data["counterexample"]["padding"] != [0, 0]
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("target, message", [
    ("nowhere.py:f", "no such file"),
    ("no_colon", "expected MODULE:NAME"),
    ("json:no_such_function", "has no attribute"),
    ("json:__doc__", "is not callable"),
    ("nnbridge_missing_module:f", "importing 'nnbridge_missing_module' failed"),
])
def test_cli_bad_targets_are_clear_errors(target, message, capsys):
    assert main(["kernels", "check", "conv", target]) == 2
    assert message in capsys.readouterr().err
