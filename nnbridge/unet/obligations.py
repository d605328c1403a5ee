"""Obligations: the named statements that must hold for a UNet to run on a size.

:func:`trace` walks one axis of a description with the shape formulas of
:mod:`nnbridge.spec.shapes`. The same code runs on an ``int`` (the values and verdicts a
report shows) and on a Z3 or SymPy term (the statement a proof quantifies over):

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

from nnbridge.spec.arith import conditions, is_symbolic, reading_for
from nnbridge.spec.errors import ShapeError

from .description import UNetDescription, _on

__all__ = ["Obligation", "Trace", "joint_obligations", "trace", "valid_term"]


@dataclass
class Obligation:
    """One named statement on one axis: ``holds`` is a bool (or a Z3/SymPy boolean)."""

    name: str
    statement: str
    holds: Any
    values: dict = field(default_factory=dict)
    kind: str = "runs"  # "runs", "exact", "skip", "output", "check"
    reached: bool = True

    def as_dict(self) -> dict:
        return {"name": self.name, "holds": bool(self.holds), "values": self.values,
                "statement": self.statement, "kind": self.kind, "reached": self.reached}


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


class _Tracer:
    """Applies layers in order, recording sizes and obligations, for int or symbolic sizes."""

    def __init__(self, axis_name: str, n, single_element_norms=("instance",)):
        self.single_element_norms = single_element_norms
        self.symbolic = is_symbolic(n)
        self.r = reading_for(n)
        self.trace = Trace(axis_name, n, [("input", n)])
        self.broken = False  # an int layer raised: later sizes are not defined

    def oblige(self, name, statement, holds_fn, values, kind):
        if self.broken:
            self.trace.obligations.append(Obligation(name, statement, False, {}, kind, False))
            return
        holds = holds_fn()
        if not self.symbolic:
            holds = bool(holds)
        self.trace.obligations.append(Obligation(name, statement, holds, values, kind))

    def layer(self, name, layer, axis, size, *, target=None, norm=None):
        label = layer.label(axis)
        if self.broken:
            self.trace.obligations.append(
                Obligation(name, f"{label} runs", False, {}, "runs", False))
            self.trace.stages.append((name, None))
            return None
        try:
            with conditions() as conds:
                out = layer.apply(size, axis, target)
        except ShapeError as exc:
            if self.symbolic:  # a constant argument PyTorch rejects for every size
                self.trace.obligations.append(
                    Obligation(name, f"{label} runs: {exc}", False, {}, "runs"))
                self.broken = True
                self.trace.stages.append((name, None))
                return None
            self.trace.obligations.append(Obligation(
                name, f"{label} runs: {exc}", False, {"in": size}, "runs"))
            self.trace.stages.append((name, None))
            self.broken = True
            return None
        holds = self.r.and_(*[c for _, c in conds]) if conds else True
        self.trace.obligations.append(Obligation(
            name, f"{label} runs", holds, {} if self.symbolic else {"in": size, "out": out},
            "runs"))
        self.trace.stages.append((name, out))
        norm = getattr(layer, "norm", None)
        if norm in self.single_element_norms:
            self.trace.norms.append((name, out, norm))
        return out


def _exact(r, pool, axis, size):
    k, s, p = (_on(pool.kernel, axis), _on(pool.stride, axis), _on(pool.padding, axis))
    d = _on(pool.dilation, axis)
    # the last window ends at the last cell: s divides n + 2p - d(k-1) - 1
    return r.divides(s, r.sub(r.add(size, 2 * p), d * (k - 1) + 1))


def trace(desc: UNetDescription, axis: int, n) -> Trace:
    """Every size and obligation on axis ``axis`` for input size ``n`` (int or symbolic)."""
    if hasattr(desc, "trace"):  # descriptions with their own obligations (TorchLean's UNet2)
        return desc.trace(axis, n)
    t = _Tracer(desc.axis_names[axis], n, ("instance", "batch")
                if getattr(desc, "training_batch", None) == 1 else ("instance",))
    r = t.r
    if desc.multiple_of is not None:
        m = _on(desc.multiple_of, axis)
        t.oblige("input_divisible", f"the network's own check: {m} divides the size",
                 lambda: r.divides(m, n), {"size": n, "multiple_of": m}, "check")
    size = n
    taps = []
    for i, level in enumerate(desc.levels):
        for j, conv in enumerate(level.convs):
            size = t.layer(f"enc{i}_conv{j + 1}", conv, axis, size)
        taps.append(size)
        for j, layer in enumerate(level.down):
            name = f"down{i}" + (f"_{j + 1}" if len(level.down) > 1 else "")
            before = size
            size = t.layer(name, layer, axis, size)
            if getattr(layer, "exact", False):
                s = _on(layer.stride, axis)
                t.oblige(f"{name}_exact", f"the pool drops nothing: {s} divides its input "
                         "minus the window's reach", lambda b=before, la=layer: _exact(
                             r, la, axis, b), {"in": before, "stride": s}, "exact")
    for j, conv in enumerate(desc.bottom):
        size = t.layer(f"bottom_conv{j + 1}", conv, axis, size)
    for i in reversed(range(len(desc.levels))):
        level = desc.levels[i]
        tap = taps[i]
        for j, layer in enumerate(level.up):
            name = f"up{i}" + (f"_{j + 1}" if len(level.up) > 1 else "")
            size = t.layer(name, layer, axis, size, target=tap)
        if level.skip in ("concat", "add"):
            t.oblige(f"skip{i}", f"{level.skip}: the up-sampled size equals the skip's",
                     lambda s=size, e=tap: r.eq(s, e), {"up": size, "skip": tap}, "skip")
        elif level.skip == "crop":
            t.oblige(f"skip{i}", "crop: the skip is at least the up-sampled size",
                     lambda s=size, e=tap: r.ge(e, s), {"up": size, "skip": tap}, "skip")
        for j, conv in enumerate(level.dec_convs):
            size = t.layer(f"dec{i}_conv{j + 1}", conv, axis, size)
    for j, conv in enumerate(desc.head):
        size = t.layer(f"head{j + 1}" if len(desc.head) > 1 else "head", conv, axis, size)
    if desc.output == "same":
        t.oblige("output", "the output has the input's size", lambda: r.eq(size, n),
                 {"out": size, "in": n}, "output")
    return t.trace


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
