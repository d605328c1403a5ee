"""Shapes through a graph, and the obligations that must hold for it to run on a size.

:func:`evaluate` propagates the input's spatial sizes (ints, or Z3/SymPy terms) through
every node with the rules of :mod:`nnbridge.graph.layers`, which read the proved formulas of
:mod:`nnbridge.spec.shapes`. Each obligation records the spatial axes it depends on:

* an obligation on one axis belongs to that axis' :func:`trace` (the valid-size rule of one
  axis is derived and proved from it);
* an obligation on several axes (a norm that needs more than one value, the token count of
  a flattened grid) is *joint*: :func:`joint_obligations` evaluates it on concrete sizes;
* an obligation on none (channel counts) holds or fails for every size.

Obligation kinds: ``runs`` (PyTorch accepts the layer), ``agree`` (operands of cat, add,
mul, matmul agree), ``norm`` (more than one value), ``output`` (the output has the input's
size), ``check``/``exact``/``fixed`` (conditions a network or description states).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from nnbridge.spec.arith import conditions, is_symbolic, reading_for
from nnbridge.spec.errors import ShapeError

from .core import Graph, Size
from .layers import OPS

__all__ = ["Context", "Dim", "evaluate", "joint_obligations", "trace"]


class Dim(NamedTuple):
    """One dimension: its size (``None``: not evaluated) and the spatial axes it depends
    on."""

    value: Any
    axes: frozenset


_NONE = frozenset()

#: Ops whose output is a stage of the size chain shown in reports.
STAGE_OPS = ("conv", "conv_transpose", "pool", "adaptive_pool", "interpolate", "pad", "slice",
             "split", "reshape")


class Context:
    """The state of one evaluation: the reading, every node's shape, the obligations."""

    def __init__(self, graph: Graph, sizes: tuple):
        from nnbridge.unet.obligations import Obligation

        self._Obligation = Obligation
        self.graph = graph
        self.sizes = sizes
        known = [s for s in sizes if s is not None]
        self.r = reading_for(*known)
        self.symbolic = any(is_symbolic(s) for s in known)
        self.shapes: dict[str, tuple | None] = {}
        self.obligations: list = []
        self.norms: list = []  # (node name, kind, dims)
        self.node = None

    # -- dims ----------------------------------------------------------------------------
    def dim(self, value, axes) -> Dim:
        return Dim(value, frozenset(axes))

    def const_dim(self, value) -> Dim:
        return Dim(value, _NONE)

    def input_shape(self) -> tuple:
        channels = self.graph.channels if self.graph.channels is not None else 1
        return (self.const_dim(self.graph.batch), self.const_dim(channels),
                *(Dim(n, frozenset((i,))) for i, n in enumerate(self.sizes)))

    def size(self, expr) -> Dim:
        """A size expression (or int) evaluated on the shapes so far."""
        if isinstance(expr, int) and not isinstance(expr, bool):
            return self.const_dim(expr)
        if not isinstance(expr, Size):
            raise ShapeError(f"{self.where()}: expected a size, got {expr!r}",
                             rule="description_value")
        op, args = expr.op, expr.args
        if op == "const":
            return self.const_dim(args[0])
        if op in ("dim", "numel"):
            shape = self.shapes.get(args[0])
            if shape is None:
                return Dim(None, frozenset(range(self.graph.spatial_dims)))
            if op == "numel":
                total = self.const_dim(1)
                for d in shape:
                    total = self.combine(total, d, self.r.mul)
                return total
            i = args[1]
            if not -len(shape) <= i < len(shape):
                self.constant(self.node, f"reads dim {i} of a {len(shape)}-axis tensor", False)
                return Dim(None, _NONE)
            return shape[i]
        if op == "neg":
            a = self.size(args[0])
            return self.combine(self.const_dim(0), a, self.r.sub)
        a, b = (self.size(x) for x in args)
        r = self.r
        fn = {"add": r.add, "sub": r.sub, "mul": r.mul, "floordiv": self._floordiv,
              "mod": self._mod, "max": r.max,
              "min": lambda x, y: r.ite(r.lt(x, y), x, y),
              "ne": lambda x, y: r.ite(r.eq(x, y), 0, 1)}[op]
        return self.combine(a, b, fn)

    def _floordiv(self, a, b):
        if isinstance(b, int) and b >= 1:
            return self.r.floor_div(a, b)
        if isinstance(a, int) and isinstance(b, int):
            return a // b if b else 0
        raise ShapeError(f"{self.where()}: division by a size that is not a positive "
                         "constant", rule="description_value")

    def _mod(self, a, b):
        return self.r.sub(a, self.r.mul(self._floordiv(a, b), b))

    def combine(self, a: Dim, b: Dim, fn) -> Dim:
        if a.value is None or b.value is None:
            return Dim(None, a.axes | b.axes)
        return Dim(fn(a.value, b.value), a.axes | b.axes)

    def where(self) -> str:
        node = self.node
        return node.where or node.name if node is not None else "graph"

    # -- obligations --------------------------------------------------------------------
    def _add(self, node, statement, holds, axes, kind, values=None, relation=None,
             operands=(), reached=True, name=None):
        if not self.symbolic and not isinstance(holds, bool):
            holds = bool(holds)
        if name is None:
            name = node.params.get("label", node.name) if node is not None else "graph"
        ob = self._Obligation(name, statement, holds, values or {}, kind, reached,
                              frozenset(axes), relation, operands,
                              node.where if node is not None else "")
        self.obligations.append(ob)
        return ob

    def constant(self, node, statement, holds, values=None):
        """An obligation no size changes (channel counts, ranks)."""
        self._add(node, statement, bool(holds), _NONE, "runs", values)

    def layer(self, node, d: Dim, fn, axis_index, extra_axes=_NONE) -> Dim:
        """Apply one layer formula to one dim, recording that PyTorch runs it."""
        axes = d.axes | extra_axes
        label = _label(node, axis_index)
        if d.value is None:
            self._add(node, f"{label} runs", False, axes, "runs", reached=False)
            return Dim(None, axes)
        try:
            with conditions() as conds:
                out = fn(d.value)
            if node.params.get("semantics", "torch") != "torch" and not conds:
                return Dim(out, axes)  # TorchLean's formulas are total: nothing to run
        except ShapeError as exc:
            values = {} if self.symbolic else {"in": d.value}
            self._add(node, f"{label} runs: {exc}", False, axes, "runs", values)
            return Dim(None, axes)
        holds = self.r.and_(*[c for _, c in conds]) if conds else True
        values = {} if self.symbolic else {"in": d.value, "out": out}
        self._add(node, f"{label} runs", holds, axes, "runs", values)
        return Dim(out, axes)

    def agree(self, node, a: Dim, b: Dim, *, broadcast=False, position=None, what=None) -> Dim:
        """Two operands' dims must be equal (or one of them 1 under broadcasting)."""
        axes = a.axes | b.axes
        op = node.params.get("fn", "add") if node.op == "broadcast" else node.op
        statement = node.params.get("statement") or (
            f"{op} operands agree" + ("" if what is None else f" in {what}")
            + ("" if position is None else f" at dim {position}")
            + (" (or one is 1)" if broadcast else ""))
        kind = node.params.get("kind", "agree")
        names = node.params.get("names", ("lhs", "rhs"))
        if a.value is None or b.value is None:
            self._add(node, statement, False, axes, kind, reached=False)
            return Dim(None, axes)
        r = self.r
        if not a.axes and not b.axes:  # constants (batch, channels): a fact, not a condition
            ok = a.value == b.value or (broadcast and 1 in (a.value, b.value))
            if not ok:
                self.constant(node, statement, False, dict(zip(names, (a.value, b.value),
                                                               strict=True)))
            return Dim(b.value if ok and b.value != 1 else a.value, _NONE)
        equal = r.eq(a.value, b.value)
        if broadcast and not (a.axes and b.axes and a.value is b.value):
            holds = r.or_(equal, r.eq(a.value, 1), r.eq(b.value, 1))
            value = r.ite(r.eq(b.value, 1), a.value, b.value)
            relation = "broadcast"
        else:
            # the later operand's size flows on (the up-sampled map in cat([skip, up])):
            # equal where the network runs, and the informative chain where it does not
            holds, value, relation = equal, b.value, "eq"
        values = {} if self.symbolic else dict(zip(names, (a.value, b.value), strict=True))
        self._add(node, statement, holds, axes, kind, values, relation, (a.value, b.value))
        return Dim(value, axes)

    def relation(self, node, relation, a: Dim, b: Dim, statement, kind, names=("a", "b")):
        axes = a.axes | b.axes
        if a.value is None or b.value is None:
            self._add(node, statement, False, axes, kind, reached=False)
            return
        r = self.r
        holds = {"eq": r.eq, "ge": r.ge, "divides": r.divides}[relation](a.value, b.value)
        values = {} if self.symbolic else dict(zip(names, (a.value, b.value), strict=True))
        self._add(node, statement, holds, axes, kind, values, relation, (a.value, b.value))

    def norm(self, node, kind, factor, spatial):
        """More than one value per channel: ``factor * prod(spatial) > 1``."""
        axes = frozenset().union(*(d.axes for d in spatial)) if spatial else _NONE
        name = node.params.get("of", node.name)
        self.norms.append((name, kind, tuple(spatial), factor))
        words = {"instance": "instance norm: more than one spatial element",
                 "batch": f"batch norm in training, batch of {factor}: more than one value "
                          "per channel",
                 "group": "group norm: more than one value per group"}[kind]
        if any(d.value is None for d in spatial):
            self._add(node, words, False, axes, "norm", reached=False, name=f"{name}_norm")
            return
        product = factor
        for d in spatial:
            product = self.r.mul(product, d.value)
        values = {} if self.symbolic else {"values": product}
        self._add(node, words, self.r.lt(1, product), axes, "norm", values,
                  name=f"{name}_norm")


