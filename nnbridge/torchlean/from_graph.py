"""An nnbridge network graph back to a ``torchlean.ir.v1`` graph.

A graph read from TorchLean's IR (:func:`~nnbridge.torchlean.to_graph.to_graph`) keeps each
IR node in ``params["torchlean"]``: it is written back node for node. With an example
shape, its shapes are inferred again from the new input by the IR's contracts (the fields
that echo a parent's shape, ``flatten``'s ``value_shape``, ``reshape``'s ``in_shape``,
``broadcast_to``'s ``from_shape`` and ``linear``'s leading axes, follow it).

Any other graph is mapped op by op at the example shape ``(1, channels, *spatial)`` (its
batch of 1 dropped): ``conv`` and ``pool`` in two spatial axes without dilation, groups or
``ceil_mode``, ``linear``, ``flatten``, ``reshape``, ``permute``, ``transpose``, ``cat``,
``matmul``, and ``add``/``sub``/``mul`` of equal shapes. A node the IR cannot express, or
whose function the graph does not record (an activation is a size-preserving ``same``
node), is an error naming it: export the ``nn.Module`` itself instead.
"""

from __future__ import annotations

from dataclasses import replace

from nnbridge.spec.errors import Rule, UsageError

from .contracts import infer
from .ir import IRError, IRGraph, IRNode, parse_ir

__all__ = ["from_graph"]


def _fail(where: str, detail: str) -> UsageError:
    return UsageError(Rule.UNKNOWN_OP, where=where,
                      detail=f"{detail}; export the nn.Module itself (write_ir(module, ...))",
                      fix="docs/torchlean.md lists what torchlean.ir.v1 expresses")


def _ir_nodes(graph) -> list | None:
    """The IR nodes a graph read from the IR carries, or ``None`` for another graph."""
    found = [n for n in graph.nodes if "torchlean" in n.params]
    if not found or any(n.op not in ("require", "input") and "torchlean" not in n.params
                        and not n.name.endswith(".operands") for n in graph.nodes):
        return None
    return sorted(found, key=lambda n: n.params["torchlean"]["id"])


def _node_of(graph_node, parents) -> IRNode:
    origin = graph_node.params["torchlean"]
    return IRNode(origin["id"], origin["kind"], tuple(parents), tuple(origin["shape"]),
                  dict(origin["fields"]))


def _parents(graph, graph_node) -> list[int]:
    ids = {n.name: n.params["torchlean"]["id"] for n in graph.nodes if "torchlean" in n.params}
    out = []
    for name in graph_node.inputs:
        while name not in ids:  # a helper node (mse's operands): read through it
            name = graph.node(name).inputs[0]
        out.append(ids[name])
    return out


def _reinfer(nodes: list[IRNode], input_id: int, input_shape: tuple, source: str) -> list:
    shapes: dict[int, tuple] = {}
    out = []
    for n in nodes:
        s = shapes[n.parents[0]] if n.parents else None
        f = dict(n.fields)
        if n.id == input_id:
            n = replace(n, shape=tuple(input_shape))
        elif n.kind == "flatten":
            f["value_shape"] = s
        elif n.kind == "reshape":
            f["in_shape"] = s
        elif n.kind == "broadcast_to":
            f["from_shape"] = s
        elif n.kind == "linear":
            n = replace(n, shape=s[:-1] + n.shape[-1:])
        n = replace(n, fields=f)

        def fail(rule, detail, n=n):
            return IRError(f"{source}: {n.label()}: {detail}", rule=rule, check="contract",
                           node=n.id)

        shape = tuple(infer(n, [shapes[q] for q in n.parents], fail))
        n = replace(n, shape=shape)
        shapes[n.id] = shape
        out.append(n)
    return out


def _check(nodes: list[IRNode], input_id: int, output_id: int, source: str) -> IRGraph:
    data = IRGraph(tuple(nodes), input_id, output_id, source).to_json()
    return parse_ir(data, source=source)


