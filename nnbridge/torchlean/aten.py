"""What each ATen op becomes in ``torchlean.ir.v1``: one handler per exact overload.

A handler takes the emitter (:class:`Emitter`), the exported node, its arguments by name
and the output's torch shape, emits IR nodes and returns the output as a :class:`Value`
(its IR node, whether its first torch axis is the dropped batch of 1, its torch shape). An
op or option the IR cannot express raises :class:`Unsupported` with the reason; the
exporter (:mod:`nnbridge.torchlean.export`) names the op and where it sits. PyTorch's
broadcasting becomes ``reshape`` and ``broadcast_to`` nodes, Python scalars and lifted
tensors used as data ``const`` nodes, and the weights go to the store by node id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SUPPORTED", "Emitter", "Param", "Unsupported", "Value", "handlers", "op_name"]

#: What the exporter maps, for the error message of an op it does not.
SUPPORTED = ("conv2d", "max_pool2d/avg_pool2d (no dilation, no ceil_mode)", "linear",
             "batch_norm (eval)", "layer_norm", "relu", "tanh", "sigmoid", "exp", "log",
             "sin", "cos", "abs", "sqrt", "reciprocal", "silu", "leaky_relu (slope 0..1)",
             "adaptive_avg_pool2d to 1x1", "add/sub/mul (tensors or scalars)",
             "neg", "maximum/minimum", "matmul/mm/bmm", "sum/mean", "softmax",
             "flatten/view/reshape/squeeze/unsqueeze", "permute/transpose/t", "cat", "expand",
             "clone/detach/dropout (eval)")


@dataclass(frozen=True)
class Value:
    """An exported tensor: its IR node id, whether its first torch axis is the dropped
    batch of 1, and its torch shape."""

    id: int
    batched: bool
    torch_shape: tuple

    @property
    def ir_shape(self) -> tuple:
        return self.torch_shape[1:] if self.batched else self.torch_shape


@dataclass(frozen=True)
class Param:
    """A lifted parameter, buffer or constant tensor."""

    name: str
    tensor: object


class Unsupported(Exception):
    """An op or an option the IR cannot express; ``detail`` says which and why."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def op_name(target) -> str:
    """``aten.conv2d.default`` for ``torch.ops.aten.conv2d.default``."""
    return str(target).removeprefix("torch.ops.")


