"""What each op does to sizes: one :class:`OpRule` per op of the graph.

A rule maps the input shapes (tuples of :class:`~nnbridge.graph.evaluate.Dim`: a value and
the spatial axes it depends on) to the output shape and states its obligations through the
context (:class:`~nnbridge.graph.evaluate.Context`). Spatial sizes go through the proved
formulas of :mod:`nnbridge.spec.shapes` one axis at a time, in the context's reading, so a
graph reads as ints, Z3 terms or SymPy expressions. A dimension whose value is ``None`` was
not evaluated (another axis, or a layer before it failed); what depends on it is ``None``
too.

Layouts: ``conv``, ``conv_transpose``, ``pool``, ``adaptive_pool``, ``interpolate`` take
``(batch, channels, *spatial)``; the others take any layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from nnbridge.spec.errors import Rule, UsageError

from .core import Size

__all__ = ["OPS", "OpRule", "check_op"]


@dataclass(frozen=True)
class OpRule:
    """How one op maps shapes; ``period(node, axis)`` is its factor of the period hint."""

    name: str
    shape: Callable
    doc: str
    period: Callable = lambda node, axis: 1


def _on(value, i: int):
    """A per-axis parameter on spatial axis ``i`` (a scalar applies to every axis)."""
    return value[i] if isinstance(value, (tuple, list)) else value


def _spatial(ctx, node, shape, rank: int):
    """The spatial dims of a ``(batch, channels, *spatial)`` input with ``rank`` axes."""
    if len(shape) != rank + 2:
        ctx.constant(node, f"expects a (batch, channels) + {rank} spatial axes input, got "
                           f"{len(shape)} axes", False)
        return None
    return shape[2:]


def _channels_in(ctx, node, shape):
    expected = node.params.get("in_channels")
    got = shape[1].value
    if expected is not None and got is not None:
        ctx.constant(node, f"{expected} input channels (the layer's weight)", got == expected,
                     {"channels": got, "expected": expected})


def _sliding(formula):
    """A conv/pool/transposed-conv rule: the formula on each spatial axis."""

    def shape(ctx, node, ins):
        (x,) = ins
        p = node.params
        rank = len(p["kernel"])
        spatial = _spatial(ctx, node, x, rank)
        if spatial is None:
            return None
        if formula is not _pool:
            _channels_in(ctx, node, x)
        out = [ctx.layer(node, d, lambda n, i=i: formula(n, p, i, rank), i)
               for i, d in enumerate(spatial)]
        channels = p.get("out_channels") or x[1].value
        return (x[0], ctx.const_dim(channels), *out)

    return shape


def _conv(n, p, i, rank):
    from nnbridge.spec.formulas import conv_out

    padding = p["padding"]
    if padding == "same":
        # PyTorch pads d*(k-1) in total (one more cell on the right when odd), stride 1:
        # the size is kept, on any non-empty input
        return conv_out(n, 1, 1, 0, 1, semantics="torch")
    return conv_out(n, _on(p["kernel"], i), _on(p["stride"], i), _on(padding, i),
                    _on(p.get("dilation", 1), i), semantics=p.get("semantics", "torch"))


def _conv_transpose(n, p, i, rank):
    from nnbridge.spec.formulas import conv_transpose_out

    return conv_transpose_out(n, _on(p["kernel"], i), _on(p["stride"], i),
                              _on(p["padding"], i), _on(p.get("output_padding", 0), i),
                              _on(p.get("dilation", 1), i),
                              semantics=p.get("semantics", "torch"))


def _pool(n, p, i, rank):
    from nnbridge.spec.formulas import pool_out

    return pool_out(n, _on(p["kernel"], i), _on(p["stride"], i), _on(p["padding"], i),
                    _on(p.get("dilation", 1), i), p.get("ceil_mode", False),
                    semantics=p.get("semantics", "torch"), op=p.get("kind", "max"), rank=rank)


def _stride_period(node, axis):
    padding = node.params.get("padding")
    if padding == "same":
        return 1
    return int(_on(node.params.get("stride", 1), axis))


def _adaptive_pool(ctx, node, ins):
    (x,) = ins
    output = node.params["output"]
    spatial = _spatial(ctx, node, x, len(output))
    if spatial is None:
        return None
    out = []
    for i, d in enumerate(spatial):
        size = _on(output, i)

        def run(n, size=size):
            ctx.r.require(ctx.r.ge(n, 1), Rule.INPUT_NONEMPTY,
                          "adaptive pool: PyTorch rejects an empty spatial axis, got {n}", n=n)
            return n if size is None else size

        out.append(ctx.layer(node, d, run, i))
    return (x[0], x[1], *out)


def _interpolate(ctx, node, ins):
    (x,) = ins
    p = node.params
    rank = len(x) - 2
    spatial = _spatial(ctx, node, x, rank) if rank >= 1 else None
    if spatial is None:
        return None
    out = []
    for i, d in enumerate(spatial):
        if p.get("size") is not None:
            target = ctx.size(_on(p["size"], i))

            def run(n, t=target.value):
                r = ctx.r
                r.require(r.ge(n, 1), Rule.INPUT_NONEMPTY,
                          "interpolate: input and output sizes should be greater than 0, "
                          "got input {n}", n=n)
                r.require(r.ge(t, 1), Rule.OUTPUT_POSITIVE,
                          "interpolate: input and output sizes should be greater than 0, "
                          "got output {t}", t=t)
                return t

            if target.value is None:
                out.append(target)
                continue
            value = ctx.layer(node, d, run, i, extra_axes=target.axes)
            out.append(value)
            continue
        scale = Fraction(_on(p["scale"], i))

        def run(n, scale=scale):
            r = ctx.r
            # floor(n * scale), as PyTorch computes the size from a scale_factor
            m = r.floor_div(r.mul(n, scale.numerator), scale.denominator)
            r.require(r.ge(n, 1), Rule.INPUT_NONEMPTY,
                      "interpolate: input and output sizes should be greater than 0, got "
                      "input {n}", n=n)
            r.require(r.ge(m, 1), Rule.OUTPUT_POSITIVE,
                      "interpolate: input and output sizes should be greater than 0, got "
                      "output {m} (input {n} x {scale})", m=m, n=n, scale=scale)
            return m

        out.append(ctx.layer(node, d, run, i))
    return (x[0], x[1], *out)


def _interpolate_period(node, axis):
    if node.params.get("size") is not None:
        return 1
    return Fraction(_on(node.params["scale"], axis)).denominator


def _pad(ctx, node, ins):
    """``F.pad(x, amounts)``: amounts pair up from the last axis, (before, after) each;
    negative amounts crop. PyTorch narrows by the negative amounts first, then pads."""
    (x,) = ins
    amounts = node.params["amounts"]
    mode = node.params.get("mode", "constant")
    if len(amounts) % 2 or len(amounts) // 2 > len(x):
        ctx.constant(node, f"{len(amounts)} pad amounts for {len(x)} axes", False)
        return None
    out = list(x)
    for j in range(len(amounts) // 2):
        axis = len(x) - 1 - j
        before, after = ctx.size(amounts[2 * j]), ctx.size(amounts[2 * j + 1])
        d = x[axis]
        if before.value is None or after.value is None:
            out[axis] = ctx.dim(None, d.axes | before.axes | after.axes)
            continue

        def run(n, b=before.value, a=after.value):
            r = ctx.r
            kept = r.add(r.add(n, r.ite(r.lt(b, 0), b, 0)), r.ite(r.lt(a, 0), a, 0))
            r.require(r.ge(kept, 0), Rule.OUTPUT_POSITIVE,
                      "pad: cropping by {b} and {a} leaves fewer than 0 of {n} cells "
                      "(PyTorch: narrow(): length must be non-negative)", b=b, a=a, n=n)
            if mode in ("reflect", "circular"):
                limit = n if mode == "circular" else r.sub(n, 1)
                r.require(r.and_(r.ge(limit, b), r.ge(limit, a)), Rule.PADDING_NONNEG,
                          "pad: {mode} padding by {b}, {a} needs an input of more than "
                          "that, got {n}", mode=mode, b=b, a=a, n=n)
            return r.add(r.add(n, b), a)

        out[axis] = ctx.layer(node, d, run, None, extra_axes=before.axes | after.axes)
    return tuple(out)


def _slice(ctx, node, ins):
    """``x[..., start:stop:step, ...]`` on dim ``dim``, Python's clamping semantics."""
    (x,) = ins
    p = node.params
    axis = p["dim"] % len(x) if -len(x) <= p["dim"] < len(x) else None
    if axis is None:
        ctx.constant(node, f"slices dim {p['dim']} of a {len(x)}-axis tensor", False)
        return None
    step = p.get("step") or 1
    d = x[axis]
    bounds = [ctx.size(p.get(k)) if p.get(k) is not None else None for k in ("start", "stop")]
    axes = d.axes.union(*(b.axes for b in bounds if b is not None))
    if any(b is not None and b.value is None for b in bounds) or d.value is None:
        out = list(x)
        out[axis] = ctx.dim(None, axes)
        return tuple(out)
    r = ctx.r

    def clamp(v, n, default):
        if v is None:
            return default
        v = v.value
        # negative indices count from the end; both ends clamp to 0..n
        shifted = r.ite(r.lt(v, 0), r.add(v, n), v)
        return r.ite(r.lt(shifted, 0), 0, r.ite(r.lt(n, shifted), n, shifted))

    n = d.value
    start, stop = clamp(bounds[0], n, 0), clamp(bounds[1], n, n)
    span = r.sub(stop, start)
    length = r.ite(r.lt(span, 1), 0, r.floor_div(r.add(span, step - 1), step))
    out = list(x)
    out[axis] = ctx.dim(length, axes)
    return tuple(out)


