"""Running a checked IR graph with the NumPy spec, and comparing it with PyTorch.

:func:`run_ir` evaluates every node in float64: ``conv2d``, the pools, ``linear`` on a
vector and ``relu`` are nnbridge's spec ops (:mod:`nnbridge.spec`); the rest are their
one-line NumPy definitions (TorchLean's: ``broadcast_to`` aligns from the left, batch norm
is ``(x - mean) / sqrt(max(var, 0) + eps) * gamma + beta``, ``layernorm a`` normalises over
the axes from ``a`` on with the node's ``eps`` field, 1e-5 by default).

:func:`compare_torch` runs a PyTorch module in float32 on the same input and checks
``|spec - torch| <= 2 * bound`` elementwise, where ``bound`` is a first-order bound on the
float32 rounding error of the whole graph, propagated node by node beside the values
(:func:`run_ir` with ``bound=True``): the input's and weights' rounding to float32, and each
op's own error, ``gamma_m |W| |x|`` for a sum of ``m`` products (``gamma_m = m u / (1 - m
u)``, ``u = 2**-24``), a few ulps for an elementwise function, each op's sensitivity to its
inputs' errors (its Lipschitz factor on the values reached). The factor 2 covers the
second-order terms the propagation drops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nnbridge.spec.errors import Rule, ShapeError, UsageError

from .ir import IRGraph

__all__ = ["Comparison", "compare_torch", "run_ir"]

U32 = 2.0**-24


def _gamma(m: int) -> float:
    return m * U32 / (1 - m * U32)


def _rounding(a):
    """``|a - float32(a)|``: what storing ``a`` in float32 loses."""
    return np.abs(a - a.astype(np.float32).astype(np.float64))


def _broadcast_left(x, source, target):
    """TorchLean's ``broadcast_to``: ``source`` aligned with ``target`` from the left."""
    kept = []
    f = list(source)
    for size in target:
        if f and (f[0] == size or f[0] == 1):
            kept.append(f.pop(0))
        else:
            kept.append(1)
    return np.broadcast_to(x.reshape(kept), tuple(target))


def _softmax(x, axis):
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