class Emitter:
    """The IR being built: its nodes (JSON dicts, ``id`` = index), the weight store by
    ``nodes.<id>.<name>`` and each stored tensor's source dtype."""

    def __init__(self, torch, ep, batch: bool):
        self.torch = torch
        self.ep = ep
        self.batch = batch
        self.nodes: list[dict] = []
        self.weights: dict[str, object] = {}
        self.dtypes: dict[str, str] = {}
        self.consts: dict[str, Value] = {}

    # -- emitting ----------------------------------------------------------------------
    def emit(self, kind: str, parents, shape, **fields) -> int:
        node_id = len(self.nodes)
        self.nodes.append({"id": node_id, "kind": kind, "parents": [int(p) for p in parents],
                           "value_kind": "tensor", "shape": [int(s) for s in shape],
                           **{k: (list(v) if isinstance(v, tuple) else v)
                              for k, v in fields.items()}})
        return node_id

    def store(self, node_id: int, name: str, tensor) -> None:
        import numpy as np

        torch = self.torch
        if isinstance(tensor, torch.Tensor):
            self.dtypes[f"nodes.{node_id}.{name}"] = str(tensor.dtype)
            tensor = tensor.detach().to("cpu", torch.float64).numpy()
        self.weights[f"nodes.{node_id}.{name}"] = np.asarray(tensor, dtype=np.float64)

    def const(self, array, shape) -> int:
        import numpy as np

        node_id = self.emit("const", [], shape, value_shape=tuple(shape))
        self.store(node_id, "value", np.asarray(array, dtype=np.float64).reshape(-1))
        return node_id

    def param_value(self, p: Param) -> Value:
        """A lifted tensor used as data: one ``const`` node per tensor."""
        if p.name not in self.consts:
            self._float(p.tensor, f"parameter {p.name}")
            shape = tuple(p.tensor.shape)
            node_id = self.emit("const", [], shape, value_shape=shape)
            self.store(node_id, "value", p.tensor.reshape(-1))
            self.consts[p.name] = Value(node_id, False, shape)
        return self.consts[p.name]

    def value(self, x) -> Value:
        if isinstance(x, Param):
            return self.param_value(x)
        if isinstance(x, Value):
            return x
        raise Unsupported(f"an operand {type(x).__name__} where a tensor is expected")

    def _float(self, tensor, what: str) -> None:
        if not tensor.dtype.is_floating_point:
            raise Unsupported(f"{what} has dtype {tensor.dtype}: the IR's values are floats")

    # -- shapes ------------------------------------------------------------------------
    def reshape(self, v_id: int, in_shape, out_shape) -> int:
        if tuple(in_shape) == tuple(out_shape):
            return v_id
        if len(out_shape) == 1 and out_shape[0] == math.prod(in_shape):
            return self.emit("flatten", [v_id], out_shape, value_shape=tuple(in_shape))
        return self.emit("reshape", [v_id], out_shape, in_shape=tuple(in_shape),
                         out_shape=tuple(out_shape))

    def to_shape(self, v: Value, out_torch: tuple, out_batched: bool) -> int:
        """``v`` broadcast as PyTorch broadcasts it to ``out_torch``, as IR nodes."""
        target = out_torch[1:] if out_batched else out_torch
        if v.ir_shape == target:
            return v.id
        padded = (1,) * (len(out_torch) - len(v.torch_shape)) + v.torch_shape
        mid = padded[1:] if out_batched else padded
        node = self.reshape(v.id, v.ir_shape, mid)
        if mid != target:
            node = self.emit("broadcast_to", [node], target, from_shape=mid, to_shape=target)
        return node

    def out_batched(self, operands, out_torch: tuple) -> bool:
        return bool(out_torch) and out_torch[0] == 1 and any(
            isinstance(v, Value) and v.batched and len(v.torch_shape) == len(out_torch)
            for v in operands)

    def axis(self, v: Value, dim: int, what: str) -> int:
        """``dim`` (negative from the end) as an IR axis of ``v``."""
        rank = len(v.torch_shape)
        if not -max(rank, 1) <= dim < max(rank, 1):
            raise Unsupported(f"{what} along dim {dim} of a {rank}-axis tensor")
        dim %= max(rank, 1)
        if v.batched:
            if dim == 0:
                raise Unsupported(f"{what} along the batch axis (the IR has none)")
            dim -= 1
        return dim


def _pair(value, name: str) -> int:
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or values[0] != values[1]:
        raise Unsupported(f"{name}={tuple(values)}: the IR has one {name} for both axes")
    return int(values[0])


def _image(v: Value, what: str) -> None:
    if len(v.ir_shape) != 3:
        raise Unsupported(f"{what} on a tensor of shape {list(v.torch_shape)}: the IR's "
                           f"{what} takes one image [C, H, W] (a batch of 1)")


# -- handlers: (exporter, fx node, bound arguments, output torch shape) -> Value -------------
def _unary(kind):
    def handler(ex, node, a, out):
        x = ex.value(a["self"])
        return Value(ex.emit(kind, [x.id], x.ir_shape), x.batched, out)

    return handler


def _inplace(kind):
    def handler(ex, node, a, out):
        source = node.args[0]
        if len(source.users) > 1:
            raise Unsupported(f"in-place {op_name(node.target)} on a tensor read elsewhere")
        return _unary(kind)(ex, node, a, out)

    return handler


def _binary(kind, scalar_kinds=("add", "sub", "mul_elem", "max_elem", "min_elem")):
    def handler(ex, node, a, out):
        x, y = a.get("self"), a.get("other")
        if a.get("alpha", 1) != 1:
            raise Unsupported(f"alpha={a['alpha']}: the IR's {kind} has no scale")
        if kind == "rsub":
            x, y = y, x
        operands = [v if not isinstance(v, Param) else ex.param_value(v) for v in (x, y)]
        batched = ex.out_batched(operands, out)
        target = out[1:] if batched else out
        ids = []
        for v in operands:
            if isinstance(v, bool) or not isinstance(v, (int, float, Value)):
                raise Unsupported(f"an operand of type {type(v).__name__}")
            if isinstance(v, Value):
                ids.append(ex.to_shape(v, out, batched))
            else:
                import numpy as np

                ids.append(ex.const(np.full(math.prod(target), float(v)), target))
        return Value(ex.emit("sub" if kind == "rsub" else kind, ids, target), batched, out)

    return handler


def _neg(ex, node, a, out):
    import numpy as np

    x = ex.value(a["self"])
    minus = ex.const(np.full(math.prod(x.ir_shape), -1.0), x.ir_shape)
    return Value(ex.emit("mul_elem", [x.id, minus], x.ir_shape), x.batched, out)


