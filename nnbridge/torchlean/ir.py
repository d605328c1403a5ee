"""TorchLean's ``torchlean.ir.v1`` graph JSON, read and checked as TorchLean's importer
does.

:func:`load_ir` reads a file, :func:`parse_ir` a parsed JSON value; both return an
:class:`IRGraph` that passed every rule of the importer, in its order:

1. the JSON types: the top level, every required field, naturals (non-negative JSON
   integers, never booleans or floats), ``format`` (if present ``"torchlean.ir.v1"``),
   ``value_kind`` (``"tensor"`` or ``"tuple"``) and ``kind``;
2. tuples: ``tuple_getitem`` reads a ``multihead_attention`` tuple with
   ``num_heads = 1``, ``batch_first``, ``dropout_zero``, three identical parents, an input
   ``[B, S, embed_dim]``, ``index = 0`` and its own shape equal to the input's;
3. parents: earlier nodes (``id = index``), within bounds, tensors (only
   ``tuple_getitem`` reads a tuple); ``input_id`` and ``output_id`` are tensor nodes;
4. lowering: tuples are dropped, each attention ``tuple_getitem`` expands to its 10 nodes,
   tensor nodes are renumbered densely (``input_id``/``output_id`` remapped);
5. ``checkShapes``: every kind's arity, and its declared shape equal to the shape its
   contract infers from its parents (:mod:`nnbridge.torchlean.contracts`).

A rejection is an :class:`IRError`: a :class:`~nnbridge.spec.errors.UsageError` naming the
file, the node (its id and kind), the importer's check (:data:`CHECKS`) and an nnbridge
:class:`~nnbridge.spec.errors.Rule`. Unknown keys are ignored, as TorchLean ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nnbridge.spec.errors import Rule, UsageError
from nnbridge.spec.formulas import MAX_SIZE

from .contracts import ELEMENTWISE, POOLS, UNARY, infer
from .jsonio import MAX_IR_BYTES, read_json

__all__ = [
    "CHECKS",
    "FORMAT",
    "KINDS",
    "MAX_IR_NODES",
    "MAX_RANK",
    "IRError",
    "IRGraph",
    "IRNode",
    "load_ir",
    "parse_ir",
]

FORMAT = "torchlean.ir.v1"

#: The most nodes a graph file may hold (after lowering too).
MAX_IR_NODES = 20_000

#: The most axes a declared shape may have (PyTorch's own limit is 64).
MAX_RANK = 64

#: The importer's checks, by the name an :class:`IRError` gives as ``check``.
CHECKS = {
    "json": "the file is a JSON object",
    "field": "every required field is present, with its JSON type",
    "natural": "integer fields are natural numbers",
    "format": "format, if present, is torchlean.ir.v1",
    "value_kind": "value_kind is tensor or tuple",
    "kind": "the kind is one TorchLean knows",
    "tuple": "tuple_getitem reads a multihead_attention tuple meeting its conditions",
    "id": "id = the node's index",
    "parent": "parents are earlier tensor nodes, within bounds",
    "endpoint": "input_id and output_id are tensor nodes, within bounds",
    "arity": "the number of parents fits the kind",
    "contract": "the kind's shape contract accepts the parents' shapes",
    "shape": "the declared shape equals the inferred shape",
    "limit": "a limit on the work nnbridge accepts",
}

# Per-kind (arity, fields): arity an int or "2+"; fields name -> "nat", "shape", "nats",
# "bool", or "shape?" (optional).
_N = "nat"
KINDS: dict[str, tuple] = {
    "input": (0, {}),
    "const": (0, {"value_shape": "shape?"}),
    "rand_uniform": (0, {"seed": _N}),
    "bernoulli_mask": (1, {"seed": _N}),
    **{k: (1, {}) for k in (*UNARY, "detach", "sum", "linear", "swap_first_two",
                            "transpose3d_last_two")},
    **{k: (2, {}) for k in (*ELEMENTWISE, "matmul", "mse_loss")},
    "permute": (1, {"perm": "nats"}),
    "broadcast_to": (1, {"from_shape": "shape", "to_shape": "shape"}),
    **{k: (1, {"axis": _N}) for k in ("reduce_sum", "reduce_mean", "softmax", "layernorm")},
    "concat": ("2+", {"axis": _N}),
    **{k: (1, {"kH": _N, "kW": _N, "stride": _N}) for k in POOLS if not k.endswith("_pad")},
    **{k: (1, {"kH": _N, "kW": _N, "stride": _N, "padding": _N})
       for k in POOLS if k.endswith("_pad")},
    "conv2d": (1, {"inC": _N, "outC": _N, "kH": _N, "kW": _N, "stride": _N, "padding": _N}),
    "batch_norm2d_nchw_eval": (1, {"channels": _N}),
    "reshape": (1, {"in_shape": "shape", "out_shape": "shape"}),
    "flatten": (1, {"value_shape": "shape"}),
    "tuple_getitem": (1, {"index": _N}),
    "multihead_attention": (3, {"embed_dim": _N, "num_heads": _N, "batch_first": "bool",
                                "dropout_zero": "bool"}),
}


class IRError(UsageError):
    """A ``torchlean.ir.v1`` file TorchLean's importer rejects.

    ``node`` is the node's id (``None`` for the top level), ``check`` the importer's check
    (a key of :data:`CHECKS`); ``rule`` is nnbridge's :class:`~nnbridge.spec.errors.Rule`.
    """

    def __init__(self, message: str, *, rule: Rule, check: str, node: int | None = None):
        super().__init__(f"{message} (TorchLean's importer: {CHECKS[check]})", rule=rule)
        self.check = check
        self.node = node


@dataclass(frozen=True)
class IRNode:
    """One node: ``id``, ``kind``, ``parents`` (ids), the declared ``shape`` (a tensor) or
    ``tuple_shapes`` (a tuple), and the kind's ``fields`` (naturals, shapes, booleans;
    the ignored ``eps`` kept when it is a number). ``origin`` is the id in the file, for a
    node renumbered by lowering, with its role in an attention expansion."""

    id: int
    kind: str
    parents: tuple
    shape: tuple | None
    fields: dict = field(default_factory=dict, hash=False, compare=True)
    value_kind: str = "tensor"
    tuple_shapes: tuple | None = None
    origin: tuple = ()

    def label(self) -> str:
        raw = f", id {self.origin[0]} in the file" if self.origin and \
            self.origin[0] != self.id else ""
        return f"node {self.id} ({self.kind}{raw})"


@dataclass(frozen=True)
class IRGraph:
    """A checked, lowered graph: tensor nodes only, ``id = index``."""

    nodes: tuple
    input_id: int
    output_id: int
    source: str = "graph"

    @property
    def input_shape(self) -> tuple:
        return self.nodes[self.input_id].shape

    @property
    def output_shape(self) -> tuple:
        return self.nodes[self.output_id].shape

    def to_json(self) -> dict:
        """The graph as ``torchlean.ir.v1`` JSON (a dict), fields in a stable order."""
        nodes = []
        for n in self.nodes:
            item = {"id": n.id, "kind": n.kind, "parents": list(n.parents),
                    "value_kind": n.value_kind, "shape": list(n.shape)}
            for name, value in n.fields.items():
                item[name] = list(value) if isinstance(value, tuple) else value
            nodes.append(item)
        return {"format": FORMAT, "input_id": self.input_id, "output_id": self.output_id,
                "nodes": nodes}


def load_ir(path) -> IRGraph:
    """The checked graph in ``path`` (at most :data:`~nnbridge.torchlean.jsonio.MAX_IR_BYTES`
    bytes)."""
    data = read_json(path, max_bytes=MAX_IR_BYTES, what="the IR graph")
    return parse_ir(data, source=str(path))


# --------------------------------------------------------------------------------------
# 1. JSON types
# --------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, source: str):
        self.source = source

    def error(self, check: str, rule: Rule, detail: str, node=None, kind=None) -> IRError:
        where = self.source
        if node is not None:
            where += f": node {node}" + (f" ({kind})" if kind else "")
        return IRError(f"{where}: {detail}", rule=rule, check=check, node=node)

    def natural(self, value, name: str, node=None, kind=None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error("natural", Rule.DESCRIPTION_VALUE,
                             f"{name} must be a natural number, got {_shown(value)}", node, kind)
        if value < 0:
            raise self.error("natural", Rule.DESCRIPTION_VALUE,
                             f"{name} must be a natural number, got {value}", node, kind)
        if value > MAX_SIZE:
            raise self.error("limit", Rule.WORK_LIMIT,
                             f"{name} = {_shown(value)} is above 2**48", node, kind)
        return value

    def shape(self, value, name: str, node=None, kind=None) -> tuple:
        if not isinstance(value, list):
            raise self.error("field", Rule.DESCRIPTION_VALUE,
                             f"{name} must be a list of naturals, got {_shown(value)}", node, kind)
        if len(value) > MAX_RANK:
            raise self.error("limit", Rule.WORK_LIMIT,
                             f"{name} has {len(value)} axes, above {MAX_RANK}", node, kind)
        return tuple(self.natural(v, f"{name}[{i}]", node, kind) for i, v in enumerate(value))


def _shown(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_node(p: _Parser, index: int, raw) -> IRNode:
    if not isinstance(raw, dict):
        raise p.error("field", Rule.DESCRIPTION_VALUE,
                      f"nodes[{index}] must be an object, got {_shown(raw)}")
    if "id" not in raw:
        raise p.error("field", Rule.DESCRIPTION_VALUE, f"nodes[{index}] has no id")
    node_id = p.natural(raw["id"], f"nodes[{index}].id")
    kind = raw.get("kind")
    if "kind" not in raw:
        raise p.error("field", Rule.DESCRIPTION_VALUE, "no kind", node_id)
    if not isinstance(kind, str):
        raise p.error("field", Rule.DESCRIPTION_VALUE,
                      f"kind must be a string, got {_shown(kind)}", node_id)
    if "parents" not in raw:
        raise p.error("field", Rule.DESCRIPTION_VALUE, "no parents", node_id, kind)
    parents = raw["parents"]
    if not isinstance(parents, list):
        raise p.error("field", Rule.DESCRIPTION_VALUE,
                      f"parents must be a list of ids, got {_shown(parents)}", node_id, kind)
    if len(parents) > MAX_IR_NODES:
        raise p.error("limit", Rule.WORK_LIMIT, f"{len(parents)} parents", node_id, kind)
    parents = tuple(p.natural(v, f"parents[{i}]", node_id, kind) for i, v in enumerate(parents))
    value_kind = raw.get("value_kind", "tensor")
    if not isinstance(value_kind, str):
        raise p.error("field", Rule.DESCRIPTION_VALUE,
                      f"value_kind must be a string, got {_shown(value_kind)}", node_id, kind)
    if value_kind not in ("tensor", "tuple"):
        raise p.error("value_kind", Rule.DESCRIPTION_VALUE,
                      f"unknown value_kind {value_kind!r} (tensor or tuple)", node_id, kind)
    shape = tuple_shapes = None
    if value_kind == "tensor":
        if "shape" not in raw:
            raise p.error("field", Rule.DESCRIPTION_VALUE, "no shape", node_id, kind)
        shape = p.shape(raw["shape"], "shape", node_id, kind)
    else:
        if "tuple_shapes" not in raw:
            raise p.error("field", Rule.DESCRIPTION_VALUE, "a tuple node has no tuple_shapes",
                          node_id, kind)
        value = raw["tuple_shapes"]
        if not isinstance(value, list) or len(value) > MAX_RANK:
            raise p.error("field", Rule.DESCRIPTION_VALUE,
                          f"tuple_shapes must be a list of shapes, got {_shown(value)}",
                          node_id, kind)
        tuple_shapes = tuple(p.shape(s, f"tuple_shapes[{i}]", node_id, kind)
                             for i, s in enumerate(value))
    if kind not in KINDS:
        raise p.error("kind", Rule.UNKNOWN_OP, f"unknown kind {_shown(kind)}", node_id)
    if kind == "multihead_attention" and value_kind != "tuple":
        raise p.error("kind", Rule.DESCRIPTION_VALUE,
                      "multihead_attention is a tuple node (value_kind \"tuple\")", node_id, kind)
    fields = {}
    for name, typ in KINDS[kind][1].items():
        if name not in raw:
            if typ == "shape?":
                continue
            raise p.error("field", Rule.DESCRIPTION_VALUE, f"no field {name}", node_id, kind)
        value = raw[name]
        if typ == "nat":
            fields[name] = p.natural(value, name, node_id, kind)
        elif typ in ("shape", "shape?", "nats"):
            fields[name] = p.shape(value, name, node_id, kind)
        elif typ == "bool":
            if not isinstance(value, bool):
                raise p.error("field", Rule.DESCRIPTION_VALUE,
                              f"{name} must be true or false, got {_shown(value)}", node_id, kind)
            fields[name] = value
    eps = raw.get("eps")
    if type(eps) in (int, float) and eps == eps and abs(eps) != float("inf"):
        fields["eps"] = float(eps)  # ignored by TorchLean; nnbridge's runner reads it
    return IRNode(node_id, kind, parents, shape, fields, value_kind, tuple_shapes,
                  origin=(node_id,))


def parse_ir(data, source: str = "graph") -> IRGraph:
    """The checked, lowered graph of a parsed ``torchlean.ir.v1`` JSON value."""
    p = _Parser(source)
    if not isinstance(data, dict):
        raise p.error("json", Rule.CONFIG_FILE if data is None else Rule.DESCRIPTION_VALUE,
                      f"the top level must be a JSON object, got {_shown(data)}")
    if "format" in data and data["format"] != FORMAT:
        raise p.error("format", Rule.DESCRIPTION_VALUE,
                      f"format {_shown(data['format'])} is not {FORMAT!r}")
    for name in ("input_id", "output_id", "nodes"):
        if name not in data:
            raise p.error("field", Rule.DESCRIPTION_VALUE, f"no {name}")
    input_id = p.natural(data["input_id"], "input_id")
    output_id = p.natural(data["output_id"], "output_id")
    raw_nodes = data["nodes"]
    if not isinstance(raw_nodes, list):
        raise p.error("field", Rule.DESCRIPTION_VALUE,
                      f"nodes must be a list, got {_shown(raw_nodes)}")
    if len(raw_nodes) > MAX_IR_NODES:
        raise p.error("limit", Rule.WORK_LIMIT,
                      f"{len(raw_nodes)} nodes, above the limit of {MAX_IR_NODES}")
    nodes = [_parse_node(p, i, raw) for i, raw in enumerate(raw_nodes)]
    _check_ids(p, nodes)
    _check_tuples(p, nodes)
    _check_parents(p, nodes, input_id, output_id)
    lowered, input_id, output_id = _lower(p, nodes, input_id, output_id)
    graph = IRGraph(tuple(lowered), input_id, output_id, source)
    _check_shapes(p, graph)
    return graph


# --------------------------------------------------------------------------------------
# 2. tuples
# --------------------------------------------------------------------------------------
def _check_tuples(p: _Parser, nodes: list) -> None:
    for n in nodes:
        if n.kind != "tuple_getitem":
            continue

        def bad(detail, n=n):
            return p.error("tuple", Rule.DESCRIPTION_VALUE, detail, n.id, n.kind)

        if len(n.parents) != 1:
            raise bad(f"tuple_getitem takes one parent, got {len(n.parents)}")
        (t,) = n.parents
        if t >= len(nodes) or nodes[t].value_kind != "tuple":
            raise bad(f"parent {t} is not a tuple node")
        mha = nodes[t]
        if mha.kind != "multihead_attention":
            raise bad(f"parent {t} is a {mha.kind} tuple; only multihead_attention is read")
        f = mha.fields
        for cond, detail in ((f["num_heads"] == 1, f"num_heads = {f['num_heads']}, not 1"),
                             (f["batch_first"], "batch_first is false"),
                             (f["dropout_zero"], "dropout_zero is false"),
                             (len(mha.parents) == 3 and len(set(mha.parents)) == 1,
                              f"its parents {list(mha.parents)} are not three identical ids")):
            if not cond:
                raise bad(f"attention node {t}: {detail}")
        x = mha.parents[0]
        if x >= len(nodes) or x >= t or nodes[x].value_kind != "tensor":
            raise bad(f"attention node {t}: its input {x} is not an earlier tensor node")
        shape = nodes[x].shape
        if len(shape) != 3 or shape[2] != f["embed_dim"]:
            raise bad(f"attention node {t}: input shape {list(shape)} is not [B, S, "
                      f"embed_dim={f['embed_dim']}]")
        if n.fields["index"] != 0:
            raise bad(f"index {n.fields['index']}: only the attention output (index 0) is read")
        if n.shape != shape:
            raise bad(f"shape {list(n.shape)} differs from the attention input's "
                      f"{list(shape)}")


# --------------------------------------------------------------------------------------
# 3. parents and endpoints
# --------------------------------------------------------------------------------------
def _check_ids(p: _Parser, nodes: list) -> None:
    for index, n in enumerate(nodes):
        if n.id != index:
            raise p.error("id", Rule.DESCRIPTION_VALUE, f"is nodes[{index}]: id must equal "
                                                        "the index", n.id, n.kind)


def _check_parents(p: _Parser, nodes: list, input_id: int, output_id: int) -> None:
    for index, n in enumerate(nodes):
        for parent in n.parents:
            if parent >= len(nodes):
                raise p.error("parent", Rule.DESCRIPTION_VALUE,
                              f"parent {parent} is out of bounds ({len(nodes)} nodes)",
                              n.id, n.kind)
            if parent >= index:
                raise p.error("parent", Rule.DESCRIPTION_VALUE,
                              f"parent {parent} is not an earlier node (a forward parent)",
                              n.id, n.kind)
            if nodes[parent].value_kind != "tensor" and n.kind != "tuple_getitem":
                raise p.error("parent", Rule.DESCRIPTION_VALUE,
                              f"parent {parent} is a tuple", n.id, n.kind)
    for name, node_id in (("input_id", input_id), ("output_id", output_id)):
        if node_id >= len(nodes):
            raise p.error("endpoint", Rule.DESCRIPTION_VALUE,
                          f"{name} {node_id} is out of bounds ({len(nodes)} nodes)")
        if nodes[node_id].value_kind != "tensor":
            raise p.error("endpoint", Rule.DESCRIPTION_VALUE,
                          f"{name} {node_id} is a tuple node, not a tensor")


# --------------------------------------------------------------------------------------
# 4. lowering
# --------------------------------------------------------------------------------------
def _attention(getitem: IRNode, x: int, first: int) -> list[IRNode]:
    """The 10 nodes an attention ``tuple_getitem`` becomes, numbered from ``first``."""
    b, s, e = getitem.shape
    origin = getitem.origin[0]
    q, k, v, kt, scores, scale, scaled, attn, ctx, out = range(first, first + 10)
    specs = [
        (q, "linear", (x,), (b, s, e), {}, "q"),
        (k, "linear", (x,), (b, s, e), {}, "k"),
        (v, "linear", (x,), (b, s, e), {}, "v"),
        (kt, "transpose3d_last_two", (k,), (b, e, s), {}, "k_transposed"),
        (scores, "matmul", (q, kt), (b, s, s), {}, "scores"),
        (scale, "const", (), (b, s, s), {"value_shape": (b, s, s)}, "scale"),
        (scaled, "mul_elem", (scores, scale), (b, s, s), {}, "scaled"),
        (attn, "softmax", (scaled,), (b, s, s), {"axis": 2}, "weights"),
        (ctx, "matmul", (attn, v), (b, s, e), {}, "context"),
        (out, "linear", (ctx,), (b, s, e), {}, "out"),
    ]
    return [IRNode(i, kind, parents, shape, fields, origin=(origin, role))
            for i, kind, parents, shape, fields, role in specs]


def _lower(p: _Parser, nodes: list, input_id: int, output_id: int):
    new_id: dict[int, int] = {}
    lowered: list[IRNode] = []
    for n in nodes:
        if n.value_kind == "tuple":
            continue
        if n.kind == "tuple_getitem":
            mha = nodes[n.parents[0]]
            expansion = _attention(n, new_id[mha.parents[0]], len(lowered))
            lowered.extend(expansion)
            new_id[n.id] = expansion[-1].id
        else:
            new_id[n.id] = len(lowered)
            lowered.append(IRNode(len(lowered), n.kind, tuple(new_id[q] for q in n.parents),
                                  n.shape, n.fields, origin=n.origin))
        if len(lowered) > MAX_IR_NODES:
            raise p.error("limit", Rule.WORK_LIMIT,
                          f"more than {MAX_IR_NODES} nodes after lowering")
    return lowered, new_id[input_id], new_id[output_id]


# --------------------------------------------------------------------------------------
# 5. checkShapes
# --------------------------------------------------------------------------------------
def _check_shapes(p: _Parser, graph: IRGraph) -> None:
    shapes: list[tuple] = []
    for n in graph.nodes:
        label = n.label()

        def fail(rule, detail, n=n, label=label):
            return IRError(f"{p.source}: {label}: {detail}", rule=rule, check="contract",
                           node=n.id)

        arity = KINDS[n.kind][0]
        fits = len(n.parents) >= 2 if arity == "2+" else len(n.parents) == arity
        if not fits:
            wanted = "at least 2" if arity == "2+" else str(arity)
            raise IRError(f"{p.source}: {label}: {len(n.parents)} parents, the kind takes "
                          f"{wanted}", rule=Rule.DESCRIPTION_VALUE, check="arity", node=n.id)
        inferred = tuple(infer(n, [shapes[q] for q in n.parents], fail))
        if inferred != n.shape:
            raise IRError(f"{p.source}: {label}: declared shape {list(n.shape)}, inferred "
                          f"{list(inferred)}", rule=Rule.SHAPE_MATCH, check="shape", node=n.id)
        shapes.append(inferred)
