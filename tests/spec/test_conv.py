"""Conv and transposed conv: the Lean/PyTorch divergences and bad arguments (the agreement
with PyTorch is generated from the op records in tests/spec/test_ops.py)."""

import numpy as np
import pytest
import torch.nn.functional as F
from nnbridge.spec.convolution import (
    conv,
    conv_jvp,
    conv_transpose,
    conv_vjp,
)
from nnbridge.spec.errors import ShapeError

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
















def test_phantom_cell_raises_with_the_divergence():
    # in + 2p < k: Lean's Nat formula gives 1, PyTorch raises
    x, w, b = np.zeros((1, 2)), np.zeros((1, 1, 3)), np.zeros(1)
    with pytest.raises(ShapeError, match="Nat formula gives output size") as err:
        conv(x, w, b)
    assert err.value.rule == "lean_torch_divergence"


def test_transposed_truncation_raises_with_both_sizes():
    # convTransposeOutDim 1 3 1 1: Lean 3, PyTorch 1
    x, w, b = np.zeros((1, 1)), np.zeros((1, 1, 3)), np.zeros(1)
    with pytest.raises(ShapeError, match=r"gives output size \(3,\), PyTorch gives \(1,\)"):
        conv_transpose(x, w, b, stride=1, padding=1)


@pytest.mark.parametrize("call, rule", [
    (lambda: conv(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(1), stride=0), "stride_positive"),
    (lambda: conv(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(1), padding=-1), "nonneg_size"),
    (lambda: conv(np.zeros((1, 5)), np.zeros((1, 2, 3)), np.zeros(1)), "channels"),
    (lambda: conv(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(2)), "shape_match"),
    (lambda: conv(np.zeros((1, 5), dtype=int), np.zeros((1, 1, 3)), np.zeros(1)), "dtype"),
    (lambda: conv([[0.0] * 5], np.zeros((1, 1, 3)), np.zeros(1)), "array_type"),
    (lambda: conv(np.zeros((1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), stride=(1, 2, 3)),
     "axis_count"),
    (lambda: conv(np.zeros((1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), stride=1.5),
     "integer_size"),
    (lambda: conv(np.zeros((5,)), np.zeros((1, 1, 3)), np.zeros(1)), "rank"),
    (lambda: conv_vjp(np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(1), np.zeros((1, 4))),
     "shape_match"),
])
def test_bad_arguments_raise_shape_error(call, rule):
    with pytest.raises(ShapeError) as err:
        call()
    assert err.value.rule == rule


def test_mixed_dtypes_are_refused_not_promoted():
    x, w, b = np.zeros((1, 5), np.float32), np.zeros((1, 1, 3)), np.zeros(1)
    with pytest.raises(ShapeError) as err:
        conv(x, w, b)
    assert err.value.rule == "dtype_mix"


def test_an_output_beyond_memory_is_refused_naming_its_size():
    x, w, b = np.zeros((1, 2)), np.zeros((2**20, 1, 1)), np.zeros(2**20)
    with pytest.raises(ShapeError, match="elements") as err:
        conv(x, w, b, padding=2**12)
    assert err.value.rule == "too_large"


def test_wrong_tangent_shapes_are_refused():
    x, w, b = np.zeros((1, 5)), np.zeros((1, 1, 3)), np.zeros(1)
    with pytest.raises(ShapeError) as err:
        conv_jvp(x, w, b, np.zeros((1, 4)), None, None)
    assert err.value.rule == "shape_match"