def _silu(ex, node, a, out):
    """``silu(x) = x * sigmoid(x)``."""
    x = ex.value(a["self"])
    gate = ex.emit("sigmoid", [x.id], x.ir_shape)
    return Value(ex.emit("mul_elem", [x.id, gate], x.ir_shape), x.batched, out)


def _leaky_relu(ex, node, a, out):
    """``leaky_relu(x, s) = max(x, s x)`` for a slope ``0 <= s <= 1``."""
    import numpy as np

    x = ex.value(a["self"])
    slope = float(a["negative_slope"])
    if not 0 <= slope <= 1:
        raise Unsupported(f"negative_slope={slope}: max(x, s x) is leaky_relu only for "
                           "0 <= s <= 1")
    s = ex.const(np.full(math.prod(x.ir_shape), slope), x.ir_shape)
    scaled = ex.emit("mul_elem", [x.id, s], x.ir_shape)
    return Value(ex.emit("max_elem", [x.id, scaled], x.ir_shape), x.batched, out)


def _adaptive_avg(ex, node, a, out):
    """``adaptive_avg_pool2d(x, 1)``: the mean over H, then over W, as ``[C, 1, 1]``."""
    x = ex.value(a["self"])
    _image(x, "adaptive_avg_pool2d")
    size = list(a["output_size"])
    if size not in ([1, 1], [1]):
        raise Unsupported(f"output_size={tuple(size)}: the IR has no adaptive pooling; only "
                           "the global average (output 1x1) is a mean over H and W")
    c = x.ir_shape[0]
    h = ex.emit("reduce_mean", [x.id], (c, x.ir_shape[2]), axis=1)
    w = ex.emit("reduce_mean", [h], (c,), axis=1)
    return Value(ex.reshape(w, (c,), out[1:] if x.batched else out), x.batched, out)


def _param(ex, value, what: str):
    if value is None:
        return None
    if not isinstance(value, Param):
        raise Unsupported(f"{what} computed in the forward (the IR stores it as a weight)")
    ex._float(value.tensor, what)
    return value.tensor


def _linear(ex, node, a, out):
    x = ex.value(a["input"])
    w = _param(ex, a["weight"], "the weight")
    b = _param(ex, a["bias"], "the bias")
    if not x.ir_shape:
        raise Unsupported("linear of a scalar")
    shape = x.ir_shape[:-1] + (out[-1],)
    node_id = ex.emit("linear", [x.id], shape)
    ex.store(node_id, "weight", w)
    ex.store(node_id, "bias", b if b is not None else ex.torch.zeros(out[-1]))
    return Value(node_id, x.batched, out)


def _conv2d(ex, node, a, out):
    x = ex.value(a["input"])
    _image(x, "conv2d")
    padding = a["padding"]
    if isinstance(padding, str):
        if padding != "valid":
            raise Unsupported(f"padding={padding!r}: the IR's conv2d pads by a number (for "
                               "an odd kernel at stride 1, padding=(k - 1) // 2 keeps the size)")
        padding = 0
    dilation = list(a["dilation"]) if isinstance(a["dilation"], (list, tuple)) \
        else [a["dilation"]]
    if any(d != 1 for d in dilation):
        raise Unsupported(f"dilation={tuple(dilation)}: the IR's conv2d has no dilation")
    if a["groups"] != 1:
        raise Unsupported(f"groups={a['groups']}: the IR's conv2d has no groups")
    stride, pad = _pair(a["stride"], "stride"), _pair(padding, "padding")
    w = _param(ex, a["weight"], "the kernel")
    b = _param(ex, a["bias"], "the bias")
    out_c, in_c, k_h, k_w = (int(s) for s in w.shape)
    shape = out[1:] if x.batched else out
    node_id = ex.emit("conv2d", [x.id], shape, inC=in_c, outC=out_c, kH=k_h, kW=k_w,
                      stride=stride, padding=pad)
    ex.store(node_id, "weight", w)
    ex.store(node_id, "bias", b if b is not None else ex.torch.zeros(out_c))
    return Value(node_id, x.batched, out)