def _crop(ctx, node, ins):
    """The centre crop of ``x`` to ``target``'s spatial size: ``x`` at least as large."""
    x, target = ins
    if len(x) != len(target) or len(x) < 3:
        ctx.constant(node, f"crop of a {len(x)}-axis tensor to a {len(target)}-axis one", False)
        return None
    for d, t in zip(x[2:], target[2:], strict=True):
        ctx.relation(node, "ge", d, t, node.params.get(
            "statement", "crop: the tensor is at least the target's size"),
            node.params.get("kind", "agree"), node.params.get("names", ("in", "target")))
    return (*x[:2], *target[2:])


def _broadcast(ctx, node, ins):
    """Elementwise ops on several tensors: dims aligned from the right, equal or 1
    (``strict``: spatial sizes equal, as a description's ``add`` skip, gate and residual
    units state; descriptions carry no channel counts, so constant dims are not compared)."""
    rank = max(len(s) for s in ins)
    loose = not node.params.get("strict", False)
    out = []
    for k in range(rank):
        dims = [s[len(s) - rank + k] for s in ins if len(s) - rank + k >= 0]
        result = dims[0]
        for d in dims[1:]:
            if not loose and not result.axes and not d.axes:
                continue
            result = ctx.agree(node, result, d, broadcast=loose, position=k)
        out.append(result)
    return tuple(out)


