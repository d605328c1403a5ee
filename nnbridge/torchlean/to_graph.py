"""A checked TorchLean IR graph as nnbridge's network graph (:class:`~nnbridge.graph.core.Graph`).

Layout: the IR has no batch axis (``conv2d`` and the pools take one image ``[C, H, W]``);
the graph's tensors are ``(batch, channels, *spatial)``. Every IR tensor of shape ``s``
becomes the graph tensor ``(1, *s)``: an input ``[C, H, W]`` is the graph input
``(1, C, H, W)`` with the spatial axes ``H, W``; ``[C, L]`` and ``[C, D, H, W]`` give one and
three spatial axes; a vector ``[I]`` is read from a graph input ``(1, 1, I)`` (one axis, its
length) and a scalar from ``(1, 1, 1)``.

Sizes follow TorchLean's formulas: ``conv2d`` is a ``conv`` node with
``semantics="lean-2026-07"`` (``W(n, k, t, p)``), and the IR's rejection ``n + 2p >= k`` is a
``require`` node on each axis. A pool is a ``pool`` node in the same semantics where its
padding is at most ``k // 2`` (there TorchLean's current pool size equals the IR's ``W`` on
every accepted size, ``proofs/torchlean_ir.py``), else a channel-keeping ``conv`` node (the
IR's pooling keeps ``W`` with padding above ``k / 2``, unlike TorchLean's spec). Fields
that fix a shape (``flatten``'s ``value_shape``, ``reshape``'s ``in_shape``,
``broadcast_to``'s ``from_shape``) are ``require`` nodes (``eq``), and a ``linear`` takes
the input width its weights have (the declared parent's last axis). The graph's output may
have any size (``output_mode="any"``). Each node keeps the IR node it comes from in
``params["torchlean"]`` (kind, fields, declared shape), so :func:`from_graph` writes it back.
"""

from __future__ import annotations

from nnbridge.graph.core import Graph, Node, const, dim_of
from nnbridge.spec.errors import Rule, UsageError
from nnbridge.spec.formulas import LEAN_2026_07

from .contracts import ELEMENTWISE, POOLS, UNARY
from .ir import IRGraph, IRNode

__all__ = ["to_graph"]


def _name(node_id: int) -> str:
    return f"n{node_id}"


class _Builder:
    def __init__(self, ir: IRGraph):
        self.ir = ir
        self.nodes: list[Node] = []

    def add(self, name, op, inputs, where, **params):
        self.nodes.append(Node(name, op, tuple(inputs), params, where))

    def require_eq(self, n: IRNode, parent: str, values, what: str):
        """``parent``'s axes equal ``values`` (an IR shape field), one node per axis."""
        for i, v in enumerate(values):
            self.add(f"{_name(n.id)}.{what}[{i}]", "require", [parent], n.label(),
                     relation="eq", a=dim_of(parent, 1 + i), b=const(v), kind="check",
                     names=("size", what), label=f"{_name(n.id)}.{what}[{i}]",
                     statement=f"{n.label()}: input axis {i} equals {what}[{i}] = {v}")

    def window_fits(self, n: IRNode, parent: str):
        """The IR rejects ``n + 2p < k`` on each spatial axis."""
        f = n.fields
        p = f.get("padding", 0)
        for axis, k in ((0, f["kH"]), (1, f["kW"])):
            letter = "HW"[axis]
            self.add(f"{_name(n.id)}.fits_{letter}", "require", [parent], n.label(),
                     relation="ge", a=dim_of(parent, 2 + axis) + 2 * p, b=const(k),
                     kind="check", names=("padded", "kernel"),
                     label=f"{_name(n.id)}.fits_{letter}",
                     statement=f"{n.label()}: the window fits the padded input on "
                               f"{letter}: {letter} + 2*{p} >= {k}")


def _origin(n: IRNode) -> dict:
    return {"id": n.id, "kind": n.kind, "fields": dict(n.fields), "shape": n.shape}


def _input(b: _Builder, n: IRNode) -> tuple[int, int]:
    """The graph input for the IR input ``n``: ``(spatial_dims, channels)``."""
    s = n.shape
    where = n.label()
    params = {"torchlean": _origin(n)}
    if len(s) >= 5:
        raise UsageError(Rule.DESCRIPTION_VALUE, where=f"{b.ir.source}: {where}",
                         detail=f"an input of {len(s)} axes has no graph form (the graph "
                                "has 1 to 3 spatial axes after (batch, channels))")
    if len(s) >= 2:
        b.add(_name(n.id), "input", [], where, **params)
        return len(s) - 1, s[0]
    b.add("input", "input", [], where)
    if len(s) == 1:
        b.add(_name(n.id), "flatten", ["input"], where, start=1, **params)
    else:
        b.add(_name(n.id), "reshape", ["input"], where, sizes=(1,), **params)
    return 1, 1


