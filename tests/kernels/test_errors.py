"""Bad input raises ShapeError naming the rule and the values, on every backend."""

import nnbridge.kernels as K
import numpy as np
import pytest
from nnbridge.spec.errors import ShapeError

X = np.zeros((2, 3, 6, 6))
W = np.zeros((4, 3, 3, 3))
B = np.zeros(4)


@pytest.mark.parametrize(
    ("call", "rule", "text"),
    [
        (lambda be: K.conv(np.zeros((3, 6, 6)), W, B, backend=be), "rank", "(3, 6, 6)"),
        (lambda be: K.max_pool(np.zeros((6, 6)), 2, backend=be), "rank", "(6, 6)"),
        (lambda be: K.conv(X, np.zeros((4, 2, 3, 3)), B, backend=be), "channels", "2 input"),
        (lambda be: K.conv(X, W, np.zeros(5), backend=be), "shape_match", "(5,)"),
        (lambda be: K.conv(X, W.astype(np.float32), B, backend=be), "dtype_mix", "float32"),
        (lambda be: K.conv(X.astype(np.int64), W, B, backend=be), "dtype", "int64"),
        (lambda be: K.conv(X.tolist(), W, B, backend=be), "array_type", "list"),
        (lambda be: K.conv(X, W, B, stride=0, backend=be), "stride_positive", "stride=(0, 0)"),
        (lambda be: K.conv(X, W, B, stride=(1, 2, 1), backend=be), "axis_count", "(1, 2, 1)"),
        (lambda be: K.conv(X, W, B, padding=-1, backend=be), "nonneg_size", "-1"),
        (lambda be: K.conv(X, np.zeros((4, 3, 9, 9)), B, backend=be), "lean_torch_divergence",
         "kernel_fits"),
        (lambda be: K.conv(X, W, B, stride=1.5, backend=be), "integer_size", "1.5"),
        (lambda be: K.conv_vjp(X, W, B, np.zeros((2, 4, 5, 4)), backend=be), "shape_match",
         "(2, 4, 4, 4)"),
        (lambda be: K.conv_transpose(X, np.zeros((4, 3, 3, 3)), None, backend=be), "channels",
         "4 input"),
        (lambda be: K.max_pool(X, 2, padding=2, backend=be), "lean_torch_divergence",
         "padding=2"),
        (lambda be: K.max_pool(X, (2, 2, 2), backend=be), "axis_count", "(2, 2, 2)"),
        (lambda be: K.avg_pool_vjp(X, np.zeros((2, 3, 2, 2)), 2, backend=be), "shape_match",
         "(2, 3, 3, 3)"),
        (lambda be: K.max_pool(X, 0, backend=be), "kernel_positive", "kernel=(0, 0)"),
    ],
)
def test_bad_input_names_rule_and_values(backend, call, rule, text):
    with pytest.raises(ShapeError) as info:
        call(backend)
    assert info.value.rule == rule, str(info.value)
    assert text in str(info.value)


def test_kernels_refuse_where_the_spec_refuses(backend):
    """Where TorchLean's and PyTorch's sizes differ (transposed conv of one cell with
    padding 1: Lean 3, PyTorch 1), kernel and spec both refuse, with the same rule."""
    from nnbridge.spec.conv import conv_transpose as spec_conv_transpose

    x, w, b = np.zeros((1, 2, 1)), np.zeros((2, 3, 3)), np.zeros(3)
    with pytest.raises(ShapeError) as spec_error:
        spec_conv_transpose(x[0], w, b, 1, 1)
    with pytest.raises(ShapeError) as kernel_error:
        K.conv_transpose(x, w, b, 1, 1, backend=backend)
    assert kernel_error.value.rule == spec_error.value.rule == "lean_torch_divergence"