def _cat(ctx, node, ins):
    rank = len(ins[0])
    if any(len(s) != rank for s in ins):
        ctx.constant(node, f"cat of tensors with {sorted({len(s) for s in ins})} axes", False)
        return None
    axis = node.params.get("dim", 0)
    if not -rank <= axis < rank:
        ctx.constant(node, f"cat along dim {axis} of {rank}-axis tensors", False)
        return None
    axis %= rank
    out = []
    for k in range(rank):
        dims = [s[k] for s in ins]
        if k == axis:
            total = dims[0]
            for d in dims[1:]:
                total = ctx.combine(total, d, ctx.r.add)
            out.append(total)
            continue
        result = dims[0]
        for d in dims[1:]:
            result = ctx.agree(node, result, d, position=k)
        out.append(result)
    return tuple(out)


def _same(ctx, node, ins):
    return ins[0]


def _norm(ctx, node, ins):
    """Norms that need more than one value: instance norm with input statistics (prod of
    the spatial sizes), batch norm in training (batch x spatial), group norm (batch x
    channels per group x spatial); layer norm never."""
    (x,) = ins
    kind = node.params["kind"]
    uses_input_stats = {
        "instance": ctx.graph.mode == "train" or not node.params.get("running_stats", False),
        "batch": ctx.graph.mode == "train" or not node.params.get("running_stats", True),
        "group": True,
        "layer": False,
    }[kind]
    if uses_input_stats and len(x) >= 2:
        factor = 1
        if kind in ("batch", "group"):
            factor *= x[0].value if x[0].value is not None else 1
        if kind == "group":
            groups = node.params.get("groups", 1)
            channels = x[1].value
            if channels is not None:
                ctx.constant(node, f"group norm: {groups} groups divide {channels} channels",
                             channels % groups == 0)
                factor *= channels // groups
        ctx.norm(node, kind, factor, x[2:])
    return x