def _node(b: _Builder, n: IRNode) -> None:
    kind, f = n.kind, n.fields
    name, where = _name(n.id), n.label()
    ins = [_name(q) for q in n.parents]
    x = ins[0] if ins else None
    params = {"torchlean": _origin(n)}
    if kind == "conv2d":
        b.window_fits(n, x)
        t, p = f["stride"], f["padding"]
        b.add(name, "conv", [x], where, kernel=(f["kH"], f["kW"]), stride=(t, t),
              padding=(p, p), dilation=(1, 1), groups=1, in_channels=f["inC"],
              out_channels=f["outC"], semantics=LEAN_2026_07, **params)
    elif kind in POOLS:
        b.window_fits(n, x)
        t, p = f["stride"], f.get("padding", 0)
        kernel = (f["kH"], f["kW"])
        common = dict(kernel=kernel, stride=(t, t), padding=(p, p), dilation=(1, 1),
                      semantics=LEAN_2026_07, **params)
        if all(2 * p <= k for k in kernel):
            b.add(name, "pool", [x], where, kind=kind.split("_")[0], ceil_mode=False,
                  **common)
        else:  # the IR's W(n, k, t, p), which TorchLean's spec pool no longer is
            b.add(name, "conv", [x], where, **common)
    elif kind == "linear":
        parent = b.ir.nodes[n.parents[0]].shape
        b.add(name, "linear", [x], where, in_features=parent[-1], out_features=n.shape[-1],
              **params)
    elif kind == "flatten":
        b.require_eq(n, x, f["value_shape"], "value_shape")
        b.add(name, "flatten", [x], where, start=1, **params)
    elif kind == "reshape":
        b.require_eq(n, x, f["in_shape"], "in_shape")
        b.add(name, "reshape", [x], where, sizes=(1, *f["out_shape"]), **params)
    elif kind == "broadcast_to":
        b.require_eq(n, x, f["from_shape"], "from_shape")
        b.add(name, "const", [x], where, shape=(1, *f["to_shape"]), **params)
    elif kind == "permute":
        b.add(name, "permute", [x], where, dims=(0, *(q + 1 for q in f["perm"])), **params)
    elif kind in ("reduce_sum", "reduce_mean"):
        b.add(name, "select", [x], where, dim=f["axis"] + 1, **params)
    elif kind == "sum":
        b.add(name, "const", [x], where, shape=(1,), **params)
    elif kind in ELEMENTWISE:
        b.add(name, "broadcast", ins, where, fn=kind, strict=True, **params)
    elif kind == "mse_loss":
        b.add(f"{name}.operands", "broadcast", ins, where, fn=kind, strict=True)
        b.add(name, "const", [f"{name}.operands"], where, shape=(1,), **params)
    elif kind == "matmul":
        b.add(name, "matmul", ins, where, **params)
    elif kind == "concat":
        b.add(name, "cat", ins, where, dim=f["axis"] + 1, **params)
    elif kind == "swap_first_two":
        b.add(name, "transpose", [x], where, dim0=1, dim1=2, **params)
    elif kind == "transpose3d_last_two":
        b.add(name, "transpose", [x], where, dim0=2, dim1=3, **params)
    elif kind in (*UNARY, "detach", "softmax", "layernorm", "batch_norm2d_nchw_eval"):
        b.add(name, "same", [x], where, **params)
    elif kind == "const":
        b.add(name, "const", [], where, shape=(1, *f.get("value_shape", n.shape)), **params)
    elif kind in ("input", "rand_uniform", "bernoulli_mask"):
        b.add(name, "const", ins, where, shape=(1, *n.shape), **params)
    else:  # pragma: no cover - every kind of a lowered graph is above
        raise UsageError(Rule.UNKNOWN_OP, where=where, detail=f"no graph form for {kind!r}")


def to_graph(ir: IRGraph, name: str | None = None) -> Graph:
    """The network graph of a checked IR graph (module docstring)."""
    b = _Builder(ir)
    first = ir.nodes[ir.input_id]
    if first.kind != "input":
        raise UsageError(Rule.DESCRIPTION_VALUE, where=f"{ir.source}: {first.label()}",
                         detail="the graph form starts at the IR's input: input_id names a "
                                f"{first.kind} node, not an input node")
    spatial_dims, channels = _input(b, first)
    for n in ir.nodes:
        if n.id != ir.input_id:
            _node(b, n)
    if name is None:
        from pathlib import Path

        name = Path(ir.source).name.removesuffix(".json").removesuffix(".ir") or "torchlean"
    return Graph(name, spatial_dims, tuple(b.nodes), _name(ir.output_id), output_mode="any",
                 channels=channels)