def _pool(kind):
    def handler(ex, node, a, out):
        x = ex.value(a["self"])
        _image(x, f"{kind}_pool2d")
        kernel = list(a["kernel_size"])
        kernel = kernel * 2 if len(kernel) == 1 else kernel
        stride = list(a["stride"]) or kernel
        if a.get("ceil_mode"):
            raise Unsupported("ceil_mode=True: the IR's pools round down")
        if kind == "max" and any(d != 1 for d in (list(a["dilation"]) or [1])):
            raise Unsupported(f"dilation={tuple(a['dilation'])}: the IR's pools have none")
        pad = _pair(a["padding"], "padding")
        if kind == "avg":
            if a.get("divisor_override") is not None:
                raise Unsupported(f"divisor_override={a['divisor_override']}")
            if pad and not a.get("count_include_pad", True):
                raise Unsupported("count_include_pad=False: the IR's padded average counts "
                                   "the zeros")
        fields = dict(kH=int(kernel[0]), kW=int(kernel[1]), stride=_pair(stride, "stride"))
        name = f"{kind}_pool2d"
        if pad:
            name += "_pad"
            fields["padding"] = pad
        shape = out[1:] if x.batched else out
        return Value(ex.emit(name, [x.id], shape, **fields), x.batched, out)

    return handler


def _batch_norm(ex, node, a, out):
    torch = ex.torch
    x = ex.value(a["input"])
    if a["training"]:
        raise Unsupported("batch norm in training mode: the IR's batch norm uses running "
                           "statistics (export in eval mode)")
    mean = _param(ex, a["running_mean"], "the running mean")
    var = _param(ex, a["running_var"], "the running variance")
    if mean is None or var is None:
        raise Unsupported("batch norm without running statistics (track_running_stats="
                           "False): the IR's batch norm uses them")
    shape = x.torch_shape
    if x.batched and 2 <= len(shape) <= 5:
        rest = shape[2:]
        four = (1, shape[1], math.prod(rest[:-1]) if len(rest) > 1 else 1,
                rest[-1] if rest else 1)
    elif not x.batched and len(shape) == 4:
        four = shape
    else:
        raise Unsupported(f"batch norm of shape {list(shape)}")
    channels = four[1]
    inner = ex.reshape(x.id, x.ir_shape, four)
    node_id = ex.emit("batch_norm2d_nchw_eval", [inner], four, channels=channels)
    weight = _param(ex, a["weight"], "gamma")
    bias = _param(ex, a["bias"], "beta")
    ex.store(node_id, "weight", weight if weight is not None else torch.ones(channels))
    ex.store(node_id, "bias", bias if bias is not None else torch.zeros(channels))
    ex.store(node_id, "running_mean", mean)
    ex.store(node_id, "running_var", var)
    ex.weights[f"nodes.{node_id}.eps"] = float(a["eps"])
    return Value(ex.reshape(node_id, four, x.ir_shape), x.batched, out)


def _layer_norm(ex, node, a, out):
    import numpy as np

    x = ex.value(a["input"])
    normalized = list(a["normalized_shape"])
    rank = len(x.ir_shape)
    axis = rank - len(normalized)
    if axis < 0 or not normalized:
        raise Unsupported(f"layer norm over {normalized} of shape {list(x.torch_shape)} "
                           "(the batch axis included)")
    node_id = ex.emit("layernorm", [x.id], x.ir_shape, axis=axis, eps=float(a["eps"]))
    result = Value(node_id, x.batched, out)
    for name, neutral, kind in (("weight", 1.0, "mul_elem"), ("bias", 0.0, "add")):
        tensor = _param(ex, a[name], f"the layer norm's {name}")
        if tensor is None:
            continue
        values = tensor.detach().to("cpu", ex.torch.float64).numpy()
        if np.all(values == neutral):
            continue
        p = Value(ex.const(values.reshape(-1), tuple(values.shape)), False, tuple(values.shape))
        operand = ex.to_shape(p, out, x.batched)
        result = Value(ex.emit(kind, [result.id, operand], x.ir_shape), x.batched, out)
    return result


def _softmax(ex, node, a, out):
    x = ex.value(a["self"])
    if a.get("half_to_float") or a.get("dtype") is not None:
        raise Unsupported("softmax with a dtype change")
    axis = ex.axis(x, a["dim"], "softmax")
    return Value(ex.emit("softmax", [x.id], x.ir_shape, axis=axis), x.batched, out)


def _log_softmax(ex, node, a, out):
    raise Unsupported("log_softmax: the IR has softmax and log, whose composition is not "
                       "PyTorch's stable log_softmax")