def _label(node, axis_index) -> str:
    p = node.params
    def on(v):
        return (v[axis_index] if isinstance(v, (tuple, list)) and axis_index is not None
              else v)
    if node.op == "conv":
        text = f"conv k={on(p['kernel'])} s={on(p['stride'])} p={on(p['padding'])}"
        return text + (f" d={on(p['dilation'])}" if on(p.get("dilation", 1)) != 1 else "")
    if node.op == "pool":
        return (f"{p.get('kind', 'max')}_pool k={on(p['kernel'])} s={on(p['stride'])} "
                f"p={on(p['padding'])}" + (" ceil" if p.get("ceil_mode") else ""))
    if node.op == "conv_transpose":
        return (f"conv_transpose k={on(p['kernel'])} s={on(p['stride'])} p={on(p['padding'])}"
                f" op={on(p.get('output_padding', 0))}")
    if node.op == "interpolate":
        if p.get("size") is not None:
            return f"interpolate to {on(p['size'])}"
        return f"upsample x{on(p['scale'])}"
    return node.op


class Evaluation(NamedTuple):
    shapes: dict
    obligations: list
    norms: list
    stages: dict  # node name -> (op, output shape)


def evaluate(graph: Graph, sizes: tuple) -> Evaluation:
    """Every node's shape and every obligation, the input's spatial sizes being ``sizes``
    (ints, Z3 or SymPy terms; ``None`` leaves an axis out)."""
    ctx = Context(graph, tuple(sizes))
    memo = None if ctx.symbolic else _memo(graph)
    for node in graph.nodes:
        ctx.node = node
        key = None
        if memo is not None and node.op != "input":
            # a node's shape and obligations are a function of the shapes it reads
            key = (node.name, tuple(ctx.shapes.get(name) for name in memo.refs[node.name]))
            hit = memo.results.get(key)
            if hit is not None:
                ctx.shapes[node.name] = hit[0]
                ctx.obligations.extend(hit[1])
                ctx.norms.extend(hit[2])
                continue
            seen = len(ctx.obligations), len(ctx.norms)
        ins = [ctx.shapes.get(name) for name in node.inputs]
        if any(s is None for s in ins):
            ctx.shapes[node.name] = None
            ctx._add(node, f"{node.op} runs", False, frozenset(range(graph.spatial_dims)),
                     "runs", reached=False)
        else:
            ctx.shapes[node.name] = OPS[node.op].shape(ctx, node, ins)
        if key is not None:
            memo.store(key, (ctx.shapes[node.name], tuple(ctx.obligations[seen[0]:]),
                             tuple(ctx.norms[seen[1]:])))
    out = ctx.shapes.get(graph.output)
    ctx.node = graph.nodes[-1]
    if graph.output_mode == "same":
        _output_same(ctx, graph, out)
    return Evaluation(ctx.shapes, ctx.obligations, ctx.norms, {})


