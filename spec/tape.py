"""A small reverse-mode tape over the spec ops, mirroring TorchLean's tape nodes.

A :class:`Tape` records, for every node, its forward value, its parents and a backward closure
(TorchLean's ``Runtime.Autograd.Tape``). :meth:`Tape.backward` walks the nodes in reverse
order and accumulates each node's gradient into its parents, so a model written on the tape
gets its gradients by composition, independently of any hand-written model VJP.

Every op record of :mod:`nnbridge.spec.ops` is a node type, under the op's name, with its
parents in TorchLean's order (:attr:`~nnbridge.spec.ops.Op.order`: parameters first, input
last) and its static arguments as keyword attributes: ``tape.apply("conv", w_id, b_id, x_id,
stride=2, padding=1)``, ``tape.linear(w_id, b_id, x_id)``, ``tape.relu(x_id)``. TorchLean's
2-D names (``conv2d``, ``max_pool2d``, ``max_pool2d_pad``, ...) are methods of :class:`Tape`.

Adding a node type
------------------
Declare an op record (:func:`nnbridge.spec.ops.declare`): it becomes a node type. For a node
that is not an op, register its forward and VJP over the parents directly::

    register_node("scale", forward=lambda x, factor: factor * x,
                  vjp=lambda x, grad_y, factor: factor * grad_y)

``vjp`` receives the parents' values and ``grad_y`` (then the node's keyword attributes) and
returns one gradient per parent, in the parents' order (a bare array for a single parent).
For a one-off node, :meth:`Tape.add_node` takes a value, parents and a backward closure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .checks import cotangent, spatial_rank
from .errors import Rule, ShapeError
from .ops import Op, ops

__all__ = ["NODE_TYPES", "Node", "NodeType", "Tape", "register_node"]


@dataclass(frozen=True)
class NodeType:
    """A recordable op: ``forward(*parents, **attrs)`` and
    ``vjp(*parents, grad_y, **attrs) -> gradient per parent``."""

    name: str
    forward: Callable
    vjp: Callable


#: Every node type a tape can record, by name.
NODE_TYPES: dict[str, NodeType] = {}


def register_node(name: str, forward: Callable, vjp: Callable) -> NodeType:
    """Make ``name`` recordable on every tape (see the module docstring)."""
    if not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"register_node: {name!r} is not a valid node name")
    NODE_TYPES[name] = NodeType(name, forward, vjp)
    return NODE_TYPES[name]


@dataclass
class Node:
    """One recorded value: its parents (node ids) and the closure ``grad_y -> parent grads``."""

    name: str
    value: np.ndarray
    parents: tuple[int, ...] = ()
    backward: Callable | None = None
    attrs: dict = field(default_factory=dict)


class Tape:
    """A list of nodes in creation order; ids are positions."""

    def __init__(self):
        self.nodes: list[Node] = []

    # -- recording ---------------------------------------------------------------------------
    def leaf(self, value: np.ndarray, name: str = "leaf") -> int:
        """A parameter or input: a node without parents."""
        self.nodes.append(Node(name, value))
        return len(self.nodes) - 1

    def add_node(self, name: str, value, parents, backward: Callable, **attrs) -> int:
        """Record ``value`` computed from ``parents``; ``backward(grad_y)`` gives their grads."""
        parents = tuple(parents)
        for p in parents:
            self._node(p)
        self.nodes.append(Node(name, value, parents, backward, attrs))
        return len(self.nodes) - 1

    def apply(self, op: str, *parents: int, name: str | None = None, **attrs) -> int:
        """Record the registered node type ``op`` on ``parents`` with keyword ``attrs``."""
        if op not in NODE_TYPES:
            raise KeyError(f"tape: no node type {op!r}; known: {sorted(NODE_TYPES)}")
        kind = NODE_TYPES[op]
        values = tuple(self._node(p).value for p in parents)
        value = kind.forward(*values, **attrs)

        def backward(grad_y, values=values, attrs=attrs):
            grads = kind.vjp(*values, grad_y, **attrs)
            return grads if isinstance(grads, tuple) else (grads,)

        return self.add_node(name or op, value, parents, backward, **attrs)

    def __getattr__(self, op: str):
        if op in NODE_TYPES:
            return partial(self.apply, op)
        raise AttributeError(f"{type(self).__name__!r} has no attribute or node type {op!r}")

    # -- reading -------------------------------------------------------------------------------
    def _node(self, node_id: int) -> Node:
        if isinstance(node_id, bool) or not isinstance(node_id, (int, np.integer)) \
                or not 0 <= node_id < len(self.nodes):
            raise ShapeError(f"tape: no node with id {node_id!r} (the tape has "
                             f"{len(self.nodes)} nodes)", rule=Rule.TAPE_NODE)
        return self.nodes[node_id]

    def value(self, node_id: int) -> np.ndarray:
        return self._node(node_id).value

    def backward(self, out: int, grad_y: np.ndarray | None = None) -> dict[int, np.ndarray]:
        """Reverse sweep from node ``out`` seeded with ``grad_y``; returns ``{id: gradient}``
        for every node ``out`` depends on (``grad_y`` defaults to ones of the output's shape).
        """
        value = self.value(out)
        if grad_y is None:
            grad_y = np.ones_like(value)
        elif not isinstance(grad_y, np.ndarray) or np.shape(grad_y) != np.shape(value):
            raise ShapeError(f"tape.backward: grad_y has shape {np.shape(grad_y)}, node {out} "
                             f"has shape {np.shape(value)}", rule=Rule.SHAPE_MATCH)
        else:
            grad_y = cotangent("tape.backward", "grad_y", grad_y, value.shape, value.dtype)
        grads: dict[int, np.ndarray] = {out: grad_y}
        for i in range(out, -1, -1):
            node = self.nodes[i]
            if i not in grads or node.backward is None:
                continue
            parent_grads = node.backward(grads[i])
            if len(parent_grads) != len(node.parents):
                raise ShapeError(f"tape: node {node.name!r} returned {len(parent_grads)} "
                                 f"gradients for {len(node.parents)} parents",
                                 rule=Rule.SHAPE_MATCH)
            for p, g in zip(node.parents, parent_grads, strict=True):
                grads[p] = g if p not in grads else grads[p] + g
        return grads

    # -- TorchLean's convolution and pooling nodes --------------------------------------------
    def conv(self, kernel_id: int, bias_id: int, input_id: int, stride=1, padding=0,
             name: str = "conv") -> int:
        """N-D convolution, kernel ``(outC, inC, k...)``."""
        return self.apply("conv", kernel_id, bias_id, input_id, name=name, stride=stride,
                          padding=padding)

    def conv2d(self, kernel_id: int, bias_id: int, input_id: int, stride: int = 1,
               padding: int = 0) -> int:
        """2D convolution with scalar stride and padding (TorchLean's ``conv2d``)."""
        self._two_d("conv2d", input_id, stride=stride, padding=padding)
        return self.conv(kernel_id, bias_id, input_id, stride, padding, name="conv2d")

    def conv_transpose(self, kernel_id: int, bias_id: int, input_id: int, stride=1, padding=0,
                       name: str = "conv_transpose") -> int:
        """N-D transposed convolution, kernel ``(inC, outC, k...)``."""
        return self.apply("conv_transpose", kernel_id, bias_id, input_id, name=name,
                          stride=stride, padding=padding)

    def conv_transpose2d(self, kernel_id: int, bias_id: int, input_id: int, stride: int = 1,
                         padding: int = 0) -> int:
        self._two_d("conv_transpose2d", input_id, stride=stride, padding=padding)
        return self.conv_transpose(kernel_id, bias_id, input_id, stride, padding,
                                   name="conv_transpose2d")

    def max_pool(self, x_id: int, kernel, stride=None, padding=0) -> int:
        """N-D max pool; padded cells ignored, gradient to the first maximum."""
        return self.apply("max_pool", x_id, kernel=kernel, stride=stride, padding=padding)

    def max_pool2d(self, x_id: int, kernel, stride: int) -> int:
        self._two_d("max_pool2d", x_id, stride=stride)
        return self.apply("max_pool", x_id, name="max_pool2d", kernel=kernel, stride=stride,
                          padding=0)

    def max_pool2d_pad(self, x_id: int, kernel, stride: int, padding: int) -> int:
        self._two_d("max_pool2d_pad", x_id, stride=stride, padding=padding)
        return self.apply("max_pool", x_id, name="max_pool2d_pad", kernel=kernel,
                          stride=stride, padding=padding)

    def avg_pool(self, x_id: int, kernel, stride=None, padding=0) -> int:
        """N-D average pool, ``count_include_pad``."""
        return self.apply("avg_pool", x_id, kernel=kernel, stride=stride, padding=padding)

    def avg_pool2d(self, x_id: int, kernel, stride: int) -> int:
        self._two_d("avg_pool2d", x_id, stride=stride)
        return self.apply("avg_pool", x_id, name="avg_pool2d", kernel=kernel, stride=stride,
                          padding=0)

    def avg_pool2d_pad(self, x_id: int, kernel, stride: int, padding: int) -> int:
        self._two_d("avg_pool2d_pad", x_id, stride=stride, padding=padding)
        return self.apply("avg_pool", x_id, name="avg_pool2d_pad", kernel=kernel,
                          stride=stride, padding=padding)

    def smooth_max_pool(self, x_id: int, kernel, stride=None, padding=0, beta=1.0) -> int:
        """N-D log-sum-exp pool."""
        return self.apply("smooth_max_pool", x_id, kernel=kernel, stride=stride,
                          padding=padding, beta=beta)

    def smooth_max_pool2d(self, x_id: int, kernel, stride: int, beta=1.0) -> int:
        self._two_d("smooth_max_pool2d", x_id, stride=stride)
        return self.apply("smooth_max_pool", x_id, name="smooth_max_pool2d", kernel=kernel,
                          stride=stride, padding=0, beta=beta)

    def _two_d(self, op: str, x_id: int, **scalars) -> None:
        if spatial_rank(op, self.value(x_id)) != 2:
            raise ShapeError(f"{op}: expects a (C, H, W) input, got shape "
                             f"{self.value(x_id).shape}", rule=Rule.RANK)
        for key, v in scalars.items():
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ShapeError(f"{op}: {key} is one integer for both axes, got {v!r}",
                                 rule=Rule.INTEGER_SIZE)


def _node_type(op: Op) -> NodeType:
    """The node of an op record: parents in ``op.order``, static arguments as attributes."""

    def forward(*parents, **attrs):
        return op.call(dict(zip(op.order, parents, strict=True)), **attrs)

    def vjp(*parents_and_grad, **attrs):
        *parents, grad_y = parents_and_grad
        return op.call_vjp(dict(zip(op.order, parents, strict=True)), grad_y, **attrs)

    return register_node(op.name, forward=forward, vjp=vjp)


for _op in ops():
    _node_type(_op)
