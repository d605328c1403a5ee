"""Checking a size: verdicts per axis, the first broken obligation, the nearest valid sizes.

:func:`check` runs every obligation on the given shape, attaches each axis' proved rule and
the nearest valid sizes below and above (with the cropping or padding they need);
:func:`require_valid` raises a :class:`~nnbridge.spec.errors.ShapeError` (``unet_size``) with
the same explanation the command line prints. A shape or a description that is malformed (not
sizes, a size of 0, non-ASCII digits, the wrong number of axes) is a
:class:`~nnbridge.spec.errors.UsageError` instead: bad input, not a size that does not fit.
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass, field

from nnbridge.spec import errors
from nnbridge.spec.errors import ShapeError, UsageError
from nnbridge.spec.formulas import MAX_SIZE

from .description import show
from .obligations import Obligation, Trace, as_graph, joint_obligations, trace
from .rule import MAX_PERIOD, Rule, rule_for

#: The most layer evaluations deriving a rule may take: one trace per residue class of the
#: period (the product of the strides on an axis), each through every layer. About 40 s at
#: the limit; a real UNet needs a few thousand (ronneberger: 16 x 30).
MAX_RULE_WORK = 2**20

__all__ = ["MAX_RULE_WORK", "AxisReport", "CheckResult", "check", "check_work", "parse_shape",
           "require_valid", "resolve"]


@dataclass
class AxisReport:
    axis: str
    size: int
    trace: Trace
    rule: Rule
    nearest_below: int | None
    nearest_above: int | None

    @property
    def valid(self) -> bool:
        return bool(self.trace.valid)

    def as_dict(self) -> dict:
        below, above = self.nearest_below, self.nearest_above
        pad = None if above is None else above - self.size
        return {
            "axis": self.axis, "size": self.size, "valid": self.valid,
            "rule": self.rule.as_dict(),
            "nearest_below": below, "nearest_above": above,
            "crop_to_below": None if below is None else self.size - below,
            "pad_to_above": None if pad is None else {"total": pad, "before": pad // 2,
                                                      "after": pad - pad // 2},
            "output": self.trace.output,
            "chain": [{"stage": s, "size": v} for s, v in self.trace.stages],
            "obligations": [o.as_dict() for o in self.trace.obligations],
        }


@dataclass
class CheckResult:
    network: str
    shape: tuple
    axes: list
    joint: list = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return all(a.valid for a in self.axes) and all(o.holds for o in self.joint)

    def first_failure(self) -> tuple[str, Obligation] | None:
        for a in self.axes:
            if a.trace.first_failure is not None:
                return a.axis, a.trace.first_failure
        for o in self.joint:
            if not o.holds:
                return "all axes", o
        return None

    def as_dict(self) -> dict:
        return {"valid": self.valid, "network": self.network, "shape": list(self.shape),
                "axes": [a.as_dict() for a in self.axes],
                "joint_obligations": [o.as_dict() for o in self.joint],
                "message": self.message()}

    def message(self) -> str:
        """One paragraph: the verdict, the first broken obligation, the nearest valid sizes
        and the proved rule of every failing axis."""
        shape = "x".join(map(str, self.shape))
        if self.valid:
            out = "x".join(str(a.trace.output) for a in self.axes)
            return f"{shape} fits {self.network} (output {out})"
        lines = [f"{shape} does not fit {self.network}"]
        failure = self.first_failure()
        if failure is not None:
            axis, ob = failure
            values = ", ".join(f"{k}={v}" for k, v in ob.values.items())
            at = f" at {ob.where}" if ob.where and ob.where != ob.name else ""
            lines.append(f"first broken obligation on {axis}: {ob.name}: {ob.statement}"
                         + (f" ({values})" if values else "") + at)
        for a in self.axes:
            joint_bad = any(not o.holds for o in self.joint)
            if a.valid and not joint_bad:
                continue
            near = []
            if a.nearest_below is not None and a.nearest_below != a.size:
                near.append(f"{a.nearest_below} (crop {a.size - a.nearest_below})")
            if a.nearest_above is not None and a.nearest_above != a.size:
                near.append(f"{a.nearest_above} (pad {a.nearest_above - a.size})")
            proof = "proved for all sizes" if a.rule.proved else f"proof {a.rule.status}"
            if not near:
                near.append(f"keep {a.size}" if a.nearest_below == a.size else "none")
            lines.append(f"{a.axis}={a.size}: nearest valid " + " or ".join(near)
                         + f"; rule ({proof}): {a.rule.words()}")
        return "\n".join(lines)


def _bad_shape(detail: str) -> UsageError:
    return UsageError(errors.Rule.INPUT_SIZE, detail=detail)


#: One size written in ASCII digits (fullwidth or other Unicode digits are refused); at most
#: 15 digits are ever converted (2**48 has 15).
_SIZE_TEXT = re.compile(r"[+-]?[0-9]+")


def _size_of_text(part: str, shape: str) -> int:
    text = part.strip()
    if not _SIZE_TEXT.fullmatch(text):
        raise _bad_shape(f"size {show(part)} in {show(shape)} is not an integer written with "
                         "the digits 0-9")
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > 15:
        raise _bad_shape(f"size {text[:12]}... ({len(digits)} digits) is not in 1..2**48")
    return int(text)


def parse_shape(shape, spatial_dims: int) -> tuple[int, ...]:
    """``"572x572"``, ``(572, 572)`` or ``572`` -> a tuple of sizes, each in 1..2**48.

    Raises :class:`UsageError` (``input_size``) for anything else: a size of 0 or less,
    above 2**48, not an integer (a bool, a float, Unicode digits such as fullwidth
    ``"５７２"``), or the wrong number of sizes.
    """
    if isinstance(shape, str):
        if len(shape) > 200:
            raise _bad_shape(f"a shape of {len(shape)} characters; write sizes as 572x572")
        values = [_size_of_text(part, shape) for part in shape.strip().lower().split("x")]
    elif isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        values = [shape]
    elif isinstance(shape, (tuple, list)):
        if len(shape) > 3:
            raise _bad_shape(f"the network has {spatial_dims} spatial axes, got {len(shape)} "
                             "sizes")
        values = list(shape)
    else:
        raise _bad_shape(f"a shape is a string like 572x572 or a tuple of ints, got "
                         f"{show(shape)}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise _bad_shape(f"sizes must be integers, got {show(v)}")
        if v < 1:
            raise _bad_shape(f"sizes must be at least 1, got {show(int(v))}")
        if v > MAX_SIZE:
            raise _bad_shape(f"size {show(int(v))} exceeds the largest supported size 2**48")
    values = [int(v) for v in values]
    if len(values) != spatial_dims:
        raise _bad_shape(f"the network has {spatial_dims} spatial axes, got {len(values)} "
                         f"size(s) {values}")
    return tuple(values)


def resolve(description):
    """A description object as is; a preset name built with its defaults."""
    if isinstance(description, str):
        from .presets import build_preset

        return build_preset(description)
    if as_graph(description) is None:
        raise UsageError(f"not a network (a Graph, a UNetDescription, a TorchLeanUNet2 or a "
                         f"preset name): {show(description)}",
                         rule=errors.Rule.DESCRIPTION_VALUE)
    return description


def check_work(desc) -> None:
    """Refuse a description whose rule would take more than :data:`MAX_RULE_WORK` layer
    evaluations on some axis (``period x layers``), with ``Rule.WORK_LIMIT``.

    A period above the rule's own limit is left for :func:`~nnbridge.unet.rule.rule_for`
    to refuse (``rule_period``).
    """
    graph = as_graph(desc)
    layers = len(graph.nodes)
    for axis, name in enumerate(graph.axis_names):
        period = graph.period_hint(axis)
        if period <= MAX_PERIOD and period * layers > MAX_RULE_WORK:
            raise UsageError(errors.Rule.WORK_LIMIT, name=f"period x layers on axis {name}",
                             value=f"{period} x {layers}", limit=MAX_RULE_WORK,
                             detail="the rule traces one size per residue class of the "
                                    "period (the product of the strides) through every layer")


def _nearest(rules, sizes, valid, avoid):
    below = [s if ok else r.at_or_below(s) for r, s, ok in zip(rules, sizes, valid, strict=True)]
    above = [s if ok else r.at_or_above(s) for r, s, ok in zip(rules, sizes, valid, strict=True)]
    if avoid:
        # norms on one element: every axis at a single-element size together is invalid; move the
        # axes that must move anyway (or, if none must, each axis: moving one suffices)
        movable = [i for i, ok in enumerate(valid) if not ok and sizes[i] not in avoid[i]]
        movable = movable or list(range(len(sizes)))
        for proposal, pick in ((below, "below"), (above, "above")):
            if all(p is not None and p in av for p, av in zip(proposal, avoid, strict=True)):
                for i in movable:
                    r, s = rules[i], sizes[i]
                    proposal[i] = (r.at_or_below(s, avoid[i]) if pick == "below"
                                   else r.at_or_above(s, avoid[i]))
    return below, above


def check(description, shape) -> CheckResult:
    """Every obligation on ``shape``, with each axis' proved rule and nearest valid sizes."""
    desc = resolve(description)
    sizes = parse_shape(shape, desc.spatial_dims)
    check_work(desc)
    traces = [trace(desc, axis, n) for axis, n in enumerate(sizes)]
    graph = as_graph(desc)
    if graph is None:
        joint = joint_obligations(traces)
    else:
        from nnbridge.graph.evaluate import joint_obligations as graph_joint

        joint = graph_joint(graph, sizes)
    rules = [rule_for(desc, axis) for axis in range(desc.spatial_dims)]
    singles = [set().union(*r.singles.values()) if r.singles else set() for r in rules]
    avoid = singles if all(singles) else None
    valid = [bool(t.valid) and all(o.holds for o in joint) for t in traces]
    below, above = _nearest(rules, sizes, valid, avoid)
    axes = [AxisReport(t.axis, n, t, r, b, a)
            for t, n, r, b, a in zip(traces, sizes, rules, below, above, strict=True)]
    return CheckResult(getattr(desc, "name", "custom"), sizes, axes, joint)


def require_valid(description, shape) -> tuple[int, ...]:
    """Return the output shape if ``shape`` fits the network, else raise :class:`ShapeError`.

    ``description`` is a :class:`~nnbridge.unet.UNetDescription`, a TorchLean UNet2 or a
    preset name; the error's message is the one ``nnbridge unet check`` prints.

    Raises
    ------
    ShapeError
        ``unet_size``: ``shape`` is well formed but does not fit the network.
    UsageError
        ``shape`` or ``description`` is malformed (see :func:`parse_shape`). Both are
        :class:`~nnbridge.spec.errors.NNBridgeError`, the one to catch for either.
    """
    result = check(description, shape)
    if not result.valid:
        raise ShapeError(result.message(), rule=errors.Rule.UNET_SIZE)
    return tuple(a.trace.output for a in result.axes)