def _reduce(kind):
    def handler(ex, node, a, out):
        x = ex.value(a["self"])
        if a.get("dtype") is not None:
            raise Unsupported("a reduction with a dtype change")
        dims = a.get("dim")
        if dims is None or (isinstance(dims, (list, tuple)) and not dims):
            if kind == "reduce_sum":
                return Value(ex.emit("sum", [x.id], ()), False, out)
            flat = ex.reshape(x.id, x.ir_shape, (math.prod(x.ir_shape),))
            return Value(ex.emit("reduce_mean", [flat], (), axis=0), False, out)
        dims = list(dims) if isinstance(dims, (list, tuple)) else [dims]
        axes = sorted({ex.axis(x, d, kind.replace("reduce_", "")) for d in dims}, reverse=True)
        shape, current = list(x.ir_shape), x.id
        for axis in axes:
            shape.pop(axis)
            current = ex.emit(kind, [current], shape, axis=axis)
        target = out[1:] if x.batched else out
        return Value(ex.reshape(current, tuple(shape), target), x.batched, out)

    return handler


def _reshape_like(keeps_batch):
    def handler(ex, node, a, out):
        x = ex.value(a["self"])
        batched = x.batched and bool(out) and out[0] == 1 and keeps_batch(x, a)
        target = out[1:] if batched else out
        return Value(ex.reshape(x.id, x.ir_shape, target), batched, out)

    return handler


def _norm_dim(d, rank):
    return d % max(rank, 1)


def _keeps_flatten(x, a):
    return _norm_dim(a["start_dim"], len(x.torch_shape)) >= 1


def _keeps_unsqueeze(x, a):
    return _norm_dim(a["dim"], len(x.torch_shape) + 1) >= 1


def _keeps_squeeze(x, a):
    dims = a.get("dim")
    if dims is None:
        return False
    dims = dims if isinstance(dims, (list, tuple)) else [dims]
    return all(_norm_dim(d, len(x.torch_shape)) != 0 for d in dims)


def _permute(ex, node, a, out):
    x = ex.value(a["self"])
    rank = len(x.torch_shape)
    dims = [_norm_dim(d, rank) for d in a["dims"]]
    if x.batched:
        if dims[0] != 0:
            raise Unsupported(f"permute {list(a['dims'])} moves the batch axis")
        dims = [d - 1 for d in dims[1:]]
    if dims == sorted(dims):
        return Value(x.id, x.batched, out)
    return Value(ex.emit("permute", [x.id], out[1:] if x.batched else out, perm=tuple(dims)),
              x.batched, out)


def _swap(ex, x: Value, d0: int, d1: int, out) -> Value:
    rank = len(x.torch_shape)
    d0, d1 = _norm_dim(d0, rank), _norm_dim(d1, rank)
    if d0 == d1:
        return Value(x.id, x.batched, out)
    if x.batched:
        if 0 in (d0, d1):
            raise Unsupported("a transpose that moves the batch axis")
        d0, d1 = d0 - 1, d1 - 1
    r = len(x.ir_shape)
    shape = out[1:] if x.batched else out
    if {d0, d1} == {0, 1}:
        return Value(ex.emit("swap_first_two", [x.id], shape), x.batched, out)
    if r == 3 and {d0, d1} == {1, 2}:
        return Value(ex.emit("transpose3d_last_two", [x.id], shape), x.batched, out)
    perm = list(range(r))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return Value(ex.emit("permute", [x.id], shape, perm=tuple(perm)), x.batched, out)


def _transpose(ex, node, a, out):
    return _swap(ex, ex.value(a["self"]), a["dim0"], a["dim1"], out)


def _t(ex, node, a, out):
    x = ex.value(a["self"])
    if len(x.torch_shape) < 2:
        return Value(x.id, x.batched, out)
    return _swap(ex, x, 0, 1, out)


def _cat(ex, node, a, out):
    values = [ex.value(v) for v in a["tensors"]]
    if len(values) == 1:
        return Value(values[0].id, values[0].batched, out)
    if len({v.batched for v in values}) > 1:
        raise Unsupported("cat of tensors with and without the batch axis")
    axis = ex.axis(values[0], a["dim"], "cat")
    return Value(ex.emit("concat", [v.id for v in values], out[1:] if values[0].batched else out,
                      axis=axis), values[0].batched, out)


def _expand(ex, node, a, out):
    x = ex.value(a["self"])
    batched = ex.out_batched([x], out)
    return Value(ex.to_shape(x, out, batched), batched, out)


def _alias(ex, node, a, out):
    x = ex.value(a.get("self", a.get("input")))
    return Value(x.id, x.batched, out)