class _Memo:
    """Int results per node, keyed by the shapes it reads (bounded): in the traces of a rule
    derivation most nodes see the same shapes again (a size past a pooling repeats; a token
    grid left out of a per-axis trace is the same for every size)."""

    LIMIT = 200_000

    def __init__(self, graph: Graph):
        self.refs = {node.name: tuple(sorted(node.refs())) for node in graph.nodes}
        self.results: dict = {}

    def store(self, key, value) -> None:
        if len(self.results) >= self.LIMIT:
            self.results.clear()
        try:
            self.results[key] = value
        except TypeError:  # a shape that cannot be a key (not expected for ints)
            pass


def _memo(graph: Graph) -> _Memo:
    memo = graph.__dict__.get("_memo")
    if memo is None:
        memo = _Memo(graph)
        object.__setattr__(graph, "_memo", memo)
    return memo


def _output_same(ctx: Context, graph: Graph, out) -> None:
    node = graph.node(graph.output)
    for i, n in enumerate(ctx.sizes):
        axes = frozenset((i,))
        if out is None or len(out) != graph.spatial_dims + 2:
            ctx._add(node, "the output has the input's size", False, axes, "output",
                     reached=out is not None, name="output")
            continue
        d = out[2 + i]
        if d.value is None or n is None:
            ctx._add(node, "the output has the input's size", False, axes | d.axes, "output",
                     reached=False, name="output")
            continue
        values = {} if ctx.symbolic else {"out": d.value, "in": n}
        ctx._add(node, "the output has the input's size", ctx.r.eq(d.value, n),
                 axes | d.axes, "output", values, "eq", (d.value, n), name="output")


