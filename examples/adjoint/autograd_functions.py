"""Custom autograd Functions as people write them, each with a hand-written backward.

Seven common ones: a matmul, a bias add that broadcasts, a softmax and a tanh that save
their output, a layer norm that recomputes its statistics in the backward, a convolution
through ``unfold``, and a row gather (an embedding lookup) whose backward scatters. ``Tanh``
is written in the ``setup_context`` style with a ``jvp`` staticmethod, so
``torch.func.jvp`` runs it; the others are classic ``forward(ctx, ...)`` Functions with no
forward mode, whose ``J u`` nnbridge takes from central differences.

:data:`CASES` pairs each with the inputs it is checked on (shape tuples: differentiable;
the index tensor: a constant), for ``check_torch(fn, *inputs)`` or ``gradcheck``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["CASES", "BiasAdd", "Conv2dUnfold", "GatherRows", "LayerNorm", "MatMul", "Softmax",
           "Tanh"]

EPS = 1e-5


class MatMul(torch.autograd.Function):
    """``y = x @ w``: ``grad_x = g @ w^T``, ``grad_w = x^T @ g``."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x @ w

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w.T, x.T @ g


class BiasAdd(torch.autograd.Function):
    """``y = x + b`` with ``b`` of shape ``(C,)`` broadcast over every leading axis of ``x``:
    ``grad_b`` sums ``g`` over all of them."""

    @staticmethod
    def forward(ctx, x, b):
        return x + b

    @staticmethod
    def backward(ctx, g):
        return g, g.sum(dim=tuple(range(g.dim() - 1)))


class Softmax(torch.autograd.Function):
    """``y = softmax(x)`` over the last axis, saving ``y``: ``grad_x = y (g - <g, y>)``."""

    @staticmethod
    def forward(ctx, x):
        y = torch.softmax(x, dim=-1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (g - (g * y).sum(dim=-1, keepdim=True))


def _normalise(x, eps=EPS):
    mean = x.mean(dim=-1, keepdim=True)
    inv_std = torch.rsqrt(((x - mean) ** 2).mean(dim=-1, keepdim=True) + eps)
    return (x - mean) * inv_std, inv_std


class LayerNorm(torch.autograd.Function):
    """``y = w * (x - mean) / sqrt(var + eps) + b`` over the last axis; the backward
    recomputes the statistics from the saved ``x``::

        grad_x = inv_std * (gh - mean(gh) - x_hat * mean(gh * x_hat)),  gh = g * w
    """

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        x_hat, _ = _normalise(x)
        return x_hat * w + b

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        x_hat, inv_std = _normalise(x)
        gh = g * w
        grad_x = inv_std * (gh - gh.mean(dim=-1, keepdim=True)
                            - x_hat * (gh * x_hat).mean(dim=-1, keepdim=True))
        lead = tuple(range(g.dim() - 1))
        return grad_x, (g * x_hat).sum(dim=lead), g.sum(dim=lead)


class Conv2dUnfold(torch.autograd.Function):
    """A 2-D convolution (stride 1, ``padding``) as a matmul on ``unfold``'s columns:
    ``grad_w = sum_n g_n cols_n^T``, ``grad_x = fold(w^T g)``."""

    @staticmethod
    def forward(ctx, x, w, padding):
        n, _, h, wd = x.shape
        o, _, k, _ = w.shape
        cols = F.unfold(x, k, padding=padding)
        ctx.save_for_backward(cols, w)
        ctx.geometry = (h, wd, k, padding)
        y = w.reshape(o, -1) @ cols
        return y.reshape(n, o, h + 2 * padding - k + 1, wd + 2 * padding - k + 1)

    @staticmethod
    def backward(ctx, g):
        cols, w = ctx.saved_tensors
        h, wd, k, padding = ctx.geometry
        g2 = g.reshape(g.shape[0], g.shape[1], -1)
        grad_w = (g2 @ cols.transpose(1, 2)).sum(0).reshape(w.shape)
        grad_cols = w.reshape(w.shape[0], -1).T @ g2
        return F.fold(grad_cols, (h, wd), k, padding=padding), grad_w, None


class GatherRows(torch.autograd.Function):
    """``y = x[index]`` (rows may repeat): ``grad_x`` scatters ``g`` back, adding."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.save_for_backward(index)
        ctx.rows = x.shape[0]
        return x[index]

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        grad_x = g.new_zeros((ctx.rows,) + tuple(g.shape[1:]))
        return grad_x.index_add_(0, index, g), None


class Tanh(torch.autograd.Function):
    """``y = tanh(x)``, saving ``y``: ``grad_x = g (1 - y^2)``; with a ``jvp`` so that
    ``torch.func.jvp`` runs it."""

    @staticmethod
    def forward(x):
        return torch.tanh(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)

    @staticmethod
    def jvp(ctx, dx):
        (y,) = ctx.saved_tensors
        return dx * (1 - y * y)


INDEX = torch.tensor([0, 3, 3, 6, 1, 0])

#: ``name -> (Function, inputs)``: shapes are differentiable inputs, the rest constants.
CASES = {
    "matmul": (MatMul, ((6, 6), (6, 6))),
    "bias_add": (BiasAdd, ((3, 4, 5), (5,))),
    "softmax": (Softmax, ((4, 7),)),
    "layer_norm": (LayerNorm, ((4, 8), (8,), (8,))),
    "conv_unfold": (Conv2dUnfold, ((2, 3, 6, 6), (4, 3, 3, 3), 1)),
    "gather_rows": (GatherRows, ((7, 5), INDEX)),
    "tanh": (Tanh, ((4, 5),)),
}
