"""The Functions of ``autograd_functions.py`` with the backward mistakes people make.

Each defect keeps the forward and changes one thing in the backward, as it happens in real
code. :data:`DEFECTS` maps a name to ``(the case it breaks, the defective Function, what is
wrong)``; the case's inputs are those of ``autograd_functions.CASES``. Used by the tests
(every one must be caught) and by ``benchmarks/bench_gradcheck.py`` (which tool catches which).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from autograd_functions import (
    BiasAdd,
    Conv2dUnfold,
    GatherRows,
    LayerNorm,
    MatMul,
    Softmax,
    _normalise,
)

__all__ = ["DEFECTS"]


class MatMulTransposed(MatMul):
    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w, x.T @ g  # w, not w.T: shapes agree when w is square


class MatMulSwapped(MatMul):
    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return x.T @ g, g @ w.T  # grad_w returned for x, and grad_x for w


class BiasAddMissingSum(BiasAdd):
    @staticmethod
    def backward(ctx, g):
        return g, g.sum(dim=0)  # sums over the batch axis only, not the sequence axis


class SoftmaxSign(Softmax):
    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (g + (g * y).sum(dim=-1, keepdim=True))


class LayerNormNoScale(LayerNorm):
    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        x_hat, inv_std = _normalise(x)
        gh = g * w
        grad_x = inv_std * (gh - gh.mean(dim=-1, keepdim=True)
                            - x_hat * (gh * x_hat).sum(dim=-1, keepdim=True))  # sum, not mean
        lead = tuple(range(g.dim() - 1))
        return grad_x, (g * x_hat).sum(dim=lead), g.sum(dim=lead)


class LayerNormNoEpsilon(LayerNorm):
    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        x_hat, inv_std = _normalise(x, eps=0.0)  # the forward used eps = 1e-5
        gh = g * w
        grad_x = inv_std * (gh - gh.mean(dim=-1, keepdim=True)
                            - x_hat * (gh * x_hat).mean(dim=-1, keepdim=True))
        lead = tuple(range(g.dim() - 1))
        return grad_x, (g * x_hat).sum(dim=lead), g.sum(dim=lead)


class Conv2dUnfoldHalf(Conv2dUnfold):
    @staticmethod
    def backward(ctx, g):
        cols, w = ctx.saved_tensors
        h, wd, k, padding = ctx.geometry
        g2 = g.reshape(g.shape[0], g.shape[1], -1)
        # accumulated in float16 "to save memory", cast back
        grad_w = (g2.half() @ cols.half().transpose(1, 2)).sum(0).reshape(w.shape).to(g.dtype)
        grad_cols = w.reshape(w.shape[0], -1).T @ g2
        return F.fold(grad_cols, (h, wd), k, padding=padding), grad_w, None


def _as_if_contiguous(t):
    """What a kernel that takes ``t.data_ptr()`` and assumes a dense row-major layout reads."""
    strides, step = [], 1
    for size in reversed(t.shape):
        strides.append(step)
        step *= size
    return torch.as_strided(t, t.shape, tuple(reversed(strides)), t.storage_offset())


class GatherRowsStrides(GatherRows):
    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        grad_x = g.new_zeros((ctx.rows,) + tuple(g.shape[1:]))
        return grad_x.index_add_(0, index, _as_if_contiguous(g)), None


#: ``name -> (case, defective Function, what is wrong)``
DEFECTS = {
    "transposed_factor": ("matmul", MatMulTransposed, "grad_x = g @ w instead of g @ w.T"),
    "missing_broadcast_sum": ("bias_add", BiasAddMissingSum,
                              "grad_b summed over the batch axis only (autograd sums the "
                              "rest silently)"),
    "sign": ("softmax", SoftmaxSign, "y * (g + <g, y>) instead of y * (g - <g, y>)"),
    "dropped_scale": ("layer_norm", LayerNormNoScale, "sum(gh * x_hat) where the mean (1/N) "
                      "belongs"),
    "missing_epsilon": ("layer_norm", LayerNormNoEpsilon,
                        "the backward recomputes 1/sqrt(var) without the forward's eps"),
    "swapped_gradients": ("matmul", MatMulSwapped, "grad_x and grad_w of two 6x6 inputs "
                          "returned in each other's place"),
    "float16_accumulation": ("conv_unfold", Conv2dUnfoldHalf,
                             "grad_w accumulated in float16 and cast back"),
    "ignores_strides": ("gather_rows", GatherRowsStrides,
                        "the backward reads grad_output as if it were contiguous"),
}