def _linear(ctx, node, ins):
    (x,) = ins
    last = x[-1]
    expected = node.params["in_features"]
    ctx.agree(node, last, ctx.const_dim(expected), position=-1, what="in_features")
    return (*x[:-1], ctx.const_dim(node.params["out_features"]))


def _matmul(ctx, node, ins):
    a, b = ins
    if len(a) < 2 or len(b) < 2:
        ctx.constant(node, "matmul of tensors with fewer than 2 axes", False)
        return None
    ctx.agree(node, a[-1], b[-2], position=-1, what="inner dimension")
    batch = _broadcast(ctx, node, [a[:-2], b[:-2]]) if (len(a) > 2 or len(b) > 2) else ()
    return (*batch, a[-2], b[-1])


def _einsum(ctx, node, ins):
    """``torch.einsum(equation, *operands)``: each letter one size, the output's letters."""
    equation = node.params["equation"].replace(" ", "")
    inputs, _, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ins) or "." in equation or not output and "->" in equation:
        ctx.constant(node, f"einsum {equation!r} on {len(ins)} operands", False)
        return None
    sizes: dict = {}
    for term, shape in zip(terms, ins, strict=True):
        if len(term) != len(shape):
            ctx.constant(node, f"einsum term {term!r} on a {len(shape)}-axis operand", False)
            return None
        for letter, d in zip(term, shape, strict=True):
            if letter in sizes:
                sizes[letter] = ctx.agree(node, sizes[letter], d, broadcast=True,
                                          what=f"size of {letter!r}")
            else:
                sizes[letter] = d
    if "->" not in equation:
        output = "".join(sorted(k for k in sizes if inputs.count(k) == 1))
    return tuple(sizes[letter] for letter in output)


def _flatten(ctx, node, ins):
    (x,) = ins
    rank = len(x)
    start = node.params.get("start", 0) % max(rank, 1)
    end = node.params.get("end", -1) % max(rank, 1)
    merged = x[start]
    for d in x[start + 1:end + 1]:
        merged = ctx.combine(merged, d, ctx.r.mul)
    return (*x[:start], merged, *x[end + 1:])


def _reshape(ctx, node, ins):
    (x,) = ins
    sizes = [ctx.size(s) if not (isinstance(s, int) and s == -1) else None
             for s in node.params["sizes"]]
    total = x[0]
    for d in x[1:]:
        total = ctx.combine(total, d, ctx.r.mul)
    known = ctx.const_dim(1)
    for s in sizes:
        if s is not None:
            known = ctx.combine(known, s, ctx.r.mul)
    if sizes.count(None) > 1:
        ctx.constant(node, "reshape with more than one -1", False)
        return None
    if None in sizes:
        inferred = ctx.combine(total, known, ctx.r.floor_div)
        sizes[sizes.index(None)] = inferred
        ctx.agree(node, ctx.combine(inferred, known, ctx.r.mul), total, position=None,
                  what="element count")
    else:
        ctx.agree(node, known, total, position=None, what="element count")
    return tuple(sizes)


def _permute(ctx, node, ins):
    (x,) = ins
    dims = node.params["dims"]
    if sorted(d % len(x) for d in dims) != list(range(len(x))):
        ctx.constant(node, f"permute {dims} of a {len(x)}-axis tensor", False)
        return None
    return tuple(x[d % len(x)] for d in dims)


def _transpose(ctx, node, ins):
    (x,) = ins
    a, b = (node.params["dim0"] % len(x), node.params["dim1"] % len(x))
    out = list(x)
    out[a], out[b] = x[b], x[a]
    return tuple(out)