def from_graph(graph, example_shape=None) -> IRGraph:
    """The checked IR graph of ``graph`` (module docstring); ``example_shape`` is the
    graph's full input shape ``(1, channels, *spatial)`` (required for a graph not read
    from the IR)."""
    from nnbridge.graph.core import Graph

    if not isinstance(graph, Graph):
        raise UsageError(Rule.DESCRIPTION_VALUE, where="from_graph",
                         detail=f"a Graph is needed, got {type(graph).__name__}")
    source = graph.name
    found = _ir_nodes(graph)
    if found is not None:
        nodes = [_node_of(n, _parents(graph, n)) for n in found]
        first = graph.nodes[0]
        entry = first if "torchlean" in first.params else next(
            n for n in graph.nodes if n.inputs == (first.name,) and "torchlean" in n.params)
        input_id = entry.params["torchlean"]["id"]
        output = graph.node(graph.output)
        output_id = output.params["torchlean"]["id"]
        if example_shape is not None:
            rank = len(nodes[input_id].shape)
            shape = _input_shape(example_shape, rank, source)
            nodes = _reinfer(nodes, input_id, shape, source)
        return _check(nodes, input_id, output_id, source)
    if example_shape is None:
        raise UsageError(Rule.INPUT_SIZE, detail=f"{source}: give example_shape, the graph's "
                                                 "input (1, channels, *spatial)")
    return _generic(graph, tuple(example_shape), source)


def _input_shape(example_shape, rank: int, source: str) -> tuple:
    shape = tuple(example_shape)
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in shape) or \
            not shape or shape[0] != 1:
        raise UsageError(Rule.INPUT_SIZE, detail=f"{source}: example_shape must be (1, "
                                                 f"*sizes) in naturals, got {example_shape!r}")
    if rank >= 2:
        return shape[1:]
    return shape[2:] if rank == 1 else ()


