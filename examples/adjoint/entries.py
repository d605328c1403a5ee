"""A module of adjoint entries, as you would write one for your own backward rules.

One line per custom autograd Function (``torch_entry``: name, callable, inputs; a shape
tuple is a differentiable input, a tensor without ``requires_grad`` a constant), one per
NumPy forward with its hand-written VJP (``numpy_entry``). Run it in CI with either::

    nnbridge adjoint --entries examples/adjoint/entries.py --junit adjoint.xml
    pytest --adjoint-entries examples/adjoint/entries.py
"""
from autograd_functions import (
    INDEX,
    BiasAdd,
    Conv2dUnfold,
    GatherRows,
    LayerNorm,
    MatMul,
    Softmax,
    Tanh,
)

from nnbridge.adjoint import numpy_entry, torch_entry

torch_entry("examples.matmul", MatMul.apply, (6, 6), (6, 6))
torch_entry("examples.bias_add", BiasAdd.apply, (3, 4, 5), (5,))
torch_entry("examples.softmax", Softmax.apply, (4, 7))
torch_entry("examples.layer_norm", LayerNorm.apply, (4, 8), (8,), (8,))
torch_entry("examples.conv_unfold", Conv2dUnfold.apply, (2, 3, 6, 6), (4, 3, 3, 3), 1)
torch_entry("examples.gather_rows", GatherRows.apply, (7, 5), INDEX)
torch_entry("examples.tanh", Tanh.apply, (4, 5))


def scale_rows(x, s):
    """``y[i, j] = x[i, j] * s[i]``."""
    return x * s[:, None]


def scale_rows_vjp(x, s, grad_y):
    """One gradient per input, in the forward's order."""
    return grad_y * s[:, None], (grad_y * x).sum(axis=1)


numpy_entry("examples.scale_rows", scale_rows, scale_rows_vjp, (4, 3), (4,))