def trace(graph: Graph, axis: int, n):
    """Every size and obligation on axis ``axis`` for input size ``n`` (int or symbolic):
    the obligations that depend on this axis alone or on no axis."""
    from nnbridge.unet.obligations import Trace

    sizes = tuple(n if i == axis else None for i in range(graph.spatial_dims))
    ev = evaluate(graph, sizes)
    t = Trace(graph.axis_names[axis], n, [("input", n)])
    mine = frozenset((axis,))
    t.obligations = [o for o in ev.obligations if o.axes <= mine]
    for node in graph.nodes[1:]:
        if node.op not in STAGE_OPS:
            continue
        shape = ev.shapes.get(node.name)
        if shape is None:
            if any(o.name == node.name and not o.holds for o in t.obligations):
                t.stages.append((node.name, None))
            continue
        for d in shape:
            if d.axes == mine:
                t.stages.append((node.name, d.value))
                break
    for name, kind, spatial, factor in ev.norms:
        if factor == 1:
            on_axis = [d for d in spatial if d.axes == mine]
            if on_axis and on_axis[0].value is not None and len(spatial) > 1:
                t.norms.append((name, on_axis[0].value, kind))
    return t


def joint_obligations(graph: Graph, sizes: tuple) -> list:
    """The obligations on several axes at once, on concrete sizes."""
    ev = evaluate(graph, tuple(sizes))
    return [o for o in ev.obligations if len(o.axes) >= 2]
