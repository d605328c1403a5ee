"""A network as a graph of layers, as far as sizes go: :class:`Node`, :class:`Graph`, size
expressions.

A node applies one op (:data:`nnbridge.graph.layers.OPS`) with static parameters to the
tensors its ``inputs`` name. Every tensor has a full shape ``(batch, channels, *spatial)``
or, past a flatten, any layout; each dimension is a size expression in the input's spatial
sizes ``n_0 .. n_{d-1}``. Parameters that a network computes from sizes at run time (the
amounts of ``F.pad(up, [diff // 2, diff - diff // 2])``, a crop's bounds, an interpolation
to a skip's size) are :class:`Size` expressions over other nodes' dimensions, evaluated in
the same reading (int, Z3, SymPy) as the formulas.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

from nnbridge.spec.errors import Rule, UsageError

__all__ = ["AXIS_NAMES", "MAX_NODES", "Graph", "Node", "Size", "const", "dim_of"]

#: Axis names by number of spatial axes.
AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}

#: The most nodes a graph may have (a traced UNet has a few hundred; a SwinUNETR about 2,000).
MAX_NODES = 20_000

_BINARY = ("add", "sub", "mul", "floordiv", "mod", "max", "min", "ne")


@dataclass(frozen=True)
class Size:
    """A size expression: ``("dim", node, i)`` (dimension ``i`` of a node's output, negative
    counting from the end), ``("const", k)``, ``("numel", node)`` or ``(op, a, b)`` for
    ``op`` in add, sub, mul, floordiv, mod, max, min, ne (1 if different, else 0; Python's
    integer semantics: exact subtraction, division rounding toward minus infinity)."""

    op: str
    args: tuple

    def __post_init__(self):
        if self.op not in ("dim", "const", "numel", "neg", *_BINARY):
            raise UsageError(f"unknown size expression {self.op!r}", rule=Rule.DESCRIPTION_VALUE)

    def _bin(self, op, other, swap=False):
        other = other if isinstance(other, Size) else const(other)
        return Size(op, (other, self) if swap else (self, other))

    def __add__(self, o):
        return self._bin("add", o)

    def __radd__(self, o):
        return self._bin("add", o, True)

    def __sub__(self, o):
        return self._bin("sub", o)

    def __rsub__(self, o):
        return self._bin("sub", o, True)

    def __mul__(self, o):
        return self._bin("mul", o)

    def __rmul__(self, o):
        return self._bin("mul", o, True)

    def __floordiv__(self, o):
        return self._bin("floordiv", o)

    def __rfloordiv__(self, o):
        return self._bin("floordiv", o, True)

    def __mod__(self, o):
        return self._bin("mod", o)

    def __neg__(self):
        return Size("neg", (self,))

    def refs(self) -> set[str]:
        """The nodes this expression reads."""
        if self.op in ("dim", "numel"):
            return {self.args[0]}
        if self.op == "const":
            return set()
        return set().union(*(a.refs() for a in self.args))

    def __str__(self) -> str:
        if self.op == "dim":
            return f"{self.args[0]}.shape[{self.args[1]}]"
        if self.op == "numel":
            return f"{self.args[0]}.numel()"
        if self.op == "const":
            return str(self.args[0])
        if self.op == "neg":
            return f"-({self.args[0]})"
        symbol = {"add": "+", "sub": "-", "mul": "*", "floordiv": "//", "mod": "%"}.get(self.op)
        a, b = self.args
        return f"({a} {symbol} {b})" if symbol else f"{self.op}({a}, {b})"


def const(value: int) -> Size:
    """A constant size expression."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"a size expression needs an integer, got {value!r}",
                         rule=Rule.DESCRIPTION_VALUE)
    return Size("const", (int(value),))


def dim_of(node: str, i: int) -> Size:
    """``node.shape[i]`` as a size expression."""
    return Size("dim", (node, int(i)))


@dataclass(frozen=True)
class Node:
    """One layer: ``op`` applied to the outputs of ``inputs`` with static ``params``;
    ``where`` says where it comes from (a module path, a description key)."""

    name: str
    op: str
    inputs: tuple = ()
    params: dict = field(default_factory=dict, compare=True, hash=False)
    where: str = ""

    def __hash__(self):
        return hash((self.name, self.op, self.inputs))

    def refs(self) -> set[str]:
        """Every node this one reads: its inputs and the nodes its size expressions read."""
        found = set(self.inputs)
        stack = list(self.params.values())
        while stack:
            value = stack.pop()
            if isinstance(value, Size):
                found |= value.refs()
            elif isinstance(value, (list, tuple)):
                stack.extend(value)
        return found