def _select(ctx, node, ins):
    """``x[..., i, ...]``: drops dim ``dim``."""
    (x,) = ins
    dim = node.params["dim"] % len(x)
    return (*x[:dim], *x[dim + 1:])


def _unsqueeze(ctx, node, ins):
    (x,) = ins
    dim = node.params["dim"] % (len(x) + 1)
    return (*x[:dim], ctx.const_dim(1), *x[dim:])


def _const(ctx, node, ins):
    return tuple(ctx.const_dim(v) for v in node.params["shape"])


def _require(ctx, node, ins):
    """A condition the network states itself: ``relation`` (eq, ge, divides) of two size
    expressions; passes its input through."""
    a, b = ctx.size(node.params["a"]), ctx.size(node.params["b"])
    ctx.relation(node, node.params["relation"], a, b, node.params.get("statement", ""),
                 node.params.get("kind", "check"), node.params.get("names", ("a", "b")))
    return ins[0]


def _require_period(node, axis):
    a, b = node.params["a"], node.params["b"]
    if node.params["relation"] == "divides" and a.op == "const":
        if isinstance(b, Size) and b.op == "dim" and b.args[0] == "input" and \
                b.args[1] >= 0 and b.args[1] != 2 + axis:
            return 1  # a condition on another axis of the input
        return a.args[0]
    return 1


def _input(ctx, node, ins):
    return ctx.input_shape()


def _split(ctx, node, ins):
    """One chunk of ``torch.split``/``chunk`` along ``dim``: ``size`` cells (a size
    expression)."""
    (x,) = ins
    dim = node.params["dim"] % len(x)
    out = list(x)
    out[dim] = ctx.size(node.params["size"])
    return tuple(out)


OPS: dict[str, OpRule] = {rule.name: rule for rule in (
    OpRule("input", _input, "the network's input: (batch, channels, n_0, ..., n_{d-1})"),
    OpRule("conv", _sliding(_conv), "conv_out on each spatial axis; 'same' keeps the size",
           _stride_period),
    OpRule("conv_transpose", _sliding(_conv_transpose), "conv_transpose_out on each axis"),
    OpRule("pool", _sliding(_pool), "pool_out (max or avg) on each spatial axis",
           _stride_period),
    OpRule("adaptive_pool", _adaptive_pool, "the requested output size (None keeps the size)"),
    OpRule("interpolate", _interpolate, "floor(n * scale), or a given size",
           _interpolate_period),
    OpRule("pad", _pad, "n + before + after (negative amounts crop)"),
    OpRule("slice", _slice, "len(range(n)[start:stop:step])"),
    OpRule("crop", _crop, "the centre crop to a second tensor's spatial size"),
    OpRule("broadcast", _broadcast, "elementwise on several tensors: equal dims or 1"),
    OpRule("cat", _cat, "the sum along dim; the other dims equal"),
    OpRule("same", _same, "the input's shape (activations, dropout, identity)"),
    OpRule("norm", _norm, "the input's shape; more than one value where statistics are taken"),
    OpRule("linear", _linear, "the last dim becomes out_features (it must be in_features)"),
    OpRule("matmul", _matmul, "(..., m, k) @ (..., k, n) -> (..., m, n)"),
    OpRule("einsum", _einsum, "each letter's size; repeated letters agree"),
    OpRule("flatten", _flatten, "the product of dims start..end"),
    OpRule("reshape", _reshape, "the given sizes (one -1 inferred); same element count"),
    OpRule("permute", _permute, "the dims in the given order"),
    OpRule("transpose", _transpose, "two dims swapped"),
    OpRule("select", _select, "one index taken along dim: the dim dropped"),
    OpRule("unsqueeze", _unsqueeze, "a dim of 1 inserted"),
    OpRule("split", _split, "one chunk along dim"),
    OpRule("const", _const, "a tensor of fixed shape (a parameter, a positional embedding)"),
    OpRule("require", _require, "the input; a condition the network states itself",
           _require_period),
)}


def check_op(name: str, where: str) -> OpRule:
    if name not in OPS:
        raise UsageError(Rule.UNKNOWN_OP, where=where,
                         detail=f"op {name!r} is not one of {', '.join(OPS)}")
    return OPS[name]

