"""Obligations: the named statements that must hold for a UNet to run on a size.

:func:`trace` evaluates one axis of a network's graph (:mod:`nnbridge.graph`: descriptions
and presets are converted to one) with the shape formulas of :mod:`nnbridge.spec.shapes`.
The same code runs on an ``int`` (the values and verdicts a report shows) and on a Z3 or
SymPy term (the statement a proof quantifies over):

* ``<layer>``: PyTorch accepts the layer at this size (kernel fits, output >= 1, ...);
* ``<pool>_exact``: the pool drops nothing (the original U-Net's tiling rule);
* ``skip<i>``: the up-sampled size equals the skip's (``concat``, ``add``) or fits in it
  (``crop``);
* ``output``: the output has the input's size;
* ``input_divisible``: a check the network itself makes before running.

Instance norms give *joint* obligations (PyTorch needs more than one spatial element, the
product over the axes): :func:`joint_obligations`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nnbridge.spec.arith import is_symbolic, reading_for

from .description import UNetDescription

__all__ = ["Obligation", "Trace", "as_graph", "joint_obligations", "trace", "valid_term"]


@dataclass
class Obligation:
    """One named statement on one axis: ``holds`` is a bool (or a Z3/SymPy boolean)."""

    name: str
    statement: str
    holds: Any
    values: dict = field(default_factory=dict)
    kind: str = "runs"  # "runs", "agree", "skip", "norm", "output", "check", "exact", "fixed"
    reached: bool = True
    axes: frozenset = frozenset()  # the spatial axes it depends on
    relation: str | None = None  # "eq", "ge", "divides", "broadcast" of ``operands``
    operands: tuple = ()
    where: str = ""  # the module path or description key it comes from

    def as_dict(self) -> dict:
        found = {"name": self.name, "holds": bool(self.holds), "values": self.values,
                 "statement": self.statement, "kind": self.kind, "reached": self.reached}
        if self.where:
            found["where"] = self.where
        return found


@dataclass
class Trace:
    """The sizes through the network on one axis and every obligation, in order."""

    axis: str
    size: Any
    stages: list = field(default_factory=list)  # (name, size or None when not reached)
    obligations: list = field(default_factory=list)
    # (layer name, size, kind) for the norms that fail on one spatial element: instance
    # norms, and batch norms when training with a batch of 1
    norms: list = field(default_factory=list)

    @property
    def valid(self):
        if is_symbolic(self.size):
            r = reading_for(self.size)
            return r.and_(*[o.holds for o in self.obligations])
        return all(bool(o.holds) for o in self.obligations)

    @property
    def first_failure(self) -> Obligation | None:
        return next((o for o in self.obligations if o.reached and not o.holds), None)

    @property
    def output(self):
        return self.stages[-1][1] if self.stages else None


def as_graph(desc):
    """The network graph of a description (converted once, then cached), or the graph
    itself; ``None`` for a network with its own obligations (TorchLean's UNet2)."""
    from nnbridge.graph.core import Graph

    if isinstance(desc, Graph):
        return desc
    from .torchlean import TorchLeanUNet2

    if isinstance(desc, TorchLeanUNet2):
        graph = _GRAPHS.get(desc)
        if graph is None:
            graph = _GRAPHS[desc] = desc.graph()
        return graph
    if isinstance(desc, UNetDescription):
        graph = _GRAPHS.get(desc)
        if graph is None:
            from nnbridge.graph.description import from_description

            graph = _GRAPHS[desc] = from_description(desc)
        return graph
    return None


_GRAPHS: dict = {}


def trace(desc, axis: int, n) -> Trace:
    """Every size and obligation on axis ``axis`` for input size ``n`` (int or symbolic)."""
    graph = as_graph(desc)
    if graph is None:
        raise TypeError(f"not a network: {type(desc).__name__}")
    from nnbridge.graph.evaluate import trace as graph_trace

    return graph_trace(graph, axis, n)


def valid_term(desc, axis: int, n):
    """The conjunction of every obligation on one axis (``n`` a Z3 or SymPy term)."""
    return trace(desc, axis, n).valid


_NORM_WORDS = {"instance": "instance norm", "batch": "batch norm in training, batch of 1"}


def joint_obligations(traces: list[Trace]) -> list[Obligation]:
    """Norms that fail on one spatial element: more than one, the product over the axes.

    PyTorch raises "Expected more than 1 spatial element when training" for an instance
    norm without running statistics, in eval mode too, and "Expected more than 1 value per
    channel when training" for a batch norm in training with a batch of 1.
    """
    found = []
    if not traces or not traces[0].norms:
        return found
    for k, (name, _, kind) in enumerate(traces[0].norms):
        sizes = [t.norms[k][1] if k < len(t.norms) else None for t in traces]
        if any(s is None for s in sizes):
            continue
        product = 1
        for s in sizes:
            product *= s
        found.append(Obligation(
            f"{name}_norm", f"{_NORM_WORDS[kind]}: more than one spatial element (product "
            "over the axes)", product > 1,
            {t.axis: s for t, s in zip(traces, sizes, strict=True)}, "norm"))
    return found