# --------------------------------------------------------------------------------------
# Graphs not read from the IR
# --------------------------------------------------------------------------------------
def _generic(graph, example: tuple, source: str) -> IRGraph:
    from nnbridge.graph.evaluate import evaluate

    spatial = example[2:]
    if len(spatial) != graph.spatial_dims or example[0] != 1:
        raise UsageError(Rule.INPUT_SIZE, detail=f"{source}: example_shape must be (1, "
                                                 f"channels, {graph.spatial_dims} sizes), got "
                                                 f"{example!r}")
    if graph.channels is not None and example[1] != graph.channels:
        raise UsageError(Rule.INPUT_SIZE, detail=f"{source}: the graph takes {graph.channels} "
                                                 f"channels, the example {example[1]}")
    graph_for = replace(graph, channels=example[1]) if graph.channels is None else graph
    ev = evaluate(graph_for, spatial)
    failing = [o for o in ev.obligations if o.reached and not o.holds]
    if failing:
        raise UsageError(Rule.UNET_SIZE, detail=f"{source} does not run at {example}: "
                                                f"{failing[0].name}: {failing[0].statement}")
    ids: dict[str, int] = {}
    nodes: list[IRNode] = []

    def shape_of(name):
        dims = ev.shapes[name]
        values = tuple(int(d.value) for d in dims)
        if not values or values[0] != 1:
            raise _fail(name, f"its shape {values} has no batch axis of 1")
        return values[1:]

    def add(graph_node, kind, parents, **fields):
        node_id = len(nodes)
        nodes.append(IRNode(node_id, kind, tuple(ids[p] for p in parents),
                            shape_of(graph_node.name), fields))
        ids[graph_node.name] = node_id

    for node in graph.nodes:
        where = f"node {node.name!r} ({node.op}" + (f", at {node.where}" if node.where and
                                                     node.where != node.name else "") + ")"
        p = node.params
        if node.op == "input":
            add(node, "input", [])
        elif node.op == "require":
            ids[node.name] = ids[node.inputs[0]]
        elif node.op in ("conv", "pool"):
            _sliding(node, p, where, add, shape_of)
        elif node.op == "linear":
            add(node, "linear", node.inputs)
        elif node.op in ("flatten", "reshape"):
            (x,) = node.inputs
            add(node, "reshape", node.inputs, in_shape=shape_of(x),
                out_shape=shape_of(node.name))
        elif node.op == "permute":
            dims = [d % len(ev.shapes[node.inputs[0]]) for d in p["dims"]]
            if dims[0] != 0:
                raise _fail(where, "a permute that moves the batch axis")
            add(node, "permute", node.inputs, perm=tuple(d - 1 for d in dims[1:]))
        elif node.op == "transpose":
            rank = len(ev.shapes[node.inputs[0]])
            a, b = p["dim0"] % rank, p["dim1"] % rank
            if 0 in (a, b):
                raise _fail(where, "a transpose that moves the batch axis")
            perm = list(range(rank - 1))
            perm[a - 1], perm[b - 1] = perm[b - 1], perm[a - 1]
            add(node, "permute", node.inputs, perm=tuple(perm))
        elif node.op == "cat":
            rank = len(ev.shapes[node.inputs[0]])
            dim = p.get("dim", 0) % rank
            if dim == 0:
                raise _fail(where, "a cat along the batch axis")
            add(node, "concat", node.inputs, axis=dim - 1)
        elif node.op == "matmul":
            add(node, "matmul", node.inputs)
        elif node.op == "broadcast" and p.get("fn") in ("add", "sub", "mul") and \
                len(node.inputs) == 2 and len({ev.shapes[i] for i in node.inputs}) == 1:
            add(node, {"add": "add", "sub": "sub", "mul": "mul_elem"}[p["fn"]], node.inputs)
        elif node.op == "same":
            raise _fail(where, "the graph does not record which function this size-preserving "
                               "node applies (relu, tanh, dropout, a norm, ...)")
        else:
            raise _fail(where, f"op {node.op!r} with {sorted(k for k in p if k != 'torchlean')} "
                               "is not in torchlean.ir.v1")
    return _check(nodes, 0, ids[graph.output], source)


def _sliding(node, p, where, add, shape_of) -> None:
    kernel = tuple(p["kernel"])
    if len(kernel) != 2:
        raise _fail(where, f"a {len(kernel)}-d {node.op}: the IR's are 2-d")
    for name, default in (("dilation", 1), ("groups", 1)):
        value = p.get(name, default)
        values = value if isinstance(value, (tuple, list)) else (value,)
        if any(v != 1 for v in values):
            raise _fail(where, f"{name}={value}: the IR has none")
    if p.get("ceil_mode"):
        raise _fail(where, "ceil_mode=True: the IR's pools round down")
    if p.get("padding") == "same":
        raise _fail(where, "padding='same': the IR pads by a number")
    strides, pads = set(_axes(p["stride"])), set(_axes(p.get("padding", 0)))
    if len(strides) != 1 or len(pads) != 1:
        raise _fail(where, f"stride {p['stride']}, padding {p.get('padding')}: the IR has one "
                           "of each for both axes")
    (t,), (pad,) = strides, pads
    (x,) = node.inputs
    fields = dict(kH=kernel[0], kW=kernel[1], stride=t)
    if node.op == "conv":
        if p.get("in_channels") is None or p.get("out_channels") is None:
            raise _fail(where, "a conv without its channel counts")
        add(node, "conv2d", [x], inC=p["in_channels"], outC=p["out_channels"], **fields,
            padding=pad)
        return
    kind = p.get("kind", "max")
    if pad:
        add(node, f"{kind}_pool2d_pad", [x], **fields, padding=pad)
    else:
        add(node, f"{kind}_pool2d", [x], **fields)


def _axes(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)