def _dropout(ex, node, a, out):
    if a["train"]:
        raise Unsupported("dropout in training mode (export in eval mode)")
    return _alias(ex, node, a, out)


def _matmul(ex, node, a, out):
    x, y = ex.value(a["self"]), ex.value(a.get("other", a.get("mat2")))
    batched = ex.out_batched([x, y], out)
    irs = []
    for v in (x, y):
        t = v.torch_shape
        want = t[1:] if batched and len(t) == len(out) else t
        irs.append((ex.reshape(v.id, v.ir_shape, want), want))
    (xa, sa), (yb, sb) = irs
    if len(sa) == 1 and len(sb) == 2:  # a vector times a matrix: as a row
        xa, sa = ex.reshape(xa, sa, (1, sa[0])), (1, sa[0])
    if len(sa) == 2 and len(sb) == 2 and sa[1] == sb[0]:
        shape = (sa[0], sb[1])
    elif len(sa) == 3 and len(sb) == 3 and sa[0] == sb[0] and sa[2] == sb[1]:
        shape = (sa[0], sa[1], sb[2])
    else:
        raise Unsupported(f"matmul of {list(x.torch_shape)} and {list(y.torch_shape)}: the "
                           "IR's matmul takes [m,n]x[n,p] or [b,m,n]x[b,n,p]")
    result = ex.emit("matmul", [xa, yb], shape)
    target = out[1:] if batched else out
    return Value(ex.reshape(result, shape, target), batched, out)


def _refuse(reason):
    def handler(ex, node, a, out):
        raise Unsupported(reason)

    return handler


def handlers(torch) -> dict:
    aten = torch.ops.aten
    table = {
        aten.conv2d.default: _conv2d,
        aten.conv2d.padding: _conv2d,
        aten.linear.default: _linear,
        aten.max_pool2d.default: _pool("max"),
        aten.avg_pool2d.default: _pool("avg"),
        aten.batch_norm.default: _batch_norm,
        aten.layer_norm.default: _layer_norm,
        aten.softmax.int: _softmax,
        aten._softmax.default: _softmax,
        aten.log_softmax.int: _log_softmax,
        aten._log_softmax.default: _log_softmax,
        aten.add.Tensor: _binary("add"),
        aten.sub.Tensor: _binary("sub"),
        aten.mul.Tensor: _binary("mul_elem"),
        aten.rsub.Scalar: _binary("rsub"),
        aten.maximum.default: _binary("max_elem"),
        aten.minimum.default: _binary("min_elem"),
        aten.neg.default: _neg,
        aten.div.Tensor: _refuse("division: the IR has inv and mul_elem, and x * (1/y) is not "
                                 "x / y in floating point"),
        aten.sum.default: _reduce("reduce_sum"),
        aten.sum.dim_IntList: _reduce("reduce_sum"),
        aten.mean.default: _reduce("reduce_mean"),
        aten.mean.dim: _reduce("reduce_mean"),
        aten.matmul.default: _matmul,
        aten.mm.default: _matmul,
        aten.bmm.default: _matmul,
        aten.flatten.using_ints: _reshape_like(_keeps_flatten),
        aten.view.default: _reshape_like(lambda x, a: True),
        aten.reshape.default: _reshape_like(lambda x, a: True),
        aten._unsafe_view.default: _reshape_like(lambda x, a: True),
        aten.unsqueeze.default: _reshape_like(_keeps_unsqueeze),
        aten.squeeze.dim: _reshape_like(_keeps_squeeze),
        aten.squeeze.dims: _reshape_like(_keeps_squeeze),
        aten.squeeze.default: _reshape_like(_keeps_squeeze),
        aten.permute.default: _permute,
        aten.transpose.int: _transpose,
        aten.t.default: _t,
        aten.cat.default: _cat,
        aten.expand.default: _expand,
        aten.clone.default: _alias,
        aten.alias.default: _alias,
        aten.dropout.default: _dropout,
        aten.detach.default: _unary("detach"),
        aten.reciprocal.default: _unary("inv"),
        aten.silu.default: _silu,
        aten.leaky_relu.default: _leaky_relu,
        aten.adaptive_avg_pool2d.default: _adaptive_avg,
    }
    for name in ("relu", "tanh", "sigmoid", "exp", "log", "sin", "cos", "abs", "sqrt"):
        packet = getattr(aten, name)
        table[packet.default] = _unary(name)
        inplace = getattr(aten, name + "_", None)
        if inplace is not None:
            table[inplace.default] = _inplace(name)
    return table