class _Run:
    def __init__(self, ir: IRGraph, weights: dict, bound: bool):
        self.ir, self.w, self.bound = ir, weights, bound

    def weight(self, node_id, name):
        return self.w[f"nodes.{node_id}.{name}"]

    def fail(self, n, detail) -> UsageError:
        return UsageError(Rule.DESCRIPTION_VALUE, where=f"{self.ir.source}: {n.label()}",
                          detail=detail)

    def node(self, n, xs, es):
        """``(value, bound)`` of node ``n`` from its parents' values and bounds."""
        from nnbridge.spec.basic import linear, relu
        from nnbridge.spec.convolution import conv
        from nnbridge.spec.pool import avg_pool, max_pool

        kind, f = n.kind, n.fields
        x = xs[0] if xs else None
        e = es[0] if es else None
        b = self.bound
        if kind == "const":
            if len(n.origin) == 2 and n.origin[1] == "scale" and \
                    f"nodes.{n.id}.value" not in self.w:
                # an attention expansion's scale: 1/sqrt(embed_dim), one head
                embed = self.ir.nodes[n.id - 5].shape[-1]
                value = np.full(n.shape, 1 / math.sqrt(max(embed, 1)))
            else:
                value = self.weight(n.id, "value").reshape(f.get("value_shape", n.shape))
            return value, (_rounding(value) if b else None)
        if kind == "linear":
            w, bias = self.weight(n.id, "weight"), self.weight(n.id, "bias")
            y = linear(x, w, bias) if x.ndim == 1 else np.einsum("...i,oi->...o", x, w) + bias
            if not b:
                return y, None
            ax, aw, ab = np.abs(x), np.abs(w), np.abs(bias)

            def lin(v, m, c):
                return np.einsum("...i,oi->...o", v, m) + c

            err = lin(e, aw, 0) + lin(ax, _rounding(w), _rounding(bias)) + \
                _gamma(w.shape[1] + 1) * lin(ax, aw, ab)
            return y, err
        if kind == "conv2d":
            w, bias = self.weight(n.id, "weight"), self.weight(n.id, "bias")
            args = dict(stride=f["stride"], padding=f["padding"])
            y = conv(x, w, bias, **args)
            if not b:
                return y, None
            zero = np.zeros_like(bias)
            k = w.shape[1] * w.shape[2] * w.shape[3]
            err = conv(e, np.abs(w), zero, **args) + \
                conv(np.abs(x), _rounding(w), _rounding(bias), **args) + \
                _gamma(k + 1) * conv(np.abs(x), np.abs(w), np.abs(bias), **args)
            return y, err
        if kind in ("max_pool2d", "avg_pool2d", "max_pool2d_pad", "avg_pool2d_pad"):
            args = dict(kernel=(f["kH"], f["kW"]), stride=f["stride"],
                        padding=f.get("padding", 0))
            pool = max_pool if kind.startswith("max") else avg_pool
            y = pool(x, **args)
            if not b:
                return y, None
            if pool is max_pool:
                return y, max_pool(e, **args)
            return y, avg_pool(e, **args) + _gamma(f["kH"] * f["kW"] + 1) * \
                avg_pool(np.abs(x), **args)
        if kind == "relu":
            return relu(x), e
        if kind == "batch_norm2d_nchw_eval":
            shape = (1, -1, 1, 1)
            g, beta = self.weight(n.id, "weight").reshape(shape), \
                self.weight(n.id, "bias").reshape(shape)
            mean, var = self.weight(n.id, "running_mean").reshape(shape), \
                self.weight(n.id, "running_var").reshape(shape)
            scale = 1 / np.sqrt(np.maximum(var, 0) + self.weight(n.id, "eps"))
            y = (x - mean) * scale * g + beta
            if not b:
                return y, None
            return y, np.abs(g) * scale * e + _gamma(8) * (np.abs(x - mean) * scale * np.abs(g)
                                                           + np.abs(beta) + np.abs(mean))
        return self._elementwise(n, kind, f, xs, es, x, e, b)

    def _elementwise(self, n, kind, f, xs, es, x, e, b):
        ulp = 4 * U32
        if kind in ("add", "sub", "mul_elem", "max_elem", "min_elem"):
            a, c = xs
            y = {"add": np.add, "sub": np.subtract, "mul_elem": np.multiply,
                 "max_elem": np.maximum, "min_elem": np.minimum}[kind](a, c)
            if not b:
                return y, None
            ea, ec = es
            if kind in ("add", "sub"):
                return y, ea + ec + U32 * np.abs(y)
            if kind == "mul_elem":
                return y, np.abs(a) * ec + np.abs(c) * ea + ea * ec + U32 * np.abs(y)
            return y, np.maximum(ea, ec)
        if kind in ("abs", "detach"):
            return (np.abs(x) if kind == "abs" else x), e
        if kind in ("tanh", "sigmoid", "sin", "cos"):
            fn = {"tanh": np.tanh, "sin": np.sin, "cos": np.cos,
                  "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[kind]
            y = fn(x)
            lipschitz = 0.25 if kind == "sigmoid" else 1.0
            return y, (lipschitz * e + ulp * np.maximum(np.abs(y), U32) if b else None)
        if kind == "exp":
            y = np.exp(x)
            return y, (np.abs(y) * np.expm1(e) + ulp * np.abs(y) if b else None)
        if kind == "log":
            y = np.log(x)
            if not b:
                return y, None
            room = np.abs(x) - e
            err = np.where(room > 0, e / np.where(room > 0, room, 1), np.inf)
            return y, err + ulp * np.abs(y)
        if kind == "sqrt":
            y = np.sqrt(x)
            if not b:
                return y, None
            return y, np.sqrt(x + e) - np.sqrt(np.maximum(x - e, 0)) + ulp * y
        if kind == "inv":
            y = 1 / x
            if not b:
                return y, None
            room = np.abs(x) - e
            err = np.where(room > 0, e / np.where(room > 0, np.abs(x) * room, 1), np.inf)
            return y, err + U32 * np.abs(y)
        if kind == "softmax":
            axis = f["axis"]
            y = _softmax(x, axis)
            if not b:
                return y, None
            spread = e.max(axis=axis, keepdims=True)
            return y, y * np.expm1(2 * spread) + _gamma(x.shape[axis] + 4) * y
        if kind == "layernorm":
            axes = tuple(range(f["axis"], x.ndim))
            mean = x.mean(axis=axes, keepdims=True)
            var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
            sigma = np.sqrt(var + f.get("eps", 1e-5))
            y = (x - mean) / sigma
            if not b:
                return y, None
            count = math.prod(x.shape[a] for a in axes)
            spread = e.max(axis=axes, keepdims=True)
            return y, (e + spread + 2 * np.abs(y) * spread) / sigma + \
                _gamma(2 * count + 8) * (1 + np.abs(y))
        if kind in ("reduce_sum", "reduce_mean", "sum"):
            axis = f.get("axis") if kind != "sum" else None
            count = x.size if axis is None else x.shape[axis]
            total = np.sum(x, axis=axis)
            scale = 1 / count if kind == "reduce_mean" else 1.0
            y = total * scale
            if not b:
                return y, None
            err = (np.sum(e, axis=axis) + _gamma(count + 1) * np.sum(np.abs(x), axis=axis))
            return y, err * scale
        if kind == "mse_loss":
            a, c = xs
            d = a - c
            y = np.mean(d * d)
            if not b:
                return y, None
            s = es[0] + es[1]
            return y, np.mean(2 * np.abs(d) * s + s * s) + _gamma(d.size + 3) * np.mean(d * d)
        if kind == "matmul":
            a, c = xs
            y = a @ c
            if not b:
                return y, None
            ea, ec = es
            k = a.shape[-1]
            return y, np.abs(a) @ ec + ea @ np.abs(c) + ea @ ec + \
                _gamma(k) * (np.abs(a) @ np.abs(c))
        return self._layout(n, kind, f, xs, es, x, e, b)

    def _layout(self, n, kind, f, xs, es, x, e, b):
        def both(fn):
            return fn(x), (fn(e) if b else None)

        if kind == "permute":
            return both(lambda v: np.transpose(v, f["perm"]))
        if kind == "reshape":
            return both(lambda v: v.reshape(f["out_shape"]))
        if kind == "flatten":
            return both(lambda v: v.reshape(-1))
        if kind == "swap_first_two":
            return both(lambda v: np.swapaxes(v, 0, 1))
        if kind == "transpose3d_last_two":
            return both(lambda v: np.swapaxes(v, 1, 2))
        if kind == "broadcast_to":
            return both(lambda v: _broadcast_left(v, f["from_shape"], f["to_shape"]))
        if kind == "concat":
            return (np.concatenate(xs, axis=f["axis"]),
                    np.concatenate(es, axis=f["axis"]) if b else None)
        if kind in ("rand_uniform", "bernoulli_mask"):
            raise self.fail(n, "TorchLean's random stream is not reproduced: a graph with "
                               f"{kind} cannot be run here")
        raise self.fail(n, f"no NumPy definition for {kind!r}")  # pragma: no cover


def run_ir(ir: IRGraph, weights: dict, x, *, bound: bool = False):
    """The output of ``ir`` at ``x`` (the IR input's shape, no batch axis), float64; with
    ``bound=True``, ``(output, bound)`` where ``bound`` bounds, elementwise and to first
    order, how far a float32 evaluation of the same graph may be from the exact value."""
    from .weights import weight_shapes

    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise UsageError(Rule.DESCRIPTION_VALUE, where="the input",
                         detail=f"a float array is needed, got dtype {x.dtype}")
    if tuple(x.shape) != tuple(ir.input_shape):
        raise UsageError(Rule.SHAPE_MATCH, op="the input", name="x",
                         expected=list(ir.input_shape), got=list(x.shape))
    missing = [k for k in weight_shapes(ir) if k not in weights]
    if missing:
        raise UsageError(Rule.DESCRIPTION_VALUE, where="the weight store",
                         detail=f"missing keys {missing[:8]}")
    x64 = x.astype(np.float64)
    state = _Run(ir, weights, bound)
    values: list = []
    bounds: list = []
    for n in ir.nodes:
        if n.id == ir.input_id:
            values.append(x64)
            bounds.append(_rounding(x64) if bound else None)
            continue
        if n.kind == "input":
            raise state.fail(n, "a second input node: the graph is run on one input")
        xs = [values[q] for q in n.parents]
        es = [bounds[q] for q in n.parents]
        try:
            with np.errstate(all="ignore"):
                value, err = state.node(n, xs, es)
        except ShapeError as exc:
            raise state.fail(n, f"the NumPy spec refuses it: {exc}") from None
        values.append(np.asarray(value, dtype=np.float64))
        bounds.append(None if err is None else np.asarray(err, dtype=np.float64))
    y = values[ir.output_id]
    return (y, bounds[ir.output_id]) if bound else y


@dataclass(frozen=True)
class Comparison:
    """The spec's output against PyTorch's: the largest difference, the derived bound at
    that element, the worst ratio ``|spec - torch| / (2 * bound)`` and the verdict."""

    shape: tuple
    max_abs_diff: float
    bound_at_max: float
    max_bound: float
    worst_ratio: float
    agree: bool

    def as_dict(self) -> dict:
        return {"shape": list(self.shape), "max_abs_diff": self.max_abs_diff,
                "bound_at_max": self.bound_at_max, "max_bound": self.max_bound,
                "worst_ratio": self.worst_ratio, "agree": self.agree}


def compare_torch(ir: IRGraph, weights: dict, x, module, *, batch: bool = True) -> Comparison:
    """Run ``ir`` with the spec and ``module`` with PyTorch in float32 at ``x``; agree when
    ``|spec - torch| <= 2 * bound`` everywhere (module docstring)."""
    import torch

    y, err = run_ir(ir, weights, x, bound=True)
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        tensor = torch.from_numpy(np.asarray(x, dtype=np.float32).copy())
        if batch:
            tensor = tensor[None]
        with torch.no_grad():
            out = module(tensor)
    except Exception as exc:  # the user's module: one clear error
        raise UsageError(Rule.USER_CODE, where=type(module).__name__,
                         detail=f"the forward raised {type(exc).__name__}: "
                                f"{' '.join(str(exc).split())[:200]}") from None
    finally:
        for m, was in modes.items():
            m.training = was
    if not isinstance(out, torch.Tensor):
        raise UsageError(Rule.USER_CODE, where=type(module).__name__,
                         detail=f"the forward returns {type(out).__name__}, not a tensor")
    got = out.detach().to(torch.float64).numpy()
    if got.shape != y.shape and got.shape[:1] == (1,) and got.shape[1:] == y.shape:
        got = got[0]
    if got.shape != y.shape:
        raise UsageError(Rule.SHAPE_MATCH, op="compare_torch", name="the module's output",
                         expected=list(y.shape), got=list(got.shape))
    diff = np.abs(y - got)
    allowed = 2 * err + 1e-12 * np.abs(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff == 0, 0.0, diff / allowed)
    flat = int(np.argmax(diff)) if diff.size else 0
    return Comparison(tuple(y.shape), float(diff.max(initial=0.0)),
                      float(err.reshape(-1)[flat]) if err.size else 0.0,
                      float(err.max(initial=0.0)), float(np.nan_to_num(ratio).max(initial=0.0)),
                      bool(np.all(diff <= allowed)))