@dataclass(frozen=True, eq=False)
class Graph:
    """A network: nodes in an order where every node comes after what it reads.

    Parameters
    ----------
    name
        Shown in reports.
    spatial_dims
        1, 2 or 3: the input is ``(batch, channels, n_0, ..., n_{d-1})``.
    nodes
        The first is the ``input`` node.
    output
        The node whose output is the network's (default: the last).
    output_mode
        ``"same"``: the output must have the input's spatial size; ``"any"``: any size.
    mode, batch
        ``"eval"`` or ``"train"``, and the batch size: batch norms in training with a batch
        of 1 need more than one spatial element.
    """

    name: str
    spatial_dims: int
    nodes: tuple
    output: str | None = None
    output_mode: str = "same"
    mode: str = "eval"
    batch: int = 1
    channels: int | None = None

    def __post_init__(self):
        if (isinstance(self.spatial_dims, bool) or not isinstance(self.spatial_dims, int)
                or self.spatial_dims not in AXIS_NAMES):
            raise UsageError(f"spatial_dims must be 1, 2 or 3, got {self.spatial_dims!r}",
                             rule=Rule.DESCRIPTION_VALUE)
        if self.output_mode not in ("same", "any"):
            raise UsageError(f"output must be 'same' or 'any', got {self.output_mode!r}",
                             rule=Rule.DESCRIPTION_VALUE)
        if self.mode not in ("eval", "train"):
            raise UsageError(f"mode must be 'eval' or 'train', got {self.mode!r}",
                             rule=Rule.DESCRIPTION_VALUE)
        if (isinstance(self.batch, bool) or not isinstance(self.batch, int)
                or not 1 <= self.batch <= 2**31):
            raise UsageError(f"batch must be an integer in 1..2**31, got {self.batch!r}",
                             rule=Rule.DESCRIPTION_VALUE)
        nodes = tuple(self.nodes)
        object.__setattr__(self, "nodes", nodes)
        if len(nodes) > MAX_NODES:
            raise UsageError(Rule.WORK_LIMIT, name="nodes", value=len(nodes), limit=MAX_NODES,
                             detail="a traced UNet has a few hundred")
        if not nodes or nodes[0].op != "input":
            raise UsageError("a graph starts with its input node", rule=Rule.DESCRIPTION_VALUE)
        seen: set[str] = set()
        for node in nodes:
            if not isinstance(node, Node):
                raise UsageError(f"a graph holds Node objects, got {type(node).__name__}",
                                 rule=Rule.DESCRIPTION_VALUE)
            missing = node.refs() - seen
            if missing:
                raise UsageError(f"node {node.name!r} reads {sorted(missing)} before they are "
                                 "defined", rule=Rule.DESCRIPTION_VALUE)
            if node.name in seen:
                raise UsageError(f"two nodes are named {node.name!r}",
                                 rule=Rule.DESCRIPTION_VALUE)
            seen.add(node.name)
        if self.output is None:
            object.__setattr__(self, "output", nodes[-1].name)
        elif self.output not in seen:
            raise UsageError(f"output {self.output!r} is not a node", rule=Rule.DESCRIPTION_VALUE)
        if self.channels is not None and (
                isinstance(self.channels, bool) or not isinstance(self.channels, int)
                or not 1 <= self.channels <= 2**31):
            raise UsageError(f"channels must be an integer in 1..2**31, got {self.channels!r}",
                             rule=Rule.DESCRIPTION_VALUE)
        object.__setattr__(self, "_key", (
            self.spatial_dims, self.output, self.output_mode, self.mode, self.batch,
            self.channels, tuple((n.name, n.op, n.inputs, repr(sorted(n.params.items(), key=str)))
                                 for n in nodes)))
        object.__setattr__(self, "_hash", hash(self._key))

    @property
    def axis_names(self) -> tuple[str, ...]:
        return AXIS_NAMES[self.spatial_dims]

    @property
    def key(self) -> tuple:
        """What identifies the graph's sizes (a cache key)."""
        return self._key

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return isinstance(other, Graph) and (self is other or self._key == other._key)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def period_hint(self, axis: int) -> int:
        """A period of the valid set from some threshold on: the lcm over nodes of the
        product of the strides (and fractional scales' denominators, and the multiples a
        network requires) on the node's way from the input. A node's sizes repeat their
        pattern with that period; parallel branches need only the lcm."""
        import math

        from .layers import OPS

        reach: dict[str, int] = {}
        for node in self.nodes:
            upstream = math.lcm(1, *(reach[name] for name in node.refs()))
            reach[node.name] = upstream * OPS[node.op].period(node, axis)
        return math.lcm(1, *reach.values())

    def summary(self) -> str:
        ops: dict[str, int] = {}
        for n in self.nodes[1:]:
            ops[n.op] = ops.get(n.op, 0) + 1
        return f"{self.name}: {len(self.nodes) - 1} layers (" + ", ".join(
            f"{k} {v}" for k, v in sorted(ops.items(), key=lambda kv: -kv[1])) + ")"
